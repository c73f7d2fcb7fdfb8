"""Maintenance of the raw Iceberg tables: compaction, snapshot expiry, orphan file removal.

The consumer commits small files often (one per table and partition, about
every second while it keeps up). Three jobs keep the tables fast and bounded
(Dagster wiring in ``eventlake.assets.maintenance``, settings ``EVENTLAKE_COMPACTION_*``,
``EVENTLAKE_SNAPSHOT_*`` and ``EVENTLAKE_ORPHAN_*``):

``compact``
    Rewrites the small data files of each partition (below
    ``compaction_small_file_bytes``, at least ``compaction_min_input_files`` of
    them) into files of ``compaction_target_file_bytes``, committed as ONE
    ``replace`` snapshot that deletes the old files and adds the new ones. It
    changes no query result, and exactly-once keeps working:

    * the snapshot carries the stream positions and lease fences
      (``eventlake.checkpoint.*`` / ``eventlake.fence.*``, see
      ``eventlake.checkpoints``) of the snapshot it replaced, unchanged;
    * it commits only on top of the snapshot it was planned from (raw tables
      have ``commit.retry.num-retries=0``, and this producer refuses pyiceberg's
      rebase in any case). When a consumer committed meanwhile, the commit
      fails; the compaction then re-validates against the new snapshot (its
      input files all still live: commit the same output on top of it, carrying
      the NEW positions) or plans again. A consumer whose commit races with the
      compaction's gets a ``CommitFailedException``, re-reads the positions
      (unchanged) and lands on its next attempt (``committer.commit_fenced``);
    * the consumer's dedup index skips ``replace`` snapshots: they only rewrite
      rows it already holds (``DedupIndex.catch_up``).

    Row lineage: the raw tables have an optional column ``source_snapshot_id``
    (``LINEAGE_COLUMN``), null in the files the consumer writes, meaning "the
    snapshot that added this data file". Compaction materializes it:
    ``coalesce(source_snapshot_id, snapshot that added the source file)``, as
    Iceberg v3 row lineage does when rows are rewritten. So the snapshot that
    first brought a row in is always ``coalesce(row.source_snapshot_id,
    lineage_of(table)[file of the row])``; ``read_with_lineage`` returns it.

``expire_snapshots``
    Expires snapshots older than ``snapshot_retention_days``, keeping the last
    ``snapshot_retain_last`` of the current history and every branch/tag head
    (so never the current snapshot), then deletes the manifest lists,
    manifests and data files that only expired snapshots referenced.

``remove_orphan_files``
    Deletes files under a table's location that neither a live snapshot nor a
    metadata file references, once they are older than
    ``orphan_file_min_age_days`` (a younger one may belong to a write in flight).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from eventlake import checkpoints

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.io import FileIO
    from pyiceberg.manifest import DataFile, ManifestEntry
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

    from eventlake.settings import Settings

log = logging.getLogger("eventlake.maintenance")

#: Optional long column of every raw table: id of the snapshot that first brought the row in
#: (null = the snapshot that added the row's data file, see ``lineage_of``).
LINEAGE_COLUMN = "source_snapshot_id"
LINEAGE_DOC = (
    "row lineage: id of the Iceberg snapshot that first brought this row in; "
    "null = the snapshot that added the data file holding the row"
)
#: Snapshot summary property marking a snapshot written by this module.
MAINTENANCE_PROPERTY = "eventlake.maintenance"


class CompactionConflict(RuntimeError):
    """The table kept moving: no compaction commit landed within the attempts."""


def _name(table: Table) -> str:
    return ".".join(table.name())


def _live_entries(table: Table, snapshot: Snapshot | None) -> list[ManifestEntry]:
    """The live (added or existing) entries of every manifest of ``snapshot``, data and deletes."""
    if snapshot is None:
        return []
    entries: list[ManifestEntry] = []
    for manifest in snapshot.manifests(table.io):
        entries.extend(manifest.fetch_manifest_entry(table.io, discard_deleted=True))
    return entries


# ---------------------------------------------------------------------------
# row lineage
# ---------------------------------------------------------------------------
def lineage_of(table: Table, snapshot_id: int | None = None) -> dict[str, int]:
    """``{data file path: id of the snapshot that added the file}`` for the live data files.

    Of the table's current snapshot (as loaded: refresh first for the latest),
    or of ``snapshot_id``. The id comes from each file's manifest entry
    (``entry.snapshot_id``), which Iceberg keeps when the entry is carried over
    into later manifests.

    Row lineage of a raw row = ``coalesce(row.source_snapshot_id,
    lineage_of(table)[path of its data file])``: the column is null in files
    the consumer wrote (their rows came with the file) and filled by
    compaction when it rewrites rows.
    """
    from pyiceberg.manifest import DataFileContent

    snapshot = table.metadata.snapshot_by_id(snapshot_id) if snapshot_id is not None else table.metadata.current_snapshot()
    if snapshot_id is not None and snapshot is None:
        raise ValueError(f"{_name(table)} has no snapshot {snapshot_id}")
    return {
        e.data_file.file_path: e.snapshot_id
        for e in _live_entries(table, snapshot)
        if e.data_file.content == DataFileContent.DATA and e.snapshot_id is not None
    }


def _read_entries_with_lineage(table: Table, entries: Iterable[ManifestEntry]) -> pa.Table:
    """The rows of the data files of ``entries`` in the table's current schema, lineage filled in."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.io.pyarrow import ArrowScan
    from pyiceberg.table import FileScanTask

    schema = table.schema()
    if LINEAGE_COLUMN not in schema.column_names:
        raise ValueError(f"{_name(table)} has no {LINEAGE_COLUMN} column: open it with lake.ensure_tables first")
    scan = ArrowScan(table.metadata, table.io, schema, AlwaysTrue())
    parts = []
    for entry in entries:
        rows = scan.to_table([FileScanTask(entry.data_file)])
        i = rows.schema.get_field_index(LINEAGE_COLUMN)
        filled = pc.fill_null(rows.column(i), pa.scalar(entry.snapshot_id, pa.int64()))
        parts.append(rows.set_column(i, rows.schema.field(i), filled))
    if not parts:
        return schema.as_arrow().empty_table()
    return pa.concat_tables(parts, promote_options="permissive")


def read_with_lineage(table: Table) -> pa.Table:
    """Every row of the table's current snapshot with ``source_snapshot_id`` resolved (never null).

    For tests and audits: reads the whole table. Raises on tables with delete
    files (the raw tables have none: the consumer only appends).
    """
    from pyiceberg.manifest import DataFileContent

    entries = _live_entries(table, table.metadata.current_snapshot())
    if any(e.data_file.content != DataFileContent.DATA for e in entries):
        raise NotImplementedError(f"{_name(table)} has delete files")
    return _read_entries_with_lineage(table, entries)


# ---------------------------------------------------------------------------
# compaction
# ---------------------------------------------------------------------------
@dataclass
class CompactionResult:
    """What one compaction of one table did (all counts are data files of the current snapshot)."""

    table: str
    snapshot_id: int | None = None  # the replace snapshot committed (None: nothing to do)
    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    rewritten_files: int = 0
    rewritten_bytes: int = 0
    added_files: int = 0
    added_bytes: int = 0
    rows: int = 0
    partitions: int = 0
    attempts: int = 0
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Plan:
    base_snapshot_id: int
    groups: list[list[ManifestEntry]] = field(default_factory=list)  # files of one partition -> about one output file
    files: int = 0
    bytes: int = 0
    note: str = ""


def _partition_key(data_file: DataFile) -> tuple:
    partition = data_file.partition
    return (data_file.spec_id, tuple(partition[i] for i in range(len(partition))))


def plan_compaction(
    table: Table, *, small_file_bytes: int, min_input_files: int, target_file_bytes: int | None = None
) -> _Plan | None:
    """Which files of the table's current snapshot (as loaded) to rewrite, in groups of one partition.

    Candidates: Parquet data files of the current partition spec smaller than
    ``small_file_bytes``; a partition is rewritten when it has at least
    ``min_input_files`` of them. Its candidates (oldest first) are packed into
    groups of about ``target_file_bytes`` of input each, so that one group
    becomes about one output file and is all a compaction holds in memory at
    once; a group of a single file is left as it is. None when the table has
    no snapshot.
    """
    from pyiceberg.manifest import DataFileContent, FileFormat

    snapshot = table.metadata.current_snapshot()
    if snapshot is None:
        return None
    entries = _live_entries(table, snapshot)
    plan = _Plan(base_snapshot_id=snapshot.snapshot_id)
    data = [e for e in entries if e.data_file.content == DataFileContent.DATA]
    plan.files = len(data)
    plan.bytes = sum(e.data_file.file_size_in_bytes for e in data)
    if len(data) != len(entries):
        plan.note = "the table has delete files: not compacted (rows would have to be merged with their deletes)"
        return plan
    spec_id = table.spec().spec_id
    by_partition: dict[tuple, list[ManifestEntry]] = defaultdict(list)
    for entry in data:
        f = entry.data_file
        if f.spec_id == spec_id and f.file_format == FileFormat.PARQUET and f.file_size_in_bytes < small_file_bytes:
            by_partition[_partition_key(f)].append(entry)
    for key in sorted(by_partition, key=repr):
        candidates = by_partition[key]
        if len(candidates) < min_input_files:
            continue
        # oldest first: the output keeps the order the rows arrived in
        candidates.sort(key=lambda e: (e.sequence_number or 0, e.data_file.file_path))
        group: list[ManifestEntry] = []
        size = 0
        for entry in candidates:
            group.append(entry)
            size += entry.data_file.file_size_in_bytes
            if target_file_bytes is not None and size >= target_file_bytes:
                if len(group) > 1:
                    plan.groups.append(group)
                group, size = [], 0
        if len(group) > 1:
            plan.groups.append(group)
    return plan


def carried_properties(table: Table) -> dict[str, str]:
    """The stream positions and fences of the table as loaded, exactly as stored.

    ``eventlake.checkpoint.*`` and ``eventlake.fence.*`` of the newest snapshot
    that has any (what ``checkpoints.read_state`` returns), as their original
    strings. A snapshot that replaces the current one must carry them so that
    the consumer reads the same positions from it.
    """
    summary = checkpoints._summary_with_checkpoints(table)  # noqa: SLF001 - the one definition of "stored positions"
    return {
        k: v for k, v in summary.items() if k.startswith((checkpoints.CHECKPOINT_PREFIX, checkpoints.FENCE_PREFIX))
    }


def _rewrite_producer(tx, table: Table, props: dict[str, str]):
    """A snapshot producer that deletes and adds files as one ``replace`` snapshot, never rebased."""
    from pyiceberg.exceptions import CommitFailedException
    from pyiceberg.table.snapshots import Operation, Summary
    from pyiceberg.table.update.snapshot import _OverwriteFiles

    class _RewriteFiles(_OverwriteFiles):
        def _summary(self, snapshot_properties=None):  # type: ignore[override]
            # totals computed as for an overwrite, recorded as what it is: a rewrite of existing rows
            summary = super()._summary(snapshot_properties or {})
            return Summary(operation=Operation.REPLACE, **summary.additional_properties)

        def _refresh_for_retry(self) -> None:
            # pyiceberg's retry would rebase this rewrite onto a newer snapshot, with the
            # positions of the old one: refuse, the caller re-validates and commits anew
            raise CommitFailedException(f"{_name(table)} moved since the compaction was planned")

    return _RewriteFiles(operation=Operation.OVERWRITE, transaction=tx, io=table.io, snapshot_properties=props)


def _commit_rewrite(table: Table, deleted: list[DataFile], added: list[DataFile], note: dict[str, str]) -> Snapshot:
    """Commit one replace snapshot on top of the table's current snapshot AS LOADED (no refresh).

    Raises ``CommitFailedException`` when the table moved since it was loaded.
    """
    props = {**carried_properties(table), **note}
    with table.transaction() as tx:
        with _rewrite_producer(tx, table, props) as rewrite:
            for f in deleted:
                rewrite.delete_data_file(f)
            for f in added:
                rewrite.append_data_file(f)
    snapshot = table.metadata.current_snapshot()
    assert snapshot is not None
    return snapshot


def _still_live(table: Table, entries: list[ManifestEntry]) -> bool:
    """Whether every file of ``entries`` is still a live data file of the (refreshed) table, with no delete files."""
    from pyiceberg.manifest import DataFileContent

    live = _live_entries(table, table.metadata.current_snapshot())
    if any(e.data_file.content != DataFileContent.DATA for e in live):
        return False
    paths = {e.data_file.file_path for e in live}
    return all(e.data_file.file_path in paths for e in entries)


def compact(
    table: Table,
    *,
    target_file_bytes: int,
    small_file_bytes: int,
    min_input_files: int,
    attempts: int = 5,
) -> CompactionResult:
    """Rewrite the small files of each partition of ``table`` into files of ``target_file_bytes``.

    See the module docstring. One ``replace`` snapshot per call (or none when
    no partition qualifies). Raises ``CompactionConflict`` when other commits
    kept landing through every attempt (nothing is left behind).
    """
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    from eventlake import lake

    name = _name(table)
    result = CompactionResult(table=name)
    delay = 0.05
    tries = 0
    while True:
        table.refresh()
        plan = plan_compaction(
            table, small_file_bytes=small_file_bytes, min_input_files=min_input_files, target_file_bytes=target_file_bytes
        )
        if plan is None:
            result.note = "empty table"
            log.info("compaction of %s: nothing to do (no snapshot)", name)
            return result
        result.files_before = result.files_after = plan.files
        result.bytes_before = result.bytes_after = plan.bytes
        if not plan.groups:
            result.note = plan.note or (
                f"no partition has {min_input_files} or more files under {small_file_bytes} bytes "
                f"to pack into files of {target_file_bytes} bytes"
            )
            log.info("compaction of %s: nothing to do (%d data files, %d bytes): %s", name, plan.files, plan.bytes, result.note)
            return result

        # write every partition's output; the table object stays at the planned snapshot
        inputs = [e for group in plan.groups for e in group]
        schema_id, spec_id = table.schema().schema_id, table.spec().spec_id
        written: list[dict[str, Any]] = []
        staging_dirs: list[str] = []
        snapshot = None
        uncertain = False
        try:
            rows = 0
            for group in plan.groups:
                data = _read_entries_with_lineage(table, group)
                rows += data.num_rows
                files, staging = lake.write_data_files(table, data, target_file_size=target_file_bytes)
                written.extend(files)
                if staging is not None:
                    staging_dirs.append(staging)
                del data
            added = [lake.to_data_file(table, f) for f in written]
            deleted = [e.data_file for e in inputs]
            note = {MAINTENANCE_PROPERTY: "compaction", f"{MAINTENANCE_PROPERTY}.rewritten-files": str(len(deleted))}
            # Commit on top of the snapshot the table object is at. When another commit landed
            # meanwhile (the consumer only appends) and every input is still live, the same
            # output is committed on top of that one, carrying ITS positions; else plan again.
            while snapshot is None:
                tries += 1
                result.attempts = tries
                uncertain = True  # until the commit is known to have failed, its files may be referenced
                try:
                    snapshot = _commit_rewrite(table, deleted, added, note)
                except (CommitFailedException, ValidationException) as exc:
                    uncertain = False
                    if tries >= attempts:
                        raise CompactionConflict(
                            f"compaction of {name}: other commits kept landing through {attempts} attempts"
                        ) from exc
                    log.warning(
                        "compaction of %s: the table moved since it was loaded (attempt %d/%d: %s); re-validating",
                        name, tries, attempts, exc,
                    )
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    table.refresh()
                    if (table.schema().schema_id, table.spec().spec_id) != (schema_id, spec_id) or not _still_live(
                        table, inputs
                    ):
                        log.warning("compaction of %s: its input files or the schema changed meanwhile; planning again", name)
                        break
        finally:
            if snapshot is None and not uncertain:  # never committed: nothing references the output
                lake.delete_quietly(table, [f["file_path"] for f in written])
            for staging in staging_dirs:
                shutil.rmtree(staging, ignore_errors=True)
        if snapshot is None:
            continue

        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        result.snapshot_id = snapshot.snapshot_id
        result.rewritten_files = len(inputs)
        result.rewritten_bytes = sum(e.data_file.file_size_in_bytes for e in inputs)
        result.added_files = len(added)
        result.added_bytes = sum(f.file_size_in_bytes for f in added)
        result.rows = rows
        result.partitions = len({_partition_key(group[0].data_file) for group in plan.groups})
        # the table as committed (other commits may have landed between the plan and the commit)
        result.files_after = int(summary.get("total-data-files", result.files_before - len(inputs) + len(added)))
        result.bytes_after = int(summary.get("total-files-size", result.bytes_before))
        result.files_before = result.files_after + result.rewritten_files - result.added_files
        result.bytes_before = result.bytes_after + result.rewritten_bytes - result.added_bytes
        log.info(
            "compaction of %s: %d files (%d bytes) in %d partition(s) rewritten as %d file(s) (%d bytes), "
            "%d rows; snapshot %s; the table now has %d data files (was %d)",
            name, result.rewritten_files, result.rewritten_bytes, result.partitions, result.added_files,
            result.added_bytes, rows, snapshot.snapshot_id, result.files_after, result.files_before,
            extra={"iceberg_table": name, "snapshot_id": snapshot.snapshot_id},
        )
        return result


# ---------------------------------------------------------------------------
# snapshot expiry
# ---------------------------------------------------------------------------
@dataclass
class ExpiryResult:
    table: str
    snapshots_before: int = 0
    snapshots_after: int = 0
    expired_snapshot_ids: list[int] = field(default_factory=list)
    deleted_files: int = 0
    deleted_bytes: int = 0
    current_snapshot_id: int | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _reachable(table: Table, snapshots: Iterable[Snapshot], cache: dict[str, list]) -> dict[str, int]:
    """``{path: size or -1}`` of the manifest lists, manifests and live data/delete files of ``snapshots``."""
    out: dict[str, int] = {}
    for snapshot in snapshots:
        out[snapshot.manifest_list] = -1
        for manifest in snapshot.manifests(table.io):
            out[manifest.manifest_path] = manifest.manifest_length
            if manifest.manifest_path not in cache:
                cache[manifest.manifest_path] = [
                    (e.data_file.file_path, e.data_file.file_size_in_bytes)
                    for e in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
                ]
            out.update(cache[manifest.manifest_path])
    return out


def snapshots_to_expire(table: Table, *, older_than: datetime, retain_last: int) -> list[int]:
    """Ids of the snapshots of the table (as loaded) older than ``older_than`` that may go.

    Kept whatever their age: the ``retain_last`` newest snapshots of the
    current history (so always the current snapshot) and every branch or tag head.
    """
    from pyiceberg.table.snapshots import ancestors_of

    metadata = table.metadata
    keep = {ref.snapshot_id for ref in metadata.refs.values()}
    for i, snapshot in enumerate(ancestors_of(metadata.current_snapshot(), metadata)):
        if i >= max(retain_last, 1):
            break
        keep.add(snapshot.snapshot_id)
    cutoff_ms = int(older_than.timestamp() * 1000)
    return [s.snapshot_id for s in metadata.snapshots if s.timestamp_ms < cutoff_ms and s.snapshot_id not in keep]


def expire_snapshots(
    table: Table,
    *,
    retention: timedelta,
    retain_last: int,
    now: datetime | None = None,
    delete_files: bool = True,
    attempts: int = 5,
) -> ExpiryResult:
    """Expire the snapshots older than ``retention`` (see ``snapshots_to_expire``), then delete
    the files that only they referenced (``delete_files``)."""
    from pyiceberg.exceptions import CommitFailedException

    name = _name(table)
    result = ExpiryResult(table=name)
    cutoff = (now or datetime.now(UTC)) - retention
    for attempt in range(1, attempts + 1):
        table.refresh()
        metadata = table.metadata
        result.snapshots_before = len(metadata.snapshots)
        expire = snapshots_to_expire(table, older_than=cutoff, retain_last=retain_last)
        current = metadata.current_snapshot()
        result.current_snapshot_id = current.snapshot_id if current else None
        if not expire:
            result.snapshots_after = result.snapshots_before
            result.note = f"no snapshot older than {cutoff.isoformat()} beyond the last {retain_last}"
            log.info("snapshot expiry of %s: nothing to expire (%d snapshots): %s", name, result.snapshots_before, result.note)
            return result
        cache: dict[str, list] = {}
        doomed = _reachable(table, [metadata.snapshot_by_id(i) for i in expire], cache) if delete_files else {}
        try:
            table.maintenance.expire_snapshots().by_ids(expire).commit()
        except CommitFailedException as exc:
            if attempt == attempts:
                raise
            log.warning("snapshot expiry of %s conflicted with another commit (attempt %d/%d: %s); retrying",
                        name, attempt, attempts, exc)
            time.sleep(0.05 * 2**attempt)
            continue
        # what the table references now (this metadata includes every commit that landed before ours;
        # later commits only add files): the rest of ``doomed`` is unreachable
        table.refresh()
        remaining = table.metadata
        assert current is None or remaining.snapshot_by_id(current.snapshot_id) is not None
        result.expired_snapshot_ids = sorted(expire)
        result.snapshots_after = len(remaining.snapshots)
        if delete_files:
            kept = _reachable(table, remaining.snapshots, cache)
            for path, size in doomed.items():
                if path in kept:
                    continue
                deleted = _delete_file(table.io, path, size, f"snapshot expiry of {name}")
                if deleted is not None:
                    result.deleted_files += 1
                    result.deleted_bytes += max(deleted, 0)
        log.info(
            "snapshot expiry of %s: %d snapshot(s) older than %s expired (%d -> %d), %d file(s) (%d bytes) "
            "only they referenced deleted; current snapshot %s kept",
            name, len(expire), cutoff.isoformat(), result.snapshots_before, result.snapshots_after,
            result.deleted_files, result.deleted_bytes, result.current_snapshot_id,
            extra={"iceberg_table": name},
        )
        return result
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------
# orphan files
# ---------------------------------------------------------------------------
@dataclass
class OrphanResult:
    table: str
    files_listed: int = 0
    referenced_files: int = 0
    orphan_files: int = 0  # unreferenced files, whatever their age
    removed_files: int = 0
    removed_bytes: int = 0
    kept_young_files: int = 0  # unreferenced, but younger than the safety age
    removed_paths: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _path_key(location: str) -> str:
    """A location in the form the file system lists it (no scheme; bucket/key for object stores)."""
    from pyiceberg.io.pyarrow import PyArrowFileIO

    return PyArrowFileIO.parse_location(location)[2]


def referenced_files(table: Table) -> set[str]:
    """Every file the table's metadata (as loaded) references, as ``_path_key``: the metadata
    file and its log, statistics files, and the manifest lists, manifests and live files of
    every snapshot."""
    metadata = table.metadata
    paths = {table.metadata_location, *(entry.metadata_file for entry in metadata.metadata_log)}
    paths.update(s.statistics_path for s in metadata.statistics)
    paths.update(s.statistics_path for s in getattr(metadata, "partition_statistics", []) or [])
    paths.update(_reachable(table, metadata.snapshots, {}))
    return {_path_key(p) for p in paths if p}


def _delete_file(io: FileIO, path: str, size: int, what: str) -> int | None:
    """Delete one file; return its size (looked up first when ``size`` is negative), or None when it was
    gone already or could not be deleted (a warning naming ``what``: a later run, or the orphan removal,
    tries again)."""
    try:
        if size < 0:
            size = len(io.new_input(path))
        io.delete(path)
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - a later run tries again
        log.warning("%s: could not delete %s: %s", what, path, exc)
        return None
    return size


def _list_files(table: Table) -> list[tuple[str, datetime | None, int]]:
    """``(path key, modified, size)`` of every file under the table's location."""
    from pyarrow.fs import FileSelector, FileType
    from pyiceberg.io.pyarrow import PyArrowFileIO

    io = table.io if isinstance(table.io, PyArrowFileIO) else PyArrowFileIO(table.io.properties)
    scheme, netloc, path = PyArrowFileIO.parse_location(table.location(), io.properties)
    fs = io.fs_by_scheme(scheme, netloc)
    infos = fs.get_file_info(FileSelector(path.rstrip("/"), recursive=True, allow_not_found=True))
    out = []
    for info in infos:
        if info.type == FileType.File:
            mtime = info.mtime
            if mtime is not None and mtime.tzinfo is None:
                mtime = mtime.replace(tzinfo=UTC)
            out.append((info.path, mtime, info.size or 0))
    return out


def remove_orphan_files(
    table: Table, *, min_age: timedelta, now: datetime | None = None, dry_run: bool = False
) -> OrphanResult:
    """Delete the files under the table's location that nothing references and that are older than ``min_age``."""
    from pyiceberg.io.pyarrow import PyArrowFileIO

    name = _name(table)
    result = OrphanResult(table=name, dry_run=dry_run)
    table.refresh()
    # list first, then read what is referenced: a commit landing in between only makes files referenced
    listed = _list_files(table)
    table.refresh()
    referenced = referenced_files(table)
    cutoff = (now or datetime.now(UTC)) - min_age
    io = table.io
    scheme, netloc, _ = PyArrowFileIO.parse_location(table.location(), io.properties)
    result.files_listed = len(listed)
    result.referenced_files = len(referenced)
    for path, modified, size in listed:
        if path in referenced:
            continue
        result.orphan_files += 1
        if modified is None or modified >= cutoff:
            result.kept_young_files += 1
            continue
        location = f"{scheme}://{path}" if scheme != "file" else path
        if not dry_run and _delete_file(io, location, size, f"orphan removal of {name}") is None:
            continue
        result.removed_files += 1
        result.removed_bytes += size
        result.removed_paths.append(location)
    log.info(
        "orphan removal of %s: %d files listed, %d unreferenced: %d (%d bytes) older than %s %s, "
        "%d younger kept",
        name, result.files_listed, result.orphan_files, result.removed_files, result.removed_bytes,
        cutoff.isoformat(), "would be removed (dry run)" if dry_run else "removed", result.kept_young_files,
        extra={"iceberg_table": name},
    )
    return result


# ---------------------------------------------------------------------------
# with the settings
# ---------------------------------------------------------------------------
def compact_with(table: Table, settings: Settings) -> CompactionResult:
    return compact(
        table,
        target_file_bytes=settings.compaction_target_file_bytes,
        small_file_bytes=settings.compaction_small_file_bytes,
        min_input_files=settings.compaction_min_input_files,
        attempts=settings.compaction_commit_attempts,
    )


def expire_with(table: Table, settings: Settings, *, now: datetime | None = None) -> ExpiryResult:
    return expire_snapshots(
        table,
        retention=timedelta(days=settings.snapshot_retention_days),
        retain_last=settings.snapshot_retain_last,
        now=now,
    )


def remove_orphans_with(
    table: Table, settings: Settings, *, now: datetime | None = None, dry_run: bool = False
) -> OrphanResult:
    return remove_orphan_files(table, min_age=timedelta(days=settings.orphan_file_min_age_days), now=now, dry_run=dry_run)
