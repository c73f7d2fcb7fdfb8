"""The Streamlit dashboard, run with Streamlit's AppTest against real sources.

Sources are built for real in a temp EVENTLAKE_HOME: a job DB written through
IngestionJobStore, quality results through eventlake.quality.record_result, a DuckDB
warehouse whose marts (fact_events, dim_users, dim_products) the real dbt
project builds from EVENTS loaded into raw Iceberg tables (once per module,
copied into each test's home), and a small dbt manifest.json in a temp target
dir (EVENTLAKE_DBT_TARGET_DIR).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from eventlake import dashboard
from eventlake.dashboard import data
from eventlake.quality import QualityResult, record_result
from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore
from tests.dashboard.charts import vega_charts
from tests.dbt.dbt_lakehouse import event as raw_event
from tests.dbt.dbt_lakehouse import make_lakehouse
from tests.dbt.dbt_lakehouse import product as raw_product
from tests.dbt.dbt_lakehouse import user as raw_user

APP = dashboard.APP

# -- source builders ---------------------------------------------------------------

# (dataset, records, chunks as (accepted, rejected, duplicates), final state)
JOBS = [
    ("events", 10, [(4, 1, 0), (4, 0, 1)], "completed"),
    ("users", 5, [(3, 2, 0)], "completed"),
    ("events", 7, [], "failed"),
    ("products", 3, [], "pending"),
]

T0 = datetime(2025, 3, 10, 22, 10, tzinfo=UTC)
# (event_id, user_id, event_type, minutes after T0, value, job_id, product_id)
EVENTS = [
    ("e1", "u1", "view", 0, None, "job-a", "p1"),
    ("e2", "u1", "click", 5, None, "job-a", "p1"),
    ("e3", "u2", "purchase", 20, 19.5, "job-a", "p2"),
    ("e4", "u2", "view", 65, None, "job-a", None),  # 23:15 UTC
    ("e5", "u3", "purchase", 95, 5.0, "job-b", "p1"),  # 23:45 UTC = 05:15 next day in Kolkata
    ("e6", "u3", "add_to_cart", 130, None, "job-b", "p2"),  # 00:20 UTC next day
    ("e7", "u1", "purchase", 60 * 26, 7.25, "job-b", "p2"),  # a day later
]


def build_job_db(settings: Settings) -> None:
    store = IngestionJobStore(settings.job_db)
    for n, (dataset, records, chunks, final) in enumerate(JOBS):
        job_id = f"job-{n}"
        store.create_job(job_id, dataset, "json", records, max(len(chunks), 1))
        if final == "pending":
            continue
        store.mark_processing(job_id)
        for part, (accepted, rejected, duplicates) in enumerate(chunks):
            store.record_chunk(job_id, part, accepted, rejected, duplicates, snapshot_id=1000 + n)
        if final == "failed":
            store.mark_failed(job_id, "batch failed 3 times: test")
    store.close()


def expected_job_totals() -> dict[str, int]:
    chunks = [c for _, _, cs, _ in JOBS for c in cs]
    return {
        "Jobs": len(JOBS),
        "Records received": sum(records for _, records, _, _ in JOBS),
        "Accepted": sum(c[0] for c in chunks),
        "Rejected (invalid)": sum(c[1] for c in chunks),
        "Duplicates": sum(c[2] for c in chunks),
    }


def failing_result() -> QualityResult:
    return QualityResult(
        suite="marts_suite",
        asset="fact_events",
        success=False,
        evaluated_expectations=3,
        successful_expectations=2,
        row_count=40,
        results=[
            {"expectation": "expect_column_values_to_not_be_null", "column": "event_id", "success": True,
             "severity": "critical", "rule": "event_id is required", "unexpected_count": 0,
             "unexpected_percent": 0.0, "partial_unexpected_list": [], "observed_value": None, "element_count": 40},
            {"expectation": "expect_column_values_to_be_between", "column": "event_value", "success": False,
             "severity": "critical", "rule": "event_value within [0, 1000000]", "unexpected_count": 3,
             "unexpected_percent": 7.5, "partial_unexpected_list": [-5.0, -1.5, 2000000.0],
             "observed_value": None, "element_count": 40},
            {"expectation": "expect_column_values_to_be_in_set", "column": "event_type", "success": True,
             "severity": "warning", "rule": "known event types", "unexpected_count": 0,
             "unexpected_percent": 0.0, "partial_unexpected_list": [], "observed_value": None, "element_count": 40},
        ],
        run_at=datetime(2025, 3, 11, 1, 0, tzinfo=UTC),
    )


def passing_result() -> QualityResult:
    return QualityResult(
        suite="staging_suite", asset="stg_events", success=True, evaluated_expectations=2,
        successful_expectations=2, row_count=40,
        results=[{"expectation": "expect_column_values_to_be_unique", "column": "event_id", "success": True,
                  "severity": "critical", "rule": "unique", "unexpected_count": 0, "unexpected_percent": 0.0,
                  "partial_unexpected_list": [], "observed_value": None, "element_count": 40}],
        run_at=datetime(2025, 3, 11, 1, 0, tzinfo=UTC),
    )


def build_marts(root: Path) -> Path:
    """Load EVENTS (and their users and products) into raw Iceberg tables and build the marts with
    the real dbt project on the LOCAL target; returns the DuckDB file dbt wrote."""
    lakehouse = make_lakehouse(root)
    before = T0 - timedelta(days=1)
    users = sorted({e[1] for e in EVENTS})
    lakehouse.append("users", [raw_user(u, u.upper(), f"{u}@example.com", before, job_id="job-u", ingested_at=before)
                               for u in users])
    products = sorted({e[6] for e in EVENTS if e[6]})
    lakehouse.append("products", [raw_product(p, p, "cat", 1.0, job_id="job-p", ingested_at=before) for p in products])
    lakehouse.append(
        "events",
        [
            raw_event(event_id, user, T0 + timedelta(minutes=minutes), event_type=event_type, value=value,
                      product_id=product, job_id=job, ingested_at=T0 + timedelta(minutes=minutes + 1))
            for event_id, user, event_type, minutes, value, job, product in EVENTS
        ],
    )
    lakehouse.dbt("run")
    return lakehouse.duckdb_path


MANIFEST = {
    "metadata": {"generated_at": "2025-03-11T00:00:00Z"},
    "sources": {
        "source.eventlake.raw.events": {"source_name": "raw", "name": "events", "schema": "raw", "fqn": ["eventlake", "staging", "raw", "events"],
                                        "config": {"meta": {"dagster": {"asset_key": ["raw_events"]}}}},
        "source.eventlake.raw.users": {"source_name": "raw", "name": "users", "schema": "raw", "fqn": ["eventlake", "staging", "raw", "users"],
                                       "config": {"meta": {"dagster": {"asset_key": ["raw_users"]}}}},
        "source.eventlake.raw.rejected_records": {"source_name": "raw", "name": "rejected_records", "schema": "raw", "fqn": []},
    },
    "nodes": {
        "model.eventlake.stg_events": {"resource_type": "model", "name": "stg_events", "fqn": ["eventlake", "staging", "stg_events"],
                                       "config": {"materialized": "view"}, "depends_on": {"nodes": ["source.eventlake.raw.events"]}},
        "model.eventlake.stg_users": {"resource_type": "model", "name": "stg_users", "fqn": ["eventlake", "staging", "stg_users"],
                                      "config": {"materialized": "view"}, "depends_on": {"nodes": ["source.eventlake.raw.users"]}},
        "model.eventlake.int_events_enriched": {"resource_type": "model", "name": "int_events_enriched",
                                                "fqn": ["eventlake", "intermediate", "int_events_enriched"], "config": {"materialized": "view"},
                                                "depends_on": {"nodes": ["model.eventlake.stg_events", "model.eventlake.stg_users"]}},
        "model.eventlake.fact_events": {"resource_type": "model", "name": "fact_events", "fqn": ["eventlake", "marts", "fact_events"],
                                        "config": {"materialized": "incremental"}, "depends_on": {"nodes": ["model.eventlake.int_events_enriched"]}},
        "test.eventlake.unique_fact_events_event_id": {"resource_type": "test", "name": "unique_fact_events_event_id", "fqn": [],
                                                       "depends_on": {"nodes": ["model.eventlake.fact_events"]}},
    },
}


@pytest.fixture
def empty_home(tmp_path, monkeypatch):
    home = tmp_path / "empty_home"
    monkeypatch.setenv("EVENTLAKE_HOME", str(home))
    monkeypatch.setenv("EVENTLAKE_DBT_TARGET_DIR", str(tmp_path / "no_target"))
    for var in ("EVENTLAKE_JOB_DB_URL", "EVENTLAKE_DUCKDB_PATH"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(scope="module")
def marts(tmp_path_factory) -> Path:
    """The warehouse dbt built, once per module; each test gets its own copy."""
    return build_marts(tmp_path_factory.mktemp("lakehouse"))


@pytest.fixture
def populated(tmp_path, monkeypatch, marts):
    home = tmp_path / "home"
    settings = Settings(home=home)
    settings.ensure_home()
    build_job_db(settings)
    record_result(settings.job_db, passing_result(), run_id="r1")
    record_result(settings.job_db, failing_result(), run_id="r2")
    shutil.copyfile(marts, settings.duckdb_file)
    target = tmp_path / "dbt_target"
    target.mkdir()
    (target / "manifest.json").write_text(json.dumps(MANIFEST))
    monkeypatch.setenv("EVENTLAKE_HOME", str(home))
    monkeypatch.setenv("EVENTLAKE_DBT_TARGET_DIR", str(target))
    for var in ("EVENTLAKE_JOB_DB_URL", "EVENTLAKE_DUCKDB_PATH"):
        monkeypatch.delenv(var, raising=False)
    return settings


def run_app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    matches = [m.value for m in at.metric if m.label == label]
    assert len(matches) == 1, f"metric {label!r}: {[m.label for m in at.metric]}"
    return matches[0]


def keyed(at: AppTest, key: str) -> pd.DataFrame:
    """The table in the container keyed ``key`` (the dashboard keys every table's container)."""
    (table,) = [node for node in at.get_by_key(key) if getattr(node, "type", None) == "dataframe"]
    return table.value


def has_keyed(at: AppTest, key: str) -> bool:
    try:
        at.get_by_key(key)
    except KeyError:
        return False
    return True


# Tables without a key are told apart by their columns.
TABLES = {
    "hourly_counts": lambda df: df.index.name == "hour",
    "events_table": lambda df: {"event_id", "event_timestamp", "user_id"} <= set(df.columns),
}


def lineage_chart(at: AppTest) -> tuple[dict, list[pd.DataFrame]]:
    (chart,) = [c for c in vega_charts(at) if any(p.get("name") == "node" for p in c[0].get("params", []))]
    return chart


def tables(at: AppTest, name: str) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe if TABLES[name](d.value)]


def frame(at: AppTest, name: str) -> pd.DataFrame:
    matches = tables(at, name)
    assert len(matches) == 1, f"{len(matches)} tables look like {name!r}"
    return matches[0]


def filtered_events(**conditions) -> list[tuple]:
    return [e for e in EVENTS if all(cond(e) for cond in conditions.values())]


# -- empty home ------------------------------------------------------------------------


def test_empty_home_every_view_explains_what_is_missing(empty_home):
    at = run_app()
    messages = [i.value for i in at.info]
    assert any("No job database yet" in m for m in messages)
    assert any("No dbt manifest" in m and "transform job" in m for m in messages)
    assert any("No quality results yet" in m for m in messages)
    assert any("No warehouse yet" in m for m in messages)
    # transform runs, checks and lineage details without Dagster: a message, not an error
    assert any(m.startswith("Dagster is not reachable") for m in messages)
    assert any("No Iceberg catalog yet" in m for m in messages)  # rejected records
    assert any("No job database yet" in m or "No stream yet" in m for m in messages)  # stream lag
    assert str(empty_home) in at.sidebar.markdown[0].value
    # The dashboard only reads: it creates no database in an empty home.
    assert not empty_home.exists()


# -- populated sources ---------------------------------------------------------------


def test_pipeline_metrics_show_job_store_numbers(populated):
    at = run_app()
    for label, expected in expected_job_totals().items():
        assert metric(at, label) == f"{expected:,}"
    jobs = keyed(at, "jobs_table")
    assert len(jobs) == len(JOBS)

    at.selectbox(key="jobs_status").set_value("FAILED").run()
    failed = keyed(at, "jobs_table")
    assert list(failed["status"]) == ["FAILED"]
    assert failed["error_message"].iloc[0].startswith("batch failed")


def test_lineage_graph_from_manifest(populated):
    at = run_app()
    (spec, frames) = lineage_chart(at)
    nodes = next(f for f in frames if "name" in f.columns)
    edges = next(f for f in frames if "x2" in f.columns)
    where = {row.name: (row.x, row.y) for row in nodes.itertuples()}
    drawn = {(a, b) for a in where for b in where
             for e in edges.itertuples() if (e.x, e.y) == where[a] and (e.x2, e.y2) == where[b]}
    expected = {
        ("raw_events", "stg_events"),
        ("raw_users", "stg_users"),
        ("stg_events", "int_events_enriched"),
        ("stg_users", "int_events_enriched"),
        ("int_events_enriched", "fact_events"),
    }
    assert drawn == expected
    assert "rejected_records" not in set(nodes["name"])  # a source no model reads
    # one column per layer, left to right: raw -> staging -> intermediate -> marts
    layer_x = nodes.groupby("layer")["x"].unique().map(list).to_dict()
    assert layer_x == {"raw": [0], "staging": [1], "intermediate": [2], "marts": [3]}
    # a click on a node selects it (a point selection on the node name, sent back to the app)
    assert [(p["name"], p["select"]["fields"]) for p in spec["params"]] == [("node", ["name"])]
    assert at.selectbox(key="lineage_model").value == "fact_events"
    assert keyed(at, "model_tests_table")["test"].tolist() == ["unique_fact_events_event_id"]


# Property 33: Dashboard displays quality metrics
def test_quality_scorecards_and_failing_expectations(populated):
    at = run_app()
    assert metric(at, "Suites passing") == "1/2"
    assert metric(at, "marts_suite (fact_events)") == "2/3"
    assert metric(at, "staging_suite (stg_events)") == "2/2"
    failing = keyed(at, "failing_expectations_table")
    assert len(failing) == 1
    row = failing.iloc[0]
    assert (row["suite"], row["column"], row["unexpected_count"]) == ("marts_suite", "event_value", 3)
    assert "-5.0" in row["sample_values"] and "2000000.0" in row["sample_values"]


def test_quality_view_shows_newest_result_per_suite(populated):
    fixed = failing_result()
    fixed.success, fixed.successful_expectations = True, 3
    fixed.results = [dict(r, success=True) for r in fixed.results]
    fixed.run_at = fixed.run_at + timedelta(hours=1)
    record_result(populated.job_db, fixed)
    at = run_app()
    assert metric(at, "Suites passing") == "2/2"
    assert metric(at, "marts_suite (fact_events)") == "3/3"
    assert not has_keyed(at, "failing_expectations_table")


# Property 32: Dashboard queries use dimensional model
# Property 34: Filters update visualizations
def test_explore_filters_update_metrics_and_charts(populated):
    at = run_app()
    assert metric(at, "Events") == f"{len(EVENTS):,}"
    assert metric(at, "Users") == f"{len({e[1] for e in EVENTS}):,}"
    # delta: the 24 h up to the newest event (e6, e7) minus the 24 h before them (e1..e5)
    newest = max(e[3] for e in EVENTS)
    current = [e for e in EVENTS if e[3] > newest - 24 * 60]
    (events_card,) = [m for m in at.metric if m.label == "Events"]
    assert events_card.delta == f"{len(current) - (len(EVENTS) - len(current)):+,}"
    at.selectbox(key="delta_period").set_value("last hour").run()
    (events_card,) = [m for m in at.metric if m.label == "Events"]
    assert events_card.delta == "+1"  # e7 alone, and nothing in the hour before it
    at.selectbox(key="delta_period").set_value("last 24 hours").run()
    all_hours = frame(at, "hourly_counts")
    assert all_hours.to_numpy().sum() == len(EVENTS)

    at.multiselect(key="f_event_types").set_value(["purchase"]).run()
    purchases = filtered_events(t=lambda e: e[2] == "purchase")
    assert metric(at, "Events") == f"{len(purchases):,}"
    assert metric(at, "Event value") == f"{sum(e[4] for e in purchases):,.2f}"
    hourly = frame(at, "hourly_counts")
    assert list(hourly.columns) == ["purchase"] and hourly.to_numpy().sum() == len(purchases)
    assert set(frame(at, "events_table")["event_id"]) == {e[0] for e in purchases}

    # user_id lives in dim_users: the filter works through the fact -> dimension join
    at.text_input(key="f_user_id").set_value("u3").run()
    both = filtered_events(t=lambda e: e[2] == "purchase", u=lambda e: e[1] == "u3")
    assert metric(at, "Events") == f"{len(both):,}"

    at.multiselect(key="f_event_types").set_value([]).run()
    at.text_input(key="f_user_id").set_value("").run()
    at.text_input(key="f_job_id").set_value("job-b").run()
    assert metric(at, "Events") == f"{len(filtered_events(j=lambda e: e[5] == 'job-b')):,}"

    at.text_input(key="f_job_id").set_value("").run()
    first_day = T0.date()
    at.date_input(key="f_dates").set_value((first_day, first_day)).run()
    same_day = filtered_events(d=lambda e: (T0 + timedelta(minutes=e[3])).date() == first_day)
    assert metric(at, "Events") == f"{len(same_day):,}"


# Property 35: Time series shows user timezone
def test_time_series_follows_selected_timezone(populated):
    at = run_app()
    assert at.selectbox(key="tz").value == "UTC"  # no browser zone under AppTest
    utc_hours = list(frame(at, "hourly_counts").index)

    at.selectbox(key="tz").set_value("Asia/Kolkata").run()
    local_hours = list(frame(at, "hourly_counts").index)
    kolkata = ZoneInfo("Asia/Kolkata")
    expected = Counter(
        (T0 + timedelta(minutes=e[3])).astimezone(kolkata).replace(minute=0, second=0).strftime("%Y-%m-%d %H:%M %z")
        for e in EVENTS
    )
    assert local_hours == sorted(expected)
    assert local_hours != utc_hours
    assert all(label.endswith("+0530") for label in local_hours)
    events = frame(at, "events_table")
    assert str(events["event_timestamp"].dt.tz) == "Asia/Kolkata"

    # Dates are local too: "11 March" in Kolkata starts at 18:30 UTC on 10 March.
    at.date_input(key="f_dates").set_value((date(2025, 3, 11), date(2025, 3, 11))).run()
    on_local_day = [e for e in EVENTS if (T0 + timedelta(minutes=e[3])).astimezone(kolkata).date() == date(2025, 3, 11)]
    assert metric(at, "Events") == f"{len(on_local_day):,}"


def test_explore_per_hour_counts_regroup_half_hour_zones():
    # Property 35: Time series shows user timezone
    # 23:45 UTC and 00:20 UTC fall in one Kolkata hour (05:00-06:00 +05:30) but two UTC hours.
    frame_ = pd.DataFrame({"bucket": pd.to_datetime(["2025-03-10 23:45", "2025-03-11 00:15"]), "events": [1, 1]})
    local = data._to_zone(frame_["bucket"], "Asia/Kolkata")
    assert data._hour_start(local).nunique() == 1
    assert data._hour_start(data._to_zone(frame_["bucket"], "UTC")).nunique() == 2


def test_reads_never_hold_the_warehouse_lock(populated):
    run_app()
    # dbt needs a read-write connection right after the dashboard has read.
    con = duckdb.connect(str(populated.duckdb_file))
    con.execute("create schema if not exists scratch")
    con.close()


def test_locked_warehouse_shows_a_message(populated):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(populated.duckdb_file)!r})
            print("locked", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(data.SourceUnavailable, match="locked"):
            data.explore(populated.duckdb_file, data.EventFilters())
        at = run_app()
        assert any("locked by another process" in i.value for i in at.info)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_missing_fact_table_and_empty_job_db(tmp_path, monkeypatch):
    home = tmp_path / "home"
    settings = Settings(home=home)
    settings.ensure_home()
    IngestionJobStore(settings.job_db).close()
    duckdb.connect(str(settings.duckdb_file)).close()
    monkeypatch.setenv("EVENTLAKE_HOME", str(home))
    monkeypatch.setenv("EVENTLAKE_DBT_TARGET_DIR", str(tmp_path / "target"))
    at = run_app()
    messages = [i.value for i in at.info]
    assert any("no ingestion jobs yet" in m for m in messages)
    assert any("No quality results recorded yet" in m for m in messages)
    assert any("no marts.fact_events yet" in m for m in messages)
