"""The same dbt project on the PROD target (dbt-snowflake) against a real
fakesnow server: the production SQL path, tested without Snowflake.

The raw tables are created in <database>.RAW from the contract schemas (as the
Snowflake Iceberg tables would be), filled with two loads, and `dbt build
--target PROD` must build every model and pass every dbt test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from pyiceberg.types import DateType, DoubleType, IntegerType, LongType, StringType, TimestamptzType

from eventlake.contracts import ICEBERG_TABLES
from tests.dbt.dbt_lakehouse import event, product, run_dbt, ts, user

pytestmark = [
    pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning"),
    pytest.mark.filterwarnings("ignore:The 'insecure_mode' connection property is deprecated:DeprecationWarning"),
]

pytest.importorskip("fakesnow")
from tests.resources.fakesnow_server import fakesnow_server  # noqa: E402
snowflake_connector = pytest.importorskip("snowflake.connector")

# Iceberg type -> the Snowflake type a Snowflake-managed Iceberg table exposes
SNOWFLAKE_TYPES = {
    StringType: "varchar",
    DoubleType: "double",
    IntegerType: "int",
    LongType: "bigint",
    DateType: "date",
    TimestamptzType: "timestamp_ltz",
}

L1 = ts(24 * 60)
L2 = ts(48 * 60)


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _create_raw_table(cur: Any, database: str, name: str) -> None:
    contract = ICEBERG_TABLES[name]
    columns = ", ".join(
        f"{f.name} {SNOWFLAKE_TYPES[type(f.field_type)]}{' not null' if f.required else ''}"
        for f in contract.schema.fields
    )
    cur.execute(f"create table {database}.RAW.{name.upper()} ({columns})")


def _insert(cur: Any, database: str, name: str, rows: list[dict[str, Any]]) -> None:
    names = [f.name for f in ICEBERG_TABLES[name].schema.fields]
    values = ", ".join("(" + ", ".join(_literal(row[n]) for n in names) + ")" for row in rows)
    cur.execute(f"insert into {database}.RAW.{name.upper()} ({', '.join(names)}) values {values}")


@pytest.fixture(scope="module")
def snowflake_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    database = f"EVENTLAKE_{uuid.uuid4().hex[:8].upper()}"  # fakesnow's in-memory DB is shared per process
    workdir = tmp_path_factory.mktemp("snowflake")
    with fakesnow_server() as kwargs:  # fakesnow.server() works once per process
        con = snowflake_connector.connect(**kwargs)
        cur = con.cursor()
        cur.execute(f"create database {database}")
        cur.execute(f"create schema {database}.RAW")
        for name in ICEBERG_TABLES:
            _create_raw_table(cur, database, name)
        _insert(cur, database, "users", [
            user("u1", "Alice", "a@example.com", ts(0), job_id="j1", ingested_at=L1),
            user("u1", "Alice", "a2@example.com", ts(60), job_id="j1", ingested_at=L1),
            user("u1", "Alice", "a2@example.com", ts(90), job_id="j1", ingested_at=L1),
            user("u1", "Alicia", "a2@example.com", ts(120), job_id="j1", ingested_at=L1),
            user("u1", "Alice", "a2@example.com", ts(60), job_id="j2", ingested_at=L2),
        ])
        _insert(cur, database, "products", [
            product("p1", "Widget", "tools", 10.0, job_id="j1", ingested_at=L1),
            product("p1", "Widget", "tools", 12.5, job_id="j2", ingested_at=L2),
        ])
        _insert(cur, database, "events", [
            event("e1", "u1", ts(10), job_id="j1", ingested_at=L1),
            event("e2", "u1", ts(70), event_type="click", product_id="p1", job_id="j1", ingested_at=L1),
            event("e3", "u1", ts(130), event_type="purchase", value=99.5, product_id="p9", job_id="j1", ingested_at=L1),
            event("e4", "u3", ts(15), job_id="j1", ingested_at=L1),
            event("e1", "u1", ts(10), job_id="j2", ingested_at=L2),
        ])
        env = {
            "EVENTLAKE_SNOWFLAKE_ACCOUNT": kwargs["account"],
            "EVENTLAKE_SNOWFLAKE_USER": kwargs["user"],
            "EVENTLAKE_SNOWFLAKE_PASSWORD": kwargs["password"],
            "EVENTLAKE_SNOWFLAKE_DATABASE": database,
            "EVENTLAKE_SNOWFLAKE_HOST": kwargs["host"],
            "EVENTLAKE_SNOWFLAKE_PORT": str(kwargs["port"]),
            "EVENTLAKE_SNOWFLAKE_PROTOCOL": kwargs["protocol"],
            "EVENTLAKE_DBT_THREADS": "2",
        }
        run_dbt(env, workdir, "build", target="PROD")
        # a third load, then a second build takes the incremental path of every model
        _insert(cur, database, "events", [
            event("e5", "u1", ts(300), event_type="purchase", value=1.0, job_id="j3", ingested_at=ts(72 * 60)),
        ])
        run_dbt(env, workdir, "build", "--vars", "{unqualified_tmp_relations: true}", target="PROD")
        try:
            yield cur, database
        finally:
            con.close()


def _one(cur: Any, sql: str) -> tuple:
    cur.execute(sql)
    return cur.fetchone()


# Property 24: Intermediate data transforms to dimensional
def test_prod_target_builds_every_model_in_its_layer_schema(snowflake_build: tuple[Any, str]) -> None:
    cur, db = snowflake_build
    counts = {
        relation: _one(cur, f"select count(*) from {db}.{relation}")[0]
        for relation in (
            "STAGING.STG_EVENTS", "STAGING.STG_USERS", "STAGING.STG_PRODUCTS",
            "INTERMEDIATE.INT_USERS_WITH_HISTORY", "INTERMEDIATE.INT_EVENTS_ENRICHED",
            "MARTS.DIM_USERS", "MARTS.DIM_PRODUCTS", "MARTS.FACT_EVENTS",
        )
    }
    assert counts == {
        "STAGING.STG_EVENTS": 5,  # e1 delivered twice
        "STAGING.STG_USERS": 4,  # one change delivered twice
        "STAGING.STG_PRODUCTS": 1,
        "INTERMEDIATE.INT_USERS_WITH_HISTORY": 3,  # the identical change at 90 min collapses
        "INTERMEDIATE.INT_EVENTS_ENRICHED": 5,
        "MARTS.DIM_USERS": 4,  # u1's three versions + u3 inferred
        "MARTS.DIM_PRODUCTS": 2,  # p1 + p9 inferred
        "MARTS.FACT_EVENTS": 5,  # e5 added by the incremental run
    }


# Property 26: Fact tables include foreign keys
def test_prod_fact_rows_reference_the_dimensions(snowflake_build: tuple[Any, str]) -> None:
    cur, db = snowflake_build
    assert _one(cur, f"select count(*), count(distinct event_id) from {db}.MARTS.FACT_EVENTS") == (5, 5)
    orphans = _one(
        cur,
        f"""select count(*) from {db}.MARTS.FACT_EVENTS f
            left join {db}.MARTS.DIM_USERS u on u.user_sk = f.user_sk
            left join {db}.MARTS.DIM_PRODUCTS p on p.product_sk = f.product_sk
            where u.user_sk is null or (f.product_sk is not null and p.product_sk is null)""",
    )
    assert orphans == (0,)


# Property 25: Dimensions include SCD Type 2 fields
def test_prod_dim_users_scd2(snowflake_build: tuple[Any, str]) -> None:
    cur, db = snowflake_build
    # compared in SQL: fakesnow's server returns NULL timestamps as the epoch
    cur.execute(
        f"""select user_name, email, valid_to is null, is_current,
                   valid_to = lead(valid_from) over (order by valid_from)
            from {db}.MARTS.DIM_USERS where user_id = 'u1' order by valid_from"""
    )
    assert [tuple(r) for r in cur.fetchall()] == [
        ("Alice", "a@example.com", False, False, True),
        ("Alice", "a2@example.com", False, False, True),
        ("Alicia", "a2@example.com", True, True, None),
    ]
    assert _one(cur, f"select count(*) from {db}.MARTS.DIM_USERS where user_id = 'u3' and is_inferred") == (1,)
