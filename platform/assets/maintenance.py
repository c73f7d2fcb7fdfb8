"""Dagster jobs and schedules that maintain the raw Iceberg tables (``eventlake.maintenance``).

* ``maintenance_compaction_job`` (``EVENTLAKE_COMPACTION_SCHEDULE``, hourly):
  small data files of each partition rewritten into files of the target size,
  one ``replace`` snapshot per table that carries the stream positions;
* ``maintenance_expire_snapshots_job`` (``EVENTLAKE_SNAPSHOT_EXPIRY_SCHEDULE``,
  daily): snapshots past the retention expired, the files only they used deleted;
* ``maintenance_remove_orphan_files_job`` (``EVENTLAKE_ORPHAN_FILES_SCHEDULE``,
  weekly): unreferenced files older than the safety age deleted.

Each run covers raw.events, raw.users, raw.products and raw.rejected_records
(op config ``tables`` narrows it), logs one line per table, and reports per
table counts as output metadata. A table that fails does not stop the others;
the run then fails, naming it. Safe while consumers commit (see
``eventlake.maintenance``).
"""


from collections.abc import Callable
from typing import Any

from dagster import (
    Config,
    DefaultScheduleStatus,
    Failure,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Output,
    ScheduleDefinition,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from eventlake import contracts, runs
from eventlake.resources.core import EventlakeResource
from eventlake.settings import get_settings

RAW_TABLES: tuple[str, ...] = tuple(contracts.ICEBERG_TABLES)


class MaintenanceConfig(Config):
    tables: list[str] = Field(
        default_factory=list,
        description=f"Raw tables to maintain, of {', '.join(RAW_TABLES)} (empty = all).",
    )


class OrphanFilesConfig(MaintenanceConfig):
    dry_run: bool = Field(default=False, description="Only report the orphan files, delete nothing.")


def _tables(config: MaintenanceConfig, eventlake: EventlakeResource) -> dict[str, Any]:
    unknown = sorted(set(config.tables) - set(RAW_TABLES))
    if unknown:
        raise Failure(f"unknown raw table(s) {unknown}; choose among {list(RAW_TABLES)}", allow_retries=False)
    tables = eventlake.tables()  # also adds the row lineage column where missing
    return {name: tables[name] for name in (config.tables or RAW_TABLES)}


def _markdown(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _each_table(
    context: OpExecutionContext,
    config: MaintenanceConfig,
    eventlake: EventlakeResource,
    what: str,
    run: Callable[[Any, Any], Any],
    columns: list[str],
) -> Output:
    """Run ``run(table, settings)`` on every table the config names; one metadata row per table; fail the
    run naming failed tables."""
    settings = eventlake.settings
    results: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    errors: list[Exception] = []
    for name, table in _tables(config, eventlake).items():
        identifier = f"{contracts.RAW_NAMESPACE}.{name}"
        try:
            result = run(table, settings).as_dict()
        except Exception as exc:  # noqa: BLE001 - the other tables still get their turn
            failed[identifier] = f"{type(exc).__name__}: {exc}"
            errors.append(exc)
            context.log.error(f"{what} of {identifier} failed: {failed[identifier]}")
            continue
        results.append(result)
        context.log.info(f"{what} of {identifier}: " + ", ".join(f"{c}={result.get(c)}" for c in columns[1:]))
    metadata: dict[str, Any] = {"tables": MetadataValue.md(_markdown(results, columns))}
    for result in results:
        for column in columns[1:]:
            value = result.get(column)
            if column.endswith("snapshot_id"):  # 64-bit ids: text, exact in the UI
                metadata[f"{result['table']}/{column}"] = "" if value is None else str(value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                metadata[f"{result['table']}/{column}"] = value
    if failed:
        metadata["failed"] = MetadataValue.json(failed)
        from eventlake.committer import is_infrastructure_error

        # the step's retry policy tries again only when every failure was the infrastructure's
        transient = all(is_infrastructure_error(e) for e in errors)
        raise Failure(description=f"{what} failed for {', '.join(failed)}", metadata=metadata, allow_retries=transient)
    return Output(results, metadata=metadata)


@op(
    description="Compacts the small data files of each raw table (one replace snapshot per table that keeps "
    "the stream positions and the row lineage).",
    tags={"kind": "iceberg"},
)
def compact_raw_tables(context: OpExecutionContext, config: MaintenanceConfig, eventlake: EventlakeResource) -> Output:
    from eventlake import maintenance

    return _each_table(
        context,
        config,
        eventlake,
        "compaction",
        maintenance.compact_with,
        ["table", "files_before", "files_after", "bytes_before", "bytes_after", "rewritten_files", "added_files",
         "partitions", "rows", "attempts", "snapshot_id", "note"],
    )


# The three ops alike on purpose: each declares its Dagster step, its function and its columns; _each_table does the rest.
@op(
    description="Expires the raw tables' snapshots older than the retention (keeping the last N and the "
    "current one) and deletes the files only they referenced.",
    tags={"kind": "iceberg"},
)
def expire_raw_table_snapshots(
    context: OpExecutionContext, config: MaintenanceConfig, eventlake: EventlakeResource
) -> Output:
    from eventlake import maintenance

    return _each_table(
        context,
        config,
        eventlake,
        "snapshot expiry",
        maintenance.expire_with,
        ["table", "snapshots_before", "snapshots_after", "deleted_files", "deleted_bytes", "current_snapshot_id",
         "note"],
    )


@op(
    description="Deletes the files under each raw table's location that no snapshot or metadata file "
    "references and that are older than the safety age.",
    tags={"kind": "iceberg"},
)
def remove_raw_table_orphan_files(
    context: OpExecutionContext, config: OrphanFilesConfig, eventlake: EventlakeResource
) -> Output:
    from eventlake import maintenance

    return _each_table(
        context,
        config,
        eventlake,
        "orphan file removal" + (" (dry run)" if config.dry_run else ""),
        lambda table, settings: maintenance.remove_orphans_with(table, settings, dry_run=config.dry_run),
        ["table", "files_listed", "referenced_files", "orphan_files", "removed_files", "removed_bytes",
         "kept_young_files"],
    )


def _maintenance_job(name: str, description: str, tag: str, maintenance_op) -> JobDefinition:
    """A job that runs ``maintenance_op`` on the raw tables, in process, with the maintenance retry policy."""

    @job(
        name=name,
        description=description,
        executor_def=in_process_executor,
        op_retry_policy=runs.step_retry_policy(runs.MAINTENANCE_RETRY_DELAY_SECONDS),
        tags={"eventlake/maintenance": tag},
    )
    def maintenance_job():
        maintenance_op()

    return maintenance_job


maintenance_compaction_job = _maintenance_job(
    "maintenance_compaction_job",
    "Compaction of the small data files of raw.events/users/products/rejected_records.",
    "compaction",
    compact_raw_tables,
)
maintenance_expire_snapshots_job = _maintenance_job(
    "maintenance_expire_snapshots_job",
    "Snapshot expiry of the raw tables (retention EVENTLAKE_SNAPSHOT_RETENTION_DAYS).",
    "expire_snapshots",
    expire_raw_table_snapshots,
)
maintenance_remove_orphan_files_job = _maintenance_job(
    "maintenance_remove_orphan_files_job",
    "Removal of orphan files of the raw tables (older than EVENTLAKE_ORPHAN_FILE_MIN_AGE_DAYS).",
    "remove_orphan_files",
    remove_raw_table_orphan_files,
)

maintenance_jobs = [maintenance_compaction_job, maintenance_expire_snapshots_job, maintenance_remove_orphan_files_job]


def _schedules() -> list[ScheduleDefinition]:
    settings = get_settings()
    crons = {
        maintenance_compaction_job: settings.compaction_schedule,
        maintenance_expire_snapshots_job: settings.snapshot_expiry_schedule,
        maintenance_remove_orphan_files_job: settings.orphan_files_schedule,
    }
    return [
        ScheduleDefinition(
            name=f"{j.name.removesuffix('_job')}_schedule",
            job=j,
            cron_schedule=cron,
            execution_timezone="UTC",
            default_status=DefaultScheduleStatus.RUNNING,
            description=f"{j.description} Cron {cron} (UTC).",
        )
        for j, cron in crons.items()
    ]


maintenance_schedules = _schedules()
