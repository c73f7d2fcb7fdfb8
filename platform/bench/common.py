"""What the load generators share: argument types and options, the machine, where results go, the result
files, the summary's head and tail, goal statuses.

``write_outputs`` draws the PNG chart only when matplotlib is importable (the
``charts`` extra: ``pip install 'eventlake[charts]'``); without it the JSON
results are still written and the chart's place says how to get it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import platform as _platform
import statistics
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("eventlake.bench")

CHARTS_HINT = "not drawn: matplotlib is not installed (pip install 'eventlake[charts]')"


def _count(text: str) -> int:
    """``100k``, ``1M``, ``10_000``, ``1,000`` -> an int (argparse type)."""
    text = text.replace(",", "").replace("_", "").strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def _csv_list(text: str) -> list[str]:
    """``a, b,c`` -> ``["a", "b", "c"]`` (argparse type)."""
    return [p.strip() for p in text.split(",") if p.strip()]


def _count_list(text: str) -> list[int]:
    """``1,2,4``, ``1M,3M`` -> ``[1, 2, 4]``, ``[1_000_000, 3_000_000]`` (argparse type)."""
    return [_count(p) for p in _csv_list(text)]


def _seconds(text: str) -> float:
    """``90``, ``90s``, ``5m``, ``1h`` -> seconds (argparse type)."""
    text = text.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}.get(text[-1:], None)
    return float(text[:-1]) * scale if scale else float(text)


def add_only_argument(parser: Any, known: tuple[str, ...], what: str, note: str) -> None:
    """--only: a comma list of the parts (``what``: sections, phases) to run, all by default."""
    parser.add_argument("--only", type=_csv_list, metavar=what.upper(), default=list(known),
                        help=f"comma list of the {what} to run (default all: {','.join(known)}); {note}")  # fmt: skip


def add_freshness_arguments(parser: Any, part: str, rate: int, seconds: float | None, seconds_help: str) -> None:
    """--freshness-rate, --freshness-batch and --freshness-seconds; ``part`` names the section or phase."""
    parser.add_argument("--freshness-rate", type=_count, metavar="EVENTS_PER_S", default=rate,
                        help=f"events/s POSTed, steadily, during the freshness {part} (default {rate})")  # fmt: skip
    parser.add_argument("--freshness-batch", type=int, metavar="N", default=50,
                        help=f"events per POST of the freshness {part}; requests/s = rate / batch (default 50)")  # fmt: skip
    parser.add_argument("--freshness-seconds", type=_seconds, metavar="SECONDS", default=seconds,
                        help=f"seconds of paced POSTs in the freshness {part} ({seconds_help})")  # fmt: skip


def add_output_arguments(parser: Any, prefix: str, work: str) -> None:
    """--out, --seed and --keep; ``prefix`` names the result files, ``work`` what the work directory holds."""
    parser.add_argument("--out", type=Path, metavar="DIR", default=None,
                        help=f"results directory: {prefix}-<stamp>.json/.png and {prefix}-latest.json/.png "
                        "(default <EVENTLAKE_HOME>/bench)")  # fmt: skip
    parser.add_argument("--seed", type=int, metavar="N", default=42, help="generator seed of the event data (default 42)")
    parser.add_argument("--keep", action="store_true",
                        help=f"keep the work directory ({work}) instead of deleting it")  # fmt: skip


def selected(only: list[str], known: tuple[str, ...], what: str) -> list[str]:
    """The parts ``--only`` names, in run order; an unknown name ends the command."""
    unknown = [name for name in only if name not in known]
    if unknown:
        raise SystemExit(f"unknown {what}(s): {', '.join(unknown)} (known: {', '.join(known)})")
    return [name for name in known if name in only]


def output_config(args: Any) -> dict[str, Any]:
    """The config entries of --out (resolved, the default filled in), --seed and --keep."""
    return {"out": (args.out or default_out_dir()).resolve(), "seed": args.seed, "keep": bool(args.keep)}


def default_out_dir() -> Path:
    try:
        from eventlake.settings import get_settings

        return get_settings().home / "bench"
    except Exception:  # settings unreadable: keep the benchmark usable on its own
        return Path("bench_results").resolve()


def machine_info() -> dict[str, Any]:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        pass
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model or _platform.processor() or "unknown",
        "memory_bytes": mem,
        "os": _platform.platform(),
        "python": _platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def library_versions() -> dict[str, str]:
    """Versions of the libraries on the measured path (the installed distribution, else ``__version__``)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("fastapi", "uvicorn", "starlette", "httpx", "pyiceberg", "pyarrow", "data_processor_rs"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            try:
                out[name] = getattr(__import__(name), "__version__", "unknown")
            except ImportError:
                out[name] = "unavailable"
    return out


def start_summary(
    benchmark: str, started: datetime, cfg: dict[str, Any], work: Path, machine: dict[str, Any]
) -> dict[str, Any]:
    """The head every summary starts with: what ran, when, its config, the machine, the library versions."""
    return {
        "benchmark": benchmark,
        "started_at": started.isoformat(),
        "config": {**cfg, "out": str(cfg["out"]), "work": str(work)},
        "machine": machine,
        "versions": library_versions(),
    }


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def goal_status(measured: float | None, target: float, higher_is_better: bool) -> str:
    """PASS or MISS against ``target``; N/A when nothing was measured."""
    if measured is None:
        return "N/A"
    return "PASS" if (measured >= target if higher_is_better else measured <= target) else "MISS"


def charts_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def write_outputs(
    summary: dict[str, Any], out: Path, started: datetime, prefix: str, chart: Callable[[dict[str, Any], Path], None]
) -> tuple[Path, Path | str]:
    """<prefix>-<UTC stamp>.json/.png (the chart drawn by ``chart``), copied to <prefix>-latest.json/.png.

    Returns the results path and the chart's path, or, without matplotlib, a line saying how to get it."""
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    results_path = out / f"{prefix}-{stamp}.json"
    results_path.write_text(json.dumps(summary, indent=2, default=str))
    (out / f"{prefix}-latest.json").write_bytes(results_path.read_bytes())
    if not charts_available():
        log.warning("chart %s", CHARTS_HINT)
        return results_path, CHARTS_HINT
    chart_path = out / f"{prefix}-{stamp}.png"
    chart(summary, chart_path)
    (out / f"{prefix}-latest.png").write_bytes(chart_path.read_bytes())
    return results_path, chart_path


def bench_console() -> Any:
    """A rich console; piped into a file or CI log, wide enough for the tables instead of rich's 80 columns."""
    import sys

    from rich.console import Console

    return Console() if sys.stdout.isatty() or os.environ.get("COLUMNS") else Console(width=150)


async def paced(n_requests: int, request_rate: float, one: Callable[[int], Any]) -> float:
    """Start ``one(i)`` for i in 0..n_requests-1 at ``request_rate`` a second, wait for all of them.

    Returns the sending window: the last start's slot ends one interval after it."""
    import asyncio
    import time

    tasks = []
    start = time.perf_counter()
    for i in range(n_requests):
        delay = start + i / request_rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    sending = time.perf_counter() - start + 1 / request_rate
    await asyncio.gather(*tasks)
    return sending


def finish_summary(summary: dict[str, Any], failures: list[str], wall0: float) -> None:
    """Stamp the end of a run on its summary: ok, status, finished_at, wall_seconds, the load average."""
    import time
    from datetime import UTC

    summary["ok"] = not failures
    summary["status"] = "passed" if summary["ok"] else "failed"
    summary["finished_at"] = datetime.now(UTC).isoformat()
    summary["wall_seconds"] = time.monotonic() - wall0
    summary["machine"]["load_average_at_end"] = os.getloadavg()


def finish_run(
    console: Any, summary: dict[str, Any], failures: list[str], outputs: tuple[Path, Path | str], work: Path, keep: bool
) -> int:
    """Keep or remove the work directory, say where the results went; 1 when the run failed."""
    import shutil

    results_path, chart_path = outputs
    if keep:
        console.print(f"work directory kept: {work}", highlight=False)
    else:
        shutil.rmtree(work, ignore_errors=True)
    console.print(f"results: {results_path}\nchart:   {chart_path}\nwall time: {summary['wall_seconds']:.0f} s", highlight=False)
    if failures:
        console.print("[red bold]benchmark FAILED[/]: " + "; ".join(failures), highlight=False)
        return 1
    return 0


def bench_main(
    argv: list[str] | None, prog: str, description: str, add_arguments: Callable[[Any], None], run: Callable[[Any], int]
) -> int:
    """A load generator's ``python -m`` entry point: parse its arguments, log warnings only, run it."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_arguments(parser)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    return run(parser.parse_args(argv))


# -- the reports' shared parts (rich tables, the 2x3 matplotlib chart) ----------------------------
def results_table(title: str, caption: str, columns: list[str | tuple[str, str]]) -> Any:
    """A rich results table, title and caption left-justified; a column is a name or (name, justify)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for column in columns:
        name, justify = (column, "left") if isinstance(column, str) else column
        table.add_column(name, justify=justify)
    return table


def print_skipped(console: Any, summary: dict[str, Any]) -> None:
    for name, why in summary["skipped"].items():
        console.print(f"  [dim]{name}: skipped ({why})[/]", highlight=False)


def new_chart(title: str) -> tuple[Any, Any]:
    """A 2x3 figure (matplotlib, Agg backend) with its title: (figure, axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(18, 9.5))
    fig.suptitle(title, fontsize=11)
    return fig, axes


def finish_chart(fig: Any, ax: Any, goal_rows: list[dict[str, Any]], path: Any, two_lines: bool = False) -> None:
    """Draw the goals panel in ``ax`` (a goal and its measure on one line, or two), save the figure to ``path``."""
    import matplotlib.pyplot as plt

    ax.set_axis_off()
    ax.set_title("goals")
    for i, g in enumerate(goal_rows):
        y = 1 - (i + 0.5) / max(len(goal_rows), 1)
        colour = {"PASS": "#27ae60", "MISS": "#c0392b", "N/A": "#b7950b"}[g["status"]]
        ax.text(0.0, y, g["status"], color=colour, fontsize=8.5, fontweight="bold", transform=ax.transAxes, va="center")
        if two_lines:
            ax.text(0.11, y, f"{g['goal']}:\n{g['shown']}", fontsize=7.5, transform=ax.transAxes, va="center")
        else:
            ax.text(0.11, y, f"{g['goal']}: {g['shown']}", fontsize=8, transform=ax.transAxes, va="center")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_goal_table(console: Any, goal_rows: list[dict[str, Any]], where: str, measured_justify: str = "right") -> None:
    """The goals table: status, goal, where it was measured (the rows' ``where`` key), measured, note."""
    from rich.table import Table

    colour = {"PASS": "green", "MISS": "red", "N/A": "yellow"}
    table = Table(title="goals (measured in this run)", title_justify="left")
    for name, justify in (("", "left"), ("goal", "left"), (where, "left"), ("measured", measured_justify), ("note", "left")):
        table.add_column(name, justify=justify)
    for g in goal_rows:
        table.add_row(f"[{colour[g['status']]}]{g['status']}[/]", g["goal"], g[where] or "", g["shown"], g["note"])
    console.print(table)
