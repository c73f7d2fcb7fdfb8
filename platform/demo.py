"""`eventlake demo`: the whole local stack on embedded defaults, end to end.

Starts the API, the stream consumer, Dagster (webserver + daemon) and the
Streamlit dashboard as child processes (each logging to EVENTLAKE_HOME/logs/),
POSTs generated sample data through the API, waits for every stage, prints a
summary, and keeps serving until Ctrl-C (or exits, with --once).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from eventlake import dashboard
from eventlake.settings import Settings, get_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
console = Console()


class StageFailed(RuntimeError):
    def __init__(self, component: str, reason: str, log_file: Path | None = None):
        super().__init__(f"{component}: {reason}")
        self.component = component
        self.reason = reason
        self.log_file = log_file


@dataclass
class Component:
    name: str
    cmd: list[str]
    log_file: Path
    process: subprocess.Popen | None = None


@dataclass
class Stack:
    """Child processes of the demo, each in its own process group."""

    env: dict[str, str]
    log_dir: Path
    components: dict[str, Component] = field(default_factory=dict)

    def start(self, name: str, cmd: list[str]) -> Component:
        log_file = self.log_dir / f"{name}.log"
        handle = log_file.open("ab")
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)
        comp = Component(name, cmd, log_file, proc)
        self.components[name] = comp
        return comp

    def check_alive(self) -> None:
        for comp in self.components.values():
            if comp.process and comp.process.poll() is not None:
                raise StageFailed(comp.name, f"exited with code {comp.process.returncode}", comp.log_file)

    def stop(self) -> None:
        for comp in reversed(list(self.components.values())):
            if comp.process and comp.process.poll() is None:
                try:
                    os.killpg(comp.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.monotonic() + 20
        for comp in self.components.values():
            if not comp.process:
                continue
            try:
                comp.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(comp.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _bin(name: str) -> str:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _wait(what: str, component: str, probe: Callable[[], bool], stack: Stack, timeout_s: float, poll_s: float = 1.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stack.check_alive()
        try:
            if probe():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(poll_s)
    comp = stack.components.get(component)
    raise StageFailed(component, f"{what} not reached within {timeout_s:.0f}s", comp.log_file if comp else None)


def _http_ok(url: str) -> Callable[[], bool]:
    return lambda: httpx.get(url, timeout=3).status_code == 200


def ensure_api_key(settings: Settings) -> str:
    if settings.api_keys:
        return settings.api_keys[0]
    key_file = settings.home / "api_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = "el_" + secrets.token_urlsafe(24)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key


def write_dagster_yaml(dagster_home: Path) -> None:
    """The demo's Dagster instance config (``eventlake.runs.instance_config``): every run goes
    through the run queue, which starts one transform run at a time.

    Written when missing, and rewritten when it is one this function wrote (an older
    version too); a dagster.yaml written by hand is left as it is, with a warning.
    """
    import yaml

    from eventlake import runs

    header = "# written by eventlake (eventlake.runs.instance_config); edits are overwritten\n"
    text = header + yaml.safe_dump(runs.instance_config(), sort_keys=False)
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if config.exists():
        current = config.read_text()
        if current == text:
            return
        if not current.startswith(header) and current != "telemetry:\n  enabled: false\n":
            logging.getLogger("eventlake.demo").warning(
                "%s was not written by eventlake: left as it is; without its concurrency settings two "
                "transform runs may start at once", config)
            return
    config.write_text(text)


def set_pool_limits(dagster_home: Path) -> None:
    """Store the warehouse pool's limit in the instance before its first run is queued.

    The run queue writes a pool's limit (``pools.default_limit``) only when it
    first meets a queued run in that pool, after it has read the pools it
    knows; so on a new instance the first two warehouse runs could start
    together. Deployments run ``dagster instance concurrency set warehouse 1``
    once instead.
    """
    from dagster import DagsterInstance

    from eventlake import runs

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        storage = instance.event_log_storage
        if storage.get_concurrency_info(runs.WAREHOUSE_POOL).slot_count != runs.WAREHOUSE_POOL_LIMIT:
            storage.set_concurrency_slots(runs.WAREHOUSE_POOL, runs.WAREHOUSE_POOL_LIMIT)


# -- ingestion ------------------------------------------------------------------
def post_sample_data(data, *, base_url: str, api_key: str, batch_size: int = 1_000, progress: Progress | None = None) -> list[str]:
    """POST users (JSON array), products (CSV) and events (NDJSON batches); return the job ids."""
    from eventlake.generate import to_csv, to_ndjson

    requests: list[tuple[str, str, bytes]] = [
        ("users", "application/json", orjson.dumps(data.users)),
        ("products", "text/csv", to_csv(data.products, ["product_id", "product_name", "category", "price"])),
    ]
    for i in range(0, len(data.events), batch_size):
        requests.append(("events", "application/x-ndjson", to_ndjson(data.events[i : i + batch_size])))
    task = progress.add_task("POST sample data", total=len(requests)) if progress else None
    job_ids = []
    with httpx.Client(base_url=base_url, headers={"X-API-Key": api_key}, timeout=60) as client:
        for dataset, ctype, body in requests:
            resp = client.post("/api/v1/ingest", params={"dataset": dataset}, content=body, headers={"Content-Type": ctype})
            if resp.status_code != 202:
                raise StageFailed("api", f"POST {dataset} answered {resp.status_code}: {resp.text[:500]}")
            job_ids.append(resp.json()["job_id"])
            if progress:
                progress.advance(task)
    return job_ids


# -- Dagster --------------------------------------------------------------------
_RUNS_QUERY = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs { results { runId status creationTime startTime endTime tags { key value } } }
    ... on PythonError { message }
  }
}
"""
_LOCATION_QUERY = """
query { workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def _graphql(url: str, query: str, variables: dict | None = None) -> dict:
    resp = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=10)
    resp.raise_for_status()
    return resp.json()["data"]


def _location_loaded(url: str) -> bool:
    entries = _graphql(url, _LOCATION_QUERY)["workspaceOrError"].get("locationEntries", [])
    for entry in entries:
        if entry["name"] == "eventlake" and entry["loadStatus"] == "LOADED":
            err = entry["locationOrLoadError"]
            if err and err.get("__typename") == "PythonError":
                raise StageFailed("dagster", f"code location failed to load: {err['message']}")
            return True
    return False


def _transform_runs(url: str) -> list[dict]:
    data = _graphql(url, _RUNS_QUERY, {"filter": {"pipelineName": "transform_job"}})["runsOrError"]
    if data.get("__typename") == "PythonError":
        raise StageFailed("dagster", f"listing the transform_job runs failed: {data.get('message')}")
    return data.get("results", [])


def _transform_run_after(runs: list[dict], committed_at: float) -> dict | None:
    """The first transform_job run that started at/after ``committed_at`` (epoch s).

    A transform run reads the raw tables' current snapshots when its dbt step
    starts, so that run read every snapshot committed before. (Which run the
    snapshot sensor asked for is not known: while a transform run is queued the
    sensor joins it, and no run carries the final snapshots' run key.)
    """
    started = [r for r in runs if r.get("startTime") is not None and r["startTime"] >= committed_at]
    return min(started, key=lambda r: r["startTime"], default=None)


def last_data_commit(tables) -> float | None:
    """When the last snapshot that changed data on a raw table was committed (epoch s), None before any.

    Compactions (which change no rows, and ask for no transform run) are passed over.
    """
    from eventlake import raw_snapshots
    from eventlake.sensors.snapshots import WATCHED, landed

    latest: int | None = None
    for name, snapshot in raw_snapshots.current(tables, WATCHED).items():
        table = tables[name]
        while snapshot is not None and not landed(name, table, snapshot).changes_data:
            parent = snapshot.parent_snapshot_id
            snapshot = table.metadata.snapshot_by_id(parent) if parent is not None else None
        if snapshot is not None:
            latest = max(latest or 0, snapshot.timestamp_ms)
    return latest / 1000 if latest is not None else None


def _describe_run(run: dict, committed_at: float) -> str:
    tags = {t["key"]: t["value"] for t in run.get("tags", [])}
    how = tags.get("dagster/sensor_name") or tags.get("eventlake/triggered_by") or tags.get("dagster/schedule_name")
    parts = [f"transform_job run {run['runId'][:8]} {run['status']}"]
    if run.get("startTime") is not None:
        parts.append(f"started {run['startTime'] - committed_at:.1f}s after the last raw commit")
        if run.get("endTime") is not None:
            parts.append(f"ran {run['endTime'] - run['startTime']:.0f}s")
    if how:
        parts.append(f"asked for by {how}")
    return ", ".join(parts)


# -- summary --------------------------------------------------------------------
def table_counts(settings: Settings) -> dict[str, int]:
    from eventlake import contracts, lake, raw_snapshots

    tables = lake.ensure_tables(lake.load_catalog(settings))
    counts = {}
    for name, snap in raw_snapshots.current(tables, contracts.ICEBERG_TABLES).items():
        counts[f"raw.{name}"] = int(snap.summary.additional_properties.get("total-records", 0)) if snap else 0
    if settings.duckdb_file.exists():
        import duckdb

        with duckdb.connect(str(settings.duckdb_file), read_only=True) as conn:
            rows = conn.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('staging', 'intermediate', 'marts') order by 1, 2"
            ).fetchall()
            for schema, name in rows:
                counts[f"{schema}.{name}"] = conn.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
    return counts


def print_summary(settings: Settings, job_ids: list[str], api_key: str, urls: dict[str, str]) -> bool:
    from eventlake import quality
    from eventlake.state.ingestion_jobs import IngestionJobStore

    store = IngestionJobStore(settings.job_db)
    jobs = [store.get(j) for j in job_ids]
    t = Table(title="ingestion jobs")
    for col in ("status", "jobs", "records", "accepted", "rejected", "duplicates"):
        t.add_column(col, justify="right")
    by_status: dict[str, list] = {}
    for job in jobs:
        by_status.setdefault(str(job.status), []).append(job)
    for status, group in sorted(by_status.items()):
        t.add_row(status, str(len(group)), str(sum(j.record_count or 0 for j in group)),
                  str(sum(j.accepted_count or 0 for j in group)), str(sum(j.rejected_count or 0 for j in group)),
                  str(sum(j.duplicate_count or 0 for j in group)))
    console.print(t)

    t = Table(title="rows per table")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name, n in table_counts(settings).items():
        t.add_row(name, f"{n:,}")
    console.print(t)

    results = quality.recent_results(settings.job_db, limit=20)
    latest: dict[str, dict] = {}
    for r in results:
        latest.setdefault(r["suite"], r)
    t = Table(title="Great Expectations checks (latest)")
    for col in ("suite", "asset", "result", "expectations"):
        t.add_column(col)
    for suite, r in sorted(latest.items()):
        t.add_row(suite, r["asset"], "[green]PASS[/]" if r["success"] else "[red]FAIL[/]", f"{r['successful']}/{r['evaluated']}")
    console.print(t)

    for name, url in urls.items():
        console.print(f"  {name:<10} {url}")
    console.print(f"  API key    {api_key}  (header X-API-Key)")
    all_completed = all(str(j.status) == "COMPLETED" for j in jobs)
    checks_ok = bool(latest) and all(r["success"] for r in latest.values())
    return all_completed and checks_ok


# -- the demo -------------------------------------------------------------------
def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop the stack cleanly.

    Python leaves SIGINT ignored when it starts ignored (a background job of a
    non-interactive shell, some supervisors), so install the handler explicitly.
    """

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def run_demo(*, once: bool, events: int = 5_000, users: int = 200, products: int = 50, timeout_s: float = 600) -> int:
    from eventlake.generate import generate
    from eventlake.state.ingestion_jobs import IngestionJobStore

    # progress bars and the summary say what happens; per-request logs would drown them
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = get_settings()
    settings.ensure_home()
    api_key = ensure_api_key(settings)
    log_dir = settings.home / "logs"
    log_dir.mkdir(exist_ok=True)
    write_dagster_yaml(settings.dagster_home)
    set_pool_limits(settings.dagster_home)

    host = settings.api_host
    ports = {"api": settings.api_port, "dagster": settings.dagster_port, "dashboard": settings.dashboard_port}
    busy = [f"{name} port {port}" for name, port in ports.items() if not _port_free(host, port)]
    if busy:
        console.print(f"[red]demo: {', '.join(busy)} already in use[/] (another demo running? set "
                      "EVENTLAKE_API_PORT / EVENTLAKE_DAGSTER_PORT / EVENTLAKE_DASHBOARD_PORT)")
        return 2
    api_url = f"http://{host}:{ports['api']}"
    dagster_url = f"http://{host}:{ports['dagster']}"
    dashboard_url = f"http://{host}:{ports['dashboard']}"

    env = dict(os.environ)
    env.update(
        EVENTLAKE_HOME=str(settings.home),
        EVENTLAKE_API_KEYS=",".join(settings.api_keys or [api_key]),
        EVENTLAKE_DAGSTER_URL=dagster_url,
        DAGSTER_HOME=str(settings.dagster_home),
        PYTHONUNBUFFERED="1",
    )
    stack = Stack(env=env, log_dir=log_dir)
    _stop_on_signals()
    console.rule(f"eventlake demo  (EVENTLAKE_HOME={settings.home})")
    started = time.time()
    ok = False
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as progress:
            boot = progress.add_task("start the stack", total=4)
            stack.start("dagster", [_bin("dagster"), "dev", "-w", str(REPO_ROOT / "workspace.yaml"),
                                    "-h", host, "-p", str(ports["dagster"])])
            stack.start("api", [_bin("eventlake"), "api", "--host", host, "--port", str(ports["api"])])
            stack.start("consumer", [_bin("eventlake"), "consume"])
            stack.start("dashboard", [_bin("streamlit"), "run", str(dashboard.APP),
                                      "--server.address", host, "--server.port", str(ports["dashboard"]),
                                      "--server.headless", "true", "--browser.gatherUsageStats", "false"])
            _wait("API health", "api", _http_ok(f"{api_url}/api/v1/health"), stack, 60)
            progress.advance(boot)
            _wait("dashboard health", "dashboard", _http_ok(f"{dashboard_url}/_stcore/health"), stack, 60)
            progress.advance(boot)
            _wait("Dagster webserver", "dagster", _http_ok(f"{dagster_url}/server_info"), stack, 120)
            progress.advance(boot)
            _wait("code location 'eventlake' loaded", "dagster", lambda: _location_loaded(dagster_url), stack, 180, 2)
            progress.advance(boot)

            data = generate(events=events, users=users, products=products)
            job_ids = post_sample_data(data, base_url=api_url, api_key=api_key, progress=progress)

            store = IngestionJobStore(settings.job_db)
            done = progress.add_task("jobs COMPLETED", total=len(job_ids))

            def _jobs_done() -> bool:
                statuses = [str(store.get(j).status) for j in job_ids]
                if "FAILED" in statuses:
                    failed = [store.get(j) for j in job_ids if str(store.get(j).status) == "FAILED"]
                    raise StageFailed("consumer", f"job {failed[0].job_id} FAILED: {failed[0].error_message}",
                                      stack.components["consumer"].log_file)
                progress.update(done, completed=statuses.count("COMPLETED"))
                return all(s == "COMPLETED" for s in statuses)

            _wait("all jobs COMPLETED", "consumer", _jobs_done, stack, timeout_s)

            from eventlake.resources.core import EventlakeResource

            committed_at = last_data_commit(EventlakeResource(home=str(settings.home)).tables())
            if committed_at is None:
                raise StageFailed("consumer", "all jobs COMPLETED but no raw table has a snapshot",
                                  stack.components["consumer"].log_file)
            dbt_task = progress.add_task("sensor -> transform_job (dbt build + checks)", total=None)
            final: dict = {}

            def _transform_done() -> bool:
                runs = _transform_runs(dagster_url)
                run = _transform_run_after(runs, committed_at)
                if run is None:
                    # the run that will read the final snapshots has not started: say what is there
                    latest = max(runs, key=lambda r: r["creationTime"], default=None)
                    waiting = (f"; latest transform_job run {latest['runId'][:8]}: {latest['status']}"
                               if latest else "")
                    progress.update(dbt_task, description=f"sensor -> transform_job: waiting for a run started "
                                                          f"after the last raw commit{waiting}")
                    return False
                progress.update(dbt_task, description=f"transform_job run {run['runId'][:8]}: {run['status']}")
                if run["status"] in ("FAILURE", "CANCELED"):
                    raise StageFailed("dagster", f"transform_job run {run['runId']} ended {run['status']}; "
                                      f"see {dagster_url}/runs/{run['runId']}", stack.components["dagster"].log_file)
                final.clear()
                final.update(run)
                return run["status"] == "SUCCESS"

            _wait("transform_job SUCCESS of a run started after the last raw commit", "dagster", _transform_done,
                  stack, timeout_s, 2)
            progress.update(dbt_task, total=1, completed=1)

        console.rule(f"summary  ({time.time() - started:.0f}s)")
        console.print(f"{_describe_run(final, committed_at)}: {dagster_url}/runs/{final['runId']}")
        ok = print_summary(settings, job_ids, api_key, {"API": f"{api_url}/docs", "Dagster": dagster_url,
                                                         "Dashboard": dashboard_url})
        console.print("[green]every stage succeeded[/]" if ok else "[red]some stage did not succeed (see above)[/]")
        if not once:
            console.print("serving; Ctrl-C to stop")
            while True:
                stack.check_alive()
                time.sleep(2)
    except StageFailed as exc:
        console.print(f"[red]demo failed in {exc.component}: {exc.reason}[/]")
        if exc.log_file and exc.log_file.exists():
            console.print(f"last lines of {exc.log_file}:")
            console.print("".join(exc.log_file.read_text(errors="replace").splitlines(keepends=True)[-25:]), markup=False)
        ok = False
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        stack.stop()
    return 0 if ok else 1
