"""fact_events_reconciliation: each run reconciles its own load; the daily full-checks run whole tables.

Two loads built by the real dbt project (DuckDB, raw Iceberg tables); the
check runs as Dagster invokes it, against the DuckDB warehouse resource.
A corruption in the latest load fails the scoped check; one in an older
job passes it (the run did not touch that job) and fails the whole-table
check, which the daily schedule runs.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from dagster import build_asset_check_context

from eventlake.assets.checks import ReconciliationConfig, fact_events_reconciliation, full_checks_run_config
from eventlake.resources.warehouse import DuckDBWarehouse
from tests.dbt.dbt_lakehouse import Lakehouse, event, product, ts, user

L1 = ts(0) + timedelta(days=1)
L2 = L1 + timedelta(hours=1)


@pytest.fixture(scope="module")
def two_loads(lakehouse: Lakehouse) -> Lakehouse:
    lakehouse.append("users", [user("u1", "Alice", "a@example.com", ts(0), job_id="j1", ingested_at=L1)])
    lakehouse.append("products", [product("p1", "Widget", "tools", 10.0, job_id="j1", ingested_at=L1)])
    lakehouse.append("events", [event(f"a{i}", "u1", ts(i), product_id="p1", job_id="j1", ingested_at=L1) for i in range(5)])
    lakehouse.dbt("build")
    lakehouse.append("events", [event(f"b{i}", "u1", ts(i), job_id="j2", ingested_at=L2) for i in range(3)])
    lakehouse.dbt("build")
    return lakehouse


@pytest.fixture
def built(two_loads: Lakehouse, tmp_path: Path) -> Path:
    """A copy of the built warehouse for one test to corrupt: the home of a DuckDBWarehouse."""
    shutil.copy(two_loads.duckdb_path, tmp_path / "warehouse.duckdb")
    return tmp_path


def check(home: Path, *, whole_tables: bool) -> dict:
    context = build_asset_check_context(resources={"warehouse": DuckDBWarehouse(home=str(home))})
    result = fact_events_reconciliation(context, ReconciliationConfig(whole_tables=whole_tables))
    return {"passed": result.passed, **{k: getattr(v, "value", v) for k, v in result.metadata.items()}}


def write(home: Path, sql: str) -> None:
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute(sql)


def test_a_run_reconciles_its_own_load_and_the_daily_run_every_job(built: Path) -> None:
    scoped, whole = check(built, whole_tables=False), check(built, whole_tables=True)
    assert scoped["passed"] and whole["passed"]
    assert (scoped["jobs"], scoped["fact_rows"]) == (1, 3)  # j2 only
    assert (whole["jobs"], whole["fact_rows"]) == (2, 8)
    assert "latest" in scoped["scope"] and "every job" in whole["scope"]
    assert full_checks_run_config() == {fact_events_reconciliation.node_def.name: ReconciliationConfig(whole_tables=True)}


def test_a_duplicate_of_a_new_key_fails_the_run_even_when_the_other_copy_is_old(built: Path) -> None:
    # an older copy of one of the latest load's keys: the duplicate spans loads
    write(built, """
        insert into marts.fact_events
        select * replace (dbt_loaded_at - interval 1 day as dbt_loaded_at) from marts.fact_events
        where event_id = 'b0'
    """)
    scoped = check(built, whole_tables=False)
    assert not scoped["passed"] and scoped["duplicate_fact_rows"] == 1
    assert scoped["jobs_not_reconciled"] == 1  # j2 has one fact row more than it staged


def test_an_older_jobs_loss_is_found_by_the_daily_whole_table_check(built: Path) -> None:
    write(built, "delete from marts.fact_events where event_id = 'a0'")
    assert check(built, whole_tables=False)["passed"]  # this run did not touch j1
    whole = check(built, whole_tables=True)
    assert not whole["passed"] and whole["jobs_not_reconciled"] == 1
    assert "j1" in whole["jobs_not_reconciled_sample"]


def test_a_fact_row_without_its_user_version_fails(built: Path) -> None:
    write(built, "update marts.fact_events set user_sk = 'nope' where event_id = 'b1'")
    scoped = check(built, whole_tables=False)
    assert not scoped["passed"] and scoped["missing_user_keys"] == 1
