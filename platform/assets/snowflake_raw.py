"""PROD: the raw Iceberg tables copied into Snowflake's ``<database>.RAW``, incrementally and exactly once.

The dbt PROD target reads ``<database>.RAW.EVENTS|USERS|PRODUCTS``. Each loader asset
``snowflake_raw_<dataset>`` copies the rows the raw table's snapshots added since the
last load into ``RAW.<DATASET>``:

- the last loaded snapshot id of each table is kept in Snowflake, in
  ``RAW._EVENTLAKE_LOADS``, and moved in the same transaction as the rows' insert:
  a load that fails half-way leaves neither, and a load is never repeated;
- the rows added since are read from the data files each ``append`` snapshot
  between the stored snapshot (exclusive) and the current one (inclusive) added
  (the first load reads the current snapshot's live files).
  The raw tables are append-only; compaction (``replace``/``overwrite``) rewrites
  rows already loaded, and retention (``delete``) removes old ones: those
  snapshots add no new rows and are skipped;
- if the stored snapshot is no longer an ancestor of the current one (expired, or
  a rollback), the load fails instead of guessing.

The zero-copy alternative a Snowflake user expects (Snowflake Iceberg tables over
a Glue catalog integration, refreshed on each new snapshot) is
:func:`zero_copy_ddl` and :func:`refresh_ddl`. fakesnow cannot run it, so it is
generated and unit-tested here but never executed.
"""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, ResourceParam, asset

from eventlake import contracts
from eventlake.assets.raw import raw_asset_key
from eventlake.dbt.nodes import loader_asset_name
from eventlake.resources.core import EventlakeResource
from eventlake.runs import WAREHOUSE_POOL

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.table import Table

GROUP = "snowflake_raw"
RAW_SCHEMA = "RAW"
LOADS_TABLE = "_EVENTLAKE_LOADS"
#: rows per INSERT statement
INSERT_ROWS = 5_000

#: Iceberg type -> the Snowflake column type (the types a Snowflake Iceberg table exposes)
SNOWFLAKE_TYPES = {
    "StringType": "varchar",
    "DoubleType": "double",
    "IntegerType": "int",
    "LongType": "bigint",
    "DateType": "date",
    "TimestamptzType": "timestamp_ltz",
}


def snowflake_raw_asset_key(dataset: str) -> AssetKey:
    return AssetKey(loader_asset_name(raw_asset_key(dataset).to_user_string()))


def columns(dataset: str) -> list[tuple[str, str, bool]]:
    """``(name, Snowflake type, required)`` of ``RAW.<DATASET>``: the raw Iceberg table's schema."""
    schema = contracts.ICEBERG_TABLES[dataset].schema
    return [(f.name, SNOWFLAKE_TYPES[type(f.field_type).__name__], f.required) for f in schema.fields]


def create_table_sql(database: str, dataset: str) -> str:
    cols = ", ".join(f"{n} {t}{' not null' if req else ''}" for n, t, req in columns(dataset))
    return f"create table if not exists {database}.{RAW_SCHEMA}.{dataset.upper()} ({cols})"


def create_loads_sql(database: str) -> str:
    return (
        f"create table if not exists {database}.{RAW_SCHEMA}.{LOADS_TABLE} "
        "(table_name varchar not null, snapshot_id bigint not null, rows_loaded bigint not null, "
        "loaded_at timestamp_ltz not null)"
    )


# ---------------------------------------------------------------------------
# the rows added since a snapshot
# ---------------------------------------------------------------------------
@dataclass
class Increment:
    """What the snapshots after ``since`` up to ``current`` added to a raw table."""

    since: int | None
    current: int | None
    appends: list[int]  # append snapshots read, oldest first
    skipped: list[tuple[int, str]]  # (snapshot id, operation) of snapshots that add no new rows
    files: list[Any]  # the DataFiles the appends added


class SnapshotNotAncestor(RuntimeError):
    """The last loaded snapshot is not an ancestor of the current one: a load cannot be exact."""


def increment(table: "Table", since: int | None) -> Increment:
    """The data files the ``append`` snapshots of ``table`` after ``since`` (exclusive) up to the current
    one added; ``since`` None (nothing loaded yet): the current snapshot's live data files."""
    from pyiceberg.manifest import ManifestEntryStatus
    from pyiceberg.table.snapshots import Operation

    current = table.metadata.current_snapshot()
    if since is None:
        # the first load: every live row (files that compaction replaced and expiry may have deleted are not read)
        files = [task.file for task in table.scan().plan_files()] if current is not None else []
        return Increment(None, current.snapshot_id if current else None, [], [], files)
    chain = []
    snapshot = current
    while snapshot is not None and snapshot.snapshot_id != since:
        chain.append(snapshot)
        parent = snapshot.parent_snapshot_id
        snapshot = table.metadata.snapshot_by_id(parent) if parent is not None else None
    if snapshot is None:
        raise SnapshotNotAncestor(
            f"{table.name()}: the last loaded snapshot {since} is not an ancestor of the current snapshot "
            f"{current.snapshot_id if current else None} (expired or rolled back): reload RAW from a full copy"
        )
    appends, skipped, files = [], [], []
    for snap in reversed(chain):
        operation = snap.summary.operation if snap.summary else None
        if operation != Operation.APPEND:
            skipped.append((snap.snapshot_id, str(operation.value if operation else None)))
            continue
        appends.append(snap.snapshot_id)
        for manifest in snap.manifests(table.io):
            if manifest.added_snapshot_id != snap.snapshot_id:
                continue
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                if entry.status == ManifestEntryStatus.ADDED and entry.snapshot_id == snap.snapshot_id:
                    files.append(entry.data_file)
    return Increment(since, current.snapshot_id if current else None, appends, skipped, files)


def read_files(table: "Table", files: list[Any]) -> "pa.Table":
    """The rows of ``files`` in the table's current schema (pyiceberg's reader: field ids, projection)."""
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.io.pyarrow import ArrowScan
    from pyiceberg.table import FileScanTask

    scan = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue())
    return scan.to_table([FileScanTask(f) for f in files])


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _row_chunks(data: "pa.Table", names: list[str], size: int) -> Iterator[list[tuple]]:
    for batch in data.select(names).to_batches(max_chunksize=size):
        cols = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        yield [tuple(_value(v) for v in row) for row in zip(*cols, strict=True)]


# ---------------------------------------------------------------------------
# the load: rows and the stored snapshot id in one transaction
# ---------------------------------------------------------------------------
@dataclass
class LoadResult:
    dataset: str
    since: int | None
    snapshot_id: int | None
    rows: int
    files: int  # data files read
    appends: int  # append snapshots read (0 on the first load, which reads the live files)
    skipped: list[tuple[int, str]]


def load(table: "Table", dataset: str, conn: Any, database: str) -> LoadResult:
    """Copy the rows ``table`` gained since the last load into ``<database>.RAW.<DATASET>`` over the
    ``snowflake.connector`` connection ``conn``, and store the new snapshot id, in one transaction."""
    cur = conn.cursor()
    cur.execute(f"create schema if not exists {database}.{RAW_SCHEMA}")
    cur.execute(create_table_sql(database, dataset))
    cur.execute(create_loads_sql(database))
    target = f"{database}.{RAW_SCHEMA}.{dataset.upper()}"
    loads = f"{database}.{RAW_SCHEMA}.{LOADS_TABLE}"
    table.refresh()
    cur.execute("begin")
    try:
        cur.execute(f"select snapshot_id from {loads} where table_name = %s", (dataset,))
        stored = cur.fetchall()
        since = int(stored[0][0]) if stored else None
        inc = increment(table, since)
        rows = 0
        if inc.files:
            names = [n for n, _, _ in columns(dataset)]
            data = read_files(table, inc.files)
            sql = f"insert into {target} ({', '.join(names)}) values ({', '.join(['%s'] * len(names))})"
            for chunk in _row_chunks(data, names, INSERT_ROWS):
                cur.executemany(sql, chunk)
                rows += len(chunk)
        if inc.current is not None and inc.current != since:
            if stored:
                # conditional on the id read above: a concurrent load that got there first makes this one fail
                cur.execute(
                    f"update {loads} set snapshot_id = %s, rows_loaded = rows_loaded + %s, loaded_at = current_timestamp() "
                    "where table_name = %s and snapshot_id = %s",
                    (inc.current, rows, dataset, since),
                )
                cur.execute(f"select count(*) from {loads} where table_name = %s and snapshot_id = %s", (dataset, inc.current))
                if cur.fetchone()[0] != 1:
                    raise RuntimeError(f"RAW.{dataset.upper()}: another load moved the stored snapshot; nothing loaded")
            else:
                cur.execute(
                    f"insert into {loads} (table_name, snapshot_id, rows_loaded, loaded_at) "
                    "values (%s, %s, %s, current_timestamp())",
                    (dataset, inc.current, rows),
                )
        cur.execute("commit")
    except BaseException:
        cur.execute("rollback")
        raise
    return LoadResult(dataset, since, inc.current, rows, len(inc.files), len(inc.appends), inc.skipped)


def _loader(dataset: str):
    @asset(
        key=snowflake_raw_asset_key(dataset),
        deps=[raw_asset_key(dataset)],
        group_name=GROUP,
        kinds={"snowflake", "iceberg"},
        pool=WAREHOUSE_POOL,
        description=(
            f"Snowflake table <database>.RAW.{dataset.upper()}: the rows of the Iceberg table "
            f"{contracts.RAW_NAMESPACE}.{dataset} that each new append snapshot added, copied exactly once "
            f"(the last loaded snapshot id is stored in RAW.{LOADS_TABLE} in the same transaction)."
        ),
    )
    def _asset(context: AssetExecutionContext, eventlake: EventlakeResource, warehouse: ResourceParam[Any]) -> MaterializeResult:
        from eventlake import lake

        table = lake.ensure_tables(eventlake.catalog())[dataset]
        database = warehouse.connect_kwargs()["database"]
        with warehouse.connection() as conn:
            result = load(table, dataset, conn, database)
            cur = conn.cursor()
            cur.execute(f"select count(*) from {database}.{RAW_SCHEMA}.{dataset.upper()}")
            total = int(cur.fetchone()[0])
        context.log.info(
            f"RAW.{dataset.upper()}: {result.rows} rows from {result.files} data file(s) of "
            + (f"{result.appends} append snapshot(s) after {result.since}" if result.since else "the first load")
            + f" up to {result.snapshot_id}; snapshots adding no rows, skipped: {result.skipped or 'none'}"
        )
        return MaterializeResult(
            metadata={
                "snapshot_id": str(result.snapshot_id or ""),
                "previous_snapshot_id": str(result.since or ""),
                "rows_loaded": result.rows,
                "data_files_read": result.files,
                "append_snapshots": result.appends,
                "skipped_snapshots": len(result.skipped),
                "dagster/row_count": total,
            }
        )

    return _asset


snowflake_raw_assets = [_loader(dataset) for dataset in contracts.DATASETS]


# ---------------------------------------------------------------------------
# the zero-copy alternative: Snowflake Iceberg tables over the Glue catalog
# ---------------------------------------------------------------------------
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def _ident(value: str, what: str) -> str:
    if not _IDENT.match(value):
        raise ValueError(f"{what} {value!r} is not a plain Snowflake identifier")
    return value


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def zero_copy_ddl(
    *,
    database: str,
    catalog_integration: str,
    external_volume: str,
    glue_database: str,
    glue_role_arn: str,
    glue_catalog_id: str,
    region: str,
    tables: Iterable[str] = contracts.DATASETS,
    auto_refresh: bool = False,
) -> list[str]:
    """The Snowflake statements that expose the raw Glue tables as ``<database>.RAW.<TABLE>`` Iceberg
    tables without copying: the Glue catalog integration, the RAW schema, one ``CREATE ICEBERG TABLE``
    per table. The external volume (the S3 warehouse bucket and its IAM role) is created by an admin."""
    db = _ident(database, "database")
    integration = _ident(catalog_integration, "catalog integration")
    volume = _ident(external_volume, "external volume")
    statements = [
        f"CREATE CATALOG INTEGRATION IF NOT EXISTS {integration} CATALOG_SOURCE = GLUE "
        f"CATALOG_NAMESPACE = {_literal(glue_database)} TABLE_FORMAT = ICEBERG "
        f"GLUE_AWS_ROLE_ARN = {_literal(glue_role_arn)} GLUE_CATALOG_ID = {_literal(glue_catalog_id)} "
        f"GLUE_REGION = {_literal(region)} ENABLED = TRUE",
        f"CREATE SCHEMA IF NOT EXISTS {db}.{RAW_SCHEMA}",
    ]
    for name in tables:
        statements.append(
            f"CREATE ICEBERG TABLE IF NOT EXISTS {db}.{RAW_SCHEMA}.{_ident(name, 'table').upper()} "
            f"EXTERNAL_VOLUME = {_literal(volume)} CATALOG = {_literal(integration)} "
            f"CATALOG_TABLE_NAME = {_literal(name)}" + (" AUTO_REFRESH = TRUE" if auto_refresh else "")
        )
    return statements


def refresh_ddl(database: str, tables: Iterable[str] = contracts.DATASETS) -> list[str]:
    """``ALTER ICEBERG TABLE ... REFRESH`` per table: Snowflake reads the Glue table's current metadata
    (run on each new snapshot, e.g. by the snapshot sensor, when AUTO_REFRESH is off)."""
    db = _ident(database, "database")
    return [f"ALTER ICEBERG TABLE {db}.{RAW_SCHEMA}.{_ident(n, 'table').upper()} REFRESH" for n in tables]
