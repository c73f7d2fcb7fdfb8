"""The demo's log line when it cannot start the stack.

Property 38: every component logs its errors with a timestamp, the component name and the details.

``eventlake demo --once`` is the real command in a child process; the failure is real: the API's
port is taken by another listener.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.conftest import free_port

from .conftest import assert_error_line, error_lines, json_lines


# Property 38: Errors are logged with details
def test_a_demo_that_cannot_start_the_stack_logs_an_error_line_naming_the_busy_port(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_")}
        environ.update(EVENTLAKE_HOME=str(tmp_path / "home"), EVENTLAKE_API_PORT=str(port),
                       EVENTLAKE_DAGSTER_PORT=str(free_port()), EVENTLAKE_DASHBOARD_PORT=str(free_port()))
        proc = subprocess.run([sys.executable, "-m", "eventlake.cli", "demo", "--once"], env=environ,
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    (line,) = error_lines(json_lines(proc.stderr), "demo")
    assert_error_line(line, "demo")
    assert line["logger"] == "eventlake.demo"
    assert f"api port {port}" in line["message"] and line["ports"] == [f"api port {port}"]
