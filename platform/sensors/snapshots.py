"""New Iceberg snapshots on the raw tables: report them to Dagster, coalesce transform runs.

Every tick walks each raw table's snapshots committed since the cursor (the
parent chain from the current snapshot back to the one seen last, so none is
missed) and

* reports each one to Dagster as an event of its asset (raw_events, raw_users,
  raw_products): an ``append`` (a consumer commit) is a materialization with
  ``snapshot_id``, ``added_records`` and ``dagster/row_count``; a compaction
  (``replace``, or an ``overwrite`` that keeps the row count) changes no data,
  so it is an observation, which does not mark anything downstream stale. Its
  ``added-records`` counts rewritten rows, and it carries the consumer's summary
  properties forward, so neither is read as new data. At most
  ``REPORT_LIMIT`` snapshots per table per tick; the rest follow on the next ticks.
* asks for one transform_job run when data changed (appends, or an overwrite
  or delete that changed the row count), unless a transform run is still
  QUEUED: that run has not started, so it will read these snapshots too, and
  the sensor joins it. A run reads the current snapshots when its dbt step
  starts, so it covers everything that landed before it started; snapshots
  that land while it runs get exactly one follow-up run, which later snapshots
  join while it waits in the queue (the instance lets one transform run be in
  progress at a time, ``eventlake.runs``).

The snapshots are read before the queue is looked at: a run found QUEUED then
starts after they landed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    MetadataValue,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from eventlake import contracts, raw_snapshots, runs
from eventlake.assets.raw import raw_asset_key
from eventlake.logs import log_errors
from eventlake.resources.core import EventlakeResource

WATCHED = contracts.DATASETS
SENSOR_NAME = "iceberg_snapshot_sensor"
TRIGGERED_BY = "iceberg_snapshot_sensor"
#: Snapshots reported per table per tick (oldest first; a backlog drains over the next ticks).
REPORT_LIMIT = 100
CURSOR_VERSION = 2


# -- the cursor ------------------------------------------------------------------------
@dataclass(frozen=True)
class Mark:
    """A point in a table's history: a snapshot id and its commit time (ms)."""

    snapshot_id: int | None = None
    timestamp_ms: int | None = None

    def as_json(self) -> list:
        return [self.snapshot_id, self.timestamp_ms]


@dataclass(frozen=True)
class TableCursor:
    seen: Mark = Mark()  # the current snapshot at the last tick: new data is what came after
    reported: Mark = Mark()  # the last snapshot reported to Dagster (behind ``seen`` while a backlog drains)


def parse_cursor(text: str | None) -> dict[str, TableCursor]:
    if not text:
        return {}
    data = json.loads(text)
    if data.get("v") != CURSOR_VERSION:
        # the first cursor format: {dataset: current snapshot id}; those were handled then
        return {name: TableCursor(Mark(sid), Mark(sid)) for name, sid in data.items() if sid is not None}
    return {
        name: TableCursor(Mark(*entry["seen"]), Mark(*entry["reported"])) for name, entry in data["tables"].items()
    }


def dump_cursor(tables: Mapping[str, TableCursor]) -> str:
    return json.dumps(
        {
            "v": CURSOR_VERSION,
            "tables": {
                name: {"seen": c.seen.as_json(), "reported": c.reported.as_json()} for name, c in sorted(tables.items())
            },
        },
        sort_keys=True,
    )


# -- snapshots -----------------------------------------------------------------------
@dataclass(frozen=True)
class Landed:
    """One snapshot of a raw table, as the sensor reports it."""

    dataset: str
    snapshot_id: int
    parent_id: int | None
    operation: str
    timestamp_ms: int
    added_records: int
    deleted_records: int
    total_records: int | None
    parent_total_records: int | None

    @property
    def changes_data(self) -> bool:
        """An append adds rows; a compaction (replace, or an overwrite keeping the row count) changes none."""
        if self.operation == "append":
            return True
        if self.operation == "replace":
            return False
        # overwrite / delete: a rewrite keeps the rows, a real delete or overwrite does not
        if self.total_records is not None and self.parent_total_records is not None:
            return self.total_records != self.parent_total_records
        return self.added_records != self.deleted_records

    @property
    def mark(self) -> Mark:
        return Mark(self.snapshot_id, self.timestamp_ms)


def _int(summary: Mapping[str, str], key: str) -> int | None:
    value = summary.get(key)
    return int(value) if value is not None else None


def _summary(snapshot) -> tuple[str, dict[str, str]]:
    if snapshot.summary is None:
        return "append", {}
    return snapshot.summary.operation.value, dict(snapshot.summary.additional_properties)


def landed(dataset: str, table, snapshot) -> Landed:
    operation, summary = _summary(snapshot)
    parent = table.metadata.snapshot_by_id(snapshot.parent_snapshot_id) if snapshot.parent_snapshot_id else None
    parent_total = _int(_summary(parent)[1], "total-records") if parent is not None else 0
    if parent is None and snapshot.parent_snapshot_id is not None:
        parent_total = None  # expired
    return Landed(
        dataset=dataset,
        snapshot_id=snapshot.snapshot_id,
        parent_id=snapshot.parent_snapshot_id,
        operation=operation,
        timestamp_ms=snapshot.timestamp_ms,
        added_records=_int(summary, "added-records") or 0,
        deleted_records=_int(summary, "deleted-records") or 0,
        total_records=_int(summary, "total-records"),
        parent_total_records=parent_total,
    )


def snapshots_since(table, after: Mark) -> list:
    """The table's snapshots after ``after``, oldest first: the parent chain of the current
    snapshot back to ``after``'s snapshot. When that one is no longer in the history
    (expired), the walk stops at the first snapshot committed no later than it."""
    chain = []
    snapshot = table.metadata.current_snapshot()
    while snapshot is not None:
        if after.snapshot_id is not None and snapshot.snapshot_id == after.snapshot_id:
            break
        if after.timestamp_ms is not None and snapshot.timestamp_ms <= after.timestamp_ms:
            break
        chain.append(snapshot)
        parent = snapshot.parent_snapshot_id
        snapshot = table.metadata.snapshot_by_id(parent) if parent is not None else None
    chain.reverse()
    return chain


@dataclass
class Scan:
    """What one tick found: snapshots to report, whether data changed, and the next cursor."""

    to_report: list[Landed]
    changed: dict[str, list[int]]  # dataset -> ids of new data-changing snapshots (or [] for a rewind)
    current: dict[str, int | None]
    cursor: dict[str, TableCursor]


def scan(tables: Mapping[str, Any], cursor: Mapping[str, TableCursor], limit: int | None = None) -> Scan:
    limit = REPORT_LIMIT if limit is None else limit
    to_report: list[Landed] = []
    changed: dict[str, list[int]] = {}
    current: dict[str, int | None] = {}
    next_cursor: dict[str, TableCursor] = {}
    heads = raw_snapshots.current(tables, WATCHED)
    for dataset in WATCHED:
        table = tables[dataset]
        state = cursor.get(dataset, TableCursor())
        head = heads[dataset]
        current[dataset] = head.snapshot_id if head else None
        if head is None:
            if state.seen.snapshot_id is not None:
                changed[dataset] = []  # the table lost its snapshots: rebuild what read it
            next_cursor[dataset] = TableCursor()
            continue
        head_mark = Mark(head.snapshot_id, head.timestamp_ms)
        # new data since the last tick
        if head.snapshot_id != state.seen.snapshot_id:
            new = [landed(dataset, table, s) for s in snapshots_since(table, state.seen)]
            data = [s.snapshot_id for s in new if s.changes_data]
            if data or not new:  # not new: the table went back (a rollback), which changes data
                changed[dataset] = data
        # reports, oldest first, from the last reported one on
        reported = state.reported
        if head.snapshot_id != reported.snapshot_id:
            backlog = snapshots_since(table, reported)[:limit]
            to_report += [landed(dataset, table, s) for s in backlog]
            if backlog:
                reported = Mark(backlog[-1].snapshot_id, backlog[-1].timestamp_ms)
            else:
                reported = head_mark  # went back in time: nothing new to report
        next_cursor[dataset] = TableCursor(seen=head_mark, reported=reported)
    return Scan(to_report=to_report, changed=changed, current=current, cursor=next_cursor)


# -- what Dagster hears ----------------------------------------------------------------
def asset_event(s: Landed) -> AssetMaterialization | AssetObservation:
    table = f"{contracts.RAW_NAMESPACE}.{s.dataset}"
    metadata: dict[str, Any] = {
        "snapshot_id": str(s.snapshot_id),  # 63-bit: a string, as the Iceberg IO manager records it
        "operation": s.operation,
        "committed_at": MetadataValue.timestamp(s.timestamp_ms / 1000),
    }
    if s.total_records is not None:
        metadata["dagster/row_count"] = s.total_records
    if not s.changes_data:
        metadata["rewritten_records"] = s.added_records
        return AssetObservation(
            asset_key=raw_asset_key(s.dataset),
            description=(
                f"{table} snapshot {s.snapshot_id}: compaction ({s.operation}); {s.added_records} records "
                "rewritten into new data files, no rows added or removed, nothing to transform"
            ),
            metadata=metadata,
        )
    metadata["added_records"] = s.added_records if s.operation == "append" else max(
        0, (s.total_records or 0) - (s.parent_total_records or 0)
    )
    if s.operation != "append":
        metadata["deleted_records"] = s.deleted_records
    return AssetMaterialization(
        asset_key=raw_asset_key(s.dataset),
        description=f"{table} snapshot {s.snapshot_id} ({s.operation}), seen by {SENSOR_NAME}",
        metadata=metadata,
    )


def _recorded_snapshot(instance: DagsterInstance, key: AssetKey) -> str | None:
    """The snapshot id of the asset's latest materialization (a raw_ingest_job run records one too)."""
    event = instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event else None
    value = materialization.metadata.get("snapshot_id") if materialization else None
    return str(getattr(value, "value", value)) if value is not None else None


def asset_events(instance: DagsterInstance, snapshots: Sequence[Landed]) -> list:
    """The events to report, leaving out a snapshot the asset's latest materialization already names."""
    recorded = {d: _recorded_snapshot(instance, raw_asset_key(d)) for d in {s.dataset for s in snapshots}}
    return [asset_event(s) for s in snapshots if recorded.get(s.dataset) != str(s.snapshot_id)]


def queued_transform_runs(instance: DagsterInstance) -> list[DagsterRun]:
    """Whole transform_job runs waiting in the queue, oldest first (a trigger joins the first)."""
    found = instance.get_runs(
        filters=RunsFilter(
            job_name=runs.TRANSFORM_JOB, statuses=[DagsterRunStatus.QUEUED], tags=dict(runs.TRANSFORM_TAGS)
        ),
        ascending=True,
    )
    return [
        r
        for r in found
        if runs.joinable(
            r.job_name,
            r.tags,
            status=r.status.value,
            subset=bool(r.parent_run_id or r.op_selection or r.asset_selection or r.asset_check_selection),
        )
    ]


@sensor(
    name=SENSOR_NAME,
    job_name=runs.TRANSFORM_JOB,
    # a look at the catalog's metadata, cheap: every few seconds keeps POST -> fact_events short
    minimum_interval_seconds=runs.SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Reports each new Iceberg snapshot of raw.events/users/products as a materialization of its raw "
        "asset, and asks for one transform_job run when data changed, joining a transform run still queued."
    ),
)
@log_errors("eventlake.sensors", SENSOR_NAME, sensor=SENSOR_NAME)  # an evaluation that fails: a JSON ERROR line
def iceberg_snapshot_sensor(context: SensorEvaluationContext, eventlake: EventlakeResource):
    found = scan(eventlake.tables(), parse_cursor(context.cursor))
    events = asset_events(context.instance, found.to_report)
    run_requests: list[RunRequest] = []
    note = None
    if found.changed:
        queued = queued_transform_runs(context.instance)
        if queued:
            note = f"new snapshots {found.changed}: transform run {queued[0].run_id} is queued and will read them"
        else:
            run_requests.append(
                RunRequest(
                    run_key=raw_snapshots.run_key(found.current),
                    tags={
                        **runs.TRANSFORM_TAGS,
                        runs.TRIGGERED_BY_TAG: TRIGGERED_BY,
                        **{f"eventlake/snapshot.{k}": str(found.current[k]) for k in sorted(found.changed)},
                    },
                )
            )
            note = f"new snapshots {found.changed}: asking for a transform_job run"
    else:
        note = "no new data on the raw tables"
    context.log.info(f"{note}; {len(events)} snapshot(s) reported")
    return SensorResult(
        run_requests=run_requests,
        skip_reason=None if run_requests else SkipReason(note),
        asset_events=events,
        cursor=dump_cursor(found.cursor),
    )
