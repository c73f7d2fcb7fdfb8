"""What `eventlake demo` waits for, what its progress says, and its summary.

It waits for the first transform_job run that started after the last raw commit.

The snapshot sensor joins a transform run still QUEUED instead of asking for one
with the final snapshots' run key, so the demo cannot look a run up by that key:
the run that read everything is the first one that started at/after the last
commit that changed data (a compaction asks for no run and is passed over).

Its progress names each component it waits for and, during the transform, the
models built so far and the step running. Its summary lists tables in pipeline
order, shows received = accepted + rejected (invalid) + duplicates, and ends
with next steps whose commands work as printed.
"""

from __future__ import annotations

from eventlake import demo
from eventlake.resources.core import EventlakeResource
from tests.test_sensor_coalescing import compact, land


def run(run_id: str, status: str, created: float, started: float | None, run_key: str | None = None) -> dict:
    tags = [{"key": "dagster/run_key", "value": run_key}] if run_key else []
    return {"runId": run_id, "status": status, "creationTime": created, "startTime": started, "endTime": None,
            "tags": tags}


def test_the_run_that_started_first_after_the_commit_is_waited_for():
    committed_at = 1_000.0
    runs = [  # newest first, as Dagster lists them
        run("later", "QUEUED", 1_030.0, None, "snapshots:events=3"),
        run("follow-up", "STARTED", 995.0, 1_020.0),  # a queued run the final snapshots joined: no run key of theirs
        run("joined", "SUCCESS", 990.0, 1_000.0),  # started the moment the commit landed: it read it too
        run("before", "SUCCESS", 900.0, 950.0, "snapshots:events=1"),  # started before: missed it
    ]
    assert demo._transform_run_after(runs, committed_at)["runId"] == "joined"
    assert demo._transform_run_after(runs, 1_000.5)["runId"] == "follow-up"
    assert demo._transform_run_after(runs, 1_025.0) is None  # only a queued run left: not started yet
    assert demo._transform_run_after([], committed_at) is None


def test_a_run_still_queued_when_the_commit_landed_is_the_one():
    # the sensor saw the final snapshots while run A was queued and joined it: the only run, its key
    # names older snapshots, and it started after the commit
    runs = [run("A", "STARTED", 10.0, 25.0, "snapshots:events=1,products=None,users=None")]
    assert demo._transform_run_after(runs, 20.0)["runId"] == "A"


def test_the_last_data_commit_passes_over_a_compaction(tmp_path):
    tables = EventlakeResource(home=str(tmp_path / "eventlake")).tables()
    assert demo.last_data_commit(tables) is None

    land(tables, "users", 3, "a")
    land(tables, "events", 4, "a")
    last = land(tables, "events", 4, "b")
    assert demo.last_data_commit(tables) == last.timestamp_ms / 1000

    compacted = compact(tables["events"], "replace")
    assert compacted.snapshot_id != last.snapshot_id and compacted.timestamp_ms >= last.timestamp_ms
    assert demo.last_data_commit(tables) == last.timestamp_ms / 1000

    newer = land(tables, "products", 2, "c")
    assert demo.last_data_commit(tables) == newer.timestamp_ms / 1000


def test_the_summary_names_the_run():
    described = demo._describe_run(
        {**run("9221f8fb-0000", "SUCCESS", 90.0, 138.1), "endTime": 318.1,
         "tags": [{"key": "dagster/sensor_name", "value": "iceberg_snapshot_sensor"}]},
        100.0,
    )
    assert described == ("transform_job run 9221f8fb SUCCESS, started 38.1s after the last raw commit, ran 180s, "
                         "asked for by iceberg_snapshot_sensor")


# -- what the demo's progress says ------------------------------------------------------------
def _plan(**steps: list[str]) -> dict:
    """An execution plan as Dagster's GraphQL returns it: steps with their outputs (models and checks), and
    the run's asset keys (the models)."""
    models = [n for names in steps.values() for n in names if "_not_null_" not in n and n != "result"]
    return {"steps": [{"key": key, "outputs": [{"name": n} for n in names]} for key, names in steps.items()],
            "assetKeys": [{"path": [n]} for n in models]}


# the dbt layers' steps also have one output per dbt test, the check steps one "result": neither is a model
PLAN = _plan(dbt_staging=["stg_users", "stg_products", "stg_events", "stg_users_not_null_stg_users_job_id"],
             stg_events_gx_staging_suite=["result"],
             dbt_intermediate=["int_events_enriched", "int_users_with_history",
                               "int_events_enriched_not_null_int_events_enriched_event_id"],
             dbt_marts=["fact_events", "dim_users", "dim_products"],
             fact_events_gx_marts_suite=["result"])


def _materialized(*names: str) -> list[dict]:
    return [{"assetKey": {"path": [n]}} for n in names]


def test_transform_progress_counts_models_and_names_the_running_step():
    running = {
        "runId": "9221f8fb-1111", "status": "STARTED", "executionPlan": PLAN,
        "stepStats": [
            {"stepKey": "dbt_staging", "status": "SUCCESS",
             "materializations": _materialized("stg_events", "stg_products", "stg_users")},
            {"stepKey": "stg_events_gx_staging_suite", "status": "SUCCESS", "materializations": []},
            {"stepKey": "dbt_intermediate", "status": "IN_PROGRESS", "materializations": []},
        ],
    }
    progress = demo.transform_progress(running)
    assert (progress.done, progress.total) == (3, 8)
    assert progress.description == ("transform_job run 9221f8fb: 3/8 models, step 3/5 running dbt_intermediate: "
                                    "int_events_enriched, int_users_with_history")

    queued = demo.transform_progress({"runId": "abcdef01-2", "status": "QUEUED", "executionPlan": PLAN, "stepStats": []})
    assert (queued.done, queued.total) == (0, 8)
    assert queued.description == "transform_job run abcdef01: 0/8 models, QUEUED, waiting for the run queue"

    everything = _materialized("stg_events", "stg_products", "stg_users", "int_events_enriched",
                               "int_users_with_history", "dim_products", "dim_users", "fact_events")
    done = demo.transform_progress({"runId": "abcdef01-2", "status": "SUCCESS", "executionPlan": PLAN,
                                    "stepStats": [{"stepKey": "all", "status": "SUCCESS", "materializations": everything}]})
    assert done.description == "transform_job run abcdef01: 8/8 models, SUCCESS"


def test_the_demo_queries_are_valid_for_the_installed_dagster():
    import graphql
    from dagster_graphql.schema import create_schema

    schema = create_schema().graphql_schema
    for query in (demo._RUN_PROGRESS_QUERY, demo._RUNS_QUERY, demo._LOCATION_QUERY):
        assert graphql.validate(schema, graphql.parse(query)) == []


def test_each_boot_stage_names_its_component_and_url():
    stages = demo.boot_stages(api_url="http://h:1", dashboard_url="http://h:2", dagster_url="http://h:3")
    assert [s.waiting for s in stages] == [
        "waiting for the API (http://h:1/api/v1/health)",
        "waiting for the dashboard (http://h:2/_stcore/health)",
        "waiting for Dagster webserver (http://h:3/server_info)",
        "waiting for Dagster code location 'eventlake' to load (http://h:3/graphql)",
    ]
    assert [s.component for s in stages] == ["api", "dashboard", "dagster", "dagster"]


def test_waiting_for_the_sensor_says_how_long_and_the_latest_run():
    line = demo.waiting_for_transform([run("0123abcd-9", "SUCCESS", 50.0, 60.0), run("9999ffff-1", "QUEUED", 95.0, None)],
                                      committed_at=100.0, now=112.4)
    assert line == "transform_job: waiting for the sensor's run (last raw commit 12s ago; latest run 9999ffff QUEUED)"
    assert demo.waiting_for_transform([], committed_at=100.0, now=103.0) == (
        "transform_job: waiting for the sensor's run (last raw commit 3s ago)")
    assert demo.jobs_description(["COMPLETED", "PENDING", "COMPLETED", "PROCESSING"]) == (
        "consumer: 1 PENDING, 1 PROCESSING, 2 COMPLETED")


# -- the summary ------------------------------------------------------------------------------
def test_tables_are_listed_in_pipeline_order():
    alphabetical = ["intermediate.int_events_enriched", "intermediate.int_users_with_history", "marts.dim_products",
                    "marts.dim_users", "marts.fact_events", "raw.events", "raw.products", "raw.rejected_records",
                    "raw.users", "staging.stg_events", "staging.stg_products", "staging.stg_users"]
    assert demo.pipeline_order(alphabetical) == [
        "raw.events", "raw.users", "raw.products", "raw.rejected_records",
        "staging.stg_events", "staging.stg_products", "staging.stg_users",
        "intermediate.int_events_enriched", "intermediate.int_users_with_history",
        "marts.dim_products", "marts.dim_users", "marts.fact_events",
    ]
    # bare model names (the checks' assets) by their prefix
    assert demo.pipeline_order(["fact_events", "dim_users", "stg_events", "int_users_with_history"]) == [
        "stg_events", "int_users_with_history", "dim_users", "fact_events"]


def _job(status: str, received: int, accepted: int, rejected: int, duplicates: int):
    from types import SimpleNamespace

    return SimpleNamespace(status=status, record_count=received, accepted_count=accepted, rejected_count=rejected,
                           duplicate_count=duplicates)


def test_received_is_accepted_plus_rejected_plus_duplicates():
    totals = demo.JobTotals.of([_job("COMPLETED", 1000, 960, 20, 20), _job("COMPLETED", 50, 50, 0, 0)])
    assert totals.adds_up
    assert totals.equation() == "received 1,050 = accepted 1,010 + rejected (invalid) 20 + duplicates 20"
    # duplicates counted inside "rejected" as well (the old meaning) do not add up, and the summary says so
    assert not demo.JobTotals.of([_job("COMPLETED", 1000, 960, 40, 20)]).adds_up


STEPS = [("POST an event", "curl ..."), ("logs", "/home/logs/")]
CHECKS = {
    "marts_suite": {"asset": "fact_events", "success": True, "successful": 9, "evaluated": 9},
    "staging_suite": {"asset": "stg_events", "success": True, "successful": 12, "evaluated": 12},
    "intermediate_suite": {"asset": "int_users_with_history", "success": True, "successful": 5, "evaluated": 5},
}
COUNTS = {"marts.fact_events": 4_900, "raw.events": 5_100, "raw.users": 300, "staging.stg_events": 4_900}


def _render(monkeypatch, jobs, checks=CHECKS) -> tuple[bool, str]:
    import io

    from rich.console import Console

    out = io.StringIO()
    monkeypatch.setattr(demo, "console", Console(file=out, width=200, color_system=None))
    ok = demo.render_summary(jobs, COUNTS, checks, STEPS)
    return ok, out.getvalue()


def test_the_summary_is_in_pipeline_order_adds_up_and_ends_with_next_steps(monkeypatch):
    ok, text = _render(monkeypatch, [_job("COMPLETED", 5_100, 5_000, 50, 50)])
    assert ok
    positions = [text.index(name) for name in ("raw.events", "raw.users", "staging.stg_events", "marts.fact_events")]
    assert positions == sorted(positions)
    suites = [text.index(s) for s in ("staging_suite", "intermediate_suite", "marts_suite")]
    assert suites == sorted(suites)
    assert "received 5,100 = accepted 5,000 + rejected (invalid) 50 + duplicates 50" in text
    tail = text[text.index("next steps"):]
    assert "POST an event  curl ..." in tail and "logs           /home/logs/" in tail


def test_a_summary_that_does_not_add_up_fails_the_demo(monkeypatch):
    ok, text = _render(monkeypatch, [_job("COMPLETED", 5_100, 5_000, 100, 50)])
    assert not ok
    assert "received 5,100 != accepted 5,000 + rejected (invalid) 100 + duplicates 50" in text
    assert not _render(monkeypatch, [_job("FAILED", 10, 0, 0, 0)])[0]
    failed_check = {**CHECKS, "marts_suite": {**CHECKS["marts_suite"], "success": False}}
    assert not _render(monkeypatch, [_job("COMPLETED", 10, 10, 0, 0)], failed_check)[0]


def test_the_next_steps_work_as_printed(tmp_path):
    """The curl lines run against a real API: the POST is accepted with the key read from the key file,
    and the status line finds the job; the trigger line names the real endpoint."""
    import json
    import subprocess

    from api.main import create_app
    from eventlake.settings import Settings
    from tests.api.conftest import make_settings, serve

    home = tmp_path / "home"
    server_settings = make_settings(home)
    home.mkdir()
    (home / "api_key").write_text(server_settings.api_keys[0] + "\n")
    key = demo.find_api_key(Settings(home=home))
    assert key.source == str(home / "api_key")

    with serve(create_app(server_settings)) as live:
        steps = dict(demo.next_steps(api_url=live.url, dagster_url="http://127.0.0.1:3999",
                                     dashboard_url="http://127.0.0.1:8599", key=key, log_dir=home / "logs"))
        posted = subprocess.run(["bash", "-c", steps["POST an event"]], capture_output=True, text=True, timeout=30)
        answer = json.loads(posted.stdout)
        assert answer["status"] == "PENDING" and answer["record_count"] == 1
        status_line = steps["its job's status"].replace("<job_id>", answer["job_id"])
        status = subprocess.run(["bash", "-c", status_line], capture_output=True, text=True, timeout=30)
        assert json.loads(status.stdout)["job_id"] == answer["job_id"]

    assert server_settings.api_keys[0] not in " ".join(steps.values())  # read from the file, never shown
    assert f"-X POST -H \"X-API-Key: $(cat {home / 'api_key'})\" {live.url}/api/v1/trigger/transform_job" in (
        steps["run the transform"])
    assert steps["Dagster UI"].startswith("http://127.0.0.1:3999")
    assert steps["dashboard"] == "http://127.0.0.1:8599"
    assert steps["logs"].startswith(f"{home / 'logs'}/")
