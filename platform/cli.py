"""`eventlake`: run the ingestion API, the stream consumer, the demo and the load generators.

Every command reads its configuration from EVENTLAKE_* environment variables
(see `eventlake settings`); all local state lives under EVENTLAKE_HOME
(default ./.eventlake), so deleting that directory resets everything.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import signal
import sys
from pathlib import Path

def _configure_logging(verbose: bool) -> None:
    from eventlake.logs import configure  # JSON lines (EVENTLAKE_LOG_FORMAT), the component named on each

    configure(logging.DEBUG if verbose else logging.INFO, unless_handled=True)


def cmd_api(args: argparse.Namespace) -> int:
    from api.main import run
    from eventlake.settings import get_settings

    overrides = {k: v for k, v in (("api_host", args.host), ("api_port", args.port), ("api_workers", args.workers))
                 if v is not None}  # fmt: skip
    settings = get_settings()
    run(settings.model_copy(update=overrides) if overrides else settings)
    return 0


def cmd_consume(args: argparse.Namespace) -> int:
    from eventlake.consumer import Consumer
    from eventlake.logs import set_component
    from eventlake.settings import get_settings

    set_component("consumer")
    consumer = Consumer(get_settings())
    log = logging.getLogger("eventlake.consumer")
    if args.once:
        totals = consumer.drain()
        log.info("drained: %s", totals or "nothing new")
        return 0
    stopping = False

    def _stop(signum, frame):  # noqa: ARG001
        nonlocal stopping
        log.info("signal %s: finishing the current batch, then stopping", signum)
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("consuming %s stream %r; Ctrl-C to stop", consumer.settings.stream, consumer.settings.stream_name)
    consumer.run_forever(stop=lambda: stopping)
    return 0


def _error(message: str, code: int = 2) -> int:
    """One line on stderr, no traceback: what went wrong and what to do."""
    print(f"error: {message}", file=sys.stderr)
    return code


def cmd_generate(args: argparse.Namespace) -> int:
    from eventlake.generate import generate, to_ndjson

    key = None
    if args.post:
        from eventlake.demo import api_key_file, find_api_key, quiet_http_logs
        from eventlake.settings import get_settings

        quiet_http_logs()
        if not re.match(r"^https?://[^/]", args.post):
            return _error(f"--post wants the API's base URL, e.g. http://127.0.0.1:8000 (got {args.post!r})")
        settings = get_settings()
        key = find_api_key(settings, args.api_key)
        if key is None:
            return _error(f"--post needs an API key: pass --api-key KEY, set EVENTLAKE_API_KEYS, or put the key in "
                          f"{api_key_file(settings)} (`eventlake demo` writes one there)")
    data = generate(events=args.events, users=args.users, products=args.products, seed=args.seed,
                    invalid_rate=args.invalid_rate, duplicate_rate=args.duplicate_rate)
    if args.post:
        return _post(args.post.rstrip("/"), key, data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, records in (("users", data.users), ("products", data.products), ("events", data.events)):
        path = out / f"{name}.ndjson"
        path.write_bytes(to_ndjson(records))
        print(f"{path}: {len(records)} records")
    print(f"events: {data.invalid_count} invalid, {data.duplicate_count} duplicates, "
          f"{len(data.expected_event_ids)} distinct valid")
    return 0


def _post(url: str, key, data) -> int:
    import httpx

    from eventlake.demo import StageFailed, post_sample_data, status_command

    try:
        posted = post_sample_data(data, base_url=url, api_key=key.value)
    except StageFailed as exc:
        hint = f" (the key from {key.source})" if "401" in exc.reason.split(":", 1)[0] else ""
        return _error(f"{exc.reason.splitlines()[0]}{hint}", 1)
    except httpx.HTTPError as exc:
        return _error(f"could not POST to {url}: {exc.__class__.__name__}: {exc} (is `eventlake api` running there?)", 1)
    print(f"{len(posted)} jobs accepted by {url}:")
    print(f"{'job_id':<36}  {'dataset':<8}  {'records':>7}")
    for job in posted:
        print(f"{job.job_id:<36}  {job.dataset:<8}  {job.records:>7}")
    print(f"events: {data.invalid_count} invalid, {data.duplicate_count} duplicates in what was sent")
    print("status of a job (COMPLETED once the consumer has landed it):")
    print(f"  {status_command(url, key, posted[-1].job_id)}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from eventlake.demo import run_demo
    from eventlake.logs import set_component

    set_component("demo")
    return run_demo(once=args.once, events=args.events, users=args.users, products=args.products,
                    timeout_s=args.timeout, env=args.env)


_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def _shown(value: object, *, secret: bool, show_secrets: bool) -> str:
    """A setting's value as `settings` prints it: secrets and passwords in URLs masked unless asked."""
    from pydantic import SecretStr

    if isinstance(value, SecretStr):
        return value.get_secret_value() if show_secrets else "**********"
    if secret and value:
        if show_secrets:
            return ",".join(value) if isinstance(value, list) else str(value)
        return f"{len(value)} key{'s' if len(value) != 1 else ''} (hidden; --show-secrets)" if isinstance(value, list) else "**********"
    text = str(value)
    return text if show_secrets else _URL_PASSWORD.sub(r"\1****@", text)


#: settings whose values are secrets (besides SecretStr fields)
SECRET_SETTINGS = frozenset({"api_keys", "alert_webhook_urls"})  # a webhook URL carries its token


def cmd_settings(args: argparse.Namespace) -> int:
    from eventlake.demo import api_key_file
    from eventlake.settings import Settings, get_settings

    current = get_settings()
    for name, info in Settings.model_fields.items():
        value = _shown(getattr(current, name), secret=name in SECRET_SETTINGS, show_secrets=args.show_secrets)
        print(f"EVENTLAKE_{name.upper():<24} = {value:<40} {info.description or ''}")
    key_file = api_key_file(current)
    state = "exists" if key_file.is_file() else "missing; `eventlake demo` writes one"
    used = "used when EVENTLAKE_API_KEYS is empty" if not current.api_keys else "not used: EVENTLAKE_API_KEYS is set"
    print()
    print(f"API key of the demo and `generate --post`: {key_file} ({state}; {used})")
    if args.show_secrets and key_file.is_file():
        print(f"  {key_file.read_text().strip()}")
    return 0


def _open_table(name: str):
    from eventlake import time_travel
    from eventlake.settings import get_settings

    settings = get_settings()
    return settings, time_travel.load_table(time_travel.open_catalog(settings), name)


def _positions_text(positions: dict) -> str:
    return "\n".join(f"{dataset} {shard}={sequence}" for dataset, shards in sorted(positions.items())
                     for shard, sequence in sorted(shards.items())) or "-"


def _console():
    from rich.console import Console

    # a terminal: its width; a pipe or a file: wide, so ids and job ids stay on one line
    return Console() if sys.stdout.isatty() else Console(width=200)


def cmd_table_history(args: argparse.Namespace) -> int:
    import json

    from eventlake import time_travel

    try:
        _, table = _open_table(args.table)
        snapshots = time_travel.history(table, with_jobs=not args.no_jobs, limit=args.limit)
    except time_travel.TimeTravelError as exc:
        return _error(str(exc), 1)
    if args.json:
        print(json.dumps([s.to_dict() for s in snapshots], indent=2))
        return 0
    from rich.table import Table

    out = Table(title=f"{'.'.join(table.name())}: {len(snapshots)} snapshot(s), oldest first", show_lines=True)
    for column in ("snapshot_id", "parent", "timestamp (UTC)", "operation", "added", "total",
                   "stream positions", "job ids"):
        out.add_column(column, overflow="fold")
    for s in snapshots:
        marker = " (current)" if s.current else "" if s.in_current_lineage else " (rolled back)"
        positions = _positions_text(s.positions) if s.positions else f"(as parent)\n{_positions_text(s.effective_positions)}"
        jobs = "not read" if s.job_ids is None else "\n".join(s.job_ids) or "-"
        out.add_row(f"{s.snapshot_id}{marker}", str(s.parent_id or "-"), s.timestamp.replace("+00:00", ""),
                    s.operation or "-", str(s.added_records if s.added_records is not None else "-"),
                    str(s.total_records if s.total_records is not None else "-"), positions, jobs)
    _console().print(out)
    return 0


def cmd_table_show(args: argparse.Namespace) -> int:
    import json

    from eventlake import time_travel

    try:
        _, table = _open_table(args.table)
        if args.as_of is not None:
            snapshot_id = time_travel.snapshot_as_of(table, time_travel.parse_timestamp(args.as_of)).snapshot_id
        else:
            snapshot_id = args.snapshot
        data = time_travel.read_rows(table, snapshot_id, limit=args.limit)
    except time_travel.TimeTravelError as exc:
        return _error(str(exc), 1)
    current = table.metadata.current_snapshot()
    shown = snapshot_id if snapshot_id is not None else (current.snapshot_id if current else None)
    rows = data.to_pylist()
    if args.json:
        print(json.dumps({"table": ".".join(table.name()), "snapshot_id": shown, "rows": rows}, indent=2, default=str))
        return 0
    from rich.table import Table

    out = Table(title=f"{'.'.join(table.name())} as of snapshot {shown}: {len(rows)} row(s) (--limit {args.limit})")
    for name in data.column_names:
        out.add_column(name, overflow="fold")
    for row in rows:
        out.add_row(*("" if v is None else str(v) for v in row.values()))
    _console().print(out)
    return 0


def cmd_table_as_of(args: argparse.Namespace) -> int:
    args.as_of, args.snapshot = args.timestamp, None
    return cmd_table_show(args)


def _print_plan(plan) -> None:
    print(f"rollback {plan.table}: current snapshot {plan.from_snapshot_id} -> {plan.to_snapshot_id}")
    print(f"  snapshots undone: {len(plan.undone_snapshots)} ({', '.join(map(str, plan.undone_snapshots))})")
    print(f"  rows removed from the table: {plan.rows_removed}")
    if plan.moves:
        print("  stream positions moving back (the table's and the consumer's read positions):")
        for m in plan.moves:
            print(f"    {m.dataset} {m.shard}: {m.from_sequence} -> {m.to_sequence or 'start of the shard'}")
        back = "unknown" if plan.rows_back is None else plan.rows_back
        print(f"  the consumer will replay {plan.replay_chunks} stream record(s) ({plan.replay_records} records) "
              f"of {len(plan.replay_jobs)} job(s), bringing back {back} row(s); job counts stay as they are:")
        for job in plan.replay_jobs:
            print(f"    {job}")
    else:
        print("  no stream position moves: nothing is replayed (the undone snapshots did not come from the stream)")
    for problem in plan.problems:
        print(f"  PROBLEM: {problem}")


def cmd_table_rollback(args: argparse.Namespace) -> int:
    import json

    from eventlake import time_travel

    try:
        settings, table = _open_table(args.table)
        plan = time_travel.plan_rollback(settings, table, args.snapshot_id)
    except time_travel.TimeTravelError as exc:
        return _error(str(exc), 1)
    if plan.from_snapshot_id == plan.to_snapshot_id:
        print(f"{plan.table} is already at snapshot {plan.to_snapshot_id}: nothing to do")
        return 0
    _print_plan(plan)
    if plan.problems and not args.force:
        return _error("refusing to roll back (see PROBLEM above); --force to do it anyway", 1)
    if not args.yes:
        if not sys.stdin.isatty():
            return _error("refusing to roll back without confirmation: stdin is not a terminal; pass --yes")
        answer = input(f"Roll {plan.table} back to snapshot {plan.to_snapshot_id}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not rolled back")
            return 1
    try:
        record = time_travel.rollback(settings, table, plan, force=args.force)
    except time_travel.TimeTravelError as exc:
        return _error(str(exc), 1)
    print(f"rolled back {plan.table} to snapshot {plan.to_snapshot_id}; audit line in {time_travel.audit_path(settings)}")
    if plan.moves:
        print("the next `eventlake consume` pass replays the records listed above")
    if args.json:
        print(json.dumps(record, indent=2))
    return 0


PROCESSOR_MOVED = (
    "`eventlake bench processor` moved out of the installed package: the processor comparison (the Rust "
    "processor against pure Python, polars, DuckDB and pyarrow) is the repository's top-level benchmarks/ "
    "package, installed with the dev dependency group. In a checkout run `make bench` "
    "(or `.venv/bin/python -m benchmarks.processor --help`)."
)


def cmd_bench(args: argparse.Namespace) -> int:
    return importlib.import_module(args.bench_module).run(args)


def cmd_bench_processor_moved(args: argparse.Namespace) -> int:  # noqa: ARG001
    print(PROCESSOR_MOVED, file=sys.stderr)
    return 2


class _LazyBenchParser(argparse.ArgumentParser):
    """A bench subcommand's parser: imports the bench module for its options only when it parses or prints help."""

    bench_module = ""
    moved = False  # a command that left the package: every argument, --help too, leads to its message
    _loaded = False

    def _load(self) -> None:
        if not self._loaded and self.bench_module:
            self._loaded = True
            importlib.import_module(self.bench_module).add_arguments(self)

    def parse_known_args(self, args=None, namespace=None):
        if self.moved:
            namespace = namespace if namespace is not None else argparse.Namespace()
            namespace.func = cmd_bench_processor_moved
            return namespace, []
        self._load()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._load()
        return super().format_help()


def _lazy_bench(parser: argparse.ArgumentParser, module: str) -> None:
    assert isinstance(parser, _LazyBenchParser)
    parser.bench_module = module
    parser.set_defaults(func=cmd_bench, bench_module=module)


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps each paragraph of a description to the terminal; keeps indented lines (examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for para in text.strip("\n").split("\n\n"):
            lines = para.splitlines()
            if all(line.startswith("  ") for line in lines):
                paragraphs.append("\n".join(indent + line for line in lines))
            else:
                paragraphs.append(super()._fill_text(para, width, indent))
        return "\n\n".join(paragraphs)


# One argparse block per subcommand, alike in shape on purpose: each declares its own options and help text.
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventlake",
        description=__doc__,
        epilog="Each command has its own --help, e.g. `eventlake demo --help`.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, formatter_class=_HelpFormatter, **kwargs)

    p = add("demo", help="run the whole local stack and ingest sample data",
            description="Start the API, the stream consumer, Dagster (webserver and daemon) and the Streamlit "
            "dashboard, each logging to $EVENTLAKE_HOME/logs/<component>.log; generate sample users, products "
            "and events (with invalid and duplicate ones) and POST them; wait until every job is COMPLETED and "
            "the snapshot sensor's transform_job run (dbt build and checks) succeeded; print rows per table, the "
            "checks and next steps, and keep serving until Ctrl-C. The API key is written to "
            "$EVENTLAKE_HOME/api_key. Ports: EVENTLAKE_API_PORT (8000), EVENTLAKE_DAGSTER_PORT (3000), "
            "EVENTLAKE_DASHBOARD_PORT (8501).\n\n"
            "With --env PROD it first starts stand-ins for the production backends, moto_server (Kinesis, S3, "
            "Glue) and a fakesnow server (Snowflake), and runs the same demo with every hop on them: the API "
            "publishes to Kinesis, the consumer commits Iceberg tables on S3 with the Glue catalog, transform_job "
            "loads the new snapshots into Snowflake RAW and runs dbt PROD there; the summary reconciles the "
            "events from the POSTs to fact_events in Snowflake. The job store and Dagster's storage stay SQLite "
            "under EVENTLAKE_HOME unless EVENTLAKE_JOB_DB_URL or the instance's dagster.yaml name PostgreSQL. "
            "moto and fakesnow are dev dependencies (`make setup` installs them).\n\n"
            "examples:\n\n"
            "  eventlake demo\n"
            "  EVENTLAKE_HOME=$(mktemp -d) eventlake demo --once --events 1000\n"
            "  eventlake demo --env PROD")
    p.add_argument("--once", action="store_true", help="headless: stop everything after the summary; exit 0 only if every stage succeeded")
    p.add_argument("--events", type=int, default=5_000, metavar="N", help="sample events to POST (default 5000)")
    p.add_argument("--users", type=int, default=200, metavar="N", help="sample users (default 200)")
    p.add_argument("--products", type=int, default=50, metavar="N", help="sample products (default 50)")
    p.add_argument("--timeout", type=float, default=600, metavar="SECONDS",
                   help="seconds to wait for the jobs, and then for the transform (default 600)")
    p.add_argument("--env", choices=("LOCAL", "PROD"), default="LOCAL",
                   help="LOCAL (default): the backends of your settings, embedded by default (SQLite, files, "
                   "DuckDB); PROD: the production wiring (Kinesis, S3 + Glue, Snowflake) against moto_server and "
                   "a fakesnow server that the demo starts and stops")
    p.set_defaults(func=cmd_demo)

    p = add("api", help="serve the ingestion API",
            description="Serve the FastAPI ingestion service with uvicorn: POST /api/v1/ingest, GET "
            "/api/v1/status/{job_id}, /api/v1/health, /api/v1/metrics, POST /api/v1/trigger/{pipeline}; "
            "interactive docs at /docs. Keys: EVENTLAKE_API_KEYS (comma-separated).\n\n"
            "example:\n\n"
            "  EVENTLAKE_API_KEYS=secret eventlake api --port 8000")
    p.add_argument("--host", help="bind address (default EVENTLAKE_API_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default EVENTLAKE_API_PORT, 8000)")
    p.add_argument("--workers", type=int, metavar="N", help="worker processes (default EVENTLAKE_API_WORKERS; "
                   "0 = one per core, at most 4)")
    p.set_defaults(func=cmd_api)

    p = add("consume", help="move stream records into Iceberg",
            description="Read the stream, process each chunk with data_processor_rs and commit to the Iceberg "
            "tables exactly once. Runs until stopped (SIGINT/SIGTERM finish the current batch). Run several to "
            "share the stream's shards.\n\n"
            "examples:\n\n"
            "  eventlake consume\n"
            "  eventlake consume --once   # drain the backlog, then exit")
    p.add_argument("--once", action="store_true", help="drain what is in the stream now, then exit")
    p.set_defaults(func=cmd_consume)

    p = add("generate", help="generate sample users, products and events",
            description="Generate sample users (with history), products and events, including invalid and "
            "duplicate events, deterministic for a seed. Without --post, write users.ndjson, products.ndjson and "
            "events.ndjson to --out. With --post, POST them to a running API (users as JSON, products as CSV, "
            "events as NDJSON batches of 1000) and print the job ids and a command that shows a job's status. "
            "The key is --api-key, else the first of EVENTLAKE_API_KEYS, else $EVENTLAKE_HOME/api_key (written "
            "by `eventlake demo`).\n\n"
            "examples:\n\n"
            "  eventlake generate --events 1000 --out sample_data\n"
            "  eventlake generate --post http://127.0.0.1:8000            # key from $EVENTLAKE_HOME/api_key\n"
            "  eventlake generate --post http://127.0.0.1:8000 --api-key KEY")
    p.add_argument("--events", type=int, default=5_000, metavar="N", help="events (default 5000)")
    p.add_argument("--users", type=int, default=200, metavar="N", help="users, each with 1 to 3 versions (default 200)")
    p.add_argument("--products", type=int, default=50, metavar="N", help="products (default 50)")
    p.add_argument("--invalid-rate", type=float, default=0.02, metavar="SHARE",
                   help="share of events breaking a rule of the contract (default 0.02)")
    p.add_argument("--duplicate-rate", type=float, default=0.02, metavar="SHARE",
                   help="share of events sent a second time, unchanged (default 0.02)")
    p.add_argument("--seed", type=int, default=7, metavar="N", help="random seed: the same seed gives the same data (default 7)")
    p.add_argument("--out", default="sample_data", metavar="DIR", help="directory for the files (default ./sample_data)")
    p.add_argument("--post", metavar="URL", help="POST to the API at this base URL instead, e.g. http://127.0.0.1:8000")
    p.add_argument("--api-key", metavar="KEY", help="X-API-Key for --post (default: the first of EVENTLAKE_API_KEYS, "
                   "else the key in $EVENTLAKE_HOME/api_key)")
    p.set_defaults(func=cmd_generate)

    p = add("settings", help="print every EVENTLAKE_* setting and its current value",
            description="Print every EVENTLAKE_* setting with its current value (from the environment or a .env "
            "file) and what it does, then where the demo's API key lives ($EVENTLAKE_HOME/api_key) and whether it "
            "exists. API keys, passwords and passwords in URLs are masked unless --show-secrets is given.")
    p.add_argument("--show-secrets", action="store_true",
                   help="print API keys and passwords (and the demo's key) instead of masking them")
    p.set_defaults(func=cmd_settings)


    p = add("table", help="time travel and rollback on the Iceberg tables: history, show, as-of, rollback",
            description="Look at the lake's Iceberg tables (raw.events, raw.users, raw.products, "
            "raw.rejected_records; `events` means raw.events) as they were: the snapshots with their stream "
            "positions and job ids, the rows as of a snapshot or a time, and a rollback to an earlier "
            "snapshot that moves the consumer's stream positions back with it so nothing is lost or "
            "duplicated silently (docs/time_travel.md).\n\n"
            "examples:\n\n"
            "  eventlake table history raw.events\n"
            "  eventlake table show raw.events --snapshot 4273806923766002889 --limit 5\n"
            "  eventlake table as-of raw.events 2026-03-01T10:00:00Z\n"
            "  eventlake table rollback raw.events 4273806923766002889")
    table_sub = p.add_subparsers(dest="table_command", required=True, metavar="ACTION")

    def add_table(name: str, **kwargs) -> argparse.ArgumentParser:
        tp = table_sub.add_parser(name, formatter_class=_HelpFormatter, **kwargs)
        tp.add_argument("table", metavar="TABLE", help="raw.events, raw.users, raw.products or raw.rejected_records")
        return tp

    tp = add_table("history", help="the snapshots with their stream positions, job ids and record counts",
                   description="List the table's snapshots, oldest first: id, parent, time, operation, records "
                   "added and in total, the stream positions stored in the summary ({dataset} {shard}=sequence) "
                   "and the job ids of the rows each snapshot added. The job ids come from reading the job_id "
                   "column of every data file each snapshot added (one small read per file): on a long "
                   "history, use --limit or --no-jobs.\n\n"
                   "example:\n\n"
                   "  eventlake table history raw.events --limit 10")
    tp.add_argument("--json", action="store_true", help="print JSON (a list of snapshots) instead of a table")
    tp.add_argument("--limit", type=int, metavar="N", help="only the newest N snapshots")
    tp.add_argument("--no-jobs", action="store_true", help="do not read the added files for job ids (fast)")
    tp.set_defaults(func=cmd_table_history)

    tp = add_table("show", help="print rows as of a snapshot id or a timestamp",
                   description="Print the table's rows as they were at a snapshot (--snapshot), or at a time "
                   "(--as-of: the snapshot current then, from the snapshot log), or now.\n\n"
                   "examples:\n\n"
                   "  eventlake table show raw.events --snapshot 4273806923766002889\n"
                   "  eventlake table show raw.users --as-of 2026-03-01T10:00:00Z --limit 50")
    when = tp.add_mutually_exclusive_group()
    when.add_argument("--snapshot", type=int, metavar="ID", help="read the table as of this snapshot id")
    when.add_argument("--as-of", metavar="TIMESTAMP", help="read the table as it was at this ISO 8601 time (UTC if no zone)")
    tp.add_argument("--limit", type=int, default=20, metavar="N", help="rows to print (default 20)")
    tp.add_argument("--json", action="store_true", help="print JSON (snapshot id and rows) instead of a table")
    tp.set_defaults(func=cmd_table_show)

    tp = add_table("as-of", help="print rows as the table was at a time (show --as-of)",
                   description="Print the table's rows as they were at TIMESTAMP: the snapshot that was current "
                   "then, found in the table's snapshot log. The same as `show --as-of`.\n\n"
                   "example:\n\n"
                   "  eventlake table as-of raw.events 2026-03-01T10:00:00Z")
    tp.add_argument("timestamp", metavar="TIMESTAMP", help="ISO 8601 time, e.g. 2026-03-01T10:00:00Z (UTC if no zone)")
    tp.add_argument("--limit", type=int, default=20, metavar="N", help="rows to print (default 20)")
    tp.add_argument("--json", action="store_true", help="print JSON (snapshot id and rows) instead of a table")
    tp.set_defaults(func=cmd_table_as_of)

    tp = add_table("rollback", help="make an earlier snapshot current again, moving the stream positions back",
                   description="Roll the table back to an earlier snapshot of its current history. First prints "
                   "what happens: the snapshots undone, the rows removed, the stream positions that move back and "
                   "the stream records and jobs the consumer will replay (bringing the rows back through the "
                   "current code; job counts do not change). Refuses when the stream no longer holds the removed "
                   "rows' records, when the replay would not bring back exactly the rows removed, or while a "
                   "consumer runs (--force overrides). Asks for confirmation unless --yes; without a terminal "
                   "--yes is required. Writes a JSON audit line to $EVENTLAKE_HOME/logs/audit.log.\n\n"
                   "example:\n\n"
                   "  eventlake table rollback raw.events 4273806923766002889 --yes")
    tp.add_argument("snapshot_id", type=int, metavar="SNAPSHOT_ID", help="the snapshot to make current (see `history`)")
    tp.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    tp.add_argument("--force", action="store_true",
                    help="roll back even when the plan shows a PROBLEM (records lost for good, or a running consumer)")
    tp.add_argument("--json", action="store_true", help="also print the audit record as JSON")
    tp.set_defaults(func=cmd_table_rollback)

    p = add("bench", help="load generators for your own hardware: ingest, pipeline",
                       description="Load generators a deployment runs on its own hardware (as pgbench ships with "
                       "PostgreSQL); each prints a table and the goals PASS/MISS and writes JSON results, and a PNG "
                       "chart when matplotlib is installed (pip install 'eventlake[charts]'). The processor "
                       "comparison (Rust vs pure Python, polars, DuckDB, pyarrow) is not part of the installed "
                       "package: run `make bench` in a checkout.\n\n"
            "example:\n\n"
            "  eventlake bench ingest --quick")
    bench_sub = p.add_subparsers(dest="bench", required=True, metavar="BENCH", parser_class=_LazyBenchParser)
    # The bench modules are imported only when a bench command runs: each subparser takes its options from
    # the module's add_arguments when (and only when) it is the subcommand being parsed.
    ip = bench_sub.add_parser("ingest", help="the ingest path against the real API: POSTs, batches, drain, freshness, soak",
                              description="Single-event POSTs (vs a bare FastAPI endpoint), batched NDJSON, draining a "
                              "backlog into Iceberg with 1, 2 and 4 consumers (vs data_processor_rs.process() alone), "
                              "freshness from POST to Iceberg and a soak, each against `eventlake api` started on a free "
                              "port with a fresh EVENTLAKE_HOME; load by wrk when installed. Prints a table and the goals "
                              "PASS/MISS, writes JSON results and a PNG chart (with the charts extra).\n\n"
                              "examples:\n\n"
                              "  eventlake bench ingest --quick\n"
                              "  eventlake bench ingest --only post,batched\n"
                              "  eventlake bench ingest --chaos 10",
                              formatter_class=_HelpFormatter)
    _lazy_bench(ip, "eventlake.bench.ingest")
    pp = bench_sub.add_parser("pipeline", help="transform cost against history size (full, incremental, peak RSS) and freshness to fact_events",
                              description="Build a history of --events events with the real consumer path (growing it "
                              "through --sizes), then run the real transform_job in a child process: a full build and "
                              "--runs incremental runs of --incremental-events new events at each size (wall time, peak "
                              "RSS of the process tree), and freshness from POST to Iceberg and to fact_events under a "
                              "steady stream with the API, a consumer and transform_job back to back. Prints a table, "
                              "the goals PASS/MISS and the slowest steps, writes JSON results and a PNG chart (with the "
                              "charts extra).\n\n"
                              "examples:\n\n"
                              "  eventlake bench pipeline --events 300k --runs 2\n"
                              "  eventlake bench pipeline --sizes 1M,3M,10M",
                              formatter_class=_HelpFormatter)
    _lazy_bench(pp, "eventlake.bench.pipeline")
    xp = bench_sub.add_parser("processor", help="moved out of the package: run `make bench` in a checkout",
                              description=PROCESSOR_MOVED, add_help=False)
    xp.moved = True
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
