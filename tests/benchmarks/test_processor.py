"""The whole benchmark, small: every contender, both formats, the files it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks import processor
from benchmarks.contenders import CONTENDERS, EXTRA_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_smoke_all_contenders_agree_and_results_are_written(tmp_path):
    out = tmp_path / "bench"
    code = processor.main(["--events", "2000", "--runs", "1", "--out", str(out), "--batch-events", "1000"])
    results = json.loads((out / "processor-latest.json").read_text())
    problems = {fmt: data["checks"]["problems"] for fmt, data in results["formats"].items()}
    assert results["failures"] == [], results["failures"]
    assert code == 0, problems
    assert results["status"] == "passed"
    for fmt in ("ndjson", "csv"):
        data = results["formats"][fmt]
        # Property 5: Schema validation detects all violations
        # (every contender's violations equal the reference's and the injected ones)
        assert data["checks"]["ok"], data["checks"]["problems"]
        assert set(data["contenders"]) == set(CONTENDERS)
        checked = set(data["checks"]["problems"])
        assert {f"{c}/staged" for c in CONTENDERS} <= checked
        assert {"rust/whole", "polars/whole", "duckdb/whole"} <= checked
        for entry in data["contenders"].values():
            assert entry["whole"]["median_seconds"] > 0
            assert all(s["median_seconds"] is not None for s in entry["stages"].values())
        assert set(data["ratios"]) == set(CONTENDERS) - {"rust"}
    assert results["rust_batch"]["events"] == 1000 and results["rust_batch"]["median_seconds"] > 0
    assert {g["status"] for g in results["goals"]} <= {"PASS", "MISS"}  # all measured, none N/A
    assert results["machine"]["cores"] >= 1 and results["machine"]["cpu_model"]
    for lib in ("polars", "duckdb", "pyarrow", "data_processor_rs"):
        assert lib in results["versions"]
    png = (out / "processor-latest.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000
    assert sorted(p.name for p in out.glob("processor-*.json")) != []


def test_a_wrong_contender_fails_the_run_with_a_mismatch_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(EXTRA_ENV, "python_wrong=tests.benchmarks.wrong_contender")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    out = tmp_path / "bench"
    code = processor.main(
        ["--events", "600", "--runs", "1", "--formats", "ndjson", "--contenders", "python,python_wrong", "--out", str(out)]
    )
    assert code == 1
    results = json.loads((out / "processor-latest.json").read_text())
    assert results["status"] == "failed" and results["ok"] is False
    problems = "\n".join(results["formats"]["ndjson"]["checks"]["problems"]["python_wrong/staged"])
    assert "event_value differs in 1 rows" in problems
    assert "1 event_ids missing" in problems
    assert "1 violations not reported" in problems
    assert results["formats"]["ndjson"]["checks"]["problems"]["python/staged"] == []
    printed = capsys.readouterr().out
    assert "MISMATCH" in printed and "benchmark FAILED" in printed


def test_module_help_lists_the_options():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.processor", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    for option in ("--events", "--runs", "--contenders", "--formats", "--out", "--seed", "--quick"):
        assert option in done.stdout


def test_unknown_contender_is_refused(tmp_path):
    import pytest

    with pytest.raises(SystemExit, match="unknown contender"):
        processor.main(["--contenders", "python,cobol", "--out", str(tmp_path)])
