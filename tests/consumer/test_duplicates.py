"""Duplicates are caught whatever the timing (issue 6, defect 3).

Property 6 (deduplication: the first occurrence wins, every later one is kept
in rejected_records with rule ``duplicate``), across passes, restarts and
producer retries, within the window of EVENTLAKE_DEDUP_WINDOW_DAYS.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from eventlake import lake
from eventlake.consumer import Consumer
from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore

from .conftest import events, publish, rejected_for, rows


def _counts(settings: Settings, job_id: str) -> tuple[int, int, int]:
    job = IngestionJobStore(settings.job_db).get(job_id)
    return job.accepted_count, job.rejected_count, job.duplicate_count


@pytest.mark.parametrize("timing", ["one pass", "a pass between", "a restart between"])
def test_the_same_events_posted_twice_land_once_whatever_the_timing(settings, timing):
    body = events(100)
    first = publish(settings, "events", body)
    consumer = Consumer(settings)
    if timing != "one pass":
        consumer.drain()
    if timing == "a restart between":
        consumer = Consumer(settings)  # a new process: the index is loaded from raw.events
    retry = publish(settings, "events", body)  # a producer retrying after losing its 202
    consumer.drain()

    landed = rows(settings, "events")
    assert sorted(r["event_id"] for r in landed) == sorted(e["event_id"] for e in body)
    # the first processed wins: across passes the first posted; inside one pass the jobs may sit on
    # different shards, read in shard order, so either may win, but only one
    (winner,) = {r["job_id"] for r in landed}
    if timing != "one pass":
        assert winner == first
    loser = retry if winner == first else first
    assert _counts(settings, winner) == (100, 0, 0)
    assert _counts(settings, loser) == (0, 0, 100)
    dups = rejected_for(settings, loser)
    assert len(dups) == 100
    assert all([v["rule"] for v in r["violations"]] == ["duplicate"] for r in dups)
    assert "earlier job" in dups[0]["violations"][0]["message"]


def test_a_partial_overlap_with_an_earlier_job_and_repeats_inside_a_job(settings):
    first = publish(settings, "events", events(50))
    Consumer(settings).drain()
    # e30..e59: e30..e49 stored by the first job, e50..e59 new; then 5 new events, each twice
    overlap = events(60)[30:] + events(5, "new-") + events(5, "new-")
    second = publish(settings, "events", overlap, parts=4)
    Consumer(settings).drain()
    assert _counts(settings, first) == (50, 0, 0)
    assert _counts(settings, second) == (15, 0, 25)
    assert len(rows(settings, "events")) == 65


def test_keys_older_than_the_window_are_not_duplicates(tmp_path):
    s = Settings(home=tmp_path / "home", dedup_window_days=2)
    consumer = Consumer(s)
    # a historic load: rows stored ten days ago
    table = consumer.tables["events"]
    old = datetime.now(UTC) - timedelta(days=10)
    lake.append_arrow(
        table,
        pa.table({
            "event_id": ["e0", "e1"], "user_id": ["u", "u"], "event_type": ["view", "view"],
            "event_timestamp": pa.array([old, old], pa.timestamp("us", tz="UTC")),
            "event_date": pa.array([old.date(), old.date()], pa.date32()),
            "event_hour": pa.array([old.hour, old.hour], pa.int32()),
            "job_id": ["historic", "historic"],
            "ingested_at": pa.array([old, old], pa.timestamp("us", tz="UTC")),
        }),
    )
    job = publish(s, "events", events(3))  # e0, e1, e2
    Consumer(s).drain()
    assert _counts(s, job) == (3, 0, 0)
    again = publish(s, "events", events(3))
    Consumer(s).drain()
    assert _counts(s, again) == (0, 0, 3), "inside the window they are duplicates"


def test_one_process_call_over_several_jobs_keeps_each_jobs_replay_its_own():
    """process(jobs=[...]) joins chunks of several jobs: a key of an earlier job is a duplicate, and a
    job's own keys already committed (a replay after a crash) are not."""
    import json

    import data_processor_rs as dp

    from eventlake import contracts

    def body(ids):
        return b"".join(json.dumps({"event_id": i, "user_id": "u", "event_type": "view",
                                    "event_timestamp": "2026-01-01T00:00:00Z"}).encode() + b"\n" for i in ids)

    schema, rules = contracts.validation_schema_json("events"), contracts.transform_rules_json("events")
    ix = dp.KeyIndex()
    joined = body(["a1", "a2", "a1"]) + body(["b1", "a2"])
    r = dp.process(joined, "ndjson", schema, rules, index=ix, jobs=[(0, "job-a"), (3, "job-b")], day=1)
    assert (r.valid_count, r.duplicate_count) == (3, 2)
    messages = [json.loads(v)[0]["message"] for v in pa.table(r.rejected).column("violations").to_pylist()]
    assert messages == ["event_id: duplicate of record 0", "event_id: duplicate of a record of an earlier job in the same batch"]
    assert ix.pending_count == 3
    ix.commit_pending()
    # a replay of job a (its keys are committed under it): decided again as the first time
    again = dp.process(body(["a1", "a2", "a1"]), "ndjson", schema, rules, index=ix, job_id="job-a", day=1)
    assert (again.valid_count, again.duplicate_count) == (2, 1)
    other = dp.process(body(["a1"]), "ndjson", schema, rules, index=ix, job_id="job-c", day=1)
    assert (other.valid_count, other.duplicate_count) == (0, 1)


def test_a_duplicate_found_only_at_the_valid_commit_still_gets_its_rejected_row(tmp_path, monkeypatch):
    """Another shard's consumer stores a key between this batch's rejected commit and its valid commit.

    The valid commit sees the conflict and the batch is planned again. Its rejected rows had already
    landed (the chunk counts as done in ``rejected_records``), but the key is now a duplicate: its
    row must still reach ``rejected_records``, once, and the counts must add up.
    """
    from eventlake import faults
    from eventlake.committer import StaleBatch
    from eventlake.stream.base import shard_index

    s = Settings(home=tmp_path / "home", stream_shards=2, consumer_lease_seconds=30)
    a, b = Consumer(s), Consumer(s)
    shards = a.stream.shard_ids()
    a.leases.balance(shards)
    b.leases.balance(shards)
    a.leases.balance(shards)  # one shard each
    b.leases.balance(shards)
    (shard_a,), (shard_b,) = a.leases.held(), b.leases.held()

    def job_on(shard: str) -> str:
        return next(j for j in (f"job-{i}" for i in range(1000)) if shards[shard_index(j, len(shards))] == shard)

    key = events(1, "k")
    job_a = publish(s, "events", key + [{"event_id": "bad"}], job_id=job_on(shard_a))
    job_b = publish(s, "events", key, job_id=job_on(shard_b))

    batch = a.plan()
    real_point, fired = faults.point, []

    def b_commits_the_key_meanwhile(name: str) -> None:
        real_point(name)
        if name == "committer.after_rejected_commit" and not fired:
            fired.append(name)
            b.commit(b.plan())

    monkeypatch.setattr(faults, "point", b_commits_the_key_meanwhile)
    with pytest.raises(StaleBatch):
        a.commit(batch)
    assert fired, "b committed between a's rejected and valid commits"
    a.commit(a.plan())

    assert [r["job_id"] for r in rows(s, "events")] == [job_b]
    assert _counts(s, job_b) == (1, 0, 0)
    assert _counts(s, job_a) == (0, 1, 1)
    rules = sorted(v["rule"] for r in rejected_for(s, job_a) for v in r["violations"])
    assert "duplicate" in rules and len(rejected_for(s, job_a)) == 2, rejected_for(s, job_a)
    a.commit(a.plan())  # nothing new: the set-aside row is not written twice
    assert len(rejected_for(s, job_a)) == 2
