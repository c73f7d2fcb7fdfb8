"""Group commit in the API: concurrent requests share a transaction (or PutRecords calls), a crash
leaves no job without its records, and the sweeper fails the jobs that were never published.

Real servers throughout: uvicorn (in a thread, or ``python -m api.main`` killed with SIGKILL),
SQLite, moto_server for Kinesis, and a TCP proxy that can swallow requests.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter, defaultdict
import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from api.main import create_app
from eventlake import envelope
from eventlake.state.ingestion_jobs import UNPUBLISHED_REASON, IngestionJobStore, JobStatus, NewJob
from eventlake.stream import open_stream

from .conftest import (
    AUTH,
    Published,
    TcpProxy,
    api_process,
    kinesis_records,
    kinesis_settings,
    make_settings,
    published_chunks,
    serve,
    wait_for,
)

EVENT = {"event_id": "e", "user_id": "u1", "event_type": "click", "event_timestamp": "2025-01-01T00:00:00Z"}
HEADERS = {**AUTH, "Content-Type": "application/json"}


def events(n: int, tag: str) -> bytes:
    return orjson.dumps([{**EVENT, "event_id": f"{tag}-{i}", "properties": {"pad": "x" * 120}} for i in range(n)])


def writer_stats(url: str) -> dict:
    return httpx.get(f"{url}/api/v1/metrics", timeout=10).json()["api"]["ingest_writer"]


def post_concurrently(url: str, bodies: list[bytes]) -> tuple[list[threading.Thread], list]:
    responses: list = [None] * len(bodies)

    def post(i: int) -> None:
        responses[i] = httpx.post(f"{url}/api/v1/ingest", content=bodies[i], headers=HEADERS, timeout=60)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    return threads, responses


def hold_write_lock(db_path) -> sqlite3.Connection:
    """Take the SQLite write lock of ``db_path`` (as another writer would) until COMMIT."""
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=30)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def post_behind_a_locked_group(url: str, settings, bodies: list[bytes]) -> tuple[int, list, dict]:
    """POST ``bodies`` at once while another writer holds the job database's write lock: the first group
    (the first request, or the first few) waits for the lock (its job rows) and the other requests gather
    behind it. Returns the first group's size, the responses and the writer's stats once all are answered."""
    blocker = hold_write_lock(IngestionJobStore(settings.job_db).sqlite_path)
    threads, responses = post_concurrently(url, bodies)
    n = len(bodies)
    first = wait_for(lambda: (s := writer_stats(url))["writing"] + s["waiting"] == n and s["writing"], timeout=30)
    blocker.execute("COMMIT")
    blocker.close()
    for t in threads:
        t.join(60)
    return first, responses, writer_stats(url)


# -- requests share groups -------------------------------------------------------------------
def test_concurrent_requests_share_one_transaction(tmp_path):
    settings = make_settings(tmp_path / "home")
    n = 12
    with serve(create_app(settings)) as live:
        assert writer_stats(live.url)["mode"] == "shared"  # the local log lives in the job database
        first, responses, stats = post_behind_a_locked_group(live.url, settings, [events(2, f"r{i}") for i in range(n)])
    assert [r.status_code for r in responses] == [202] * n
    # 12 requests, 2 transactions (one fsync each): the first group, then all the others at once
    assert (stats["requests"], stats["groups"], stats["transactions"]) == (n, 2, 2)
    assert stats["largest_group"] == max(first, n - first)
    store = IngestionJobStore(settings.job_db)
    for response in responses:
        job_id = response.json()["job_id"]
        chunks = published_chunks(settings, job_id)
        assert [c.header.part for c in chunks] == list(range(store.get(job_id).parts))
        assert sum(c.header.record_count for c in chunks) == 2
    store.close()


@pytest.mark.usefixtures("fake_aws_credentials")
def test_kinesis_requests_share_put_records_calls(tmp_path, moto_url):
    # one record per chunk: each request is 60 stream records
    settings = kinesis_settings(tmp_path / "home", moto_url, chunk_bytes=300)
    n = 12
    with serve(create_app(settings)) as live:
        assert writer_stats(live.url)["mode"] == "two-phase"
        first, responses, stats = post_behind_a_locked_group(live.url, settings, [events(60, f"r{i}") for i in range(n)])
    assert [r.status_code for r in responses] == [202] * n
    assert (stats["requests"], stats["groups"], stats["records"]) == (n, 2, 60 * n)
    # 12 requests, 720 records: each group's records in as few PutRecords calls as the 500-record
    # limit allows (the first group alone, e.g. 60 records: 1 call; the other 660: 500 + 160)
    calls = lambda records: -(-records // 500)  # noqa: E731
    assert stats["put_calls"] == calls(60 * first) + calls(60 * (n - first)) < n
    records = kinesis_records(settings)
    parts = Counter((r.header.job_id, r.header.part) for r in records)
    store = IngestionJobStore(settings.job_db)
    for response in responses:
        job_id = response.json()["job_id"]
        assert sorted(part for (j, part) in parts if j == job_id) == list(range(60))
        assert store.get(job_id).status is JobStatus.PENDING
    assert set(parts.values()) == {1}  # every record once
    assert store.unpublished_count() == 0  # every publish settled
    store.close()


# -- the sweeper -----------------------------------------------------------------------------
@pytest.mark.usefixtures("fake_aws_credentials")
def test_sweeper_fails_jobs_that_were_never_published(tmp_path, moto_url):
    settings = kinesis_settings(tmp_path / "home", moto_url, api_unpublished_seconds=0.5)
    store = IngestionJobStore(settings.job_db)
    # what a writer that died between its two steps leaves: the job, and its publish intent
    orphan = NewJob("orphan-job", "events", "json", 1, 1)
    store.create_jobs([orphan], unpublished=True)
    with TestClient(create_app(settings)) as client:
        published = client.post("/api/v1/ingest", content=json.dumps(EVENT), headers=HEADERS)
        assert published.status_code == 202
        swept = wait_for(
            lambda: (body := client.get("/api/v1/status/orphan-job", headers=AUTH).json())["status"] == "FAILED" and body,
            timeout=30,
        )
        assert swept["error_message"] == UNPUBLISHED_REASON.format(seconds=0.5)
        # a published job is left alone, however long it waits for the consumer
        time.sleep(1.0)
        assert client.get(f"/api/v1/status/{published.json()['job_id']}", headers=AUTH).json()["status"] == "PENDING"
    assert store.unpublished_count() == 0
    assert [r.header.job_id for r in kinesis_records(settings)] == [published.json()["job_id"]]
    store.close()


# -- crashes ---------------------------------------------------------------------------------
class Posters:
    """Client threads that keep POSTing until stopped; they remember every acknowledged job."""

    def __init__(self, url: str, clients: int, records: int = 1) -> None:
        self.url = url
        self.acked: dict[str, int] = {}  # job id -> records
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(c, records), daemon=True) for c in range(clients)]
        for t in self.threads:
            t.start()

    def _run(self, client: int, records: int) -> None:
        with httpx.Client(timeout=60) as http:
            i = 0
            while not self.stop.is_set():
                i += 1
                n = 1 if i % 3 else records  # single events, and now and then a multi-chunk body
                try:
                    response = http.post(f"{self.url}/api/v1/ingest", content=events(n, f"c{client}-{i}"), headers=HEADERS)
                except httpx.HTTPError:
                    continue  # the server is gone (or going): keep trying until told to stop
                if response.status_code == 202:
                    with self.lock:
                        self.acked[response.json()["job_id"]] = n

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def finish(self) -> dict[str, int]:
        self.stop.set()
        for t in self.threads:
            t.join(90)
        return dict(self.acked)


def records_by_job(records) -> dict[str, list]:
    by_job = defaultdict(list)
    for r in records:
        by_job[r.header.job_id].append(r)
    return by_job


def assert_complete_once(job_id: str, chunks: list, record_count: int) -> None:
    parts = sorted(c.header.part for c in chunks)
    assert parts == list(range(chunks[0].header.parts)), f"job {job_id}: parts {parts}"  # each part exactly once
    assert sum(c.header.record_count for c in chunks) == record_count


def test_sigkill_mid_ingest_leaves_no_job_without_its_records(tmp_path):
    # two worker processes, each with its own group writer, on the shared local log; small chunks
    # so that some requests are several stream records
    settings = make_settings(tmp_path / "home", chunk_bytes=1024)
    settings.ensure_home()
    with api_process(settings, tmp_path / "api.log", EVENTLAKE_API_WORKERS="2") as api:
        posters = Posters(api.url, clients=8, records=12)
        wait_for(lambda: posters.count() >= 300, timeout=120)
        api.kill()  # SIGKILL to every process of the API, mid-stream
        acked = posters.finish()

    stream = open_stream(settings)
    assert stream.path == IngestionJobStore(settings.job_db).sqlite_path  # shared mode was on
    records = []
    for shard_id in stream.shard_ids():
        after = None
        while page := stream.read(shard_id, after, 1000):
            records.extend(page)
            after = page[-1].sequence_number
    stream.close()
    by_job = records_by_job(
        Published(*envelope.decode(r.data), r.shard_id, r.sequence_number) for r in records
    )
    store = IngestionJobStore(settings.job_db)
    jobs = {job.job_id: job for job in store.list_jobs(limit=1_000_000)}
    store.close()
    assert len(acked) >= 300
    # every acknowledged job: its records are in the stream, each exactly once
    for job_id, count in acked.items():
        assert job_id in by_job, f"acknowledged job {job_id} has no records"
        assert_complete_once(job_id, by_job[job_id], count)
    # job rows and records committed together: no job without records, no records without a job
    assert set(jobs) == set(by_job)
    for job_id, job in jobs.items():
        assert job.status is JobStatus.PENDING
        assert_complete_once(job_id, by_job[job_id], job.record_count)


@pytest.mark.usefixtures("fake_aws_credentials")
def test_sigkill_between_job_rows_and_kinesis_then_the_sweeper_fails_the_orphans(tmp_path, moto_url):
    proxy = TcpProxy(moto_url)  # the API reaches Kinesis through it
    settings = kinesis_settings(tmp_path / "home", proxy.url, api_unpublished_seconds=0.5)
    settings.ensure_home()
    direct = settings.model_copy(update={"kinesis_endpoint_url": moto_url})
    stream = open_stream(direct)
    stream.ensure()
    stream.close()
    store = IngestionJobStore(settings.job_db)
    try:
        # one worker: one writer, one group at a time (what the wait below relies on)
        with api_process(
            settings, tmp_path / "api.log", EVENTLAKE_API_WORKERS="1", EVENTLAKE_API_UNPUBLISHED_SECONDS="3600"
        ) as api:
            posters = Posters(api.url, clients=4, records=8)
            wait_for(lambda: posters.count() >= 40, timeout=120)
            proxy.blackhole()  # PutRecords calls from now on never reach Kinesis (not whole, at least)
            # A put was swallowed: the writer (one group at a time) is stuck on it, after creating that
            # group's job rows and before acknowledging any of its requests. Every earlier group was
            # published and settled. Crash now.
            wait_for(lambda: proxy.dropped_bytes > 0, timeout=60)
            stuck = store.unpublished_count()
            api.kill()
            acked = posters.finish()
    finally:
        proxy.close()

    by_job = records_by_job(kinesis_records(direct))
    for job_id, count in acked.items():
        assert job_id in by_job, f"acknowledged job {job_id} has no records"
        assert_complete_once(job_id, by_job[job_id], count)
    pending = {j.job_id for j in store.list_jobs(limit=1_000_000, status=JobStatus.PENDING)}
    orphans = pending - set(by_job)
    assert stuck > 0 and len(orphans) == stuck  # the crash left jobs whose records never reached Kinesis ...

    # ... until an API runs its sweeper (here one on the direct endpoint, threshold 0.5 s)
    with TestClient(create_app(direct)):
        wait_for(lambda: store.unpublished_count() == 0, timeout=30)
    for job_id in orphans:
        job = store.get(job_id)
        assert job.status is JobStatus.FAILED and job.error_message == UNPUBLISHED_REASON.format(seconds=0.5)
    for job_id in acked:  # acknowledged jobs were settled before the crash: untouched
        assert store.get(job_id).status is JobStatus.PENDING
    # and no PENDING job is left without its records in the stream
    assert {j.job_id for j in store.list_jobs(limit=1_000_000, status=JobStatus.PENDING)} <= set(by_job)
    store.close()
