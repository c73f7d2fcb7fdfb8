"""The GX suites in gx/ and the runner in eventlake.quality.

Each test validates a DataFrame shaped like the dbt model the suite names
(same columns and dtypes as DuckDB returns them) with a real GX validation.
GX is imported once per session (~7 s); a validation then takes well under a
second.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlake import quality
from tests.conftest import postgres_database

REPO_ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 3, 1, 9, 0)
EVENT_TYPES = ["view", "click", "add_to_cart", "purchase"]


def stg_events_frame(rows: int = 40) -> pd.DataFrame:
    """Good stg_events rows, typed as DuckDB hands them to pandas."""
    stamps = [T0 + timedelta(minutes=7 * i) for i in range(rows)]
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(rows)],
            "user_id": [f"u{i % 5}" for i in range(rows)],
            "event_type": [EVENT_TYPES[i % 4] for i in range(rows)],
            "event_timestamp": pd.Series(stamps, dtype="datetime64[us]"),
            "event_value": pd.Series([float(i) * 10.5 if i % 3 else np.nan for i in range(rows)], dtype="float64"),
            "product_id": [f"p{i % 3}" if i % 2 else None for i in range(rows)],
            "properties": ["{}"] * rows,
            "event_date": pd.Series([s.replace(hour=0, minute=0) for s in stamps], dtype="datetime64[us]"),
            "event_hour": pd.Series([s.hour for s in stamps], dtype="int32"),
            "job_id": ["j1"] * rows,
            "ingested_at": pd.Series([T0 + timedelta(days=1)] * rows, dtype="datetime64[us]"),
        }
    )


def fact_events_frame(rows: int = 40) -> pd.DataFrame:
    stg = stg_events_frame(rows)
    fact = stg.drop(columns=["user_id", "product_id"])
    fact.insert(0, "event_sk", [f"sk{i:04d}" for i in range(rows)])
    fact.insert(1, "user_sk", [f"usk{i % 5}" for i in range(rows)])
    fact.insert(2, "product_sk", [f"psk{i % 3}" if i % 2 else None for i in range(rows)])
    fact["loaded_through"] = fact["ingested_at"]
    return fact


def user_versions_frame() -> pd.DataFrame:
    """Three versions of u1, one of u2 (int_users_with_history / dim_users shape)."""
    t = [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)]
    frame = pd.DataFrame(
        {
            "user_sk": ["a", "b", "c", "d"],
            "user_id": ["u1", "u1", "u1", "u2"],
            "user_name": ["Alice", "Alice", "Alicia", "Bob"],
            "email": ["a@x", "a2@x", "a2@x", "b@x"],
            "valid_from": pd.Series([t[0], t[1], t[2], t[0]], dtype="datetime64[us]"),
            "valid_to": pd.Series([t[1], t[2], None, None], dtype="datetime64[us]"),
            "is_current": [False, False, True, True],
            "is_inferred": [False, False, False, False],
            "version_number": pd.Series([1, 2, 3, 1], dtype="int64"),
        }
    )
    return frame


def entry(result: quality.QualityResult, expectation: str, column: str) -> dict:
    matches = [r for r in result.results if r["expectation"] == expectation and r["column"] == column]
    assert len(matches) == 1, (expectation, column, result.results)
    return matches[0]


@pytest.fixture(scope="module")
def suites() -> dict[str, quality.SuiteSpec]:
    return quality.load_suites()


def test_every_layer_has_a_suite_naming_an_existing_dbt_model(suites: dict[str, quality.SuiteSpec]) -> None:
    assert {"staging_suite", "intermediate_suite", "marts_suite"} <= set(suites)
    assert {s.layer for s in suites.values()} == {"staging", "intermediate", "marts"}
    models = {p.stem for p in (REPO_ROOT / "dbt_project" / "models").rglob("*.sql")}
    for spec in suites.values():
        assert spec.asset in models, spec
        assert spec.relation == f"{spec.layer}.{spec.asset}"
    assert suites["staging_suite"].asset == "stg_events"
    assert [s.name for s in suites.values() if s.asset == "fact_events"] == ["marts_suite"]


def test_suite_files_are_gx_suites(suites: dict[str, quality.SuiteSpec]) -> None:
    import great_expectations as gx

    for spec in suites.values():
        raw = json.loads(spec.path.read_text())
        gx_suite = gx.ExpectationSuite(**raw)
        assert len(gx_suite.expectations) == len(raw["expectations"]), spec.name


def test_importing_quality_does_not_import_great_expectations() -> None:
    code = "import sys, eventlake.quality; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("suite", "frame"),
    [
        ("staging_suite", stg_events_frame),
        ("marts_suite", fact_events_frame),
        ("intermediate_suite", user_versions_frame),
        ("marts_dim_users_suite", user_versions_frame),
    ],
)
def test_suites_pass_on_good_data(suites: dict[str, quality.SuiteSpec], suite: str, frame) -> None:
    result = quality.run_suite(suite, frame(), suites=suites)
    assert result.success, result.failed
    assert result.asset == suites[suite].asset
    assert result.evaluated_expectations == len(suites[suite].expectations)
    assert result.successful_expectations == result.evaluated_expectations
    json.dumps(result.to_dict())  # plain JSON all the way down


# Property 27: Null checks detect missing values
@pytest.mark.parametrize("column", ["event_id", "user_id", "event_type", "event_timestamp"])
def test_null_in_a_required_field_is_detected_and_counted(suites: dict[str, quality.SuiteSpec], column: str) -> None:
    df = stg_events_frame()
    rows = [3, 17, 29]
    df.loc[rows, column] = None
    result = quality.run_suite("staging_suite", df, suites=suites)
    assert not result.success
    failure = entry(result, "expect_column_values_to_not_be_null", column)
    assert failure["success"] is False
    assert failure["unexpected_count"] == len(rows)
    assert failure["unexpected_percent"] == pytest.approx(100 * len(rows) / len(df))
    assert failure["severity"] == "critical"
    # the other required columns are untouched and still pass
    others = [r for r in result.results if r["expectation"] == "expect_column_values_to_not_be_null" and r["column"] != column]
    assert others and all(r["success"] for r in others)


# Property 29: Range checks detect out-of-bounds values
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    bad=st.lists(
        st.one_of(
            st.floats(min_value=1_000_000.001, max_value=1e12),
            st.floats(min_value=-1e12, max_value=-0.001),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_out_of_range_values_are_detected_with_samples(suites: dict[str, quality.SuiteSpec], bad: list[float]) -> None:
    df = stg_events_frame()
    df.loc[range(len(bad)), "event_value"] = bad
    result = quality.run_suite("staging_suite", df, suites=suites)
    failure = entry(result, "expect_column_values_to_be_between", "event_value")
    assert failure["success"] is False
    assert failure["unexpected_count"] == len(bad)
    assert sorted(failure["partial_unexpected_list"]) == sorted(bad)
    assert not result.success


# Property 29: Range checks detect out-of-bounds values
def test_boundary_values_are_in_range(suites: dict[str, quality.SuiteSpec]) -> None:
    df = stg_events_frame()
    df.loc[[1, 2], "event_value"] = [0.0, 1_000_000.0]
    result = quality.run_suite("staging_suite", df, suites=suites)
    assert entry(result, "expect_column_values_to_be_between", "event_value")["success"] is True


def test_out_of_set_event_type_is_detected_with_counts(suites: dict[str, quality.SuiteSpec]) -> None:
    df = stg_events_frame()
    df.loc[[0, 5], "event_type"] = "refund"
    df.loc[9, "event_type"] = "VIEW"
    for suite, frame in (("staging_suite", df), ("marts_suite", None)):
        if frame is None:
            frame = fact_events_frame()
            frame.loc[[0, 5, 9], "event_type"] = ["refund", "refund", "VIEW"]
        result = quality.run_suite(suite, frame, suites=suites)
        failure = entry(result, "expect_column_values_to_be_in_set", "event_type")
        assert failure["success"] is False
        assert failure["unexpected_count"] == 3
        assert sorted(failure["partial_unexpected_list"]) == ["VIEW", "refund", "refund"]


# Property 28: Type checks detect mismatches
def test_type_mismatch_is_detected_and_reports_the_observed_type(suites: dict[str, quality.SuiteSpec]) -> None:
    df = stg_events_frame()
    df["event_value"] = df["event_value"].map(lambda v: "n/a" if pd.isna(v) else str(v))  # text, not numbers
    df["event_hour"] = df["event_hour"].astype("float64")
    result = quality.run_suite("staging_suite", df, suites=suites)
    value_type = entry(result, "expect_column_values_to_be_in_type_list", "event_value")
    hour_type = entry(result, "expect_column_values_to_be_in_type_list", "event_hour")
    assert value_type["success"] is False and value_type["observed_value"] != "float64"
    assert hour_type["success"] is False and hour_type["observed_value"] == "float64"
    timestamp_type = entry(result, "expect_column_values_to_be_in_type_list", "event_timestamp")
    assert timestamp_type["success"] is True


def test_two_current_versions_of_a_user_are_detected(suites: dict[str, quality.SuiteSpec]) -> None:
    df = user_versions_frame()
    df.loc[1, "is_current"] = True  # u1 now has two current rows
    for suite in ("intermediate_suite", "marts_dim_users_suite"):
        result = quality.run_suite(suite, df, suites=suites)
        failure = entry(result, "expect_column_values_to_be_unique", "user_id")
        assert failure["success"] is False
        assert failure["unexpected_count"] == 2
        assert failure["partial_unexpected_list"] == ["u1", "u1"]


def test_inverted_validity_interval_is_detected(suites: dict[str, quality.SuiteSpec]) -> None:
    df = user_versions_frame()
    df.loc[0, "valid_to"] = df.loc[0, "valid_from"] - timedelta(minutes=1)
    result = quality.run_suite("marts_dim_users_suite", df, suites=suites)
    failure = entry(result, "expect_column_pair_values_a_to_be_greater_than_b", "valid_to,valid_from")
    assert failure["success"] is False and failure["unexpected_count"] == 1


def test_missing_column_fails_the_suite_instead_of_raising(suites: dict[str, quality.SuiteSpec]) -> None:
    result = quality.run_suite("staging_suite", stg_events_frame().drop(columns=["event_type"]), suites=suites)
    assert not result.success
    failure = entry(result, "expect_column_values_to_be_in_set", "event_type")
    assert failure["success"] is False and failure.get("exception")
    columns = entry(result, "expect_table_columns_to_match_set", None)
    assert columns["success"] is False


def test_unknown_suite_is_an_error(suites: dict[str, quality.SuiteSpec]) -> None:
    with pytest.raises(quality.SuiteError, match="unknown suite"):
        quality.run_suite("no_such_suite", stg_events_frame(), suites=suites)


def test_malformed_suite_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text(json.dumps({"name": "broken", "meta": {}, "expectations": []}))
    with pytest.raises(quality.SuiteError, match="dbt_model"):
        quality.load_suites(tmp_path)


# Property 41: Quality failures logged with details
def test_failures_are_logged_with_rule_and_sample_values(
    suites: dict[str, quality.SuiteSpec], caplog: pytest.LogCaptureFixture
) -> None:
    df = stg_events_frame()
    df.loc[4, "event_value"] = 2_500_000.0
    df.loc[6, "event_type"] = "refund"
    with caplog.at_level(logging.INFO, logger="eventlake.quality"):
        quality.run_suite("staging_suite", df, suites=suites)
    messages = [r.getMessage() for r in caplog.records if r.name == "eventlake.quality" and r.levelno >= logging.WARNING]
    range_message = next(m for m in messages if "event_value is between 0 and 1,000,000" in m)
    assert "2500000.0" in range_message and "1 of 40 rows" in range_message
    set_message = next(m for m in messages if "event_type is one of" in m)
    assert "refund" in set_message
    assert any("staging_suite on stg_events failed: 2 of" in m for m in messages)


# Property 30: Validation failures generate reports
def test_results_are_recorded_and_read_back_from_sqlite(suites: dict[str, quality.SuiteSpec], tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'state' / 'jobs.db'}"  # parent dir does not exist yet
    good = quality.run_suite("staging_suite", stg_events_frame(), suites=suites)
    bad_frame = stg_events_frame()
    bad_frame.loc[0, "event_id"] = None
    bad = quality.run_suite("staging_suite", bad_frame, suites=suites)
    bad.run_at = good.run_at + timedelta(seconds=1)
    first = quality.record_result(db_url, good, run_id="run-1")
    second = quality.record_result(db_url, bad, run_id="run-2")
    assert second > first

    rows = quality.recent_results(db_url, limit=10)
    assert [r["run_id"] for r in rows] == ["run-2", "run-1"]  # newest first
    latest = rows[0]
    assert latest["suite"] == "staging_suite" and latest["asset"] == "stg_events"
    assert latest["success"] is False
    assert latest["evaluated"] == bad.evaluated_expectations
    assert latest["successful"] == bad.successful_expectations
    assert latest["row_count"] == 40
    assert latest["run_at"].tzinfo is not None
    failed = [r for r in latest["results"] if not r["success"]]
    assert [(f["expectation"], f["column"], f["unexpected_count"]) for f in failed] == [
        ("expect_column_values_to_not_be_null", "event_id", 1)
    ]
    assert quality.recent_results(db_url, limit=1) == rows[:1]


# Property 30: Validation failures generate reports
def test_results_are_recorded_in_postgres(suites: dict[str, quality.SuiteSpec]) -> None:
    with postgres_database("eventlake_quality") as db_url:
        try:
            result = quality.run_suite("marts_suite", fact_events_frame(), suites=suites)
            row_id = quality.record_result(db_url, result, run_id=None)
            rows = quality.recent_results(db_url)
            assert [(r["id"], r["suite"], r["success"], r["run_id"]) for r in rows] == [(row_id, "marts_suite", True, None)]
            assert rows[0]["run_at"] == result.run_at
        finally:
            quality.results._engine(db_url).dispose()
