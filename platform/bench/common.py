"""What the load generators share: argument types, the machine, where results go, the result files.

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
