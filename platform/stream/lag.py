"""How far the consumer is behind the stream, per shard (the dashboard, ``/metrics``, alerts).

For the local stream: the last sequence number written to each shard (``head``), the position
the consumer has read and committed to every table (``committed``: the lowest over the datasets
in ``consumer_positions``), the stream records between the two, and the age of the oldest of
them. A Kinesis stream's lag is its iterator age, which CloudWatch reports
(``GetRecords.IteratorAgeMilliseconds``); it is not measured here.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

LAG_FIELDS = ("shard", "head", "committed", "lag_records", "oldest_unread_age_s")


class LagUnavailable(RuntimeError):
    """The lag cannot be measured (another stream backend, no stream yet); the message says why."""


def committed_positions(settings: Any) -> dict[str, int]:
    """Per shard, the lowest position the consumer committed over the datasets (``consumer_positions``)."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(settings.job_db)
    try:
        out: dict[str, int] = {}
        with engine.connect() as conn:
            if not inspect(conn).has_table("consumer_positions"):
                return out
            rows = conn.execute(
                text("select shard_id, sequence_number from consumer_positions where stream = :s"),
                {"s": settings.stream_name},
            )
            for shard, sequence in rows:
                out[shard] = min(out.get(shard, int(sequence)), int(sequence))
        return out
    finally:
        engine.dispose()


def stream_lag(settings: Any, now: datetime | None = None) -> list[dict[str, Any]]:
    """One dict per shard with ``LAG_FIELDS``; ``LagUnavailable`` when it cannot be measured."""
    if settings.stream != "local":
        raise LagUnavailable(
            f"Stream lag is measured for the local stream only; the {settings.stream} stream's lag is its "
            "iterator age (Kinesis: CloudWatch GetRecords.IteratorAgeMilliseconds)."
        )
    from eventlake.stream.local import local_shard_id, local_stream_path

    path = local_stream_path(settings)
    if not path.exists():
        raise LagUnavailable(f"No stream yet at {path}: the API creates it with its first request.")
    committed = committed_positions(settings)
    now = now or datetime.now(UTC)
    con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        if not con.execute("select 1 from sqlite_master where name = 'stream_records'").fetchone():
            raise LagUnavailable(f"No stream yet in {path}: the API creates it with its first request.")
        shards = con.execute("select value from stream_meta where key = 'shards'").fetchone()
        rows = []
        for shard in [local_shard_id(i) for i in range(int(shards[0]) if shards else 0)]:
            head = con.execute("select max(seq) from stream_records where shard_id = ?", (shard,)).fetchone()[0] or 0
            position = committed.get(shard, 0)
            oldest = con.execute(
                "select written_at from stream_records where shard_id = ? and seq > ? order by seq limit 1",
                (shard, position),
            ).fetchone()
            rows.append({
                "shard": shard,
                "head": int(head),
                "committed": position,
                "lag_records": max(int(head) - position, 0),
                "oldest_unread_age_s": round(now.timestamp() - oldest[0], 1) if oldest else 0.0,
            })
        return rows
    finally:
        con.close()
