"""The Snowflake RAW loader (eventlake.assets.snowflake_raw): which rows a load copies, exactly once, in one
transaction with its snapshot id (against a fakesnow server); and the zero-copy DDL it generates."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from eventlake import lake, maintenance
from eventlake.assets import snowflake_raw
from eventlake.settings import Settings
from tests.lake.test_iceberg_catalog import events
from tests.resources.fakesnow_server import snowflake_server  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning"),
    pytest.mark.filterwarnings("ignore:The 'insecure_mode' connection property is deprecated:DeprecationWarning"),
]


@pytest.fixture
def table(tmp_path):
    return lake.ensure_tables(lake.load_catalog(Settings(home=tmp_path / "home")))["events"]


def _append(table, n: int, seed: int) -> int:
    return lake.append_arrow(table, events(n, seed=seed, job=f"job-{seed}")).snapshot_id


def _rows(table, files) -> set[str]:
    return set(snowflake_raw.read_files(table, files)["event_id"].to_pylist())


def test_increment_reads_only_appends_after_the_stored_snapshot_and_skips_compaction(table):
    first = _append(table, 30, seed=1)
    _append(table, 20, seed=2)
    _append(table, 10, seed=3)
    table.refresh()
    compacted = maintenance.compact(table, target_file_bytes=1 << 30, small_file_bytes=1 << 30, min_input_files=2)
    assert compacted.snapshot_id is not None  # a replace snapshot: it rewrites rows already there
    last = _append(table, 5, seed=4)
    table.refresh()

    inc = snowflake_raw.increment(table, first)
    assert inc.current == last
    assert [op for _, op in inc.skipped] == ["replace"]
    assert _rows(table, inc.files) == {f"job-{s}-{s}-{i:06d}" for s, n in ((2, 20), (3, 10), (4, 5)) for i in range(n)}
    # nothing new after the current snapshot
    assert snowflake_raw.increment(table, last).files == []
    # the first load reads the live rows once, not the files compaction replaced
    first_load = snowflake_raw.increment(table, None)
    assert snowflake_raw.read_files(table, first_load.files).num_rows == 65


def test_increment_refuses_a_snapshot_that_is_not_an_ancestor(table):
    _append(table, 3, seed=1)
    table.refresh()
    with pytest.raises(snowflake_raw.SnapshotNotAncestor):
        snowflake_raw.increment(table, 12345)


@pytest.fixture
def conn(snowflake_server) -> Iterator[tuple[Any, str]]:
    import snowflake.connector

    database = f"LOADS_{uuid.uuid4().hex[:8].upper()}"
    with snowflake.connector.connect(**snowflake_server) as c:
        c.cursor().execute(f"create database {database}")
        yield c, database


def _count(conn, sql: str) -> int:
    cur = conn.cursor()
    cur.execute(sql)
    return int(cur.fetchone()[0])


def test_load_copies_each_row_once_and_stores_the_snapshot(table, conn):
    c, db = conn
    _append(table, 12, seed=1)
    first = snowflake_raw.load(table, "events", c, db)
    assert (first.since, first.rows) == (None, 12)
    again = snowflake_raw.load(table, "events", c, db)
    assert (again.since, again.rows) == (first.snapshot_id, 0)
    second = _append(table, 7, seed=2)
    third = snowflake_raw.load(table, "events", c, db)
    assert (third.since, third.snapshot_id, third.rows) == (first.snapshot_id, second, 7)
    assert _count(c, f"select count(*) from {db}.RAW.EVENTS") == 19
    assert _count(c, f"select count(distinct event_id) from {db}.RAW.EVENTS") == 19
    assert _count(c, f"select snapshot_id from {db}.RAW._EVENTLAKE_LOADS where table_name = 'events'") == second
    assert _count(c, f"select rows_loaded from {db}.RAW._EVENTLAKE_LOADS where table_name = 'events'") == 19


def test_a_failed_load_leaves_neither_rows_nor_the_snapshot(table, conn, monkeypatch):
    c, db = conn
    first = _append(table, 5, seed=1)
    snowflake_raw.load(table, "events", c, db)
    _append(table, 8000, seed=2)  # two INSERT statements of INSERT_ROWS
    chunks = snowflake_raw._row_chunks

    def failing(*args, **kwargs):
        it = chunks(*args, **kwargs)
        yield next(it)
        raise OSError("the network went away mid-load")

    monkeypatch.setattr(snowflake_raw, "_row_chunks", failing)
    with pytest.raises(OSError, match="mid-load"):
        snowflake_raw.load(table, "events", c, db)
    assert _count(c, f"select count(*) from {db}.RAW.EVENTS") == 5  # the first chunk was rolled back
    assert _count(c, f"select snapshot_id from {db}.RAW._EVENTLAKE_LOADS where table_name = 'events'") == first
    monkeypatch.setattr(snowflake_raw, "_row_chunks", chunks)
    retry = snowflake_raw.load(table, "events", c, db)
    assert retry.rows == 8000
    assert _count(c, f"select count(*) from {db}.RAW.EVENTS") == 8005


def test_raw_columns_follow_the_iceberg_schema():
    from eventlake.contracts import ICEBERG_TABLES

    for dataset in ("events", "users", "products"):
        assert [n for n, _, _ in snowflake_raw.columns(dataset)] == [f.name for f in ICEBERG_TABLES[dataset].schema.fields]
    assert ("event_timestamp", "timestamp_ltz", True) in snowflake_raw.columns("events")
    assert snowflake_raw.create_table_sql("DB", "users").startswith("create table if not exists DB.RAW.USERS (user_id varchar not null")


def test_zero_copy_ddl_names_the_glue_catalog_integration_per_table():
    ddl = snowflake_raw.zero_copy_ddl(
        database="EVENTLAKE", catalog_integration="EVENTLAKE_GLUE", external_volume="EVENTLAKE_S3",
        glue_database="raw", glue_role_arn="arn:aws:iam::123456789012:role/snowflake-glue",
        glue_catalog_id="123456789012", region="eu-west-1", auto_refresh=True,
    )
    assert ddl[0] == (
        "CREATE CATALOG INTEGRATION IF NOT EXISTS EVENTLAKE_GLUE CATALOG_SOURCE = GLUE CATALOG_NAMESPACE = 'raw' "
        "TABLE_FORMAT = ICEBERG GLUE_AWS_ROLE_ARN = 'arn:aws:iam::123456789012:role/snowflake-glue' "
        "GLUE_CATALOG_ID = '123456789012' GLUE_REGION = 'eu-west-1' ENABLED = TRUE"
    )
    assert ddl[1] == "CREATE SCHEMA IF NOT EXISTS EVENTLAKE.RAW"
    assert ddl[2:] == [
        f"CREATE ICEBERG TABLE IF NOT EXISTS EVENTLAKE.RAW.{t.upper()} EXTERNAL_VOLUME = 'EVENTLAKE_S3' "
        f"CATALOG = 'EVENTLAKE_GLUE' CATALOG_TABLE_NAME = '{t}' AUTO_REFRESH = TRUE"
        for t in ("events", "users", "products")
    ]
    assert snowflake_raw.refresh_ddl("EVENTLAKE", ["events"]) == ["ALTER ICEBERG TABLE EVENTLAKE.RAW.EVENTS REFRESH"]
    with pytest.raises(ValueError, match="not a plain Snowflake identifier"):
        snowflake_raw.refresh_ddl("EVENTLAKE; drop database X", ["events"])
    quoted = snowflake_raw.zero_copy_ddl(
        database="D", catalog_integration="I", external_volume="V", glue_database="it's",
        glue_role_arn="r", glue_catalog_id="1", region="r",
    )
    assert "CATALOG_NAMESPACE = 'it\\'s'" in quoted[0]
