"""The processor comparison (``make bench``): the Rust processor against pure
Python, polars, DuckDB and pyarrow, measured in the same run.

The job, the same for every contender: bytes -> parse -> validate (every
violation of every record) -> drop invalid rows -> transform -> deduplicate by
event_id -> one zstd Parquet file (see ``benchmarks.contract``).

Each run of each contender is a fresh process (``benchmarks.worker``), so
its peak memory is its own. The runs of a format are interleaved (run 1 of
every contender, then run 2, ...) so that drift on the machine hits all
contenders alike. After the last run the outputs are checked against each
other and against the generator's counts; a mismatch marks the results
failed and makes the exit code 1. Goals are printed PASS/MISS, never asserted.

    python -m benchmarks.processor --quick
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventlake.bench import common
from eventlake.bench.common import _count, _csv_list, default_out_dir, machine_info

log = logging.getLogger("eventlake.bench")

DEFAULT_EVENTS = 1_000_000
QUICK_EVENTS = 100_000
BATCH_EVENTS = 100_000
WORKER_TIMEOUT_S = 3600


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.contenders import CONTENDERS, EXTRA_ENV

    parser.add_argument("--events", type=_count, default=None, help=f"events to generate (default {DEFAULT_EVENTS:,}; 100k, 1M accepted)")
    parser.add_argument("--runs", type=int, default=None, help="runs per contender and mode; the median is reported (default 3)")
    parser.add_argument(
        "--contenders",
        type=_csv_list,
        default=list(CONTENDERS),
        help=f"comma list (default all: {','.join(CONTENDERS)}; more via ${EXTRA_ENV}=name=module,...)",
    )
    parser.add_argument("--formats", type=_csv_list, default=["ndjson", "csv"], help="comma list of ndjson,csv (default both)")
    parser.add_argument("--out", type=Path, default=None, help="results directory (default <EVENTLAKE_HOME>/bench)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_EVENTS:,} events, 1 run (unless --events/--runs say otherwise)")
    parser.add_argument("--batch-events", type=_count, default=BATCH_EVENTS, help="size of the rust batch timing (default 100k)")


def _config(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.contenders import registry

    known = list(registry())
    events = args.events if args.events is not None else (QUICK_EVENTS if args.quick else DEFAULT_EVENTS)
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    unknown = [c for c in args.contenders if c not in known]
    if unknown:
        raise SystemExit(f"unknown contender(s): {', '.join(unknown)} (known: {', '.join(known)})")
    bad_formats = [f for f in args.formats if f not in ("ndjson", "csv")]
    if bad_formats:
        raise SystemExit(f"unknown format(s): {', '.join(bad_formats)} (known: ndjson, csv)")
    if events < 1 or runs < 1:
        raise SystemExit("--events and --runs must be at least 1")
    return {
        "events": events,
        "runs": runs,
        "contenders": [c for c in known if c in args.contenders],
        "formats": args.formats,
        "out": (args.out or default_out_dir()).resolve(),
        "seed": args.seed,
        "quick": bool(args.quick),
        "batch_events": min(args.batch_events, events),
    }


def library_versions(modules: dict[str, Any]) -> dict[str, str]:
    versions: dict[str, str] = {}
    for module in modules.values():
        try:
            versions.update(module.versions())
        except Exception as exc:  # an unimportable library is reported, the run of it fails later
            versions[module.NAME] = f"unavailable ({exc})"
    return versions


# -- running one worker ---------------------------------------------------------------------
def run_worker(
    contender: str, mode: str, fmt: str, input_path: Path, run_dir: Path, tag: str, on_event=None
) -> dict[str, Any]:
    """Run one job in a fresh process; returns its result dict with ``status`` ok|failed."""
    run_dir.mkdir(parents=True, exist_ok=True)
    result_path = run_dir / f"{tag}.json"
    stderr_path = run_dir / f"{tag}.stderr"
    result_path.unlink(missing_ok=True)
    load_at_start = os.getloadavg()[0]
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.worker",
        "--contender", contender,
        "--mode", mode,
        "--format", fmt,
        "--input", str(input_path),
        "--output", str(run_dir / f"{tag}.parquet"),
        "--work-dir", str(run_dir / f"{tag}.work"),
        "--result", str(result_path),
    ]  # fmt: skip
    error = None
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(WORKER_TIMEOUT_S, kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("event") == "error":
                    error = event.get("error")
                if on_event is not None:
                    on_event(event)
            code = proc.wait()
        finally:
            timer.cancel()
        if killed.is_set():
            error = f"killed after {WORKER_TIMEOUT_S} s"
    base = {"contender": contender, "mode": mode, "format": fmt, "load_average_1m_at_start": load_at_start}
    if code == 0 and result_path.exists():
        return {**base, **json.loads(result_path.read_text()), "status": "ok"}
    if error is None:
        tail = stderr_path.read_text(errors="replace").strip().splitlines()[-5:]
        error = f"exit code {code}: " + " | ".join(tail)
    log.error("bench worker %s/%s on %s failed: %s", contender, mode, fmt, error)
    return {**base, "status": "failed", "error": error}


# -- the benchmark -------------------------------------------------------------------------
def _progress(console):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)


def prepare_input(cfg: dict[str, Any], console):
    """The cached (or freshly generated) dataset, and the rust batch file cut from it."""
    from benchmarks import datagen

    out: Path = cfg["out"]
    dataset = datagen.load_cached(out, cfg["events"], cfg["seed"])
    if dataset is None:
        with _progress(console) as progress:
            task = progress.add_task(f"generating {cfg['events']:,} events (seed {cfg['seed']})", total=cfg["events"])
            dataset, _ = datagen.ensure_dataset(out, cfg["events"], cfg["seed"], lambda n: progress.advance(task, n))
    else:
        console.print(f"input: cached {dataset.directory}")
    sizes = ", ".join(f"{fmt} {dataset.size(fmt) / 1e6:.0f} MB" for fmt in cfg["formats"])
    console.print(f"input: {sizes}; expected {json.dumps(dataset.manifest['expected'])}")
    batch_path = dataset.directory / f"events-head{cfg['batch_events']}.ndjson"
    if "rust" in cfg["contenders"] and not batch_path.exists():
        batch_path.write_bytes(datagen.head_records(dataset.path("ndjson"), "ndjson", cfg["batch_events"]))
    return dataset, batch_path


def plan_runs(cfg: dict[str, Any], modules: dict[str, Any]) -> list[tuple[str, int, str, str]]:
    """(format | "batch", run, contender, mode), runs interleaved across contenders."""
    plan: list[tuple[str, int, str, str]] = []
    for fmt in cfg["formats"]:
        for r in range(1, cfg["runs"] + 1):
            for name, module in modules.items():
                plan.append((fmt, r, name, "staged"))
                if module.WHOLE is not None:
                    plan.append((fmt, r, name, "whole"))
    if "rust" in modules:
        plan += [("batch", r, "rust", "whole") for r in range(1, cfg["runs"] + 1)]
    return plan


def execute(plan, cfg: dict[str, Any], dataset, batch_path: Path, console) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run the plan, one worker process per entry; returns (runs, rust batch runs)."""
    runs: list[dict[str, Any]] = []
    batch_runs: list[dict[str, Any]] = []
    run_root = cfg["out"] / "runs"
    with _progress(console) as progress:
        overall = progress.add_task("all runs", total=len(plan))
        current = progress.add_task("", total=None)
        for fmt, r, name, mode in plan:
            if fmt == "batch":
                label = f"rust batch of {cfg['batch_events']:,} (ndjson) run {r}/{cfg['runs']}"
                input_path, fmt_arg, run_dir = batch_path, "ndjson", run_root / "batch"
            else:
                label = f"{fmt} run {r}/{cfg['runs']}: {name} {mode}"
                input_path, fmt_arg, run_dir = dataset.path(fmt), fmt, run_root / fmt
            progress.update(current, description=label)

            def on_event(event: dict[str, Any], label: str = label) -> None:
                if event.get("event") == "stage_start":
                    progress.update(current, description=f"{label}: {event['stage']}")

            result = run_worker(name, mode, fmt_arg, input_path, run_dir, f"{name}-{mode}", on_event)
            result["run"] = r
            (batch_runs if fmt == "batch" else runs).append(result)
            if result["status"] == "ok":
                console.print(
                    f"  {label}: {result['total_seconds']:.3f} s, peak +{result['peak_rss_delta'] / 1e6:.0f} MB", highlight=False
                )
            else:
                console.print(f"  [red]{label}: FAILED: {result['error']}[/]", highlight=False)
            progress.advance(overall)
        progress.update(current, description="done", visible=False)
    return runs, batch_runs


def summarise(cfg, modules, machine, versions, dataset, runs, batch_runs, batch_path: Path, started: datetime, console) -> dict[str, Any]:
    """Checks on the last run's outputs, medians, ratios and goals, as the results document."""
    from benchmarks import checks, report

    summary: dict[str, Any] = {
        "benchmark": "benchmarks.processor",
        "started_at": started.isoformat(),
        "config": {**cfg, "out": str(cfg["out"])},
        "machine": machine,
        "versions": versions,
        "dataset": dataset.manifest,
        "memory_measure": (
            "peak RSS delta: ru_maxrss of the worker process minus its RSS after imports, one fresh process per run; "
            "per stage: largest RSS sampled every 10 ms during the stage minus the same baseline"
        ),
        "timing": "time.perf_counter around each stage inside the worker; imports and process start are not timed",
        "checked_runs": f"the outputs of the last run ({cfg['runs']}) of every contender and mode",
        "notes": {name: list(m.NOTES) for name, m in modules.items()},
        "formats": {},
    }
    last_runs = [r for r in runs if r["run"] == cfg["runs"]]
    for fmt in cfg["formats"]:
        with console.status(f"checking that the contenders agree ({fmt})"):
            check = checks.check([r for r in last_runs if r["format"] == fmt], dataset.manifest["expected"])
        data = report.aggregate(runs, fmt, dataset.events, dataset.size(fmt), modules)
        data["checks"] = check.to_json()
        summary["formats"][fmt] = data
    batch = None
    if batch_runs:
        ok = [r for r in batch_runs if r["status"] == "ok"]
        secs = [r["total_seconds"] for r in ok]
        batch = {
            "events": cfg["batch_events"],
            "format": "ndjson",
            "how": "process() + write_iceberg_parquet on the first records of the NDJSON input",
            "input_bytes": batch_path.stat().st_size,
            "median_seconds": report.median(secs),
            "seconds_per_run": secs,
            "peak_rss_delta_bytes": report.median([r["peak_rss_delta"] for r in ok]),
            "failed_runs": [r.get("error") for r in batch_runs if r["status"] != "ok"],
        }
    summary["rust_batch"] = batch
    summary["goals"] = report.goals(summary["formats"], batch)
    failed_runs = [r for r in runs + batch_runs if r["status"] != "ok"]
    summary["agreement"] = all(d["checks"]["ok"] for d in summary["formats"].values())
    summary["ok"] = summary["agreement"] and not failed_runs
    summary["status"] = "passed" if summary["ok"] else "failed"
    summary["failures"] = [f"{r['contender']}/{r['mode']} {r['format']} run {r['run']}: {r['error']}" for r in failed_runs]
    summary["finished_at"] = datetime.now(UTC).isoformat()
    summary["machine"]["load_average_at_end"] = os.getloadavg()
    loads = [r["load_average_1m_at_start"] for r in runs + batch_runs]
    summary["machine"]["load_average_1m_during_runs"] = {"median": report.median(loads), "max": max(loads, default=None)}
    keep = ("contender", "mode", "format", "run", "status", "error", "stages", "total_seconds", "peak_rss_delta",
            "stage_peak_rss_delta", "load_average_1m_at_start", "rows_written", "violations", "output_bytes")  # fmt: skip
    summary["runs"] = [{k: r[k] for k in keep if k in r} for r in runs + batch_runs]
    return summary


def write_outputs(summary: dict[str, Any], out: Path, started: datetime) -> tuple[Path, Path | str]:
    """processor-<UTC stamp>.json/.png, copied to processor-latest.json/.png."""
    from benchmarks.report import chart

    return common.write_outputs(summary, out, started, "processor", chart)


def run(args: argparse.Namespace) -> int:
    """The benchmark; exit code 0 when every run succeeded and every contender agreed."""
    from rich.console import Console

    from benchmarks import report
    from benchmarks.contenders import load

    cfg = _config(args)
    console = Console()
    cfg["out"].mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    modules = {name: load(name) for name in cfg["contenders"]}
    machine = machine_info()
    versions = library_versions(modules)
    console.print(
        f"[bold]benchmarks.processor[/]: {cfg['events']:,} events, {cfg['runs']} run(s), "
        f"contenders {', '.join(cfg['contenders'])}, formats {', '.join(cfg['formats'])}, "
        f"{machine['cores']} cores ({machine['cpu_model']}), load average {machine['load_average_at_start'][0]:.2f}"
    )
    if machine["load_average_at_start"][0] > 0.5 * (machine["cores"] or 1):
        console.print("[yellow]the machine is busy (load average above half the cores): timings will be noisy[/]")
    if "rust" in modules and (missing := modules["rust"].missing_functions()):
        console.print(f"[yellow]data_processor_rs lacks {', '.join(missing)}: its runs will fail[/]")

    dataset, batch_path = prepare_input(cfg, console)
    runs, batch_runs = execute(plan_runs(cfg, modules), cfg, dataset, batch_path, console)
    summary = summarise(cfg, modules, machine, versions, dataset, runs, batch_runs, batch_path, started, console)

    console.print()
    report.print_tables(console, summary)
    report.print_batch(console, summary["rust_batch"])
    report.print_goals(console, summary["goals"])
    report.print_notes(console, summary["notes"])
    results_path, chart_path = write_outputs(summary, cfg["out"], started)
    load = summary["machine"]["load_average_1m_during_runs"]
    # the previous worker of this benchmark adds up to ~cores itself: warn only well above that
    if load["median"] is not None and load["median"] > 1.5 * (machine["cores"] or 1):
        console.print(
            f"[yellow]other work shared the machine: median 1-minute load average {load['median']:.1f} "
            f"(max {load['max']:.1f}) on {machine['cores']} cores while the runs started; compare with care[/]"
        )
    console.print(f"results: {results_path}\nchart:   {chart_path}")
    if not summary["ok"]:
        console.print("[red bold]benchmark FAILED[/]: " + ("contenders disagree" if not summary["agreement"] else "some runs failed"))
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.processor",
        description="Benchmark data_processor_rs against pure Python, polars, DuckDB and pyarrow.",
    )
    add_arguments(parser)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
