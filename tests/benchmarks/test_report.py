"""Medians, ratios and goals from runs; the chart file."""

from __future__ import annotations

from types import SimpleNamespace

from benchmarks import report
from benchmarks.contenders import STAGES

EVENTS = 1000
INPUT = 2_000_000


def _module(name: str, whole: bool) -> SimpleNamespace:
    return SimpleNamespace(NAME=name, LABEL=name, NOTES=[], WHOLE=(lambda job: None) if whole else None, WHOLE_HOW="fused")


def _run(name: str, mode: str, seconds: float, run: int, peak: int = 1_000_000) -> dict:
    stages = {"job": seconds} if mode == "whole" else {s: seconds / len(STAGES) for s in STAGES}
    return {
        "contender": name,
        "mode": mode,
        "format": "ndjson",
        "run": run,
        "status": "ok",
        "stages": stages,
        "total_seconds": seconds,
        "stage_peak_rss_delta": {s: peak for s in stages},
        "peak_rss_delta": peak,
    }


def _summary(rust_whole: float, python: float, polars_whole: float, rust_peak: int) -> dict:
    modules = {"rust": _module("rust", True), "python": _module("python", False), "polars": _module("polars", True)}
    runs = []
    for r, jitter in enumerate((1.0, 1.5, 0.9), start=1):  # medians must ignore the 1.5x outlier
        runs += [
            _run("rust", "staged", rust_whole * 2 * jitter, r),
            _run("rust", "whole", rust_whole * jitter, r, peak=rust_peak),
            _run("python", "staged", python * jitter, r),
            _run("polars", "staged", polars_whole * jitter, r),
            _run("polars", "whole", polars_whole * jitter, r),
        ]
    return report.aggregate(runs, "ndjson", EVENTS, INPUT, modules)


def test_medians_rates_and_ratios():
    data = _summary(rust_whole=1.0, python=30.0, polars_whole=2.5, rust_peak=2_000_000)
    rust = data["contenders"]["rust"]
    assert rust["whole"]["median_seconds"] == 1.0
    assert rust["whole"]["events_per_s"] == EVENTS
    assert rust["whole"]["mb_per_s"] == 2.0
    assert rust["whole"]["peak_rss_delta_over_input"] == 1.0
    assert data["contenders"]["python"]["whole"]["how"] == "the staged pipeline, end to end"
    assert data["ratios"]["python"]["whole job"] == 30.0
    assert data["ratios"]["python"]["parse"] == 15.0  # python's staged stages vs rust's staged stages
    assert data["ratios"]["polars"]["whole job"] == 2.5


def test_goals_pass_and_miss_as_measured():
    good = _summary(rust_whole=1.0, python=30.0, polars_whole=2.5, rust_peak=2_000_000)
    bad = _summary(rust_whole=1.0, python=10.0, polars_whole=0.5, rust_peak=4_000_000)
    batch = {"events": 100_000, "format": "ndjson", "median_seconds": 0.2}
    goals = {g["goal"]: g["status"] for g in report.goals({"ndjson": good}, batch)}
    assert goals["whole pipeline >= 25x pure Python"] == "PASS"
    assert goals["parsing >= 20x pure Python"] == "MISS"  # 15x
    assert goals["faster than the fastest of polars/DuckDB/pyarrow (aim 2x)"] == "PASS"
    assert goals["rust peak memory <= 1.5x input size"] == "PASS"
    assert goals["100,000-event batch through the whole rust pipeline well under 1 s"] == "PASS"
    goals = {g["goal"]: g["status"] for g in report.goals({"ndjson": bad}, {**batch, "median_seconds": 1.5})}
    assert goals["whole pipeline >= 25x pure Python"] == "MISS"
    assert goals["faster than the fastest of polars/DuckDB/pyarrow (aim 2x)"] == "MISS"
    assert goals["rust peak memory <= 1.5x input size"] == "MISS"
    assert goals["100,000-event batch through the whole rust pipeline well under 1 s"] == "MISS"


def test_goals_without_rust_are_not_applicable():
    modules = {"python": _module("python", False)}
    data = report.aggregate([_run("python", "staged", 3.0, 1)], "ndjson", EVENTS, INPUT, modules)
    assert {g["status"] for g in report.goals({"ndjson": data}, None)} == {"N/A"}


def test_chart_is_written_with_and_without_rust(tmp_path):
    summary = {"config": {"runs": 3}, "machine": {"cores": 2}, "formats": {"ndjson": _summary(1.0, 30.0, 2.5, 1)}}
    report.chart(summary, tmp_path / "with.png")
    modules = {"python": _module("python", False)}
    alone = report.aggregate([_run("python", "staged", 3.0, 1)], "ndjson", EVENTS, INPUT, modules)
    report.chart({**summary, "formats": {"ndjson": alone}}, tmp_path / "without.png")
    for name in ("with.png", "without.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
