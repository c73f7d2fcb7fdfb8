"""Start a real ``dagster-webserver`` on a free port with throwaway definitions.

Shared by tests/test_dagster_client.py and the Airflow bridge tests (loaded by
file path: the test folders are not packages). The code location is named
``eventlake`` like the real workspace.yaml, and the Definitions object's
repository is ``__repository__``, so the client's defaults are exercised.

The instance uses the DefaultRunCoordinator: the webserver then hands a launched
run straight to the DefaultRunLauncher (a run-worker subprocess of the code
server), so no ``dagster-daemon`` is needed. Dagster's default instance uses the
QueuedRunCoordinator, whose runs stay QUEUED until a daemon dequeues them:
``run_dagster_webserver(..., dagster_yaml=QUEUED_DAGSTER_YAML)`` serves eventlake's
own instance config (runs queue; one ``eventlake/pipeline: transform`` run at a
time), and ``daemon=True`` also starts ``dagster-daemon`` to dequeue them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

# Jobs of the throwaway code location:
# - transform_job: one asset, succeeds (same name as the real transform job, so
#   the Airflow bridge can run against it unchanged);
# - record_job: writes its run config value and its run tags to a file;
# - failing_job: one op that raises;
# - sleepy_job: sleeps for the configured seconds.
DEFINITIONS_PY = textwrap.dedent(
    '''
    import json
    import time
    from pathlib import Path

    import dagster as dg


    @dg.asset
    def throwaway_asset() -> int:
        return 1


    transform_job = dg.define_asset_job("transform_job", selection=[throwaway_asset])


    class RecordConfig(dg.Config):
        out_path: str
        marker: str


    @dg.op
    def record_op(context: dg.OpExecutionContext, config: RecordConfig) -> None:
        tags = {k: v for k, v in context.run.tags.items() if not k.lstrip(".").startswith("dagster/")}
        Path(config.out_path).write_text(json.dumps({"marker": config.marker, "tags": tags}))


    @dg.job
    def record_job():
        record_op()


    @dg.op
    def fail_op() -> None:
        raise RuntimeError("throwaway failure for the eventlake client tests")


    @dg.job
    def failing_job():
        fail_op()


    class SleepConfig(dg.Config):
        seconds: float = 5.0


    @dg.op
    def sleep_op(config: SleepConfig) -> None:
        time.sleep(config.seconds)


    @dg.job
    def sleepy_job():
        sleep_op()


    defs = dg.Definitions(assets=[throwaway_asset], jobs=[transform_job, record_job, failing_job, sleepy_job])
    '''
)

DAGSTER_YAML = textwrap.dedent(
    """
    run_coordinator:
      module: dagster._core.run_coordinator
      class: DefaultRunCoordinator
    telemetry:
      enabled: false
    """
)

def queued_dagster_yaml() -> str:
    """eventlake's instance config, as the demo writes it (``eventlake.runs.instance_config``)."""
    import yaml

    from eventlake import runs

    return yaml.safe_dump(runs.instance_config(), sort_keys=False)


WORKSPACE_YAML = textwrap.dedent(
    """
    load_from:
      - python_file:
          relative_path: throwaway_defs.py
          location_name: eventlake
    """
)

LOCATION = "eventlake"


@dataclass(frozen=True)
class DagsterWebserver:
    url: str
    home: Path
    log_path: Path
    daemon_log_path: Path | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _location_loaded(url: str) -> bool:
    query = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename } } } } }"""
    try:
        body = httpx.post(f"{url}/graphql", json={"query": query}, timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return False
    entries = ((body.get("data") or {}).get("workspaceOrError") or {}).get("locationEntries") or []
    for entry in entries:
        if entry["name"] == LOCATION and entry["loadStatus"] == "LOADED":
            loaded = entry.get("locationOrLoadError") or {}
            if loaded.get("__typename") == "PythonError":
                raise RuntimeError(f"throwaway code location failed to load: {body}")
            return loaded.get("__typename") == "RepositoryLocation"
    return False


def _stop(proc: subprocess.Popen) -> None:
    # The process group also holds the code server and run workers.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 15)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait(timeout=10)


@contextlib.contextmanager
def run_dagster_webserver(
    root: Path, startup_timeout_s: float = 120, *, dagster_yaml: str = DAGSTER_YAML, daemon: bool = False
) -> Iterator[DagsterWebserver]:
    """Run dagster-webserver over the throwaway definitions until the block ends.

    ``dagster_yaml`` is the instance config; ``daemon`` also runs ``dagster-daemon``
    (it dequeues the runs of a QueuedRunCoordinator) on the same instance.
    """
    home = root / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(dagster_yaml)
    code_dir = root / "code"
    code_dir.mkdir()
    (code_dir / "throwaway_defs.py").write_text(DEFINITIONS_PY)
    (code_dir / "workspace.yaml").write_text(WORKSPACE_YAML)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1"}
    log_path = root / "webserver.log"
    daemon_log_path = root / "daemon.log" if daemon else None
    bin_dir = Path(sys.executable).parent
    started: list[subprocess.Popen] = []
    try:
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", str(code_dir / "workspace.yaml")],
                cwd=code_dir,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(proc)
        if daemon_log_path is not None:
            with daemon_log_path.open("wb") as log_file:
                started.append(
                    subprocess.Popen(
                        [str(bin_dir / "dagster-daemon"), "run", "-w", str(code_dir / "workspace.yaml")],
                        cwd=code_dir,
                        env=env,
                        stdout=log_file,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + startup_timeout_s
        while not _location_loaded(url):
            if proc.poll() is not None:
                raise RuntimeError(f"dagster-webserver exited with {proc.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"dagster-webserver not ready after {startup_timeout_s} s:\n{log_path.read_text()}")
            time.sleep(0.5)
        yield DagsterWebserver(url=url, home=home, log_path=log_path, daemon_log_path=daemon_log_path)
    finally:
        for p in reversed(started):
            _stop(p)
