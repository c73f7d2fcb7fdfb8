"""Helpers for the dbt tests: a raw Iceberg catalog in a tmp dir and an
in-process `dbt build` against it.

Each test module builds its own small catalog (SqlCatalog on SQLite, file
warehouse) with the contract schemas, appends loads with pyarrow, and runs
the real dbt project on the LOCAL target (DuckDB + the iceberg plugin) with
the EVENTLAKE_* variables pointing at the tmp dir.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from eventlake.dbt.project import scoped_environ
from eventlake.dbt_runner import release_duckdb
from eventlake.contracts import ICEBERG_TABLES, RAW_NAMESPACE

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO_ROOT / "dbt_project"
CATALOG_NAME = "eventlake_test"

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def ts(minutes: float) -> datetime:
    """A UTC timestamp `minutes` after T0 (negative = before)."""
    return T0 + timedelta(minutes=minutes)


def event(
    event_id: str,
    user_id: str,
    at: datetime,
    *,
    event_type: str = "view",
    value: float | None = None,
    product_id: str | None = None,
    job_id: str,
    ingested_at: datetime,
) -> dict[str, Any]:
    """A raw.events row as the consumer writes it (date/hour derived in UTC)."""
    return {
        "event_id": event_id,
        "user_id": user_id,
        "event_type": event_type,
        "event_timestamp": at,
        "event_value": value,
        "product_id": product_id,
        "properties": '{"source":"test"}',
        "event_date": at.date(),
        "event_hour": at.hour,
        "job_id": job_id,
        "ingested_at": ingested_at,
    }


def user(user_id: str, name: str | None, email: str | None, updated_at: datetime, *, job_id: str, ingested_at: datetime) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "user_name": name,
        "email": email,
        "updated_at": updated_at,
        "job_id": job_id,
        "ingested_at": ingested_at,
    }


def product(product_id: str, name: str, category: str, price: float, *, job_id: str, ingested_at: datetime) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "product_name": name,
        "category": category,
        "price": price,
        "job_id": job_id,
        "ingested_at": ingested_at,
    }


@dataclass
class Lakehouse:
    """Raw Iceberg tables plus the DuckDB file dbt builds from them."""

    root: Path
    catalog: SqlCatalog
    env: dict[str, str]
    builds: list[Any] = field(default_factory=list)

    @property
    def duckdb_path(self) -> Path:
        return Path(self.env["EVENTLAKE_DUCKDB_PATH"])

    def append(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        iceberg_table = self.catalog.load_table(f"{RAW_NAMESPACE}.{table}")
        arrow = pa.Table.from_pylist(list(rows), schema=iceberg_table.schema().as_arrow())
        iceberg_table.append(arrow)

    def dbt(self, *args: str) -> Any:
        """Run a dbt command on the LOCAL target; fail the test with dbt's errors."""
        result = run_dbt(self.env, self.root, *args)
        self.builds.append(result)
        return result

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.duckdb_path), read_only=True) as con:
            con.execute("set TimeZone = 'UTC'")
            return con.execute(sql, params or []).fetchall()


def make_lakehouse(root: Path) -> Lakehouse:
    root.mkdir(parents=True, exist_ok=True)
    warehouse = root / "warehouse"
    warehouse.mkdir(exist_ok=True)
    catalog_uri = f"sqlite:///{root / 'catalog.db'}"
    catalog = SqlCatalog(CATALOG_NAME, uri=catalog_uri, warehouse=warehouse.as_uri())
    catalog.create_namespace(RAW_NAMESPACE)
    for contract in ICEBERG_TABLES.values():
        catalog.create_table(contract.identifier, schema=contract.schema, partition_spec=contract.partition_spec)
    env = {
        "EVENTLAKE_HOME": str(root),
        "EVENTLAKE_DUCKDB_PATH": str(root / "warehouse.duckdb"),
        "EVENTLAKE_CATALOG_NAME": CATALOG_NAME,
        "EVENTLAKE_CATALOG_URI": catalog_uri,
        "EVENTLAKE_WAREHOUSE": warehouse.as_uri(),
    }
    return Lakehouse(root=root, catalog=catalog, env=env)


def run_dbt(env: Mapping[str, str], workdir: Path, *args: str, target: str = "LOCAL") -> Any:
    from dbt.cli.main import dbtRunner

    command = [
        *args,
        "--project-dir", str(DBT_PROJECT),
        "--profiles-dir", str(DBT_PROJECT),
        "--target", target,
        "--target-path", str(workdir / "dbt_target"),
        "--log-path", str(workdir / "dbt_logs"),
    ]
    with scoped_environ(env):
        try:
            result = dbtRunner().invoke(command)
        finally:
            release_duckdb()
    if not result.success:
        failures = []
        for node in getattr(result.result, "results", None) or []:
            if str(node.status) not in ("success", "pass"):
                failures.append(f"{node.node.unique_id}: {node.status}: {node.message}")
        pytest.fail(f"dbt {' '.join(args)} failed: {result.exception or ''}\n" + "\n".join(failures))
    return result
