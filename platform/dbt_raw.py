"""dbt-duckdb plugin: the raw Iceberg tables as DuckDB views over their Parquet files.

dbt-duckdb's own ``iceberg`` plugin copies each raw table whole into Arrow
on every run, so a transform's memory and time grew with all history. This
plugin reads the tables' current snapshots from the Iceberg catalog when dbt
opens its DuckDB connection and creates, in schema ``raw`` of the warehouse:

``raw.<table>__files``
    one row per live data file: ``file_path``, ``snapshot_id`` (the snapshot
    that added the file), ``sequence_number`` (its data sequence number),
    ``record_count``.
``raw.<table>__snapshots``
    ``snapshot_id``, ``sequence_number`` of every snapshot in the metadata.
``raw.<table>``
    a view over every live data file (``read_parquet``), the Iceberg schema's
    columns plus two lineage columns: ``_snapshot_id`` (the snapshot that
    first brought the row in) and ``_sequence_number`` (that snapshot's
    sequence number). DuckDB reads only the columns and row groups a query
    needs, using the min/max statistics the Rust writer stores.
``raw.<table>__since(sequence_number, files)``
    the same rows restricted to those that arrived after ``sequence_number``;
    the ``raw_rows`` macro passes it only the files added since, so an
    incremental model opens the new files and nothing else.

Row lineage survives compaction the way Iceberg v3 row lineage does: in a
file written by the consumer ``source_snapshot_id`` is null (its rows came
with the snapshot that added it), and a maintenance rewrite materializes it
into the rows it copies (platform/maintenance.py). So a row's snapshot is
``coalesce(source_snapshot_id, snapshot that added its file)`` and its
sequence number that snapshot's, either way: the views return the same rows
before and after a compaction, and an incremental read skips the rows a
compaction only moved. (Once the source snapshot is expired, a moved row
takes its file's sequence number and is read once more; staging drops it as
a copy it already holds.)

A column added to a table's schema later reads as null from older files:
every ``read_parquet`` also reads an empty file holding the current Iceberg
schema (``union_by_name``), so every column exists with its type.

Tables with delete files (row-level deletes) are not supported: the raw
tables are append-only, and the plugin refuses rather than return deleted
rows. Warehouses that DuckDB cannot read directly (``s3://`` without the
httpfs extension, which cannot be installed offline) fall back to an Arrow
scan into a table, as the stock plugin does.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from dbt.adapters.duckdb.plugins import BasePlugin

log = logging.getLogger("eventlake.dbt_raw")

LINEAGE_SNAPSHOT = "source_snapshot_id"


class RawTableError(RuntimeError):
    """A raw table cannot be exposed to dbt as files (e.g. it has delete files)."""


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _local_path(location: str) -> str | None:
    """A path DuckDB can open, or None when the file is not on this machine."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        return unquote(parsed.path) if parsed.scheme else location
    return None


def live_files(table: Any) -> list[tuple[str, int, int, int]]:
    """``(location, added snapshot id, data sequence number, records)`` of every
    live data file of the table's current snapshot."""
    from pyiceberg.manifest import ManifestContent
    from pyiceberg.utils.concurrent import ExecutorFactory

    snapshot = table.metadata.current_snapshot()
    if snapshot is None:
        return []
    manifests = snapshot.manifests(table.io)
    deletes = [m.manifest_path for m in manifests if m.content != ManifestContent.DATA]
    if deletes:
        raise RawTableError(f"{table.name()} has delete manifests ({len(deletes)}); row-level deletes are not supported")
    executor = ExecutorFactory.get_or_create()
    out: list[tuple[str, int, int, int]] = []
    for entries in executor.map(lambda m: m.fetch_manifest_entry(table.io, discard_deleted=True), manifests):
        for entry in entries:
            data_file = entry.data_file
            out.append((data_file.file_path, int(entry.snapshot_id), int(entry.sequence_number), int(data_file.record_count)))
    return out


class Plugin(BasePlugin):
    """Profile: ``plugins: [{module: eventlake.dbt_raw, config: {catalog: NAME, namespace: raw, tables: [...], <catalog properties>}}]``."""

    def initialize(self, config: dict[str, Any]) -> None:
        import pyiceberg.catalog

        config = dict(config)
        if "catalog" not in config:
            raise RawTableError("the eventlake.dbt_raw plugin needs 'catalog' (the Iceberg catalog name)")
        name = config.pop("catalog")
        self.namespace = config.pop("namespace", "raw")
        tables = config.pop("tables", None)
        schema_dir = config.pop("schema_dir", None)
        self.catalog = pyiceberg.catalog.load_catalog(name, **config)
        self.tables = list(tables) if tables else [ident[-1] for ident in self.catalog.list_tables(self.namespace)]
        self.schema_dir = Path(schema_dir) if schema_dir else Path(tempfile.gettempdir()) / "eventlake-dbt-raw"

    def configure_connection(self, conn: Any) -> None:
        conn.execute(f"create schema if not exists {_quote(self.namespace)}")
        for name in self.tables:
            table = self.catalog.load_table(f"{self.namespace}.{name}")
            expose(conn, table, self.namespace, name, self.schema_dir)


def _schema_file(table: Any, schema_dir: Path) -> str:
    """An empty Parquet file with the table's current Iceberg schema (written once per schema)."""
    import pyarrow.parquet as pq

    schema = table.schema()
    arrow = schema.as_arrow()
    digest = hashlib.sha1(str(arrow).encode()).hexdigest()[:16]
    path = schema_dir / f"{table.name()[-1]}-{digest}.parquet"
    if not path.exists():
        schema_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{id(path)}.tmp")
        pq.write_table(arrow.empty_table(), tmp)
        tmp.replace(path)
    return str(path)


def expose(conn: Any, table: Any, namespace: str, name: str, schema_dir: Path) -> int:
    """Create ``namespace.name``, ``namespace.name__files`` and
    ``namespace.name__since`` in DuckDB for the table's current snapshot;
    returns the number of live files."""
    ns, rel = _quote(namespace), _quote(name)
    files_rel = _quote(f"{name}__files")
    files = live_files(table)
    local = [(_local_path(f[0]), *f[1:]) for f in files]
    columns = [field.name for field in table.schema().fields]
    if any(path is None for path, *_ in local):
        _expose_by_arrow(conn, table, ns, name, columns)
        return len(files)

    snapshots_rel = _quote(f"{name}__snapshots")
    conn.execute(f"create or replace table {ns}.{files_rel} (file_path varchar, snapshot_id bigint, sequence_number bigint, record_count bigint)")
    if local:
        conn.executemany(f"insert into {ns}.{files_rel} values (?, ?, ?, ?)", local)
    conn.execute(f"create or replace table {ns}.{snapshots_rel} (snapshot_id bigint primary key, sequence_number bigint)")
    snapshots = [(s.snapshot_id, s.sequence_number or 0) for s in table.metadata.snapshots]
    if snapshots:
        conn.executemany(f"insert into {ns}.{snapshots_rel} values (?, ?)", snapshots)
    schema_file = _schema_file(table, schema_dir)

    if LINEAGE_SNAPSHOT in columns:
        snapshot = f"coalesce(d.{LINEAGE_SNAPSHOT}, f.snapshot_id)"
        sequence = "coalesce(s.sequence_number, f.sequence_number)"
        moved = f"left join {ns}.{snapshots_rel} as s on s.snapshot_id = d.{LINEAGE_SNAPSHOT}"
    else:
        snapshot, sequence, moved = "f.snapshot_id", "f.sequence_number", ""
    projected = ", ".join(f"d.{_quote(c)}" for c in columns if c != LINEAGE_SNAPSHOT)
    # A table macro takes the file list as a constant, so the caller decides
    # which files DuckDB opens. The schema file (no rows) is always in the
    # list: every column exists, typed, even if no data file has it yet.
    source = f"read_parquet(list_prepend({_literal(schema_file)}, files), filename = true, union_by_name = true)"
    conn.execute(
        f"""
        create or replace macro {ns}.{_quote(name + '__since')}(since, files) as table
        select {projected}, {snapshot} as _snapshot_id, {sequence} as _sequence_number
        from {source} as d
        join {ns}.{files_rel} as f on f.file_path = d.filename
        {moved}
        where {sequence} > since
        """
    )
    listed = "[" + ", ".join(_literal(path) for path, *_ in local) + "]::varchar[]"
    conn.execute(f"create or replace view {ns}.{rel} as select * from {ns}.{_quote(name + '__since')}(-1, {listed})")
    log.info("raw table %s.%s: %d live files, %d rows", namespace, name, len(local), sum(f[3] for f in local))
    return len(local)


def _expose_by_arrow(conn: Any, table: Any, ns: str, name: str, columns: list[str]) -> None:
    """Fallback for files DuckDB cannot open here: copy the table through Arrow."""
    log.warning("raw table %s is not on a local file system; copying it through Arrow (no incremental reads)", table.name())
    rel, files_rel = _quote(name), _quote(f"{name}__files")
    arrow = table.scan().to_arrow()
    conn.register("eventlake_raw_arrow", arrow)
    try:
        keep = ", ".join(_quote(c) for c in columns if c != LINEAGE_SNAPSHOT)
        conn.execute(
            f"create or replace table {ns}.{rel} as select {keep}, "
            "cast(null as bigint) as _snapshot_id, cast(0 as bigint) as _sequence_number from eventlake_raw_arrow"
        )
    finally:
        conn.unregister("eventlake_raw_arrow")
    conn.execute(f"create or replace table {ns}.{files_rel} (file_path varchar, snapshot_id bigint, sequence_number bigint, record_count bigint)")
    conn.execute(
        f"create or replace macro {ns}.{_quote(name + '__since')}(since, files) as table "
        f"select * from {ns}.{rel} where _sequence_number > since"
    )
