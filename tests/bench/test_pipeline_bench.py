"""`eventlake bench pipeline`, tiny: every phase runs end to end on a tmp EVENTLAKE_HOME, the files it
writes, and the counts reconcile (fact_events holds exactly the distinct valid events published).

No timing is asserted: the goals may be PASS or MISS, but each must be measured.
"""

from __future__ import annotations

import subprocess

import pytest

from eventlake.bench import pipeline
from tests.bench.conftest import _eventlake, _number, run_bench

EVENTS = 20_000
SIZES = [10_000, 20_000]
INCREMENTAL = 1_000
RUNS = 1  # each transform_job run is a child process of its own (Dagster + dbt start): keep them few
FRESH_RATE, FRESH_BATCH, FRESH_SECONDS = 200, 20, 10


@pytest.mark.timeout(2700)  # 5 or 6 transform_job runs, each a fresh process: minutes each on a busy machine
def test_smoke_every_phase_runs_and_counts_reconcile(tmp_path):
    args = ["--events", str(EVENTS), "--sizes", ",".join(map(str, SIZES)),
            "--incremental-events", str(INCREMENTAL), "--runs", str(RUNS), "--users", "500", "--products", "50",
            "--freshness-seconds", str(FRESH_SECONDS), "--freshness-rate", str(FRESH_RATE), "--freshness-batch", str(FRESH_BATCH)]  # fmt: skip
    out, results, done = run_bench(tmp_path, "pipeline", args, timeout=2600, stdout_tail=6000)
    assert not list(out.glob("pipeline-work-*")), "the work directory is removed without --keep"

    phases = results["phases"]
    history = phases["history"]
    valid_per_event = sum(t["valid"] for t in history["templates"]) / sum(t["events"] for t in history["templates"])
    assert [b["to_events"] for b in history["build"]] == SIZES  # one history, grown through the sizes
    assert history["users_rows"] >= 500 and history["products_rows"] == 50
    assert all(t["invalid"] > 0 and t["duplicates"] > 0 for t in history["templates"])  # the history holds both
    assert 0.9 < valid_per_event < 1.0

    sizes = phases["sizes"]
    assert [s["size"] for s in sizes] == SIZES
    expected = None
    for entry in sizes:
        full = entry["full"]
        assert full["status"] == "SUCCESS" and full["rows_match"], full
        # Property: after every run fact_events holds exactly the distinct valid events published
        assert full["fact_events_rows"] == full["expected_rows"] > 0
        assert _number(full["run_wall_s"]) and _number(full["process_wall_s"]) and full["process_wall_s"] >= full["run_wall_s"]
        assert _number(full["peak_rss_bytes"]) and full["peak_rss_bytes"] > 50e6
        assert full["steps"] and all(s["status"] == "SUCCESS" for s in full["steps"])
        assert full["top_steps"] and all(_number(s["seconds"]) for s in full["top_steps"])
        inc = entry["incremental"]
        assert len(inc["runs"]) == RUNS and inc["rows_match"]
        rows = [full["fact_events_rows"]] + [r["fact_events_rows"] for r in inc["runs"]]
        for before, after in zip(rows, rows[1:]):  # each run adds the new events' distinct valid ones
            assert after - before == pytest.approx(INCREMENTAL * valid_per_event, rel=0.1)
        assert _number(inc["run_wall_s"]["p50"]) and inc["run_wall_s"]["p50"] <= inc["run_wall_s"]["max"]
        assert _number(inc["peak_rss_bytes"])
        if expected is not None:
            assert full["history_events"] > expected
        expected = full["history_events"]
    assert sizes[-1]["history_events"] >= EVENTS
    dbt = [m for m in sizes[-1]["full"]["dbt_models"] or []]
    assert any("fact_events" in m["node"] for m in dbt), "dbt's per-model timings come from run_results.json"

    fresh = phases["freshness"]
    assert fresh["errors"] == 0 and fresh["requests_accepted"] == FRESH_RATE // FRESH_BATCH * FRESH_SECONDS
    assert fresh["posts_not_in_fact_events"] == 0 and fresh["fact_events"]["posts"] == fresh["requests_accepted"]
    assert fresh["iceberg"]["posts"] == fresh["requests_accepted"]
    for key in ("iceberg", "fact_events"):
        assert _number(fresh[key]["p50_s"]) and _number(fresh[key]["p95_s"]) and fresh[key]["p50_s"] <= fresh[key]["p95_s"]
    # an event is in Iceberg before a transform can put it in fact_events
    assert fresh["fact_events"]["p50_s"] >= fresh["iceberg"]["p50_s"]
    assert fresh["transform_runs"] >= 1 and fresh["rows_match"]
    assert fresh["fact_events_rows_at_end"] == fresh["expected_rows_at_end"]

    goals = results["goals"]
    assert len(goals) == 6
    for goal in goals:
        assert goal["status"] in ("PASS", "MISS"), goal  # all measured, none N/A
    assert results["where_the_time_went"] and all(w["top_steps"] for w in results["where_the_time_went"])
    for text in ("goals (measured in this run)", "where the time went", "POST -> fact_events"):
        assert text in done.stdout


def test_help_explains_every_option():
    done = subprocess.run([*_eventlake(), "bench", "pipeline", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for option in ("--only", "--events", "--sizes", "--incremental-events", "--runs", "--freshness-rate",
                   "--freshness-seconds", "--out", "--keep"):  # fmt: skip
        assert option in done.stdout
    assert "--transform-child" not in done.stdout


def test_bad_options_are_refused(tmp_path):
    with pytest.raises(SystemExit, match="unknown phase"):
        pipeline.main(["--only", "full,teleport", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="above --events"):
        pipeline.main(["--events", "1000", "--sizes", "500,2000", "--out", str(tmp_path)])


def test_template_rebrand_gives_new_ids_and_keeps_the_rest():
    from datetime import UTC, datetime

    t = pipeline.make_template(200, 20, 5, 3, datetime(2026, 3, 1, tzinfo=UTC))
    a, b = t.rebrand("h000001-"), t.rebrand("h000002-")
    assert a != b and len(a) == len(b) == len(t.body) + 8 * a.count(b'"event_id":"h000001-')
    assert a.count(b'"event_id":"h000001-e-') == t.body.count(pipeline.ID_FIELD) > 0
    assert a.replace(b"h000001-", b"") == t.body
    assert t.events == 200 + t.duplicates and 0 < t.valid <= 200


def test_where_the_time_went_splits_the_dbt_step():
    """The step that ran dbt is split into dagster-dbt before the command, dbt's start to its first node,
    the nodes, and the rest; the top steps list the largest parts first."""
    t0 = 1_800_000_000.0
    iso = lambda t: __import__("datetime").datetime.fromtimestamp(t, __import__("datetime").UTC).isoformat()  # noqa: E731
    steps = [{"step": "dbt_models", "start": t0, "seconds": 100.0, "status": "SUCCESS"},
             {"step": "gx_suite", "start": t0 + 100, "seconds": 5.0, "status": "SUCCESS"}]  # fmt: skip
    models = [{"node": "model.eventlake.stg_events", "status": "success", "seconds": 20.0, "started_at": iso(t0 + 60)},
              {"node": "model.eventlake.fact_events", "status": "success", "seconds": 10.0, "started_at": iso(t0 + 80)}]  # fmt: skip
    (over,) = pipeline.dbt_overhead(steps, models, [t0 + 25])
    assert over["step"] == "dbt_models" and over["in_nodes_s"] == 30.0
    assert over["before_first_node_s"] == pytest.approx(60.0) and over["other_s"] == pytest.approx(10.0)
    assert over["before_dbt_command_s"] == pytest.approx(25.0) and over["dbt_command_to_first_node_s"] == pytest.approx(35.0)
    top = pipeline.top_steps({"steps": steps, "dbt_models": models, "dbt_overhead": [over], "startup_s": 12.0}, n=4)
    assert [t["seconds"] for t in top] == sorted((t["seconds"] for t in top), reverse=True)
    assert top[0]["what"] == "dagster step dbt_models"
    assert "dbt command to its first node" in top[1]["what"] and "before the dbt command" in top[2]["what"]
