"""IngestionJobStore on SQLite and on the real PostgreSQL (a throwaway database per session)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlalchemy.exc import IntegrityError

from eventlake.state.database import sqlite_file
from eventlake.state.ingestion_jobs import UNPUBLISHED_REASON, IngestionJobStore, JobNotFoundError, JobStatus, NewJob
from tests.conftest import postgres_database


@pytest.fixture(scope="session")
def postgres_url():
    """A uniquely named database on 127.0.0.1:5432 for this session, dropped afterwards."""
    with postgres_database("eventlake_jobs_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_url):
    s = IngestionJobStore(store_url)
    yield s
    s.close()


def new_id() -> str:
    return str(uuid.uuid4())


def test_create_and_get(store):
    before = datetime.now(UTC)
    job_id = new_id()
    created = store.create_job(job_id, "events", "json", record_count=10, parts=2)
    job = store.get(job_id)
    assert job == created
    assert (job.job_id, job.dataset, job.format, job.status) == (job_id, "events", "json", JobStatus.PENDING)
    assert (job.record_count, job.parts, job.parts_done) == (10, 2, 0)
    assert (job.accepted_count, job.rejected_count, job.duplicate_count) == (0, 0, 0)
    assert job.snapshot_id is None and job.error_message is None
    assert job.created_at.tzinfo is not None and job.created_at >= before.replace(microsecond=0)
    assert store.get(new_id()) is None


def test_tables_are_created_once_and_shared_by_two_stores(store_url):
    # the API process and the consumer process each open the store
    a, b = IngestionJobStore(store_url), IngestionJobStore(store_url)
    job_id = new_id()
    a.create_job(job_id, "users", "csv", 3, 1)
    assert b.get(job_id).record_count == 3
    a.close()
    b.close()


def test_create_jobs_writes_a_group_in_one_transaction(store):
    group = [NewJob(new_id(), "events", "json", n + 1, 1) for n in range(3)]
    store.create_jobs(group)
    assert [(j.status, j.record_count) for j in map(store.get, (g.job_id for g in group))] == [
        (JobStatus.PENDING, 1), (JobStatus.PENDING, 2), (JobStatus.PENDING, 3)
    ]
    assert store.unpublished_count() == 0  # no publish intents unless asked for
    # one bad row (an id that exists) and the whole group is refused: all or nothing
    fresh = NewJob(new_id(), "users", "csv", 1, 1)
    with pytest.raises(IntegrityError):
        store.create_jobs([fresh, group[0]])
    assert store.get(fresh.job_id) is None


def test_insert_jobs_sqlite_stores_what_create_jobs_stores(tmp_path):
    import sqlite3

    store = IngestionJobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    assert store.sqlite_path == (tmp_path / "jobs.db").resolve()
    by_store, raw = new_id(), new_id()
    store.create_jobs([NewJob(by_store, "events", "ndjson", 5, 2)])
    conn = sqlite3.connect(store.sqlite_path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    store.insert_jobs_sqlite(conn, [NewJob(raw, "events", "ndjson", 5, 2)])
    conn.execute("COMMIT")
    conn.close()
    a, b = store.get(by_store), store.get(raw)
    assert (b.status, b.record_count, b.parts, b.parts_done, b.accepted_count, b.error_message) == (
        a.status, a.record_count, a.parts, a.parts_done, a.accepted_count, a.error_message
    )
    assert b.created_at.tzinfo is not None and b.created_at >= a.created_at
    assert [j.job_id for j in store.list_jobs(limit=2)] == [raw, by_store]  # timestamps order as usual
    store.record_chunk(raw, 0, 3, 0, 0, 1)
    store.record_chunk(raw, 1, 2, 0, 0, 2)
    assert store.get(raw).status is JobStatus.COMPLETED and store.metrics()["avg_seconds_to_complete"] >= 0
    store.close()
    assert sqlite_file("postgresql+psycopg://x@127.0.0.1:1/none") is None
    assert sqlite_file("sqlite:///:memory:") is None


def test_unpublished_jobs_are_swept_failed_with_the_reason(store):
    published, lost, moved_on = (NewJob(new_id(), "events", "json", 1, 1) for _ in range(3))
    store.create_jobs([published, lost, moved_on], unpublished=True)
    assert store.unpublished_count() == 3
    store.settle_publish([published.job_id])
    # the API died before settling moved_on, but its records got through: the consumer moved it on
    store.mark_processing(moved_on.job_id)
    assert store.sweep_unpublished(older_than_seconds=3600) == []  # nothing is that old yet
    assert store.sweep_unpublished(older_than_seconds=0) == [lost.job_id]
    job = store.get(lost.job_id)
    assert job.status is JobStatus.FAILED and job.error_message == UNPUBLISHED_REASON.format(seconds=0)
    assert "never published" in job.error_message
    assert store.get(published.job_id).status is JobStatus.PENDING
    assert store.get(moved_on.job_id).status is JobStatus.PROCESSING
    assert store.unpublished_count() == 0  # the stale intent went too
    assert store.sweep_unpublished(older_than_seconds=0) == []


def test_settle_publish_fails_jobs_and_undoes_a_sweep_that_came_too_early(store):
    slow, failed = NewJob(new_id(), "events", "json", 1, 1), NewJob(new_id(), "events", "json", 1, 1)
    other = NewJob(new_id(), "events", "json", 1, 1)
    store.create_jobs([slow, failed, other], unpublished=True)
    # a publish that outlives the threshold: the sweeper gives up on slow first ...
    assert set(store.sweep_unpublished(older_than_seconds=0)) == {slow.job_id, failed.job_id, other.job_id}
    store.settle_publish([slow.job_id])
    # ... and the records got there after all: it is PENDING again, nothing to explain
    job = store.get(slow.job_id)
    assert job.status is JobStatus.PENDING and job.error_message is None
    # a publish that failed: FAILED with its reason
    fresh = NewJob(new_id(), "events", "json", 1, 1)
    store.create_jobs([fresh], unpublished=True)
    store.settle_publish([], {fresh.job_id: "stream publish failed: boom"})
    job = store.get(fresh.job_id)
    assert job.status is JobStatus.FAILED and job.error_message == "stream publish failed: boom"
    assert store.unpublished_count() == 0


def test_mark_processing_only_moves_pending(store):
    job_id = new_id()
    store.create_job(job_id, "events", "ndjson", 1, 1)
    assert store.mark_processing(job_id) is True
    assert store.get(job_id).status is JobStatus.PROCESSING
    assert store.mark_processing(job_id) is False
    store.record_chunk(job_id, 0, 1, 0, 0, 7)
    assert store.mark_processing(job_id) is False
    assert store.get(job_id).status is JobStatus.COMPLETED


def test_record_chunk_sums_parts_once_and_completes(store):
    job_id = new_id()
    store.create_job(job_id, "events", "json", record_count=10, parts=3)
    assert store.record_chunk(job_id, 0, accepted=3, rejected=1, duplicates=0, snapshot_id=11) is True
    job = store.get(job_id)
    assert job.status is JobStatus.PROCESSING and job.parts_done == 1
    # a replay of part 0 (at-least-once delivery) changes nothing
    assert store.record_chunk(job_id, 0, accepted=3, rejected=1, duplicates=0, snapshot_id=11) is False
    assert store.get(job_id) == job
    store.record_chunk(job_id, 2, accepted=2, rejected=0, duplicates=1, snapshot_id=None)
    assert store.get(job_id).status is JobStatus.PROCESSING
    store.record_chunk(job_id, 1, accepted=2, rejected=1, duplicates=0, snapshot_id=12)
    job = store.get(job_id)
    assert job.status is JobStatus.COMPLETED
    assert (job.accepted_count, job.rejected_count, job.duplicate_count) == (7, 2, 1)
    assert job.snapshot_id == 12 and job.parts_done == 3
    assert job.completed_at is not None and job.completed_at >= job.created_at


def test_record_chunk_for_an_unknown_job_leaves_no_trace(store):
    job_id = new_id()
    with pytest.raises(JobNotFoundError):
        store.record_chunk(job_id, 0, 1, 0, 0, None)
    # the chunk row was rolled back: once the job exists the chunk counts
    store.create_job(job_id, "events", "json", 1, 1)
    assert store.record_chunk(job_id, 0, 1, 0, 0, None) is True
    assert store.get(job_id).status is JobStatus.COMPLETED


def test_mark_failed(store):
    pending, done = new_id(), new_id()
    store.create_job(pending, "events", "json", 4, 2)
    store.create_job(done, "events", "json", 1, 1)
    store.record_chunk(done, 0, 1, 0, 0, 5)
    assert store.mark_failed(pending, "stream publish failed: boom") is True
    job = store.get(pending)
    assert job.status is JobStatus.FAILED and job.error_message == "stream publish failed: boom"
    assert store.mark_failed(done, "too late") is False
    assert store.get(done).status is JobStatus.COMPLETED and store.get(done).error_message is None
    # chunks of a failed job still add up; it stays FAILED until every part has landed
    # (a consumer retry that succeeds after all), then it is COMPLETED
    store.record_chunk(pending, 0, 2, 0, 0, None)
    job = store.get(pending)
    assert job.status is JobStatus.FAILED and job.accepted_count == 2
    store.record_chunk(pending, 1, 2, 0, 0, 9)
    job = store.get(pending)
    assert job.status is JobStatus.COMPLETED and job.accepted_count == 4 and job.snapshot_id == 9
    assert job.error_message == "stream publish failed: boom"


def test_list_jobs_newest_first_with_status_filter_and_limit(store_url):
    store = IngestionJobStore(store_url)
    ids = [new_id() for _ in range(4)]
    for job_id in ids:
        store.create_job(job_id, "products", "json", 1, 1)
    store.record_chunk(ids[1], 0, 1, 0, 0, None)
    listed = [j.job_id for j in store.list_jobs(limit=1000) if j.job_id in ids]
    assert listed == list(reversed(ids))
    assert ids[1] in [j.job_id for j in store.list_jobs(limit=1000, status=JobStatus.COMPLETED)]
    assert ids[1] not in [j.job_id for j in store.list_jobs(limit=1000, status="PENDING")]
    assert len(store.list_jobs(limit=2)) == 2
    store.close()


def test_metrics(tmp_path):
    store = IngestionJobStore(f"sqlite:///{tmp_path / 'metrics.db'}")
    empty = store.metrics()
    assert empty["jobs_by_status"] == {"PENDING": 0, "PROCESSING": 0, "COMPLETED": 0, "FAILED": 0}
    assert empty["last_completed_at"] is None and empty["avg_seconds_to_complete"] is None
    a, b, c = new_id(), new_id(), new_id()
    store.create_job(a, "events", "json", 5, 1)
    store.create_job(b, "events", "json", 7, 2)
    store.create_job(c, "users", "csv", 2, 1)
    store.record_chunk(a, 0, 3, 1, 1, 1)
    store.record_chunk(b, 0, 4, 0, 0, 2)
    store.mark_failed(c, "broken")
    m = store.metrics()
    assert m["jobs_by_status"] == {"PENDING": 0, "PROCESSING": 1, "COMPLETED": 1, "FAILED": 1}
    assert m["jobs_total"] == 3
    assert (m["records_received"], m["records_accepted"], m["records_rejected"], m["records_duplicates"]) == (14, 7, 1, 1)
    # b's second part and all of c are not counted yet: 3 + 2
    assert m["records_in_flight"] == 5
    completed = store.get(a)
    assert m["last_completed_at"] == completed.completed_at.isoformat()
    assert m["avg_seconds_to_complete"] == pytest.approx((completed.completed_at - completed.created_at).total_seconds())
    store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    jobs=st.lists(
        st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=4),
        min_size=1,
        max_size=6,
    ),
    replay=st.booleans(),
)
def test_metrics_count_every_received_record_once(tmp_path_factory, jobs, replay):
    """received = accepted + rejected (invalid) + duplicates once every job is COMPLETED, and
    received = accepted + rejected + duplicates + in flight at every step before."""
    store = IngestionJobStore(f"sqlite:///{tmp_path_factory.mktemp('counts') / 'jobs.db'}")
    try:
        ids = [new_id() for _ in jobs]
        for job_id, parts in zip(ids, jobs, strict=True):
            store.create_job(job_id, "events", "ndjson", sum(map(sum, parts)), len(parts))

        def balanced() -> dict:
            m = store.metrics()
            counted = m["records_accepted"] + m["records_rejected"] + m["records_duplicates"]
            assert m["records_received"] == counted + m["records_in_flight"]
            return m

        assert balanced()["records_in_flight"] == sum(sum(map(sum, parts)) for parts in jobs)
        for job_id, parts in zip(ids, jobs, strict=True):
            for part, (accepted, invalid, duplicates) in enumerate(parts):
                store.record_chunk(job_id, part, accepted, invalid, duplicates, snapshot_id=part)
                if replay:  # the stream delivers at least once: a replayed chunk counts nothing
                    store.record_chunk(job_id, part, accepted, invalid, duplicates, snapshot_id=part)
                balanced()
        m = balanced()
        assert m["jobs_by_status"]["COMPLETED"] == len(jobs) and m["records_in_flight"] == 0
        assert m["records_received"] == m["records_accepted"] + m["records_rejected"] + m["records_duplicates"]
        assert m["records_rejected"] == sum(invalid for parts in jobs for _, invalid, _ in parts)
        assert m["records_duplicates"] == sum(d for parts in jobs for _, _, d in parts)
    finally:
        store.close()


def test_concurrent_replays_count_each_chunk_once(store):
    """Two consumers (or a consumer and its retry) recording the same chunks at once."""
    job_id = new_id()
    parts = 8
    store.create_job(job_id, "events", "json", record_count=parts * 10, parts=parts)
    errors = []

    def replay():
        try:
            for part in range(parts):
                store.record_chunk(job_id, part, accepted=7, rejected=2, duplicates=1, snapshot_id=part)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=replay) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    job = store.get(job_id)
    assert job.status is JobStatus.COMPLETED and job.parts_done == parts
    assert (job.accepted_count, job.rejected_count, job.duplicate_count) == (7 * parts, 2 * parts, parts)


chunk = st.tuples(st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000))


# Property 15: Processing maintains checkpoints (a job's progress counts every chunk exactly once)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), outcomes=st.lists(chunk, min_size=1, max_size=6))
def test_property_replayed_deliveries_never_double_count(store, data, outcomes):
    parts = len(outcomes)
    deliveries = data.draw(st.lists(st.integers(0, parts - 1), max_size=3 * parts), label="delivered parts")
    job_id = new_id()
    store.create_job(job_id, "events", "ndjson", record_count=sum(map(sum, outcomes)), parts=parts)
    for part in deliveries:
        accepted, rejected, duplicates = outcomes[part]
        store.record_chunk(job_id, part, accepted, rejected, duplicates, snapshot_id=part)
    delivered = set(deliveries)
    job = store.get(job_id)
    assert job.parts_done == len(delivered)
    assert job.accepted_count == sum(outcomes[p][0] for p in delivered)
    assert job.rejected_count == sum(outcomes[p][1] for p in delivered)
    assert job.duplicate_count == sum(outcomes[p][2] for p in delivered)
    expected = JobStatus.COMPLETED if len(delivered) == parts else JobStatus.PROCESSING if delivered else JobStatus.PENDING
    assert job.status is expected
