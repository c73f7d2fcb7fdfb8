"""The ingestion job store: one row per ingestion request, one row per processed chunk.

The API creates a job (PENDING) no later than it publishes the request's
chunks, in groups of requests (``api.group_commit``): when the stream is the
local log kept in this store's SQLite file, the job rows and the stream records
of a group are one transaction (``insert_jobs_sqlite`` on the stream's
connection), so no job can exist without its records. Otherwise (Kinesis, a
PostgreSQL store) ``create_jobs(..., unpublished=True)`` writes the rows
together with a publish intent per job, ``settle_publish`` clears the intents
once the records are in the stream (or marks the jobs FAILED when publishing
failed), and ``sweep_unpublished`` marks FAILED, with the reason, the jobs whose
intent outlived a threshold: the API stopped between the two steps and never
acknowledged them. The consumer moves a job to PROCESSING and records each
chunk's outcome with ``record_chunk``. Recording is idempotent per
``(job_id, part)``: the stream delivers at least once, so a replayed chunk must
never count twice. The chunk row and the job's counters change in one
transaction.

SQLAlchemy 2 Core on ``settings.job_db``: a SQLite file by default (WAL mode,
safe for the API and consumer processes together), PostgreSQL
(``postgresql+psycopg://``) in production. Tables are created on open.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from eventlake.state.database import sqlite_file

log = logging.getLogger("eventlake.ingestion_jobs")


class JobStatus(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Job:
    job_id: str
    dataset: str
    format: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    record_count: int
    accepted_count: int
    rejected_count: int
    duplicate_count: int
    snapshot_id: int | None
    error_message: str | None
    parts: int
    parts_done: int
    completed_at: datetime | None = None


@dataclass(frozen=True)
class NewJob:
    """A job the API is about to create: what ``create_jobs`` and ``insert_jobs_sqlite`` take."""

    job_id: str
    dataset: str
    format: str
    record_count: int
    parts: int


UNPUBLISHED_REASON = (
    "never published: the job's records did not reach the stream within {seconds:g} s of its creation "
    "(the API process stopped or lost the stream between creating the job and publishing it; "
    "the request was not acknowledged)"
)
"""``error_message`` of a job ``sweep_unpublished`` marks FAILED (``seconds`` = the threshold)."""

_metadata = MetaData()

jobs_table = Table(
    "eventlake_jobs",
    _metadata,
    Column("job_id", String(64), primary_key=True),
    Column("dataset", String(64), nullable=False),
    Column("format", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    # PENDING -> COMPLETED in seconds, kept as a number so metrics can average it in SQL
    Column("seconds_to_complete", Float, nullable=True),
    Column("record_count", BigInteger, nullable=False),
    Column("accepted_count", BigInteger, nullable=False, default=0),
    Column("rejected_count", BigInteger, nullable=False, default=0),
    Column("duplicate_count", BigInteger, nullable=False, default=0),
    Column("snapshot_id", BigInteger, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("parts", Integer, nullable=False),
    Column("parts_done", Integer, nullable=False, default=0),
)

chunks_table = Table(
    "eventlake_job_chunks",
    _metadata,
    Column("job_id", String(64), primary_key=True),
    Column("part", Integer, primary_key=True),
    Column("accepted", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("duplicates", BigInteger, nullable=False),
    Column("snapshot_id", BigInteger, nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)


unpublished_table = Table(
    # One row per job created before its records were published (stream and store are separate):
    # deleted once they are in the stream. What outlives the sweep threshold was never published.
    "eventlake_jobs_unpublished",
    _metadata,
    Column("job_id", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)

_JOB_ROW_COLUMNS = (
    "job_id", "dataset", "format", "status", "created_at", "updated_at", "record_count",
    "accepted_count", "rejected_count", "duplicate_count", "parts", "parts_done",
)
_SQLITE_INSERT_JOBS = f"INSERT INTO {jobs_table.name} ({', '.join(_JOB_ROW_COLUMNS)}) VALUES "
_SQLITE_JOB_VALUES = "(?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?, 0)"
_SQLITE_ROWS_PER_STATEMENT = 500


@dataclass(frozen=True)
class ChunkRecord:
    """One processed chunk's outcome, for ``IngestionJobStore.record_chunks`` (its fields are the chunk row's columns)."""

    job_id: str
    part: int
    accepted: int
    rejected: int
    duplicates: int
    snapshot_id: int | None


class JobNotFoundError(KeyError):
    """No job with this id."""


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _insert_ignoring_duplicates(engine: Engine, table: Table, values: dict[str, Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the dialects the store supports."""
    name = engine.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        raise ValueError(f"job store: unsupported database dialect {name!r} (use sqlite or postgresql)")
    # rowcount of an INSERT is reported only when asked for (SQLAlchemy 2.x)
    return dialect_insert(table).values(**values).on_conflict_do_nothing().execution_options(preserve_rowcount=True)


#: PostgreSQL ends a transaction left idle this long (ms): see ``IngestionJobStore._make_engine``.
IDLE_IN_TRANSACTION_MS = 5_000


class IngestionJobStore:
    """Tracks ingestion jobs in a SQL database (see module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = self._make_engine(url)
        self._create_tables()

    @staticmethod
    def _make_engine(url: str) -> Engine:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30})

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
                cursor = dbapi_conn.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=FULL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()

            return engine
        # A process paused inside a transaction (SIGSTOP, a GC pause, a frozen VM) would hold its row
        # locks until resumed; every transaction here lasts milliseconds, so the server ends one that
        # sits idle this long and its locks go to the others (the paused process's commit then fails).
        options = f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"
        return create_engine(url, pool_pre_ping=True, connect_args={"options": options})

    def _create_tables(self) -> None:
        # Two processes opening a fresh PostgreSQL store at once can race on CREATE TABLE.
        for attempt in range(3):
            try:
                _metadata.create_all(self.engine)
                return
            except DBAPIError:
                if attempt == 2:
                    raise
                time.sleep(0.2)

    # -- writes ----------------------------------------------------------------
    def create_job(self, job_id: str, dataset: str, fmt: str, record_count: int, parts: int) -> Job:
        self.create_jobs([NewJob(job_id, dataset, fmt, record_count, parts)])
        job = self.get(job_id)
        assert job is not None
        return job

    @staticmethod
    def _job_row(job: NewJob, now: datetime) -> dict[str, Any]:
        return dict(
            job_id=job.job_id,
            dataset=job.dataset,
            format=job.format,
            status=JobStatus.PENDING.value,
            created_at=now,
            updated_at=now,
            record_count=job.record_count,
            accepted_count=0,
            rejected_count=0,
            duplicate_count=0,
            parts=job.parts,
            parts_done=0,
        )

    def create_jobs(self, jobs: Sequence[NewJob], *, unpublished: bool = False) -> None:
        """Create PENDING jobs, all in one transaction (one commit for a whole group of requests).

        ``unpublished``: also record a publish intent per job, for a caller that publishes the
        records afterwards to a stream outside this database; ``settle_publish`` clears it, and
        ``sweep_unpublished`` fails the jobs whose intent is never cleared.
        """
        if not jobs:
            return
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(insert(jobs_table), [self._job_row(job, now) for job in jobs])
            if unpublished:
                conn.execute(insert(unpublished_table), [dict(job_id=job.job_id, created_at=now) for job in jobs])

    @property
    def sqlite_path(self) -> Path | None:
        """The database file when the store is a SQLite file (not in memory), else None."""
        return sqlite_file(self.url)

    def insert_jobs_sqlite(self, conn: sqlite3.Connection, jobs: Sequence[NewJob]) -> None:
        """Insert PENDING jobs through a plain ``sqlite3`` connection to this store's file.

        For a writer that holds its own transaction on the file (the local stream kept in the
        job database): the rows commit, or not, with whatever else that transaction writes. The
        stored values are exactly what ``create_jobs`` stores (SQLAlchemy's SQLite datetime text).
        """
        for sql, params in self.sqlite_job_inserts(jobs):
            conn.execute(sql, params)

    def sqlite_job_inserts(self, jobs: Sequence[NewJob]) -> list[tuple[str, list[Any]]]:
        """The statements ``insert_jobs_sqlite`` executes, built ahead (outside the transaction).

        Multi-row INSERTs, not executemany: one statement step, and one GIL round trip for the
        writer thread, per 500 jobs.
        """
        if not jobs:
            return []
        if self.engine.dialect.name != "sqlite":
            raise ValueError("insert_jobs_sqlite needs a SQLite job store")
        stamp = self._sqlite_datetime(_now())
        pending = JobStatus.PENDING.value
        statements = []
        step = _SQLITE_ROWS_PER_STATEMENT
        for start in range(0, len(jobs), step):
            part = jobs[start : start + step]
            params: list[Any] = []
            for j in part:
                params += (j.job_id, j.dataset, j.format, pending, stamp, stamp, j.record_count, j.parts)
            statements.append((_SQLITE_INSERT_JOBS + ", ".join([_SQLITE_JOB_VALUES] * len(part)), params))
        return statements

    def _sqlite_datetime(self, value: datetime) -> str:
        dialect = self.engine.dialect
        processor = jobs_table.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        return processor(value) if processor is not None else value.isoformat(sep=" ")

    def settle_publish(self, published: Sequence[str], failed: Mapping[str, str] | None = None) -> None:
        """After publishing jobs created with ``unpublished=True``: clear their intents, in one transaction.

        ``published``: jobs whose records are all in the stream. ``failed``: job id -> reason, for
        jobs whose publishing failed: PENDING -> FAILED with the reason. A published job that the
        sweeper had already marked FAILED as never published (its publish outlived the threshold)
        and that no chunk has reached yet goes back to PENDING.
        """
        failed = dict(failed or {})
        if not published and not failed:
            return
        now = _now()
        c = jobs_table.c
        with self.engine.begin() as conn:
            ids = [*published, *failed]
            cleared = conn.execute(
                delete(unpublished_table).where(unpublished_table.c.job_id.in_(ids)).execution_options(
                    preserve_rowcount=True
                )
            ).rowcount
            if published and cleared < len(ids):  # the sweeper got to some of them first
                conn.execute(
                    update(jobs_table)
                    .where(
                        c.job_id.in_(list(published)),
                        c.status == JobStatus.FAILED.value,
                        c.parts_done == 0,
                        c.error_message.like("never published:%"),
                    )
                    .values(status=JobStatus.PENDING.value, error_message=None, updated_at=now)
                )
            for job_id, reason in failed.items():
                conn.execute(
                    update(jobs_table)
                    .where(c.job_id == job_id, c.status == JobStatus.PENDING.value)
                    .values(status=JobStatus.FAILED.value, error_message=reason, updated_at=now)
                )
        for job_id, reason in failed.items():
            log.error("jobs: job %s FAILED: %s", job_id, reason)

    def sweep_unpublished(self, older_than_seconds: float) -> list[str]:
        """Mark FAILED every PENDING job whose publish intent is older than ``older_than_seconds``.

        Such a job was created but its records never reached the stream (the API stopped in
        between, so the request was never acknowledged). Its ``error_message`` says so
        (``UNPUBLISHED_REASON``). Stale intents of jobs that moved on anyway (their records did
        arrive: the API stopped right after publishing) are dropped. At most 10,000 intents a call
        (the sweeper calls again). Returns the failed job ids.
        """
        cutoff = _now() - timedelta(seconds=older_than_seconds)
        reason = UNPUBLISHED_REASON.format(seconds=older_than_seconds)
        c = jobs_table.c
        u = unpublished_table.c
        # A read first: nothing to do is the rule, and a write transaction would take the
        # database's write lock from the API's group writer for nothing.
        with self.engine.connect() as conn:
            stale = [row[0] for row in conn.execute(select(u.job_id).where(u.created_at < cutoff).limit(10_000))]
        failed: list[str] = []
        for start in range(0, len(stale), 500):
            ids = stale[start : start + 500]
            with self.engine.begin() as conn:
                # The intents first (a write: on SQLite it takes the lock before anything is
                # read); only the ones still there count: a publish settled meanwhile took its own.
                gone = [row[0] for row in conn.execute(delete(unpublished_table).where(u.job_id.in_(ids)).returning(u.job_id))]
                if gone:
                    # By primary key: the status index would walk every PENDING job.
                    failed += [
                        row[0]
                        for row in conn.execute(
                            update(jobs_table)
                            .where(c.job_id.in_(gone), c.status == JobStatus.PENDING.value)
                            .values(status=JobStatus.FAILED.value, error_message=reason, updated_at=_now())
                            .returning(c.job_id)
                        )
                    ]
        for job_id in failed:
            log.error("jobs: job %s FAILED: %s", job_id, reason)
        return failed

    def unpublished_count(self) -> int:
        """Jobs created whose records are not known to be in the stream yet."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(unpublished_table)).scalar_one())

    def mark_processing(self, job_id: str) -> bool:
        """PENDING -> PROCESSING; a no-op (False) in any other status."""
        return self.mark_processing_many([job_id]) == 1

    def mark_processing_many(self, job_ids: Sequence[str]) -> int:
        """PENDING -> PROCESSING for each job, in one transaction; returns how many moved."""
        if not job_ids:
            return 0
        with self.engine.begin() as conn:
            result = conn.execute(
                update(jobs_table)
                .where(jobs_table.c.job_id.in_(list(job_ids)), jobs_table.c.status == JobStatus.PENDING.value)
                .values(status=JobStatus.PROCESSING.value, updated_at=_now())
            )
        return result.rowcount

    def record_chunk(
        self,
        job_id: str,
        part: int,
        accepted: int,
        rejected: int,
        duplicates: int,
        snapshot_id: int | None,
    ) -> bool:
        """Add one chunk's outcome to its job, once: a replay of ``(job_id, part)`` changes nothing.

        Returns True when the chunk was new. The job becomes COMPLETED when all of
        its parts are recorded, PROCESSING before that (a FAILED job stays FAILED
        until its last part arrives: a retried batch that lands after all completes it).
        """
        return self.record_chunks([ChunkRecord(job_id, part, accepted, rejected, duplicates, snapshot_id)]) == 1

    def record_chunks(self, chunks: Sequence[ChunkRecord]) -> int:
        """``record_chunk`` for many chunks in one transaction (one commit for a consumer's batch).

        Returns how many chunks were new.
        """
        if not chunks:
            return 0
        now = _now()
        completed: list[tuple[str, dict[str, Any]]] = []
        new = 0
        with self.engine.begin() as conn:
            for chunk in chunks:
                # The chunk row first: it is the idempotency guard and, on SQLite, takes the
                # write lock before anything is read, so the read-modify-write below is serialized.
                inserted = conn.execute(
                    _insert_ignoring_duplicates(
                        self.engine,
                        chunks_table,
                        dict(dataclasses.asdict(chunk), recorded_at=now),
                    )
                ).rowcount
                if inserted != 1:
                    continue
                new += 1
                row = (
                    conn.execute(select(jobs_table).where(jobs_table.c.job_id == chunk.job_id).with_for_update())
                    .mappings()
                    .one_or_none()
                )
                if row is None:
                    raise JobNotFoundError(chunk.job_id)
                parts_done = row["parts_done"] + 1
                values: dict[str, Any] = dict(
                    accepted_count=row["accepted_count"] + chunk.accepted,
                    rejected_count=row["rejected_count"] + chunk.rejected,
                    duplicate_count=row["duplicate_count"] + chunk.duplicates,
                    parts_done=parts_done,
                    updated_at=now,
                )
                if chunk.snapshot_id is not None:
                    values["snapshot_id"] = chunk.snapshot_id
                if parts_done >= row["parts"]:
                    # Every chunk is in: the job's data landed, even if an earlier attempt
                    # had marked it FAILED (error_message keeps what went wrong then).
                    values["status"] = JobStatus.COMPLETED.value
                    values["completed_at"] = now
                    values["seconds_to_complete"] = (now - _aware(row["created_at"])).total_seconds()
                    completed.append((chunk.job_id, {**values, "snapshot_id": values.get("snapshot_id", row["snapshot_id"])}))
                elif JobStatus(row["status"]) is not JobStatus.FAILED:
                    values["status"] = JobStatus.PROCESSING.value
                conn.execute(update(jobs_table).where(jobs_table.c.job_id == chunk.job_id).values(**values))
        for job_id, values in completed:
            log.info(
                "jobs: job %s COMPLETED accepted=%d rejected=%d duplicates=%d snapshot_id=%s",
                job_id, values["accepted_count"], values["rejected_count"], values["duplicate_count"],
                values["snapshot_id"],
            )
        return new

    def mark_failed(self, job_id: str, error_message: str) -> bool:
        """PENDING/PROCESSING -> FAILED with the reason; a COMPLETED job stays COMPLETED."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(jobs_table)
                .where(
                    jobs_table.c.job_id == job_id,
                    jobs_table.c.status.in_([JobStatus.PENDING.value, JobStatus.PROCESSING.value]),
                )
                .values(status=JobStatus.FAILED.value, error_message=error_message, updated_at=_now())
            )
        if result.rowcount == 1:
            log.error("jobs: job %s FAILED: %s", job_id, error_message)
        return result.rowcount == 1

    def note_error(self, job_id: str, error_message: str) -> None:
        """Record why some of a job's records were set aside, without changing its status."""
        with self.engine.begin() as conn:
            conn.execute(
                update(jobs_table)
                .where(jobs_table.c.job_id == job_id)
                .values(error_message=error_message, updated_at=_now())
            )
        log.warning("jobs: job %s: %s", job_id, error_message)

    # -- reads -----------------------------------------------------------------
    @staticmethod
    def _job(row: Any) -> Job:
        values = {f.name: row[f.name] for f in dataclasses.fields(Job)}
        values["status"] = JobStatus(values["status"])
        for name in ("created_at", "updated_at", "completed_at"):  # SQLite gives them back naive
            values[name] = _aware(values[name])
        return Job(**values)

    def get(self, job_id: str) -> Job | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs_table).where(jobs_table.c.job_id == job_id)).mappings().one_or_none()
        return None if row is None else self._job(row)

    def list_jobs(self, limit: int = 100, status: JobStatus | str | None = None) -> list[Job]:
        """Most recent first."""
        query = select(jobs_table).order_by(jobs_table.c.created_at.desc(), jobs_table.c.job_id).limit(limit)
        if status is not None:
            query = query.where(jobs_table.c.status == JobStatus(status).value)
        with self.engine.connect() as conn:
            return [self._job(row) for row in conn.execute(query).mappings()]

    def metrics(self) -> dict[str, Any]:
        """Aggregates over all jobs.

        ``jobs_by_status`` (every status, zeros included), ``jobs_total``,
        ``records_received`` (records in acknowledged requests), ``records_accepted`` (landed in
        the raw tables), ``records_rejected`` (invalid records only), ``records_duplicates``
        (duplicates of a stored key), ``records_in_flight`` (received, not counted yet: jobs still
        PENDING or PROCESSING, or FAILED before all their parts landed), ``last_completed_at``
        (ISO-8601 or None), ``avg_seconds_to_complete`` (PENDING -> COMPLETED, or None).

        Every record received is counted once: ``records_received = records_accepted +
        records_rejected + records_duplicates + records_in_flight``, and once every job is
        COMPLETED ``records_in_flight`` is 0. (The consumer reports a chunk's invalid records and its
        duplicates apart, see ``record_chunks``.)
        """
        c = jobs_table.c
        with self.engine.connect() as conn:
            by_status = {status: 0 for status in JobStatus}
            for status, count in conn.execute(select(c.status, func.count()).group_by(c.status)):
                by_status[JobStatus(status)] = count
            totals = conn.execute(
                select(
                    func.coalesce(func.sum(c.record_count), 0),
                    func.coalesce(func.sum(c.accepted_count), 0),
                    func.coalesce(func.sum(c.rejected_count), 0),
                    func.coalesce(func.sum(c.duplicate_count), 0),
                    func.max(c.completed_at),
                    func.avg(c.seconds_to_complete),
                )
            ).one()
        last_completed = _aware(totals[4])
        return {
            "jobs_by_status": {status.value: count for status, count in by_status.items()},
            "jobs_total": sum(by_status.values()),
            "records_received": int(totals[0]),
            "records_accepted": int(totals[1]),
            "records_rejected": int(totals[2]),
            "records_duplicates": int(totals[3]),
            "records_in_flight": int(totals[0]) - int(totals[1]) - int(totals[2]) - int(totals[3]),
            "last_completed_at": last_completed.isoformat() if last_completed else None,
            "avg_seconds_to_complete": float(totals[5]) if totals[5] is not None else None,
        }

    def recent(self, window_seconds: float, latency_sample: int = 1_000) -> dict[str, Any]:
        """What moved in the last ``window_seconds``, for rates and latency (``/metrics``).

        ``received`` (records of jobs created in the window), ``processed`` (accepted + rejected +
        duplicates of jobs completed in the window), and ``seconds_to_complete``: the POST ->
        COMPLETED times of the latest ``latency_sample`` completed jobs, sorted.
        """
        c = jobs_table.c
        since = _now() - timedelta(seconds=window_seconds)
        with self.engine.connect() as conn:
            received = conn.execute(
                select(func.coalesce(func.sum(c.record_count), 0)).where(c.created_at >= since)
            ).scalar_one()
            processed = conn.execute(
                select(func.coalesce(func.sum(c.accepted_count + c.rejected_count + c.duplicate_count), 0)).where(
                    c.completed_at >= since
                )
            ).scalar_one()
            latest = conn.execute(
                select(c.seconds_to_complete)
                .where(c.seconds_to_complete.is_not(None))
                .order_by(c.completed_at.desc())
                .limit(latency_sample)
            ).scalars()
            seconds = sorted(float(v) for v in latest)
        return {"received": int(received), "processed": int(processed), "seconds_to_complete": seconds}

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        with self.engine.connect() as conn:
            conn.execute(select(1)).one()

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"IngestionJobStore({make_url(self.url).render_as_string(hide_password=True)!r})"
