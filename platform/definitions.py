"""The eventlake Dagster code location: assembly only."""

from __future__ import annotations

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    RunConfig,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
)

from eventlake.assets.checks import gx_checks, reconciliation_checks
from eventlake.assets.dbt import DbtRunConfig, dbt_layers
from eventlake.assets.maintenance import maintenance_jobs, maintenance_schedules
from eventlake.assets.raw import raw_assets, raw_events_contract
from eventlake.resources.registry import RESOURCES
from eventlake.runs import TRANSFORM_TAGS
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
    selection=AssetSelection.assets(*dbt_layers),
    description=(
        "dbt build of staging, then intermediate, then marts (one step each, incremental), with dbt tests and "
        "Great Expectations checks; a failed blocking check stops the layers downstream of it."
    ),
    # dbt already runs in its own process; one process for the checks pays the
    # Great Expectations import once instead of once per check
    executor_def=in_process_executor,
    tags=TRANSFORM_TAGS,
)
# dbt tests check only the rows each run wrote; once a day they check whole tables
transform_full_checks_schedule = ScheduleDefinition(
    name="transform_full_checks_schedule",
    job=transform_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    run_config=RunConfig(ops={layer.op.name: DbtRunConfig(full_checks=True) for layer in dbt_layers}),
    default_status=DefaultScheduleStatus.RUNNING,
    description="Daily transform_job whose dbt tests check whole tables, not just the rows of the run.",
)


def build_definitions(env: str | None = None, home: str | None = None) -> Definitions:
    env = env or get_settings().env
    resources = RESOURCES[env](home) if env == "LOCAL" else RESOURCES[env]()
    return Definitions(
        assets=[*raw_assets, *dbt_layers],
        asset_checks=[raw_events_contract, *gx_checks(), *reconciliation_checks()],
        jobs=[raw_ingest_job, transform_job, *maintenance_jobs],
        schedules=[transform_full_checks_schedule, *maintenance_schedules],
        sensors=[iceberg_snapshot_sensor],
        resources=resources,
    )


defs = build_definitions()
