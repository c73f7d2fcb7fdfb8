"""``eventlake bench ingest``: the ingest path, end to end, against the real API.

Sections, each selectable with ``--only``:

``post``
    Single-event POSTs (``application/json``, one event object) on
    ``--connections`` keep-alive connections, closed loop, for ``--duration``
    seconds: requests/s, p50/p99 latency, errors. First against ``eventlake
    api``, then against a bare FastAPI endpoint that only parses the JSON body
    and answers 202 (``eventlake.bench.bare_api``), served as the API is (uvicorn
    workers per core, no access log): the framework ceiling the API is compared with.
``batched``
    NDJSON bodies of ``--batch-events`` events from ``--batch-clients``
    concurrent clients, ``--events`` events in all: events/s. What they publish
    is the backlog the ``drain`` section consumes.
``drain``
    The backlog drained into Iceberg by 1, 2 and 4 ``eventlake consume``
    processes (each count gets its own copy of the same backlog), stopped once
    every job is COMPLETED: events/s, next to ``data_processor_rs.process()``
    alone, called in this process on the chunks the API published. The rows in
    ``raw.events`` must equal the events posted.
``freshness``
    POSTs of ``--freshness-batch`` events paced to a steady ``--freshness-rate``
    events/s for ``--freshness-seconds`` while ``eventlake consume`` runs:
    per request, seconds from sending the POST to its job COMPLETED in the job
    store (p50, p95).
``soak``
    Single-event POSTs paced to ``--soak-rate`` requests/s for
    ``--soak-seconds``: errors, and the API's RSS at the start and the end.

Every server and consumer is a child process on a free port with a fresh
EVENTLAKE_HOME under ``<out>/ingest-work-<stamp>/`` (local stream, SQLite job
store and catalog: the children see no other EVENTLAKE_* variable), deleted at
the end unless ``--keep``. Load comes from ``wrk`` when installed, else from an
asyncio fallback client (``eventlake.bench.loadgen``), which the output says.
Goals are printed PASS/MISS, never asserted; the exit code is 1 only when a
section could not run or the drained rows do not match the events posted.

    eventlake bench ingest --events 200000 --soak-seconds 30
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventlake.bench import common
from eventlake.bench.common import _count, _count_list, _seconds, machine_info, median

log = logging.getLogger("eventlake.bench.ingest")

SECTIONS = ("post", "batched", "drain", "freshness", "soak")
DEFAULT_EVENTS = 1_000_000
QUICK_EVENTS = 100_000
API_KEY = "bench-ingest-key"
INGEST_PATH = "/api/v1/ingest?dataset=events"
#: ``eventlake api`` and the bare endpoint both run one uvicorn worker per core (at most 4).
SERVER_WORKERS = max(1, min(4, os.cpu_count() or 1))
READY_TIMEOUT_S = 120
STOP_TIMEOUT_S = 15
PROCESS_RUNS = 3
FRESHNESS_WAIT_S = 60.0  # after the last POST, for the last jobs to complete
GEN_PIECE = 100_000  # events per eventlake.generate call (each with its own seed)

#: The product's targets on a 2-core machine.
GOALS = {
    "post_requests_per_s": 5_000,
    "post_p99_ms": 50.0,
    "post_share_of_bare": 0.5,
    "batched_events_per_s": 500_000,
    "drain_events_per_s": 200_000,
    "drain_share_of_process": 0.5,
    "freshness_p95_s": 2.0,
    "soak_rss_growth_share": 0.10,
    "soak_rss_growth_bytes": 20_000_000,
    "soak_rate_share": 0.95,
}


class SectionError(RuntimeError):
    """A section could not run (a server did not start, a consumer died, a timeout)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_only_argument(parser, SECTIONS, "sections",
                             "drain builds its backlog with batched POSTs even when batched is not selected")  # fmt: skip
    parser.add_argument(
        "--events", type=_count, metavar="N", default=None,
        help=f"events POSTed as batched NDJSON and then drained into Iceberg (default {DEFAULT_EVENTS:,}; 20000, 200k, 1M accepted)",
    )  # fmt: skip
    parser.add_argument("--duration", type=_seconds, metavar="SECONDS", default=None,
                        help="seconds of each closed-loop single-event load phase, API and bare endpoint (default 15; 5 with --quick)")  # fmt: skip
    parser.add_argument("--warmup", type=_seconds, metavar="SECONDS", default=2.0,
                        help="seconds of load before each measured single-event phase, not recorded (default 2; 0 = none)")  # fmt: skip
    parser.add_argument("--connections", type=int, metavar="N", default=64,
                        help="concurrent keep-alive connections of the single-event phases and the soak (default 64)")  # fmt: skip
    parser.add_argument("--batch-events", type=_count, metavar="N", default=100_000,
                        help="events per NDJSON body of the batched section (default 100k; the API refuses bodies over EVENTLAKE_MAX_BODY_BYTES, 32 MiB)")  # fmt: skip
    parser.add_argument("--batch-clients", type=int, metavar="N", default=4,
                        help="concurrent clients POSTing the batched bodies (default 4)")  # fmt: skip
    parser.add_argument("--consumers", type=_count_list, metavar="COUNTS", default=[1, 2, 4],
                        help="comma list of consumer counts the backlog is drained with, one fresh copy each (default 1,2,4)")  # fmt: skip
    common.add_freshness_arguments(parser, "section", rate=5_000, seconds=None, seconds_help="default 30; 10 with --quick")
    parser.add_argument("--soak-rate", type=_count, metavar="REQUESTS_PER_S", default=2_000,
                        help="single-event requests/s the soak paces to (default 2000)")  # fmt: skip
    parser.add_argument("--soak-seconds", type=_seconds, metavar="SECONDS", default=None,
                        help="length of the soak (default 300, i.e. 5 minutes; 30 with --quick; 0 skips the soak; 90s, 5m accepted)")  # fmt: skip
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator of the single-event phases and the soak: wrk (apt-get install -y wrk), the "
                        "asyncio fallback client, or auto = wrk when on PATH, else the fallback (default auto)")  # fmt: skip
    parser.add_argument("--chaos", type=float, metavar="MINUTES", default=None,
                        help="instead of the benchmark: a chaos soak of MINUTES. Producers keep POSTing while an API and two "
                        "consumers are killed (SIGKILL) or paused past their lease (SIGSTOP) at random and restarted; "
                        "then every acknowledged job is reconciled (each event exactly once, counts, positions). "
                        "Exit code 1 when anything does not reconcile.")  # fmt: skip
    common.add_output_arguments(parser, "ingest", work="every EVENTLAKE_HOME, server and consumer logs")
    parser.add_argument("--quick", action="store_true",
                        help=f"short run: {QUICK_EVENTS:,} events, 5 s load phases, 10 s freshness, 30 s soak "
                        "(unless the options say otherwise)")  # fmt: skip


def _config(args: argparse.Namespace) -> dict[str, Any]:
    quick = bool(args.quick)
    cfg = {
        "sections": common.selected(args.only, SECTIONS, "section"),
        "events": args.events if args.events is not None else (QUICK_EVENTS if quick else DEFAULT_EVENTS),
        "duration": args.duration if args.duration is not None else (5.0 if quick else 15.0),
        "warmup": args.warmup,
        "connections": args.connections,
        "batch_events": args.batch_events,
        "batch_clients": args.batch_clients,
        "consumers": args.consumers,
        "freshness_rate": args.freshness_rate,
        "freshness_batch": args.freshness_batch,
        "freshness_seconds": args.freshness_seconds if args.freshness_seconds is not None else (10.0 if quick else 30.0),
        "soak_rate": args.soak_rate,
        "soak_seconds": args.soak_seconds if args.soak_seconds is not None else (30.0 if quick else 300.0),
        "client": args.client,
        **common.output_config(args),
        "quick": quick,
        "server_workers": SERVER_WORKERS,
    }
    positive = ("events", "duration", "connections", "batch_events", "batch_clients", "freshness_rate",
                "freshness_batch", "freshness_seconds", "soak_rate")  # fmt: skip
    bad = [name for name in positive if cfg[name] <= 0]
    if bad or cfg["warmup"] < 0 or cfg["soak_seconds"] < 0 or not cfg["consumers"] or min(cfg["consumers"]) < 1:
        raise SystemExit("--events, --duration, --connections, --batch-*, --freshness-* and --soak-rate must be positive, "
                         "--warmup and --soak-seconds at least 0, --consumers a list of counts of at least 1")  # fmt: skip
    return cfg


# -- child processes ---------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventlake_cmd(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "eventlake"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "eventlake.cli", *args]


#: settings every child gets on top of its fresh home (the chaos soak shortens the lease period)
CHILD_SETTINGS: dict[str, str] = {}


def child_env(home: Path) -> dict[str, str]:
    """The environment of a server or consumer: a fresh home, local backends, the bench key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLAKE_")}
    env.update(EVENTLAKE_HOME=str(home), EVENTLAKE_API_KEYS=API_KEY, PYTHONUNBUFFERED="1", **CHILD_SETTINGS)
    return env


def home_settings(home: Path):
    """Settings for one of the bench's homes, whatever EVENTLAKE_* this process has."""
    from eventlake.settings import Settings

    return Settings(
        _env_file=None, home=home, env="LOCAL", api_keys=[API_KEY], job_db_url=None, stream="local",
        catalog_type="sql", catalog_uri=None, warehouse=None, s3_endpoint_url=None, glue_endpoint_url=None,
        duckdb_path=None,
    )  # fmt: skip


@dataclass
class Child:
    """A server or consumer process in its own process group, its output in ``log_path``."""

    name: str
    proc: subprocess.Popen
    log_path: Path
    started: float
    port: int | None = None
    watch: tuple[str, ...] = ()
    marks: list[tuple[float, str]] = field(default_factory=list)  # (arrival time, line) of watched lines
    reader: threading.Thread | None = None
    signalled: bool = False  # SIGTERM sent

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def rss(self) -> int | None:
        try:
            import psutil

            return psutil.Process(self.proc.pid).memory_info().rss
        except Exception:  # psutil missing or process gone: fall back to /proc
            try:
                for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
            except OSError:
                return None
        return None

    def log_tail(self, lines: int = 8) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise SectionError(f"{self.name} exited with code {self.proc.returncode}: {self.log_tail()}")

    def first_mark(self, *needles: str) -> float | None:
        hits = [t for t, line in self.marks if all(n in line for n in needles)]
        return min(hits) if hits else None


def _logged_at(line: str, fallback: float) -> float:
    """The time a log line was written, from its ``asctime`` (eventlake.cli's format, local time,
    milliseconds); the time it was read when it has none."""
    try:
        return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    except ValueError:
        return fallback


def spawn(name: str, cmd: list[str], home: Path, log_path: Path, port: int | None = None, watch: tuple[str, ...] = ()) -> Child:
    """Start a child. Watched children are read through a pipe (lines holding a ``watch`` string are
    time-stamped as they arrive); the others write straight to their log file."""
    home.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handle = log_path.open("ab")
    out = subprocess.PIPE if watch else handle
    proc = subprocess.Popen(cmd, cwd=home, env=child_env(home), stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    child = Child(name, proc, log_path, time.time(), port, watch)
    if watch:

        def read() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                now = time.time()
                handle.write(raw)
                line = raw.decode("utf-8", "replace")
                if any(w in line for w in watch):
                    child.marks.append((_logged_at(line, now), line))
            handle.close()

        child.reader = threading.Thread(target=read, name=f"read-{name}", daemon=True)
        child.reader.start()
    else:
        handle.close()
    return child


def terminate(children: list[Child]) -> None:
    """SIGTERM to each child's process group (once), without waiting."""
    for child in children:
        if child.proc.poll() is None and not child.signalled:
            child.signalled = True
            try:
                os.killpg(child.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def stop(children: list[Child], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM to each child's process group, then SIGKILL to those still running after ``timeout``."""
    terminate(children)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s: killing it", child.name, timeout)
            try:
                os.killpg(child.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.proc.wait()
        if child.reader is not None:
            child.reader.join(timeout=5)


def wait_http(child: Child, timeout: float = READY_TIMEOUT_S) -> float:
    """Seconds until the server answers HTTP at all (any status)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        child.check_alive()
        try:
            httpx.get(child.url("/__bench_ready__"), timeout=1.0)
            return time.time() - child.started
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SectionError(f"{child.name} did not answer HTTP within {timeout:.0f} s: {child.log_tail()}")


def start_api(home: Path, logs: Path, name: str = "api") -> Child:
    port = free_port()
    child = spawn(name, eventlake_cmd("api", "--port", str(port)), home, logs / f"{name}.log", port)
    wait_http(child)
    return child


def start_bare(home: Path, logs: Path) -> Child:
    port = free_port()
    cmd = [sys.executable, "-m", "eventlake.bench.bare_api", "--port", str(port)]
    child = spawn("bare", cmd, home, logs / "bare.log", port)
    wait_http(child)
    return child


CONSUMER_READY = "consuming "  # eventlake.cli: "consuming local stream 'eventlake-ingest'; Ctrl-C to stop"
LEASE_TAKEN = ("lease", "taken")  # eventlake.leases: "lease stream:... taken by ... at epoch N"
COMMITTED = "committed "  # eventlake.committer: "committed {summary}"


def start_consumers(count: int, home: Path, logs: Path, tag: str) -> list[Child]:
    return [
        spawn(f"consumer-{tag}-{i + 1}", eventlake_cmd("consume"), home, logs / f"consumer-{tag}-{i + 1}.log",
              watch=(CONSUMER_READY, "taken", COMMITTED, "Traceback"))  # fmt: skip
        for i in range(count)
    ]


def wait_consumer_ready(children: list[Child], timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children:
            child.check_alive()
        if all(child.first_mark(CONSUMER_READY) for child in children):
            return
        time.sleep(0.05)
    raise SectionError(f"consumers not ready within {timeout:.0f} s: {children[0].log_tail()}")


# -- data --------------------------------------------------------------------------------
def single_event(seed: int) -> bytes:
    import orjson

    from eventlake.generate import generate

    return orjson.dumps(generate(events=1, users=1, products=1, invalid_rate=0.0, duplicate_rate=0.0, seed=seed).events[0])


def ndjson_client():
    """An httpx.AsyncClient for NDJSON POSTs to the API under test (``async with``)."""
    import httpx

    # room for stalled answers: a POST waiting for a free connection would be sent late
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=64)
    headers = {"X-API-Key": API_KEY, "Content-Type": "application/x-ndjson"}
    return httpx.AsyncClient(timeout=30, limits=limits, headers=headers)


def ndjson_bodies(total: int, per_body: int, seed: int, progress: Callable[[int], None] | None = None) -> list[tuple[bytes, int]]:
    """``total`` valid, distinct events from ``eventlake.generate`` as NDJSON bodies of ``per_body`` events.

    The generator is called for pieces of up to 100k events, each with its own
    seed (event ids ``e-<seed>-<n>`` stay distinct across pieces).
    """
    import orjson

    from eventlake.generate import generate

    bodies: list[tuple[bytes, int]] = []
    pending: list[bytes] = []
    made = piece = 0
    while made < total:
        n = min(GEN_PIECE, total - made)
        data = generate(events=n, users=200, products=50, invalid_rate=0.0, duplicate_rate=0.0, seed=seed * 10_000 + piece)
        for event in data.events:
            pending.append(orjson.dumps(event) + b"\n")
            if len(pending) == per_body:
                bodies.append((b"".join(pending), per_body))
                pending = []
        made += n
        piece += 1
        if progress is not None:
            progress(n)
    if pending:
        bodies.append((b"".join(pending), len(pending)))
    return bodies


# -- statistics ----------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile, q in [0, 1]."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# -- progress ------------------------------------------------------------------------------
def _progress(console):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)  # fmt: skip


def timed(console, label: str, seconds: float, fn: Callable[[], Any], on_tick: Callable[[], None] | None = None) -> Any:
    """Run ``fn`` in a thread while a bar counts the expected ``seconds``; returns its result."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=target, name="bench-phase", daemon=True)
    with _progress(console) as progress:
        task = progress.add_task(label, total=max(1, round(seconds)))
        started = time.monotonic()
        thread.start()
        while thread.is_alive():
            thread.join(timeout=0.25)
            progress.update(task, completed=min(round(seconds), round(time.monotonic() - started)))
            if on_tick is not None:
                on_tick()
    if "error" in box:
        raise box["error"]
    return box["result"]


# -- the benchmark --------------------------------------------------------------------------
class Bench:
    def __init__(self, cfg: dict[str, Any], console, work: Path, client: str, client_note: str | None) -> None:
        self.cfg = cfg
        self.console = console
        self.work = work
        self.client = client
        self.client_note = client_note
        self.backlog: dict[str, Any] | None = None  # the batched section's home, once posted
        self.log_dir = work / "logs"

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False)

    # -- post --------------------------------------------------------------------------
    def load(self, child: Child, label: str, duration: float, rate: float | None = None, warmup: float = 0.0,
             on_tick: Callable[[], None] | None = None) -> dict[str, Any]:  # fmt: skip
        from eventlake.bench import loadgen

        spec = loadgen.LoadSpec(
            url=child.url(INGEST_PATH),
            body=single_event(self.cfg["seed"]),
            headers={"Content-Type": "application/json", "X-API-Key": API_KEY},
            connections=self.cfg["connections"],
            duration=duration,
            rate=rate,
        )
        if warmup > 0:
            warm = loadgen.LoadSpec(**{**spec.__dict__, "duration": warmup})
            timed(self.console, f"{label}: warm-up", warmup, lambda: loadgen.run(warm, self.client, self.work / "load"))
        return timed(self.console, label, duration, lambda: loadgen.run(spec, self.client, self.work / "load"), on_tick)

    def section_post(self) -> dict[str, Any]:
        cfg = self.cfg
        out: dict[str, Any] = {
            "how": f"one event object per POST (application/json), {cfg['connections']} connections, closed loop, "
            f"{cfg['duration']:g} s after {cfg['warmup']:g} s of warm-up, load by {self.client}",
            "connections": cfg["connections"],
            "duration_s": cfg["duration"],
        }
        for target in ("api", "bare"):
            home = self.work / f"post-{target}"
            server = start_api(home, self.log_dir) if target == "api" else start_bare(home, self.log_dir)
            try:
                what = "eventlake api" if target == "api" else "bare FastAPI endpoint"
                result = self.load(server, f"post: {what}, {cfg['connections']} connections", cfg["duration"], warmup=cfg["warmup"])
                result["rss_bytes_at_end"] = server.rss()
            finally:
                stop([server])
            out[target] = result
            lat = result["latency_ms"]
            self.say(f"  post {what}: {result['requests_per_s'] or 0:,.0f} requests/s, p50 {_ms(lat['p50'])}, "
                     f"p99 {_ms(lat['p99'])}, {result['errors']} errors")  # fmt: skip
        api, bare = out["api"]["requests_per_s"], out["bare"]["requests_per_s"]
        out["api_share_of_bare"] = api / bare if api and bare else None
        return out

    # -- batched -----------------------------------------------------------------------
    def post_backlog(self) -> dict[str, Any]:
        """POST ``--events`` events as NDJSON bodies to a fresh API; keeps the home as the drain backlog."""
        import httpx

        cfg = self.cfg
        with _progress(self.console) as progress:
            task = progress.add_task(f"generating {cfg['events']:,} events", total=cfg["events"])
            bodies = ndjson_bodies(cfg["events"], cfg["batch_events"], cfg["seed"], lambda n: progress.advance(task, n))
        total_bytes = sum(len(b) for b, _ in bodies)
        home = self.work / "backlog"
        server = start_api(home, self.log_dir, "api-batched")
        results: list[dict[str, Any]] = []
        lock = threading.Lock()
        queue = list(range(len(bodies)))
        clients = max(1, min(cfg["batch_clients"], len(bodies)))

        def worker(on_done: Callable[[int], None]) -> None:
            with httpx.Client(timeout=600, headers={"X-API-Key": API_KEY, "Content-Type": "application/x-ndjson"}) as client:
                while True:
                    with lock:
                        if not queue:
                            return
                        i = queue.pop(0)
                    body, count = bodies[i]
                    t0 = time.perf_counter()
                    try:
                        response = client.post(server.url(INGEST_PATH), content=body)
                        status, job_id = response.status_code, (response.json().get("job_id") if response.status_code == 202 else None)
                    except (httpx.HTTPError, ValueError) as exc:
                        status, job_id = f"error: {type(exc).__name__}", None
                    with lock:
                        results.append({"events": count, "status": status, "seconds": time.perf_counter() - t0, "job_id": job_id})
                    on_done(count)

        try:
            with _progress(self.console) as progress:
                task = progress.add_task(
                    f"batched: {len(bodies)} NDJSON bodies of up to {cfg['batch_events']:,} events, {clients} clients",
                    total=cfg["events"],
                )
                started = time.perf_counter()
                threads = [threading.Thread(target=worker, args=(lambda n: progress.advance(task, n),)) for _ in range(clients)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                seconds = time.perf_counter() - started
            rss = server.rss()
        finally:
            stop([server])
        accepted = [r for r in results if r["status"] == 202]
        codes: dict[str, int] = {}
        for r in results:
            codes[str(r["status"])] = codes.get(str(r["status"]), 0) + 1
        events = sum(r["events"] for r in accepted)
        out = {
            "how": f"NDJSON bodies of up to {cfg['batch_events']:,} events (application/x-ndjson), {clients} concurrent "
            "clients (httpx), each POSTing the next body when its previous one was answered",
            "events": cfg["events"],
            "bodies": len(bodies),
            "batch_events": cfg["batch_events"],
            "clients": clients,
            "body_bytes": total_bytes,
            "seconds": seconds,
            "events_accepted": events,
            "events_per_s": events / seconds if seconds else None,
            "mb_per_s": total_bytes / 1e6 / seconds if seconds else None,
            "request_seconds": {"p50": percentile([r["seconds"] for r in results], 0.5), "max": max((r["seconds"] for r in results), default=None)},
            "status_codes": codes,
            "errors": len(results) - len(accepted),
            "rss_bytes_at_end": rss,
        }
        self.backlog = {"home": home, "events": events, "jobs": len(accepted), "posting": out}
        self.say(f"  batched: {out['events_per_s'] or 0:,.0f} events/s ({out['mb_per_s'] or 0:.0f} MB/s), {out['errors']} errors")
        return out

    # -- drain -------------------------------------------------------------------------
    def published_chunks(self, home: Path) -> list[tuple[Any, bytes]]:
        """Every chunk the API published to the home's stream, read the way a consumer opens it."""
        from eventlake import envelope
        from eventlake.stream import open_stream

        stream = open_stream(home_settings(home))
        chunks = []
        try:
            for shard in stream.shard_ids():
                after = None
                while True:
                    records = stream.read(shard, after, 1000)
                    if not records:
                        break
                    chunks.extend(envelope.decode(r.data) for r in records)
                    after = records[-1].sequence_number
        finally:
            stream.close()
        return chunks

    def process_alone(self, chunks: list[tuple[Any, bytes]]) -> dict[str, Any]:
        import data_processor_rs as dp
        import pyarrow as pa

        from eventlake import contracts

        schema = contracts.validation_schema_json("events")
        rules = contracts.transform_rules_json("events")
        events = sum(h.record_count for h, _ in chunks)
        runs: list[float] = []
        valid = rejected = 0
        with _progress(self.console) as progress:
            task = progress.add_task(f"drain: data_processor_rs.process() alone on {len(chunks)} chunks, {PROCESS_RUNS} runs",
                                     total=PROCESS_RUNS * len(chunks))  # fmt: skip
            for run in range(PROCESS_RUNS):
                spent = 0.0
                for header, payload in chunks:
                    t0 = time.perf_counter()
                    result = dp.process(payload, header.format, schema, rules, seen=None)
                    spent += time.perf_counter() - t0
                    if run == 0:
                        valid += pa.table(result.valid).num_rows
                        rejected += pa.table(result.rejected).num_rows
                    progress.advance(task)
                runs.append(spent)
        secs = median(runs)
        return {
            "how": "data_processor_rs.process(chunk, 'ndjson', validation_schema_json('events'), "
            "transform_rules_json('events'), seen=None) on every chunk the API published, in this process, "
            f"median of {PROCESS_RUNS} runs; only the process() calls are timed",
            "chunks": len(chunks),
            "events": events,
            "payload_bytes": sum(len(p) for _, p in chunks),
            "seconds": secs,
            "seconds_per_run": runs,
            "events_per_s": events / secs if secs else None,
            "valid_rows": valid,
            "rejected_rows": rejected,
        }

    def drain_once(self, consumers: int, backlog: dict[str, Any]) -> dict[str, Any]:
        from eventlake import lake
        from eventlake.state.ingestion_jobs import IngestionJobStore

        home = self.work / f"drain-{consumers}c"
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(backlog["home"], home)
        settings = home_settings(home)
        jobs = IngestionJobStore(settings.job_db)
        total_jobs = jobs.metrics()["jobs_total"]
        events = backlog["events"]
        timeout = 120 + events / 2_000
        children = start_consumers(consumers, home, self.log_dir, f"drain{consumers}")
        started = time.time()
        metrics: dict[str, Any] = {}
        try:
            with _progress(self.console) as progress:
                task = progress.add_task(f"drain: {consumers} consumer(s), {events:,} events", total=events)
                while True:
                    metrics = jobs.metrics()
                    by_status = metrics["jobs_by_status"]
                    progress.update(task, completed=metrics["records_accepted"] + metrics["records_rejected"] + metrics["records_duplicates"])
                    if by_status["COMPLETED"] >= total_jobs:
                        break
                    if by_status["FAILED"] and by_status["COMPLETED"] + by_status["FAILED"] >= total_jobs:
                        raise SectionError(f"{by_status['FAILED']} of {total_jobs} jobs FAILED while draining")
                    for child in children:
                        child.check_alive()
                    if time.time() - started > timeout:
                        raise SectionError(f"drain with {consumers} consumer(s) not done after {timeout:.0f} s: {by_status}")
                    time.sleep(0.1)
        except BaseException:
            stop(children)
            raise
        finally:
            jobs.close()
        terminate(children)  # they wind down (a stand-by consumer sleeps up to 5 s) while the rows are counted
        finished = datetime.fromisoformat(metrics["last_completed_at"]).timestamp()
        lease = [t for c in children if (t := c.first_mark(*LEASE_TAKEN)) is not None]
        ready = [t for c in children if (t := c.first_mark(CONSUMER_READY)) is not None]
        if lease:
            work_started, marker = min(lease), "the first consumer took the stream lease (log line)"
        elif ready:
            work_started, marker = min(ready), "the first consumer logged that it is consuming"
        else:
            work_started, marker = started, "the consumer processes were started"
        tables = lake.ensure_tables(lake.load_catalog(settings))
        rows = tables["events"].scan(selected_fields=("event_id",)).to_arrow().num_rows
        rejected_rows = tables["rejected_records"].scan(selected_fields=("job_id",)).to_arrow().num_rows
        stop(children)
        seconds = finished - work_started
        with_startup = finished - started
        result = {
            "consumers": consumers,
            "events": events,
            "seconds": seconds,
            "seconds_with_startup": with_startup,
            "events_per_s": events / seconds if seconds > 0 else None,
            "events_per_s_with_startup": events / with_startup if with_startup > 0 else None,
            "timed_from": marker,
            "startup_seconds": work_started - started,
            "rows_in_iceberg": rows,
            "rejected_rows_in_iceberg": rejected_rows,
            "rows_match": rows == events,
            "jobs": total_jobs,
            "commits_per_consumer": [sum(1 for _, line in c.marks if COMMITTED in line) for c in children],
            "tracebacks_per_consumer": [sum(1 for _, line in c.marks if "Traceback" in line) for c in children],
            "exit_codes": [c.proc.returncode for c in children],
        }
        if not self.cfg["keep"]:
            shutil.rmtree(home, ignore_errors=True)
        return result

    def section_drain(self) -> dict[str, Any]:
        backlog = self.backlog
        built_here = backlog is None
        if built_here:
            self.say("  drain: building the backlog with batched NDJSON POSTs (the batched section is not selected)")
            self.post_backlog()
            backlog = self.backlog
        assert backlog is not None
        if backlog["posting"]["errors"]:
            raise SectionError(f"the backlog is incomplete: {backlog['posting']['errors']} batched POSTs failed")
        chunks = self.published_chunks(backlog["home"])
        alone = self.process_alone(chunks)
        del chunks
        self.say(f"  drain: process() alone {alone['events_per_s'] or 0:,.0f} events/s over {alone['chunks']} chunks")
        runs = []
        for n in self.cfg["consumers"]:
            run = self.drain_once(n, backlog)
            runs.append(run)
            rate = run["events_per_s"] or 0
            self.say(
                f"  drain: {n} consumer(s): {rate:,.0f} events/s ({run['seconds']:.2f} s; {run['seconds_with_startup']:.2f} s "
                f"with process start), {run['rows_in_iceberg']:,} rows in raw.events"
                + ("" if run["rows_match"] else f" [red]!= {run['events']:,} events posted[/]")
            )
        ok = [r for r in runs if r["events_per_s"]]
        best = max(ok, key=lambda r: r["events_per_s"]) if ok else None
        one = next((r for r in runs if r["consumers"] == 1), None)
        for r in runs:
            r["share_of_process"] = r["events_per_s"] / alone["events_per_s"] if r["events_per_s"] and alone["events_per_s"] else None
            r["vs_one_consumer"] = r["events_per_s"] / one["events_per_s"] if one and r["events_per_s"] and one["events_per_s"] else None
        return {
            "how": "the batched section's backlog (stream + job store, no Iceberg rows yet), copied once per consumer count; "
            "`eventlake consume` processes started together and stopped (SIGTERM) once every job is COMPLETED; "
            "seconds from the first consumer taking the stream lease to the last job's completed_at",
            "events": backlog["events"],
            "jobs": backlog["jobs"],
            "backlog": None if not built_here else {k: backlog["posting"][k] for k in ("seconds", "events_per_s", "errors")},
            "process_alone": alone,
            "runs": runs,
            "best": None if best is None else {"consumers": best["consumers"], "events_per_s": best["events_per_s"],
                                               "share_of_process": best["share_of_process"]},  # fmt: skip
            "rows_match": all(r["rows_match"] for r in runs),
        }

    # -- freshness ---------------------------------------------------------------------
    def section_freshness(self) -> dict[str, Any]:
        import asyncio

        import httpx
        import orjson

        from eventlake.generate import generate
        from eventlake.state.ingestion_jobs import IngestionJobStore

        cfg = self.cfg
        rate, batch, seconds = cfg["freshness_rate"], cfg["freshness_batch"], cfg["freshness_seconds"]
        request_rate = rate / batch
        n_requests = max(1, round(request_rate * seconds))
        events = generate(events=n_requests * batch, users=200, products=50, invalid_rate=0.0, duplicate_rate=0.0,
                          seed=cfg["seed"] * 10_000 + 9_999).events  # fmt: skip
        bodies = [b"".join(orjson.dumps(e) + b"\n" for e in events[i * batch:(i + 1) * batch]) for i in range(n_requests)]
        del events
        home = self.work / "freshness"
        server = start_api(home, self.log_dir, "api-freshness")
        consumers: list[Child] = []
        sent: list[dict[str, Any]] = []
        try:
            consumers = start_consumers(1, home, self.log_dir, "freshness")
            with self.console.status("freshness: waiting for `eventlake consume` to start"):
                wait_consumer_ready(consumers)

            async def pace() -> float:
                async with ndjson_client() as client:

                    async def one(i: int) -> None:
                        t_sent = time.time()
                        t0 = time.perf_counter()
                        try:
                            response = await client.post(server.url(INGEST_PATH), content=bodies[i])
                            status = response.status_code
                            job_id = response.json().get("job_id") if status == 202 else None
                        except (httpx.HTTPError, ValueError) as exc:
                            status, job_id = f"error: {type(exc).__name__}", None
                        sent.append({"i": i, "sent": t_sent, "status": status, "job_id": job_id,
                                     "post_seconds": time.perf_counter() - t0})  # fmt: skip

                    return await common.paced(n_requests, request_rate, one)

            send_seconds = timed(
                self.console,
                f"freshness: {rate:,} events/s as {request_rate:,.0f} POSTs/s of {batch} events",
                seconds,
                lambda: asyncio.run(pace()),
                on_tick=lambda: consumers[0].check_alive(),
            )
            accepted = {r["job_id"]: r for r in sent if r["status"] == 202}
            jobs = IngestionJobStore(home_settings(home).job_db)
            try:
                deadline = time.monotonic() + FRESHNESS_WAIT_S
                with _progress(self.console) as progress:
                    task = progress.add_task("freshness: waiting for the last jobs to complete", total=len(accepted))
                    while True:
                        done = jobs.metrics()["jobs_by_status"]["COMPLETED"]
                        progress.update(task, completed=done)
                        if done >= len(accepted) or time.monotonic() > deadline:
                            break
                        consumers[0].check_alive()
                        time.sleep(0.1)
                completed = {j.job_id: j for j in jobs.list_jobs(limit=len(accepted) + 10, status="COMPLETED")}
            finally:
                jobs.close()
        finally:
            stop(consumers + [server])
        fresh = sorted(completed[j].completed_at.timestamp() - r["sent"] for j, r in accepted.items() if j in completed)
        # a job that never completed counts as infinitely stale: percentiles cover every accepted POST
        every = fresh + [math.inf] * (len(accepted) - len(fresh))
        posts = [r["post_seconds"] for r in sent]

        def finite(value: float | None) -> float | None:
            return None if value is None or math.isinf(value) else value

        out = {
            "how": f"{n_requests} POSTs of {batch} NDJSON events, paced to {request_rate:g}/s (open loop: a slow answer "
            "does not delay the next POST) with `eventlake consume` running; freshness = the job's completed_at "
            "(job store) minus the time the POST was sent",
            "target_events_per_s": rate,
            "batch_events": batch,
            "requests": n_requests,
            "requests_accepted": len(accepted),
            "errors": n_requests - len(accepted),
            "send_seconds": send_seconds,  # first POST sent to one interval after the last was sent
            "achieved_events_per_s": len(accepted) * batch / send_seconds if send_seconds else None,
            "jobs_completed": len(fresh),
            "jobs_not_completed": len(accepted) - len(fresh),
            "wait_after_sending_s": FRESHNESS_WAIT_S,
            "percentiles_over": "every accepted POST; a job not completed within the wait counts as never fresh (null)",
            "p50_s": finite(percentile(every, 0.50)),
            "p95_s": finite(percentile(every, 0.95)),
            "p99_s": finite(percentile(every, 0.99)),
            "max_s": fresh[-1] if fresh else None,
            "post_p50_s": percentile(posts, 0.50),
            "post_p95_s": percentile(posts, 0.95),
            "post_p99_s": percentile(posts, 0.99),
            "samples_s": [round(v, 4) for v in fresh],
        }
        self.say(f"  freshness: p50 {_s(out['p50_s'])}, p95 {_s(out['p95_s'])} at {out['achieved_events_per_s'] or 0:,.0f} "
                 f"events/s (POST answered: p50 {_s(out['post_p50_s'])}, p95 {_s(out['post_p95_s'])}), {out['errors']} errors, "
                 f"{out['jobs_not_completed']} jobs not completed")  # fmt: skip
        return out

    # -- soak --------------------------------------------------------------------------
    def section_soak(self) -> dict[str, Any]:
        cfg = self.cfg
        home = self.work / "soak"
        server = start_api(home, self.log_dir, "api-soak")
        samples: list[tuple[float, int]] = []
        try:
            rss_start = server.rss()
            t0 = time.monotonic()
            last = [0.0]

            def sample() -> None:
                now = time.monotonic()
                if now - last[0] >= 1.0:
                    last[0] = now
                    rss = server.rss()
                    if rss is not None:
                        samples.append((round(now - t0, 2), rss))

            result = self.load(server, f"soak: {cfg['soak_rate']:,} requests/s for {cfg['soak_seconds']:g} s",
                               cfg["soak_seconds"], rate=cfg["soak_rate"], on_tick=sample)  # fmt: skip
            rss_end = server.rss()
        finally:
            stop([server])
        limit = rss_start * (1 + GOALS["soak_rss_growth_share"]) + GOALS["soak_rss_growth_bytes"] if rss_start else None
        warm = [rss for t, rss in samples if t >= min(10.0, cfg["soak_seconds"] / 10)]
        out = {
            "how": f"one event object per POST, paced to {cfg['soak_rate']:,}/s in total over {cfg['connections']} "
            f"connections, load by {self.client}; RSS of the API process sampled every second",
            "target_requests_per_s": cfg["soak_rate"],
            "asked_seconds": cfg["soak_seconds"],
            **result,
            "achieved_share_of_target": result["requests_per_s"] / cfg["soak_rate"] if result["requests_per_s"] else None,
            "rss_bytes_start": rss_start,
            "rss_bytes_after_warmup": warm[0] if warm else None,
            "rss_bytes_end": rss_end,
            "rss_bytes_limit": limit,
            "rss_growth_bytes": rss_end - rss_start if rss_start and rss_end else None,
            "rss_samples": samples,
        }
        self.say(f"  soak: {result['requests_per_s'] or 0:,.0f} requests/s of {cfg['soak_rate']:,} asked, {result['errors']} errors, "
                 f"RSS {_mb(rss_start)} -> {_mb(rss_end)}")  # fmt: skip
        return out


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:.0f} MB"


def write_outputs(summary: dict[str, Any], out: Path, started: datetime) -> tuple[Path, Path | str]:
    """ingest-<UTC stamp>.json/.png, copied to ingest-latest.json/.png (the PNG only with matplotlib, the
    ``charts`` extra; otherwise the second value says how to get it)."""
    from eventlake.bench import ingest_report

    return common.write_outputs(summary, out, started, "ingest", ingest_report.chart)


def run(args: argparse.Namespace) -> int:
    """The benchmark; exit code 0 when every selected section ran and the drained rows matched."""
    from eventlake.bench import ingest_report, loadgen

    for noisy in ("httpx", "httpcore"):  # `eventlake` logs at INFO: not one line per bench request
        logging.getLogger(noisy).setLevel(logging.WARNING)
    console = common.bench_console()
    if getattr(args, "chaos", None) is not None:
        from eventlake.bench import chaos

        return chaos.run(args, console)
    cfg = _config(args)
    out: Path = cfg["out"]
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    wall0 = time.monotonic()
    try:
        client, client_note = loadgen.resolve_client(cfg["client"])
    except loadgen.LoadError as exc:
        raise SystemExit(str(exc)) from exc
    machine = machine_info()
    work = out / f"ingest-work-{started.strftime('%Y%m%dT%H%M%SZ')}"
    work.mkdir(parents=True, exist_ok=True)
    sections = list(cfg["sections"])
    skipped: dict[str, str] = {s: "not in --only" for s in SECTIONS if s not in sections}
    if "soak" in sections and cfg["soak_seconds"] == 0:
        sections.remove("soak")
        skipped["soak"] = "--soak-seconds 0"
    console.print(
        f"[bold]eventlake bench ingest[/]: sections {', '.join(sections) or 'none'}; {cfg['events']:,} events; "
        f"load by {loadgen.client_version(client)}; {machine['cores']} cores ({machine['cpu_model']}), "
        f"load average {machine['load_average_at_start'][0]:.2f}",
        highlight=False,
    )
    if client_note:
        console.print(f"[yellow]note: {client_note}[/]")
    if machine["load_average_at_start"][0] > 0.5 * (machine["cores"] or 1):
        console.print("[yellow]the machine is busy (load average above half the cores): results will be noisy[/]")
    console.print(f"[dim]work directory (homes, server and consumer logs): {work}[/]", highlight=False)

    bench = Bench(cfg, console, work, client, client_note)
    results: dict[str, Any] = {}
    failures: list[str] = []
    steps = {"post": bench.section_post, "batched": bench.post_backlog, "drain": bench.section_drain,
             "freshness": bench.section_freshness, "soak": bench.section_soak}  # fmt: skip
    for name in sections:
        console.rule(f"[bold]{name}[/]")
        t0 = time.monotonic()
        try:
            results[name] = steps[name]()
        except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others' results
            log.debug("section %s failed", name, exc_info=True)
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            console.print(f"[red]{name} FAILED: {type(exc).__name__}: {exc}[/]", highlight=False)
        results[name]["section_wall_seconds"] = time.monotonic() - t0
    drain = results.get("drain", {})
    crashed = [f"{r['consumers']} consumer(s): {sum(1 for n in r['tracebacks_per_consumer'] if n)} crashed"
               for r in drain.get("runs", []) if any(r["tracebacks_per_consumer"])]  # fmt: skip
    if crashed:
        failures.append(f"drain: consumer processes logged a traceback ({'; '.join(crashed)}; see their logs, --keep)")
    if drain.get("runs") and not drain.get("rows_match"):
        bad = [f"{r['consumers']} consumer(s): {r['rows_in_iceberg']:,} rows" for r in drain["runs"] if not r["rows_match"]]
        failures.append(f"drain: raw.events rows differ from the {drain['events']:,} events posted ({'; '.join(bad)})")

    summary: dict[str, Any] = {
        **common.start_summary("eventlake bench ingest", started, cfg, work, machine),
        "client": {"name": client, "version": loadgen.client_version(client), "note": client_note},
        "server": {
            "api": "`eventlake api` (api.main.run: uvicorn workers per core, no access log), fresh EVENTLAKE_HOME, "
            "local stream, SQLite job store",
            "bare": "eventlake.bench.bare_api: FastAPI, POST parses the JSON body and answers 202; uvicorn workers per "
            "core, httptools, no access log (its strongest form)",
            "workers": SERVER_WORKERS,
        },
        "sections": results,
        "skipped": skipped,
        "goals": ingest_report.goals(results, GOALS),
        "failures": failures,
    }
    common.finish_summary(summary, failures, wall0)

    console.print()
    ingest_report.print_results(console, summary)
    ingest_report.print_goals(console, summary["goals"])
    return common.finish_run(console, summary, failures, write_outputs(summary, out, started), work, cfg["keep"])


# every bench module's entry point has this shape (eventlake.bench.pipeline's too): common.bench_main does the work
def main(argv: list[str] | None = None) -> int:
    return common.bench_main(
        argv,
        "python -m eventlake.bench.ingest",
        "Benchmark the ingest path against the real API: single-event POSTs (vs a bare FastAPI "
        "endpoint), batched NDJSON, draining a backlog into Iceberg, freshness and a soak.",
        add_arguments,
        run,
    )


if __name__ == "__main__":
    sys.exit(main())
