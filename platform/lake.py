"""The lake: the Iceberg catalog and the raw tables (open the catalog, create the tables, append and commit data).

Data files are written by the Rust writer (``data_processor_rs.write_iceberg_parquet``),
which returns each file's partition and column metrics; this module turns them
into pyiceberg ``DataFile`` objects and commits them with a fast append, so no
file is read back. The snapshot summary carries caller properties (the
consumer's stream checkpoint, as Kafka Connect's Iceberg sink does), and every
commit writes one audit log line (snapshot id, data files, record count).

For an ``s3://`` warehouse the files are written to a local staging directory
and uploaded through the table's FileIO before the commit.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # heavy imports stay lazy
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from pyiceberg.manifest import DataFile
    from pyiceberg.schema import Schema
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

    from eventlake.settings import Settings

log = logging.getLogger("eventlake.lake")

DEFAULT_TARGET_FILE_SIZE = 128 * 1024 * 1024
#: Attempts of a whole commit (each already retried inside pyiceberg on conflict).
COMMIT_ATTEMPTS = 5
_LOCAL_SCHEMES = ("file://", "file:")
#: Properties of every raw table. pyiceberg's own commit retry is off: a retry
#: must re-check the stream positions first (``eventlake.committer``), and
#: ``commit_data_files`` retries plain appends itself.
TABLE_PROPERTIES = {"write.parquet.compression-codec": "zstd", "commit.retry.num-retries": "0"}
_UPLOAD_CHUNK = 8 * 1024 * 1024


def load_catalog(settings: Settings) -> Catalog:
    """The Iceberg catalog described by ``settings`` (SQLite SqlCatalog by default)."""
    from pyiceberg.catalog import load_catalog as _load_catalog

    props = settings.catalog_properties()
    if props.get("type") == "sql" and props.get("uri", "").startswith("sqlite"):
        settings.ensure_home()
    warehouse = props.get("warehouse", "")
    if _is_local(warehouse):
        Path(_local_path(warehouse)).mkdir(parents=True, exist_ok=True)
    if props.get("type") != "sql":
        return _load_catalog(settings.catalog_name, **props)
    from sqlalchemy.exc import SQLAlchemyError

    # SqlCatalog creates its own tables on first use; processes starting
    # together race on that ("table iceberg_tables already exists"): retry.
    for attempt in range(1, 6):
        try:
            return _load_catalog(settings.catalog_name, **props)
        except SQLAlchemyError as exc:
            if attempt == 5:
                log.error("cannot open the SQL catalog %s: %s", settings.catalog_name, exc)
                raise
            log.warning("opening the SQL catalog failed (attempt %d): %s; retrying", attempt, exc)
            time.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


def ensure_tables(catalog: Catalog) -> dict[str, Table]:
    """Create namespace ``raw`` and every table of the contracts if missing.

    Each table has the contract's columns plus the optional row lineage column
    ``source_snapshot_id`` (``table_schema``); an existing table without it gets
    it added. Idempotent, and safe when several processes race: whoever loses a create
    loads the winner's table. Returns ``{contract name: Table}``.
    """
    from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError, TableAlreadyExistsError

    from eventlake.contracts import ICEBERG_TABLES, RAW_NAMESPACE

    try:
        catalog.create_namespace_if_not_exists(RAW_NAMESPACE)
    except NamespaceAlreadyExistsError:
        pass
    except Exception:
        # a concurrent creator can surface as the backend's own unique-key error
        if not catalog.namespace_exists(RAW_NAMESPACE):
            raise
    tables: dict[str, Table] = {}
    for name, contract in ICEBERG_TABLES.items():
        try:
            tables[name] = _with_lineage_column(_with_table_properties(catalog.load_table(contract.identifier)))
            continue
        except NoSuchTableError:
            pass
        try:
            tables[name] = catalog.create_table(
                contract.identifier,
                schema=table_schema(contract.schema),
                partition_spec=contract.partition_spec,
                properties=TABLE_PROPERTIES,
            )
            log.info("created Iceberg table %s", contract.identifier)
        except TableAlreadyExistsError:
            tables[name] = _with_lineage_column(catalog.load_table(contract.identifier))
        except Exception:
            if not catalog.table_exists(contract.identifier):
                raise
            tables[name] = _with_lineage_column(catalog.load_table(contract.identifier))
    return tables


def table_schema(contract_schema: Schema) -> Schema:
    """The Iceberg schema of a raw table: the contract's columns, then the optional row lineage
    column ``source_snapshot_id`` (see ``eventlake.maintenance``; the writers leave it null)."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import LongType, NestedField

    from eventlake.maintenance import LINEAGE_COLUMN, LINEAGE_DOC

    if LINEAGE_COLUMN in contract_schema.column_names:
        return contract_schema
    lineage = NestedField(
        contract_schema.highest_field_id + 1, LINEAGE_COLUMN, LongType(), required=False, doc=LINEAGE_DOC
    )
    return Schema(*contract_schema.fields, lineage, identifier_field_ids=contract_schema.identifier_field_ids)


def _with_lineage_column(table: Table) -> Table:
    """Add the optional ``source_snapshot_id`` column to a table created by an older version."""
    from pyiceberg.exceptions import CommitFailedException
    from pyiceberg.types import LongType

    from eventlake.maintenance import LINEAGE_COLUMN, LINEAGE_DOC

    for attempt in range(1, 6):
        if LINEAGE_COLUMN in table.schema().column_names:
            return table
        try:
            with table.update_schema() as update:
                update.add_column(LINEAGE_COLUMN, LongType(), doc=LINEAGE_DOC)
            log.info("added the row lineage column %s to %s", LINEAGE_COLUMN, ".".join(table.name()))
            return table
        except (CommitFailedException, ValueError) as exc:
            # a concurrent opener changed the table (or added the column) first: look again
            log.debug("adding %s to %s (attempt %d): %s", LINEAGE_COLUMN, ".".join(table.name()), attempt, exc)
            table.refresh()
    if LINEAGE_COLUMN not in table.schema().column_names:
        raise RuntimeError(f"could not add the column {LINEAGE_COLUMN} to {'.'.join(table.name())}")
    return table


def _with_table_properties(table: Table) -> Table:
    """Set ``TABLE_PROPERTIES`` missing on a table created by an older version."""
    missing = {k: v for k, v in TABLE_PROPERTIES.items() if table.metadata.properties.get(k) != v}
    if not missing:
        return table
    from pyiceberg.exceptions import CommitFailedException

    try:
        with table.transaction() as tx:
            tx.set_properties(missing)
    except CommitFailedException:  # a concurrent opener set them
        table.refresh()
    return table


def append_arrow(
    table: Table,
    data: pa.Table | Any,
    *,
    snapshot_properties: Mapping[str, str] | None = None,
    target_file_size: int | None = None,
) -> Snapshot | None:
    """Write ``data`` with the Rust writer and commit the files with a fast append.

    ``data`` is a ``pyarrow.Table`` or any Arrow PyCapsule object (a
    ``data_processor_rs.Table``, a polars DataFrame); extra columns (e.g.
    ``_index``) are not stored, types are cast to the table's.
    Returns the new snapshot, or None when ``data`` has no rows.
    Raises ``data_processor_rs.WriteError`` when ``data`` does not fit the table.
    """
    rows = getattr(data, "num_rows", None)
    if (rows if rows is not None else len(data)) == 0:
        return None
    from pyiceberg.exceptions import CommitFailedException

    files, staging = write_data_files(table, data, target_file_size=target_file_size)
    try:
        data_files = [to_data_file(table, f) for f in files]
        snapshot = commit_data_files(table, data_files, snapshot_properties=snapshot_properties)
    except CommitFailedException:
        # the commit certainly did not land: nothing references these files
        delete_quietly(table, [f["file_path"] for f in files])
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return snapshot


def write_data_files(
    table: Table, data: pa.Table, *, target_file_size: int | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Write ``data`` as data files under the table's location.

    Returns the writer's file metadata (paths already in the table's
    location) and the local staging directory to remove after the commit
    (None when the table is local).
    """
    import data_processor_rs as dp

    props = table.metadata.properties
    location = table.location().rstrip("/")
    target = target_file_size or int(props.get("write.target-file-size-bytes", DEFAULT_TARGET_FILE_SIZE))
    codec = props.get("write.parquet.compression-codec", "zstd").lower()
    if codec not in ("zstd", "snappy"):
        log.warning("table %s asks for %s compression; writing zstd", ".".join(table.name()), codec)
        codec = "zstd"
    level = int(props.get("write.parquet.compression-level") or 3)
    schema_json = table.schema().model_dump_json()
    spec_json = table.spec().model_dump_json()
    write = dict(target_file_size=target, compression=codec, compression_level=level)

    if _is_local(location):
        return dp.write_iceberg_parquet(data, location, schema_json, spec_json, **write), None

    staging = tempfile.mkdtemp(prefix="eventlake-staging-")
    try:
        files = dp.write_iceberg_parquet(data, staging, schema_json, spec_json, **write)
        for f in files:
            f["local_path"] = f["file_path"]
            f["file_path"] = location + f["file_path"][len(staging) :]
        with ThreadPoolExecutor(max_workers=min(8, len(files)) or 1) as pool:
            list(pool.map(lambda f: _upload(table, f["local_path"], f["file_path"]), files))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return files, staging


def to_data_file(table: Table, meta: Mapping[str, Any]) -> DataFile:
    """A pyiceberg ``DataFile`` from one entry returned by ``write_iceberg_parquet``."""
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
    from pyiceberg.typedef import Record

    spec = table.spec()
    partition = Record(*[meta["partition"][field.name] for field in spec.fields])
    data_file = DataFile.from_args(
        _table_format_version=table.format_version,
        content=DataFileContent.DATA,
        file_path=meta["file_path"],
        file_format=FileFormat.PARQUET,
        partition=partition,
        record_count=meta["record_count"],
        file_size_in_bytes=meta["file_size_in_bytes"],
        column_sizes=meta["column_sizes"],
        value_counts=meta["value_counts"],
        null_value_counts=meta["null_value_counts"],
        nan_value_counts=meta["nan_value_counts"],
        lower_bounds=meta["lower_bounds"],
        upper_bounds=meta["upper_bounds"],
        split_offsets=meta["split_offsets"],
        sort_order_id=None,
        spec_id=spec.spec_id,
        equality_ids=None,
        key_metadata=None,
    )
    data_file.spec_id = spec.spec_id  # from_args does not bind it
    return data_file


def commit_data_files(
    table: Table,
    data_files: list[DataFile],
    *,
    snapshot_properties: Mapping[str, str] | None = None,
) -> Snapshot:
    """Fast-append ``data_files`` in one snapshot; on a commit conflict refresh and retry."""
    from pyiceberg.exceptions import CommitFailedException

    props = {str(k): str(v) for k, v in (snapshot_properties or {}).items()}
    delay = 0.2
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            with table.transaction() as tx:
                with tx.update_snapshot(snapshot_properties=props).fast_append() as append:
                    for data_file in data_files:
                        append.append_data_file(data_file)
            break
        except CommitFailedException as exc:
            if attempt == COMMIT_ATTEMPTS:
                log.error("commit to %s failed after %d attempts: %s", ".".join(table.name()), attempt, exc)
                raise
            log.warning(
                "commit to %s conflicted (attempt %d/%d): %s; retrying", ".".join(table.name()), attempt, COMMIT_ATTEMPTS, exc
            )
            time.sleep(delay)
            delay *= 2
            table.refresh()
    snapshot = table.metadata.current_snapshot()
    assert snapshot is not None  # the commit above just made one
    records = sum(f.record_count for f in data_files)
    paths = [f.file_path for f in data_files]
    # Property 42: the audit line of every commit
    log.info(
        "iceberg commit table=%s snapshot_id=%s records=%d files=%d paths=%s",
        ".".join(table.name()),
        snapshot.snapshot_id,
        records,
        len(paths),
        paths,
        extra={
            "iceberg_table": ".".join(table.name()),
            "snapshot_id": snapshot.snapshot_id,
            "record_count": records,
            "data_files": paths,
        },
    )
    return snapshot


# -- helpers ----------------------------------------------------------------------
def _is_local(location: str) -> bool:
    return location.startswith(_LOCAL_SCHEMES) or "://" not in location


def _local_path(location: str) -> str:
    for prefix in _LOCAL_SCHEMES:
        if location.startswith(prefix):
            return location[len(prefix) :]
    return location


def delete_quietly(table: Table, paths: list[str]) -> None:
    for path in paths:
        try:
            table.io.delete(path)
        except Exception as exc:  # noqa: BLE001 - an orphan file is harmless, keep the original error
            log.warning("could not delete uncommitted data file %s: %s", path, exc)


def _upload(table: Table, local_path: str, remote_path: str) -> None:
    output = table.io.new_output(remote_path)
    with open(local_path, "rb") as src, output.create(overwrite=True) as dst:
        shutil.copyfileobj(src, dst, _UPLOAD_CHUNK)
