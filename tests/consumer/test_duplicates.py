"""Duplicates are caught whatever the timing (issue 6, defect 3).

Property 12 (deduplication: the first occurrence wins, every later one is kept
in rejected_records with rule ``duplicate``), across passes, restarts and
producer retries, within the window of EVENTLAKE_DEDUP_WINDOW_DAYS.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from eventlake.consumer import Consumer
from eventlake.jobs import JobStore
from eventlake.resources import iceberg
from eventlake.settings import Settings

from .conftest import events, publish, rejected_for, rows


def _counts(settings: Settings, job_id: str) -> tuple[int, int, int]:
    job = JobStore(settings.job_db).get(job_id)
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
    assert _counts(settings, loser) == (0, 100, 100)
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
    assert _counts(settings, second) == (15, 25, 25)
    assert len(rows(settings, "events")) == 65


def test_keys_older_than_the_window_are_not_duplicates(tmp_path):
    s = Settings(home=tmp_path / "home", dedup_window_days=2)
    consumer = Consumer(s)
    # a historic load: rows stored ten days ago
    table = consumer.tables["events"]
    old = datetime.now(UTC) - timedelta(days=10)
    iceberg.append_arrow(
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
    assert _counts(s, again) == (0, 3, 3), "inside the window they are duplicates"
