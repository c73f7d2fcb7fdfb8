"""`eventlake bench ingest`, tiny: every section runs end to end, the files it writes, the rows it drains.

No timing is asserted: the goals may be PASS or MISS, but each must be measured.
Without wrk on PATH the command falls back to its asyncio client and still passes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from eventlake.bench import ingest, loadgen
from tests.bench.conftest import _env, _eventlake, _number, run_bench

EVENTS = 3000


def test_smoke_every_section_runs_and_drains_every_event(tmp_path):
    args = ["--events", str(EVENTS), "--batch-events", "1000", "--duration", "1",
            "--warmup", "0", "--freshness-seconds", "1", "--soak-seconds", "1", "--keep"]  # fmt: skip
    out, results, done = run_bench(tmp_path, "ingest", args, timeout=400)
    assert results["machine"]["cores"] == os.cpu_count() and results["machine"]["cpu_model"]
    assert results["client"]["name"] in ("wrk", "python")

    sections = results["sections"]
    assert set(sections) == set(ingest.SECTIONS)
    for name, section in sections.items():
        assert "error" not in section, (name, section)

    post = sections["post"]
    for target in ("api", "bare"):
        r = post[target]
        assert r["requests"] > 0 and _number(r["requests_per_s"]) and r["requests_per_s"] > 0
        assert all(_number(r["latency_ms"][p]) for p in ("p50", "p99"))
        assert isinstance(r["errors"], int)
    assert _number(post["api_share_of_bare"])

    batched = sections["batched"]
    assert batched["errors"] == 0 and batched["bodies"] == 3
    assert batched["events_accepted"] == EVENTS and _number(batched["events_per_s"])

    drain = sections["drain"]
    assert drain["events"] == EVENTS and drain["rows_match"]
    assert _number(drain["process_alone"]["events_per_s"]) and drain["process_alone"]["valid_rows"] == EVENTS
    assert [r["consumers"] for r in drain["runs"]] == [1, 2, 4]
    work = Path(results["config"]["work"])
    for run in drain["runs"]:
        assert _number(run["events_per_s"]) and run["events_per_s"] > 0
        assert run["rows_in_iceberg"] == EVENTS and run["rejected_rows_in_iceberg"] == 0
        assert not any(run["tracebacks_per_consumer"])
        # Property: every event acknowledged by the API lands in raw.events exactly once
        from eventlake import lake

        settings = ingest.home_settings(work / f"drain-{run['consumers']}c")
        table = lake.ensure_tables(lake.load_catalog(settings))["events"]
        assert table.scan().to_arrow().num_rows == EVENTS

    fresh = sections["freshness"]
    assert fresh["errors"] == 0 and fresh["jobs_not_completed"] == 0 and fresh["requests_accepted"] > 0
    assert _number(fresh["p50_s"]) and _number(fresh["p95_s"]) and fresh["p50_s"] <= fresh["p95_s"]

    soak = sections["soak"]
    assert soak["requests"] > 0 and isinstance(soak["errors"], int)
    assert _number(soak["rss_bytes_start"]) and _number(soak["rss_bytes_end"])

    goals = results["goals"]
    assert len(goals) == 11
    for goal in goals:
        assert goal["status"] in ("PASS", "MISS"), goal  # all measured, none N/A
        assert _number(goal["measured"]), goal
    assert "goals (measured in this run)" in done.stdout
    assert "PASS" in done.stdout or "MISS" in done.stdout


def test_fallback_client_measures_the_bare_endpoint(tmp_path):
    """The asyncio client that replaces wrk when it is missing: real requests, percentiles, status codes."""
    server = ingest.start_bare(tmp_path / "home", tmp_path / "logs")
    try:
        spec = loadgen.LoadSpec(url=server.url(ingest.INGEST_PATH), body=ingest.single_event(1),
                                headers={"Content-Type": "application/json"}, connections=8, duration=1.0)  # fmt: skip
        result = loadgen.run(spec, "python", tmp_path / "load")
        paced = loadgen.run(loadgen.LoadSpec(**{**spec.__dict__, "rate": 200.0}), "python", tmp_path / "load")
    finally:
        ingest.stop([server])
    assert result["client"] == "python" and result["requests"] > 0 and result["errors"] == 0
    assert result["status_codes"] == {"202": result["requests"]}
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"] <= result["latency_ms"]["max"]
    assert paced["errors"] == 0 and 100 <= paced["requests"] <= 260  # about 200 in 1 s; no timing goal


def test_auto_client_falls_back_without_wrk(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    client, note = loadgen.resolve_client("auto")
    assert client == "python" and "wrk not found" in note
    with pytest.raises(loadgen.LoadError, match="apt-get install -y wrk"):
        loadgen.resolve_client("wrk")


def test_help_explains_every_option():
    done = subprocess.run([*_eventlake(), "bench", "ingest", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for option in ("--only", "--events", "--duration", "--connections", "--batch-events", "--consumers",
                   "--freshness-rate", "--soak-seconds", "--client", "--out", "--keep"):  # fmt: skip
        assert option in done.stdout


def test_unknown_section_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="unknown section"):
        ingest.main(["--only", "post,teleport", "--out", str(tmp_path)])


def test_chaos_soak_breaks_components_and_reconciles_every_job(tmp_path):
    """`--chaos`: components are killed and paused while producers post; every check of the
    reconciliation must hold (exit code 0) and the results file says what was broken."""
    out = tmp_path / "out"
    proc = subprocess.run([*_eventlake(), "bench", "ingest", "--chaos", "0.3", "--out", str(out)],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=400)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    (results,) = out.glob("chaos-*.json")
    data = json.loads(results.read_text())
    assert data["breaks"], "nothing was broken"
    assert data["acknowledged_jobs"] > 0 and data["rows_in_raw_events"] == data["valid_events"]
    assert all(data["checks"].values()), data["checks"]
