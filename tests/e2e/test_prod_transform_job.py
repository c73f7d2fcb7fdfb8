"""In PROD, transform_job loads the new raw Iceberg snapshots into Snowflake RAW before dbt reads them.

dbt's PROD target reads ``<database>.RAW``, which the ``snowflake_raw_*`` loader assets write. So in
the PROD asset graph the dbt sources are the loaders: raw_<dataset> -> snowflake_raw_<dataset> ->
stg_<dataset>, and transform_job (what the snapshot sensor, the API trigger and the demo run) runs
the loader steps before the staging step. LOCAL keeps the graph it had: raw_<dataset> -> stg_<dataset>.
"""

from __future__ import annotations

from dagster import AssetKey

from eventlake.definitions import build_definitions

DATASETS = ("events", "users", "products")
MODELS = {"stg_events", "stg_users", "stg_products", "int_events_enriched", "int_users_with_history",
          "fact_events", "dim_users", "dim_products"}
LOADERS = {f"snowflake_raw_{d}" for d in DATASETS}


def _parents(defs, key: str) -> set[str]:
    return {k.to_user_string() for k in defs.resolve_asset_graph().get(AssetKey(key)).parent_keys}


def _upstream_ops(job, op: str) -> set[str]:
    return {dep.node.name for dep in job.graph.dependency_structure.all_upstream_outputs_from_node(op)}


def test_prod_transform_job_runs_the_snowflake_loaders_before_staging(eventlake_home):
    defs = build_definitions("PROD", home=str(eventlake_home))
    for dataset in DATASETS:
        assert _parents(defs, f"stg_{dataset}") == {f"snowflake_raw_{dataset}"}
        assert _parents(defs, f"snowflake_raw_{dataset}") == {f"raw_{dataset}"}

    job = defs.resolve_job_def("transform_job")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == MODELS | LOADERS
    # the staging step waits for the three loads in the run
    assert _upstream_ops(job, "dbt_staging") == LOADERS
    assert defs.resolve_sensor_def("iceberg_snapshot_sensor").job_name == "transform_job"
    # the loaders alone, as before
    assert {k.to_user_string() for k in defs.resolve_job_def("snowflake_load_job").asset_layer.selected_asset_keys} == LOADERS


def test_local_transform_job_is_the_dbt_models_reading_the_raw_iceberg_assets(eventlake_home):
    defs = build_definitions("LOCAL", home=str(eventlake_home))
    for dataset in DATASETS:
        assert _parents(defs, f"stg_{dataset}") == {f"raw_{dataset}"}
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert not keys & LOADERS
    job = defs.resolve_job_def("transform_job")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == MODELS
    assert _upstream_ops(job, "dbt_staging") == set()
