"""Compaction of the raw tables (issue 7, part 5): same query results, same stream positions,
row lineage kept, and exactly-once intact while a real consumer commits at the same time."""

from __future__ import annotations

import logging
import sys
from datetime import timedelta

import pyarrow.compute as pc
import pytest

from eventlake import checkpoints, maintenance
from eventlake.consumer import Consumer
from eventlake.dedup_index import DedupIndex
from eventlake.state.ingestion_jobs import IngestionJobStore, JobStatus

from .conftest import DAYS, RAW_TABLES, contract_rows, data_files, fill, open_tables, stored_state
from tests.consumer.conftest import events, publish

SMALL = 1 << 20


def _compact(table, **kw):
    args = dict(target_file_bytes=128 << 20, small_file_bytes=SMALL, min_input_files=2)
    return maintenance.compact(table, **{**args, **kw})


def _lineage_by_row(table) -> dict[tuple, int]:
    """Every row (its contract columns) -> the snapshot that first brought it in."""
    table.refresh()
    data = maintenance.read_with_lineage(table)
    columns = [c for c in data.column_names if c != maintenance.LINEAGE_COLUMN]
    out: dict[tuple, int] = {}
    for row in data.to_pylist():
        key = tuple(row[c] for c in columns)
        assert key not in out, f"duplicate row {key}"
        out[key] = row[maintenance.LINEAGE_COLUMN]
    return out


def _no_orphans(table) -> None:
    report = maintenance.remove_orphan_files(table, min_age=timedelta(0), dry_run=True)
    assert report.orphan_files == 0, report.removed_paths


def test_compaction_changes_no_query_result_and_keeps_the_positions_of_every_raw_table(settings):
    filled = fill(settings, passes=2, all_tables=True)
    tables = open_tables(settings)
    before = {name: contract_rows(tables[name]) for name in RAW_TABLES}
    state_before = {name: stored_state(tables[name]) for name in RAW_TABLES}
    lineage_before = {name: _lineage_by_row(tables[name]) for name in RAW_TABLES}
    summary_before = {name: tables[name].metadata.current_snapshot().summary.additional_properties for name in RAW_TABLES}
    assert all(len(data_files(tables[name])) == 2 * (2 if name == "events" else 1) for name in RAW_TABLES)

    for name in RAW_TABLES:
        result = _compact(tables[name])
        assert result.snapshot_id is not None, result
        assert (result.files_before, result.rewritten_files) == ((4, 4) if name == "events" else (2, 2))

    for name in RAW_TABLES:
        table = tables[name]
        assert contract_rows(table).equals(before[name]), f"raw.{name}: a query result changed"
        # one file per partition (events: one per day)
        files = data_files(table)
        assert len(files) == (len(DAYS) if name == "events" else 1)
        snapshot = table.metadata.current_snapshot()
        assert snapshot.summary.operation.value == "replace"
        # the positions and fences, as the consumer reads them, and as stored in the new snapshot itself
        assert stored_state(table) == state_before[name]
        carried = {k: v for k, v in summary_before[name].items() if k.startswith(("eventlake.checkpoint.", "eventlake.fence."))}
        assert carried, f"raw.{name}: the consumer stored no positions?"
        own = snapshot.summary.additional_properties
        assert {k: own.get(k) for k in carried} == carried
        assert _lineage_by_row(table) == lineage_before[name]
        _no_orphans(table)

    # the consumer goes on from the carried positions: nothing re-read, nothing skipped
    more = fill(settings, passes=1, consumer=filled.consumer, prefix="q")
    landed = contract_rows(tables["events"]).column("event_id").to_pylist()
    assert sorted(landed) == sorted(filled.event_ids + more.event_ids)
    for name in RAW_TABLES:
        positions, _ = stored_state(tables[name])
        for dataset, shards in state_before[name][0].items():
            for shard, seq in shards.items():
                assert int(positions[dataset][shard]) >= int(seq)


def test_row_lineage_is_the_snapshot_that_first_brought_each_row_in_across_compactions(settings):
    filled = fill(settings, passes=2)
    table = open_tables(settings)["events"]

    def check_lineage():
        data = maintenance.read_with_lineage(table)
        for job_id, lineage in zip(data.column("job_id").to_pylist(), data.column("source_snapshot_id").to_pylist()):
            assert lineage == filled.events_snapshot_of_job[job_id]
        return data

    # the consumer's files: the column is null, the lineage is the snapshot that added the file
    stored = table.scan(selected_fields=("source_snapshot_id",)).to_arrow().column(0)
    assert stored.null_count == len(stored) == 16
    assert set(maintenance.lineage_of(table).values()) == set(filled.events_snapshot_of_job.values())
    check_lineage()

    first = _compact(table)
    table.refresh()
    # compacted files materialize it; lineage_of maps them to the compaction snapshot
    stored = table.scan(selected_fields=("job_id", "source_snapshot_id")).to_arrow()
    assert stored.column("source_snapshot_id").null_count == 0
    assert [filled.events_snapshot_of_job[j] for j in stored.column("job_id").to_pylist()] == stored.column(
        "source_snapshot_id"
    ).to_pylist()
    assert set(maintenance.lineage_of(table).values()) == {first.snapshot_id}
    check_lineage()

    # new appends, then a second compaction over compacted and new files: nobody's lineage moves
    more = fill(settings, passes=2, consumer=filled.consumer, prefix="q")
    filled.events_snapshot_of_job.update(more.events_snapshot_of_job)
    second = _compact(table)
    assert second.rewritten_files == 2 + 4  # the two compacted files and two new ones per day
    table.refresh()
    assert set(maintenance.lineage_of(table).values()) == {second.snapshot_id}
    assert check_lineage().num_rows == 8 * 4


def test_only_partitions_with_enough_small_files_are_compacted(settings):
    fill(settings, passes=2)
    tables = open_tables(settings)
    events_table = tables["events"]
    snapshot = events_table.metadata.current_snapshot().snapshot_id

    # two files per day: under the minimum of three
    result = _compact(events_table, min_input_files=3)
    assert result.snapshot_id is None and "3 or more files" in result.note
    # every file is above the small-file threshold
    result = _compact(events_table, small_file_bytes=100)
    assert result.snapshot_id is None
    events_table.refresh()
    assert events_table.metadata.current_snapshot().snapshot_id == snapshot

    # a partition with one more file qualifies, the other does not
    consumer = Consumer(settings)
    publish(settings, "events", events(3, "late-", ts=f"{DAYS[0]}T11:00:00Z"))
    consumer.drain()
    result = _compact(events_table, min_input_files=3)
    assert (result.partitions, result.rewritten_files, result.added_files) == (1, 3, 1)
    assert len(data_files(events_table)) == 1 + 2
    # the target size: candidates are packed into groups of about the target, one output each
    rejected = tables["rejected_records"]
    sizes = sorted(f.file_size_in_bytes for f in data_files(rejected))
    assert len(sizes) == 2
    result = _compact(rejected, target_file_bytes=sizes[0])  # each file alone reaches the target
    assert result.snapshot_id is None and "to pack into files of" in result.note
    result = _compact(rejected, target_file_bytes=sum(sizes))
    assert (result.rewritten_files, result.added_files) == (2, 1)


@pytest.mark.parametrize("pyiceberg_retries", ["0", "4"])
def test_a_consumer_commit_landing_while_compaction_runs_is_kept_with_its_positions(
    settings, monkeypatch, pyiceberg_retries
):
    filled = fill(settings, passes=2)
    table = open_tables(settings)["events"]
    state_before = stored_state(table)
    # "4": a table without eventlake's retry setting, under snapshot isolation: pyiceberg itself would
    # rebase the failed commit onto the consumer's snapshot (with the positions it planned from)
    with table.transaction() as tx:
        tx.set_properties({"commit.retry.num-retries": pyiceberg_retries, "write.delete.isolation-level": "snapshot"})
    late: dict = {}
    real_commit = maintenance._commit_rewrite

    def consumer_commits_first(t, deleted, added, note):
        if not late:  # between the compaction's plan and its commit, the consumer commits
            # on another day: nothing pyiceberg's own conflict check would notice
            late["event_ids"] = [e["event_id"] for e in events(5, "late-", ts="2026-03-09T10:00:00Z")]
            publish(settings, "events", events(5, "late-", ts="2026-03-09T10:00:00Z"))
            filled.consumer.drain()
            consumer_table = filled.consumer.tables["events"]
            late["state"] = stored_state(consumer_table)
            late["snapshot"] = consumer_table.metadata.current_snapshot().snapshot_id
        return real_commit(t, deleted, added, note)

    monkeypatch.setattr(maintenance, "_commit_rewrite", consumer_commits_first)
    result = _compact(table)

    assert late["state"] != state_before
    # the compaction carries the NEWER positions: the consumer's commit is not undone
    assert stored_state(table) == late["state"]
    assert result.attempts == 2, "the first commit should have been refused (the table moved)"
    assert result.rewritten_files == 4
    compaction = table.metadata.current_snapshot()
    assert compaction.snapshot_id == result.snapshot_id
    assert compaction.parent_snapshot_id == late["snapshot"], "committed on top of the consumer's snapshot"
    landed = contract_rows(table).column("event_id").to_pylist()
    assert sorted(landed) == sorted(filled.event_ids + late["event_ids"])
    # the consumer's late file is still live, next to one compacted file per day
    assert len(data_files(table)) == 2 + 1
    _no_orphans(table)


def test_compaction_plans_again_when_its_input_files_changed(settings, monkeypatch):
    fill(settings, passes=2)
    tables = open_tables(settings)
    table = tables["events"]
    before = contract_rows(table)
    real_commit = maintenance._commit_rewrite
    calls = []

    def another_compaction_first(t, deleted, added, note):
        calls.append(len(added))
        if len(calls) == 1:  # another maintenance run compacts the same files first
            other = open_tables(settings)["events"]
            assert _compact(other).snapshot_id is not None
        return real_commit(t, deleted, added, note)

    monkeypatch.setattr(maintenance, "_commit_rewrite", another_compaction_first)
    result = _compact(table)

    assert len(calls) == 2  # ours (refused), the other's; then the re-plan found nothing to do
    assert result.snapshot_id is None and "or more files" in result.note
    assert contract_rows(table).equals(before)
    assert len(data_files(table)) == 2
    _no_orphans(table)  # the refused attempt's output was removed


def test_a_compaction_that_never_gets_a_quiet_moment_gives_up_and_leaves_nothing(settings, monkeypatch):
    filled = fill(settings, passes=2)
    table = open_tables(settings)["events"]
    real_commit = maintenance._commit_rewrite
    n = iter(range(100))

    def always_a_consumer_first(t, deleted, added, note):
        fill(settings, passes=1, consumer=filled.consumer, prefix=f"busy{next(n)}-")
        return real_commit(t, deleted, added, note)

    monkeypatch.setattr(maintenance, "_commit_rewrite", always_a_consumer_first)
    with pytest.raises(maintenance.CompactionConflict):
        _compact(table, attempts=2)
    table.refresh()
    assert table.metadata.current_snapshot().summary.operation.value == "append"
    assert len(contract_rows(table)) == 8 * 4
    _no_orphans(table)


def test_a_consumer_commit_racing_the_compaction_commit_lands_exactly_once(settings, monkeypatch, caplog):
    filled = fill(settings, passes=2)
    job = publish(settings, "events", events(6, "race-", ts=f"{DAYS[1]}T12:00:00Z"))
    real_read_state = checkpoints.read_state
    raced: dict = {}

    def compaction_lands_first(table):
        # in commit_fenced, right after its refresh: the compaction commits before the consumer does
        if table.name()[-1] == "events" and not raced and sys._getframe(1).f_code.co_name == "commit_fenced":
            raced["result"] = _compact(open_tables(settings)["events"])
        return real_read_state(table)

    monkeypatch.setattr(checkpoints, "read_state", compaction_lands_first)
    caplog.set_level(logging.WARNING, logger="eventlake.committer")
    filled.consumer.drain()
    monkeypatch.setattr(checkpoints, "read_state", real_read_state)

    assert raced["result"].snapshot_id is not None
    assert any("conflicted" in r.getMessage() for r in caplog.records), "the consumer's first commit should have failed"
    table = open_tables(settings)["events"]
    current = table.metadata.current_snapshot()
    assert current.summary.operation.value == "append"
    assert current.parent_snapshot_id == raced["result"].snapshot_id
    landed = contract_rows(table).column("event_id").to_pylist()
    assert sorted(landed) == sorted(filled.event_ids + [f"race-{i}" for i in range(6)])
    stored = IngestionJobStore(settings.job_db).get(job)
    assert (stored.status, stored.accepted_count, stored.duplicate_count) == (JobStatus.COMPLETED, 6, 0)
    # the new positions include the racing batch: a restarted consumer reads nothing again
    Consumer(settings).drain()
    assert len(contract_rows(table)) == len(landed)


def test_the_dedup_index_sees_through_compaction(settings, monkeypatch):
    first = fill(settings, passes=2)
    a = first.consumer
    # another consumer stores keys after A's last pass; then the table is compacted
    b = fill(settings, passes=1, consumer=Consumer(settings), prefix="b")  # (A released its leases)
    table = open_tables(settings)["events"]
    assert _compact(table).snapshot_id is not None

    loads = []
    real_load = DedupIndex.load
    monkeypatch.setattr(DedupIndex, "load", lambda self, t: (loads.append(t), real_load(self, t))[1])

    # A catches up across [B's append, the compaction]: B's keys are duplicates, new keys are not
    retry_b = publish(settings, "events", [{"event_id": i, "user_id": "u", "event_type": "view",
                                            "event_timestamp": f"{DAYS[0]}T10:00:00Z"} for i in b.event_ids])
    fresh = publish(settings, "events", events(5, "fresh-"))
    a.drain()
    assert loads == [], "a compaction snapshot made the dedup index load the whole table again"
    jobs = IngestionJobStore(settings.job_db)
    assert (jobs.get(retry_b).accepted_count, jobs.get(retry_b).duplicate_count) == (0, len(b.event_ids))
    assert (jobs.get(fresh).accepted_count, jobs.get(fresh).duplicate_count) == (5, 0)

    # a restarted consumer loads the index from the compacted files: A's first keys are duplicates too
    compact_again = _compact(table)
    assert compact_again.snapshot_id is not None
    retry_a = publish(settings, "events", [{"event_id": i, "user_id": "u", "event_type": "view",
                                            "event_timestamp": f"{DAYS[1]}T10:00:00Z"} for i in first.event_ids])
    Consumer(settings).drain()
    assert (jobs.get(retry_a).accepted_count, jobs.get(retry_a).duplicate_count) == (0, len(first.event_ids))
    landed = contract_rows(table).column("event_id")
    assert len(landed) == pc.count_distinct(landed).as_py() == len(first.event_ids) + len(b.event_ids) + 5
