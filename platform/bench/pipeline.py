"""``eventlake bench pipeline``: what the transform costs as the history grows, and how fresh
``fact_events`` stays under a steady stream.

Phases, each selectable with ``--only``:

``history``
    Builds a history of ``--events`` events (default 10M) in one fresh
    EVENTLAKE_HOME with the real consumer path: generated events (users with
    history and products first; a small share of duplicates and invalid
    events; event timestamps spread over about two weeks) are published to the
    local stream in large chunks the way the API publishes a request (a job
    per body, ``data_processor_rs.split_payload`` chunks in the stream
    envelope), then drained into Iceberg by ``Consumer(settings).drain()`` in
    this process. ``--sizes 1000000,3000000,10000000`` grows this one history
    through those sizes and measures the transform at each.
``full``
    At each size: ``transform_job`` with an empty DuckDB file (the first run
    ever, or a rebuild): wall time and peak RSS.
``incremental``
    At each size, on top of the full build: ``--runs`` runs (default 5), each
    after ``--incremental-events`` (default 10,000) new events were drained:
    p50 and max wall time, peak RSS.
``freshness``
    On the grown history: ``eventlake api``, ``eventlake consume`` and a loop
    that runs ``transform_job`` back to back (as the sensor would) while POSTs
    paced to ``--freshness-rate`` events/s (default 2,000) run for
    ``--freshness-seconds`` (default 300). Each POST's events carry its send
    time in their event_id (``fresh-<ms>-<n>-...``). POST -> Iceberg is the
    job's completed_at (job store) minus the send time, as in ``eventlake bench
    ingest``; POST -> fact_events is the end of the first transform run after
    which all the POST's events are in ``marts.fact_events``, minus the send
    time.

Every transform is the real Dagster job, ``build_definitions(env="LOCAL",
home=HOME).get_job_def("transform_job").execute_in_process(instance=...)``, run
in a child process (``python -m eventlake.bench.pipeline --transform-child``)
on an instance under HOME/dagster, so its memory is measured apart from this
process: the RSS of the child and all its descendants (dbt runs in its own
process) is summed every 100 ms, and the peak of that sum is reported. The
child reads the run's event log (STEP_START/STEP_SUCCESS, materializations)
and dbt's run_results.json (per-model timings), so a missed goal points to
where the time went. Nothing here depends on the assets or models inside
``transform_job`` beyond the table ``marts.fact_events``, read read-only
between runs to reconcile counts: after every run fact_events must hold
exactly the distinct valid events published so far.

Goals are printed PASS/MISS, never asserted; the exit code is 1 only when a
phase could not run or the counts do not reconcile.

    eventlake bench pipeline --events 1000000 --sizes 300000,1000000 --freshness-seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventlake.bench import common
from eventlake.bench.common import _count, _count_list, machine_info, median
from eventlake.bench.ingest import (
    INGEST_PATH,
    SectionError,
    _progress,
    child_env,
    home_settings,
    ndjson_client,
    percentile,
    start_api,
    start_consumers,
    stop,
    wait_consumer_ready,
)

log = logging.getLogger("eventlake.bench.pipeline")

PHASES = ("history", "full", "incremental", "freshness")
DEFAULT_EVENTS = 10_000_000
TEMPLATE_EVENTS = 100_000  # events per generated body; a body is one job, as one large POST would be
TEMPLATES = 4  # distinct generated bodies (pure Python, the slow part), each ~3 days of event timestamps, shifted 3 days apart
PUBLISH_EVENTS = 1_000_000  # events published between two drains while building the history
RSS_SAMPLE_S = 0.1
TRANSFORM_TIMEOUT_S = 3 * 3600
FRESHNESS_WAIT_S = 600.0  # after the last POST, for its events to reach fact_events
FRESH_PREFIX = "fresh-"
TOP_STEPS = 8
#: the history's ingested_at runs over this span before the run (event timestamps span TEMPLATES x 3 days)
HISTORY_SPAN = timedelta(days=14)

#: The product's targets on a 2-core machine.
GOALS = {
    "incremental_wall_s": 15.0,  # 10k new events on a 10M history
    "peak_rss_bytes": 1.5e9,  # any transform
    "rss_flat_ratio": 1.25,  # incremental peak RSS at the largest size / at the smallest
    "full_wall_s": 300.0,  # full transform of 10M
    "freshness_p95_s": 30.0,  # POST -> fact_events at 2,000 events/s
    "freshness_rate": 2_000,
    "incremental_flat_ratio": 1.5,  # incremental p50 wall at the largest size / at the smallest
    "goal_history": 10_000_000,
}


# -- configuration --------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_only_argument(parser, PHASES, "phases",
                             "full, incremental and freshness build the history they run on even when history is not "
                             "selected (it is then not reported as a phase)")  # fmt: skip
    parser.add_argument("--events", type=_count, metavar="N", default=None,
                        help=f"events in the history (default {DEFAULT_EVENTS:,}; 20000, 300k, 10M accepted)")  # fmt: skip
    parser.add_argument("--sizes", type=_count_list, metavar="SIZES", default=None,
                        help="comma list of history sizes to measure at, growing one history (e.g. 1M,3M,10M; the last "
                        "is --events, which is added when missing; default just --events)")  # fmt: skip
    parser.add_argument("--incremental-events", type=_count, metavar="N", default=10_000,
                        help="new events drained before each incremental run (default 10,000)")  # fmt: skip
    parser.add_argument("--runs", type=int, metavar="N", default=5, help="incremental runs at each size (default 5)")
    parser.add_argument("--users", type=_count, metavar="N", default=100_000,
                        help="users (each with 1 to 3 versions; dim_users is built from them) (default 100k)")  # fmt: skip
    parser.add_argument("--products", type=_count, metavar="N", default=1_000, help="products (default 1000)")
    common.add_freshness_arguments(parser, "phase", rate=2_000, seconds=300.0,
                                   seconds_help="default 300, i.e. 5 minutes; 90s, 5m accepted")  # fmt: skip
    common.add_output_arguments(parser, "pipeline", work="the history's EVENTLAKE_HOME, logs")
    parser.add_argument("--transform-child", nargs=2, metavar=("HOME", "RESULT_JSON"), help=argparse.SUPPRESS)


def _config(args: argparse.Namespace) -> dict[str, Any]:
    phases = common.selected(args.only, PHASES, "phase")
    events = args.events if args.events is not None else (max(args.sizes) if args.sizes else DEFAULT_EVENTS)
    sizes = sorted(set(args.sizes or []) | {events})
    if sizes[-1] > events:
        raise SystemExit(f"--sizes go up to {sizes[-1]:,}, above --events {events:,}")
    cfg = {
        "phases": phases,
        "events": events,
        "sizes": sizes,
        "incremental_events": args.incremental_events,
        "runs": args.runs,
        "users": args.users,
        "products": args.products,
        "freshness_rate": args.freshness_rate,
        "freshness_batch": args.freshness_batch,
        "freshness_seconds": args.freshness_seconds,
        **common.output_config(args),
    }
    positive = ("events", "incremental_events", "runs", "users", "products", "freshness_rate", "freshness_batch",
                "freshness_seconds")  # fmt: skip
    bad = [name for name in positive if cfg[name] <= 0]
    if bad or sizes[0] <= 0:
        raise SystemExit(f"{', '.join('--' + b.replace('_', '-') for b in bad) or '--sizes'} must be positive")
    return cfg


# -- data ------------------------------------------------------------------------------------
ID_FIELD = b'{"event_id":"e-'  # eventlake.generate writes event_id first, as e-<seed>-<n>


@dataclass
class Template:
    """One generated NDJSON body; ``rebrand(prefix)`` gives it new event ids (same rows otherwise)."""

    body: bytes
    events: int  # lines, duplicates and invalid ones included
    valid: int  # distinct valid event ids: the rows it adds to raw.events and fact_events
    invalid: int
    duplicates: int

    def rebrand(self, prefix: str) -> bytes:
        return self.body.replace(ID_FIELD, b'{"event_id":"' + prefix.encode() + b"e-")


def make_template(events: int, users: int, products: int, seed: int, now: datetime, *, clean: bool = False) -> Template:
    from eventlake.generate import generate, to_ndjson

    rates = {"invalid_rate": 0.0, "duplicate_rate": 0.0} if clean else {"invalid_rate": 0.01, "duplicate_rate": 0.02}
    data = generate(events=events, users=users, products=products, seed=seed, now=now, **rates)
    body = to_ndjson(data.events)
    return Template(body, len(data.events), len(data.expected_event_ids), data.invalid_count, data.duplicate_count)


class Publisher:
    """Publishes NDJSON bodies to a home's stream as the API does (a job per body, its chunks in
    the stream envelope) and drains them into Iceberg with the real consumer, in this process."""

    def __init__(self, home: Path) -> None:
        from eventlake.consumer import Consumer
        from eventlake.state.ingestion_jobs import IngestionJobStore
        from eventlake.stream import open_stream

        self.settings = home_settings(home)
        self.settings.ensure_home()
        self.jobs = IngestionJobStore(self.settings.job_db)
        self.stream = open_stream(self.settings)
        self.stream.ensure()
        self.consumer: Any = None
        self._consumer_cls = Consumer

    def publish(self, bodies: list[tuple[str, bytes]]) -> list[str]:
        """(dataset, NDJSON body) pairs, one job each, in one write: the job ids."""
        import data_processor_rs

        from api.routers.ingest import new_job_id
        from eventlake import envelope
        from eventlake.state.ingestion_jobs import NewJob

        new_jobs, records = [], []
        for dataset, body in bodies:
            chunks = data_processor_rs.split_payload(body, "ndjson", self.settings.chunk_bytes)
            job_id = new_job_id()
            first = 0
            for part, (chunk, count) in enumerate(chunks):
                header = envelope.ChunkHeader(job_id, dataset, "ndjson", part, len(chunks), first, count)
                records.append((job_id, envelope.encode(header, chunk)))
                first += count
            new_jobs.append(NewJob(job_id, dataset, "ndjson", first, len(chunks)))
        self.jobs.create_jobs(new_jobs)
        self.stream.put_records(records)
        return [j.job_id for j in new_jobs]

    def drain(self, ingested_at: datetime | None = None) -> dict[str, int]:
        """Drain the stream; ``ingested_at``: the consumer's clock while it plans (the rows' ingested_at), so a
        history built in minutes reads as one that arrived over days."""
        from eventlake import consumer as consumer_module

        if self.consumer is None:  # one consumer: its key index stays warm across drains
            self.consumer = self._consumer_cls(self.settings, stream=self.stream, jobs=self.jobs)
        if ingested_at is None:
            return self.consumer.drain()

        class Clock(datetime):
            @classmethod
            def now(cls, tz=None):  # noqa: ARG003 - the consumer asks for UTC
                return ingested_at

        real = consumer_module.datetime
        consumer_module.datetime = Clock
        try:
            return self.consumer.drain()
        finally:
            consumer_module.datetime = real

    def close(self) -> None:
        self.stream.close()
        self.jobs.close()


# -- the transform in a child process --------------------------------------------------------
def _tree_rss(root: int) -> tuple[int, dict[str, int]]:
    """Summed RSS (bytes) of ``root`` and its descendants, and per command name, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
                parents[int(entry.name)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    todo, total, by_name = [root], 0, {}
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                rss = int(f.read().split()[1]) * page
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = [a for a in f.read().split(b"\0") if a]
        except (OSError, ValueError, IndexError):
            continue
        total += rss
        name = _process_name(argv)
        by_name[name] = by_name.get(name, 0) + rss
    return total, by_name


def _process_name(argv: list[bytes]) -> str:
    words = [a.decode(errors="replace") for a in argv[:4]]
    if not words:
        return "?"
    if "--transform-child" in " ".join(words) or any(w.endswith("eventlake.bench.pipeline") for w in words):
        return "dagster run (python)"
    for w in words:
        base = os.path.basename(w)
        if base in ("dbt", "dbt.exe"):
            return "dbt"
    if os.path.basename(words[0]).startswith("python") and len(words) > 1:
        return f"python {os.path.basename(words[1])}"
    return os.path.basename(words[0])


def run_transform(home: Path, work: Path, tag: str) -> dict[str, Any]:
    """``transform_job`` once in a child process: its result (steps, dbt timings) plus wall time and
    the peak summed RSS of its process tree."""
    work.mkdir(parents=True, exist_ok=True)
    result_path = work / f"transform-{tag}.json"
    log_path = work / f"transform-{tag}.log"
    env = child_env(home)
    env["DAGSTER_HOME"] = str(home / "dagster")
    cmd = [sys.executable, "-m", "eventlake.bench.pipeline", "--transform-child", str(home), str(result_path)]
    peak, peak_by_name, samples = 0, {}, 0
    started = time.time()
    t0 = time.perf_counter()
    with log_path.open("ab") as handle:
        proc = subprocess.Popen(cmd, cwd=home, env=env, stdin=subprocess.DEVNULL, stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        try:
            while proc.poll() is None:
                total, by_name = _tree_rss(proc.pid)
                samples += 1
                if total > peak:
                    peak, peak_by_name = total, by_name
                if time.perf_counter() - t0 > TRANSFORM_TIMEOUT_S:
                    raise SectionError(f"transform_job did not finish within {TRANSFORM_TIMEOUT_S} s")
                time.sleep(RSS_SAMPLE_S)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()
    wall = time.perf_counter() - t0
    ended = time.time()
    try:
        child = json.loads(result_path.read_text())
    except (OSError, ValueError):
        child = {"status": "NO RESULT", "error": _tail(log_path)}
    out = {
        "tag": tag,
        "started_at": started,
        "ended_at": ended,
        "process_wall_s": wall,
        "run_wall_s": child.get("run_wall_s"),
        "startup_s": child.get("startup_s"),
        "status": child.get("status"),
        "exit_code": proc.returncode,
        "peak_rss_bytes": peak or None,
        "peak_rss_by_process": peak_by_name,
        "rss_samples": samples,
        **{k: v for k, v in child.items() if k not in ("status", "run_wall_s", "startup_s")},
    }
    if out["status"] != "SUCCESS":
        out["error"] = child.get("error") or _tail(log_path)
    return out


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def transform_child(home: str, result_json: str) -> int:
    """In the child: run transform_job on an instance under HOME/dagster, write what happened."""
    t0 = time.time()
    os.environ["EVENTLAKE_HOME"] = home
    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(home) / "dagster")))
    from eventlake.demo import write_dagster_yaml

    write_dagster_yaml(dagster_home)
    from dagster import DagsterEventType, DagsterInstance

    from eventlake.definitions import build_definitions

    out: dict[str, Any] = {"status": "ERROR"}
    try:
        defs = build_definitions(env="LOCAL", home=home)
        job = defs.resolve_job_def("transform_job") if hasattr(defs, "resolve_job_def") else defs.get_job_def("transform_job")
        instance = DagsterInstance.get()
        loaded = time.time()
        out["startup_s"] = loaded - t0
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        done = time.time()
        out["run_id"] = result.run_id
        out["status"] = "SUCCESS" if result.success else "FAILURE"
        out["execute_s"] = done - loaded
        steps: dict[str, dict[str, Any]] = {}
        run_start = run_end = None
        materialized: list[dict[str, Any]] = []
        invocations: set[str] = set()  # dbt invocation ids named in the materializations' metadata
        errors: list[str] = []
        dbt_launched: list[float] = []  # dagster-dbt's "Running dbt command" log lines
        for entry in instance.all_logs(result.run_id):
            event = entry.dagster_event
            if event is None:
                if "Running dbt command" in (entry.user_message or ""):
                    dbt_launched.append(entry.timestamp)
                continue
            kind = event.event_type_value
            if kind == DagsterEventType.RUN_START.value:
                run_start = entry.timestamp
            elif kind in (DagsterEventType.RUN_SUCCESS.value, DagsterEventType.RUN_FAILURE.value):
                run_end = entry.timestamp
            elif kind == DagsterEventType.STEP_START.value:
                steps.setdefault(entry.step_key, {})["start"] = entry.timestamp
            elif kind in (DagsterEventType.STEP_SUCCESS.value, DagsterEventType.STEP_FAILURE.value):
                step = steps.setdefault(entry.step_key, {})
                step["end"] = entry.timestamp
                step["status"] = "SUCCESS" if kind == DagsterEventType.STEP_SUCCESS.value else "FAILURE"
                if kind == DagsterEventType.STEP_FAILURE.value and event.step_failure_data and event.step_failure_data.error:
                    errors.append(f"{entry.step_key}: {event.step_failure_data.error.message.strip()[:2000]}")
            elif kind == DagsterEventType.ASSET_MATERIALIZATION.value:
                mat = event.step_materialization_data.materialization
                meta = {k: getattr(v, "value", v) for k, v in (mat.metadata or {}).items()}
                if isinstance(meta.get("invocation_id"), str):
                    invocations.add(meta["invocation_id"])
                materialized.append({"asset": mat.asset_key.to_user_string(), "at": entry.timestamp,
                                     "seconds": _number(meta.get("Execution Duration"))})  # fmt: skip
        out["run_wall_s"] = run_end - run_start if run_start and run_end else None
        out["run_started_at"], out["run_ended_at"] = run_start, run_end
        out["steps"] = sorted(
            ({"step": k, "seconds": v["end"] - v["start"] if "start" in v and "end" in v else None,
              "status": v.get("status", "NOT FINISHED"), "start": v.get("start")} for k, v in steps.items()),
            key=lambda s: s["start"] or 0,
        )  # fmt: skip
        out["materializations"] = materialized
        from eventlake.settings import Settings

        target = Settings(home=home).dbt_target_path  # where this home's dbt runs write (EVENTLAKE_DBT_TARGET_DIR)
        out["dbt_models"] = dbt_timings(target, result.run_id, invocations, loaded)
        out["dbt_overhead"] = dbt_overhead(out["steps"], out["dbt_models"] or [], dbt_launched)
        if errors:
            out["error"] = "\n".join(errors)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
        import traceback

        out["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-3000:]}"
    Path(result_json).write_text(json.dumps(out, default=str))
    return 0 if out["status"] == "SUCCESS" else 1


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def dbt_timings(target: Path, run_id: str, invocations: set[str] | None = None, since: float = 0.0) -> list[dict[str, Any]] | None:
    """Per-node timings from the run_results.json of the run's dbt invocation(s). dagster-dbt's subprocess
    gives each invocation its own directory, ``<target>/<op>-<run id[:7]>-<uuid>``; dbt run in process may
    write to a fixed directory per step (``<target>/<a>/<b>``), taken when it was written during the run and
    its invocation_id is one the run's materializations name. The bench leaves DBT_TARGET_PATH alone:
    dagster-dbt copies the project's partial_parse.msgpack from there into each invocation, and without it
    every dbt command would parse the whole project."""
    found: list[dict[str, Any]] = []
    own = set(target.glob(f"*-{run_id[:7]}-*/run_results.json"))
    for path in sorted(own | set(target.glob("*/run_results.json")) | set(target.glob("*/*/run_results.json"))):
        try:
            if path not in own and path.stat().st_mtime < since:
                continue
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if path not in own and (not invocations or data.get("metadata", {}).get("invocation_id") not in invocations):
            continue
        for r in data.get("results", []):
            timing = {t.get("name"): t for t in r.get("timing", [])}
            execute = timing.get("execute", {})
            found.append({
                "node": r.get("unique_id"),
                "status": r.get("status"),
                "seconds": r.get("execution_time"),
                "started_at": execute.get("started_at"),
                "rows_affected": (r.get("adapter_response") or {}).get("rows_affected"),
            })  # fmt: skip
    return sorted(found, key=lambda r: -(r["seconds"] or 0)) if found else None


def _epoch(iso: str | None) -> float | None:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() if iso else None
    except ValueError:
        return None


def dbt_overhead(steps: list[dict[str, Any]], models: list[dict[str, Any]], launched: list[float] | None = None) -> list[dict[str, Any]]:
    """For each step that ran dbt (one whose window holds some nodes' start times), its time outside dbt's
    nodes: before the first one (dbt's process start, parse, compile, the raw sources) and the rest.
    ``launched``: when dagster-dbt logged each dbt command, which splits the time before the first node in two."""
    starts = [(t, m["seconds"] or 0.0) for m in models if (t := _epoch(m.get("started_at"))) is not None]
    out = []
    for step in steps:
        if step.get("start") is None or step.get("seconds") is None:
            continue
        end = step["start"] + step["seconds"]
        inside = [(t, d) for t, d in starts if step["start"] <= t <= end]
        if not inside:
            continue
        in_nodes = sum(d for _, d in inside)
        before = min(t for t, _ in inside) - step["start"]
        item = {"step": step["step"], "seconds": step["seconds"], "in_nodes_s": in_nodes, "before_first_node_s": before,
                "other_s": step["seconds"] - in_nodes - before}  # fmt: skip
        command = [t for t in launched or [] if step["start"] <= t <= step["start"] + before]
        if command:
            item["before_dbt_command_s"] = command[0] - step["start"]  # in dagster-dbt, before dbt was started
            item["dbt_command_to_first_node_s"] = step["start"] + before - command[0]  # dbt's start, parse, compile
        out.append(item)
    return out


# -- reading the warehouse ---------------------------------------------------------------------
def fact_events_count(home: Path) -> int | None:
    import duckdb

    path = home_settings(home).duckdb_file
    if not path.exists():
        return None
    with duckdb.connect(str(path), read_only=True) as conn:
        try:
            return conn.execute("select count(*) from marts.fact_events").fetchone()[0]
        except duckdb.CatalogException:
            return None


def fresh_ids(home: Path) -> list[str]:
    import duckdb

    with duckdb.connect(str(home_settings(home).duckdb_file), read_only=True) as conn:
        rows = conn.execute(f"select event_id from marts.fact_events where event_id like '{FRESH_PREFIX}%'").fetchall()
    return [r[0] for r in rows]


def top_steps(run: dict[str, Any], n: int = TOP_STEPS) -> list[dict[str, Any]]:
    """The run's slowest parts: dbt nodes (run_results.json) and Dagster steps (event log), longest first."""
    items = [{"what": f"dbt {m['node']}", "seconds": m["seconds"], "status": m["status"]}
             for m in run.get("dbt_models") or [] if m.get("seconds") is not None]  # fmt: skip
    items += [{"what": f"dagster step {s['step']}", "seconds": s["seconds"], "status": s["status"]}
              for s in run.get("steps") or [] if s.get("seconds") is not None]  # fmt: skip
    for over in run.get("dbt_overhead") or []:
        if over.get("before_dbt_command_s") is not None:
            items.append({"what": f"step {over['step']}: in dagster-dbt before the dbt command",
                          "seconds": over["before_dbt_command_s"], "status": ""})  # fmt: skip
            items.append({"what": f"step {over['step']}: dbt command to its first node (start, parse, compile, raw sources)",
                          "seconds": over["dbt_command_to_first_node_s"], "status": ""})  # fmt: skip
        else:
            items.append({"what": f"step {over['step']}: dbt before its first node (start, parse, compile, raw sources)",
                          "seconds": over["before_first_node_s"], "status": ""})  # fmt: skip
        items.append({"what": f"step {over['step']}: dbt between and after its nodes", "seconds": over["other_s"], "status": ""})
    if run.get("startup_s") is not None:
        items.append({"what": "child process start, imports, build_definitions", "seconds": run["startup_s"], "status": ""})
    return sorted(items, key=lambda i: -i["seconds"])[:n]


# -- the benchmark -----------------------------------------------------------------------------
@dataclass
class History:
    home: Path
    publisher: Publisher
    templates: list[Template]
    events: int = 0  # event lines published (invalid and duplicates included)
    valid: int = 0  # distinct valid events: what fact_events must hold
    blocks: int = 0
    users_rows: int = 0
    products_rows: int = 0
    build: list[dict[str, Any]] = field(default_factory=list)


class Bench:
    def __init__(self, cfg: dict[str, Any], console, work: Path) -> None:
        self.cfg = cfg
        self.console = console
        self.work = work
        self.log_dir = work / "logs"
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.started = datetime.now(UTC) - timedelta(minutes=1)
        self.history: History | None = None
        self.failures: list[str] = []
        self.transforms: list[dict[str, Any]] = []

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False)

    # -- history ---------------------------------------------------------------------------
    def start_history(self) -> History:
        cfg = self.cfg
        home = self.work / "home"
        per_body = min(TEMPLATE_EVENTS, cfg["events"])
        count = max(1, min(TEMPLATES, math.ceil(cfg["events"] / per_body)))
        templates = []
        with _progress(self.console) as progress:
            task = progress.add_task(f"history: generating {count} bodies of {per_body:,} events", total=count + 1)
            from eventlake.generate import generate, to_ndjson

            people = generate(events=0, users=cfg["users"], products=cfg["products"], seed=cfg["seed"], now=self.now)
            progress.advance(task)
            for i in range(count):
                # body i: timestamps over the 3 days before now - 3i days; the same users and products
                now = self.now - timedelta(days=3 * i)
                templates.append(make_template(per_body, cfg["users"], cfg["products"], cfg["seed"] * 100 + i, now))
                progress.advance(task)
        publisher = Publisher(home)
        publisher.publish([("users", to_ndjson(people.users)), ("products", to_ndjson(people.products))])
        # users and products arrive first, at the start of the history; this also opens the consumer (catalog,
        # tables, key index) outside the history's timings
        with self.console.status(f"history: draining {len(people.users):,} user versions and {len(people.products):,} products"):
            publisher.drain(self.started - HISTORY_SPAN)
        history = History(home, publisher, templates, users_rows=len(people.users), products_rows=len(people.products))
        self.history = history
        return history

    def grow(self, target: int) -> dict[str, Any]:
        """Publish and drain bodies until the history holds ``target`` event lines."""
        h = self.history
        assert h is not None
        start_events, t0 = h.events, time.perf_counter()
        publish_s = drain_s = 0.0
        with _progress(self.console) as progress:
            posted = progress.add_task(f"history: publishing to {target:,} events", total=target, completed=h.events)
            landed = progress.add_task("history: drained into Iceberg by the consumer", total=target, completed=h.events)
            while h.events < target:
                bodies, added, valid = [], 0, 0
                while h.events + added < target and added < PUBLISH_EVENTS:
                    t = h.templates[h.blocks % len(h.templates)]
                    body = t.rebrand(f"h{h.blocks:06d}-")
                    n = t.events
                    if h.events + added + n > target:  # the last body is cut to reach the size exactly
                        n = target - h.events - added
                        body, valid_n = _head(body, n)
                    else:
                        valid_n = t.valid
                    bodies.append(("events", body))
                    added += n
                    valid += valid_n
                    h.blocks += 1
                t1 = time.perf_counter()
                h.publisher.publish(bodies)
                publish_s += time.perf_counter() - t1
                progress.update(posted, completed=h.events + added)
                t1 = time.perf_counter()
                # the history arrived over the days before the run: ingested_at runs up to now as it grows
                h.publisher.drain(self.started - HISTORY_SPAN * (1 - (h.events + added) / self.cfg["events"]))
                drain_s += time.perf_counter() - t1
                h.events += added
                h.valid += valid
                progress.update(landed, completed=h.events)
        seconds = time.perf_counter() - t0
        added = h.events - start_events
        step = {
            "to_events": h.events,
            "events_added": added,
            "seconds": seconds,
            "publish_seconds": publish_s,
            "drain_seconds": drain_s,
            "events_per_s": added / seconds if seconds else None,
            "drain_events_per_s": added / drain_s if drain_s else None,
        }
        h.build.append(step)
        self.say(f"  history: {h.events:,} events ({h.valid:,} distinct valid) after {seconds:.1f} s "
                 f"(publish {publish_s:.1f} s, drain {drain_s:.1f} s: {step['drain_events_per_s'] or 0:,.0f} events/s)")  # fmt: skip
        return step

    def add_events(self, n: int, prefix: str) -> int:
        """``n`` new events (fresh ids, ingested now) published and drained: the distinct valid ones."""
        h = self.history
        assert h is not None
        if not hasattr(self, "_inc_template"):
            self._inc_template = make_template(n, self.cfg["users"], self.cfg["products"], self.cfg["seed"] * 100 + 99, self.now)
        t = self._inc_template
        h.publisher.publish([("events", t.rebrand(prefix))])
        h.publisher.drain()
        h.events += t.events
        h.valid += t.valid
        return t.valid

    # -- transforms ----------------------------------------------------------------------------
    def transform(self, tag: str, kind: str, size: int) -> dict[str, Any]:
        h = self.history
        assert h is not None
        label = f"{kind} transform_job on {h.events:,} events"
        with self.console.status(f"{label} (child process; RSS of its process tree sampled every 100 ms)"):
            run = run_transform(h.home, self.log_dir, tag)
        run.update(kind=kind, size=size, history_events=h.events, expected_rows=h.valid)
        if run["status"] == "SUCCESS":
            run["fact_events_rows"] = fact_events_count(h.home)
            run["rows_match"] = run["fact_events_rows"] == h.valid
        else:
            run["fact_events_rows"], run["rows_match"] = None, False
        self.transforms.append(run)
        if run["status"] != "SUCCESS":
            raise SectionError(f"{label}: {run['status']}: {(run.get('error') or '')[-1500:]}")
        if not run["rows_match"]:
            self.failures.append(f"{tag}: marts.fact_events holds {run['fact_events_rows']} rows, "
                                 f"{h.valid:,} distinct valid events were published")  # fmt: skip
        return run

    def full(self, size: int) -> dict[str, Any]:
        """transform_job on an empty DuckDB file: everything is built from the raw tables."""
        h = self.history
        assert h is not None
        db = home_settings(h.home).duckdb_file
        for path in (db, db.with_name(db.name + ".wal")):
            path.unlink(missing_ok=True)
        run = self.transform(f"full-{size}", "full", size)
        self.say(f"  full at {h.events:,} events: {_s(run['run_wall_s'])} run ({_s(run['process_wall_s'])} with process "
                 f"start), peak RSS {_mb(run['peak_rss_bytes'])}, fact_events {run['fact_events_rows']:,} rows"
                 + ("" if run["rows_match"] else f" [red]!= {h.valid:,} expected[/]"))  # fmt: skip
        return run

    def incremental(self, size: int) -> list[dict[str, Any]]:
        cfg = self.cfg
        runs = []
        for i in range(cfg["runs"]):
            self.add_events(cfg["incremental_events"], f"i{size}r{i}-")
            run = self.transform(f"incremental-{size}-{i + 1}", "incremental", size)
            runs.append(run)
            self.say(f"  incremental {i + 1}/{cfg['runs']} at {run['history_events']:,} events: {_s(run['run_wall_s'])} run "
                     f"({_s(run['process_wall_s'])} with process start), peak RSS {_mb(run['peak_rss_bytes'])}"
                     + ("" if run["rows_match"] else " [red]fact_events rows do not match[/]"))  # fmt: skip
        return runs

    # -- freshness -----------------------------------------------------------------------------
    def freshness(self) -> dict[str, Any]:
        import httpx

        from eventlake.state.ingestion_jobs import IngestionJobStore

        cfg = self.cfg
        h = self.history
        assert h is not None
        h.publisher.close()  # the API and `eventlake consume` own the home from here
        rate, batch, seconds = cfg["freshness_rate"], cfg["freshness_batch"], cfg["freshness_seconds"]
        request_rate = rate / batch
        n_requests = max(1, round(request_rate * seconds))
        template = make_template(batch, cfg["users"], cfg["products"], cfg["seed"] * 100 + 98, self.now, clean=True)
        sent: list[dict[str, Any]] = []  # per POST: i, sent, status, job_id
        visible: dict[int, float] = {}  # POST index -> end of the first run after which all its events were in fact_events
        runs: list[dict[str, Any]] = []
        stop_loop = threading.Event()
        posting_done = threading.Event()
        loop_error: list[BaseException] = []

        def accepted_indexes() -> set[int]:
            return {r["i"] for r in list(sent) if r["status"] == 202}

        def transform_loop() -> None:
            try:
                n = 0
                while not stop_loop.is_set():
                    n += 1
                    run = run_transform(h.home, self.log_dir, f"freshness-{n}")
                    run.update(kind="freshness", size=h.events)
                    runs.append(run)
                    if run["status"] != "SUCCESS":
                        raise SectionError(f"transform_job run {n} during the freshness phase: {run['status']}: "
                                           f"{(run.get('error') or '')[-1500:]}")  # fmt: skip
                    seen: dict[int, int] = {}
                    for event_id in fresh_ids(h.home):
                        i = int(event_id.split("-")[2])
                        seen[i] = seen.get(i, 0) + 1
                    end = run.get("run_ended_at") or run["ended_at"]
                    for i, count in seen.items():
                        if count >= batch and i not in visible:
                            visible[i] = end
                    run["fresh_posts_visible"] = len(visible)
                    if posting_done.is_set() and accepted_indexes() <= set(visible):
                        return  # every POST is in fact_events: no run after the last one needed
            except BaseException as exc:  # handed to the main thread
                loop_error.append(exc)

        server = start_api(h.home, self.log_dir, "api-freshness")
        consumers = []
        loop = threading.Thread(target=transform_loop, name="transform-loop", daemon=True)
        try:
            consumers = start_consumers(1, h.home, self.log_dir, "freshness")
            with self.console.status("freshness: waiting for `eventlake consume` to start"):
                wait_consumer_ready(consumers)
            loop.start()

            async def pace() -> float:
                async with ndjson_client() as client:

                    async def one(i: int) -> None:
                        t_sent = time.time()
                        body = template.rebrand(f"{FRESH_PREFIX}{int(t_sent * 1000)}-{i}-")
                        try:
                            response = await client.post(server.url(INGEST_PATH), content=body)
                            status = response.status_code
                            job_id = response.json().get("job_id") if status == 202 else None
                        except (httpx.HTTPError, ValueError) as exc:
                            status, job_id = f"error: {type(exc).__name__}", None
                        sent.append({"i": i, "sent": t_sent, "status": status, "job_id": job_id})

                    return await common.paced(n_requests, request_rate, one)

            box: dict[str, Any] = {}
            poster = threading.Thread(target=lambda: box.setdefault("s", asyncio.run(pace())), daemon=True)
            with _progress(self.console) as progress:
                task = progress.add_task(f"freshness: {rate:,} events/s as {request_rate:,.0f} POSTs/s of {batch} events "
                                         "(POSTs sent; transform_job back to back)", total=n_requests)  # fmt: skip
                poster.start()
                while poster.is_alive():
                    poster.join(timeout=0.25)
                    progress.update(task, completed=len(sent))
                    consumers[0].check_alive()
                    if loop_error:
                        raise loop_error[0]
            send_seconds = box.get("s")
            posting_done.set()
            accepted = accepted_indexes()
            deadline = time.monotonic() + FRESHNESS_WAIT_S
            with _progress(self.console) as progress:
                task = progress.add_task("freshness: waiting for the last POSTs to reach fact_events", total=len(accepted))
                while time.monotonic() < deadline and not accepted <= set(visible) and loop.is_alive():
                    progress.update(task, completed=len(accepted & set(visible)))
                    consumers[0].check_alive()
                    if loop_error:
                        raise loop_error[0]
                    time.sleep(0.25)
            stop_loop.set()
            loop.join(timeout=TRANSFORM_TIMEOUT_S)
            if loop_error:
                raise loop_error[0]
            jobs = IngestionJobStore(home_settings(h.home).job_db)
            try:
                job_ids = [r["job_id"] for r in sent if r["status"] == 202]
                completed = {}
                for job_id in job_ids:
                    job = jobs.get(job_id)
                    if job is not None and job.completed_at is not None:
                        completed[job_id] = job.completed_at.timestamp()
            finally:
                jobs.close()
        finally:
            stop_loop.set()
            stop(consumers + [server])
            if loop.is_alive():
                loop.join(timeout=TRANSFORM_TIMEOUT_S)
        posts = {r["i"]: r for r in sent if r["status"] == 202}
        h.events += len(posts) * batch
        h.valid += len(posts) * batch
        to_iceberg = sorted(completed[r["job_id"]] - r["sent"] for r in posts.values() if r["job_id"] in completed)
        to_fact = sorted(visible[i] - posts[i]["sent"] for i in posts if i in visible)
        every_iceberg = to_iceberg + [math.inf] * (len(posts) - len(to_iceberg))
        every_fact = to_fact + [math.inf] * (len(posts) - len(to_fact))
        ok_runs = [r for r in runs if r["status"] == "SUCCESS"]
        final_rows = fact_events_count(h.home)
        out = {
            "how": f"{n_requests} POSTs of {batch} NDJSON events paced to {request_rate:g}/s (open loop) to `eventlake api`, "
            "with `eventlake consume` and transform_job run back to back in a child process; event ids carry the POST's "
            "send time. POST -> Iceberg: the job's completed_at minus the send time; POST -> fact_events: the end of the "
            "first transform run after which all the POST's events were in marts.fact_events, minus the send time",
            "history_events_at_start": h.events - len(posts) * batch,
            "target_events_per_s": rate,
            "batch_events": batch,
            "requests": n_requests,
            "requests_accepted": len(posts),
            "errors": n_requests - len(posts),
            "send_seconds": send_seconds,
            "achieved_events_per_s": len(posts) * batch / send_seconds if send_seconds else None,
            "percentiles_over": "every accepted POST; one not in Iceberg / fact_events by the end counts as never (null)",
            "iceberg": {"p50_s": _finite(percentile(every_iceberg, 0.5)), "p95_s": _finite(percentile(every_iceberg, 0.95)),
                        "max_s": to_iceberg[-1] if to_iceberg else None, "posts": len(to_iceberg),
                        "samples_s": [round(v, 3) for v in to_iceberg]},  # fmt: skip
            "fact_events": {"p50_s": _finite(percentile(every_fact, 0.5)), "p95_s": _finite(percentile(every_fact, 0.95)),
                            "max_s": to_fact[-1] if to_fact else None, "posts": len(to_fact),
                            "samples_s": [round(v, 3) for v in to_fact]},  # fmt: skip
            "posts_not_in_fact_events": len(posts) - len(to_fact),
            "transform_runs": len(runs),
            "transform_run_wall_s": {"p50": median([r["run_wall_s"] for r in ok_runs if r["run_wall_s"]]),
                                     "max": max((r["run_wall_s"] or 0 for r in ok_runs), default=None)},  # fmt: skip
            "transform_peak_rss_bytes": max((r["peak_rss_bytes"] or 0 for r in runs), default=None),
            "runs": [_brief(r) for r in runs],
            "fact_events_rows_at_end": final_rows,
            "expected_rows_at_end": h.valid,
            "rows_match": final_rows == h.valid,
        }
        if not out["rows_match"]:
            self.failures.append(f"freshness: marts.fact_events holds {final_rows} rows at the end, {h.valid:,} expected")
        self.say(f"  freshness: POST -> Iceberg p50 {_s(out['iceberg']['p50_s'])}, p95 {_s(out['iceberg']['p95_s'])}; "
                 f"POST -> fact_events p50 {_s(out['fact_events']['p50_s'])}, p95 {_s(out['fact_events']['p95_s'])} "
                 f"at {out['achieved_events_per_s'] or 0:,.0f} events/s over {len(runs)} transform runs; {out['errors']} "
                 f"POST errors, {out['posts_not_in_fact_events']} POSTs never in fact_events")  # fmt: skip
        return out


def _brief(run: dict[str, Any]) -> dict[str, Any]:
    """A transform run for the JSON: measurements, the top steps, no per-event detail."""
    keep = ("tag", "kind", "size", "history_events", "status", "run_id", "run_wall_s", "process_wall_s", "startup_s",
            "peak_rss_bytes", "peak_rss_by_process", "fact_events_rows", "expected_rows", "rows_match", "steps",
            "dbt_models", "dbt_overhead", "error", "fresh_posts_visible", "started_at", "ended_at")  # fmt: skip
    out = {k: run[k] for k in keep if k in run}
    out["top_steps"] = top_steps(run)
    return out


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else value


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:,.0f} MB"


def _head(body: bytes, n: int) -> tuple[bytes, int]:
    """The first ``n`` lines of an NDJSON body, and the distinct valid events among them."""
    import data_processor_rs as dp
    import pyarrow as pa

    from eventlake import contracts

    lines = body.split(b"\n")[:n]
    head = b"\n".join(lines) + b"\n"
    result = dp.process(head, "ndjson", contracts.validation_schema_json("events"), contracts.transform_rules_json("events"),
                        seen=None)  # fmt: skip
    return head, pa.table(result.valid).num_rows


# -- the command ---------------------------------------------------------------------------------
def write_outputs(summary: dict[str, Any], out: Path, started: datetime) -> tuple[Path, Path]:
    """pipeline-<UTC stamp>.json/.png, copied to pipeline-latest.json/.png."""
    from eventlake.bench import pipeline_report

    return common.write_outputs(summary, out, started, "pipeline", pipeline_report.chart)


def run(args: argparse.Namespace) -> int:
    from eventlake.bench import pipeline_report

    if getattr(args, "transform_child", None):
        return transform_child(*args.transform_child)
    for noisy in ("httpx", "httpcore", "eventlake", "pyiceberg"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    console = common.bench_console()
    cfg = _config(args)
    out: Path = cfg["out"]
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    wall0 = time.monotonic()
    machine = machine_info()
    work = out / f"pipeline-work-{started.strftime('%Y%m%dT%H%M%SZ')}"
    work.mkdir(parents=True, exist_ok=True)
    phases = cfg["phases"]
    console.print(
        f"[bold]eventlake bench pipeline[/]: phases {', '.join(phases) or 'none'}; history {cfg['events']:,} events, "
        f"measured at {', '.join(f'{s:,}' for s in cfg['sizes'])}; {machine['cores']} cores ({machine['cpu_model']}), "
        f"load average {machine['load_average_at_start'][0]:.2f}",
        highlight=False,
    )
    if machine["load_average_at_start"][0] > 0.5 * (machine["cores"] or 1):
        console.print("[yellow]the machine is busy (load average above half the cores): results will be noisy[/]")
    console.print(f"[dim]work directory (EVENTLAKE_HOME, logs): {work}[/]", highlight=False)

    bench = Bench(cfg, console, work)
    results: dict[str, Any] = {}
    failed: str | None = None
    per_size: list[dict[str, Any]] = []
    try:
        console.rule("[bold]history, full and incremental transforms[/]")
        t0 = time.monotonic()
        history = bench.start_history()
        for size in cfg["sizes"]:
            entry: dict[str, Any] = {"size": size}
            per_size.append(entry)
            if history.events < size:
                entry["build"] = bench.grow(size)
            entry["history_events"] = history.events
            # incremental runs start from a full build; so does freshness (once, at the last size)
            if "full" in phases or "incremental" in phases or ("freshness" in phases and size == cfg["sizes"][-1]):
                full = bench.full(size)
                entry["full"] = _brief(full)
            if "incremental" in phases:
                runs = bench.incremental(size)
                walls = [r["run_wall_s"] for r in runs if r["run_wall_s"] is not None]
                entry["incremental"] = {
                    "events_per_run": cfg["incremental_events"],
                    "runs": [_brief(r) for r in runs],
                    "run_wall_s": {"p50": median(walls), "max": max(walls, default=None)},
                    "process_wall_s": {"p50": median([r["process_wall_s"] for r in runs]),
                                       "max": max(r["process_wall_s"] for r in runs)},  # fmt: skip
                    "peak_rss_bytes": max((r["peak_rss_bytes"] or 0 for r in runs), default=None),
                    "rows_match": all(r["rows_match"] for r in runs),
                }
        h = bench.history
        results["history"] = {
            "how": "generated bodies of events (users with history and products published first; ~1% invalid, ~2% "
            "duplicates; event timestamps over ~3 days per body, bodies shifted 3 days apart) published to the local "
            "stream as the API publishes a request, drained into Iceberg by Consumer(settings).drain() in this process "
            f"with its clock set back so that ingested_at runs over the {HISTORY_SPAN.days} days before the run as the "
            "history grows (as if it had arrived over those days; the incremental models' watermarks see a history, "
            "not one load of minutes ago); the incremental and freshness events are ingested at the real time",
            "events": h.events,
            "distinct_valid_events": h.valid,
            "users_rows": h.users_rows,
            "products_rows": h.products_rows,
            "templates": [{"events": t.events, "valid": t.valid, "invalid": t.invalid, "duplicates": t.duplicates}
                          for t in h.templates],  # fmt: skip
            "build": h.build,
            "seconds": time.monotonic() - t0,
        }
        results["sizes"] = per_size
        if "freshness" in phases:
            console.rule("[bold]freshness[/]")
            t0 = time.monotonic()
            results["freshness"] = bench.freshness()
            results["freshness"]["phase_wall_seconds"] = time.monotonic() - t0
    except Exception as exc:  # noqa: BLE001 - report what was measured before it broke
        log.debug("pipeline bench failed", exc_info=True)
        failed = f"{type(exc).__name__}: {exc}"
        console.print(f"[red]FAILED: {failed}[/]", highlight=False)
        results.setdefault("sizes", per_size)
    finally:
        if bench.history is not None:
            bench.history.publisher.close()
    failures = list(bench.failures) + ([failed] if failed else [])
    skipped = {p: "not in --only" for p in PHASES if p not in phases}
    summary: dict[str, Any] = {
        **common.start_summary("eventlake bench pipeline", started, cfg, work, machine),
        "transform": "transform_job of build_definitions(env='LOCAL', home=HOME), execute_in_process on an instance "
        "under HOME/dagster, in a child process; wall = the Dagster run (RUN_START to RUN_SUCCESS), process wall adds "
        "the child's start, imports and build_definitions; peak RSS = the peak of the summed RSS of the child and "
        "its descendants (dbt), sampled every 100 ms",
        "phases": results,
        "skipped": skipped,
        "failures": failures,
    }
    summary["goals"] = pipeline_report.goals(summary, GOALS)
    summary["where_the_time_went"] = pipeline_report.where_the_time_went(summary)
    common.finish_summary(summary, failures, wall0)

    console.print()
    pipeline_report.print_results(console, summary)
    pipeline_report.print_goals(console, summary["goals"])
    pipeline_report.print_where(console, summary["where_the_time_went"])
    outputs = write_outputs(summary, out, started)
    return common.finish_run(console, summary, failures, outputs, work, keep=bool(cfg["keep"] or failures))


def main(argv: list[str] | None = None) -> int:
    return common.bench_main(
        argv,
        "python -m eventlake.bench.pipeline",
        "Benchmark the transform on a growing history (full and incremental transform_job runs: wall "
        "time, peak RSS) and freshness from POST to Iceberg and to fact_events under a steady stream.",
        add_arguments,
        run,
    )


if __name__ == "__main__":
    sys.exit(main())
