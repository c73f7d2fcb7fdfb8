"""Samples of the stream lag over time, kept in the state database for the dashboard's history.

The pipeline view's other histories are derived from what is persisted anyway (the job store's
jobs and chunks, the raw tables' Iceberg snapshots, Dagster's materializations of the marts).
The stream lag is not: it is the distance between two moving positions (the last record written
to a shard, the consumer's committed position), so it exists only when measured. The Dagster
sensor ``consumer_lag_alert_sensor`` measures it on every tick (every 60 s while Dagster's daemon
runs) and records one row per shard here (``record_lag_samples``); the dashboard reads them back
(``read_lag_samples``).

The samples live in ``stream_lag_samples`` beside the job store (``EVENTLAKE_JOB_DB_URL``: SQLite
under home, or PostgreSQL), opened with the job store's engine (WAL, busy timeout). A tick writes
its rows and deletes the samples older than ``KEEP_SECONDS`` in one short transaction, so the
table holds at most a week of samples (about 10,000 rows per shard).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from eventlake.state.database import create_tables

#: how long samples are kept: the dashboard's longest history window (7 days)
KEEP_SECONDS = 7 * 24 * 3600.0
SAMPLE_FIELDS = ("sampled_at", "shard", "lag_records", "oldest_unread_age_s")

_meta = sa.MetaData()
lag_samples_table = sa.Table(
    "stream_lag_samples",
    _meta,
    sa.Column("sample_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sampled_at", sa.Float, nullable=False, index=True),  # Unix time (UTC)
    sa.Column("stream", sa.String(256), nullable=False),
    sa.Column("shard", sa.String(128), nullable=False),
    sa.Column("lag_records", sa.BigInteger, nullable=False),
    sa.Column("oldest_unread_age_s", sa.Float, nullable=False),
)


def _engine(url: str) -> sa.Engine:
    from eventlake.state.ingestion_jobs import IngestionJobStore

    return IngestionJobStore._make_engine(url)  # the state database's engine: WAL, busy timeout


def record_lag_samples(
    job_db: str,
    stream: str,
    shards: Iterable[Any],
    now: float | None = None,
    keep_seconds: float = KEEP_SECONDS,
) -> int:
    """Store one sample per shard (objects with ``shard``, ``lag_records`` and ``oldest_unread_age_s``,
    as ``eventlake.alerts.ShardLag``) taken at ``now``, and delete the samples older than
    ``keep_seconds``; returns the rows written."""
    now = time.time() if now is None else now
    rows = [
        {"sampled_at": now, "stream": stream, "shard": s.shard, "lag_records": int(s.lag_records),
         "oldest_unread_age_s": float(s.oldest_unread_age_s)}
        for s in shards
    ]
    engine = _engine(job_db)
    try:
        create_tables(_meta, engine)
        c = lag_samples_table.c
        with engine.begin() as conn:
            if rows:
                conn.execute(sa.insert(lag_samples_table), rows)
            conn.execute(sa.delete(lag_samples_table).where(c.sampled_at < now - keep_seconds))
    finally:
        engine.dispose()
    return len(rows)


def read_lag_samples(job_db: str, stream: str, since: float) -> list[dict[str, Any]]:
    """The samples of ``stream`` taken at or after ``since`` (Unix time), oldest first, as dicts with
    ``SAMPLE_FIELDS``. Creates nothing: without the table (no sensor tick yet) there are none."""
    engine = _engine(job_db)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(lag_samples_table.name):
                return []
            c = lag_samples_table.c
            query = (
                sa.select(c.sampled_at, c.shard, c.lag_records, c.oldest_unread_age_s)
                .where(c.stream == stream, c.sampled_at >= since)
                .order_by(c.sampled_at, c.shard)
            )
            return [dict(zip(SAMPLE_FIELDS, row, strict=True)) for row in conn.execute(query)]
    finally:
        engine.dispose()
