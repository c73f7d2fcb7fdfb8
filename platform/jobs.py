"""The job store: one row per ingestion request, one row per processed chunk.

The API creates a job (PENDING) before it publishes the request's chunks; the
consumer moves it to PROCESSING and records each chunk's outcome with
``record_chunk``. Recording is idempotent per ``(job_id, part)``: the stream
delivers at least once, so a replayed chunk must never count twice. The chunk
row and the job's counters change in one transaction.

SQLAlchemy 2 Core on ``settings.job_db``: a SQLite file by default (WAL mode,
safe for the API and consumer processes together), PostgreSQL
(``postgresql+psycopg://``) in production. Tables are created on open.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
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
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("eventlake.jobs")


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


class JobStore:
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
        return create_engine(url, pool_pre_ping=True)

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
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(
                insert(jobs_table).values(
                    job_id=job_id,
                    dataset=dataset,
                    format=fmt,
                    status=JobStatus.PENDING.value,
                    created_at=now,
                    updated_at=now,
                    record_count=record_count,
                    accepted_count=0,
                    rejected_count=0,
                    duplicate_count=0,
                    parts=parts,
                    parts_done=0,
                )
            )
        job = self.get(job_id)
        assert job is not None
        return job

    def mark_processing(self, job_id: str) -> bool:
        """PENDING -> PROCESSING; a no-op (False) in any other status."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(jobs_table)
                .where(jobs_table.c.job_id == job_id, jobs_table.c.status == JobStatus.PENDING.value)
                .values(status=JobStatus.PROCESSING.value, updated_at=_now())
            )
        return result.rowcount == 1

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
        now = _now()
        with self.engine.begin() as conn:
            # The chunk row first: it is the idempotency guard and, on SQLite, takes the
            # write lock before anything is read, so the read-modify-write below is serialized.
            inserted = conn.execute(
                _insert_ignoring_duplicates(
                    self.engine,
                    chunks_table,
                    dict(
                        job_id=job_id,
                        part=part,
                        accepted=accepted,
                        rejected=rejected,
                        duplicates=duplicates,
                        snapshot_id=snapshot_id,
                        recorded_at=now,
                    ),
                )
            ).rowcount
            if inserted != 1:
                return False
            row = (
                conn.execute(select(jobs_table).where(jobs_table.c.job_id == job_id).with_for_update())
                .mappings()
                .one_or_none()
            )
            if row is None:
                raise JobNotFoundError(job_id)
            parts_done = row["parts_done"] + 1
            values: dict[str, Any] = dict(
                accepted_count=row["accepted_count"] + accepted,
                rejected_count=row["rejected_count"] + rejected,
                duplicate_count=row["duplicate_count"] + duplicates,
                parts_done=parts_done,
                updated_at=now,
            )
            if snapshot_id is not None:
                values["snapshot_id"] = snapshot_id
            if parts_done >= row["parts"]:
                # Every chunk is in: the job's data landed, even if an earlier attempt
                # had marked it FAILED (error_message keeps what went wrong then).
                values["status"] = JobStatus.COMPLETED.value
                values["completed_at"] = now
                values["seconds_to_complete"] = (now - _aware(row["created_at"])).total_seconds()
            elif JobStatus(row["status"]) is not JobStatus.FAILED:
                values["status"] = JobStatus.PROCESSING.value
            conn.execute(update(jobs_table).where(jobs_table.c.job_id == job_id).values(**values))
        if values.get("status") == JobStatus.COMPLETED.value:
            log.info(
                "jobs: job %s COMPLETED accepted=%d rejected=%d duplicates=%d snapshot_id=%s",
                job_id,
                values["accepted_count"],
                values["rejected_count"],
                values["duplicate_count"],
                values.get("snapshot_id", row["snapshot_id"]),
            )
        return True

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
        return Job(
            job_id=row["job_id"],
            dataset=row["dataset"],
            format=row["format"],
            status=JobStatus(row["status"]),
            created_at=_aware(row["created_at"]),  # type: ignore[arg-type]
            updated_at=_aware(row["updated_at"]),  # type: ignore[arg-type]
            record_count=row["record_count"],
            accepted_count=row["accepted_count"],
            rejected_count=row["rejected_count"],
            duplicate_count=row["duplicate_count"],
            snapshot_id=row["snapshot_id"],
            error_message=row["error_message"],
            parts=row["parts"],
            parts_done=row["parts_done"],
            completed_at=_aware(row["completed_at"]),
        )

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
        ``records_received`` (records in accepted requests), ``records_accepted``,
        ``records_rejected``, ``records_duplicates``, ``last_completed_at``
        (ISO-8601 or None), ``avg_seconds_to_complete`` (PENDING -> COMPLETED, or None).
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
            "last_completed_at": last_completed.isoformat() if last_completed else None,
            "avg_seconds_to_complete": float(totals[5]) if totals[5] is not None else None,
        }

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        with self.engine.connect() as conn:
            conn.execute(select(1)).one()

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"JobStore({make_url(self.url).render_as_string(hide_password=True)!r})"
