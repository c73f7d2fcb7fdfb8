"""The eventlake Dagster code location: assembly only."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from eventlake.assets.checks import gx_checks
from eventlake.assets.dbt import dbt_models
from eventlake.assets.raw import raw_assets, raw_events_contract
from eventlake.resources.registry import RESOURCES
from eventlake.sensors.snapshots import iceberg_snapshot_sensor
from eventlake.settings import get_settings

raw_ingest_job = define_asset_job(
    "raw_ingest_job",
    selection=AssetSelection.groups("raw"),
    description="Drain the stream into raw.events/users/products (when no consumer process is running).",
    executor_def=in_process_executor,
)
transform_job = define_asset_job(
    "transform_job",
    selection=AssetSelection.assets(dbt_models),
    description="dbt build of staging -> intermediate -> marts, with dbt tests and Great Expectations checks.",
    # dbt already runs in its own process; one process for the checks pays the
    # Great Expectations import once instead of once per check
    executor_def=in_process_executor,
)


def build_definitions(env: str | None = None, home: str | None = None) -> Definitions:
    env = env or get_settings().env
    resources = RESOURCES[env](home) if env == "LOCAL" else RESOURCES[env]()
    return Definitions(
        assets=[*raw_assets, dbt_models],
        asset_checks=[raw_events_contract, *gx_checks()],
        jobs=[raw_ingest_job, transform_job],
        sensors=[iceberg_snapshot_sensor],
        resources=resources,
    )


defs = build_definitions()
