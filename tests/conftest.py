"""Shared fixtures: an isolated EVENTLAKE_HOME per test, free ports, waiting for a server, throwaway PostgreSQL databases, racing threads."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A uniquely named database on the machine's PostgreSQL (127.0.0.1:5432),
    dropped afterwards; the test is skipped when PostgreSQL is not running."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not running on 127.0.0.1:5432 ({exc})")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, output: Callable[[], str], timeout: float = 60) -> None:
    """Poll ``url`` until it answers (any status); fail with ``output()`` (the server's log) if ``proc``
    exits first, or after ``timeout`` seconds."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, output()
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{url} did not answer within {timeout:.0f} s"
            time.sleep(0.2)


def race(target: Callable[[], object], threads: int) -> list[BaseException]:
    """Run ``target`` in ``threads`` threads released together by a barrier, wait for all of them and
    return what they raised (a race test asserts the list is empty)."""
    barrier = threading.Barrier(threads, timeout=30)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            target()
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors


@pytest.fixture
def eventlake_home(tmp_path, monkeypatch):
    """A fresh EVENTLAKE_HOME, seen by get_settings() and by child processes."""
    from eventlake.settings import get_settings

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("EVENTLAKE_HOME", str(home))
    monkeypatch.setenv("EVENTLAKE_API_KEYS", "test-key")
    for var in ("EVENTLAKE_CATALOG_URI", "EVENTLAKE_WAREHOUSE", "EVENTLAKE_DUCKDB_PATH", "EVENTLAKE_JOB_DB_URL",
                "EVENTLAKE_STREAM", "EVENTLAKE_ENV"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()
