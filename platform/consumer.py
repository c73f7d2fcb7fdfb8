"""The stream consumer: stream chunks -> data_processor_rs -> Iceberg, exactly once.

Exactly-once, the way Kafka Connect's Iceberg sink does it: every Iceberg commit
stores, in its snapshot summary, the stream position (shard -> last sequence
number) that the commit includes. On start the consumer reads those positions
back from the tables themselves, so a crash between writing files, committing
and updating job status can neither lose nor duplicate an acknowledged record:

* a chunk whose sequence number is at or below a table's stored position is
  already in that table and is not appended again;
* valid rows go to ``raw.<dataset>`` and rejected rows to
  ``raw.rejected_records``; each table keeps its own position per dataset
  (``eventlake.checkpoint.<dataset>``), so a crash between the two commits
  replays only what is missing;
* job bookkeeping (``JobStore.record_chunk``) is idempotent per chunk.

One drainer at a time holds a lease in the job database, so the long-running
``eventlake consume`` process and a Dagster ``raw_*`` materialization never
interleave their commits.

The work is split in two phases so the Dagster IO manager can own the writes:
``Consumer.plan()`` reads and processes (no side effects) and returns an
``IngestBatch``; ``commit_batch()`` appends it to Iceberg and records the jobs.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import sqlalchemy as sa

from eventlake import contracts, envelope
from eventlake.settings import Settings

log = logging.getLogger("eventlake.consumer")

CHECKPOINT_PREFIX = "eventlake.checkpoint."
Checkpoint = dict[str, str]  # shard id -> last committed sequence number


def _seq(value: str) -> int:
    return int(value)


def checkpoint_key(dataset: str) -> str:
    return CHECKPOINT_PREFIX + dataset


def read_checkpoints(table) -> dict[str, Checkpoint]:
    """Positions stored in the newest snapshot that carries any (walks parents).

    Returns {dataset: {shard: sequence}}. Snapshots written without positions
    (e.g. a manual append through the IO manager) are skipped over.
    """
    metadata = table.metadata
    snapshot = metadata.current_snapshot()
    while snapshot is not None:
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        found = {
            key[len(CHECKPOINT_PREFIX) :]: json.loads(value)
            for key, value in summary.items()
            if key.startswith(CHECKPOINT_PREFIX)
        }
        if found:
            return found
        if snapshot.parent_snapshot_id is None:
            break
        snapshot = metadata.snapshot_by_id(snapshot.parent_snapshot_id)
    return {}


def _advance(checkpoint: Checkpoint, shard: str, seq: str) -> None:
    if shard not in checkpoint or _seq(seq) > _seq(checkpoint[shard]):
        checkpoint[shard] = seq


# ---------------------------------------------------------------------------
# the lease: one drainer at a time
# ---------------------------------------------------------------------------
_lease_meta = sa.MetaData()
_leases = sa.Table(
    "consumer_leases",
    _lease_meta,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("owner", sa.String(256), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


class LeaseHeld(RuntimeError):
    """Another drainer holds the stream lease."""


class Lease:
    """A named, expiring lease in the job database (SQLite or Postgres)."""

    def __init__(self, engine: sa.Engine, name: str, ttl_seconds: float = 60.0):
        self.engine = engine
        self.name = name
        self.ttl = timedelta(seconds=ttl_seconds)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        _lease_meta.create_all(engine, checkfirst=True)

    def acquire(self) -> bool:
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            taken = conn.execute(
                sa.update(_leases)
                .where(_leases.c.name == self.name)
                .where(sa.or_(_leases.c.owner == self.owner, _leases.c.expires_at < now))
                .values(owner=self.owner, expires_at=now + self.ttl)
            ).rowcount
            if taken:
                return True
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(_leases).values(name=self.name, owner=self.owner, expires_at=now + self.ttl))
            return True
        except sa.exc.IntegrityError:
            return False

    def holder(self) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_leases.c.owner, _leases.c.expires_at).where(_leases.c.name == self.name)).first()
        if row is None:
            return None
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
        return row.owner if expires > datetime.now(UTC) else None

    def release(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(_leases).where(_leases.c.name == self.name).where(_leases.c.owner == self.owner))


# ---------------------------------------------------------------------------
# read positions: where to start reading, per dataset and shard
# ---------------------------------------------------------------------------
_positions = sa.Table(
    "consumer_positions",
    _lease_meta,
    sa.Column("stream", sa.String(256), primary_key=True),
    sa.Column("dataset", sa.String(64), primary_key=True),
    sa.Column("shard_id", sa.String(128), primary_key=True),
    sa.Column("sequence_number", sa.String(128), nullable=False),
)


class ReadPositions:
    """How far the stream has been read *and fully committed*, per dataset and shard.

    Written only after every table of a batch has committed, so it is a safe
    place to resume reading from; the tables' own positions still decide what
    is appended. Without it, a shard that never carries (say) users would be
    re-read from the start on every pass just because raw.users has no
    position for it.
    """

    def __init__(self, engine: sa.Engine, stream: str):
        self.engine = engine
        self.stream = stream
        _lease_meta.create_all(engine, checkfirst=True)

    def get(self, dataset: str) -> Checkpoint:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(_positions.c.shard_id, _positions.c.sequence_number)
                .where(_positions.c.stream == self.stream, _positions.c.dataset == dataset)
            ).all()
        return {r.shard_id: r.sequence_number for r in rows}

    def advance(self, datasets: Iterable[str], positions: Checkpoint) -> None:
        with self.engine.begin() as conn:
            for dataset in datasets:
                current = {
                    r.shard_id: r.sequence_number
                    for r in conn.execute(
                        sa.select(_positions.c.shard_id, _positions.c.sequence_number)
                        .where(_positions.c.stream == self.stream, _positions.c.dataset == dataset)
                    )
                }
                for shard, seq in positions.items():
                    if shard not in current:
                        conn.execute(sa.insert(_positions).values(stream=self.stream, dataset=dataset, shard_id=shard, sequence_number=seq))
                    elif _seq(seq) > _seq(current[shard]):
                        conn.execute(
                            sa.update(_positions)
                            .where(_positions.c.stream == self.stream, _positions.c.dataset == dataset,
                                   _positions.c.shard_id == shard)
                            .values(sequence_number=seq)
                        )


# ---------------------------------------------------------------------------
# the batch produced by plan() and committed by commit_batch()
# ---------------------------------------------------------------------------
@dataclass
class ChunkOutcome:
    job_id: str
    part: int
    dataset: str
    shard_id: str
    sequence_number: str
    accepted: int
    rejected: int
    duplicates: int


@dataclass
class DatasetBatch:
    dataset: str
    valid: list[pa.Table] = field(default_factory=list)
    rejected: list[pa.Table] = field(default_factory=list)
    # positions after this batch (only advanced for chunks the table lacks)
    valid_checkpoint: Checkpoint = field(default_factory=dict)
    rejected_checkpoint: Checkpoint = field(default_factory=dict)
    valid_dirty: bool = False
    rejected_dirty: bool = False
    chunks: list[ChunkOutcome] = field(default_factory=list)


@dataclass
class IngestBatch:
    """What one drain pass read and processed; committed by ``commit_batch``."""

    datasets: dict[str, DatasetBatch] = field(default_factory=dict)
    stream_records: int = 0
    # last sequence number read per shard, and where to record it once committed
    read_to: Checkpoint = field(default_factory=dict)
    positions: ReadPositions | None = None
    # held while the batch is planned and until it is committed
    lease: Lease | None = None

    @property
    def empty(self) -> bool:
        return self.stream_records == 0

    def summary(self) -> dict[str, int]:
        return {
            "stream_records": self.stream_records,
            "accepted": sum(c.accepted for d in self.datasets.values() for c in d.chunks),
            "rejected": sum(c.rejected for d in self.datasets.values() for c in d.chunks),
            "duplicates": sum(c.duplicates for d in self.datasets.values() for c in d.chunks),
        }


@dataclass
class CommitResult:
    snapshots: dict[str, int | None]  # table name -> snapshot id committed (None = nothing new)
    summary: dict[str, int]


def _rejected_table(rejected: pa.Table, *, job_id: str, dataset: str, first_index: int, now: datetime) -> pa.Table:
    n = rejected.num_rows
    index = pa.compute.add(rejected.column("record_index").cast(pa.int64()), first_index)
    return pa.table(
        {
            "job_id": pa.array([job_id] * n, pa.string()),
            "dataset": pa.array([dataset] * n, pa.string()),
            "record_index": index,
            "raw": rejected.column("raw").cast(pa.string()),
            "violations": rejected.column("violations").cast(pa.string()),
            "rejected_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
        }
    )


def _dead_letter(payload: bytes, header: envelope.ChunkHeader, error: Exception, now: datetime) -> pa.Table:
    """A chunk the processor could not handle at all is kept whole, never dropped."""
    violation = [{"field": None, "rule": "processing_error", "value": None, "message": f"{type(error).__name__}: {error}"}]
    return pa.table(
        {
            "job_id": pa.array([header.job_id], pa.string()),
            "dataset": pa.array([header.dataset], pa.string()),
            "record_index": pa.array([header.first_index], pa.int64()),
            "raw": pa.array([payload.decode("utf-8", "replace")], pa.string()),
            "violations": pa.array([json.dumps(violation)], pa.string()),
            "rejected_at": pa.array([now], pa.timestamp("us", tz="UTC")),
        }
    )


class Consumer:
    """Reads the stream, processes chunks in Rust and commits them to Iceberg."""

    def __init__(self, settings: Settings, *, stream=None, catalog=None, jobs=None):
        from eventlake.jobs import JobStore
        from eventlake.resources import iceberg
        from eventlake.resources.stream import open_stream

        self.settings = settings
        settings.ensure_home()
        self.stream = stream or open_stream(settings)
        self.stream.ensure()
        self.catalog = catalog or iceberg.load_catalog(settings)
        self.tables = iceberg.ensure_tables(self.catalog)
        self.jobs = jobs or JobStore(settings.job_db)
        self.lease = Lease(self.jobs.engine, f"stream:{settings.stream_name}")
        self.positions = ReadPositions(self.jobs.engine, settings.stream_name)

    # -- phase 1: read + process, no side effects ---------------------------------
    def plan(self, datasets: Sequence[str] = contracts.DATASETS, *, max_records: int | None = None) -> IngestBatch:
        import data_processor_rs as dp

        for table in self.tables.values():
            table.refresh()
        valid_ckpts = {d: read_checkpoints(self.tables[d]).get(d, {}) for d in datasets}
        rejected_all = read_checkpoints(self.tables[contracts.REJECTED_TABLE])
        rejected_ckpts = {d: rejected_all.get(d, {}) for d in datasets}

        read_positions = {d: self.positions.get(d) for d in datasets}
        batch = IngestBatch(
            datasets={
                d: DatasetBatch(d, valid_checkpoint=dict(valid_ckpts[d]), rejected_checkpoint=dict(rejected_ckpts[d]))
                for d in datasets
            },
            positions=self.positions,
        )
        limit = max_records or self.settings.consumer_batch_records
        now = datetime.now(UTC)
        seen: dict[str, list[str]] = {d: [] for d in datasets}

        for shard in self.stream.shard_ids():
            start = self._start(shard, datasets, read_positions, valid_ckpts, rejected_ckpts)
            for record in self._read_whole_jobs(shard, start, limit):
                batch.stream_records += 1
                batch.read_to[shard] = record.sequence_number
                header, payload = envelope.decode(record.data)
                if header.dataset not in batch.datasets:
                    continue
                dbatch = batch.datasets[header.dataset]
                in_valid = shard in valid_ckpts[header.dataset] and _seq(record.sequence_number) <= _seq(
                    valid_ckpts[header.dataset][shard]
                )
                in_rejected = shard in rejected_ckpts[header.dataset] and _seq(record.sequence_number) <= _seq(
                    rejected_ckpts[header.dataset][shard]
                )
                outcome = ChunkOutcome(header.job_id, header.part, header.dataset, shard, record.sequence_number, 0, 0, 0)
                schema = contracts.VALIDATION_SCHEMAS[header.dataset]
                try:
                    result = dp.process(
                        payload,
                        header.format,
                        contracts.validation_schema_json(header.dataset),
                        contracts.transform_rules_json(header.dataset),
                        seen=seen[header.dataset] if schema.get("key") else None,
                    )
                except Exception as exc:  # noqa: BLE001 - any processor failure dead-letters the chunk
                    log.error(
                        "processor failed on chunk job=%s part=%s (%s); keeping it whole in rejected_records",
                        header.job_id, header.part, exc,
                    )
                    outcome.rejected = header.record_count
                    if not in_rejected:
                        dbatch.rejected.append(_dead_letter(payload, header, exc, now))
                        dbatch.rejected_dirty = True
                else:
                    valid = pa.table(result.valid)
                    rejected = pa.table(result.rejected)
                    if schema.get("key"):
                        seen[header.dataset].extend(valid.column(schema["key"]).to_pylist())
                    outcome.accepted = valid.num_rows
                    outcome.rejected = rejected.num_rows
                    outcome.duplicates = result.duplicate_count
                    if not in_valid:
                        dbatch.valid.append(self._valid_table(valid, header.job_id, now))
                        dbatch.valid_dirty = True
                    if not in_rejected and rejected.num_rows:
                        dbatch.rejected.append(
                            _rejected_table(rejected, job_id=header.job_id, dataset=header.dataset,
                                            first_index=header.first_index, now=now)
                        )
                        dbatch.rejected_dirty = True
                if not in_valid:
                    _advance(dbatch.valid_checkpoint, shard, record.sequence_number)
                    dbatch.valid_dirty = True
                if not in_rejected:
                    _advance(dbatch.rejected_checkpoint, shard, record.sequence_number)
                    dbatch.rejected_dirty = True
                dbatch.chunks.append(outcome)
        return batch

    @staticmethod
    def _start(shard, datasets, read_positions, valid_ckpts, rejected_ckpts) -> str | None:
        """Lowest position any dataset in scope still needs on this shard (None = from the start)."""
        starts = []
        for d in datasets:
            if shard in read_positions[d]:
                starts.append(read_positions[d][shard])
                continue
            table_positions = [valid_ckpts[d].get(shard), rejected_ckpts[d].get(shard)]
            if None in table_positions:
                return None
            starts.append(min(table_positions, key=_seq))
        return min(starts, key=_seq) if starts else None

    def _read_whole_jobs(self, shard: str, start: str | None, limit: int) -> Iterable:
        """Read ``limit`` records, then on until the last job read is complete.

        A job's chunks sit in one shard in order; finishing the job inside one
        batch lets the processor deduplicate across all of its chunks.
        """
        records = self.stream.read(shard, start, limit)
        while records:
            header, _ = envelope.decode(records[-1].data)
            if header.part >= header.parts - 1:
                break
            more = self.stream.read(shard, records[-1].sequence_number, header.parts - 1 - header.part)
            if not more:
                break
            records.extend(more)
        return records

    def _valid_table(self, valid: pa.Table, job_id: str, now: datetime) -> pa.Table:
        if "_index" in valid.column_names:
            valid = valid.drop_columns(["_index"])
        n = valid.num_rows
        valid = valid.append_column("job_id", pa.array([job_id] * n, pa.string()))
        return valid.append_column("ingested_at", pa.array([now] * n, pa.timestamp("us", tz="UTC")))

    # -- phase 2: commit -------------------------------------------------------
    def commit(self, batch: IngestBatch) -> CommitResult:
        return commit_batch(batch, self.tables, self.jobs, max_attempts=self.settings.consumer_max_attempts)

    # -- the loops -------------------------------------------------------------
    def run_once(self, datasets: Sequence[str] = contracts.DATASETS) -> CommitResult:
        """One drain pass: plan + commit the next batch (under the lease)."""
        if not self.lease.acquire():
            raise LeaseHeld(f"stream lease {self.lease.name!r} is held by {self.lease.holder()}")
        batch = self.plan(datasets)
        if batch.empty:
            return CommitResult({}, batch.summary())
        self._mark_processing(batch)
        return self.commit(batch)

    def drain(self, datasets: Sequence[str] = contracts.DATASETS) -> dict[str, int]:
        """Run passes until the stream has nothing new; release the lease."""
        totals: dict[str, int] = {}
        try:
            while True:
                result = self.run_once(datasets)
                if not result.summary["stream_records"]:
                    break
                for key, value in result.summary.items():
                    totals[key] = totals.get(key, 0) + value
        finally:
            self.lease.release()
        return totals

    def run_forever(self, stop=lambda: False) -> None:
        """Poll until ``stop()`` is true; failures back off and retry, nothing is skipped."""
        backoff = self.settings.consumer_poll_seconds
        try:
            while not stop():
                try:
                    result = self.run_once()
                except LeaseHeld as exc:
                    log.warning("%s; waiting", exc)
                    time.sleep(5)
                    continue
                except Exception:  # noqa: BLE001 - keep the consumer alive; the stream keeps the data
                    log.exception("consumer pass failed; retrying in %.1fs (checkpoint not advanced)", backoff)
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 60)
                    continue
                backoff = self.settings.consumer_poll_seconds
                if not result.summary["stream_records"]:
                    time.sleep(self.settings.consumer_poll_seconds)
        finally:
            self.lease.release()

    def _mark_processing(self, batch: IngestBatch) -> None:
        for job_id in {c.job_id for d in batch.datasets.values() for c in d.chunks}:
            self.jobs.mark_processing(job_id)

    def close(self) -> None:
        self.stream.close()


def commit_batch(batch: IngestBatch, tables: dict, jobs, *, max_attempts: int = 3) -> CommitResult:
    """Append a planned batch to Iceberg (valid rows, then rejected rows) and record its jobs.

    Each append carries the stream position it includes; retried with backoff
    up to ``max_attempts`` times (Property 16), after which the jobs are marked
    FAILED and the error is raised (the stream still holds every record).
    """
    snapshots: dict[str, int | None] = {}
    try:
        for dataset, dbatch in batch.datasets.items():
            table = tables[dataset]
            if dbatch.valid_dirty:
                props = {checkpoint_key(dataset): json.dumps(dbatch.valid_checkpoint, sort_keys=True)}
                data = pa.concat_tables(dbatch.valid) if dbatch.valid else None
                snap = _retry(lambda: commit_rows(table, data, props), max_attempts, f"append to {'.'.join(table.name())}")
                snapshots[dataset] = snap
            if dbatch.rejected_dirty:
                rejected_table = tables[contracts.REJECTED_TABLE]
                rejected_table.refresh()
                props = {checkpoint_key(d): json.dumps(c, sort_keys=True) for d, c in read_checkpoints(rejected_table).items()}
                props[checkpoint_key(dataset)] = json.dumps(dbatch.rejected_checkpoint, sort_keys=True)
                data = pa.concat_tables(dbatch.rejected) if dbatch.rejected else None
                _retry(lambda: commit_rows(rejected_table, data, props), max_attempts, "append to raw.rejected_records")
    except Exception as exc:
        for job_id in {c.job_id for d in batch.datasets.values() for c in d.chunks}:
            jobs.mark_failed(job_id, f"iceberg commit failed: {exc}")
        raise

    # each successful commit updated its table's metadata in place: no reload
    for dataset, dbatch in batch.datasets.items():
        current = tables[dataset].metadata.current_snapshot()
        for chunk in dbatch.chunks:
            jobs.record_chunk(
                chunk.job_id, chunk.part, chunk.accepted, chunk.rejected, chunk.duplicates,
                current.snapshot_id if current else None,
            )
    if batch.positions is not None and batch.read_to:
        batch.positions.advance(batch.datasets, batch.read_to)
    summary = batch.summary()
    log.info("committed %s", summary)
    return CommitResult(snapshots, summary)


def commit_rows(table, data: pa.Table | None, snapshot_properties: dict[str, str]) -> int | None:
    """Append ``data`` with the stream position; with no rows, commit the position alone.

    An all-rejected chunk still moves the table's position forward, so it is not
    re-read on every pass.
    """
    from eventlake.resources import iceberg

    if data is not None and data.num_rows:
        snapshot = iceberg.append_arrow(table, data, snapshot_properties=snapshot_properties)
    else:
        with table.transaction() as tx:
            with tx.update_snapshot(snapshot_properties=snapshot_properties).fast_append():
                pass
        snapshot = table.metadata.current_snapshot()
    return snapshot.snapshot_id if snapshot is not None else None


def _retry(fn, attempts: int, what: str):
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001
            if attempt == attempts:
                log.error("%s failed after %d attempts: %s", what, attempts, exc)
                raise
            log.warning("%s failed (attempt %d/%d): %s; retrying in %.1fs", what, attempt, attempts, exc, delay)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
