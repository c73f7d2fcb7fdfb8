"""The contenders: one module each, the same job, the same interface.

A contender module defines

* ``NAME`` and ``LABEL`` (what the tables show),
* ``NOTES``: known quirks of the tool that the implementation works around,
  printed with the results,
* ``versions() -> dict[str, str]``,
* ``prepare()``: imports the libraries the stages use (called before the
  baseline memory reading; imports are not part of the job),
* ``staged(job, stage) -> Outcome``: the job as five timed stages
  (``with stage("parse"): ...``), each materialising its result,
* ``WHOLE``: ``None`` or a function ``(job) -> Outcome`` running the job the
  way the tool runs it best end to end (fused call, lazy query, one SQL
  script), described by ``WHOLE_HOW``. Without it the staged pipeline, timed
  end to end, is the whole job.

Stages: parse (read the file and parse it), validate (collect every violation
and drop invalid rows), transform, dedup, write (zstd Parquet, one file).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

STAGES: tuple[str, ...] = ("parse", "validate", "transform", "dedup", "write")

#: name -> module (in the order the tables show them)
_BUILTIN: dict[str, str] = {
    "rust": "benchmarks.contenders.rust",
    "python": "benchmarks.contenders.pure_python",
    "polars": "benchmarks.contenders.polars_frames",
    "duckdb": "benchmarks.contenders.duckdb_sql",
    "pyarrow": "benchmarks.contenders.pyarrow_compute",
}
#: more contenders, e.g. your own implementation: "name=package.module,name2=..."
EXTRA_ENV = "EVENTLAKE_BENCH_EXTRA_CONTENDERS"
CONTENDERS: tuple[str, ...] = tuple(_BUILTIN)


def registry() -> dict[str, str]:
    """Built-in contenders plus those named in ``$EVENTLAKE_BENCH_EXTRA_CONTENDERS``."""
    modules = dict(_BUILTIN)
    for item in os.environ.get(EXTRA_ENV, "").split(","):
        if "=" in item:
            name, module = item.split("=", 1)
            modules[name.strip()] = module.strip()
    return modules

StageFn = Callable[[str], AbstractContextManager[None]]


@dataclass(frozen=True)
class Job:
    input_path: Path
    fmt: str  # "ndjson" | "csv"
    output_path: Path  # the Parquet file to write
    work_dir: Path  # scratch space (e.g. a directory the Rust writer fills)


@dataclass
class Outcome:
    """What a contender produced. ``violation_table`` runs after timing stops."""

    records: int
    invalid_records: int
    duplicates: int
    rows_written: int
    violation_table: Callable[[], Any]  # -> pyarrow.Table with contract.violation_schema()
    extra: dict[str, Any] = field(default_factory=dict)


def warm_pyarrow() -> None:
    """Import pyarrow and trigger its lazy pandas probe (seconds on first use), outside timing."""
    import pyarrow as pa
    import pyarrow.compute  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    pa.table({"warm": pa.array([1])})


def load(name: str) -> ModuleType:
    modules = registry()
    if name not in modules:
        raise KeyError(f"unknown contender {name!r} (known: {', '.join(modules)})")
    return importlib.import_module(modules[name])
