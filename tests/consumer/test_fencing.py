"""A consumer that lost its lease can never commit (issue 6, defect 2).

Property 13 (exactly once: no acknowledged record lost or duplicated) under a
consumer paused past its lease, in one process: the pause is simulated by
letting the lease period pass between plan() and commit. The subprocess tests
in test_chaos.py do the same with SIGSTOP.
"""

from __future__ import annotations

import time

import pytest

from eventlake import checkpoints
from eventlake.committer import StaleBatch, commit_batch
from eventlake.consumer import Consumer, LeaseHeld
from eventlake.leases import Lease
from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore, JobStatus

from .conftest import events, publish, rows


@pytest.fixture
def short_lease(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", consumer_lease_seconds=0.5)


def _stored(settings: Settings, table: str) -> tuple[dict, dict]:
    from eventlake import lake

    return checkpoints.read_state(lake.ensure_tables(lake.load_catalog(settings))[table])


def _positions_only_move_forward(before: dict, after: dict) -> None:
    for dataset, shards in before.items():
        for shard, seq in shards.items():
            assert int(after[dataset][shard]) >= int(seq), (dataset, shard, seq, after)


def test_a_batch_planned_before_another_consumer_committed_is_refused(short_lease):
    s = short_lease
    jobs = [publish(s, "events", events(30, f"j{i}-") + [{"event_id": "bad"}]) for i in range(3)]
    zombie = Consumer(s)
    assert zombie.leases.balance(zombie.stream.shard_ids())
    stale = zombie.plan()
    assert stale.summary()["accepted"] == 90

    time.sleep(0.6)  # the zombie is "paused" past its lease period
    successor = Consumer(s)
    successor.drain()
    assert len(rows(s, "events")) == 90
    before = {t: _stored(s, t)[0] for t in ("events", "rejected_records")}

    with pytest.raises(StaleBatch):
        commit_batch(stale, zombie.tables, zombie.jobs)

    assert len(rows(s, "events")) == 90, "the zombie's batch was committed a second time"
    assert len(rows(s, "rejected_records")) == 3
    for table, positions in before.items():
        _positions_only_move_forward(positions, _stored(s, table)[0])
    store = IngestionJobStore(s.job_db)
    for job_id in jobs:
        job = store.get(job_id)
        assert (job.status, job.accepted_count, job.rejected_count) == (JobStatus.COMPLETED, 30, 1)


def test_a_batch_whose_lease_was_taken_is_refused_before_the_new_owner_commits(short_lease):
    s = short_lease
    publish(s, "events", events(25))
    zombie = Consumer(s)
    shards = zombie.stream.shard_ids()
    assert set(zombie.leases.balance(shards)) == set(shards)
    stale = zombie.plan()
    time.sleep(0.6)
    successor = Consumer(s)
    taken = successor.leases.balance(shards)  # taken, nothing committed yet
    assert taken == {shard: stale.epochs[shard] + 1 for shard in shards}

    with pytest.raises(StaleBatch, match="no longer held"):
        commit_batch(stale, zombie.tables, zombie.jobs)
    assert rows(s, "events") == []

    successor.drain()
    assert len(rows(s, "events")) == 25
    _, fences = _stored(s, "events")
    for shard, epoch in fences["events"].items():
        assert epoch == stale.epochs[shard] + 1


def test_a_commit_under_an_older_epoch_than_the_table_holds_is_refused(short_lease):
    """The fence stored in the table is checked even when the lease row looks right
    (a state database restored from an old backup, say)."""
    s = short_lease
    publish(s, "events", events(10, "a"))
    first = Consumer(s)
    first.drain()
    publish(s, "events", events(10, "b"))
    c = Consumer(s)
    assert c.leases.balance(c.stream.shard_ids())
    batch = c.plan()
    batch.epochs = {shard: 0 for shard in batch.epochs}  # planned under epochs older than the table's
    with pytest.raises(StaleBatch, match="epoch"):
        commit_batch(batch, c.tables, c.jobs)
    assert len(rows(s, "events")) == 10


def test_the_lease_is_kept_alive_while_a_pass_works_and_released_after(short_lease):
    s = short_lease
    publish(s, "events", events(5))
    a, b = Consumer(s), Consumer(s)
    assert a.leases.balance(a.stream.shard_ids())
    with a.leases.kept_alive():
        time.sleep(1.2)  # more than twice the period: renewed meanwhile
        with pytest.raises(LeaseHeld):
            b.run_once()
    a.leases.release_all()
    b.drain()
    assert len(rows(s, "events")) == 5


def test_a_dead_owners_lease_is_taken_at_once(tmp_path):
    import subprocess
    import sys

    s = Settings(home=tmp_path / "home", consumer_lease_seconds=3600)
    store = IngestionJobStore(s.job_db)
    code = (
        "import sys, sqlalchemy as sa; from eventlake.leases import Lease; "
        "l = Lease(sa.create_engine(sys.argv[1]), 'stream:x', 3600); assert l.acquire(); print(l.epoch)"
    )
    out = subprocess.run([sys.executable, "-c", code, s.job_db], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
    lease = Lease(store.engine, "stream:x", 3600)
    assert lease.acquire(), "the owner's process is gone: no need to wait out an hour"
    assert lease.epoch == 2

    other = Lease(store.engine, "stream:x", 3600)
    assert not other.acquire(), "a live owner's lease is not taken"
    lease.release()
    assert other.acquire() and other.epoch == 3, "release keeps the epoch: it never goes down"


def test_shards_are_shared_among_live_consumers_and_taken_over_when_one_stops(tmp_path):
    s = Settings(home=tmp_path / "home", stream_shards=4, consumer_lease_seconds=0.5)
    a, b = Consumer(s), Consumer(s)
    shards = a.stream.shard_ids()
    assert set(a.leases.balance(shards)) == set(shards), "alone, a consumer takes every shard"
    assert b.leases.balance(shards) == {}, "a newcomer waits for shards to be given up"
    assert len(a.leases.balance(shards)) == 2, "two live consumers: two shards each"
    assert len(b.leases.balance(shards)) == 2
    assert set(a.leases.held()).isdisjoint(b.leases.held())
    time.sleep(0.6)  # b stops renewing: its leases and its heartbeat run out
    assert set(a.leases.balance(shards)) == set(shards)
    with pytest.raises(StaleBatch):  # and b's view of its old shards is refused at commit time
        for shard, epoch in list(b.leases.held().items()):
            if not b.leases.still_held(shard, epoch):
                raise StaleBatch(shard)


def test_a_running_consumer_coalesces_commits_by_the_commit_interval(tmp_path):
    """Jobs posted while a consumer keeps up land in fewer, larger snapshots."""
    import threading

    from eventlake.state.ingestion_jobs import JobStatus

    s = Settings(home=tmp_path / "home", consumer_poll_seconds=0.05, consumer_commit_interval_seconds=2.5)
    consumer = Consumer(s)
    stop = threading.Event()
    runner = threading.Thread(target=consumer.run_forever, kwargs={"stop": stop.is_set})
    runner.start()
    try:
        jobs = []
        for i in range(6):
            jobs.append(publish(s, "events", events(10, f"b{i}-")))
            time.sleep(0.15)
        store = IngestionJobStore(s.job_db)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(store.get(j).status is not JobStatus.COMPLETED for j in jobs):
            time.sleep(0.1)
    finally:
        stop.set()
        runner.join()
    assert all(store.get(j).status is JobStatus.COMPLETED for j in jobs)
    assert len(rows(s, "events")) == 60
    from eventlake import lake

    table = lake.ensure_tables(lake.load_catalog(s))["events"]
    assert len(table.metadata.snapshots) <= 3, "six jobs within one interval should take at most a few commits"
