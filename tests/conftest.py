"""Shared fixtures: an isolated EVENTLAKE_HOME per test, free ports."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
