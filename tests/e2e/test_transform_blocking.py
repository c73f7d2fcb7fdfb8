"""A blocking check on a layer stops the layers downstream of it.

transform_job builds staging, intermediate and marts as separate steps; the
staging Great Expectations suite is a blocking check on stg_events. Rows
that break the contract are written straight into raw.events (as a writer
that bypasses the consumer's validation would), then:

1. the run builds stg_events, its dbt tests fail the staging step, and
   neither intermediate nor marts is built: nothing reaches fact_events;
2. a later run with good new rows still does not let them through: the suite
   validates every staged row the intermediate layer has not read yet, so the
   bad rows are validated again (and fail again) instead of flowing on with
   the good ones.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from eventlake import lake
from eventlake.settings import Settings

AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _append(settings: Settings, job_id: str, rows: list[tuple[str, str]]) -> None:
    table = lake.ensure_tables(lake.load_catalog(settings))["events"]
    records = [
        {
            "event_id": event_id, "user_id": "u1", "event_type": event_type, "event_timestamp": AT,
            "event_value": 1.0, "product_id": None, "properties": None, "event_date": AT.date(),
            "event_hour": AT.hour, "job_id": job_id, "ingested_at": datetime.now(UTC),
        }
        for event_id, event_type in rows
    ]
    table.append(pa.Table.from_pylist(records, schema=table.schema().as_arrow()))


def _run(settings: Settings):
    from dagster import DagsterInstance

    from eventlake.definitions import build_definitions

    defs = build_definitions("LOCAL", home=str(settings.home))
    return defs.resolve_job_def("transform_job").execute_in_process(instance=DagsterInstance.ephemeral(), raise_on_error=False)


def _query(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.duckdb_file), read_only=True) as con:
        return con.execute(sql).fetchall()


def _tables(settings: Settings) -> set[str]:
    return {f"{s}.{t}" for s, t in _query(settings, "select table_schema, table_name from information_schema.tables")}


def _succeeded_steps(result) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}


def test_bad_staging_rows_never_reach_fact_events(tmp_path) -> None:
    settings = Settings(home=tmp_path / "home")
    _append(settings, "bad-job", [("b1", "teleport"), ("b2", "view")])

    first = _run(settings)
    assert not first.success
    staged = dict(_query(settings, "select event_id, event_type from staging.stg_events"))
    assert staged == {"b1": "teleport", "b2": "view"}
    # the dbt tests of stg_events fail their step, so the suite does not even run
    assert "dbt_staging" not in _succeeded_steps(first)
    assert not {"dbt_intermediate", "dbt_marts"} & _succeeded_steps(first)
    assert "marts.fact_events" not in _tables(settings)

    # good rows later: the bad ones are validated again and still hold everything back
    _append(settings, "good-job", [("g1", "click"), ("g2", "purchase")])
    second = _run(settings)
    assert not second.success
    assert "dbt_staging" in _succeeded_steps(second)  # the new rows pass the dbt tests of their run
    check = {c.check_name: c for c in second.get_asset_check_evaluations()}["gx_staging_suite"]
    assert not check.passed
    assert check.metadata["rows"].value == 4  # the bad rows of the first run are in scope again
    assert not {"dbt_intermediate", "dbt_marts"} & _succeeded_steps(second)
    assert "marts.fact_events" not in _tables(settings)
