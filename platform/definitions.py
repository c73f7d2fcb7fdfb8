"""The eventlake Dagster code location: assembly only.

Importing this module does no work: dagster-dbt (and with it dbt), the dbt
manifest and the resources load when the definitions are built, on the first
access of ``defs`` (what workspace.yaml names), ``transform_job`` or
``transform_full_checks_schedule``, or a call of ``build_definitions``. The
manifest is the home's (``$EVENTLAKE_HOME/dbt/target``, or ``build_definitions``'
``home``); the transform job and its schedule name the dbt layers without it.

In PROD (``EVENTLAKE_ENV=PROD``, dbt on Snowflake) the dbt sources ``raw.events|users|products``
are Snowflake's ``<database>.RAW`` tables, which the ``snowflake_raw_*`` loader assets write: in the
asset graph staging depends on the loaders (which depend on the raw Iceberg assets), and
``transform_job`` runs the loaders first, so every transform (the sensor's, the API trigger's, the
demo's) loads the new Iceberg snapshots into RAW before dbt reads them.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from dagster import AssetSelection, define_asset_job, in_process_executor

from eventlake import runs
from eventlake.runs import TRANSFORM_TAGS

if TYPE_CHECKING:
    from dagster import Definitions, ScheduleDefinition, UnresolvedAssetJobDefinition

raw_ingest_job = define_asset_job(
    "raw_ingest_job",
    selection=AssetSelection.groups("raw"),
    description="Drain the stream into raw.events/users/products (when no consumer process is running).",
    executor_def=in_process_executor,
)


@functools.cache
def _transform_job(env: str = "LOCAL") -> UnresolvedAssetJobDefinition:
    from eventlake.dbt.nodes import LAYERS

    # the groups of the dbt layers hold exactly the dbt models (and their checks): the job is
    # defined without a manifest, which belongs to the home the definitions are built for
    selection = AssetSelection.groups(*LAYERS)
    loads = ""
    if env == "PROD":
        # dbt PROD reads <database>.RAW: the loaders copy the new Iceberg snapshots there first, in the same run
        from eventlake.assets.snowflake_raw import GROUP

        selection = AssetSelection.groups(GROUP) | selection
        loads = "Copy the rows of the new raw Iceberg snapshots into Snowflake <database>.RAW (exactly once), then "
    return define_asset_job(
        "transform_job",
        selection=selection,
        description=(
            f"{loads}dbt build of staging, then intermediate, then marts (one step each, incremental), with dbt tests "
            "and Great Expectations checks; a failed blocking check stops the layers downstream of it. A step that "
            "fails for a transient reason is retried 3 times (after 15, 45, 105 s); a data failure is not."
        ),
        # dbt already runs in its own process; one process for the checks pays the
        # Great Expectations import once instead of once per check
        executor_def=in_process_executor,
        tags=TRANSFORM_TAGS,
        # a transient step failure is retried within the run, with exponential backoff
        # (eventlake.runs.step_retry_policy); data failures are not retried
        op_retry_policy=runs.step_retry_policy(),
    )


@functools.cache
def _transform_full_checks_schedule(env: str = "LOCAL") -> ScheduleDefinition:
    # dbt tests and the reconciliation check only the rows each run wrote; once a day they check whole tables
    from dagster import DefaultScheduleStatus, RunConfig, ScheduleDefinition

    from eventlake.assets.checks import full_checks_run_config
    from eventlake.assets.dbt import DbtRunConfig, layer_op_name
    from eventlake.dbt.nodes import LAYERS

    return ScheduleDefinition(
        name="transform_full_checks_schedule",
        job=_transform_job(env),
        cron_schedule="30 3 * * *",
        execution_timezone="UTC",
        run_config=RunConfig(
            ops={
                **{layer_op_name(layer): DbtRunConfig(full_checks=True) for layer in LAYERS},
                **full_checks_run_config(),
            }
        ),
        default_status=DefaultScheduleStatus.RUNNING,
        description="Daily transform_job whose dbt tests and reconciliation check whole tables, not just the rows of the run.",
    )


@functools.cache
def _prod_loaders() -> tuple[list, list]:
    """The Snowflake RAW loader assets and ``snowflake_load_job``, which runs them alone (PROD only;
    ``transform_job`` runs them too, before dbt)."""
    from eventlake.assets.snowflake_raw import GROUP, snowflake_raw_assets

    job = define_asset_job(
        "snowflake_load_job",
        selection=AssetSelection.groups(GROUP),
        description="Copy the rows each new raw Iceberg snapshot added into Snowflake <database>.RAW (exactly once).",
        executor_def=in_process_executor,
    )
    return list(snowflake_raw_assets), [job]


def _sources_read_from_snowflake_raw(dbt_assets: tuple) -> list:
    """The dbt layer assets with the sources ``raw.<dataset>`` depending on the Snowflake RAW loader
    ``snowflake_raw_<dataset>`` instead of the raw Iceberg asset ``raw_<dataset>`` (the yml's
    ``meta.dagster.asset_key``): on the PROD target dbt reads ``<database>.RAW``, which the loaders write."""
    from eventlake import contracts
    from eventlake.assets.raw import raw_asset_key
    from eventlake.assets.snowflake_raw import snowflake_raw_asset_key

    loaders = {raw_asset_key(d): snowflake_raw_asset_key(d) for d in contracts.DATASETS}
    return [a.with_attributes(asset_key_replacements=loaders) for a in dbt_assets]


def build_definitions(env: str | None = None, home: str | None = None) -> Definitions:
    from dagster import Definitions

    from eventlake.assets.checks import gx_checks, reconciliation_checks
    from eventlake.assets.dbt import dbt_layer_assets
    from eventlake.assets.maintenance import maintenance_jobs, maintenance_schedules
    from eventlake.assets.raw import raw_assets, raw_events_contract
    from eventlake.resources.core import settings_for
    from eventlake.resources.registry import RESOURCES
    from eventlake.sensors.alerts import alert_sensors, marts_freshness_checks, marts_freshness_sensor
    from eventlake.sensors.snapshots import iceberg_snapshot_sensor
    from eventlake.settings import get_settings

    env = env or get_settings().env
    resources = RESOURCES[env](home) if env == "LOCAL" else RESOURCES[env]()
    freshness_checks = marts_freshness_checks(settings_for(home).fact_events_freshness_minutes)
    dbt_assets = dbt_layer_assets(home)
    prod_assets, prod_jobs = [], []
    if env == "PROD":
        # the loaders that copy each new raw snapshot's rows into Snowflake's RAW schema (exactly once); the
        # dbt sources raw.events|users|products are those RAW tables, so staging depends on the loaders
        prod_assets, prod_jobs = _prod_loaders()
        dbt_assets = _sources_read_from_snowflake_raw(dbt_assets)
    return Definitions(
        assets=[*raw_assets, *prod_assets, *dbt_assets],
        asset_checks=[raw_events_contract, *gx_checks(), *reconciliation_checks(), *freshness_checks],
        jobs=[raw_ingest_job, _transform_job(env), *maintenance_jobs, *prod_jobs],
        schedules=[_transform_full_checks_schedule(env), *maintenance_schedules],
        sensors=[iceberg_snapshot_sensor, *alert_sensors(), marts_freshness_sensor(freshness_checks)],
        resources=resources,
    )


def _env() -> str:
    from eventlake.settings import get_settings

    return get_settings().env


_LAZY = {
    "defs": build_definitions,
    "transform_job": lambda: _transform_job(_env()),
    "transform_full_checks_schedule": lambda: _transform_full_checks_schedule(_env()),
}


def __getattr__(name: str) -> Any:
    """``defs``, ``transform_job`` and ``transform_full_checks_schedule``, built on first access."""
    if name in _LAZY:
        value = _LAZY[name]()
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
