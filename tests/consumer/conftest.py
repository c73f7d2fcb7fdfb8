"""Helpers for the consumer tests: publish requests as the API does, read what landed."""

from __future__ import annotations

import json
import uuid

import pytest

from eventlake import envelope, lake
from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore
from eventlake.stream import open_stream
from tests.moto_server import fake_aws_credentials, moto_url  # noqa: F401  (pytest fixtures)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", consumer_lease_seconds=30)


def publish(settings: Settings, dataset: str, records: list[dict], *, parts: int = 1, job_id: str | None = None) -> str:
    """Create a job and publish ``records`` as NDJSON chunks, exactly as the API does; returns the job id."""
    job_id = job_id or str(uuid.uuid4())
    lines = [json.dumps(r, allow_nan=False).encode() for r in records]  # big integers too
    size = -(-len(lines) // parts)
    chunks = [lines[i : i + size] for i in range(0, len(lines), size)]
    jobs = IngestionJobStore(settings.job_db)
    stream = open_stream(settings)
    try:
        stream.ensure()
        jobs.create_job(job_id, dataset, "ndjson", len(records), len(chunks))
        out, first = [], 0
        for part, chunk in enumerate(chunks):
            header = envelope.ChunkHeader(job_id, dataset, "ndjson", part, len(chunks), first, len(chunk))
            out.append((job_id, envelope.encode(header, b"\n".join(chunk) + b"\n")))
            first += len(chunk)
        stream.put_records(out)
    finally:
        stream.close()
        jobs.close()
    return job_id


def rows(settings: Settings, table: str) -> list[dict]:
    """Every row of ``raw.<table>``, read back through a fresh catalog and converted to Python values."""
    tables = lake.ensure_tables(lake.load_catalog(settings))
    return tables[table].scan().to_arrow().to_pylist()


def rejected_for(settings: Settings, job_id: str) -> list[dict]:
    out = []
    for r in rows(settings, "rejected_records"):
        if r["job_id"] == job_id:
            out.append({**r, "violations": json.loads(r["violations"])})
    return out


def events(n: int, prefix: str = "e", ts: str = "2026-03-01T10:00:00Z") -> list[dict]:
    return [
        {"event_id": f"{prefix}{i}", "user_id": f"u{i % 7}", "event_type": "view", "event_timestamp": ts}
        for i in range(n)
    ]


@pytest.fixture(params=["local", "kinesis"])
def stream_backend(request) -> dict:
    """Settings that select the stream backend: the embedded log, or Kinesis on a real moto_server."""
    if request.param == "local":
        return {}
    url = request.getfixturevalue("moto_url")
    request.getfixturevalue("fake_aws_credentials")
    return dict(stream="kinesis", kinesis_endpoint_url=url, stream_name=f"chaos-{uuid.uuid4().hex[:12]}")
