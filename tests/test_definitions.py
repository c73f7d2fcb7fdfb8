"""The Dagster code location loads, and its asset graph has the documented shape."""

from __future__ import annotations

import subprocess
import sys

from dagster import AssetKey

from tests.conftest import REPO_ROOT

EXPECTED_EDGES = {
    ("raw_events", "stg_events"),
    ("raw_users", "stg_users"),
    ("raw_products", "stg_products"),
    ("stg_events", "int_events_enriched"),
    ("stg_users", "int_users_with_history"),
    ("int_events_enriched", "fact_events"),
    ("int_users_with_history", "dim_users"),
    ("stg_products", "dim_products"),
}
LAYERS = {
    "raw": {"raw_events", "raw_users", "raw_products"},
    "staging": {"stg_events", "stg_users", "stg_products"},
    "intermediate": {"int_events_enriched", "int_users_with_history"},
    "marts": {"fact_events", "dim_users", "dim_products"},
}


def test_definitions_load_with_the_asset_graph(eventlake_home):
    from eventlake.definitions import build_definitions

    defs = build_definitions("LOCAL", home=str(eventlake_home))
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == set().union(*LAYERS.values())
    for group, members in LAYERS.items():
        for key in members:
            node = graph.get(AssetKey(key))
            assert node.group_name == group, (key, node.group_name)
    edges = {
        (parent.to_user_string(), key.to_user_string())
        for key in graph.get_all_asset_keys()
        for parent in graph.get(key).parent_keys
    }
    assert EXPECTED_EDGES <= edges

    job_names = {j.name for j in defs.resolve_all_job_defs()}
    assert {"raw_ingest_job", "transform_job"} <= job_names
    assert defs.resolve_sensor_def("iceberg_snapshot_sensor").job_name == "transform_job"

    check_names = {c.name for c in graph.asset_check_keys}
    assert {"gx_staging_suite", "gx_intermediate_suite", "gx_marts_suite", "raw_events_contract"} <= check_names
    # dbt tests are asset checks too
    assert any(name.startswith(("unique_", "not_null_")) for name in check_names)


def test_transform_job_builds_the_dbt_models_with_their_checks(eventlake_home):
    """The job names the dbt layers by their groups (no manifest needed to define it): exactly the models,
    with every check on them, dbt tests and Great Expectations suites alike."""
    from eventlake.definitions import build_definitions

    defs = build_definitions("LOCAL", home=str(eventlake_home))
    job = defs.resolve_job_def("transform_job").asset_layer
    models = set().union(*(LAYERS[layer] for layer in ("staging", "intermediate", "marts")))
    assert {k.to_user_string() for k in job.selected_asset_keys} == models
    on_models = {k for k in defs.resolve_asset_graph().asset_check_keys if k.asset_key.to_user_string() in models}
    assert set(job.asset_graph.asset_check_keys) == on_models
    assert {"gx_staging_suite", "fact_events_reconciliation", "unique_fact_events_event_id"} <= {k.name for k in on_models}


def test_workspace_yaml_loads_the_code_location(eventlake_home):
    # what `dagster dev -w workspace.yaml` does first: load the module, no errors
    out = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "dagster"), "definitions", "validate", "-w", str(REPO_ROOT / "workspace.yaml")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_daily_full_checks_run_checks_whole_tables(eventlake_home):
    """The schedule's run config is valid for transform_job and turns every scoped check to whole tables."""
    from dagster import build_schedule_context, validate_run_config

    from eventlake.assets.checks import fact_events_reconciliation
    from eventlake.definitions import build_definitions

    defs = build_definitions("LOCAL", home=str(eventlake_home))
    schedule = defs.resolve_schedule_def("transform_full_checks_schedule")
    (request,) = schedule.evaluate_tick(build_schedule_context()).run_requests
    ops = validate_run_config(defs.resolve_job_def("transform_job"), request.run_config)["ops"]
    assert {name: op["config"] for name, op in ops.items() if op.get("config")} == {
        "dbt_staging": {"full_checks": True},
        "dbt_intermediate": {"full_checks": True},
        "dbt_marts": {"full_checks": True},
        fact_events_reconciliation.node_def.name: {"whole_tables": True},
    }
