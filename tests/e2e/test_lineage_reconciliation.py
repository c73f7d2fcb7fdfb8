"""Counts reconcile at every layer for every job, and every fact row leads back
to its job and to the Iceberg snapshot that brought it in: after incremental
runs, after a compaction of the raw tables, and after a full refresh.

For every events job: accepted (job store) = its rows in raw.events = the
stg_events rows it delivered first = its fact_events rows. Records go through
the real stream and consumer (data_processor_rs, fenced Iceberg commits), the
transform is the real Dagster transform_job, the compaction is the real
maintenance code.
"""

from __future__ import annotations

from collections import Counter

import duckdb

from eventlake import lake, maintenance
from eventlake.consumer import Consumer
from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore
from tests.consumer.conftest import publish
from tests.dbt.dbt_lakehouse import run_dbt


def _events(prefix: str, n: int, *, users: int = 7, day: int = 1) -> list[dict]:
    return [
        {
            "event_id": f"{prefix}{i}",
            "user_id": f"u{i % users}",
            "event_type": ["view", "click", "add_to_cart", "purchase"][i % 4],
            "event_timestamp": f"2026-03-{day:02d}T{10 + i % 8:02d}:00:00Z",
            "event_value": float(i),
            "product_id": f"p{i % 3}" if i % 2 else None,
        }
        for i in range(n)
    ]


def _transform(settings: Settings):
    from dagster import DagsterInstance

    from eventlake.definitions import build_definitions

    defs = build_definitions("LOCAL", home=str(settings.home))
    result = defs.resolve_job_def("transform_job").execute_in_process(instance=DagsterInstance.ephemeral())
    assert result.success
    failed = [c.check_name for c in result.get_asset_check_evaluations() if not c.passed]
    assert not failed, failed
    return result


def _warehouse(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.duckdb_file), read_only=True) as con:
        return con.execute(sql).fetchall()


def _reconcile(settings: Settings, job_ids: list[str]) -> None:
    store = IngestionJobStore(settings.job_db)
    try:
        accepted = {j: store.get(j).accepted_count for j in job_ids}
    finally:
        store.close()
    table = lake.ensure_tables(lake.load_catalog(settings))["events"]
    raw = maintenance.read_with_lineage(table)
    raw_per_job = Counter(raw.column("job_id").to_pylist())
    staged = dict(_warehouse(settings, "select job_id, count(*) from staging.stg_events group by job_id"))
    facts = dict(_warehouse(settings, "select job_id, count(*) from marts.fact_events group by job_id"))
    for job in job_ids:
        assert accepted[job] == raw_per_job[job] == staged.get(job, 0) == facts.get(job, 0), (
            job, accepted[job], raw_per_job[job], staged.get(job), facts.get(job),
        )
    # lineage: each fact row names the job and the raw snapshot its row came with
    came_with = {
        (e, j): s
        for e, j, s in zip(
            raw.column("event_id").to_pylist(), raw.column("job_id").to_pylist(),
            raw.column("source_snapshot_id").to_pylist(), strict=True,
        )
    }
    fact_rows = _warehouse(settings, "select event_id, job_id, snapshot_id from marts.fact_events")
    assert fact_rows
    for event_id, job_id, snapshot_id in fact_rows:
        assert came_with[(event_id, job_id)] == snapshot_id, (event_id, job_id, snapshot_id)


def test_counts_and_lineage_reconcile_through_increments_compaction_and_full_refresh(tmp_path) -> None:
    settings = Settings(home=tmp_path / "home")
    publish(settings, "users", [
        {"user_id": f"u{i}", "user_name": f"User {i}", "email": f"u{i}@example.com", "updated_at": "2026-02-01T00:00:00Z"}
        for i in range(5)  # u5, u6 arrive only with events
    ])
    jobs = [publish(settings, "events", _events("a", 40))]
    bad = _events("b", 30)
    bad[3]["event_type"] = "teleport"  # rejected by the contract
    bad += _events("a", 5)  # duplicates of the first job
    jobs.append(publish(settings, "events", bad, parts=2))
    consumer = Consumer(settings)
    try:
        consumer.drain()
        _transform(settings)
        _reconcile(settings, jobs)

        # several small loads, one snapshot each, then compaction rewrites them
        for n in range(3):
            jobs.append(publish(settings, "events", _events(f"c{n}-", 10, day=2)))
            consumer.drain()
        tables = lake.ensure_tables(lake.load_catalog(settings))
        before = tables["events"].metadata.current_snapshot().snapshot_id
        result = maintenance.compact(tables["events"], target_file_bytes=64 << 20, small_file_bytes=16 << 20, min_input_files=2)
        assert result.rewritten_files >= 2, result
        tables["events"].refresh()
        assert tables["events"].metadata.current_snapshot().snapshot_id != before
        jobs.append(publish(settings, "events", _events("d", 10, day=3) + _events("c0-", 2, day=2)))
        consumer.drain()
    finally:
        consumer.close()
    _transform(settings)
    _reconcile(settings, jobs)

    # a full refresh of every model gives the same counts and lineage
    from eventlake.resources.core import EventlakeResource

    run_dbt(EventlakeResource(home=str(settings.home)).dbt_env(), tmp_path, "build", "--full-refresh")
    _reconcile(settings, jobs)

