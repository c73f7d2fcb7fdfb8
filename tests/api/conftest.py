"""Fixtures for the API tests: the real app on temp settings, a real uvicorn server, and a view of the stream."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
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


# -- a real server, for what only shows on the wire (disconnects, lying Content-Length, resets) --
@dataclass(frozen=True)
class LiveServer:
    app: Any
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def connect(self, timeout: float = 10.0) -> socket.socket:
        """A raw TCP connection to the server, for requests no HTTP client would send."""
        return socket.create_connection((self.host, self.port), timeout=timeout)


@contextmanager
def serve(app, http: Any = "auto") -> Iterator[LiveServer]:
    """Serve ``app`` with uvicorn (``http``: its protocol setting) on a free port, in a thread.

    Logging is left alone (``log_config=None``), so uvicorn's records reach ``caplog`` too.
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    server = uvicorn.Server(uvicorn.Config(app, http=http, log_config=None, log_level="info"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield LiveServer(app, host, port)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:
    """The app on a real uvicorn server, configured as ``eventlake api`` serves it (default protocol)."""
    with serve(app) as live:
        yield live


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def status_code(self) -> int:  # so assert_error_shape takes it
        return self.status

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        import json

        return json.loads(self.body)


def read_responses(sock: socket.socket) -> list[RawResponse]:
    """Every HTTP/1.1 response the server writes on ``sock`` until it closes the connection."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    responses = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"incomplete response head: {data!r}"
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", len(rest)))
        responses.append(RawResponse(int(status_line.split()[1]), headers, rest[:length]))
        data = rest[length:]
    return responses


def wait_for(condition, timeout: float = 10.0):
    """Poll ``condition()`` until it returns something truthy (the server works in its own thread)."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
    return result
