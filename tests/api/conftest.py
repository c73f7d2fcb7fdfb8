"""Fixtures for the API tests: the real app on temp settings, a real uvicorn server, and a view of the stream."""

from __future__ import annotations

import contextlib
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
from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore
from eventlake.stream import open_stream

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


def stream_records(settings: Settings, page: int = 500) -> list[Published]:
    """Every record of the settings' stream, decoded, read back like the consumer does (shard by shard)."""
    stream = open_stream(settings)
    try:
        found = []
        for shard_id in stream.shard_ids():
            after = None
            while records := stream.read(shard_id, after, page):
                for record in records:
                    header, payload = envelope.decode(record.data)
                    found.append(Published(header, payload, record.shard_id, record.sequence_number))
                after = records[-1].sequence_number
    finally:
        stream.close()
    return found


def published_chunks(settings: Settings, job_id: str) -> list[Published]:
    """The job's stream records, in part order."""
    return sorted((p for p in stream_records(settings) if p.header.job_id == job_id), key=lambda p: p.header.part)


@pytest.fixture
def job_store(settings):
    """A second handle on the app's job store, as the consumer process holds one."""
    store = IngestionJobStore(settings.job_db)
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


# -- a real Kinesis (moto_server), shared with the resource tests ------------------------------
from tests.moto_server import fake_aws_credentials, moto_url  # noqa: E402,F401  (pytest fixtures)


def kinesis_settings(home, moto: str, **overrides) -> Settings:
    """Settings for an app on Kinesis at ``moto`` (a fresh stream) with the SQLite job store: two-phase."""
    import uuid

    return make_settings(
        home,
        stream="kinesis",
        stream_name=f"eventlake-api-{uuid.uuid4().hex[:8]}",
        kinesis_endpoint_url=moto,
        **overrides,
    )


def kinesis_records(settings: Settings) -> list[Published]:
    """Every record of the settings' Kinesis stream, decoded."""
    return stream_records(settings, page=1000)


# -- the API as its own process (`python -m api.main`), for crashes --------------------------
@dataclass
class ApiProcess:
    proc: Any
    url: str
    log_path: Any

    def kill(self) -> None:
        """SIGKILL the API and its uvicorn workers: a crash, nothing flushed or closed."""
        import os
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)


@contextmanager
def api_process(settings: Settings, log_path, **env: str) -> Iterator[ApiProcess]:
    """``python -m api.main`` for ``settings`` (passed as EVENTLAKE_* variables, plus ``env``) on a
    free port, in its own process group; killed at the end if still running."""
    import os
    import subprocess
    import sys

    import httpx

    port = free_port()
    variables = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_")}
    variables.update(
        EVENTLAKE_HOME=str(settings.home),
        EVENTLAKE_API_KEYS=",".join(settings.api_keys),
        EVENTLAKE_API_HOST="127.0.0.1",
        EVENTLAKE_API_PORT=str(port),
        EVENTLAKE_DAGSTER_URL=settings.dagster_url,
        EVENTLAKE_STREAM=settings.stream,
        EVENTLAKE_STREAM_NAME=settings.stream_name,
        EVENTLAKE_STREAM_SHARDS=str(settings.stream_shards),
        EVENTLAKE_CHUNK_BYTES=str(settings.chunk_bytes),
        EVENTLAKE_API_UNPUBLISHED_SECONDS=str(settings.api_unpublished_seconds),
        EVENTLAKE_AWS_REGION=settings.aws_region,
    )
    variables.update(env)
    if settings.kinesis_endpoint_url:
        variables["EVENTLAKE_KINESIS_ENDPOINT_URL"] = settings.kinesis_endpoint_url
    if settings.job_db_url:
        variables["EVENTLAKE_JOB_DB_URL"] = settings.job_db_url
    repo = __import__("pathlib").Path(__file__).resolve().parents[2]
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.main"],
            cwd=repo,
            env=variables,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = ApiProcess(proc, f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{api.url}/api/v1/metrics", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start: {open(log_path).read()[-3000:]}")
            time.sleep(0.1)
        yield api
    finally:
        api.kill()


class TcpProxy:
    """A real TCP proxy in front of a server; ``blackhole()`` makes it swallow what clients send.

    Bytes already forwarded stay forwarded; after ``blackhole()`` nothing more reaches the server
    (the client's request is accepted and never answered), like a network that dropped it.
    """

    def __init__(self, upstream: str) -> None:
        from urllib.parse import urlsplit

        target = urlsplit(upstream)
        self.upstream = (target.hostname, target.port)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.dropping = threading.Event()
        self.dropped_bytes = 0  # client bytes swallowed since blackhole()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def blackhole(self) -> None:
        self.dropping.set()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client and self.dropping.is_set():
                    self.dropped_bytes += len(data)
                else:
                    target.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.closed = True
        self.listener.close()
