"""transform_job's materializations, with dbt in the run's process (the
default) and with one dbt process per layer (EVENTLAKE_DBT_IN_PROCESS=false):
every dbt model is materialized once per run, in layer order, each with
``dagster/row_count`` equal to the rows of its table, and dbt tests report
as asset checks.
"""

from __future__ import annotations

import duckdb
import pytest

from eventlake.consumer import Consumer
from eventlake.settings import Settings
from tests.consumer.conftest import events, publish

MODELS = {
    "stg_events": "staging", "stg_users": "staging", "stg_products": "staging",
    "int_events_enriched": "intermediate", "int_users_with_history": "intermediate",
    "fact_events": "marts", "dim_users": "marts", "dim_products": "marts",
}


@pytest.mark.parametrize("in_process", [True, False], ids=["dbt-in-process", "dbt-process-per-layer"])
def test_every_model_materializes_with_its_row_count(tmp_path, monkeypatch, in_process: bool) -> None:
    from dagster import DagsterInstance

    from eventlake.definitions import build_definitions

    monkeypatch.setenv("EVENTLAKE_DBT_IN_PROCESS", "true" if in_process else "false")
    settings = Settings(home=tmp_path / "home")
    assert settings.dbt_in_process is in_process
    publish(settings, "events", events(25))
    consumer = Consumer(settings)
    try:
        consumer.drain()
    finally:
        consumer.close()

    defs = build_definitions("LOCAL", home=str(settings.home))
    result = defs.resolve_job_def("transform_job").execute_in_process(instance=DagsterInstance.ephemeral())
    assert result.success

    materialized = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    assert set(materialized) == set(MODELS)
    with duckdb.connect(str(settings.duckdb_file), read_only=True) as con:
        for model, schema in MODELS.items():
            rows = con.execute(f"select count(*) from {schema}.{model}").fetchone()[0]
            metadata = materialized[model].event_specific_data.materialization.metadata
            assert metadata["dagster/row_count"].value == rows, model
    assert materialized["fact_events"].event_specific_data.materialization.metadata["dagster/row_count"].value == 25
    # layers run as steps in order
    steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"]
    assert steps.index("dbt_staging") < steps.index("dbt_intermediate") < steps.index("dbt_marts")
    dbt_tests = [c for c in result.get_asset_check_evaluations() if c.check_name.startswith(("unique_", "not_null_"))]
    assert dbt_tests and all(c.passed for c in dbt_tests)
