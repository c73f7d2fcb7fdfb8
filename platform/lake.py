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

import functools
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
    """Create namespace ``raw`` and every table of the contracts if missing; evolve existing ones.

    Each table has the contract's columns plus the optional row lineage column
    ``source_snapshot_id`` (``table_schema``); an existing table without it gets
    it added. An existing table also gets what the contract added since it was
    created (``evolve_table``: optional columns, safe type promotions; no data
    rewritten); a change Iceberg cannot apply safely (a rename, an unsafe type
    change, a required column on a table with rows) raises ``SchemaMismatch``
    naming the table, the field and the steps to take. Idempotent, and safe when several processes race: whoever loses a create
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
            tables[name] = _open_existing(_with_table_properties(catalog.load_table(contract.identifier)), contract)
            continue
        except NoSuchTableError:
            pass
        try:
            created = catalog.create_table(
                contract.identifier,
                schema=table_schema(_first_ids(contract.schema)),
                partition_spec=contract.partition_spec,
                properties=TABLE_PROPERTIES,
            )
            log.info("created Iceberg table %s", contract.identifier)
            # the fields after a gap in the ids: added with their own ids, as to an older table
            tables[name] = evolve_table(created, contract.schema)
        except TableAlreadyExistsError:
            tables[name] = _open_existing(catalog.load_table(contract.identifier), contract)
        except Exception:
            if not catalog.table_exists(contract.identifier):
                raise
            tables[name] = _open_existing(catalog.load_table(contract.identifier), contract)
    return tables


# -- schema evolution --------------------------------------------------------------
#: Type changes Iceberg applies to a column without rewriting a file (the
#: promotions of the Iceberg spec that keep every old value readable).
SAFE_PROMOTIONS = frozenset({("int", "long"), ("float", "double")})
_STEPS_SEE = "See docs/schema_evolution.md."


class SchemaMismatch(RuntimeError):
    """A raw table's schema and its contract differ in a way Iceberg cannot apply safely.

    Raised by ``ensure_tables`` at startup, before anything is read or written:
    names the table, the field (its id), the table's type and the contract's,
    and the steps to take.
    """

    def __init__(self, table: str, field: str, field_id: int | None, table_type: str, contract_type: str,
                 problem: str, steps: str) -> None:
        self.table, self.field, self.field_id = table, field, field_id
        self.table_type, self.contract_type = table_type, contract_type
        self.problem, self.steps = problem, steps
        where = f"{table}, field {field!r}" + (f" (id {field_id})" if field_id is not None else "")
        super().__init__(
            f"schema mismatch in {where}: {problem}. The table has {table_type}, the contract "
            f"(platform/contracts.py) declares {contract_type}. To fix: {steps} {_STEPS_SEE}"
        )


def _describe(field: Any) -> str:
    """``name type required|optional`` of an Iceberg field, as the messages show it."""
    return f"{field.name!r} {field.field_type} {'required' if field.required else 'optional'}"


def plan_evolution(table: Table, contract_schema: Schema) -> tuple[list[Any], list[tuple[Any, dict[str, Any]]]]:
    """What it takes to bring ``table`` to ``contract_schema``: ``(fields to add, [(table field, changes)])``.

    Columns are matched by field id, as Iceberg tracks them. Only the changes
    Iceberg applies without rewriting data are planned: an optional column
    added under the contract's id, a safe type promotion (int->long,
    float->double), a required column made optional, a new doc. Anything
    else raises ``SchemaMismatch``. A column of the table the contract does
    not declare is kept (it reads and is written as null) if it is optional.
    """
    from eventlake.maintenance import LINEAGE_COLUMN

    name = ".".join(table.name())
    current = table.schema()
    by_id = {f.field_id: f for f in current.fields}
    by_name = {f.name: f for f in current.fields}
    last_id = table.metadata.last_column_id
    has_rows = _has_rows(table)
    adds: list[Any] = []
    updates: list[tuple[Any, dict[str, Any]]] = []
    for want in contract_schema.fields:
        have = by_id.get(want.field_id)
        if have is None:
            other = by_name.get(want.name)
            if other is not None:
                raise SchemaMismatch(
                    name, want.name, want.field_id, f"it with field id {other.field_id}",
                    f"it with field id {want.field_id}",
                    "the contract gives an existing column another field id (field ids never change)",
                    f"give {want.name!r} its table id {other.field_id} in the contract again; a new column needs "
                    f"a new name and a new id (at least {last_id + 1}).",
                )
            if want.field_id <= last_id:
                raise SchemaMismatch(
                    name, want.name, want.field_id, f"field id {want.field_id} used before (ids up to {last_id})",
                    f"{_describe(want)} as a new column",
                    "a new column's field id was assigned in this table before (to a column since dropped, or "
                    "to the row lineage column); Iceberg never reuses an id",
                    f"declare {want.name!r} with field id {last_id + 1} (the table's next free id) or higher.",
                )
            if want.required and has_rows:
                raise SchemaMismatch(
                    name, want.name, want.field_id, "no such column (and rows already stored)", _describe(want),
                    "a required column cannot be added to a table that holds data: its existing rows have no value",
                    f"declare {want.name!r} optional (required=False, a transform default if every new row needs "
                    f"a value) and restart; or start the table over (drop {name} and replay the stream).",
                )
            adds.append(want)
            continue
        if have.name != want.name:
            if have.name == LINEAGE_COLUMN:
                raise SchemaMismatch(
                    name, want.name, want.field_id,
                    f"id {want.field_id} held by the row lineage column {LINEAGE_COLUMN!r}",
                    _describe(want), f"field id {want.field_id} is taken in this table by {LINEAGE_COLUMN}",
                    f"declare {want.name!r} with field id {last_id + 1} (the table's next free id) or higher.",
                )
            raise SchemaMismatch(
                name, want.name, want.field_id, _describe(have), _describe(want),
                f"field id {want.field_id} is named {have.name!r} in the table but {want.name!r} in the contract: "
                "a rename, which would split the column's history between two names downstream",
                f"keep the name {have.name!r} in the contract; to change it, add {want.name!r} as a new optional "
                f"field with a new id (at least {last_id + 1}), move producers to it, and rename downstream in dbt.",
            )
        changes: dict[str, Any] = {}
        if have.field_type != want.field_type:
            if (str(have.field_type), str(want.field_type)) not in SAFE_PROMOTIONS:
                raise SchemaMismatch(
                    name, want.name, want.field_id, str(have.field_type), str(want.field_type),
                    f"changing {want.name!r} from {have.field_type} to {want.field_type} is not one of Iceberg's safe "
                    "promotions (int->long, float->double): files already written could not be read as the new type",
                    f"put back type {have.field_type} for {want.name!r}; for the new type add a new optional field "
                    f"with a new name and id (at least {last_id + 1}) and fill it going forward.",
                )
            changes["field_type"] = want.field_type
        if want.required and not have.required:
            raise SchemaMismatch(
                name, want.name, want.field_id, _describe(have), _describe(want),
                "an optional column cannot become required: rows already stored may hold nulls",
                f"declare {want.name!r} optional again (required=False); a transform default fills it in new rows.",
            )
        if have.required and not want.required:
            changes["required"] = False  # relaxing: every stored row still fits
        if want.doc is not None and want.doc != have.doc:
            changes["doc"] = want.doc
        if changes:
            updates.append((have, changes))
    wanted_ids = {f.field_id for f in contract_schema.fields}
    for have in current.fields:
        if have.field_id in wanted_ids or have.name == LINEAGE_COLUMN:
            continue
        if have.required:
            raise SchemaMismatch(
                name, have.name, have.field_id, _describe(have), "no such field",
                "the table has a required column the contract does not declare, so no row could be written",
                f"declare {have.name!r} in the contract again (same id {have.field_id}), or make it optional in "
                "the table first.",
            )
        log.warning("%s has the column %r (id %d) the contract does not declare; it is kept and written as null",
                    name, have.name, have.field_id)
    return adds, updates


def _partitioning(spec: Any, schema: Schema) -> list[tuple[str, str]]:
    return [(schema.find_column_name(f.source_id) or str(f.source_id), str(f.transform)) for f in spec.fields]


def evolve_table(table: Table, contract_schema: Schema, partition_spec: Any = None) -> Table:
    """Apply ``plan_evolution`` to ``table``: metadata only, no data file is read or rewritten.

    New columns get the contract's field ids; old data files read as null for
    them. Safe when several processes start together: a commit that loses the
    race re-reads the table and plans again (usually: nothing left to do).
    Raises ``SchemaMismatch`` for a change Iceberg cannot apply safely. A
    ``partition_spec`` that differs from the table's is only logged: changing
    an existing table's partitioning is not done here.
    """
    from pyiceberg.exceptions import CommitFailedException

    name = ".".join(table.name())
    if partition_spec is not None and (
        _partitioning(table.spec(), table.schema()) != _partitioning(partition_spec, contract_schema)
    ):
        log.warning("%s is partitioned by %s, the contract says %s: the partitioning of an existing table is not "
                    "changed (docs/schema_evolution.md)", name, _partitioning(table.spec(), table.schema()),
                    _partitioning(partition_spec, contract_schema))
    for attempt in range(1, 6):
        adds, updates = plan_evolution(table, contract_schema)
        if not adds and not updates:
            return table
        try:
            ids, allow_required = [f.field_id for f in adds], not _has_rows(table)
            with table.transaction() as tx:
                with _contract_schema_update(tx, ids, allow_required=allow_required) as update:
                    for f in adds:
                        update.add_column(f.name, f.field_type, doc=f.doc, required=f.required)
                    for have, changes in updates:
                        if "required" in changes:
                            update.make_column_optional(have.name)
                        update.update_column(have.name, field_type=changes.get("field_type"), doc=changes.get("doc"))
        except CommitFailedException as exc:
            log.debug("evolving %s (attempt %d): %s; planning again", name, attempt, exc)
            table.refresh()
            continue
        for f in adds:
            log.info("schema evolution: added column %s (id %d, %s, %s) to %s; existing files read it as null",
                     f.name, f.field_id, f.field_type, "required" if f.required else "optional", name)
        for have, changes in updates:
            log.info("schema evolution: %s.%s: %s", name, have.name,
                     ", ".join(f"{k} {getattr(have, k)} -> {v}" for k, v in changes.items()))
        return table
    raise RuntimeError(f"could not evolve the schema of {name}: it kept changing underneath")


def _has_rows(table: Table) -> bool:
    snapshot = table.current_snapshot()
    if snapshot is None:
        return False
    total = (snapshot.summary.additional_properties if snapshot.summary else {}).get("total-records")
    return total is None or int(total) > 0


def _contract_schema_update(transaction: Any, ids: list[int], *, allow_required: bool) -> Any:
    """pyiceberg's ``UpdateSchema`` whose ``add_column`` takes the contract's field ids, in order.

    pyiceberg 0.12's ``add_column`` has no field id argument: it asks
    ``assign_new_column_id`` for the table's next id. The contract declares the
    ids (fresh tables get them), so evolved tables get them too. The metadata's
    ``last-column-id`` becomes the highest id (pyiceberg's ``AddSchemaUpdate``).
    ``allow_required`` lets a required column be added (a table without rows).
    """
    return _contract_schema_update_class()(
        transaction, ids, allow_incompatible_changes=allow_required,
        name_mapping=transaction.table_metadata.name_mapping(),
    )


@functools.cache
def _contract_schema_update_class() -> type:
    from pyiceberg.table.update.schema import UpdateSchema

    class ContractSchemaUpdate(UpdateSchema):
        def __init__(self, transaction: Any, ids: list[int], **kwargs: Any) -> None:
            super().__init__(transaction, **kwargs)
            self._contract_ids = list(ids)

        def assign_new_column_id(self) -> int:
            if not self._contract_ids:  # a nested type's ids: the contract has none
                raise ValueError("no contract field id left for a new column")
            return self._contract_ids.pop(0)

    return ContractSchemaUpdate


def _open_existing(table: Table, contract: Any) -> Table:
    """An existing raw table brought to its contract (``evolve_table``), then given the row lineage column."""
    return _with_lineage_column(evolve_table(table, contract.schema, contract.partition_spec))


def _first_ids(contract_schema: Schema) -> Schema:
    """The contract's fields with ids 1, 2, ... n without a gap, in id order: what a new table is created with.

    pyiceberg's ``create_table`` numbers the columns afresh, in order, so a
    contract whose ids skip one (a field added after the row lineage column
    took the next id in existing tables) would not keep its ids. The rest of
    the fields are added by ``evolve_table`` with their own ids, so a new table
    and an evolved one have the same ids.
    """
    from pyiceberg.schema import Schema

    first = []
    for field in sorted(contract_schema.fields, key=lambda f: f.field_id):
        if field.field_id != len(first) + 1:
            break
        first.append(field)
    return Schema(*first)


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


def added_files(table: Table, snapshot: Snapshot) -> list[str]:
    """Paths of the data files ``snapshot`` added (its own manifests only, not the table's)."""
    from pyiceberg.manifest import ManifestEntryStatus

    paths = []
    for manifest in snapshot.manifests(table.io):
        if manifest.added_snapshot_id != snapshot.snapshot_id:
            continue
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            if entry.status == ManifestEntryStatus.ADDED and entry.snapshot_id == snapshot.snapshot_id:
                paths.append(entry.data_file.file_path)
    return paths


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
