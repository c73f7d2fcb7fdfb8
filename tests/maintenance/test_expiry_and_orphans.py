"""Snapshot expiry and orphan file removal of the raw tables (issue 7, part 5)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eventlake import maintenance
from eventlake.state.ingestion_jobs import IngestionJobStore

from .conftest import contract_rows, fill, open_tables, stored_state
from tests.consumer.conftest import publish

NOW = datetime.now(UTC)
WEEK = timedelta(days=7)


def _local(path: str) -> Path:
    return Path(path.removeprefix("file://").removeprefix("file:"))


def _compact(table):
    return maintenance.compact(table, target_file_bytes=128 << 20, small_file_bytes=1 << 20, min_input_files=2)


def _age(path: Path, days: float) -> None:
    t = (NOW - timedelta(days=days)).timestamp()
    os.utime(path, (t, t))


def _referenced_exist(table) -> None:
    table.refresh()
    missing = [p for p in maintenance.referenced_files(table) if not Path(p).exists()]
    assert not missing, missing


def test_expiry_keeps_the_retention_the_last_snapshots_and_the_current_one(settings):
    filled = fill(settings, passes=2)
    table = open_tables(settings)["events"]
    small_files = [_local(p) for p in maintenance.lineage_of(table)]
    _compact(table)
    table.refresh()
    before = contract_rows(table)
    state = stored_state(table)
    history = [s.snapshot_id for s in table.metadata.snapshots]  # 2 appends, 1 compaction
    assert len(history) == 3

    # nothing is older than the retention
    result = maintenance.expire_snapshots(table, retention=WEEK, retain_last=1)
    assert result.expired_snapshot_ids == [] and len(table.metadata.snapshots) == 3

    # ten days later, keeping the last two: the first append goes; its data files and manifest are
    # still live in the second append's snapshot, so only its manifest list is deleted
    later = NOW + timedelta(days=10)
    result = maintenance.expire_snapshots(table, retention=WEEK, retain_last=2, now=later)
    assert result.expired_snapshot_ids == history[:1]
    assert [s.snapshot_id for s in table.metadata.snapshots] == history[1:]
    assert result.deleted_files == 1
    assert all(p.exists() for p in small_files)
    _referenced_exist(table)

    # keeping only the last one: the current (compaction) snapshot stays, the small files go
    result = maintenance.expire_snapshots(table, retention=WEEK, retain_last=1, now=later)
    table.refresh()
    assert [s.snapshot_id for s in table.metadata.snapshots] == [history[-1]]
    assert table.metadata.current_snapshot().snapshot_id == history[-1] == result.current_snapshot_id
    assert not any(p.exists() for p in small_files), "files only expired snapshots used were kept"
    assert result.deleted_bytes > 0
    _referenced_exist(table)
    assert contract_rows(table).equals(before)
    assert stored_state(table) == state

    # even asked to keep nothing, the current snapshot is never expired
    assert maintenance.snapshots_to_expire(table, older_than=later, retain_last=0) == []

    # the consumer goes on: its dedup index was at an expired snapshot, it loads it again
    retry = publish(settings, "events", [{"event_id": i, "user_id": "u", "event_type": "view",
                                          "event_timestamp": "2026-03-01T10:00:00Z"} for i in filled.event_ids])
    filled.consumer.drain()
    job = IngestionJobStore(settings.job_db).get(retry)
    assert (job.accepted_count, job.duplicate_count) == (0, len(filled.event_ids))
    assert contract_rows(table).equals(before)


def test_orphan_files_older_than_the_safety_age_are_removed_and_young_ones_kept(settings):
    fill(settings, passes=2)
    table = open_tables(settings)["events"]
    _compact(table)
    table.refresh()
    before = contract_rows(table)
    location = _local(table.location())
    referenced = [Path(p) for p in maintenance.referenced_files(table)]
    for path in referenced:  # however old a referenced file is, it stays
        _age(path, 30)
    old_data = location / "data" / "event_timestamp_day=2026-03-01" / "data-never-committed.parquet"
    old_meta = location / "metadata" / "snap-never-committed.avro"
    young = location / "data" / "event_timestamp_day=2026-03-02" / "data-in-flight.parquet"
    for path in (old_data, old_meta, young):
        path.write_bytes(b"x" * 100)
    _age(old_data, 4)
    _age(old_meta, 3.5)
    _age(young, 1)

    dry = maintenance.remove_orphan_files(table, min_age=timedelta(days=3), dry_run=True)
    assert (dry.orphan_files, dry.removed_files, dry.kept_young_files) == (3, 2, 1)
    assert old_data.exists() and old_meta.exists()

    result = maintenance.remove_orphan_files(table, min_age=timedelta(days=3))
    assert sorted(_local(p) for p in result.removed_paths) == sorted([old_data, old_meta])
    assert (result.removed_files, result.removed_bytes, result.kept_young_files) == (2, 200, 1)
    assert not old_data.exists() and not old_meta.exists()
    assert young.exists()
    assert all(p.exists() for p in referenced)
    assert result.referenced_files == len(referenced)
    assert contract_rows(table).equals(before)


def test_files_of_expired_snapshots_left_behind_are_collected_as_orphans(settings):
    filled = fill(settings, passes=2)
    tables = {name: t for name, t in open_tables(settings).items() if name in ("events", "rejected_records")}
    for table in tables.values():
        _compact(table)
    before = {name: contract_rows(t) for name, t in tables.items()}
    for table in tables.values():
        expired = maintenance.expire_snapshots(
            table, retention=WEEK, retain_last=1, now=NOW + timedelta(days=10), delete_files=False
        )
        assert expired.deleted_files == 0
    for name, table in tables.items():
        result = maintenance.remove_orphan_files(table, min_age=timedelta(days=3), now=NOW + timedelta(days=10))
        # at least the two small data files and the manifest list of each expired append
        assert result.removed_files >= 2 * (2 if name == "events" else 1) + 2, (name, result)
        _referenced_exist(table)
        assert contract_rows(table).equals(before[name])
    # the tables go on taking commits
    more = fill(settings, passes=1, consumer=filled.consumer, prefix="after")
    landed = contract_rows(tables["events"]).column("event_id").to_pylist()
    assert sorted(landed) == sorted(filled.event_ids + more.event_ids)


def test_a_file_that_cannot_be_deleted_is_left_with_a_warning(tmp_path, caplog):
    from pyiceberg.io.pyarrow import PyArrowFileIO

    io = PyArrowFileIO()
    kept = tmp_path / "data.parquet"
    kept.write_bytes(b"x" * 10)
    assert maintenance._delete_file(io, str(kept), -1, "expiry of t") == 10  # the size looked up
    assert not kept.exists()
    assert maintenance._delete_file(io, str(kept), 10, "expiry of t") is None  # gone already: no warning
    assert not caplog.records

    def refuse(path: str) -> None:  # as root nothing local refuses a delete; a bucket policy would
        raise PermissionError(f"access denied: {path}")

    kept.write_bytes(b"x")
    io.delete = refuse
    assert maintenance._delete_file(io, str(kept), 1, "orphan removal of raw.events") is None
    assert kept.exists()
    assert [r.getMessage() for r in caplog.records] == [
        f"orphan removal of raw.events: could not delete {kept}: access denied: {kept}"
    ]
