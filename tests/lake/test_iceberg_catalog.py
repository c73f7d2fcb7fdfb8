"""eventlake.lake on a real SqlCatalog (SQLite) with a file:// warehouse.

`check_append_scan_prune` is shared with the S3 (moto) and Postgres catalog tests.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta

import data_processor_rs as dp
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

from eventlake import contracts, lake
from eventlake.settings import Settings
from tests.conftest import race

START = datetime(2026, 11, 24, tzinfo=UTC)
EVENT_COLUMNS = [f.name for f in contracts.EVENTS_SCHEMA.fields]


def events(n: int, *, seed: int = 0, days: int = 3, job: str = "job-1") -> pa.Table:
    """Typed events as the consumer hands them over (with the processor's `_index`)."""
    rng = random.Random(seed)
    ts = [START + timedelta(microseconds=rng.randrange(days * 86_400_000_000)) for _ in range(n)]
    return pa.table(
        {
            "event_id": [f"{job}-{seed}-{i:06d}" for i in range(n)],
            "user_id": [f"user-{rng.randrange(500)}" for _ in range(n)],
            "event_type": [rng.choice(contracts.EVENT_TYPES) for _ in range(n)],
            "event_timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "event_value": pa.array([None if i % 4 == 0 else rng.uniform(0, 500) for i in range(n)], pa.float64()),
            "product_id": [None if i % 2 else f"p-{rng.randrange(50)}" for i in range(n)],
            "properties": [None if i % 3 else '{"page":"/home"}' for i in range(n)],
            "event_date": pa.array([t.date() for t in ts], pa.date32()),
            "event_hour": pa.array([t.hour for t in ts], pa.int32()),
            "job_id": [job] * n,
            "ingested_at": pa.array([START] * n, pa.timestamp("us", tz="UTC")),
            "_index": pa.array(range(n), pa.int64()),
        }
    )


def rows(table: pa.Table) -> list[dict]:
    return table.select(EVENT_COLUMNS).sort_by("event_id").to_pylist()


def check_append_scan_prune(settings: Settings) -> None:
    """Append through the Rust writer, read back equal, prune by day, keep snapshot properties."""
    tables = lake.ensure_tables(lake.load_catalog(settings))
    table = tables["events"]
    first, second = events(1500, seed=1), events(700, seed=2, job="job-2")
    snap1 = lake.append_arrow(table, first, snapshot_properties={"eventlake.checkpoint": '{"shard-0": "10"}'})
    snap2 = lake.append_arrow(
        table, second, snapshot_properties={"eventlake.checkpoint": '{"shard-0": "20"}'}, target_file_size=16 * 1024
    )
    assert snap1 is not None and snap2 is not None and snap2.parent_snapshot_id == snap1.snapshot_id
    assert snap2.summary["added-records"] == "700"

    # Property 14: a fresh catalog sees the new snapshot; it reads back exactly what was appended
    reread = lake.ensure_tables(lake.load_catalog(settings))["events"]
    assert rows(reread.scan().to_arrow()) == rows(pa.concat_tables([first, second]))
    summary = reread.metadata.current_snapshot().summary
    assert summary["eventlake.checkpoint"] == '{"shard-0": "20"}'
    assert "no.such.key" not in summary.additional_properties

    # Property 36 (partitioned by day): a one-day filter plans only that day's files
    lo, hi = START + timedelta(days=1), START + timedelta(days=2)
    scan = reread.scan(
        row_filter=And(GreaterThanOrEqual("event_timestamp", lo.isoformat()), LessThan("event_timestamp", hi.isoformat()))
    )
    planned = [task.file for task in scan.plan_files()]
    day = (lo - datetime(1970, 1, 1, tzinfo=UTC)).days
    all_files = [task.file for task in reread.scan().plan_files()]
    assert planned and len(planned) < len(all_files)
    assert {f.partition[0] for f in planned} == {day}
    both = pa.concat_tables([first, second])
    in_day = both.filter((pc.field("event_timestamp") >= lo) & (pc.field("event_timestamp") < hi))
    assert rows(scan.to_arrow()) == rows(in_day)


def test_append_scan_prune_on_sqlite(tmp_path):
    check_append_scan_prune(Settings(home=tmp_path))


def test_ensure_tables_is_idempotent_and_survives_a_race(tmp_path):
    settings = Settings(home=tmp_path)
    results: list[dict] = []

    def create():
        catalog = lake.load_catalog(settings)
        results.append({k: t.metadata.table_uuid for k, t in lake.ensure_tables(catalog).items()})

    errors = race(create, threads=3)
    assert not errors, errors
    assert set(results[0]) == set(contracts.ICEBERG_TABLES)
    assert all(r == results[0] for r in results)
    again = lake.ensure_tables(lake.load_catalog(settings))
    assert {k: t.metadata.table_uuid for k, t in again.items()} == results[0]
    assert again["events"].spec().fields[0].name == "event_timestamp_day"


# Property 42: Iceberg commits create audit logs
def test_each_commit_logs_snapshot_files_and_record_count(tmp_path, caplog):
    table = lake.ensure_tables(lake.load_catalog(Settings(home=tmp_path)))["events"]
    with caplog.at_level(logging.INFO, logger="eventlake.lake"):
        snapshot = lake.append_arrow(table, events(400, days=2))
    audit = [r for r in caplog.records if getattr(r, "snapshot_id", None) == snapshot.snapshot_id]
    assert len(audit) == 1
    committed = sorted(task.file.file_path for task in table.scan().plan_files())
    assert len(committed) == 2  # two days
    assert sorted(audit[0].data_files) == committed
    assert audit[0].record_count == 400
    assert str(snapshot.snapshot_id) in audit[0].getMessage() and committed[0] in audit[0].getMessage()


def test_empty_data_commits_nothing(tmp_path):
    table = lake.ensure_tables(lake.load_catalog(Settings(home=tmp_path)))["users"]
    empty = pa.table({"user_id": pa.array([], pa.string())})
    assert lake.append_arrow(table, empty) is None
    assert table.metadata.current_snapshot() is None


def test_commit_conflict_is_retried_with_the_same_files(tmp_path, caplog):
    catalog = lake.load_catalog(Settings(home=tmp_path))
    table = lake.ensure_tables(catalog)["events"]
    with table.transaction() as tx:  # let the conflict reach our retry instead of pyiceberg's
        tx.set_properties({"commit.retry.num-retries": "0"})
    stale = catalog.load_table("raw.events")
    fresh = catalog.load_table("raw.events")
    a, b = events(300, seed=5), events(200, seed=6, job="job-b")
    lake.append_arrow(fresh, a, snapshot_properties={"writer": "fresh"})
    with caplog.at_level(logging.WARNING, logger="eventlake.lake"):
        snap = lake.append_arrow(stale, b, snapshot_properties={"writer": "stale"})
    assert any("conflicted" in r.getMessage() for r in caplog.records)
    final = catalog.load_table("raw.events")
    assert final.metadata.current_snapshot().snapshot_id == snap.snapshot_id
    assert len(final.metadata.snapshots) == 2
    assert snap.parent_snapshot_id == final.metadata.snapshots[0].snapshot_id
    assert rows(final.scan().to_arrow()) == rows(pa.concat_tables([a, b]))
    assert final.metadata.current_snapshot().summary["writer"] == "stale"


def test_a_commit_that_keeps_failing_removes_its_data_files(tmp_path, monkeypatch):
    from pyiceberg.exceptions import CommitFailedException

    catalog = lake.load_catalog(Settings(home=tmp_path))
    table = lake.ensure_tables(catalog)["events"]
    with table.transaction() as tx:
        tx.set_properties({"commit.retry.num-retries": "0"})
    stale = catalog.load_table("raw.events")
    lake.append_arrow(table, events(50, seed=1))
    monkeypatch.setattr(lake, "COMMIT_ATTEMPTS", 1)
    data_dir = tmp_path / "warehouse" / "raw" / "events" / "data"
    before = set(data_dir.rglob("*.parquet"))
    assert before
    with pytest.raises(CommitFailedException):
        lake.append_arrow(stale, events(50, seed=2))
    assert set(data_dir.rglob("*.parquet")) == before
    assert catalog.load_table("raw.events").scan().to_arrow().num_rows == 50


def test_processed_batch_lands_in_the_table(tmp_path):
    """The processor's output (plus lineage columns) goes in as is; `_index` is dropped."""
    records = [
        {
            "event_id": f"e{i}",
            "user_id": f"u{i % 7}",
            "event_type": "click",
            "event_timestamp": f"2026-11-{24 + i % 2}T0{i % 10}:00:00+00:00",
            "event_value": i * 1.5,
            "properties": {"i": i},
        }
        for i in range(40)
    ]
    payload = b"\n".join(orjson.dumps(r) for r in records)
    result = dp.process(
        payload, "ndjson", contracts.validation_schema_json("events"), contracts.transform_rules_json("events")
    )
    valid = pa.table(result.valid)
    n = valid.num_rows
    assert n == 40
    valid = valid.append_column("job_id", pa.array(["job-p"] * n)).append_column(
        "ingested_at", pa.array([START] * n, pa.timestamp("us", tz="UTC"))
    )
    table = lake.ensure_tables(lake.load_catalog(Settings(home=tmp_path)))["events"]
    lake.append_arrow(table, valid)
    back = table.scan().to_arrow().sort_by("event_id")
    assert back.column_names == [*EVENT_COLUMNS, "source_snapshot_id"]  # + the row lineage column (eventlake.maintenance)
    assert back["event_id"].to_pylist() == sorted(r["event_id"] for r in records)
    assert back["properties"].to_pylist()[0] == '{"i":0}'
    assert len(table.inspect.files()) == 2  # one file per day


def test_write_errors_reach_the_caller(tmp_path):
    table = lake.ensure_tables(lake.load_catalog(Settings(home=tmp_path)))["events"]
    with pytest.raises(dp.WriteError) as err:
        lake.append_arrow(table, events(10).drop_columns(["job_id"]))
    assert err.value.details[0]["field"] == "job_id"
    assert table.metadata.current_snapshot() is None


# Property 46: Iceberg table reading round-trip
def test_table_read_and_written_back_is_equal(tmp_path):
    source = lake.ensure_tables(lake.load_catalog(Settings(home=tmp_path / "a")))["events"]
    lake.append_arrow(source, events(800, seed=9))
    copy = lake.ensure_tables(lake.load_catalog(Settings(home=tmp_path / "b")))["events"]
    lake.append_arrow(copy, source.scan().to_arrow())
    assert rows(copy.scan().to_arrow()) == rows(source.scan().to_arrow())
    partitions = lambda t: sorted(f.partition[0] for f in (task.file for task in t.scan().plan_files()))  # noqa: E731
    assert partitions(copy) == partitions(source)
