"""Commit a planned batch to Iceberg: fenced, never blind, and no record can block it.

Order of work (``commit_batch``):

1. **Write** each dataset's valid rows as data files: the files the consumer
   wrote in the background while it planned the batch (``Prewrite``), else
   written now. If the files cannot be written or could not be committed
   (``probe``: a fast append of the same files to an empty in-memory copy of the
   table, never committed), they are deleted, written again and the
   batch is narrowed down to the offending chunk and then to its records by
   bisection. Those records are **set aside** into ``raw.rejected_records``
   with rule ``write_error`` and the error; everything else goes on. This is the
   dead-letter behaviour of Kafka Connect's ``errors.tolerance=all`` with a DLQ.
   Errors of the infrastructure (I/O, network, database) are not narrowed:
   the pass fails and is retried, and the stream still holds every record.
2. **Commit** the rejected rows (one snapshot for every dataset of the batch),
   then each dataset's valid files. Rejected rows go first so that a record set
   aside at write time is in ``rejected_records`` before the position that
   skips it is stored; a crash in between replays the chunk and sets it aside
   again.
3. **Record** each chunk with the job store (idempotent per chunk) and advance
   the read positions.

Every commit attempt is **fenced** (``commit_fenced``): it re-reads the table's
stored positions and lease epochs, renews the lease at the batch's epoch, and
lands only if nothing moved since the batch was planned. Otherwise it raises
``StaleBatch`` and nothing of the batch is committed by this attempt; the
consumer plans again from the tables. A consumer paused past its lease can
therefore never commit, and stored positions never go backwards. pyiceberg's
own commit retry is off for these tables (``commit.retry.num-retries=0``), so no
layer re-appends without re-checking.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from eventlake import checkpoints, contracts, faults
from eventlake.batch import ChunkOutcome, IngestBatch, Prewrite, rejected_rows, violation_json
from eventlake.checkpoints import Checkpoint

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

    from eventlake.leases import ShardLeases

log = logging.getLogger("eventlake.committer")

#: attempts of one fenced commit on a concurrent update (each re-validates first)
COMMIT_ATTEMPTS = 5
WRITE_ERROR_RULE = "write_error"


class StaleBatch(RuntimeError):
    """The batch was planned from positions the table no longer has, or its lease is gone.

    Nothing of it was committed by the attempt that raised; plan again.
    """


@dataclass
class CommitResult:
    snapshots: dict[str, int | None]  # table name -> snapshot id committed (None = nothing new)
    summary: dict[str, int]


# ---------------------------------------------------------------------------
# error classes
# ---------------------------------------------------------------------------
_INFRA_MODULES = ("botocore", "aiobotocore", "s3fs", "fsspec", "urllib3", "requests", "sqlalchemy", "psycopg")


def is_infrastructure_error(exc: BaseException) -> bool:
    """True for failures of the machinery (I/O, network, a database), not of the data."""
    from pyiceberg.exceptions import CommitFailedException, CommitStateUnknownException

    if isinstance(exc, (OSError, CommitFailedException, CommitStateUnknownException, StaleBatch)):
        return True
    return any(type(e).__module__.split(".")[0] in _INFRA_MODULES for e in type(exc).__mro__)


# ---------------------------------------------------------------------------
# phase 1: write, setting aside what cannot be committed
# ---------------------------------------------------------------------------
def probe(table: Table, data_files: list[DataFile]) -> None:
    """Raise what committing ``data_files`` to ``table`` would raise for their content.

    Fast-appends them to an empty in-memory copy of the table (its schema,
    partitioning and properties, located in a scratch directory): the
    manifests, the manifest list, the snapshot summary and the new metadata
    are built exactly as for the real commit, and the metadata is serialized as
    a catalog would write it. Nothing is committed anywhere; no data file is read.
    """
    from pyiceberg.catalog.noop import NoopCatalog
    from pyiceberg.io import load_file_io
    from pyiceberg.table import Table as IcebergTable
    from pyiceberg.table.metadata import new_table_metadata
    from pyiceberg.table.sorting import UNSORTED_SORT_ORDER

    root = tempfile.mkdtemp(prefix="eventlake-probe-")
    try:
        location = f"file://{root}"
        properties = {**table.metadata.properties, "format-version": str(table.format_version)}
        metadata = new_table_metadata(table.schema(), table.spec(), UNSORTED_SORT_ORDER, location, properties)
        scratch = IcebergTable(("probe", "scratch"), metadata, f"{location}/metadata/probe.metadata.json",
                               load_file_io(location=location), NoopCatalog("probe"))
        tx = scratch.transaction()  # never committed
        with tx.update_snapshot().fast_append() as append:
            for data_file in data_files:
                append.append_data_file(data_file)
        tx.table_metadata.model_dump_json()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _probe_rows(table: Table, rows: pa.Table) -> None:
    """Write ``rows`` to a scratch directory as ``table`` would, and probe the commit."""
    import data_processor_rs as dp

    from eventlake import lake

    scratch = tempfile.mkdtemp(prefix="eventlake-narrow-")
    try:
        files = dp.write_iceberg_parquet(rows, scratch, table.schema().model_dump_json(), table.spec().model_dump_json())
        probe(table, [lake.to_data_file(table, f) for f in files])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _fault(table: Table, rows: pa.Table) -> str | None:
    """The error that stops ``rows`` from being committed, or None."""
    try:
        _probe_rows(table, rows)
    except Exception as exc:  # noqa: BLE001 - classified below
        if is_infrastructure_error(exc):
            raise
        return f"{type(exc).__name__}: {exc}"
    return None


def _bisect(table: Table, rows: pa.Table, error: str) -> list[tuple[int, str]]:
    """Positions of the rows of ``rows`` (known to fail with ``error``) that fail on their own."""
    if rows.num_rows == 1:
        return [(0, error)]
    half = rows.num_rows // 2
    bad: list[tuple[int, str]] = []
    for offset, part in ((0, rows.slice(0, half)), (half, rows.slice(half))):
        fault = _fault(table, part)
        if fault is not None:
            bad.extend((offset + i, e) for i, e in _bisect(table, part, fault))
    if not bad:  # only the combination fails: set aside the whole slice, never loop
        bad = [(i, error) for i in range(rows.num_rows)]
    return bad


def _set_aside(
    table: Table, pieces: list[tuple[ChunkOutcome, pa.Table]], error: Exception, now: datetime
) -> tuple[list[pa.Table], list[pa.Table]]:
    """Split ``pieces`` into rows that can be committed and rejected rows for those that cannot."""
    import pyarrow.compute as pc

    name = ".".join(table.name())
    log.warning("%s: the batch cannot be committed (%s: %s); narrowing it down", name, type(error).__name__, error)
    good: list[pa.Table] = []
    rejected: list[pa.Table] = []
    for outcome, rows in pieces:
        fault = _fault(table, rows)
        if fault is None:
            good.append(rows)
            continue
        bad = _bisect(table, rows, fault)
        positions = [i for i, _ in bad]
        keep = pc.invert(pc.is_in(pa.array(range(rows.num_rows), pa.int64()), value_set=pa.array(positions, pa.int64())))
        good.append(rows.filter(keep))
        taken = rows.take(pa.array(positions, pa.int64()))
        stored = taken.drop_columns([c for c in ("job_id", "ingested_at", "_index") if c in taken.column_names])
        raws = [_row_json(r) for r in _printable(stored).to_pylist()]
        index = (
            pc.add(taken.column("_index").cast(pa.int64()), outcome.first_index)
            if "_index" in taken.column_names
            else pa.array([outcome.first_index] * len(bad), pa.int64())
        )
        message = f"could not be written to {name}: " + bad[0][1]
        rejected.append(
            rejected_rows(
                job_id=outcome.job_id,
                dataset=outcome.dataset,
                record_index=index,
                raw=pa.array(raws, pa.string()),
                violations=pa.array([violation_json(WRITE_ERROR_RULE, f"could not be written to {name}: {e}") for _, e in bad]),
                now=now,
            )
        )
        outcome.accepted -= len(bad)
        outcome.rejected += len(bad)
        outcome.error = f"{len(bad)} record(s) set aside in rejected_records: {message}"
        log.error(
            "%s: job %s part %d: %d record(s) set aside in %s.%s: %s",
            name, outcome.job_id, outcome.part, len(bad), contracts.RAW_NAMESPACE, contracts.REJECTED_TABLE, message,
            extra={"job_id": outcome.job_id, "part": outcome.part},
        )
    return good, rejected


def _printable(rows: pa.Table) -> pa.Table:
    """``rows`` with temporal columns as text: a value Python cannot hold (year 10000) still prints."""
    import pyarrow.compute as pc

    for i, f in enumerate(rows.schema):
        if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type):
            try:
                text = pc.strftime(rows.column(i), format="%Y-%m-%dT%H:%M:%S" if pa.types.is_timestamp(f.type) else "%Y-%m-%d")
            except pa.ArrowException:
                text = rows.column(i).cast(pa.int64()).cast(pa.string())
            rows = rows.set_column(i, f.name, text)
    return rows


def _row_json(row: Mapping[str, Any]) -> str:
    import json

    return json.dumps(row, default=str, sort_keys=True)


def write_files(table: Table, pieces: list[tuple[ChunkOutcome, pa.Table]]) -> tuple[list[dict], str | None]:
    """Write the rows of ``pieces`` as data files of ``table`` (``lake.write_data_files``' result)."""
    from eventlake import lake

    return lake.write_data_files(table, pa.concat_tables([rows for _, rows in pieces], promote_options="permissive"))


def _prewritten(
    table: Table, pieces: list[tuple[ChunkOutcome, pa.Table]], prewrites: list[Prewrite]
) -> tuple[list[DataFile], list[str], list[str]] | None:
    """The files written in the background for ``pieces`` if they cover them all and can be committed, else None.

    Anything short of that (a gap, a failed write, a probe that fails) deletes them: ``write_valid``
    then writes again from the rows, narrowing down what cannot be committed.
    """
    from eventlake import lake

    covered = 0
    for prewrite in prewrites:
        covered = prewrite.end if prewrite.start == covered and prewrite.covers(pieces) else -1
    metas: list[dict] = []
    stagings: list[str] = []
    usable = covered == len(pieces)
    for prewrite in prewrites:
        try:
            files, staging = prewrite.future.result()
        except Exception as exc:  # noqa: BLE001 - written again below, where the error is handled
            log.warning("%s: background write failed (%s: %s); writing again", ".".join(table.name()),
                        type(exc).__name__, exc)
            usable = False
            continue
        metas.extend(files)
        if staging is not None:
            stagings.append(staging)
    paths = [f["file_path"] for f in metas]
    if usable:
        try:
            data_files = [lake.to_data_file(table, f) for f in metas]
            probe(table, data_files)
            return data_files, paths, stagings
        except Exception as exc:  # noqa: BLE001 - infrastructure errors come back from the rewrite
            log.warning("%s: the background-written files cannot be committed (%s: %s); writing again",
                        ".".join(table.name()), type(exc).__name__, exc)
    lake.delete_quietly(table, paths)
    for staging in stagings:
        shutil.rmtree(staging, ignore_errors=True)
    return None


def write_valid(
    table: Table, pieces: list[tuple[ChunkOutcome, pa.Table]], now: datetime, prewrites: list[Prewrite] | None = None
) -> tuple[list[DataFile], list[str], list[str], list[pa.Table]]:
    """Write the valid rows of ``pieces``; returns (data files, their paths, staging dirs, rows set aside).

    ``prewrites``: files already written for ``pieces`` while the batch was planned; used when they
    cover every piece and pass the probe.
    """
    from eventlake import lake

    if prewrites:
        ready = _prewritten(table, pieces, prewrites)
        if ready is not None:
            return (*ready, [])
    data = pa.concat_tables([rows for _, rows in pieces], promote_options="permissive")
    set_aside: list[pa.Table] = []
    for attempt in (1, 2):
        if data.num_rows == 0:
            return [], [], [], set_aside
        files: list[dict] = []
        staging = None
        try:
            files, staging = lake.write_data_files(table, data)
            data_files = [lake.to_data_file(table, f) for f in files]
            probe(table, data_files)
            return data_files, [f["file_path"] for f in files], [staging] if staging else [], set_aside
        except Exception as exc:
            lake.delete_quietly(table, [f["file_path"] for f in files])
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            if is_infrastructure_error(exc) or attempt == 2:
                raise
            good, set_aside = _set_aside(table, pieces, exc, now)
            if not set_aside:
                raise  # no piece fails on its own: not the data, retry the pass
            data = pa.concat_tables(good, promote_options="permissive")
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------
# phase 2: fenced commits
# ---------------------------------------------------------------------------
def commit_fenced(
    table: Table,
    data_files: list[DataFile],
    *,
    base: Mapping[str, Checkpoint],
    positions: Mapping[str, Checkpoint],
    epochs: Mapping[str, int],
    leases: ShardLeases | None,
    verify: Callable[[Table], None] | None = None,
    attempts: int = COMMIT_ATTEMPTS,
) -> Snapshot:
    """Fast-append ``data_files`` with the new ``positions`` (per dataset), fenced.

    Each attempt refreshes the table and lands only if, for every shard this
    commit moves, the stored position still equals ``base`` (what the batch was
    planned from), no stored epoch is above the shard's epoch in ``epochs``,
    and the shard's lease is still held at that epoch; and ``verify(table)``
    passes. The positions of other shards and datasets are carried over from
    the refreshed table: consumers of other shards commit to the same table
    concurrently. Raises ``StaleBatch`` otherwise.
    """
    from pyiceberg.exceptions import CommitFailedException

    name = ".".join(table.name())
    delay = 0.05
    for attempt in range(1, attempts + 1):
        table.refresh()
        stored, fences = checkpoints.read_state(table)
        moved: dict[str, list[str]] = {}
        for dataset, new in positions.items():
            before = base.get(dataset, {})
            shards = [s for s, q in new.items() if before.get(s) != q]
            moved[dataset] = shards
            for shard in shards:
                now_at = stored.get(dataset, {}).get(shard)
                if now_at != before.get(shard):
                    raise StaleBatch(
                        f"{name}: {dataset} position of {shard} is {now_at}, the batch was planned from "
                        f"{before.get(shard)}: another consumer committed"
                    )
                epoch = epochs.get(shard, 0)
                fenced_at = fences.get(dataset, {}).get(shard, 0)
                if fenced_at > epoch:
                    raise StaleBatch(f"{name}: {dataset}/{shard} was committed at lease epoch {fenced_at} > {epoch}")
                if leases is not None and not leases.still_held(shard, epoch):
                    raise StaleBatch(f"{name}: the lease on {shard} is no longer held at epoch {epoch}")
        if verify is not None:
            verify(table)
        new_positions = {d: dict(c) for d, c in stored.items()}
        new_fences = {d: dict(f) for d, f in fences.items()}
        for dataset, shards in moved.items():
            for shard in shards:
                new_positions.setdefault(dataset, {})[shard] = positions[dataset][shard]
                new_fences.setdefault(dataset, {})[shard] = epochs.get(shard, 0)
        props = checkpoints.summary_properties(new_positions, new_fences)
        try:
            with table.transaction() as tx:
                with tx.update_snapshot(snapshot_properties=props).fast_append() as append:
                    for data_file in data_files:
                        append.append_data_file(data_file)
        except CommitFailedException as exc:
            if attempt == attempts:
                log.error("commit to %s failed after %d attempts: %s", name, attempt, exc)
                raise
            log.warning("commit to %s conflicted (attempt %d/%d): %s; re-checking", name, attempt, attempts, exc)
            time.sleep(delay)
            delay *= 2
            continue
        snapshot = table.metadata.current_snapshot()
        assert snapshot is not None
        log.info(
            "iceberg commit table=%s snapshot_id=%s records=%d files=%d epochs=%s",
            name, snapshot.snapshot_id, sum(f.record_count for f in data_files), len(data_files), dict(epochs),
            extra={"iceberg_table": name, "snapshot_id": snapshot.snapshot_id,
                   "record_count": sum(f.record_count for f in data_files),
                   "data_files": [f.file_path for f in data_files]},
        )
        return snapshot
    raise AssertionError("unreachable")


def commit_batch(batch: IngestBatch, tables: Mapping[str, Table], jobs, *, now: datetime | None = None) -> CommitResult:
    """Write, commit and record a planned batch (see the module docstring).

    Raises ``StaleBatch`` when another consumer moved the tables (plan again,
    nothing is lost) and the infrastructure's error when a table cannot be
    reached (the pass is retried; the stream keeps every record).
    """
    from eventlake import lake

    now = now or datetime.now(UTC)
    written: dict[str, tuple[list[DataFile], list[str], list[str]]] = {}
    rejected_by_dataset: dict[str, list[pa.Table]] = {d: list(b.rejected) for d, b in batch.datasets.items()}
    snapshots: dict[str, int | None] = {}
    # files written while the batch was planned: used once, by this attempt (a retry writes again)
    prewrites = {d: b.take_prewrites() for d, b in batch.datasets.items()}
    try:
        for dataset, dbatch in batch.datasets.items():
            if not dbatch.valid:
                continue
            data_files, paths, stagings, set_aside = write_valid(tables[dataset], dbatch.valid, now,
                                                                 prewrites.pop(dataset, None))
            written[dataset] = (data_files, paths, stagings)
            rejected_by_dataset[dataset].extend(set_aside)
        faults.point("committer.after_write")

        # before anything lands: a key another consumer stored since the plan makes the batch stale
        for dataset, check in batch.key_checks.items():
            if dataset in written:
                tables[dataset].refresh()
                check(tables[dataset])
        rejected_datasets = [d for d, parts in rejected_by_dataset.items() if parts]
        if rejected_datasets:
            rejected_table = tables[contracts.REJECTED_TABLE]
            data = pa.concat_tables([t for d in rejected_datasets for t in rejected_by_dataset[d]])
            files, staging = lake.write_data_files(rejected_table, data)
            try:
                snap = commit_fenced(
                    rejected_table,
                    [lake.to_data_file(rejected_table, f) for f in files],
                    base={d: batch.datasets[d].rejected_base for d in rejected_datasets},
                    positions={d: batch.datasets[d].rejected_checkpoint for d in rejected_datasets},
                    epochs=batch.epochs,
                    leases=batch.leases,
                )
            except BaseException:
                lake.delete_quietly(rejected_table, [f["file_path"] for f in files])
                raise
            finally:
                if staging is not None:
                    shutil.rmtree(staging, ignore_errors=True)
            snapshots[contracts.REJECTED_TABLE] = snap.snapshot_id
            faults.point("committer.after_rejected_commit")

        for dataset in list(written):
            data_files, paths, stagings = written[dataset]
            dbatch = batch.datasets[dataset]
            if data_files:
                try:
                    snap = commit_fenced(
                        tables[dataset],
                        data_files,
                        base={dataset: dbatch.valid_base},
                        positions={dataset: dbatch.valid_checkpoint},
                        epochs=batch.epochs,
                        leases=batch.leases,
                        verify=batch.key_checks.get(dataset),
                    )
                except BaseException:
                    lake.delete_quietly(tables[dataset], paths)
                    raise
                snapshots[dataset] = snap.snapshot_id
                faults.point("committer.after_valid_commit")
            for staging in stagings:
                shutil.rmtree(staging, ignore_errors=True)
            del written[dataset]
    finally:
        for dataset, (_, paths, stagings) in written.items():  # written, never committed
            if paths:
                lake.delete_quietly(tables[dataset], paths)
            for staging in stagings:
                shutil.rmtree(staging, ignore_errors=True)
        for left in prewrites.values():  # never reached: deleted
            for prewrite in left:
                prewrite.discard()

    from eventlake.state.ingestion_jobs import ChunkRecord

    records = []
    for dataset, dbatch in batch.datasets.items():
        current = tables[dataset].metadata.current_snapshot()
        snapshot_id = current.snapshot_id if current else None
        records.extend(
            ChunkRecord(c.job_id, c.part, c.accepted, c.rejected, c.duplicates, snapshot_id) for c in dbatch.chunks
        )
    jobs.record_chunks(records)  # one transaction for the whole batch
    for dbatch in batch.datasets.values():
        for chunk in dbatch.chunks:
            if chunk.error:
                jobs.note_error(chunk.job_id, chunk.error)
    faults.point("committer.after_record")
    if batch.positions is not None and batch.read_to:
        batch.positions.advance(batch.datasets, batch.read_to)
    faults.point("committer.after_positions")
    summary = batch.summary()
    log.info("committed %s", summary)
    return CommitResult(snapshots, summary)
