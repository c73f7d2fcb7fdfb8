"""The dashboard's views on a home the real pipeline filled, run with Streamlit's AppTest.

Once per module: requests are published to the local stream exactly as the API does (valid,
invalid and duplicate events), the real consumer lands them in Iceberg (raw tables and
raw.rejected_records), the real dbt project builds the marts from them (its manifest is the
lineage's), and a real Dagster instance in the home's DAGSTER_HOME holds transform_job runs with
asset check evaluations: a dbt test that passed, a GX suite that failed and a check whose run
failed before it reported ("execution failed" in Dagster).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from eventlake import dashboard
from eventlake.consumer import Consumer
from eventlake.dashboard import data, orchestrator, rejects
from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore
from tests.consumer.conftest import publish
from tests.dashboard.charts import vega_charts
from tests.dbt.dbt_lakehouse import run_dbt

TS = "2026-03-01T10:00:00Z"


def ev(event_id: str, user: str = "u1", event_type: str = "view", **extra) -> dict:
    return {"event_id": event_id, "user_id": user, "event_type": event_type, "event_timestamp": TS, **extra}


#: job id -> events; invalid ones break a rule, "dup" ones repeat an event_id of job-valid.
REQUESTS = {
    "job-valid": [ev("e1"), ev("e2", event_type="click"), ev("e3", "u2", "purchase", event_value=12.5),
                  ev("e4", "u2", "add_to_cart")],
    "job-mixed": [
        ev("e5"),
        ev("e6", event_type="teleport"),  # allowed
        {"event_id": "e7", "event_type": "view", "event_timestamp": TS},  # required: user_id
        ev("e8", event_value=-3),  # min
        ev("e1"),  # duplicate of job-valid's e1
        ev("e2", event_type="click"),  # duplicate
    ],
}
#: A dbt test made to fail: a dim_users row without is_inferred (see _failing_dbt_test).
FAILING_DBT_TEST = "not_null_dim_users_is_inferred"
INVALID = {"job-mixed": {"allowed": 1, "required": 1, "min": 1}}
DUPLICATES = {"job-mixed": 2}


def _failing_dbt_test(settings: Settings, root: Path) -> None:
    """A dim_users row with is_inferred null and a user_sk no fact points at, then ``dbt test`` of
    FAILING_DBT_TEST: its run_results.json holds the failing result and the compiled query."""
    import duckdb
    from dbt.cli.main import dbtRunner

    from eventlake.dbt.project import scoped_environ
    from eventlake.dbt_runner import release_duckdb
    from tests.dbt.dbt_lakehouse import DBT_PROJECT

    with duckdb.connect(str(settings.duckdb_file)) as con:
        con.execute("insert into marts.dim_users select * replace ('broken-sk' as user_sk, null as is_inferred) "
                    "from marts.dim_users limit 1")
    with scoped_environ({"EVENTLAKE_HOME": str(settings.home)}):
        try:
            result = dbtRunner().invoke([
                "test", "--select", FAILING_DBT_TEST, "--project-dir", str(DBT_PROJECT), "--profiles-dir",
                str(DBT_PROJECT), "--target", "LOCAL", "--target-path", str(root / "dbt_target"),
                "--log-path", str(root / "dbt_logs"),
            ])
        finally:
            release_duckdb()
    assert not result.success and [str(r.status) for r in result.result.results] == ["fail"]


def _dagster_runs(dagster_home: Path) -> None:
    """transform_job three times: twice a run whose dbt test passes and GX suite fails, then a run
    that fails before its check reports."""
    from dagster import (
        AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, DagsterInstance, Definitions, MaterializeResult,
        asset, asset_check, define_asset_job,
    )

    @asset(name="fact_events")
    def fact_events():
        return MaterializeResult(metadata={"dagster/row_count": 5})

    @asset_check(asset="fact_events", name="unique_fact_events_event_id")
    def unique_check():
        return AssetCheckResult(passed=True, metadata={"dagster_dbt/failed_row_count": 0, "status": "pass"})

    @asset(name="dim_users")
    def dim_users():
        return MaterializeResult(metadata={"dagster/row_count": 2})

    @asset_check(asset="dim_users", name=FAILING_DBT_TEST)
    def failing_dbt_test():
        return AssetCheckResult(passed=False, metadata={"dagster_dbt/failed_row_count": 1, "status": "fail"})

    @asset_check(asset="fact_events", name="gx_marts_suite")
    def gx_check():
        failed = [{"expectation": "expect_column_values_to_be_between", "column": "event_value",
                   "unexpected_count": 2, "partial_unexpected_list": [-3, -1]}]
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.ERROR,
                                metadata={"failed_expectations": failed})

    @asset(name="stg_events", check_specs=[AssetCheckSpec("not_null_stg_events_event_id", asset="stg_events")])
    def stg_events():
        raise RuntimeError("IO Error: Could not set lock on file warehouse.duckdb")

    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text("")
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        good = Definitions(assets=[fact_events, dim_users], asset_checks=[unique_check, gx_check, failing_dbt_test],
                           jobs=[define_asset_job("transform_job")])
        for _ in range(2):
            good.resolve_job_def("transform_job").execute_in_process(instance=instance, raise_on_error=False)
        bad = Definitions(assets=[stg_events], jobs=[define_asset_job("transform_job")])
        bad.resolve_job_def("transform_job").execute_in_process(instance=instance, raise_on_error=False)


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("filled")
    settings = Settings(home=root / "home", consumer_lease_seconds=30)
    settings.ensure_home()
    publish(settings, "users", [{"user_id": "u1", "user_name": "U1", "email": "u1@example.com",
                                 "updated_at": "2026-02-01T00:00:00Z"}], job_id="job-users")
    for job_id, records in REQUESTS.items():
        publish(settings, "events", records, job_id=job_id)
        consumer = Consumer(settings)  # one pass per job: job-mixed's duplicates are of stored events
        try:
            consumer.drain()
        finally:
            consumer.close()
    run_dbt({"EVENTLAKE_HOME": str(settings.home)}, root, "run")
    _failing_dbt_test(settings, root)
    _dagster_runs(settings.dagster_home)
    return settings


@pytest.fixture
def app_env(filled, monkeypatch, tmp_path):
    monkeypatch.setenv("EVENTLAKE_HOME", str(filled.home))
    monkeypatch.setenv("EVENTLAKE_DBT_TARGET_DIR", str(filled.home.parent / "dbt_target"))
    monkeypatch.setenv("EVENTLAKE_DAGSTER_URL", "http://dagster.example:3000")
    for var in ("EVENTLAKE_JOB_DB_URL", "EVENTLAKE_DUCKDB_PATH", "DAGSTER_HOME"):
        monkeypatch.delenv(var, raising=False)
    return filled


def run_app() -> AppTest:
    at = AppTest.from_file(str(dashboard.APP), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def keyed(at: AppTest, key: str) -> pd.DataFrame:
    (table,) = [node for node in at.get_by_key(key) if getattr(node, "type", None) == "dataframe"]
    return table.value


def metric(at: AppTest, label: str):
    (found,) = [m for m in at.metric if m.label == label]
    return found


def encodings(spec: dict) -> list[dict]:
    views = [spec, *spec.get("layer", [])]
    return [view.get("encoding", {}) for view in views]


def stored_rejects(settings: Settings) -> list[dict]:
    from eventlake import lake

    table = lake.load_catalog(settings).load_table("raw.rejected_records")
    return table.scan().to_arrow().to_pylist()


# -- data functions (no Streamlit) ---------------------------------------------------------------


def test_rejected_records_read_through_pyiceberg_one_row_per_violation(filled):
    frame = rejects.read_rejected(filled)
    stored = stored_rejects(filled)
    assert rejects.record_count(frame) == len(stored) == sum(INVALID["job-mixed"].values()) + DUPLICATES["job-mixed"]
    assert len(frame) == sum(len(json.loads(r["violations"])) for r in stored)
    reasons = rejects.by_reason(frame).set_index("rule")["records"].to_dict()
    assert reasons == {**INVALID["job-mixed"], "duplicate": DUPLICATES["job-mixed"]}
    duplicate = frame[frame["rule"] == "duplicate"]
    assert set(duplicate["kind"]) == {"duplicate"} and set(duplicate["value"]) == {"e1", "e2"}
    teleport = frame[frame["rule"] == "allowed"].iloc[0]
    assert (teleport["job_id"], teleport["field"], teleport["kind"]) == ("job-mixed", "event_type", "invalid")
    assert json.loads(teleport["raw"])["event_type"] == "teleport"
    assert rejects.read_rejected(filled, job_id="job-valid").empty


def test_transform_runs_and_checks_come_from_the_dagster_instance(filled):
    runs = orchestrator.recent_runs(filled.dagster_home, "http://d:3000", ("transform_job",))
    assert list(runs["status"]) == ["FAILURE", "SUCCESS", "SUCCESS"]  # newest first
    assert all(url == f"http://d:3000/runs/{run_id}" for url, run_id in zip(runs["url"], runs["run_id"], strict=True))
    assert (runs["duration_s"] >= 0).all()

    checks = orchestrator.latest_checks(filled.dagster_home, "http://d:3000").set_index("check")
    assert checks.loc["unique_fact_events_event_id", ["kind", "status", "failed_rows"]].tolist() == ["dbt", "passed", 0]
    assert checks.loc["gx_marts_suite", ["kind", "status", "failed_rows"]].tolist() == ["gx", "failed", 2]
    # planned, and its run failed before it reported: what Dagster calls "Execution failed"
    assert checks.loc["not_null_stg_events_event_id", "status"] == "execution failed"


def test_dagster_unreachable_is_a_message(tmp_path):
    with pytest.raises(data.SourceUnavailable, match="Dagster is not reachable"):
        orchestrator.recent_runs(tmp_path / "nothing", "http://d", ())
    assert not (tmp_path / "nothing").exists()


def test_stream_lag_is_the_records_the_consumer_has_not_committed(filled, tmp_path):
    lag = data.stream_lag(filled)
    assert lag["lag_records"].sum() == 0 and (lag["head"] > 0).any()
    # a request published after the last pass is behind until a consumer commits it
    publish(filled, "events", [ev("late-1")], job_id="job-late")
    try:
        lag = data.stream_lag(filled)
        assert lag["lag_records"].sum() == 1
        assert lag["oldest_unread_age_s"].max() >= 0
    finally:
        consumer = Consumer(filled)
        try:
            consumer.drain()
        finally:
            consumer.close()
    assert data.stream_lag(filled)["lag_records"].sum() == 0


# -- the app -------------------------------------------------------------------------------------


def test_every_view_has_its_heading_and_tab(app_env):
    at = run_app()
    labels = ["Pipeline", "Quality", "Rejected records", "Lineage", "Explore"]
    assert [t.label for t in at.tabs][:5] == labels
    assert [h.value for h in at.header][:5] == labels


def test_pipeline_counts_add_up_with_deltas_runs_and_lag(app_env):
    at = run_app()
    store = IngestionJobStore(app_env.job_db)
    try:
        m = store.metrics()
    finally:
        store.close()
    received = metric(at, "Records received")
    parts = [metric(at, label) for label in ("Accepted", "Rejected (invalid)", "Duplicates")]
    values = [int(p.value.replace(",", "")) for p in parts]
    assert int(received.value.replace(",", "")) == m["records_received"] == sum(values)
    assert values[1:] == [sum(INVALID["job-mixed"].values()) + 0, DUPLICATES["job-mixed"]]
    # every job was created just now: the deltas are this period's whole counts
    assert received.delta == f"+{m['records_received']:,}"
    assert any(c.value.startswith(f"received {m['records_received']:,} = accepted") for c in at.caption)

    runs = keyed(at, "runs_table")
    assert list(runs["status"]) == ["FAILURE", "SUCCESS", "SUCCESS"]
    assert runs["url"].str.startswith("http://dagster.example:3000/runs/").all()
    assert metric(at, "Stream records behind").value == "0"
    assert not keyed(at, "lag_table").empty


def test_drill_down_from_a_job_to_its_events_and_rejects(app_env):
    at = run_app()
    assert set(keyed(at, "jobs_table")["job_id"]) >= set(REQUESTS)
    at.selectbox(key="job_drill").set_value("job-mixed").run()
    assert not at.exception
    assert any(s.value == "Job job-mixed" for s in at.subheader)
    events = keyed(at, "job_events_table")
    assert set(events["event_id"]) == {"e5"}  # the one valid, new event of the job
    job_rejects = keyed(at, "job_rejects_table")
    assert set(job_rejects["job_id"]) == {"job-mixed"}
    assert rejects.record_count(job_rejects) == sum(INVALID["job-mixed"].values()) + DUPLICATES["job-mixed"]

    at.selectbox(key="job_drill").set_value("job-valid").run()
    assert set(keyed(at, "job_events_table")["event_id"]) == {"e1", "e2", "e3", "e4"}
    assert not any(node.type == "dataframe" for node in _maybe(at, "job_rejects_table"))


def _maybe(at: AppTest, key: str) -> list:
    try:
        return list(at.get_by_key(key))
    except KeyError:
        return []


def test_quality_matches_dagster_checks(app_env):
    at = run_app()
    assert metric(at, "Checks passing").value == "1/4"
    assert metric(at, "dbt tests passing").value == "1/2"
    assert metric(at, "GX suites passing").value == "0/1"
    failing = keyed(at, "failing_checks_table").set_index("check")
    assert failing["status"].to_dict() == {
        FAILING_DBT_TEST: "failed", "gx_marts_suite": "failed", "not_null_stg_events_event_id": "execution failed",
    }
    at.selectbox(key="checks_kind").set_value("dbt").run()
    assert list(keyed(at, "checks_table")["check"]) == [FAILING_DBT_TEST, "unique_fact_events_event_id"]

    # a check's history: its evaluation in each transform run (the failed run never evaluated it)
    at.selectbox(key="check_history").set_value("fact_events / gx_marts_suite").run()
    history = keyed(at, "check_history_table")
    assert history[["status", "failed_rows"]].values.tolist() == [["failed", 2], ["failed", 2]]
    assert history["evaluated_at"].is_monotonic_decreasing  # newest first
    assert history["url"].str.startswith("http://dagster.example:3000/runs/").all()
    assert history["run_id"].nunique() == 2

    # a failing dbt test's records: its compiled query from run_results.json, run on the warehouse
    at.selectbox(key="failing_check").set_value(FAILING_DBT_TEST).run()
    records = keyed(at, "failing_check_records")
    assert len(records) == 1


def test_rejected_records_view_filters_and_downloads_csv(app_env, monkeypatch):
    saved: list[bytes] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):  # what st.download_button hands over
        if mimetype == "text/csv":
            saved.append(path_or_data if isinstance(path_or_data, bytes) else Path(path_or_data).read_bytes())
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    at = run_app()
    stored = stored_rejects(app_env)
    shown = keyed(at, "rejects_table")
    assert {(r["job_id"], r["record_index"]) for r in stored} == set(zip(shown["job_id"], shown["record_index"],
                                                                          strict=True))
    assert metric(at, "Rejected records").value == str(len(stored))
    assert metric(at, "Duplicate").value == str(DUPLICATES["job-mixed"])
    reasons_chart = [c for c in vega_charts(at) if c[0].get("title") == "Rejected records by reason (rule / field)"]
    assert len(reasons_chart) == 1

    downloaded = list(csv.DictReader(io.StringIO(saved[-1].decode())))
    assert {(r["job_id"], int(r["record_index"])) for r in downloaded} == {(r["job_id"], r["record_index"]) for r in stored}
    assert {r["rule"] for r in downloaded} == {*INVALID["job-mixed"], "duplicate"}
    assert all(r["raw"] for r in downloaded)

    at.multiselect(key="rej_rules").set_value(["duplicate"]).run()
    only = keyed(at, "rejects_table")
    assert set(only["rule"]) == {"duplicate"} and len(only) == DUPLICATES["job-mixed"]
    assert metric(at, "Rejected records").value == str(DUPLICATES["job-mixed"])
    downloaded = list(csv.DictReader(io.StringIO(saved[-1].decode())))
    assert {r["rule"] for r in downloaded} == {"duplicate"} and len(downloaded) == DUPLICATES["job-mixed"]

    at.multiselect(key="rej_rules").set_value(["min", "required"]).run()
    assert set(keyed(at, "rejects_table")["rule"]) == {"min", "required"}
    at.multiselect(key="rej_rules").set_value([]).run()
    assert at.multiselect(key="rej_jobs").options == ["job-mixed"]  # only jobs with rejects are offered
    at.multiselect(key="rej_datasets").set_value(["events"]).run()
    assert len(keyed(at, "rejects_table")) == len(shown)


def test_lineage_model_details_from_the_real_manifest(app_env):
    at = run_app()
    assert at.selectbox(key="lineage_model").value == "fact_events"
    tests = keyed(at, "model_tests_table")
    assert "unique_fact_events_event_id" in set(tests["test"])
    # the test's status is Dagster's latest evaluation of the check of the same name
    assert tests.set_index("test").loc["unique_fact_events_event_id", "status"] == "passed"
    columns = keyed(at, "model_columns_table").set_index("column")
    assert {"event_id", "job_id", "event_type"} <= set(columns.index)
    # documented in the yml, typed by the warehouse
    assert columns.loc["event_timestamp", "type"].startswith("TIMESTAMP")
    assert columns.loc["event_id", "description"]
    assert metric(at, "Rows").value == "5"  # the latest materialization's dagster/row_count

    at.selectbox(key="lineage_model").set_value("stg_events").run()
    assert any(s.value == "stg_events (staging)" for s in at.subheader)
    assert "not_null_stg_events_event_id" in set(keyed(at, "model_tests_table")["test"])


def test_every_chart_uses_the_same_colours_and_integer_count_axes(app_env):
    at = run_app()
    at.selectbox(key="job_drill").set_value("job-mixed").run()
    found = vega_charts(at)
    event_scales, outcome_scales, count_axes = [], [], 0
    for spec, _ in found:
        for encoding in encodings(spec):
            color = encoding.get("color", {})
            if color.get("field") == "event_type":
                event_scales.append(color["scale"])
            if color.get("field") == "outcome":
                outcome_scales.append(color["scale"])
            y = encoding.get("y", {})
            x = encoding.get("x", {})
            for axis_encoding in (x, y):
                if axis_encoding.get("field") in ("records", "events", "jobs"):
                    assert axis_encoding["axis"]["format"].endswith("d"), spec.get("title")
                    assert axis_encoding["axis"]["tickMinStep"] == 1
                    count_axes += 1
    # jobs by status, records by outcome and per bucket, rejects by reason, events per hour and by type
    assert count_axes == 6
    assert len(event_scales) == 2  # events per hour, events by type
    assert all(s == {"domain": list(data.EVENT_TYPE_DOMAIN), "range": list(data.EVENT_TYPE_RANGE)}
               for s in event_scales)
    assert len(outcome_scales) == 2  # records by outcome, records per bucket
    assert all(s == {"domain": list(data.OUTCOME_DOMAIN), "range": list(data.OUTCOME_RANGE)} for s in outcome_scales)


def test_filters_change_the_explore_charts(app_env):
    at = run_app()

    def per_type() -> dict[str, int]:
        (chart,) = [c for c in vega_charts(at) if c[0].get("title") == "Events by type"]
        frame = chart[1][0]
        return dict(zip(frame["event_type"], frame["events"], strict=True))

    assert per_type() == {"view": 2, "click": 1, "purchase": 1, "add_to_cart": 1}
    at.multiselect(key="f_event_types").set_value(["view"]).run()
    assert per_type() == {"view": 2}


def test_streamlit_run_hides_the_deploy_button(tmp_path):
    """``streamlit run <APP>`` from the repository root (as the demo starts it) reads the script-level
    config next to app.py: the toolbar is in viewer mode, without "Deploy"."""
    script = (
        "from streamlit import config; import sys; config._main_script_path = sys.argv[1]; "
        "config.get_config_options(force_reparse=True); print(config.get_option('client.toolbarMode'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(dashboard.APP)], cwd=dashboard.APP.parents[2], capture_output=True,
        text=True, check=True, env={**os.environ, "HOME": str(tmp_path)},
    )
    assert out.stdout.strip() == "viewer"
