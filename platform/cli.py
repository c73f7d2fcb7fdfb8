"""`eventlake`: run the ingestion API, the stream consumer, the demo and the load generators.

Every command reads its configuration from EVENTLAKE_* environment variables
(see `eventlake settings`); all local state lives under EVENTLAKE_HOME
(default ./.eventlake), so deleting that directory resets everything.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT)


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
    from eventlake.settings import get_settings

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


def cmd_generate(args: argparse.Namespace) -> int:
    from eventlake.generate import generate, to_ndjson

    data = generate(events=args.events, users=args.users, products=args.products, seed=args.seed,
                    invalid_rate=args.invalid_rate, duplicate_rate=args.duplicate_rate)
    if args.post:
        from eventlake.demo import post_sample_data

        post_sample_data(data, base_url=args.post, api_key=args.api_key)
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, records in (("users", data.users), ("products", data.products), ("events", data.events)):
        path = out / f"{name}.ndjson"
        path.write_bytes(to_ndjson(records))
        print(f"{path}: {len(records)} records")
    print(f"events: {data.invalid_count} invalid, {data.duplicate_count} duplicates, "
          f"{len(data.expected_event_ids)} distinct valid")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from eventlake.demo import run_demo

    return run_demo(once=args.once, events=args.events, users=args.users, products=args.products,
                    timeout_s=args.timeout)


def cmd_settings(args: argparse.Namespace) -> int:  # noqa: ARG001
    from eventlake.settings import Settings, get_settings

    current = get_settings()
    for name, info in Settings.model_fields.items():
        value = getattr(current, name)
        print(f"EVENTLAKE_{name.upper():<24} = {value!s:<40} {info.description or ''}")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventlake",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="run the whole local stack and ingest sample data",
                       description="Start the API (:8000), the stream consumer, Dagster webserver + daemon (:3000) "
                       "and the Streamlit dashboard (:8501); generate and POST sample data; wait until the jobs "
                       "are COMPLETED, the snapshot sensor has run the dbt job and the checks have run; print a "
                       "summary and keep serving until Ctrl-C.")
    p.add_argument("--once", action="store_true", help="headless: stop everything after the summary; exit 0 only if every stage succeeded")
    p.add_argument("--events", type=int, default=5_000, help="sample events to POST (default 5000)")
    p.add_argument("--users", type=int, default=200, help="sample users (default 200)")
    p.add_argument("--products", type=int, default=50, help="sample products (default 50)")
    p.add_argument("--timeout", type=float, default=600, help="seconds to wait for every stage (default 600)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("api", help="serve the ingestion API", description="Serve the FastAPI ingestion service with uvicorn.")
    p.add_argument("--host", help="bind address (default EVENTLAKE_API_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default EVENTLAKE_API_PORT, 8000)")
    p.add_argument("--workers", type=int, help="worker processes (default EVENTLAKE_API_WORKERS; 0 = one per core, "
                   "at most 4)")
    p.set_defaults(func=cmd_api)

    p = sub.add_parser("consume", help="move stream records into Iceberg",
                       description="Read the stream, process each chunk with data_processor_rs and commit to the "
                       "Iceberg tables exactly once. Runs until stopped (SIGINT/SIGTERM finish the current batch).")
    p.add_argument("--once", action="store_true", help="drain what is in the stream now, then exit")
    p.set_defaults(func=cmd_consume)

    p = sub.add_parser("generate", help="generate sample users, products and events",
                       description="Write sample data as NDJSON files, or POST it to a running API with --post.")
    p.add_argument("--events", type=int, default=5_000)
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--products", type=int, default=50)
    p.add_argument("--invalid-rate", type=float, default=0.02, help="share of events breaking a rule (default 0.02)")
    p.add_argument("--duplicate-rate", type=float, default=0.02, help="share of events sent twice (default 0.02)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default="sample_data", help="directory for the files (default ./sample_data)")
    p.add_argument("--post", metavar="URL", help="POST to this API base URL instead, e.g. http://127.0.0.1:8000")
    p.add_argument("--api-key", help="X-API-Key for --post")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("settings", help="print every EVENTLAKE_* setting and its current value")
    p.set_defaults(func=cmd_settings)

    p = sub.add_parser("bench", help="load generators for your own hardware: ingest, pipeline",
                       description="Load generators a deployment runs on its own hardware (as pgbench ships with "
                       "PostgreSQL); each prints a table and the goals PASS/MISS and writes JSON results, and a PNG "
                       "chart when matplotlib is installed (pip install 'eventlake[charts]'). The processor "
                       "comparison (Rust vs pure Python, polars, DuckDB, pyarrow) is not part of the installed "
                       "package: run `make bench` in a checkout.")
    bench_sub = p.add_subparsers(dest="bench", required=True, metavar="BENCH", parser_class=_LazyBenchParser)
    # The bench modules are imported only when a bench command runs: each subparser takes its options from
    # the module's add_arguments when (and only when) it is the subcommand being parsed.
    ip = bench_sub.add_parser("ingest", help="the ingest path against the real API: POSTs, batches, drain, freshness, soak",
                              description="Single-event POSTs (vs a bare FastAPI endpoint), batched NDJSON, draining a "
                              "backlog into Iceberg with 1, 2 and 4 consumers (vs data_processor_rs.process() alone), "
                              "freshness from POST to Iceberg and a soak, each against `eventlake api` started on a free "
                              "port with a fresh EVENTLAKE_HOME; load by wrk when installed. Prints a table and the goals "
                              "PASS/MISS, writes JSON results and a PNG chart (with the charts extra).")
    _lazy_bench(ip, "eventlake.bench.ingest")
    pp = bench_sub.add_parser("pipeline", help="transform cost against history size (full, incremental, peak RSS) and freshness to fact_events",
                              description="Build a history of --events events with the real consumer path (growing it "
                              "through --sizes), then run the real transform_job in a child process: a full build and "
                              "--runs incremental runs of --incremental-events new events at each size (wall time, peak "
                              "RSS of the process tree), and freshness from POST to Iceberg and to fact_events under a "
                              "steady stream with the API, a consumer and transform_job back to back. Prints a table, "
                              "the goals PASS/MISS and the slowest steps, writes JSON results and a PNG chart (with the "
                              "charts extra).")
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
