"""The consumer's retry of a failing Iceberg commit (issue 11, item 2).

Property 16: Failed batches are retried. A batch whose commit fails is retried
(up to ``consumer_max_attempts``, 3 by default) before its jobs are marked
failed; its records stay in the stream and are never lost.

The failure is a real one, not a mock: the test holds the write lock of the
SQLite catalog database from another connection (what a stuck writer or a
catalog outage does), so every Iceberg commit's catalog update fails with
``database is locked``. File permissions cannot be used for this: the tests may
run as root, where ``chmod`` blocks nothing. The catalog's busy timeout is
lowered through its URL so each failing attempt takes 0.2 s, not SQLite's 5 s.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import types

import pytest
from pyiceberg.catalog.sql import SqlCatalog

from eventlake import consumer as consumer_module
from eventlake.consumer import Consumer
from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore, JobStatus

from .conftest import events, publish, rows

USERS = [
    {"user_id": f"u{i}", "user_name": f"user {i}", "email": f"u{i}@example.com", "updated_at": "2026-03-01T09:00:00Z"}
    for i in range(5)
]
INVALID_EVENTS = [
    {"event_id": "bad1", "user_id": "u1", "event_type": "view", "event_timestamp": "not a time"},
    {"event_id": "bad2", "user_id": "u2", "event_type": "view"},  # no event_timestamp
    {"user_id": "u3", "event_type": "view", "event_timestamp": "2026-03-01T10:00:00Z"},  # no event_id
]


@pytest.fixture
def retry_settings(tmp_path) -> Settings:
    home = tmp_path / "home"
    return Settings(
        home=home,
        consumer_lease_seconds=30,
        consumer_max_attempts=3,
        catalog_uri=f"sqlite:///{home / 'catalog.db'}?timeout=0.2",
    )


class CatalogLock:
    """Holds the SQLite catalog's write lock from another connection: readers go on, every commit fails."""

    def __init__(self, path: str):
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=5)

    def __enter__(self) -> CatalogLock:
        self.conn.execute("BEGIN IMMEDIATE")  # the RESERVED lock: no other connection may write
        return self

    def heal(self) -> None:
        self.conn.execute("ROLLBACK")

    def __exit__(self, *exc) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self.conn.close()


def test_a_locked_catalog_is_tried_3_times_with_backoff_then_fails_the_jobs_and_a_later_pass_lands_everything(
    retry_settings, monkeypatch, caplog
):
    """Property 16: Failed batches are retried. A commit that keeps failing is tried
    consumer_max_attempts (3) times, waiting 0.5 s then 1 s between attempts; then every job of the
    batch is FAILED with a reason naming the error and the error is raised. Nothing lands while the
    catalog is locked. Once it is released, the next pass of the same consumer lands every record
    exactly once and the jobs complete with exact counts."""
    s = retry_settings
    consumer = Consumer(s)  # creates the catalog and the tables before the lock is taken

    # a counter at the failing boundary: every commit to the lake's catalog (not the committer's
    # scratch catalog that probes data files), passed through to the real one
    commits: list[str] = []
    real_commit_table = SqlCatalog.commit_table

    def counting_commit_table(self, table, requirements, updates):
        if self.name == s.catalog_name:
            commits.append(".".join(table.name()))
        return real_commit_table(self, table, requirements, updates)

    monkeypatch.setattr(SqlCatalog, "commit_table", counting_commit_table)
    # the consumer's own sleeps, recorded (and really taken): the backoff between attempts
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(consumer_module, "time", types.SimpleNamespace(sleep=sleep, monotonic=time.monotonic))

    events_job = publish(s, "events", events(30) + INVALID_EVENTS, parts=3)
    users_job = publish(s, "users", USERS)

    with CatalogLock(str(s.home / "catalog.db")) as lock:
        with caplog.at_level(logging.WARNING, logger="eventlake.consumer"), pytest.raises(Exception, match="database is locked"):
            consumer.drain()

        attempts = [r for r in caplog.records if r.name == "eventlake.consumer" and "commit failed (attempt" in r.getMessage()]
        final = [r for r in caplog.records if r.name == "eventlake.consumer" and "failed after 3 attempts" in r.getMessage()]
        assert [(r.args[0], r.args[1], r.args[3]) for r in attempts] == [(1, 3, 0.5), (2, 3, 1.0)]
        assert len(final) == 1 and final[0].levelno == logging.ERROR
        assert commits == ["raw.rejected_records"] * 3  # one catalog commit per attempt (the first of the batch), each refused
        assert slept == [0.5, 1.0]  # exponential backoff between the three attempts

        store = IngestionJobStore(s.job_db)
        for job_id in (events_job, users_job):
            job = store.get(job_id)
            assert job.status is JobStatus.FAILED
            assert job.error_message.startswith("iceberg commit failed after 3 attempts: ")
            assert "database is locked" in job.error_message
            assert (job.accepted_count, job.rejected_count, job.duplicate_count) == (0, 0, 0)
        # readers are not blocked by the lock: nothing landed
        assert rows(s, "events") == [] and rows(s, "users") == [] and rows(s, "rejected_records") == []

        lock.heal()
        commits.clear()
        slept.clear()
        totals = consumer.drain()  # the same consumer, as run_forever would go on

    assert slept == []  # no attempt failed this time
    # four stream records (the events job's three chunks and the users job's one), every row once
    assert totals == {"stream_records": 4, "accepted": 35, "rejected": 3, "duplicates": 0}
    landed = rows(s, "events")
    assert sorted(r["event_id"] for r in landed) == sorted(f"e{i}" for i in range(30))
    assert {r["job_id"] for r in landed} == {events_job}
    assert sorted(r["user_id"] for r in rows(s, "users")) == [f"u{i}" for i in range(5)]
    rejected = rows(s, "rejected_records")
    assert len(rejected) == len(INVALID_EVENTS) and {r["job_id"] for r in rejected} == {events_job}

    store = IngestionJobStore(s.job_db)
    done = store.get(events_job)
    assert (done.status, done.accepted_count, done.rejected_count, done.duplicate_count) == (JobStatus.COMPLETED, 30, 3, 0)
    done = store.get(users_job)
    assert (done.status, done.accepted_count, done.rejected_count, done.duplicate_count) == (JobStatus.COMPLETED, 5, 0, 0)

    # a further pass finds nothing new: the healed pass committed each record once
    assert consumer.drain().get("stream_records", 0) == 0
    assert len(rows(s, "events")) == 30 and len(rows(s, "users")) == 5 and len(rows(s, "rejected_records")) == 3
