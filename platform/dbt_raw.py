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


def _read_manifests(table: Any, manifests: list[Any]) -> list[tuple[str, list[tuple[str, int, int, int]]]]:
    """``(manifest path, its live data file entries)`` for each of ``manifests``, read in parallel."""
    from pyiceberg.manifest import ManifestContent
    from pyiceberg.utils.concurrent import ExecutorFactory

    deletes = [m.manifest_path for m in manifests if m.content != ManifestContent.DATA]
    if deletes:
        raise RawTableError(f"{table.name()} has delete manifests ({len(deletes)}); row-level deletes are not supported")

    def read(manifest: Any) -> tuple[str, list[tuple[str, int, int, int]]]:
        entries = manifest.fetch_manifest_entry(table.io, discard_deleted=True)
        return manifest.manifest_path, [
            (e.data_file.file_path, int(e.snapshot_id), int(e.sequence_number), int(e.data_file.record_count))
            for e in entries
        ]

    return list(ExecutorFactory.get_or_create().map(read, manifests))


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


#: per raw table, the snapshot and schema its DuckDB objects were last built from
EXPOSED = "__exposed"
#: live data file entries of every manifest read so far (manifests are immutable, so never read twice)
MANIFEST_ENTRIES = "__manifest_entries"
#: every manifest read so far, also those without live entries
MANIFESTS = "__manifests"


def _cached_live_files(conn: Any, table: Any, ns: str, name: str, snapshot: Any) -> list[tuple[str, int, int, int]]:
    """The live data files of ``snapshot``, reading only the manifests this warehouse has not read before.

    An Iceberg manifest is never rewritten in place, so its live entries are
    kept in ``raw.__manifest_entries`` and a run reads the manifest list and
    the manifests committed since the last run: a steady stream of small
    commits costs each run its new manifests, not all of them."""
    conn.execute(f"create table if not exists {ns}.{MANIFESTS} (table_name varchar, manifest_path varchar)")
    conn.execute(
        f"create table if not exists {ns}.{MANIFEST_ENTRIES} (table_name varchar, manifest_path varchar, "
        "file_path varchar, snapshot_id bigint, sequence_number bigint, record_count bigint)"
    )
    current = snapshot.manifests(table.io)
    paths = {m.manifest_path for m in current}
    known = {row[0] for row in conn.execute(f"select manifest_path from {ns}.{MANIFESTS} where table_name = ?", [name]).fetchall()}
    for manifest_path, entries in _read_manifests(table, [m for m in current if m.manifest_path not in known]):
        conn.execute(f"insert into {ns}.{MANIFESTS} values (?, ?)", [name, manifest_path])
        if entries:
            conn.executemany(f"insert into {ns}.{MANIFEST_ENTRIES} values (?, ?, ?, ?, ?, ?)",
                             [(name, manifest_path, *e) for e in entries])  # fmt: skip
    # forget manifests the table no longer uses (compaction, expiry): the cache stays as large as the table
    stale = [(name, path) for path in known - paths]
    if stale:
        for cache in (MANIFESTS, MANIFEST_ENTRIES):
            conn.executemany(f"delete from {ns}.{cache} where table_name = ? and manifest_path = ?", stale)
    rows = conn.execute(
        f"select file_path, snapshot_id, sequence_number, record_count from {ns}.{MANIFEST_ENTRIES} "
        "where table_name = ? order by sequence_number, file_path",
        [name],
    ).fetchall()
    log.debug("raw table %s: %d manifests, %d cached before", name, len(paths), len(known))
    return [(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]


def expose(conn: Any, table: Any, namespace: str, name: str, schema_dir: Path) -> int:
    """Create ``namespace.name``, ``namespace.name__files`` and
    ``namespace.name__since`` in DuckDB for the table's current snapshot;
    returns the number of live files.

    The objects persist in the warehouse file: when the table's snapshot and
    schema are the ones they were built from (the next dbt layer of the same
    run, a run with no new data), nothing is read or rebuilt."""
    ns, rel = _quote(namespace), _quote(name)
    files_rel = _quote(f"{name}__files")
    snapshot = table.metadata.current_snapshot()
    state = (snapshot.snapshot_id if snapshot else -1, table.schema().schema_id)
    conn.execute(f"create table if not exists {ns}.{EXPOSED} (table_name varchar primary key, snapshot_id bigint, schema_id integer, files bigint)")
    row = conn.execute(f"select snapshot_id, schema_id, files from {ns}.{EXPOSED} where table_name = ?", [name]).fetchone()
    if row is not None and (row[0], row[1]) == state and _objects_exist(conn, namespace, name):
        return int(row[2])
    columns = [field.name for field in table.schema().fields]
    files = _cached_live_files(conn, table, ns, name, snapshot) if snapshot is not None else []
    local = [(_local_path(f[0]), *f[1:]) for f in files]
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
    conn.execute(f"insert or replace into {ns}.{EXPOSED} values (?, ?, ?, ?)", [name, *state, len(local)])
    log.info("raw table %s.%s: %d live files, %d rows", namespace, name, len(local), sum(f[3] for f in local))
    return len(local)


def _objects_exist(conn: Any, namespace: str, name: str) -> bool:
    """The view and the files/snapshots tables of a raw table are all in the warehouse."""
    found = conn.execute(
        "select count(*) from duckdb_views() where schema_name = ? and view_name = ?", [namespace, name]
    ).fetchone()[0] + conn.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name in (?, ?)",
        [namespace, f"{name}__files", f"{name}__snapshots"],
    ).fetchone()[0]
    return found == 3


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
