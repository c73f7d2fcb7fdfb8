"""New Iceberg snapshots on the raw tables launch the dbt transform job.

The cursor remembers the current snapshot id of each raw table; any change
(a consumer commit, a raw_* materialization) requests one run, keyed by the
snapshot ids so the same state never runs twice.
"""

import json

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from eventlake import contracts
from eventlake.resources.core import EventlakeResource

WATCHED = contracts.DATASETS


def current_snapshots(eventlake: EventlakeResource) -> dict[str, int | None]:
    tables = eventlake.tables()
    out: dict[str, int | None] = {}
    for name in WATCHED:
        snap = tables[name].metadata.current_snapshot()
        out[name] = snap.snapshot_id if snap else None
    return out


@sensor(
    job_name="transform_job",
    minimum_interval_seconds=10,
    default_status=DefaultSensorStatus.RUNNING,
    description="Launches transform_job when raw.events, raw.users or raw.products gets a new Iceberg snapshot.",
)
def iceberg_snapshot_sensor(context: SensorEvaluationContext, eventlake: EventlakeResource):
    seen = json.loads(context.cursor) if context.cursor else {}
    now = current_snapshots(eventlake)
    changed = {name: sid for name, sid in now.items() if sid is not None and seen.get(name) != sid}
    if not changed:
        return SkipReason("no new snapshot on the raw tables")
    context.update_cursor(json.dumps(now, sort_keys=True))
    run_key = "snapshots:" + ",".join(f"{k}={v}" for k, v in sorted(now.items()))
    context.log.info(f"new snapshots {changed}; launching transform_job")
    return RunRequest(run_key=run_key, tags={"eventlake/trigger": "iceberg_snapshot", **{f"eventlake/snapshot/{k}": str(v) for k, v in changed.items()}})
