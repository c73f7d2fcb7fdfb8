"""LocalStream: the embedded durable log (SQLite, WAL) behind EVENTLAKE_STREAM=local."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlake.stream import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    MAX_RECORD_BYTES,
    LocalStream,
    RecordTooLargeError,
    StreamError,
    open_stream,
    put_batches,
    sequence_key,
    shard_index,
)
from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore
from tests.stream.conftest import read_all


@pytest.fixture
def stream(tmp_path):
    s = LocalStream(tmp_path / "stream.db", shards=3)
    s.ensure()
    yield s
    s.close()


def test_open_stream_picks_the_local_backend_in_the_job_database(tmp_path):
    # the default: the log's tables live in the SQLite job store's file, so jobs and records commit together
    settings = Settings(home=tmp_path, stream_shards=4)
    s = open_stream(settings)
    try:
        assert isinstance(s, LocalStream)
        s.ensure()
        assert s.path == tmp_path.resolve() / "jobs.db" and s.path.exists()
        assert not settings.stream_path.exists()
        assert len(s.shard_ids()) == 4
        store = IngestionJobStore(settings.job_db)  # the job store's tables sit next to the log's
        store.create_job("j1", "events", "json", 1, 1)
        assert store.get("j1").record_count == 1 and store.sqlite_path == s.path
        store.close()
    finally:
        s.close()


@pytest.mark.parametrize(
    "overrides",
    [
        {"stream_shares_job_db": False},
        {"job_db_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"},  # the store is no SQLite file
    ],
    ids=["not-shared", "postgres-store"],
)
def test_open_stream_uses_its_own_file_when_it_cannot_share(tmp_path, overrides):
    s = open_stream(Settings(home=tmp_path, **overrides))
    assert isinstance(s, LocalStream) and s.path == tmp_path / "stream.db"
    s.close()


def test_an_empty_separate_stream_file_does_not_keep_the_log_out_of_the_job_database(tmp_path):
    settings = Settings(home=tmp_path)
    LocalStream(settings.stream_path).shard_ids()  # a reader opened the old path: an empty log file
    s = open_stream(settings)
    assert s.path == tmp_path.resolve() / "jobs.db"
    s.close()


def test_an_existing_separate_stream_file_keeps_being_used(tmp_path):
    # records written before the log moved into the job database must still be read: keep that file
    settings = Settings(home=tmp_path)
    old = LocalStream(settings.stream_path, shards=2)
    old.put_records([("k", b"written before")])
    old.close()
    s = open_stream(settings)
    try:
        assert s.path == settings.stream_path
        assert [r.data for sid in s.shard_ids() for r in read_all(s, sid)] == [b"written before"]
    finally:
        s.close()


def test_a_transaction_commits_other_tables_with_the_records_or_nothing(tmp_path):
    s = LocalStream(tmp_path / "both.db", shards=2)
    s.ensure()
    with s.transaction() as conn:
        conn.execute("CREATE TABLE side (x TEXT)")
    with pytest.raises(RuntimeError), s.transaction() as conn:
        conn.execute("INSERT INTO side VALUES ('lost')")
        s.append(conn, [("k", b"lost")])
        raise RuntimeError("crash before commit")
    with s.transaction() as conn:
        conn.execute("INSERT INTO side VALUES ('kept')")
        positions = s.append(conn, [("k", b"kept 1"), ("k", b"kept 2")])
    assert [int(seq) for _, seq in positions] == [1, 2]  # the rolled-back append used no numbers
    reader = LocalStream(tmp_path / "both.db", shards=2)
    assert [r.data for sid in reader.shard_ids() for r in read_all(reader, sid)] == [b"kept 1", b"kept 2"]
    reader.close()
    assert sqlite3.connect(tmp_path / "both.db").execute("SELECT x FROM side").fetchall() == [("kept",)]
    s.close()


def test_ensure_is_idempotent(stream):
    stream.ensure()
    stream.ensure()
    assert stream.shard_ids() == ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"]


def test_put_returns_positions_that_read_gives_back(stream):
    records = [(f"key-{i % 5}", f"payload {i}".encode()) for i in range(40)]
    positions = stream.put_records(records)
    assert len(positions) == len(records)
    by_position = {(r.shard_id, r.sequence_number): r.data for sid in stream.shard_ids() for r in read_all(stream, sid)}
    assert len(by_position) == len(records)
    for (key, data), position in zip(records, positions, strict=True):
        assert by_position[position] == data


def test_a_partition_key_always_lands_in_the_same_shard(stream):
    first = stream.put_records([("job-a", b"1"), ("job-b", b"1")])
    again = stream.put_records([("job-b", b"2"), ("job-a", b"2")])
    assert first[0][0] == again[1][0]
    assert first[1][0] == again[0][0]
    # the routing is Kinesis's: MD5 of the key over equal slices of the hash range
    assert first[0][0] == f"shardId-{shard_index('job-a', 3):012d}"


def test_sequence_numbers_increase_per_shard_and_read_is_in_order(stream):
    for batch in range(5):
        stream.put_records([(f"k{i}", f"{batch}-{i}".encode()) for i in range(10)])
    for shard_id in stream.shard_ids():
        seqs = [sequence_key(r.sequence_number) for r in read_all(stream, shard_id)]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_read_after_a_sequence_number_and_limit(stream):
    positions = stream.put_records([("same-key", f"r{i}".encode()) for i in range(10)])
    shard = positions[0][0]
    assert {p[0] for p in positions} == {shard}
    after_third = stream.read(shard, positions[2][1], 4)
    assert [r.data for r in after_third] == [b"r3", b"r4", b"r5", b"r6"]
    assert stream.read(shard, positions[-1][1], 10) == []
    assert stream.read(shard, None, 0) == []


def test_read_of_an_unknown_shard_is_an_error(stream):
    with pytest.raises(StreamError):
        stream.read("shardId-999", None, 10)


def test_records_over_one_mib_are_refused_and_nothing_is_written(stream):
    too_big = b"x" * MAX_RECORD_BYTES
    with pytest.raises(RecordTooLargeError):
        stream.put_records([("ok", b"small"), ("k", too_big)])
    assert all(stream.read(sid, None, 10) == [] for sid in stream.shard_ids())


def test_records_survive_close_and_reopen_and_sequences_continue(tmp_path):
    path = tmp_path / "stream.db"
    first = LocalStream(path, shards=2)
    first.ensure()
    before = first.put_records([(f"k{i}", f"before-{i}".encode()) for i in range(20)])
    first.close()

    # a new process would open the file the same way; a different shard setting
    # must not re-route keys of an existing log
    reopened = LocalStream(path, shards=5)
    reopened.ensure()
    try:
        assert len(reopened.shard_ids()) == 2
        stored = {(r.shard_id, r.sequence_number): r.data for sid in reopened.shard_ids() for r in read_all(reopened, sid)}
        assert stored == {pos: f"before-{i}".encode() for i, pos in enumerate(before)}
        after = reopened.put_records([(f"k{i}", b"after") for i in range(20)])
        last_before = defaultdict(int)
        for shard, seq in before:
            last_before[shard] = max(last_before[shard], sequence_key(seq))
        assert all(sequence_key(seq) > last_before[shard] for shard, seq in after)
    finally:
        reopened.close()


WRITER = textwrap.dedent(
    """
    import sys
    from eventlake.stream import LocalStream

    path, name, batches, per_batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    stream = LocalStream(path, shards=2)
    stream.ensure()
    for b in range(batches):
        stream.put_records([(f"{name}-{i % 3}", f"{name}:{b}:{i}".encode()) for i in range(per_batch)])
    stream.close()
    """
)


def test_two_writer_processes_and_a_concurrent_reader(tmp_path):
    """The API and the consumer are separate processes on one file; here two writers race a reader."""
    path = tmp_path / "stream.db"
    reader = LocalStream(path, shards=2)
    reader.ensure()
    batches, per_batch = 40, 6
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, str(batches), str(per_batch)])
        for name in ("api1", "api2")
    ]
    seen: dict[str, list] = {sid: [] for sid in reader.shard_ids()}
    positions = {sid: None for sid in seen}
    deadline = time.monotonic() + 120
    while True:
        done = all(w.poll() is not None for w in writers)
        for sid in seen:  # read while the writers write, from where we left off
            new = reader.read(sid, positions[sid], 25)
            if new:
                seen[sid].extend(new)
                positions[sid] = new[-1].sequence_number
        if done and all(not reader.read(sid, positions[sid], 1) for sid in seen):
            break
        assert time.monotonic() < deadline, "writers did not finish"
        time.sleep(0.01)
    reader.close()
    assert [w.returncode for w in writers] == [0, 0]

    payloads = [r.data.decode() for records in seen.values() for r in records]
    expected = {f"{name}:{b}:{i}" for name in ("api1", "api2") for b in range(batches) for i in range(per_batch)}
    assert len(payloads) == len(expected) and set(payloads) == expected  # every record once
    for records in seen.values():
        seqs = [sequence_key(r.sequence_number) for r in records]
        assert seqs == sorted(set(seqs))  # strictly increasing across both writers
    # per partition key, the reader sees the writer's order
    by_key = defaultdict(list)
    for records in seen.values():
        for r in records:
            name, b, i = r.data.decode().split(":")
            by_key[f"{name}-{int(i) % 3}"].append((int(b), int(i)))
    assert all(order == sorted(order) for order in by_key.values())


def test_put_batches_respects_kinesis_count_and_byte_limits():
    small = [("k", b"x")] * (MAX_BATCH_RECORDS * 2 + 1)
    assert [len(b) for b in put_batches(small)] == [MAX_BATCH_RECORDS, MAX_BATCH_RECORDS, 1]
    big = [("k", b"x" * (MAX_RECORD_BYTES - 1))] * 12
    batches = put_batches(big)
    assert [i for b in batches for i in b] == list(range(12))
    assert all(sum(len(big[i][1]) + 1 for i in b) <= MAX_BATCH_BYTES for b in batches)
    assert len(batches) == 3  # five 1 MiB records fit in 5 MiB, a sixth does not


# Property 2: Ingested data appears in Kinesis (the local stream keeps every record, per key in order)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.text(min_size=1, max_size=12), st.binary(max_size=64)), max_size=30))
def test_property_every_put_record_is_read_back_in_key_order(stream, records):
    positions = stream.put_records(records)
    stored = {(r.shard_id, r.sequence_number): r for sid in stream.shard_ids() for r in read_all(stream, sid, page=50)}
    by_key = defaultdict(list)
    for (key, data), position in zip(records, positions, strict=True):
        assert stored[position].data == data
        by_key[key].append(position)
    for key_positions in by_key.values():
        assert len({shard for shard, _ in key_positions}) == 1
        seqs = [sequence_key(seq) for _, seq in key_positions]
        assert seqs == sorted(seqs)


def test_a_writer_waits_for_the_write_turn_and_gives_up_after_the_busy_timeout(tmp_path):
    import fcntl
    import threading

    path = tmp_path / "stream.db"
    stream = LocalStream(path, shards=1, busy_timeout_ms=300)
    stream.ensure()
    holder = open(f"{path}.writer-lock", "a+")  # another writer (its own lock owner) holds the turn
    fcntl.flock(holder, fcntl.LOCK_EX)
    with pytest.raises(StreamError, match="write turn"):
        stream.put_records([("k", b"given up")])
    # a writer that waits gets the turn as soon as it is released
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (stream.put_records([("k", b"waited")]), done.set()))
    waiter.start()
    assert not done.wait(0.1)
    fcntl.flock(holder, fcntl.LOCK_UN)
    waiter.join(10)
    assert done.is_set()
    # the wait given up earlier holds nothing: the next writer goes straight in
    stream.put_records([("k", b"after")])
    assert [r.data for r in read_all(stream, stream.shard_ids()[0])] == [b"waited", b"after"]
    holder.close()
    stream.close()
