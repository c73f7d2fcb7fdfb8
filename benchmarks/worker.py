"""One contender, one input, one run, in a fresh process.

``processor`` starts ``python -m benchmarks.worker ...`` for every run so
that peak memory belongs to that contender alone. The worker

1. imports the contender (and its library), then reads the process's resident
   set size: the *baseline*;
2. runs the job, staged (five timed stages) or whole (one timed call), while a
   thread samples the resident set size every few milliseconds;
3. reports on stdout, one JSON object per line, each stage as it starts and
   ends (the parent draws progress from these), and writes the result JSON.

Memory is measured two ways: ``peak_rss_delta`` = ``ru_maxrss`` (the kernel's
exact high-water mark of the process) minus the baseline; per stage, the
largest sampled RSS during that stage minus the baseline (a sample every
``SAMPLE_SECONDS``; it can miss a spike shorter than that). Both include the
input bytes a contender holds and everything earlier stages still hold.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SAMPLE_SECONDS = 0.01
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


class RssSampler(threading.Thread):
    """Tracks the largest RSS seen since the last ``reset``."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.peak = rss_bytes()
        self._stop_event = threading.Event()

    def reset(self) -> None:
        self.peak = rss_bytes()

    def run(self) -> None:
        while not self._stop_event.wait(SAMPLE_SECONDS):
            current = rss_bytes()
            if current > self.peak:
                self.peak = current

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return max(self.peak, rss_bytes())


def emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def run(contender: str, mode: str, fmt: str, input_path: Path, output_path: Path, work_dir: Path, result_path: Path) -> int:
    from benchmarks.contenders import Job, load

    module = load(contender)
    module.prepare()
    job = Job(input_path=input_path, fmt=fmt, output_path=output_path, work_dir=work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    if output_path.exists():
        output_path.unlink()

    baseline = rss_bytes()
    sampler = RssSampler()
    sampler.start()
    stage_seconds: dict[str, float] = {}
    stage_peaks: dict[str, int] = {}

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        emit(event="stage_start", stage=name)
        sampler.reset()
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        stage_seconds[name] = seconds
        stage_peaks[name] = max(sampler.peak, rss_bytes()) - baseline
        emit(event="stage_end", stage=name, seconds=seconds)

    if mode == "whole":
        if module.WHOLE is None:
            raise SystemExit(f"{contender} has no whole-job mode")
        with stage("job"):
            outcome = module.WHOLE(job)
    else:
        outcome = module.staged(job, stage)
    sampler.stop()
    peak = max_rss_bytes()

    # Everything below is bookkeeping for the checks, outside any timing.
    import pyarrow.parquet as pq

    from benchmarks import contract

    violations = outcome.violation_table().cast(contract.violation_schema())
    violations_path = result_path.with_suffix(".violations.parquet")
    pq.write_table(violations, violations_path)
    result = {
        "contender": contender,
        "mode": mode,
        "format": fmt,
        "stages": stage_seconds,
        "total_seconds": sum(stage_seconds.values()),
        "stage_peak_rss_delta": stage_peaks,
        "baseline_rss": baseline,
        "peak_rss": peak,
        "peak_rss_delta": peak - baseline,
        "records": outcome.records,
        "invalid_records": outcome.invalid_records,
        "violations": violations.num_rows,
        "duplicates": outcome.duplicates,
        "rows_written": outcome.rows_written,
        "output_path": str(output_path),
        "output_bytes": output_path.stat().st_size if output_path.exists() else 0,
        "violations_path": str(violations_path),
        "extra": outcome.extra,
    }
    result_path.write_text(json.dumps(result, indent=2))
    emit(event="done")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--contender", required=True)
    parser.add_argument("--mode", choices=("staged", "whole"), required=True)
    parser.add_argument("--format", dest="fmt", choices=("ndjson", "csv"), required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        return run(args.contender, args.mode, args.fmt, args.input, args.output, args.work_dir, args.result)
    except Exception as exc:  # report to the parent, which marks the run failed
        emit(event="error", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        return 1


if __name__ == "__main__":
    sys.exit(main())
