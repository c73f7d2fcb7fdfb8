"""Fixtures for the API tests: the real app on temp settings, and a view of its stream."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from eventlake import envelope
from eventlake.jobs import JobStore
from eventlake.resources.stream import LocalStream
from eventlake.settings import Settings

API_KEY = "test-key"
AUTH = {"X-API-Key": API_KEY}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_settings(home, **overrides) -> Settings:
    values = dict(
        home=home,
        api_keys=[API_KEY, "second-key"],
        # nothing listens here: health reports Dagster without waiting for a timeout
        dagster_url=f"http://127.0.0.1:{free_port()}",
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path / "home")


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


@dataclass(frozen=True)
class Published:
    header: envelope.ChunkHeader
    payload: bytes
    shard_id: str
    sequence_number: str


def published_chunks(settings: Settings, job_id: str) -> list[Published]:
    """The job's stream records, read back from the stream file like the consumer does, in part order."""
    stream = LocalStream(settings.stream_path, settings.stream_shards)
    try:
        found = []
        for shard_id in stream.shard_ids():
            after = None
            while records := stream.read(shard_id, after, 500):
                for record in records:
                    header, payload = envelope.decode(record.data)
                    if header.job_id == job_id:
                        found.append(Published(header, payload, record.shard_id, record.sequence_number))
                after = records[-1].sequence_number
    finally:
        stream.close()
    return sorted(found, key=lambda p: p.header.part)


@pytest.fixture
def job_store(settings):
    """A second handle on the app's job store, as the consumer process holds one."""
    store = JobStore(settings.job_db)
    yield store
    store.close()


def assert_error_shape(response, status_code: int) -> dict:
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "details"}
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["details"], list)
    return body
