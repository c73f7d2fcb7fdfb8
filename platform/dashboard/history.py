"""The pipeline's measures over time, for the Pipeline view's history charts (plain functions, no Streamlit).

``/metrics`` and the Pipeline view's cards give the current values; these give their history over a
window (the last hour, 24 hours or 7 days), from what the pipeline persists anyway:

* records/s in and out, and the rejected rate, per time bucket: the job store. In = the records of
  the requests received (jobs by ``created_at``), out = the records the consumer processed
  (accepted + rejected + duplicates of each chunk, by the chunk's ``recorded_at``: committed to
  Iceberg); the rejected rate is the invalid share of those;
* commit latency (POST -> the job's last chunk committed): ``seconds_to_complete`` of each job
  completed in a bucket, median and maximum;
* freshness of each raw table (time since its latest Iceberg commit: the table's snapshot log,
  compactions left out, as far back as the snapshots are kept) and of each mart (time since its
  latest Dagster materialization);
* stream lag per shard: the samples ``consumer_lag_alert_sensor`` stores every tick
  (``eventlake.metrics_history``), the only measure here that is not derived.

Times are UTC in and out; :mod:`eventlake.dashboard.app` shows them in the zone picked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from eventlake.dashboard.data import SourceUnavailable, _job_store, _missing_sqlite_file

#: the bucket of each history window: minutes up to a day, quarter hours (which regroup exactly in
#: every real time zone) over a week
BUCKETS = {timedelta(hours=1): timedelta(minutes=1), timedelta(hours=24): timedelta(minutes=1),
           timedelta(days=7): timedelta(minutes=15)}
THROUGHPUT_COLUMNS = ["bucket", "direction", "records_per_s"]
LATENCY_COLUMNS = ["bucket", "statistic", "seconds", "jobs"]
REJECTED_COLUMNS = ["bucket", "rejected_pct", "processed"]
FRESHNESS_COLUMNS = ["table", "at", "minutes", "order"]
LAG_COLUMNS = ["sampled_at", "shard", "lag_records", "oldest_unread_age_s"]
#: Iceberg snapshot operations that bring data (a compaction's ``replace`` rewrites rows already there)
DATA_OPERATIONS = ("append", "overwrite")


def bucket_for(window: timedelta) -> timedelta:
    return BUCKETS.get(window, timedelta(minutes=1) if window <= timedelta(days=1) else timedelta(minutes=15))


def _floor(values: pd.Series, bucket: timedelta) -> pd.Series:
    return values.dt.floor(pd.Timedelta(bucket))


def _grid(start: datetime, end: datetime, bucket: timedelta) -> pd.DatetimeIndex:
    return pd.date_range(pd.Timestamp(start).floor(pd.Timedelta(bucket)), pd.Timestamp(end), freq=pd.Timedelta(bucket))


def _utc(values: Iterable[Any]) -> pd.Series:
    series = pd.to_datetime(pd.Series(list(values), dtype="object"), utc=True)
    return series


# -- the job store --------------------------------------------------------------------------------
def job_activity(job_db: str, start: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(jobs, chunks)`` since ``start``: the jobs created or completed since (``created_at``,
    ``completed_at``, ``record_count``, ``seconds_to_complete``) and the chunks recorded since
    (``recorded_at``, ``accepted``, ``rejected``, ``duplicates``); times UTC."""
    from sqlalchemy import or_, select

    from eventlake.state.ingestion_jobs import chunks_table, jobs_table

    store = _job_store(job_db)
    j, c = jobs_table.c, chunks_table.c
    try:
        with store.engine.connect() as conn:
            jobs = conn.execute(
                select(j.job_id, j.created_at, j.completed_at, j.record_count, j.seconds_to_complete)
                .where(or_(j.created_at >= start, j.completed_at >= start))
            ).all()
            chunks = conn.execute(
                select(c.recorded_at, c.accepted, c.rejected, c.duplicates).where(c.recorded_at >= start)
            ).all()
    finally:
        store.close()
    jobs_frame = pd.DataFrame(jobs, columns=["job_id", "created_at", "completed_at", "record_count",
                                             "seconds_to_complete"])
    chunks_frame = pd.DataFrame(chunks, columns=["recorded_at", "accepted", "rejected", "duplicates"])
    for frame, columns in ((jobs_frame, ("created_at", "completed_at")), (chunks_frame, ("recorded_at",))):
        for column in columns:
            frame[column] = _utc(frame[column])
    return jobs_frame, chunks_frame


def throughput(jobs: pd.DataFrame, chunks: pd.DataFrame, start: datetime, end: datetime,
               bucket: timedelta) -> pd.DataFrame:
    """Records/s in (received) and out (processed) per bucket from ``start`` to ``end``, averaged over
    the bucket, every bucket present (0 when nothing moved)."""
    grid = _grid(start, end, bucket)
    seconds = bucket.total_seconds()
    received = jobs[jobs["created_at"] >= pd.Timestamp(start)] if len(jobs) else jobs
    incoming = (received.groupby(_floor(received["created_at"], bucket))["record_count"].sum()
                if len(received) else pd.Series(dtype="float64"))
    processed = chunks.assign(records=chunks["accepted"] + chunks["rejected"] + chunks["duplicates"])
    outgoing = (processed.groupby(_floor(processed["recorded_at"], bucket))["records"].sum()
                if len(processed) else pd.Series(dtype="float64"))
    frames = []
    for direction, counts in (("in", incoming), ("out", outgoing)):
        per_bucket = counts.reindex(grid, fill_value=0).astype("float64") / seconds
        frames.append(pd.DataFrame({"bucket": grid, "direction": direction, "records_per_s": per_bucket.to_numpy()}))
    return pd.concat(frames, ignore_index=True)[THROUGHPUT_COLUMNS]


def commit_latency(jobs: pd.DataFrame, start: datetime, bucket: timedelta) -> pd.DataFrame:
    """POST -> committed (``seconds_to_complete``) of the jobs completed in each bucket since ``start``:
    the median and the maximum, with the number of jobs; buckets without a completed job are absent."""
    done = jobs[jobs["completed_at"].notna() & jobs["seconds_to_complete"].notna()] if len(jobs) else jobs
    done = done[done["completed_at"] >= pd.Timestamp(start)] if len(done) else done
    if done.empty:
        return pd.DataFrame(columns=LATENCY_COLUMNS)
    grouped = done.groupby(_floor(done["completed_at"], bucket))["seconds_to_complete"]
    stats = pd.DataFrame({"median": grouped.median(), "max": grouped.max(), "jobs": grouped.count()})
    stats.index.name = "bucket"
    return (
        stats.reset_index()
        .melt(id_vars=["bucket", "jobs"], value_vars=["median", "max"], var_name="statistic", value_name="seconds")
        [LATENCY_COLUMNS]
    )


def rejected_rate(chunks: pd.DataFrame, bucket: timedelta) -> pd.DataFrame:
    """Invalid records over the records processed (accepted + rejected + duplicates), in percent, per
    bucket with processed records."""
    if chunks.empty:
        return pd.DataFrame(columns=REJECTED_COLUMNS)
    grouped = chunks.assign(processed=chunks["accepted"] + chunks["rejected"] + chunks["duplicates"]).groupby(
        _floor(chunks["recorded_at"], bucket))[["rejected", "processed"]].sum()
    grouped = grouped[grouped["processed"] > 0]
    grouped.index.name = "bucket"
    out = grouped.reset_index()
    out["rejected_pct"] = 100.0 * out["rejected"] / out["processed"]
    return out[REJECTED_COLUMNS]


# -- freshness ----------------------------------------------------------------------------------------
def freshness(updates: Mapping[str, Iterable[datetime]], start: datetime, end: datetime,
              bucket: timedelta | None = None) -> pd.DataFrame:
    """Minutes since the latest update of each table, from ``start`` to ``end``: a sawtooth whose
    corners are the updates (the age reached just before one, 0 at it) and the window's edges.
    ``order`` keeps a vertical drop in place (two points at one time). A table updated more often
    than once per ``bucket`` (a consumer committing every few seconds) is sampled once per bucket
    instead: its age at each bucket's start, so a week of commits stays a few hundred points."""
    rows: list[dict[str, Any]] = []
    for table, times in updates.items():
        ordered = sorted(pd.Timestamp(t).tz_convert(UTC) if pd.Timestamp(t).tzinfo else pd.Timestamp(t, tz=UTC)
                         for t in times)
        ordered = [t for t in ordered if t <= pd.Timestamp(end)]
        if not ordered:
            continue
        grid = _grid(start, end, bucket) if bucket else None
        if grid is not None and sum(t >= pd.Timestamp(start) for t in ordered) > len(grid):
            rows += _sampled_freshness(table, ordered, grid)
            continue
        points: list[tuple[pd.Timestamp, float]] = []
        before = [t for t in ordered if t < pd.Timestamp(start)]
        last = before[-1] if before else None
        if last is not None:
            points.append((pd.Timestamp(start), (pd.Timestamp(start) - last).total_seconds() / 60))
        for t in (t for t in ordered if t >= pd.Timestamp(start)):
            if last is not None:
                points.append((t, (t - last).total_seconds() / 60))
            points.append((t, 0.0))
            last = t
        points.append((pd.Timestamp(end), (pd.Timestamp(end) - last).total_seconds() / 60))
        rows += [{"table": table, "at": at, "minutes": round(m, 3), "order": i} for i, (at, m) in enumerate(points)]
    frame = pd.DataFrame(rows, columns=FRESHNESS_COLUMNS)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


def _sampled_freshness(table: str, ordered: list[pd.Timestamp], grid: pd.DatetimeIndex) -> list[dict[str, Any]]:
    import numpy as np

    updates = pd.DatetimeIndex(ordered)
    last = np.searchsorted(updates.asi8, grid.asi8, side="right") - 1  # the latest update at or before each time
    return [
        {"table": table, "at": at, "minutes": round((at - updates[i]).total_seconds() / 60, 3), "order": n}
        for n, (at, i) in enumerate(zip(grid, last, strict=True)) if i >= 0
    ]


def raw_commit_times(settings: Any) -> dict[str, list[datetime]]:
    """The Iceberg commits that brought data to each raw table (``raw.<dataset>``), oldest first, as
    far back as its snapshots are kept (maintenance expires older ones)."""
    from eventlake import raw_snapshots
    from eventlake.contracts import RAW_NAMESPACE

    catalog_uri = settings.catalog_properties().get("uri", "")
    missing = _missing_sqlite_file(catalog_uri) if catalog_uri.startswith("sqlite") else None
    if missing is not None:
        raise SourceUnavailable(
            f"No Iceberg catalog yet at {missing}: the consumer creates it with the raw tables."
        )
    try:
        tables = raw_snapshots.existing_tables(settings)
    except Exception as exc:  # the catalog (a file, Glue, a database) did not answer
        raise SourceUnavailable(f"Cannot read the raw tables' snapshots: {exc}") from exc
    out: dict[str, list[datetime]] = {}
    for dataset, table in sorted(tables.items()):
        times = []
        for snapshot in table.metadata.snapshots:
            operation = getattr(getattr(snapshot.summary, "operation", None), "value", None)
            if operation in DATA_OPERATIONS:
                times.append(datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC))
        out[f"{RAW_NAMESPACE}.{dataset}"] = sorted(times)
    return out


# -- stream lag samples --------------------------------------------------------------------------------
def lag_history(job_db: str, stream: str, start: datetime, bucket: timedelta = timedelta(minutes=1)) -> pd.DataFrame:
    """The stream lag samples since ``start`` (``consumer_lag_alert_sensor`` stores one per shard and
    tick, about one a minute), ``sampled_at`` UTC; with a ``bucket`` over a minute, the highest lag
    and age per shard and bucket (``sampled_at``: the bucket's start)."""
    from eventlake import metrics_history

    if _missing_sqlite_file(job_db) is not None:
        return pd.DataFrame(columns=LAG_COLUMNS)
    try:
        rows = metrics_history.read_lag_samples(job_db, stream, start.timestamp())
    except Exception as exc:
        raise SourceUnavailable(f"Cannot read the stream lag samples from {job_db}: {exc}") from exc
    frame = pd.DataFrame(rows, columns=LAG_COLUMNS)
    frame["sampled_at"] = pd.to_datetime(frame["sampled_at"], unit="s", utc=True)
    if bucket > timedelta(minutes=1) and len(frame):
        frame = (frame.assign(sampled_at=_floor(frame["sampled_at"], bucket))
                 .groupby(["sampled_at", "shard"], as_index=False)[["lag_records", "oldest_unread_age_s"]].max())
    return frame[LAG_COLUMNS]
