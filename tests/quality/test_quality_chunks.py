"""GX suites validated in chunks: a check holds one chunk of a model in memory, not its history.

Row-wise expectations add up over the chunks to what one validation of all
the rows reports; uniqueness spans chunks and is counted over all the rows
in the warehouse (a real DuckDB file here).
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from eventlake import quality
from eventlake.assets import checks
from eventlake.resources.core import settings_for
from eventlake.resources.warehouse import DuckDBWarehouse
from tests.quality.test_quality_suites import entry, stg_events_frame


def split(frame: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    return [frame.iloc[i : i + size].reset_index(drop=True) for i in range(0, len(frame), size)]


def bad_stg_events(rows: int = 60) -> pd.DataFrame:
    df = stg_events_frame(rows)
    df.loc[[3, 25, 47], "event_type"] = "teleport"  # one bad value in each of three chunks of 20
    df.loc[[5, 45], "event_hour"] = 99
    df.loc[50, "event_id"] = "e2"  # a duplicate of a key in the first chunk
    return df


def test_row_wise_results_in_chunks_add_up_to_one_validation_of_all_rows() -> None:
    df = bad_stg_events()
    whole = quality.run_suite("staging_suite", df)
    chunked = quality.run_suite_chunks("staging_suite", split(df, 20), duplicates=lambda cols: (2, ["e2"]))
    assert chunked.row_count == whole.row_count == 60
    assert entry(chunked, "expect_column_values_to_be_in_set", "event_type")["chunks"] == 3
    for expectation, column, bad in [
        ("expect_column_values_to_be_in_set", "event_type", 3),
        ("expect_column_values_to_be_between", "event_hour", 2),
        ("expect_column_values_to_not_be_null", "event_id", 0),
    ]:
        a, b = entry(whole, expectation, column), entry(chunked, expectation, column)
        assert a["unexpected_count"] == b["unexpected_count"] == bad, (expectation, a, b)
        assert a["success"] == b["success"] == (bad == 0)
        assert a["element_count"] == b["element_count"] == 60
        assert b["unexpected_percent"] == pytest.approx(a["unexpected_percent"])
        assert sorted(map(str, a["partial_unexpected_list"])) == sorted(map(str, b["partial_unexpected_list"]))
    assert chunked.successful_expectations == whole.successful_expectations
    assert chunked.success is whole.success is False


def test_a_duplicate_across_chunks_fails_uniqueness_through_the_counter() -> None:
    df = bad_stg_events()
    asked: list[list[str]] = []

    def counter(columns: list[str]) -> tuple[int, list]:
        asked.append(columns)
        return 2, ["e2"]

    result = quality.run_suite_chunks("staging_suite", split(df, 20), duplicates=counter)
    unique = entry(result, "expect_column_values_to_be_unique", "event_id")
    assert asked == [["event_id"]]
    assert unique["success"] is False and unique["unexpected_count"] == 2
    assert unique["partial_unexpected_list"] == ["e2"]
    # each chunk alone holds no duplicate: without the counter a chunked run would miss it, so it is refused
    with pytest.raises(quality.SuiteError, match="duplicate counter"):
        quality.run_suite_chunks("staging_suite", split(df, 20))


def test_the_staging_check_reads_in_chunks_and_finds_a_duplicate_across_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EVENTLAKE_HOME", str(tmp_path))
    warehouse = DuckDBWarehouse(home=str(tmp_path))
    warehouse_file = settings_for(str(tmp_path)).duckdb_file
    warehouse_file.parent.mkdir(parents=True, exist_ok=True)
    df = bad_stg_events(5000)
    df["dbt_loaded_at"] = pd.Timestamp("2024-03-02 10:00:00")
    with duckdb.connect(str(warehouse_file)) as con:
        con.execute("create schema staging")
        con.register("df", df)
        con.execute("create table staging.stg_events as select * from df")
    spec = quality.load_suites()["staging_suite"]
    sql, scope = checks.rows_to_validate(warehouse, spec)
    assert "has read none yet" in scope
    chunks = list(warehouse.query_chunks(sql, 2048))
    assert len(chunks) == 3 and sum(map(len, chunks)) == 5000 and max(map(len, chunks)) <= 2048
    assert checks.duplicates(warehouse, sql, ["event_id"]) == (2, ["e2"])
    assert checks.duplicates(warehouse, sql, ["job_id", "event_type"])[0] == 5000

    result = quality.run_suite_chunks(
        "staging_suite", warehouse.query_chunks(sql, 2048), duplicates=lambda c: checks.duplicates(warehouse, sql, c)
    )
    assert result.row_count == 5000
    unique = entry(result, "expect_column_values_to_be_unique", "event_id")
    assert (unique["success"], unique["unexpected_count"], unique["partial_unexpected_list"]) == (False, 2, ["e2"])
    assert entry(result, "expect_column_values_to_be_in_set", "event_type")["unexpected_count"] == 3
