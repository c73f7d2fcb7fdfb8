"""The runtime dependencies every deployment installs: an exact list, so adding one is a deliberate change.

The processor comparison (polars, matplotlib and the contenders) is the top-level `benchmarks/` package,
installed with the dev dependency group only; the load generators' charts are the `charts` extra.
"""

from __future__ import annotations

import ast
import tomllib

from tests.conftest import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())

RUNTIME_DEPENDENCIES = [
    "data-processor-rs",
    # orchestration
    "dagster==1.13.*",
    "dagster-webserver==1.13.*",
    "dagster-graphql==1.13.*",
    "dagster-dbt==0.29.*",
    "dagster-aws==0.29.*",
    "dagster-postgres==0.29.*",
    "dagster-snowflake==0.29.*",
    # storage
    "pyiceberg[sql-sqlite,sql-postgres,pyarrow,s3fs,pyiceberg-core]==0.12.*",
    "pyarrow>=20",
    "duckdb>=1.2",
    "sqlalchemy>=2",
    "psycopg[binary]>=3.2",
    # transformation + quality
    "dbt-core>=1.11,<1.12",
    "dbt-duckdb>=1.11,<1.12",
    "dbt-snowflake>=1.11",
    "great-expectations==1.24.*",
    # serving
    "fastapi>=0.115",
    "fastapi-offline>=1.7",
    "uvicorn[standard]>=0.30",
    "pydantic>=2.7",
    "pydantic-settings>=2.4",
    "orjson>=3.10",
    "httpx>=0.27",
    "boto3>=1.34",
    "streamlit>=1.40",
    "pandas>=2.2",
    "rich>=13",
]


def _name(requirement: str) -> str:
    for stop in "[=<>!~; ":
        requirement = requirement.split(stop, 1)[0]
    return requirement.strip().lower()


def test_runtime_dependencies_are_exactly_the_expected_list():
    assert PYPROJECT["project"]["dependencies"] == RUNTIME_DEPENDENCIES


def test_the_comparison_libraries_are_not_runtime_dependencies():
    names = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert "polars" not in names
    assert "matplotlib" not in names


def test_charts_are_an_extra_and_the_comparison_is_dev_only():
    assert PYPROJECT["project"]["optional-dependencies"] == {"charts": ["matplotlib>=3.8"]}
    dev = {_name(r) for r in PYPROJECT["dependency-groups"]["dev"]}
    assert {"eventlake-benchmarks", "polars", "matplotlib"} <= dev
    packages = PYPROJECT["tool"]["setuptools"]["packages"]
    assert not [p for p in packages if p.startswith("benchmarks") or "contenders" in p]


def _imported_top_levels(path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_runtime_module_imports_polars_or_the_benchmarks():
    offenders = {}
    for folder in ("platform", "api", "dashboard", "airflow_bridge"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            bad = _imported_top_levels(path) & {"polars", "benchmarks"}
            if bad:
                offenders[str(path.relative_to(REPO_ROOT))] = sorted(bad)
    assert offenders == {}


def test_matplotlib_is_imported_only_by_the_chart_code():
    users = {
        str(path.relative_to(REPO_ROOT))
        for path in (REPO_ROOT / "platform").rglob("*.py")
        if "matplotlib" in _imported_top_levels(path)
    }
    # the load generators' reports and their shared chart helpers (common.new_chart/finish_chart)
    assert users <= {"platform/bench/common.py", "platform/bench/ingest_report.py", "platform/bench/pipeline_report.py"}
