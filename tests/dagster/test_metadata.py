"""What the Dagster UI shows a person about the code location: descriptions free of
specification references, dbt tests described, code references, column descriptions,
``dagster/row_count`` on every materialization; and all of dbt's state in EVENTLAKE_HOME.

The definitions are built once for the module in a fresh EVENTLAKE_HOME; the
materialization test then runs the raw assets, the snapshot sensor and
transform_job there, and checks that nothing was written under the repository's
``dbt_project/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance, Definitions, build_sensor_context

from tests.conftest import REPO_ROOT
from tests.consumer.conftest import events, publish

DBT_PROJECT = REPO_ROOT / "dbt_project"
SPEC_REFERENCE = re.compile(r"\bPropert(y|ies)\s+\d+")
DBT_MODELS = {
    "stg_events": "staging", "stg_users": "staging", "stg_products": "staging",
    "int_events_enriched": "intermediate", "int_users_with_history": "intermediate",
    "fact_events": "marts", "dim_users": "marts", "dim_products": "marts",
}  # fmt: skip
RAW = {"raw_events": "events", "raw_users": "users", "raw_products": "products"}


def _listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Iterator[Path]:
    """A fresh EVENTLAKE_HOME for the module, seen by get_settings()."""
    from eventlake.settings import get_settings

    path = tmp_path_factory.mktemp("metadata") / "home"
    path.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVENTLAKE_HOME", str(path))
        for var in ("EVENTLAKE_CATALOG_URI", "EVENTLAKE_WAREHOUSE", "EVENTLAKE_DUCKDB_PATH", "EVENTLAKE_JOB_DB_URL",
                    "EVENTLAKE_STREAM", "EVENTLAKE_ENV", "EVENTLAKE_DBT_TARGET_DIR", "EVENTLAKE_DBT_IN_PROCESS"):
            mp.delenv(var, raising=False)
        get_settings.cache_clear()
        yield path
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def repo_dbt_before(home) -> dict[str, tuple[int, int]]:
    """The repository's dbt_project/ before this module built anything."""
    return _listing(DBT_PROJECT)


@pytest.fixture(scope="module")
def defs(home, repo_dbt_before) -> Definitions:
    from eventlake.definitions import build_definitions

    return build_definitions("LOCAL", home=str(home))


def _dbt_test_checks(graph) -> dict[str, Any]:
    """The asset checks that are dbt tests, by name."""
    found = {}
    for key in graph.asset_check_keys:
        spec = graph.get_check_spec(key)
        if str(spec.metadata.get("dagster_dbt/unique_id", "")).startswith("test."):
            found[key.name] = spec
    return found


# -- descriptions -------------------------------------------------------------------------
def test_no_description_shown_in_the_ui_cites_the_specification(defs):
    graph = defs.resolve_asset_graph()
    shown: dict[str, str | None] = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        shown[f"asset {key.to_user_string()}"] = node.description
        schema = node.metadata.get("dagster/column_schema")
        for column in getattr(schema, "columns", []):
            shown[f"column {key.to_user_string()}.{column.name}"] = column.description
    for key in graph.asset_check_keys:
        shown[f"check {key.name}"] = graph.get_check_spec(key).description
    for job in defs.resolve_all_job_defs():
        shown[f"job {job.name}"] = job.description
        for node in job.all_node_defs:
            shown[f"op {node.name}"] = node.description
    for schedule in defs.schedules:
        shown[f"schedule {schedule.name}"] = schedule.description
    for sensor in defs.sensors:
        shown[f"sensor {sensor.name}"] = sensor.description
    assert len([k for k in shown if k.startswith("check ")]) > 60  # the checks are all there
    cited = {where: text for where, text in shown.items() if text and SPEC_REFERENCE.search(text)}
    assert not cited, cited


def test_every_dbt_test_is_described(defs):
    checks = _dbt_test_checks(defs.resolve_asset_graph())
    assert len(checks) > 60
    missing = [name for name, spec in checks.items() if not (spec.description or "").strip()]
    assert not missing, missing
    described = {name: spec.description for name, spec in checks.items()}
    # generic tests: built from the test and its arguments, with the rows they check
    assert described["unique_fact_events_event_id"].startswith("unique: event_id has no duplicates (rows of the latest run")
    assert described["not_null_stg_events_user_id"].startswith("not_null: user_id is never null")
    assert described["relationships_fact_events_user_sk__user_sk__ref_dim_users_"].startswith(
        "relationships: user_sk references dim_users.user_sk"
    )
    assert described["accepted_values_stg_events_event_type__view__click__add_to_cart__purchase"].startswith(
        "accepted_values: event_type is one of view, click, add_to_cart, purchase"
    )
    assert described["unique_dim_users_user_id"] == "unique: user_id has no duplicates (rows where is_current)"
    # singular tests: the description in their yml (dbt_project/tests/_singular_tests.yml)
    assert described["assert_user_versions_are_contiguous"].startswith("The SCD2 versions of each user in dim_users")


def test_a_test_with_its_own_description_keeps_it():
    from eventlake.dbt.nodes import describe_test

    props = {"name": "unique_x_id", "description": "  Ids are unique.  ", "config": {"where": None},
             "test_metadata": {"name": "unique", "kwargs": {"column_name": "id"}}, "column_name": "id"}
    assert describe_test(props) == "Ids are unique."
    props["description"] = ""
    assert describe_test(props) == "unique: id has no duplicates"
    props["config"] = {"severity": "warn", "where": "new_rows"}
    assert describe_test(props) == (
        "unique: id has no duplicates (rows of the latest run; the whole table in the daily full-checks run)"
        " (warns, does not fail the run)"
    )


# -- code references and columns ----------------------------------------------------------
def _references(node) -> list[str]:
    value = node.metadata.get("dagster/code_references")
    return [r.file_path for r in getattr(value, "code_references", [])]


def test_every_asset_links_to_its_code(defs):
    graph = defs.resolve_asset_graph()
    for model, layer in DBT_MODELS.items():
        files = _references(graph.get(AssetKey(model)))
        expected = [DBT_PROJECT / "models" / layer / f"{model}.sql", DBT_PROJECT / "models" / layer / f"{model}.yml",
                    REPO_ROOT / "platform" / "assets" / "dbt.py"]
        assert [Path(f).resolve() for f in files] == [p.resolve() for p in expected], model
        assert all(Path(f).is_file() for f in files)
    for raw in RAW:
        files = _references(graph.get(AssetKey(raw)))
        assert [Path(f).resolve() for f in files] == [(REPO_ROOT / "platform" / "assets" / "raw.py").resolve()]


def test_every_column_is_described(defs):
    """dbt models from their yml; raw tables from the contract (eventlake.contracts)."""
    graph = defs.resolve_asset_graph()
    for model in [*DBT_MODELS, *RAW]:
        schema = graph.get(AssetKey(model)).metadata.get("dagster/column_schema")
        assert schema is not None and schema.columns, model
        undescribed = [c.name for c in schema.columns if not (c.description or "").strip()]
        assert not undescribed, (model, undescribed)


# -- materializations and where dbt writes --------------------------------------------------
def test_materializations_carry_row_counts_and_dbt_writes_only_under_the_home(home, defs, repo_dbt_before):
    from eventlake import lake
    from eventlake.consumer import Consumer
    from eventlake.resources.core import EventlakeResource
    from eventlake.sensors.snapshots import iceberg_snapshot_sensor
    from eventlake.settings import get_settings

    settings = get_settings()
    assert settings.home == home.resolve()
    instance = DagsterInstance.ephemeral()
    publish(settings, "events", events(30))
    publish(settings, "users", [{"user_id": "u1", "user_name": "a", "email": "a@example.com",
                                 "updated_at": "2026-01-01T00:00:00Z"}])
    tables = lake.ensure_tables(lake.load_catalog(settings))

    def table_rows() -> dict[str, int]:
        for t in tables.values():
            t.refresh()
        return {asset: tables[dataset].scan().to_arrow().num_rows for asset, dataset in RAW.items()}

    # the raw assets: raw_ingest_job drains the stream
    raw = defs.resolve_job_def("raw_ingest_job").execute_in_process(instance=instance)
    assert raw.success
    counts = {m.asset_key.to_user_string(): m.metadata["dagster/row_count"].value
              for m in (e.event_specific_data.materialization for e in raw.all_events if e.is_step_materialization)}
    assert counts == table_rows() and counts["raw_events"] == 30
    graph = defs.resolve_asset_graph()
    for asset, dataset in RAW.items():  # the UI's column schema is the Iceberg table's
        shown = [c.name for c in graph.get(AssetKey(asset)).metadata["dagster/column_schema"].columns]
        assert shown == tables[dataset].schema().column_names, asset

    # the raw assets: a consumer commits outside Dagster, the sensor reports the snapshot
    publish(settings, "events", events(12, prefix="late"))
    consumer = Consumer(settings)
    try:
        consumer.drain()
    finally:
        consumer.close()
    context = build_sensor_context(instance=instance, resources={"eventlake": EventlakeResource(home=str(home))})
    result = iceberg_snapshot_sensor(context)
    reported = [e for e in result.asset_events if e.asset_key == AssetKey("raw_events")]
    assert reported and reported[-1].metadata["dagster/row_count"].value == table_rows()["raw_events"] == 42

    # the dbt models: transform_job
    transform = defs.resolve_job_def("transform_job").execute_in_process(instance=instance)
    assert transform.success
    materialized = {m.asset_key.to_user_string(): m for m in
                    (e.event_specific_data.materialization for e in transform.all_events if e.is_step_materialization)}
    assert set(materialized) == set(DBT_MODELS)
    with duckdb.connect(str(settings.duckdb_file), read_only=True) as con:
        for model, schema in DBT_MODELS.items():
            rows = con.execute(f"select count(*) from {schema}.{model}").fetchone()[0]
            assert materialized[model].metadata["dagster/row_count"].value == rows, model
            # the yml describes the table's real columns, so the UI's column schema is the table
            columns = {r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
                [schema, model]).fetchall()}  # fmt: skip
            described = {c.name for c in graph.get(AssetKey(model)).metadata["dagster/column_schema"].columns}
            assert described == columns, (model, columns ^ described)
    assert materialized["fact_events"].metadata["dagster/row_count"].value == 42

    # dbt's state is the home's: the manifest, and the steps' artifacts
    target = home / "dbt" / "target"
    assert settings.dbt_target_path == target.resolve()
    assert (target / "manifest.json").is_file()
    assert {p.name for p in target.iterdir() if (p / "run_results.json").is_file()} == {"staging", "intermediate", "marts"}
    assert _listing(DBT_PROJECT) == repo_dbt_before, "dbt wrote under the repository's dbt_project/"


def test_dbt_process_directories_do_not_grow_forever(tmp_path):
    import os

    from eventlake.dbt.project import KEPT_INVOCATION_DIRS, PARTIAL_PARSE_FILE, invocation_dir
    from eventlake.settings import Settings

    settings = Settings(home=tmp_path / "home")
    root = settings.dbt_target_path
    root.mkdir(parents=True)
    (root / PARTIAL_PARSE_FILE).write_bytes(b"parse cache")
    for layer in ("staging", "marts"):  # the in-process steps' directories stay
        (root / layer).mkdir()
    old = []
    for i in range(KEPT_INVOCATION_DIRS + 3):
        path = root / f"dbt_staging-run{i:04d}-abcdefg"
        path.mkdir()
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
        old.append(path)
    new = invocation_dir(settings, "dbt_marts", "0123456789")
    assert new.parent == root and new.name.startswith("dbt_marts-0123456-")
    assert (new / PARTIAL_PARSE_FILE).read_bytes() == b"parse cache"  # dbt starts from the manifest's parse
    kept = sorted(p.name for p in root.glob("dbt_*-*-*"))
    # the newest ones and the new directory: KEPT_INVOCATION_DIRS in all
    assert kept == sorted([p.name for p in old[-(KEPT_INVOCATION_DIRS - 1):]] + [new.name])
    assert (root / "staging").is_dir() and (root / "marts").is_dir()


def test_the_dbt_target_directory_follows_the_home_unless_set(tmp_path, monkeypatch):
    from eventlake.settings import Settings

    monkeypatch.delenv("EVENTLAKE_DBT_TARGET_DIR", raising=False)
    assert Settings(home=tmp_path / "a").dbt_target_path == (tmp_path / "a" / "dbt" / "target").resolve()
    assert Settings(home=tmp_path / "a").dbt_manifest_path == (tmp_path / "a" / "dbt" / "target" / "manifest.json").resolve()
    monkeypatch.setenv("EVENTLAKE_DBT_TARGET_DIR", str(tmp_path / "elsewhere"))
    assert Settings(home=tmp_path / "a").dbt_target_path == (tmp_path / "elsewhere").resolve()
