"""`eventlake table history|show|as-of|rollback` on a lake the real consumer filled, and what a
rollback does to the stream positions (docs/time_travel.md): the records after the target snapshot
are replayed from the stream, exactly once, never skipped or duplicated silently.

The CLI runs as a user runs it: .venv/bin/eventlake in a subprocess with EVENTLAKE_HOME set.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eventlake import checkpoints, envelope, lake
from eventlake import time_travel as tt
from eventlake.consumer import Consumer
from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore
from eventlake.stream.local import local_stream_path
from tests.consumer.conftest import events, publish, rows, stream_backend  # noqa: F401  (fixture)
from tests.moto_server import fake_aws_credentials, moto_url  # noqa: F401  (fixtures of stream_backend)

EVENTLAKE = str(Path(sys.executable).parent / "eventlake")


@dataclass
class Lake:
    settings: Settings
    job_a: str
    job_b: str
    first: int  # snapshot of raw.events after job A
    second: int  # after job B
    between: datetime  # a time after the first commit and before the second


#: job B: three new events, one repeat of job A's a0 (a duplicate) and one invalid record
B_RECORDS = [*events(3, "b"), events(1, "a")[0], {"event_id": "bad", "event_type": "view"}]


def build_lake(home: Path) -> Lake:
    """Two jobs committed by the real consumer, one pass each: raw.events gets two snapshots."""
    settings = Settings(home=home, consumer_lease_seconds=30)
    consumer = Consumer(settings)
    try:
        job_a = publish(settings, "events", events(5, "a"))
        consumer.drain()
        first = current_snapshot(settings)
        between = datetime.now(UTC)
        job_b = publish(settings, "events", B_RECORDS)
        consumer.drain()
        second = current_snapshot(settings)
    finally:
        consumer.close()
    assert first != second
    return Lake(settings, job_a, job_b, first, second, between)


def events_table(settings: Settings):
    return lake.ensure_tables(lake.load_catalog(settings))["events"]


def current_snapshot(settings: Settings) -> int:
    return events_table(settings).metadata.current_snapshot().snapshot_id


def run_cli(settings: Settings, *args: str, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("EVENTLAKE_")}
    env["EVENTLAKE_HOME"] = str(settings.home)
    return subprocess.run([EVENTLAKE, "table", *args], env=env, capture_output=True, text=True, timeout=300,
                          stdin=stdin, cwd=settings.home.parent)


def drain(settings: Settings) -> None:
    consumer = Consumer(settings)
    try:
        consumer.drain()
    finally:
        consumer.close()


def job_counts(settings: Settings, job_id: str) -> tuple[str, int, int, int]:
    store = IngestionJobStore(settings.job_db)
    try:
        job = store.get(job_id)
    finally:
        store.close()
    return job.status.value, job.accepted_count, job.rejected_count, job.duplicate_count


def assert_everything_once(lk: Lake) -> None:
    """Both jobs' rows exactly once, their rejected rows once, their counts as first recorded."""
    event_ids = sorted(r["event_id"] for r in rows(lk.settings, "events"))
    assert event_ids == ["a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2"]
    rejected = sorted((r["job_id"], json.loads(r["violations"])[0]["rule"]) for r in rows(lk.settings, "rejected_records"))
    assert rejected == sorted([(lk.job_b, "duplicate"), (lk.job_b, "required")])
    assert job_counts(lk.settings, lk.job_a) == ("COMPLETED", 5, 0, 0)
    assert job_counts(lk.settings, lk.job_b) == ("COMPLETED", 3, 1, 1)


@pytest.fixture(scope="module")
def shared_lake(tmp_path_factory) -> Lake:
    """A lake for the read-only commands."""
    return build_lake(tmp_path_factory.mktemp("time_travel") / "home")


@pytest.fixture
def fresh_lake(tmp_path) -> Lake:
    """A lake of its own, for a test that rolls back."""
    return build_lake(tmp_path / "home")


# -- history, show, as-of ------------------------------------------------------------
def test_history_lists_snapshots_with_stream_positions_job_ids_and_counts(shared_lake):
    lk = shared_lake
    result = run_cli(lk.settings, "history", "raw.events", "--json")
    assert result.returncode == 0, result.stderr
    snapshots = json.loads(result.stdout)
    assert [s["snapshot_id"] for s in snapshots] == [lk.first, lk.second]
    first, second = snapshots
    assert (first["parent_id"], second["parent_id"]) == (None, lk.first)
    assert (first["operation"], first["added_records"], first["total_records"]) == ("append", 5, 5)
    assert (second["added_records"], second["total_records"]) == (3, 8)
    assert (first["job_ids"], second["job_ids"]) == ([lk.job_a], [lk.job_b])
    assert (first["current"], second["current"]) == (False, True)
    # the positions are the ones the consumer stored in the summary
    table = events_table(lk.settings)
    assert second["positions"] == checkpoints.read_checkpoints(table)
    assert set(second["positions"]) == {"events"}
    assert first["positions"]["events"] and first["positions"] != second["positions"]


def test_history_prints_a_table_a_person_can_read(shared_lake):
    result = run_cli(shared_lake.settings, "history", "events")
    assert result.returncode == 0, result.stderr
    for text in (str(shared_lake.first), f"{shared_lake.second} (current)", shared_lake.job_a, shared_lake.job_b,
                 "shardId-"):
        assert text in result.stdout


def test_show_reads_the_rows_of_an_old_snapshot(shared_lake):
    lk = shared_lake
    old = json.loads(run_cli(lk.settings, "show", "raw.events", "--snapshot", str(lk.first), "--json",
                             "--limit", "100").stdout)
    assert old["snapshot_id"] == lk.first
    assert sorted(r["event_id"] for r in old["rows"]) == ["a0", "a1", "a2", "a3", "a4"]
    now = json.loads(run_cli(lk.settings, "show", "raw.events", "--json", "--limit", "100").stdout)
    assert now["snapshot_id"] == lk.second and len(now["rows"]) == 8
    assert len(json.loads(run_cli(lk.settings, "show", "raw.events", "--json", "--limit", "2").stdout)["rows"]) == 2


def test_as_of_a_time_reads_the_snapshot_current_then(shared_lake):
    lk = shared_lake
    for args in (["as-of", "raw.events", lk.between.isoformat()], ["show", "raw.events", "--as-of", lk.between.isoformat()]):
        result = run_cli(lk.settings, *args, "--json", "--limit", "100")
        assert result.returncode == 0, result.stderr
        body = json.loads(result.stdout)
        assert body["snapshot_id"] == lk.first
        assert sorted(r["event_id"] for r in body["rows"]) == ["a0", "a1", "a2", "a3", "a4"]
    before = run_cli(lk.settings, "as-of", "raw.events", "2020-01-01T00:00:00Z")
    assert before.returncode == 1 and "had no snapshot at 2020-01-01" in before.stderr


def test_unknown_table_and_snapshot_are_one_line_errors(shared_lake):
    result = run_cli(shared_lake.settings, "history", "raw.nope")
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: no table 'raw.nope'; the tables are raw.events, raw.users, raw.products, "
                                     "raw.rejected_records")
    result = run_cli(shared_lake.settings, "show", "raw.events", "--snapshot", "1")
    assert result.returncode == 1 and "has no snapshot 1" in result.stderr


# -- rollback ------------------------------------------------------------------------
def test_rollback_without_yes_and_without_a_terminal_refuses(fresh_lake):
    lk = fresh_lake
    result = run_cli(lk.settings, "rollback", "raw.events", str(lk.first))
    assert result.returncode == 2
    assert "stdin is not a terminal; pass --yes" in result.stderr
    assert f"rollback raw.events: current snapshot {lk.second} -> {lk.first}" in result.stdout  # the plan was shown
    assert current_snapshot(lk.settings) == lk.second
    assert not tt.audit_path(lk.settings).exists()


def run_in_terminal(settings: Settings, answer: str, *args: str) -> subprocess.CompletedProcess:
    """The CLI with a terminal (a pty) on stdin, typing ``answer`` at the prompt."""
    import pty

    controller, terminal = pty.openpty()
    try:
        os.write(controller, answer.encode() + b"\n")
        return run_cli(settings, *args, stdin=terminal)
    finally:
        os.close(controller)
        os.close(terminal)


def test_rollback_asks_in_a_terminal_and_does_nothing_unless_told_yes(fresh_lake):
    lk = fresh_lake
    result = run_in_terminal(lk.settings, "n", "rollback", "raw.events", str(lk.first))
    assert result.returncode == 1 and "not rolled back" in result.stdout
    assert f"Roll raw.events back to snapshot {lk.first}? [y/N]" in result.stdout
    assert current_snapshot(lk.settings) == lk.second and not tt.audit_path(lk.settings).exists()
    result = run_in_terminal(lk.settings, "y", "rollback", "raw.events", str(lk.first))
    assert result.returncode == 0, result.stderr
    assert current_snapshot(lk.settings) == lk.first and len(tt.audit_path(lk.settings).read_text().splitlines()) == 1
    again = run_cli(lk.settings, "rollback", "raw.events", str(lk.first))
    assert again.returncode == 0 and "already at snapshot" in again.stdout
    forward = run_cli(lk.settings, "rollback", "raw.events", str(lk.second), "--yes")  # undone: not in the history now
    assert forward.returncode == 1 and "is not an ancestor of the current snapshot" in forward.stderr


def test_rollback_replays_the_later_records_once_and_writes_an_audit_line(fresh_lake):
    """Two batches through the real consumer, a rollback to the first snapshot, the consumer again:
    the second job's rows come back exactly once, its rejected rows are not doubled, counts unchanged."""
    lk = fresh_lake
    result = run_cli(lk.settings, "rollback", "raw.events", str(lk.first), "--yes")
    assert result.returncode == 0, result.stderr
    assert "stream positions moving back" in result.stdout
    assert f"will replay 1 stream record(s) ({len(B_RECORDS)} records) of 1 job(s), bringing back 3 row(s)" in result.stdout
    assert lk.job_b in result.stdout
    assert current_snapshot(lk.settings) == lk.first
    assert sorted(r["event_id"] for r in rows(lk.settings, "events")) == ["a0", "a1", "a2", "a3", "a4"]

    lines = tt.audit_path(lk.settings).read_text().splitlines()
    assert len(lines) == 1
    audit = json.loads(lines[0])
    assert (audit["component"], audit["action"], audit["table"]) == ("table", "rollback", "raw.events")
    assert (audit["from_snapshot_id"], audit["to_snapshot_id"]) == (lk.second, lk.first)
    assert audit["who"] and audit["timestamp"] and audit["forced"] is False
    assert audit["replay_jobs"] == [lk.job_b] and audit["rows_removed"] == 3
    assert audit["positions_moved"] and all(m["dataset"] == "events" for m in audit["positions_moved"])
    logged = [json.loads(x) for x in result.stderr.splitlines() if x.startswith('{"timestamp"')]
    assert lines[0] in [x["message"] for x in logged if x["component"] == "table"]  # the same record in the log

    drain(lk.settings)
    assert_everything_once(lk)
    table = events_table(lk.settings)
    assert table.metadata.current_snapshot().parent_snapshot_id == lk.first
    # the table's positions are back where they were before the rollback
    second = table.metadata.snapshot_by_id(lk.second)
    assert checkpoints.read_checkpoints(table) == tt.stored_positions(second)
    drain(lk.settings)  # and a further pass finds nothing to do
    assert_everything_once(lk)


def test_a_consumer_that_keeps_running_between_passes_replays_once_too(tmp_path, stream_backend):
    """The same Consumer object before and after the rollback (its dedup index holds the undone keys
    in memory), on the embedded stream and on Kinesis (moto_server): the replay lands once."""
    settings = Settings(home=tmp_path / "home", consumer_lease_seconds=30, **stream_backend)
    consumer = Consumer(settings)
    try:
        job_a = publish(settings, "events", events(5, "a"))
        consumer.drain()
        first = current_snapshot(settings)
        job_b = publish(settings, "events", B_RECORDS)
        consumer.drain()
        second = current_snapshot(settings)
        table = events_table(settings)
        plan = tt.plan_rollback(settings, table, first)
        assert plan.problems == [] and plan.replay_jobs == [job_b] and plan.rows_back == plan.rows_removed == 3
        tt.rollback(settings, table, plan)
        consumer.drain()
    finally:
        consumer.close()
    assert_everything_once(Lake(settings, job_a, job_b, first, second, datetime.now(UTC)))


def test_a_rollback_by_hand_would_skip_the_later_records(fresh_lake):
    """Why the command moves the read positions: pyiceberg's rollback alone makes the consumer skip the
    records committed after the target (it reads on from its read positions), silently."""
    lk = fresh_lake
    table = events_table(lk.settings)
    table.manage_snapshots().rollback_to_snapshot(lk.first).commit()
    drain(lk.settings)
    assert sorted(r["event_id"] for r in rows(lk.settings, "events")) == ["a0", "a1", "a2", "a3", "a4"]
    assert job_counts(lk.settings, lk.job_b) == ("COMPLETED", 3, 1, 1)  # the job still claims its rows landed


def test_rollback_refuses_when_the_stream_no_longer_holds_the_records(fresh_lake):
    lk = fresh_lake
    # the stream's retention dropped job B's records
    with sqlite3.connect(local_stream_path(lk.settings)) as conn:
        stream_rows = conn.execute("SELECT shard_id, seq, data FROM stream_records").fetchall()
        gone = [(shard, seq) for shard, seq, data in stream_rows if envelope.decode(bytes(data))[0].job_id == lk.job_b]
        assert gone
        conn.executemany("DELETE FROM stream_records WHERE shard_id = ? AND seq = ?", gone)
    table = events_table(lk.settings)
    plan = tt.plan_rollback(lk.settings, table, lk.first)
    assert plan.missing_jobs == [lk.job_b] and plan.replay_records == 0
    assert any("no longer holds" in p for p in plan.problems)
    with pytest.raises(tt.RollbackRefused):
        tt.rollback(lk.settings, table, plan)

    result = run_cli(lk.settings, "rollback", "raw.events", str(lk.first), "--yes")
    assert result.returncode == 1 and "refusing to roll back" in result.stderr
    assert "PROBLEM: the stream no longer holds the records of 1 job(s)" in result.stdout
    assert current_snapshot(lk.settings) == lk.second and not tt.audit_path(lk.settings).exists()

    result = run_cli(lk.settings, "rollback", "raw.events", str(lk.first), "--yes", "--force")
    assert result.returncode == 0, result.stderr
    assert current_snapshot(lk.settings) == lk.first
    audit = json.loads(tt.audit_path(lk.settings).read_text())
    assert audit["forced"] is True and audit["problems"]


def test_rollback_refuses_while_a_consumer_is_running(fresh_lake):
    lk = fresh_lake
    running = Consumer(lk.settings)
    try:
        assert running.leases.balance(running.stream.shard_ids())
        plan = tt.plan_rollback(lk.settings, events_table(lk.settings), lk.first)
        assert plan.consumers_running and any("stop them first" in p for p in plan.problems)
    finally:
        running.leases.release_all()
        running.close()
    assert tt.plan_rollback(lk.settings, events_table(lk.settings), lk.first).problems == []
