"""`eventlake demo` stops its whole stack on Ctrl-C and on SIGTERM.

A child Python process stands in for the demo: it installs the demo's signal
handlers, starts a real component (a long sleep, in its own process group as
the demo starts them) and waits like the serving loop does. The test signals
it and checks that the child exits and took the component down with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from eventlake import demo

    stack = demo.Stack(env={}, log_dir=Path(sys.argv[1]))
    demo._stop_on_signals()
    try:
        comp = stack.start("sleeper", [sys.executable, "-c", "import time; time.sleep(120)"])
        print(comp.process.pid, flush=True)
        while True:
            stack.check_alive()
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        stack.stop()
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): look at its state
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_demo_stops_its_stack_on_signal(tmp_path, sig):
    # SIGINT starts ignored, as in a background job of a non-interactive shell:
    # the demo must still stop on it.
    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                            preexec_fn=ignore_sigint)
    try:
        component_pid = int(proc.stdout.readline())
        assert _alive(component_pid)
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
        assert "stopping" in proc.stdout.read()
        deadline = time.monotonic() + 10
        while _alive(component_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(component_pid), "the component outlived the demo"
    finally:
        if proc.poll() is None:
            proc.kill()
