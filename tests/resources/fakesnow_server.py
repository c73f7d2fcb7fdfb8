"""A fakesnow server (fakesnow's Snowflake HTTP API over DuckDB) on a free port, in a thread of the test process.

``fakesnow.server()`` cannot be called twice in one process: its first call imports the submodule
``fakesnow.server``, which then shadows the function on the package (a second call raises "'module'
object is not callable"). This starts the same uvicorn server from the submodule's ``app``, as often as
needed, and yields the same connection arguments.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from tests.conftest import free_port


@contextlib.contextmanager
def fakesnow_server() -> Iterator[dict[str, Any]]:
    import importlib

    import uvicorn

    app = importlib.import_module("fakesnow.server").app
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="fakesnow server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while thread.is_alive() and not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    if not server.started:
        server.should_exit = True
        raise RuntimeError("the fakesnow server did not start")
    try:
        yield {
            "user": "fake", "password": "snow", "account": "fakesnow",
            "host": "127.0.0.1", "port": port, "protocol": "http",
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
            "network_timeout": 1,
        }
    finally:
        server.should_exit = True
        thread.join()
