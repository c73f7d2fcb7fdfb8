"""A real HTTP receiver for the alert tests: webhooks POST to it, it records every body.

Two channels (``/a`` and ``/b``) take the alerts; ``/broken`` answers 500, like a webhook that is down.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dagster import DagsterInstance, instance_for_test


class Receiver:
    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.posts.append((self.path, json.loads(body)))
                self.send_response(500 if self.path == "/broken" else 200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self, path: str = "/a") -> list[dict]:
        """What one channel received, in order."""
        with self.lock:
            return [body for p, body in self.posts if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


DAGSTER_URL = "http://dagster.example:3000"
DASHBOARD_URL = "http://dashboard.example:8501"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def alert_home(eventlake_home, receiver, monkeypatch):
    """EVENTLAKE_HOME with two alert channels and a broken one, links to known addresses, a 60 min window."""
    monkeypatch.setenv("EVENTLAKE_ALERT_WEBHOOK_URLS", f"{receiver.url}/a,{receiver.url}/broken,{receiver.url}/b")
    monkeypatch.setenv("EVENTLAKE_ALERT_REPEAT_MINUTES", "60")
    monkeypatch.setenv("EVENTLAKE_DAGSTER_URL", DAGSTER_URL)
    monkeypatch.setenv("EVENTLAKE_DASHBOARD_URL", DASHBOARD_URL)
    return eventlake_home


@pytest.fixture
def instance(tmp_path) -> Iterator[DagsterInstance]:
    (tmp_path / "dagster").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster")) as inst:
        yield inst


def texts(body: dict) -> str:
    """Every text of a webhook body (the summary and each block's), to look for names and links in."""
    parts = [body["text"]]
    for block in body["blocks"]:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts += [e["text"] for e in block.get("elements", [])]
    return "\n".join(parts)
