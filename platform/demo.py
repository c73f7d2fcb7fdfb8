"""`eventlake demo`: the whole local stack on embedded defaults, end to end.

Starts the API, the stream consumer, Dagster (webserver + daemon) and the
Streamlit dashboard as child processes (each logging to EVENTLAKE_HOME/logs/),
POSTs generated sample data through the API, waits for every stage, prints a
summary, and keeps serving until Ctrl-C (or exits, with --once).

``--env PROD`` first starts stand-ins for the production backends
(:mod:`eventlake.peers`: moto_server for Kinesis, S3 and Glue, a fakesnow server
for Snowflake) and runs the same demo with every hop pointed at them: the
transform loads Snowflake RAW and runs dbt PROD there, and the summary reconciles
the events from the POSTs to ``fact_events`` in Snowflake.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
log = logging.getLogger("eventlake.demo")


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


@dataclass(frozen=True)
class BootStage:
    """One thing the demo waits for while the stack starts: what, which component, and where it asks."""

    what: str
    component: str
    url: str
    probe: Callable[[], bool]
    timeout_s: float
    poll_s: float = 1.0

    @property
    def waiting(self) -> str:
        return f"waiting for {self.what} ({self.url})"


def boot_stages(*, api_url: str, dashboard_url: str, dagster_url: str) -> list[BootStage]:
    """What the stack must answer before data is POSTed, in the order the demo asks."""
    return [
        BootStage("the API", "api", f"{api_url}/api/v1/health", _http_ok(f"{api_url}/api/v1/health"), 60),
        BootStage("the dashboard", "dashboard", f"{dashboard_url}/_stcore/health",
                  _http_ok(f"{dashboard_url}/_stcore/health"), 60),
        BootStage("Dagster webserver", "dagster", f"{dagster_url}/server_info", _http_ok(f"{dagster_url}/server_info"), 120),
        BootStage("Dagster code location 'eventlake' to load", "dagster", f"{dagster_url}/graphql",
                  lambda: _location_loaded(dagster_url), 180, 2),
    ]


def api_key_file(settings: Settings) -> Path:
    """Where the demo keeps its API key (written on its first run, mode 0600)."""
    return settings.home / "api_key"


@dataclass(frozen=True)
class ApiKey:
    """An API key and where it came from, so printed commands can fetch it instead of showing it."""

    value: str
    source: str  # "--api-key", "EVENTLAKE_API_KEYS" or the key file's path
    shell: str  # how a shell gets it inside double quotes: the key itself, $(cat <file>) or $EVENTLAKE_API_KEYS

    @property
    def header(self) -> str:
        """curl's option sending the key."""
        return f'-H "X-API-Key: {self.shell}"'


def find_api_key(settings: Settings, given: str | None = None) -> ApiKey | None:
    """The client's key: ``given`` (a --api-key flag), else the first of EVENTLAKE_API_KEYS,
    else the demo's key file under EVENTLAKE_HOME; None when there is none."""
    if given:
        return ApiKey(given, "--api-key", re.sub(r'([\\"$`])', r"\\\1", given))
    if settings.api_keys:
        shell = "$EVENTLAKE_API_KEYS" if len(settings.api_keys) == 1 else "${EVENTLAKE_API_KEYS%%,*}"
        return ApiKey(settings.api_keys[0], "EVENTLAKE_API_KEYS", shell)
    key_file = api_key_file(settings)
    if key_file.is_file() and (value := key_file.read_text().strip()):
        return ApiKey(value, str(key_file), f"$(cat {shlex.quote(str(key_file))})")
    return None


def ensure_api_key(settings: Settings) -> ApiKey:
    """The demo's key: EVENTLAKE_API_KEYS or the key file, written with a new key when missing."""
    found = find_api_key(settings)
    if found is not None:
        return found
    key_file = api_key_file(settings)
    key = "el_" + secrets.token_urlsafe(24)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return find_api_key(settings)  # type: ignore[return-value]


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
@dataclass(frozen=True)
class PostedJob:
    """One accepted POST: the job the API created for it."""

    job_id: str
    dataset: str
    records: int


def post_sample_data(data, *, base_url: str, api_key: str, batch_size: int = 1_000,
                     progress: Progress | None = None) -> list[PostedJob]:
    """POST users (JSON array), products (CSV) and events (NDJSON batches); return the jobs created.

    Raises StageFailed naming the answer when the API refuses a request, and httpx's
    errors when it cannot be reached.
    """
    from eventlake.generate import to_csv, to_ndjson

    requests: list[tuple[str, str, bytes, int]] = [
        ("users", "application/json", orjson.dumps(data.users), len(data.users)),
        ("products", "text/csv", to_csv(data.products, ["product_id", "product_name", "category", "price"]),
         len(data.products)),
    ]
    for i in range(0, len(data.events), batch_size):
        batch = data.events[i : i + batch_size]
        requests.append(("events", "application/x-ndjson", to_ndjson(batch), len(batch)))
    task = progress.add_task(f"POST sample data to {base_url}/api/v1/ingest", total=len(requests)) if progress else None
    posted = []
    with httpx.Client(base_url=base_url, headers={"X-API-Key": api_key}, timeout=60) as client:
        for dataset, ctype, body, records in requests:
            resp = client.post("/api/v1/ingest", params={"dataset": dataset}, content=body, headers={"Content-Type": ctype})
            if resp.status_code != 202:
                raise StageFailed("api", f"POST {dataset} answered {resp.status_code}: {resp.text[:500]}")
            answer = resp.json()
            posted.append(PostedJob(answer["job_id"], dataset, int(answer.get("record_count", records))))
            if progress:
                progress.advance(task)
    return posted


def status_command(api_url: str, key: ApiKey, job_id: str) -> str:
    """A shell line that shows a job's status."""
    return f"curl -s {key.header} {api_url}/api/v1/status/{job_id}"


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


#: the asset keys of the Snowflake RAW loaders (eventlake.assets.snowflake_raw), the first steps of a PROD transform
SNOWFLAKE_RAW_PREFIX = "snowflake_raw_"

_RUN_PROGRESS_QUERY = """
query RunProgress($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      runId status
      executionPlan { steps { key outputs { name } } assetKeys { path } }
      stepStats { stepKey status materializations { assetKey { path } } }
    }
    ... on PythonError { message }
  }
}
"""


@dataclass(frozen=True)
class TransformProgress:
    """How far a transform_job run is: models materialized of the models its steps build."""

    done: int
    total: int
    description: str


def transform_progress(run: dict) -> TransformProgress:
    """Progress of a run from its execution plan and step stats (``_RUN_PROGRESS_QUERY``).

    A dbt layer is one step whose outputs are its models; dagster reports a layer's
    materializations when its dbt build ends, so "done" moves a layer at a time and the
    description names the models being built meanwhile.
    """
    short = f"transform_job run {run['runId'][:8]}"
    plan = run.get("executionPlan") or {}
    # a step's other outputs are checks; in PROD the run loads Snowflake RAW first, which builds no model
    models = {key["path"][-1] for key in plan.get("assetKeys") or []
              if not key["path"][-1].startswith(SNOWFLAKE_RAW_PREFIX)}
    steps = [step["key"] for step in plan.get("steps") or []]
    models_of = {step["key"]: [o["name"] for o in step.get("outputs") or [] if o["name"] in models]
                 for step in plan.get("steps") or []}
    total = len(models)
    stats = {st["stepKey"]: st for st in run.get("stepStats") or []}
    done = len({m["assetKey"]["path"][-1] for st in stats.values() for m in st.get("materializations") or []} & models)
    status = run["status"]
    if status in ("QUEUED", "NOT_STARTED", "STARTING"):
        what = f"{status}, waiting for the run queue"
    elif status in ("SUCCESS", "FAILURE", "CANCELED", "CANCELING"):
        what = status
    else:
        running = [key for key in steps if stats.get(key, {}).get("status") == "IN_PROGRESS"]
        if running:
            names = [n for key in running for n in models_of.get(key, [])]
            what = (f"step {len(stats)}/{len(steps)} running {', '.join(running)}"
                    + (f": {', '.join(names)}" if names else ""))
        else:
            what = f"step {len(stats)}/{len(steps)} done" if stats else "starting"
    return TransformProgress(done, total, f"{short}: {done}/{total} models, {what}")


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


def _run_progress(url: str, run_id: str) -> dict | None:
    data = _graphql(url, _RUN_PROGRESS_QUERY, {"runId": run_id})["runOrError"]
    return data if data.get("__typename") == "Run" else None


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
#: The layers in the order data flows through them (``snowflake_raw``: PROD's copy of the raw tables in Snowflake).
PIPELINE_LAYERS = ("raw", "snowflake_raw", "staging", "intermediate", "marts")
_RAW_TABLES = ("events", "users", "products", "rejected_records")  # the contracts' order, rejects last


def _layer_of(table: str) -> str:
    """The layer of a ``schema.table`` name (or a bare model name: by its prefix)."""
    schema, _, name = table.rpartition(".")
    if schema in PIPELINE_LAYERS:
        return schema
    return {"stg": "staging", "int": "intermediate"}.get(name.split("_", 1)[0], "marts")


def pipeline_order(tables) -> list[str]:
    """``schema.table`` names in the order data flows: raw, staging, intermediate, marts;
    raw tables as the contracts list them, dimensions before facts within the marts."""

    def key(table: str) -> tuple:
        layer = _layer_of(table)
        name = table.rpartition(".")[2]
        raw = layer in ("raw", "snowflake_raw") and name in _RAW_TABLES
        within = _RAW_TABLES.index(name) if raw else len(_RAW_TABLES)
        return (PIPELINE_LAYERS.index(layer), within, name.startswith("fact_"), name)

    return sorted(tables, key=key)


def table_counts(settings: Settings) -> dict[str, int]:
    """Rows per table, raw Iceberg tables and dbt models (in PROD: Snowflake's RAW tables and models),
    in pipeline order."""
    from eventlake import contracts, lake, raw_snapshots

    tables = lake.ensure_tables(lake.load_catalog(settings))
    counts = {}
    for name, snap in raw_snapshots.current(tables, contracts.ICEBERG_TABLES).items():
        counts[f"raw.{name}"] = int(snap.summary.additional_properties.get("total-records", 0)) if snap else 0
    if settings.env != "PROD" and settings.duckdb_file.exists():  # PROD's models are in Snowflake, not DuckDB
        import duckdb

        with duckdb.connect(str(settings.duckdb_file), read_only=True) as conn:
            rows = conn.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('staging', 'intermediate', 'marts')"
            ).fetchall()
            for schema, name in rows:
                counts[f"{schema}.{name}"] = conn.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
    if settings.env == "PROD":
        counts.update(snowflake_counts(settings))
    return {name: counts[name] for name in pipeline_order(counts)}


def snowflake_counts(settings: Settings) -> dict[str, int]:
    """Rows per table of Snowflake's RAW (as ``snowflake_raw.<table>``), staging, intermediate and marts schemas.

    Through the Snowflake connector alone: dagster-snowflake's resource would import Snowpark (seconds)."""
    import snowflake.connector

    from eventlake.peers import snowflake_connect_args

    database = settings.snowflake_database
    layers = {"RAW": "snowflake_raw", "STAGING": "staging", "INTERMEDIATE": "intermediate", "MARTS": "marts"}
    with snowflake.connector.connect(**snowflake_connect_args(settings), database=database) as conn:
        cur = conn.cursor()
        cur.execute(f"select table_schema, table_name from {database}.information_schema.tables "
                    f"where table_schema in ({', '.join(repr(s) for s in layers)})")
        names = {f"{layers[schema.upper()]}.{name.lower()}": f"{database}.{schema}.{name}"
                 for schema, name in cur.fetchall() if not name.startswith("_")}
        if not names:
            return {}
        cur.execute(" union all ".join(f"select '{key}' as name, count(*) as n from {relation}"
                                       for key, relation in names.items()))
        return {str(name): int(n) for name, n in cur.fetchall()}


@dataclass(frozen=True)
class JobTotals:
    """What a set of ingestion jobs received and what became of it.

    ``rejected`` counts invalid records only; duplicates are only in ``duplicates``.
    """

    jobs: int
    received: int
    accepted: int
    rejected: int
    duplicates: int

    @classmethod
    def of(cls, jobs) -> JobTotals:
        return cls(len(jobs), sum(j.record_count or 0 for j in jobs), sum(j.accepted_count or 0 for j in jobs),
                   sum(j.rejected_count or 0 for j in jobs), sum(j.duplicate_count or 0 for j in jobs))

    @property
    def adds_up(self) -> bool:
        return self.received == self.accepted + self.rejected + self.duplicates

    def equation(self) -> str:
        sign = "=" if self.adds_up else "!="
        return (f"received {self.received:,} {sign} accepted {self.accepted:,} + rejected (invalid) "
                f"{self.rejected:,} + duplicates {self.duplicates:,}")


@dataclass(frozen=True)
class EventsReconciliation:
    """The events of the demo's POSTs, hop by hop: the jobs' counts, then the rows of each table they reach.

    Meaningful where the tables held nothing before the demo (``--env PROD``: new peers, new tables)."""

    totals: JobTotals
    hops: tuple[tuple[str, int | None], ...]  # (table, rows) from raw.events to marts.fact_events

    @property
    def reconciled(self) -> bool:
        return self.totals.adds_up and all(rows == self.totals.accepted for _, rows in self.hops)

    def line(self) -> str:
        t = self.totals
        chain = " = ".join(f"{table} {'missing' if rows is None else f'{rows:,}'}" for table, rows in self.hops)
        head = "events reconciled" if self.reconciled else "events do NOT reconcile"
        return (f"{head}: POSTed {t.received:,} = accepted {t.accepted:,} + rejected (invalid) {t.rejected:,} + "
                f"duplicates {t.duplicates:,}; accepted {t.accepted:,} = {chain}")


#: the tables the accepted events pass through in PROD, from Iceberg to the fact table in Snowflake
PROD_EVENT_HOPS = (("raw.events", "Iceberg on S3"), ("snowflake_raw.events", "Snowflake RAW.EVENTS"),
                   ("staging.stg_events", "Snowflake"), ("marts.fact_events", "Snowflake"))


def reconcile_events(jobs: list, counts: dict[str, int]) -> EventsReconciliation:
    """The events jobs' counts against the rows of every table of ``PROD_EVENT_HOPS``."""
    events = [j for j in jobs if getattr(j, "dataset", "events") == "events"]
    hops = tuple((f"{table} ({where})", counts.get(table)) for table, where in PROD_EVENT_HOPS)
    return EventsReconciliation(JobTotals.of(events), hops)


def _url_backend(url: str) -> str:
    """A database URL in words, without its password."""
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return f"SQLite {parsed.database}"
    return f"{'PostgreSQL' if backend == 'postgresql' else backend} {parsed.render_as_string(hide_password=True)}"


def _dagster_storage(dagster_home: Path) -> str:
    import yaml

    config = dagster_home / "dagster.yaml"
    storage = (yaml.safe_load(config.read_text()) or {}).get("storage") if config.exists() else None
    if storage:
        kind = next(iter(storage))
        return f"{'PostgreSQL' if kind == 'postgres' else kind} ({config}: storage)"
    return f"SQLite under {dagster_home}"


def backends(settings: Settings, dagster_home: Path, peer_names: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """Which backend each hop uses, in pipeline order: (hop, backend); ``peer_names`` names endpoint URLs
    (the demo's moto_server and fakesnow server)."""
    from eventlake.stream import local_stream_path

    peer_names = peer_names or {}

    def at(url: str | None, default: str = "") -> str:
        if not url:
            return default
        return f" at {url}" + (f" ({peer_names[url]})" if url in peer_names else "")

    aws = f" in AWS {settings.aws_region}"
    if settings.stream == "kinesis":
        stream = (f"Kinesis stream {settings.stream_name} ({settings.stream_shards} shards)"
                  + at(settings.kinesis_endpoint_url, aws))
    else:
        stream = f"embedded log, SQLite {local_stream_path(settings)}"
    if settings.catalog_type == "glue":
        catalog = f"Glue database raw{at(settings.glue_endpoint_url, aws)}"
    else:
        catalog = f"SQL catalog, {_url_backend(settings.catalog_url)}"
    files = settings.warehouse_location
    if files.startswith("s3://"):
        files += at(settings.s3_endpoint_url, aws)
    if settings.env == "PROD":
        endpoint = (f"{settings.snowflake_protocol or 'https'}://{settings.snowflake_host}"
                    + (f":{settings.snowflake_port}" if settings.snowflake_port else "")) if settings.snowflake_host else None
        dbt = f"Snowflake database {settings.snowflake_database}{at(endpoint, f' (account {settings.snowflake_account})')}"
        hops = [("Iceberg -> Snowflake RAW", f"snowflake_raw_* loaders into {settings.snowflake_database}.RAW, "
                                             "first steps of transform_job"),
                ("dbt target PROD", dbt)]
    else:
        hops = [("dbt target LOCAL", f"DuckDB {settings.duckdb_file}")]
    gx = settings.gx_root
    if gx.startswith("s3://"):
        gx += at(settings.s3_endpoint_url, aws)
    return [
        ("ingestion stream", stream),
        ("job store", _url_backend(settings.job_db)),
        ("Iceberg catalog", catalog),
        ("Iceberg data files", files),
        *hops,
        ("GX results, Data Docs", gx),
        ("Dagster storage", _dagster_storage(dagster_home)),
    ]


def print_backends(rows: list[tuple[str, str]], env: str) -> None:
    t = Table(title=f"backends (EVENTLAKE_ENV={env})")
    t.add_column("hop")
    t.add_column("backend")
    for hop, backend in rows:
        t.add_row(hop, backend)
    console.print(t)


def next_steps(*, api_url: str, dagster_url: str, dashboard_url: str, key: ApiKey, log_dir: Path,
               now: datetime | None = None) -> list[tuple[str, str]]:
    """What to try once the demo is up: (what, how) pairs, commands ready to paste."""
    now = now or datetime.now(UTC)
    event = orjson.dumps({"event_id": f"try-{now:%Y%m%d%H%M%S}", "user_id": "u-00001", "event_type": "view",
                          "event_timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ")}).decode()
    return [
        ("POST an event", f"curl -s {key.header} -H 'Content-Type: application/json' "
                          f"-d '{event}' {api_url}/api/v1/ingest"),
        ("its job's status", f"curl -s {key.header} {api_url}/api/v1/status/<job_id>"),
        ("run the transform", f"curl -s -X POST {key.header} {api_url}/api/v1/trigger/transform_job  "
                              "(the snapshot sensor also starts one within seconds of new data)"),
        ("Dagster UI", f"{dagster_url}  (runs: {dagster_url}/runs, lineage: {dagster_url}/asset-groups)"),
        ("dashboard", dashboard_url),
        ("API docs", f"{api_url}/docs"),
        ("API key", f"{key.source}  (header X-API-Key)" if key.source != "--api-key" else "header X-API-Key"),
        ("logs", f"{log_dir}/  (api.log, consumer.log, dagster.log, dashboard.log)"),
    ]


def print_summary(settings: Settings, job_ids: list[str], next_lines: list[tuple[str, str]], *,
                  reconcile: bool = False) -> bool:
    """Read the jobs, the tables' rows and the latest checks, print them; True when everything succeeded.
    ``reconcile``: also the events from the POSTs to fact_events, table by table (PROD), which must match."""
    from eventlake import quality
    from eventlake.state.ingestion_jobs import IngestionJobStore

    store = IngestionJobStore(settings.job_db)
    try:
        jobs = [store.get(j) for j in job_ids]
    finally:
        store.close()
    latest: dict[str, dict] = {}
    for r in quality.recent_results(settings.job_db, limit=20):
        latest.setdefault(r["suite"], r)
    counts = table_counts(settings)
    reconciliation = reconcile_events(jobs, counts) if reconcile else None
    return render_summary(jobs, counts, latest, next_lines, reconciliation=reconciliation)


def render_summary(jobs: list, counts: dict[str, int], checks: dict[str, dict],
                   next_lines: list[tuple[str, str]], *, reconciliation: EventsReconciliation | None = None) -> bool:
    """Print the jobs (their counts adding up), rows per table and the latest check of each suite, both in
    pipeline order, and the next steps. True when every job COMPLETED, every check passed, the counts add up
    and, given a ``reconciliation``, the events reconcile up to fact_events."""
    t = Table(title="ingestion jobs")
    t.add_column("status")
    for col in ("jobs", "received", "accepted", "rejected (invalid)", "duplicates"):
        t.add_column(col, justify="right")
    by_status: dict[str, list] = {}
    for job in jobs:
        by_status.setdefault(str(job.status), []).append(job)
    for status, group in sorted(by_status.items()):
        g = JobTotals.of(group)
        t.add_row(status, f"{g.jobs:,}", f"{g.received:,}", f"{g.accepted:,}", f"{g.rejected:,}", f"{g.duplicates:,}")
    console.print(t)
    totals = JobTotals.of(jobs)
    console.print(f"  {totals.equation()}" if totals.adds_up else f"[red]  {totals.equation()}[/]")

    t = Table(title="rows per table (pipeline order)")
    t.add_column("layer")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name in pipeline_order(counts):
        t.add_row(_layer_of(name), name, f"{counts[name]:,}")
    console.print(t)
    if reconciliation is not None:
        line = reconciliation.line()
        console.print(f"  {line}" if reconciliation.reconciled else f"[red]  {line}[/]", soft_wrap=True)

    t = Table(title="Great Expectations checks (latest)")
    for col in ("suite", "asset", "result", "expectations"):
        t.add_column(col)
    order = pipeline_order({r["asset"] for r in checks.values()})
    for suite, r in sorted(checks.items(), key=lambda item: (order.index(item[1]["asset"]), item[0])):
        t.add_row(suite, r["asset"], "[green]PASS[/]" if r["success"] else "[red]FAIL[/]", f"{r['successful']}/{r['evaluated']}")
    console.print(t)

    console.print("[bold]next steps[/]")
    width = max(len(what) for what, _ in next_lines)
    for what, how in next_lines:
        console.print(f"  {what:<{width}}  {how}", markup=False, highlight=False, soft_wrap=True)
    all_completed = all(str(j.status) == "COMPLETED" for j in jobs)
    checks_ok = bool(checks) and all(r["success"] for r in checks.values())
    reconciled = reconciliation is None or reconciliation.reconciled
    return all_completed and checks_ok and totals.adds_up and reconciled


def quiet_http_logs() -> None:
    """HTTP clients (httpx, httpcore; in PROD boto3's botocore and the Snowflake connector) log every request or
    connection at INFO: the CLI and the demo say what happened themselves."""
    for name in ("httpx", "httpcore", "botocore", "snowflake"):
        logging.getLogger(name).setLevel(logging.WARNING)


def jobs_description(statuses: list[str]) -> str:
    """The consumer task's line: how many jobs are in each state."""
    counts = {s: statuses.count(s) for s in ("PENDING", "PROCESSING", "COMPLETED") if statuses.count(s)}
    return "consumer: " + ", ".join(f"{n} {s}" for s, n in counts.items()) if counts else "consumer: no jobs"


def waiting_for_transform(runs: list[dict], committed_at: float, now: float) -> str:
    """The transform task's line before the run that reads the final snapshots has started."""
    latest = max(runs, key=lambda r: r["creationTime"], default=None)
    line = f"transform_job: waiting for the sensor's run (last raw commit {now - committed_at:.0f}s ago"
    if latest is not None:
        line += f"; latest run {latest['runId'][:8]} {latest['status']}"
    line += ")"
    return line


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


@dataclass
class ProdPeers:
    """The demo's moto_server and fakesnow server: started, maybe not answering yet."""

    host: str
    moto_port: int
    snowflake_port: int

    @property
    def moto_url(self) -> str:
        return f"http://{self.host}:{self.moto_port}"

    @property
    def snowflake_url(self) -> str:
        return f"http://{self.host}:{self.snowflake_port}"

    @property
    def names(self) -> dict[str, str]:
        """The peers' names by endpoint URL (for the backends table)."""
        return {self.moto_url: "moto_server", self.snowflake_url: "fakesnow server"}


def start_prod_peers(stack: Stack, settings: Settings) -> tuple[Settings, ProdPeers]:
    """Start moto_server and a fakesnow server on free ports as components of ``stack``, and point this
    process (and so the stack's next components) at them: the PROD settings as EVENTLAKE_* variables,
    moto's test AWS credentials. Returns the PROD settings; :func:`provision_prod_peers` waits for the
    peers and creates what the pipeline needs on them."""
    from eventlake import peers

    host = "127.0.0.1"
    started = ProdPeers(host, peers.free_port(host), peers.free_port(host))
    stack.start("moto", peers.moto_command(host, started.moto_port))
    stack.start("fakesnow", peers.fakesnow_command(host, started.snowflake_port))
    prod = peers.prod_settings(settings, moto_url=started.moto_url, snowflake_host=host,
                               snowflake_port=started.snowflake_port)
    for name in peers.AWS_VARIABLES_DROPPED:
        os.environ.pop(name, None)
    os.environ.update(peers.AWS_TEST_CREDENTIALS)
    os.environ.update(peers.settings_environ(prod))
    get_settings.cache_clear()
    return get_settings(), started


def provision_prod_peers(stack: Stack, settings: Settings, started: ProdPeers, progress: Progress,
                         timeout_s: float = 90) -> None:
    """Wait until the peers answer, then create the bucket, stream, Glue tables and Snowflake database."""
    from eventlake import peers

    task = progress.add_task("start the PROD peers", total=3)
    waits = [(f"moto_server ({started.moto_url}/moto-api/)", "moto", lambda: peers.moto_ready(started.moto_url)),
             (f"the fakesnow server ({started.snowflake_url})", "fakesnow",
              lambda: peers.port_open(started.host, started.snowflake_port))]
    for what, component, probe in waits:
        progress.update(task, description=f"start the PROD peers: waiting for {what}")
        _wait(what, component, probe, stack, timeout_s, 0.3)
        progress.advance(task)
    progress.update(task, description="start the PROD peers: creating the bucket, stream, Glue tables and "
                                      "Snowflake database")
    try:
        created = peers.provision(settings)
    except Exception as exc:  # noqa: BLE001 - reported as the stage that failed, with the peers' logs
        raise StageFailed("moto", f"creating the PROD resources on the peers failed: {type(exc).__name__}: {exc}",
                          stack.components["moto"].log_file) from exc
    progress.advance(task)
    progress.update(task, description=f"start the PROD peers: up; created {'; '.join(created)}")


def run_demo(*, once: bool, events: int = 5_000, users: int = 200, products: int = 50, timeout_s: float = 600,
             env: str = "LOCAL") -> int:
    """The demo on the settings' backends (``env`` LOCAL), or (``env`` PROD) on the production wiring
    against moto_server and a fakesnow server that it starts first."""
    from eventlake.generate import generate
    from eventlake.state.ingestion_jobs import IngestionJobStore

    # progress bars and the summary say what happens; per-request logs would drown them, and so would
    # alembic's lines as Dagster's SQLite storage is created (set_pool_limits)
    quiet_http_logs()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    prod = env == "PROD"
    if prod:
        from eventlake import peers

        try:
            peers.require()
        except peers.PeersMissing as exc:
            console.print(f"demo: {exc}", style="red", markup=False, soft_wrap=True)
            return 2
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
        log.error("ports already in use: %s", ", ".join(busy), extra={"stage": "start the stack", "ports": busy})
        console.print(f"[red]demo: {', '.join(busy)} already in use[/] (another demo running? set "
                      "EVENTLAKE_API_PORT / EVENTLAKE_DAGSTER_PORT / EVENTLAKE_DASHBOARD_PORT)")
        return 2
    api_url = f"http://{host}:{ports['api']}"
    dagster_url = f"http://{host}:{ports['dagster']}"
    dashboard_url = f"http://{host}:{ports['dashboard']}"

    def stack_environ() -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            EVENTLAKE_HOME=str(settings.home),
            EVENTLAKE_API_KEYS=",".join(settings.api_keys or [api_key.value]),
            EVENTLAKE_DAGSTER_URL=dagster_url,
            DAGSTER_HOME=str(settings.dagster_home),
            PYTHONUNBUFFERED="1",
        )
        return env

    stack = Stack(env=stack_environ(), log_dir=log_dir)
    _stop_on_signals()
    console.rule(f"eventlake demo{' --env PROD' if prod else ''}  (EVENTLAKE_HOME={settings.home})")
    console.print(f"logs: {log_dir}/<component>.log")
    started = time.time()
    ok = False
    peer_names: dict[str, str] = {}
    started_peers = None
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as progress:
            if prod:
                settings, started_peers = start_prod_peers(stack, settings)
                peer_names = started_peers.names
                stack.env = stack_environ()  # the API, consumer, Dagster and dashboard run on the PROD settings
            print_backends(backends(settings, settings.dagster_home, peer_names), settings.env)
            stages = boot_stages(api_url=api_url, dashboard_url=dashboard_url, dagster_url=dagster_url)
            boot = progress.add_task("start the stack", total=len(stages))
            # Dagster takes longest to come up and touches no backend before its sensors tick: it starts first
            stack.start("dagster", [_bin("dagster"), "dev", "-w", str(REPO_ROOT / "workspace.yaml"),
                                    "-h", host, "-p", str(ports["dagster"])])
            if started_peers is not None:
                provision_prod_peers(stack, settings, started_peers, progress)
            stack.start("api", [_bin("eventlake"), "api", "--host", host, "--port", str(ports["api"])])
            stack.start("consumer", [_bin("eventlake"), "consume"])
            stack.start("dashboard", [_bin("streamlit"), "run", str(dashboard.APP),
                                      "--server.address", host, "--server.port", str(ports["dashboard"]),
                                      "--server.headless", "true", "--browser.gatherUsageStats", "false"])
            for stage in stages:
                progress.update(boot, description=f"start the stack: {stage.waiting}")
                _wait(stage.waiting.removeprefix("waiting for "), stage.component, stage.probe, stack,
                      stage.timeout_s, stage.poll_s)
                progress.advance(boot)
            progress.update(boot, description="start the stack: API, consumer, Dagster and dashboard up")

            data = generate(events=events, users=users, products=products)
            job_ids = [p.job_id for p in post_sample_data(data, base_url=api_url, api_key=api_key.value,
                                                          progress=progress)]

            store = IngestionJobStore(settings.job_db)
            done = progress.add_task("consumer: jobs COMPLETED", total=len(job_ids))

            def _jobs_done() -> bool:
                statuses = [str(store.get(j).status) for j in job_ids]
                if "FAILED" in statuses:
                    failed = [store.get(j) for j in job_ids if str(store.get(j).status) == "FAILED"]
                    raise StageFailed("consumer", f"job {failed[0].job_id} FAILED: {failed[0].error_message}",
                                      stack.components["consumer"].log_file)
                progress.update(done, completed=statuses.count("COMPLETED"),
                                description=jobs_description(statuses))
                return all(s == "COMPLETED" for s in statuses)

            _wait("all jobs COMPLETED", "consumer", _jobs_done, stack, timeout_s)
            progress.update(done, description="consumer: every job COMPLETED")

            from eventlake.resources.core import EventlakeResource

            committed_at = last_data_commit(EventlakeResource(home=str(settings.home)).tables())
            if committed_at is None:
                raise StageFailed("consumer", "all jobs COMPLETED but no raw table has a snapshot",
                                  stack.components["consumer"].log_file)
            dbt_task = progress.add_task("transform_job: waiting for the snapshot sensor", total=None)
            final: dict = {}

            def _transform_done() -> bool:
                runs = _transform_runs(dagster_url)
                run = _transform_run_after(runs, committed_at)
                if run is None:
                    # the run that will read the final snapshots has not started: say what is there
                    progress.update(dbt_task, description=waiting_for_transform(runs, committed_at, time.time()))
                    return False
                detail = _run_progress(dagster_url, run["runId"])
                if detail is not None:
                    step = transform_progress(detail)
                    progress.update(dbt_task, description=step.description, total=step.total or None,
                                    completed=step.done)
                else:
                    progress.update(dbt_task, description=f"transform_job run {run['runId'][:8]}: {run['status']}")
                if run["status"] in ("FAILURE", "CANCELED"):
                    raise StageFailed("dagster", f"transform_job run {run['runId']} ended {run['status']}; "
                                      f"see {dagster_url}/runs/{run['runId']}", stack.components["dagster"].log_file)
                final.clear()
                final.update(run)
                return run["status"] == "SUCCESS"

            _wait("transform_job SUCCESS of a run started after the last raw commit", "dagster", _transform_done,
                  stack, timeout_s, 2)

        console.rule(f"summary  ({time.time() - started:.0f}s)")
        console.print(f"{_describe_run(final, committed_at)}: {dagster_url}/runs/{final['runId']}", soft_wrap=True)
        steps = next_steps(api_url=api_url, dagster_url=dagster_url, dashboard_url=dashboard_url, key=api_key,
                           log_dir=log_dir)
        print_backends(backends(settings, settings.dagster_home, peer_names), settings.env)
        # the peers started empty: every event in their tables came from these POSTs
        ok = print_summary(settings, job_ids, steps, reconcile=prod)
        console.print("[green]every stage succeeded[/]" if ok else "[red]some stage did not succeed (see above)[/]")
        if not once:
            console.print("serving; Ctrl-C to stop")
            while True:
                stack.check_alive()
                time.sleep(2)
    except StageFailed as exc:
        log.error("demo failed in %s: %s", exc.component, exc.reason,
                  extra={"stage": exc.component, "log_file": str(exc.log_file) if exc.log_file else None})
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
