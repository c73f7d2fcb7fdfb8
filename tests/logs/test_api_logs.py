"""The API's log lines (``eventlake api``): every line is JSON, and a request that fails is an ERROR line.

Property 38: every component logs its errors with a timestamp, the component name and the details.

The API is the real command in a child process (uvicorn with eventlake's log config); the failure is
real: ``POST /api/v1/trigger/transform_job`` with the Dagster webserver's address pointing where
nothing listens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from tests.conftest import free_port, wait_for_http

from .conftest import assert_error_line, error_lines, json_lines

KEY = "test-key"


# Property 38: Errors are logged with details
def test_a_request_whose_backend_is_down_is_an_error_line_of_the_api_with_the_failed_component(tmp_path):
    port, dagster = free_port(), f"http://127.0.0.1:{free_port()}"  # nothing listens on the second
    environ = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_")}
    environ.update(EVENTLAKE_HOME=str(tmp_path / "home"), EVENTLAKE_API_KEYS=KEY, EVENTLAKE_API_WORKERS="1",
                   EVENTLAKE_DAGSTER_URL=dagster)
    proc = subprocess.Popen([sys.executable, "-m", "eventlake.cli", "api", "--port", str(port)], env=environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/metrics", proc, lambda: proc.stderr.read()[-4000:])
        answer = httpx.post(f"{base}/api/v1/trigger/transform_job", headers={"X-API-Key": KEY}, timeout=30)
        assert answer.status_code == 503
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)

    lines = json_lines(stderr)
    printed = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == len(printed), "every line the API writes is a JSON line:\n" + stderr[-4000:]
    assert {line["component"] for line in lines} == {"api"}
    assert any(line["logger"] == "uvicorn.error" for line in lines)  # uvicorn's own lines too

    errors = error_lines(lines, "api")
    (unavailable,) = [e for e in errors if e.get("failed_component") == "dagster"]
    assert_error_line(unavailable, "api")
    assert "unreachable" in unavailable["message"] and dagster in unavailable["message"]
    (request,) = [e for e in errors if e.get("path") == "/api/v1/trigger/transform_job"]
    assert_error_line(request, "api")
    assert (request["method"], request["status"]) == ("POST", 503)
