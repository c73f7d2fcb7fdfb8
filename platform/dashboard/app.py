"""eventlake dashboard: pipeline, quality, rejected records, lineage, event explorer.

Run: ``streamlit run platform/dashboard/app.py`` (reads the EVENTLAKE_HOME of its environment;
``eventlake demo`` starts it). Every read goes through :mod:`eventlake.dashboard.data`,
:mod:`~eventlake.dashboard.orchestrator` (Dagster) and :mod:`~eventlake.dashboard.rejects`
(raw.rejected_records); this file only lays the views out.
Reads are cached for a few seconds; the sidebar's Refresh clears the cache.

Stable hooks for browser tests: the tabs are labelled :data:`TABS`, each view starts with a
heading of the same name, and every widget has a ``key=`` (listed in the dashboard's README).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from eventlake.dashboard import data, history, orchestrator, rejects

CACHE_TTL_S = 5
RECENT_JOBS_SHOWN = 200
EXPLORE_ROWS = 1000
TABS = ("Pipeline", "Quality", "Rejected records", "Lineage", "Explore")
ALL = "All"
JOB_TABLE_COLUMNS = (
    "job_id", "dataset", "status", "record_count", "accepted_count", "rejected_count", "duplicate_count",
    "created_at", "completed_at", "error_message",
)
CHECK_TABLE_COLUMNS = ("status", "asset", "check", "kind", "failed_rows", "severity", "evaluated_at", "url",
                       "description")
REJECT_TABLE_COLUMNS = ("job_id", "record_index", "rule", "field", "value", "raw", "message", "dataset", "kind",
                        "rejected_at")
COUNT_AXIS = alt.Axis(format=",d", tickMinStep=1)


def _attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """(value, None), or (None, a message for the person) when the source is unavailable."""
    try:
        return fn(*args, **kwargs), None
    except data.SourceUnavailable as exc:
        return None, str(exc)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _settings():
    from eventlake.settings import get_settings

    return get_settings()


# -- cached reads (arguments are plain values so Streamlit can hash them) --------
@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_pipeline(job_db: str, tz: str, status: str | None, period: str) -> tuple[Any, str | None]:
    metrics, error = _attempt(data.pipeline_metrics, job_db)
    if error:
        return None, error
    jobs, error = _attempt(data.recent_jobs, job_db, tz=tz, limit=1000)
    if error:
        return None, error
    totals, error = _attempt(data.period_totals, job_db, data.PERIODS[period])
    if error:
        return None, error
    shown = jobs if status is None else jobs[jobs["status"] == status]
    return (metrics, jobs, shown.head(RECENT_JOBS_SHOWN), totals), None


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_runs(dagster_home: str, dagster_url: str, jobs: tuple[str, ...], tz: str) -> tuple[Any, str | None]:
    return _attempt(orchestrator.recent_runs, Path(dagster_home), dagster_url, jobs, tz=tz)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_lag(home: str) -> tuple[Any, str | None]:
    return _attempt(data.stream_lag, _settings())


def _window(name: str) -> tuple[datetime, datetime, Any]:
    end = datetime.now(UTC)
    span = data.PERIODS[name]
    return end - span, end, history.bucket_for(span)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_job_history(job_db: str, window: str) -> tuple[Any, str | None]:
    start, end, bucket = _window(window)

    def build() -> dict[str, Any]:
        jobs, chunks = history.job_activity(job_db, start)
        return {
            "throughput": history.throughput(jobs, chunks, start, end, bucket),
            "latency": history.commit_latency(jobs, start, bucket),
            "rejected": history.rejected_rate(chunks, bucket),
            "bucket": bucket,
        }

    return _attempt(build)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_freshness_history(home: str, dagster_home: str, window: str) -> tuple[pd.DataFrame, list[str]]:
    """Freshness of the raw tables (Iceberg commits) and the marts (Dagster materializations), and
    what could not be read."""
    from eventlake.sensors.alerts import MARTS

    start, end, bucket = _window(window)
    raw, raw_error = _attempt(history.raw_commit_times, _settings())
    marts, marts_error = _attempt(orchestrator.materialization_times, Path(dagster_home), MARTS, start)
    updates = {**(raw or {}), **{f"marts.{name}": times for name, times in (marts or {}).items()}}
    return history.freshness(updates, start, end, bucket), [e for e in (raw_error, marts_error) if e]


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_lag_history(job_db: str, stream: str, window: str) -> tuple[Any, str | None]:
    start, _, bucket = _window(window)
    return _attempt(history.lag_history, job_db, stream, start, bucket)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_job(job_db: str, job_id: str, tz: str) -> tuple[Any, str | None]:
    return _attempt(data.job_detail, job_db, job_id, tz=tz)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_manifest(target_dir: str, mtime_key: float) -> tuple[Any, str | None]:
    return _attempt(data.load_manifest, Path(target_dir))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_quality(job_db: str, tz: str) -> tuple[Any, str | None]:
    return _attempt(data.quality_history, job_db, tz=tz)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_checks(dagster_home: str, dagster_url: str, tz: str) -> tuple[Any, str | None]:
    return _attempt(orchestrator.latest_checks, Path(dagster_home), dagster_url, tz=tz)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_check_history(dagster_home: str, dagster_url: str, check: str, asset: str, tz: str) -> tuple[Any, str | None]:
    return _attempt(orchestrator.check_history_frame, Path(dagster_home), dagster_url, check, asset, tz=tz)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_materializations(dagster_home: str, names: tuple[str, ...]) -> tuple[Any, str | None]:
    return _attempt(orchestrator.latest_materializations, Path(dagster_home), names)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_run_results(target_dir: str) -> dict[str, dict[str, Any]]:
    return data.dbt_run_results(Path(target_dir))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_failing_rows(duckdb_file: str, sql: str, mtime_key: float) -> tuple[Any, str | None]:
    return _attempt(data.failing_rows, Path(duckdb_file), sql)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_warehouse_columns(duckdb_file: str, schema: str, table: str, mtime_key: float) -> tuple[Any, str | None]:
    return _attempt(data.warehouse_columns, Path(duckdb_file), schema, table)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_rejects(home: str, tz: str, job_id: str | None) -> tuple[Any, str | None]:
    return _attempt(rejects.read_rejected, _settings(), tz=tz, job_id=job_id)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_explore_options(duckdb_file: str, tz: str, mtime_key: float) -> tuple[Any, str | None]:
    return _attempt(data.explore_options, Path(duckdb_file), tz=tz)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_explore(
    duckdb_file: str,
    event_types: tuple[str, ...],
    start: date | None,
    end: date | None,
    job_id: str,
    user_id: str,
    tz: str,
    mtime_key: float,
    period: str = "last 24 hours",
) -> tuple[Any, str | None]:
    filters = data.EventFilters(event_types, start, end, job_id, user_id, tz)
    return _attempt(data.explore, Path(duckdb_file), filters, limit=EXPLORE_ROWS, period=data.PERIODS[period])


def _warehouse_key() -> str | None:
    """Who the Explore view reads the marts from in PROD (the Snowflake account, database and endpoint),
    a cache key; None in LOCAL (the DuckDB file)."""
    settings = _settings()
    if data.marts_warehouse(settings) is None:
        return None
    return (f"{settings.snowflake_account}/{settings.snowflake_database}@"
            f"{settings.snowflake_host or ''}:{settings.snowflake_port or ''}")


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_explore_warehouse(
    warehouse_key: str, event_types: tuple[str, ...], start: date | None, end: date | None, job_id: str,
    user_id: str, tz: str,
) -> tuple[Any, str | None]:
    filters = data.EventFilters(event_types, start, end, job_id, user_id, tz)
    return _attempt(data.explore_warehouse, data.marts_warehouse(_settings()), filters, limit=EXPLORE_ROWS)


# -- chart helpers: one colour scale per kind of thing, integer count axes ------------
def event_type_color(present: Any = (), legend: bool = True) -> alt.Color:
    """The event-type colour scale every chart uses (fixed domain and range)."""
    domain, range_ = data.event_type_domain(present)
    return alt.Color(
        "event_type:N", title="event type", scale=alt.Scale(domain=domain, range=range_),
        legend=alt.Legend() if legend else None,
    )


def outcome_color(legend: bool = True) -> alt.Color:
    return alt.Color(
        "outcome:N", scale=alt.Scale(domain=list(data.OUTCOME_DOMAIN), range=list(data.OUTCOME_RANGE)),
        legend=alt.Legend() if legend else None,
    )


def status_color() -> alt.Color:
    return alt.Color(
        "status:N", scale=alt.Scale(domain=list(data.STATUS_DOMAIN), range=list(data.STATUS_RANGE)), legend=None
    )


def _local_label(values: pd.Series) -> pd.Series:
    return values.dt.strftime("%Y-%m-%d %H:%M %z")


def _time_axis(field: str, title: str) -> alt.X:
    # Wall-clock local times on a UTC scale: the browser must not shift them again.
    return alt.X(f"{field}:T", title=title, scale=alt.Scale(type="utc"), axis=alt.Axis(format="%b %d %H:%M"))


def _time_tooltip(field: str, title: str) -> alt.Tooltip:
    return alt.Tooltip(f"{field}:T", title=title, format="%Y-%m-%d %H:%M", formatType="utc")


def _stacked_bars(
    frame: pd.DataFrame, title: str, time: tuple[str, str], value: str, color: alt.Color, tz: str
) -> alt.Chart:
    """Bars over time (``time``: the column and its axis title), ``value`` stacked by ``color``."""
    return (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(
            x=_time_axis(time[0], time[1]),
            y=alt.Y(f"{value}:Q", stack=True, axis=COUNT_AXIS),
            color=color,
            tooltip=[_time_tooltip(time[0], tz), color.shorthand, alt.Tooltip(f"{value}:Q", format=",d")],
        )
    )


def _bar(
    frame: pd.DataFrame, x: str, y: str, color: alt.Color | None = None, title: str = "", sort: Any = "-y"
) -> alt.Chart:
    encoding: dict[str, Any] = {
        "x": alt.X(f"{x}:N", sort=sort, title=None, axis=alt.Axis(labelAngle=0)),
        "y": alt.Y(f"{y}:Q", title=None, axis=COUNT_AXIS),
    }
    if color is not None:
        encoding["color"] = color
    return alt.Chart(frame, title=title).mark_bar().encode(
        **encoding, tooltip=[x, alt.Tooltip(f"{y}:Q", format=",d")]
    )


def _delta(totals: dict[str, dict[str, int]], name: str) -> int:
    return totals["current"][name] - totals["previous"][name]


def _table(frame: pd.DataFrame, container_key: str, **kwargs: Any) -> Any:
    """A table that fits the page, in a container keyed ``container_key`` (CSS class
    ``st-key-<container_key>``, found by browser tests and AppTest); ``kwargs`` go to st.dataframe
    (a selectable table has its own ``key``)."""
    with st.container(key=container_key):
        return st.dataframe(frame, hide_index=kwargs.pop("hide_index", True), width="stretch", **kwargs)


def _run_link_column() -> Any:
    return st.column_config.LinkColumn("Dagster run", display_text="open in Dagster")


# -- Pipeline -------------------------------------------------------------------------
def _select_job_from_table() -> None:
    """The jobs table's row selection drives the drill-down's job picker."""
    selection = st.session_state.get("jobs_select")
    rows = getattr(getattr(selection, "selection", None), "rows", None)
    if rows is None and isinstance(selection, dict):
        rows = (selection.get("selection") or {}).get("rows")
    shown = st.session_state.get("_jobs_shown") or []
    if rows:
        st.session_state["job_drill"] = shown[rows[0]]


def pipeline_view(sources: Any, tz: str, period: str) -> None:
    st.header("Pipeline")
    st.subheader("Ingestion jobs")
    status = st.selectbox("Jobs with status", [ALL, *data.JOB_STATUSES], key="jobs_status")
    result, error = read_pipeline(sources.job_db, tz, None if status == ALL else status, period)
    if error:
        st.info(error)
    else:
        _jobs_section(sources, tz, period, status, *result)
    _runs_section(sources, tz)
    _lag_section(sources)
    _history_section(sources, tz)


def _jobs_section(sources: Any, tz: str, period: str, status: str, metrics, jobs, shown, totals) -> None:
    if metrics["jobs_total"] == 0:
        st.info("The job database has no ingestion jobs yet. POST records to the API's /ingest endpoint.")
        return
    outcomes = data.record_outcomes(metrics)
    cards = [
        ("Jobs", metrics["jobs_total"], _delta(totals, "jobs"), "normal"),
        ("Records received", outcomes["received"], _delta(totals, "received"), "normal"),
        ("Accepted", outcomes["accepted"], _delta(totals, "accepted"), "normal"),
        ("Rejected (invalid)", outcomes["rejected (invalid)"], _delta(totals, "rejected (invalid)"), "inverse"),
        ("Duplicates", outcomes["duplicates"], _delta(totals, "duplicates"), "inverse"),
    ]
    cols = st.columns(len(cards))
    for col, (label, value, delta, colour) in zip(cols, cards, strict=True):
        col.metric(
            label, f"{value:,}", delta=f"{delta:+,}", delta_color=colour, border=True,
            help=f"Change: jobs created in the {period} minus the {period.replace('last ', '')} before.",
        )
    equation = (
        f"received {outcomes['received']:,} = accepted {outcomes['accepted']:,} + rejected (invalid) "
        f"{outcomes['rejected (invalid)']:,} + duplicates {outcomes['duplicates']:,}"
    )
    if outcomes["not yet processed"]:
        equation += f" + not yet processed {outcomes['not yet processed']:,}"
    details = [equation]
    if metrics.get("last_completed_at"):
        last = pd.Timestamp(metrics["last_completed_at"]).tz_convert(data.zone(tz))
        details.append(f"last job completed {last:%Y-%m-%d %H:%M:%S %Z}")
    if metrics.get("avg_seconds_to_complete") is not None:
        details.append(f"average {metrics['avg_seconds_to_complete']:.1f} s from request to completion")
    st.caption("; ".join(details))

    left, right = st.columns(2)
    by_status = pd.DataFrame(
        [{"status": s, "jobs": n} for s, n in metrics["jobs_by_status"].items()], columns=["status", "jobs"]
    )
    left.altair_chart(_bar(by_status, "status", "jobs", status_color(), "Jobs by status", sort=list(data.JOB_STATUSES)), width="stretch")
    records = pd.DataFrame({"outcome": list(data.OUTCOME_DOMAIN), "records": [
        outcomes[name] for name in data.OUTCOME_DOMAIN]})
    right.altair_chart(
        _bar(records, "outcome", "records", outcome_color(legend=False), "Records by outcome",
             sort=list(data.OUTCOME_DOMAIN)), width="stretch"
    )

    per_bucket, unit = data.throughput(jobs)
    if not per_bucket.empty:
        long = (
            per_bucket.rename(columns={"rejected": "rejected (invalid)"})
            .assign(bucket=data.wall_clock(per_bucket["bucket"]))
            .melt(id_vars=["bucket"], value_vars=["accepted", "rejected (invalid)", "duplicates"],
                  var_name="outcome", value_name="records")
        )
        title = f"Records per {unit} of job completion ({tz})"
        st.altair_chart(_stacked_bars(long, title, ("bucket", f"{unit} ({tz})"), "records", outcome_color(), tz),
                        width="stretch")

    st.markdown(f"**Ingestion jobs** ({len(shown)} shown, times in {tz}). Select a row to see its records.")
    if shown.empty:
        st.info(f"No jobs with status {status}.")
        return
    st.session_state["_jobs_shown"] = list(shown["job_id"])
    _table(
        shown, "jobs_table", key="jobs_select", on_select=_select_job_from_table, selection_mode="single-row",
        column_order=JOB_TABLE_COLUMNS,
        column_config={
            "job_id": st.column_config.TextColumn("job", width="medium"),
            "record_count": st.column_config.NumberColumn("received", format="localized"),
            "accepted_count": st.column_config.NumberColumn("accepted", format="localized"),
            "rejected_count": st.column_config.NumberColumn("rejected (invalid)", format="localized"),
            "duplicate_count": st.column_config.NumberColumn("duplicates", format="localized"),
            "created_at": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm:ss"),
            "completed_at": st.column_config.DatetimeColumn("completed", format="YYYY-MM-DD HH:mm:ss"),
            "snapshot_id": st.column_config.TextColumn("raw snapshot"),
            "error_message": st.column_config.TextColumn("error"),
        },
    )
    options = ["", *shown["job_id"]]
    if st.session_state.get("job_drill") not in options:
        st.session_state["job_drill"] = ""
    job_id = st.selectbox("Job", options, key="job_drill", format_func=lambda j: j or "(pick a job)")
    if job_id:
        job_drill_down(sources, job_id, tz)


def job_drill_down(sources: Any, job_id: str, tz: str) -> None:
    st.subheader(f"Job {job_id}")
    job, error = read_job(sources.job_db, job_id, tz)
    if error or job is None:
        st.info(error or f"No job {job_id}.")
        return
    cols = st.columns(5)
    cols[0].metric("Status", job["status"])
    cols[1].metric("Job records received", f"{job['record_count']:,}")
    cols[2].metric("Job accepted", f"{job['accepted_count']:,}")
    cols[3].metric("Job rejected (invalid)", f"{job['rejected_count']:,}")
    cols[4].metric("Job duplicates", f"{job['duplicate_count']:,}")
    facts = [f"dataset {job['dataset']}", f"format {job['format']}", f"created {job['created_at']:%Y-%m-%d %H:%M:%S %Z}"]
    if job["completed_at"] is not None:
        facts.append(f"completed {job['completed_at']:%Y-%m-%d %H:%M:%S %Z}")
    if job["snapshot_id"]:
        facts.append(f"raw snapshot {job['snapshot_id']}")
    st.caption("; ".join(facts))
    if job["error_message"]:
        st.error(job["error_message"])

    events_tab, rejects_tab = st.tabs(["Records in fact_events", "Rejected records of this job"])
    with events_tab:
        if job["dataset"] != "events":
            st.info(f"This job brought {job['dataset']}; fact_events holds events only.")
        else:
            warehouse = _warehouse_key()
            if warehouse is not None:
                found, error = read_explore_warehouse(warehouse, (), None, None, job_id, "", tz)
                result = found[0] if found else None
            else:
                mtime = _mtime(sources.duckdb_file)
                result, error = read_explore(str(sources.duckdb_file), (), None, None, job_id, "", tz, mtime)
            if error:
                st.info(error)
            else:
                st.markdown(f"**{result.total:,} events of this job in marts.fact_events** (newest {len(result.rows):,})")
                _table(result.rows, "job_events_table")
    with rejects_tab:
        frame, error = read_rejects(str(sources.home), tz, job_id)
        if error:
            st.info(error)
        elif frame.empty:
            st.success("No record of this job was rejected.")
        else:
            kinds = frame[["record_index", "kind"]].drop_duplicates()["kind"].value_counts()
            st.markdown(f"**{rejects.record_count(frame):,} rejected records of this job** "
                        f"({int(kinds.get('invalid', 0)):,} invalid, {int(kinds.get('duplicate', 0)):,} duplicates; "
                        "one row per violation)")
            _table(frame, "job_rejects_table", column_order=REJECT_TABLE_COLUMNS[1:])


def _runs_section(sources: Any, tz: str) -> None:
    st.subheader("Transform runs")
    choice = st.selectbox("Dagster job", ["transform_job", "all jobs"], key="runs_job")
    jobs = () if choice == "all jobs" else (choice,)
    runs, error = read_runs(str(sources.dagster_home), sources.dagster_url, jobs, tz)
    if error:
        st.info(error)
        return
    if runs.empty:
        st.info("Dagster has no runs of this job yet. The snapshot sensor launches transform_job after new raw data.")
        return
    counts = runs["status"].value_counts()
    cols = st.columns(4)
    latest = runs.iloc[0]
    cols[0].metric("Latest run", latest["status"])
    cols[1].metric("Latest duration", f"{latest['duration_s']:.1f} s" if pd.notna(latest["duration_s"]) else "-")
    cols[2].metric("Runs succeeded", f"{int(counts.get('SUCCESS', 0)):,}")
    cols[3].metric("Runs failed", f"{int(counts.get('FAILURE', 0)):,}")
    _table(
        runs, "runs_table",
        column_config={"url": _run_link_column(), "duration_s": st.column_config.NumberColumn("duration (s)")},
    )


def _lag_section(sources: Any) -> None:
    st.subheader("Stream lag")
    lag, error = read_lag(str(sources.home))
    if error:
        st.info(error)
        return
    cols = st.columns(2)
    cols[0].metric("Stream records behind", f"{int(lag['lag_records'].sum()):,}",
                   help="Stream records (each a chunk of an ingestion request) written but not yet committed "
                        "to the raw tables, over all shards.")
    cols[1].metric("Oldest unread record", f"{lag['oldest_unread_age_s'].max():,.0f} s" if len(lag) else "-")
    _table(lag, "lag_table", column_config={
        "head": st.column_config.NumberColumn("last written", help="sequence number of the shard's newest record"),
        "committed": st.column_config.NumberColumn("committed", help="the consumer's stored position"),
        "lag_records": st.column_config.NumberColumn("behind (stream records)"),
        "oldest_unread_age_s": st.column_config.NumberColumn("oldest unread (s)"),
    })


def _local_times(frame: pd.DataFrame, column: str, tz: str) -> pd.DataFrame:
    """``column`` (UTC) as wall-clock times in ``tz``, for a time axis on a UTC scale."""
    return frame.assign(**{column: data.wall_clock(pd.to_datetime(frame[column], utc=True).dt.tz_convert(data.zone(tz)))})


def _history_chart(frame: pd.DataFrame, container_key: str, title: str, time: tuple[str, str], value: tuple[str, str],
                   series: tuple[str, str], tz: str, axis: alt.Axis | None = None, points: bool = False,
                   order: str | None = None) -> None:
    """A line per ``series`` (column, legend title) of ``value`` (column, axis title with its unit)
    over ``time`` (column, axis title), in a container keyed ``container_key``."""
    encoding: dict[str, Any] = {
        "x": _time_axis(time[0], time[1]),
        "y": alt.Y(f"{value[0]}:Q", title=value[1], axis=axis or alt.Axis()),
        "color": alt.Color(f"{series[0]}:N", title=series[1]),
        "tooltip": [_time_tooltip(time[0], tz), f"{series[0]}:N", alt.Tooltip(f"{value[0]}:Q", title=value[1])],
    }
    if order:
        encoding["order"] = alt.Order(f"{order}:Q")
    chart = alt.Chart(_local_times(frame, time[0], tz), title=title).mark_line(point=points).encode(**encoding)
    with st.container(key=container_key):
        st.altair_chart(chart, width="stretch")


def _bucket_name(bucket: Any) -> str:
    minutes = int(bucket.total_seconds() // 60)
    return "minute" if minutes == 1 else f"{minutes} minutes"


def _history_section(sources: Any, tz: str) -> None:
    """The pipeline's measures over time: derived from the job store, the raw tables' Iceberg
    snapshots and Dagster's materializations; the stream lag from the samples the lag sensor stores."""
    st.subheader("Pipeline over time")
    window = st.selectbox("Over the", list(data.PERIODS), index=1, key="history_window")
    activity, error = read_job_history(sources.job_db, window)
    if error:
        st.info(error)
    else:
        per = _bucket_name(activity["bucket"])
        time = ("bucket", f"{per} ({tz})")
        st.caption(f"Per {per}, from the job store: in = records received (requests), out = records the consumer "
                   "committed to Iceberg (accepted + rejected + duplicates of each chunk).")
        _history_chart(activity["throughput"], "history_throughput_chart",
                       f"Records/s in and out (records per second, average per {per}, {tz})", time,
                       ("records_per_s", "records/s"), ("direction", "direction"), tz)
        if activity["latency"].empty:
            st.info(f"No ingestion job completed in the {window}: no commit latency to show.")
        else:
            _history_chart(activity["latency"], "history_latency_chart",
                           f"Commit latency, POST -> committed to Iceberg (seconds, per {per}, {tz})", time,
                           ("seconds", "seconds"), ("statistic", "jobs completed"), tz, points=True)
        if activity["rejected"].empty:
            st.info(f"No records processed in the {window}: no rejected rate to show.")
        else:
            _history_chart(activity["rejected"].assign(rate="rejected (invalid)"), "history_rejected_chart",
                           f"Rejected rate (% of the records processed, per {per}, {tz})", time,
                           ("rejected_pct", "% rejected"), ("rate", "rate"), tz, points=True)

    fresh, errors = read_freshness_history(str(sources.home), str(sources.dagster_home), window)
    for message in errors:
        st.info(message)
    if fresh.empty:
        st.info(f"No raw table or mart was updated by the end of the {window}: no freshness to show.")
    else:
        _history_chart(fresh, "history_freshness_chart",
                       f"Freshness: minutes since the last update ({tz})", ("at", f"time ({tz})"),
                       ("minutes", "minutes since the last update"), ("table", "table"), tz, order="order")
        st.caption("raw.*: the tables' Iceberg commits (as far back as their snapshots are kept); marts.*: "
                   "Dagster's materializations.")

    settings = _settings()
    lag, error = read_lag_history(sources.job_db, settings.stream_name, window)
    if error:
        st.info(error)
    elif lag.empty:
        st.info(f"No stream lag samples in the {window}: Dagster's consumer_lag_alert_sensor stores one per shard "
                "every minute while the Dagster daemon runs.")
    else:
        _history_chart(lag, "history_lag_chart", f"Stream lag per shard (stream records behind, {tz})",
                       ("sampled_at", f"sampled ({tz})"), ("lag_records", "stream records behind"),
                       ("shard", "shard"), tz, axis=COUNT_AXIS, points=len(lag) <= 200)


# -- Quality --------------------------------------------------------------------------
def quality_view(sources: Any, tz: str) -> None:
    st.header("Quality")
    st.caption("Every asset check as Dagster shows it: dbt tests, Great Expectations suites, the marts' "
               "freshness checks and eventlake's SQL checks, latest execution of each.")
    checks, error = read_checks(str(sources.dagster_home), sources.dagster_url, tz)
    if error:
        st.info(error)
        _dbt_fallback(sources)
    elif checks.empty:
        st.info("Dagster has no check results yet: they appear when transform_job runs.")
    else:
        _checks_section(sources, checks, tz)
    _gx_section(sources, tz)


def _checks_section(sources: Any, checks: pd.DataFrame, tz: str) -> None:
    passed = checks["status"] == orchestrator.CHECK_PASSED
    cols = st.columns(5)
    cols[0].metric("Checks passing", f"{int(passed.sum())}/{len(checks)}")
    for col, (kind, label) in zip(cols[1:], [("dbt", "dbt tests passing"), ("gx", "GX suites passing"),
                                               ("freshness", "Freshness checks passing"),
                                               ("sql", "SQL checks passing")], strict=True):
        mine = checks["kind"] == kind
        col.metric(label, f"{int((passed & mine).sum())}/{int(mine.sum())}")
    never = checks[checks["status"] == orchestrator.CHECK_NEVER_MATERIALIZED]
    if len(never):
        st.caption(f"Not materialized yet, so not fresh (no alert until their first materialization): "
                   f"{', '.join(sorted(never['asset']))}.")
    failing = checks[~passed]
    if failing.empty:
        st.success("Every check passed in its latest execution.")
    else:
        st.markdown("**Checks not passing** (latest execution)")
        _table(failing, "failing_checks_table", column_order=CHECK_TABLE_COLUMNS, column_config=_check_columns())
        _failing_check_records(sources, failing, tz)
    c1, c2 = st.columns(2)
    kind = c1.selectbox("Check kind", [ALL, *orchestrator.CHECK_KINDS], key="checks_kind")
    status = c2.selectbox("Check status", [ALL, *sorted(checks["status"].unique())], key="checks_status")
    shown = checks
    if kind != ALL:
        shown = shown[shown["kind"] == kind]
    if status != ALL:
        shown = shown[shown["status"] == status]
    _table(shown, "checks_table", column_order=CHECK_TABLE_COLUMNS, column_config=_check_columns())

    st.markdown("**History of a check** (its evaluations in the newest transform runs)")
    labels = [f"{a} / {c}" for a, c in zip(checks["asset"], checks["check"], strict=True)]
    picked = st.selectbox("Check", labels, key="check_history")
    asset, check = picked.split(" / ", 1)
    history, error = read_check_history(str(sources.dagster_home), sources.dagster_url, check, asset, tz)
    if error:
        st.info(error)
    elif history.empty:
        st.info(f"{check} has no evaluation in the newest transform runs (its runs failed before it reported).")
    else:
        _table(history, "check_history_table", column_config=_check_columns())


def _check_columns() -> dict[str, Any]:
    return {
        "url": _run_link_column(),
        "failed_rows": st.column_config.NumberColumn("failing rows"),
        "evaluated_at": st.column_config.DatetimeColumn("evaluated", format="YYYY-MM-DD HH:mm:ss"),
    }


def _failing_check_records(sources: Any, failing: pd.DataFrame, tz: str) -> None:
    """A failing check's records: a dbt test's failing rows (its compiled query, run on the warehouse
    now), a GX suite's failed expectations with sample values."""
    name = st.selectbox("Failing check", list(failing["check"]), key="failing_check")
    row = failing[failing["check"] == name].iloc[0]
    if row["kind"] == "gx":
        history, error = read_quality(sources.job_db, tz)
        suite = name.removeprefix("gx_")
        latest = [r for r in (history or []) if r["suite"] == suite][:1]
        failures = data.failing_expectations(latest)
        if error or failures.empty:
            st.info(error or f"No failed expectation of {suite} is recorded.")
        else:
            _table(failures, "failing_check_records")
        return
    if row["kind"] == "freshness":
        st.caption(f"{row['asset']}: {row['description'] or 'no description'}")
        return
    if row["kind"] != "dbt":
        st.caption(f"{name} reports its findings as metadata: open its run in Dagster.")
        return
    results = read_run_results(str(sources.dbt_target_dir))
    sql = next((r.get("compiled_code") for uid, r in results.items()
                if uid.startswith("test.") and uid.split(".")[2] == name and r.get("compiled_code")), None)
    if not sql:
        st.info(f"dbt's run_results.json under {sources.dbt_target_dir} has no compiled query for {name}.")
        return
    rows, error = read_failing_rows(str(sources.duckdb_file), sql, _mtime(sources.duckdb_file))
    if error:
        st.info(error)
    elif rows.empty:
        st.success(f"{name}'s query finds no failing rows in the warehouse now.")
    else:
        st.markdown(f"**Failing rows of {name}** (its query, run on the warehouse now; at most 20)")
        _table(rows, "failing_check_records")


def _dbt_fallback(sources: Any) -> None:
    results = read_run_results(str(sources.dbt_target_dir))
    tests = {k: v for k, v in results.items() if k.startswith("test.")}
    if not tests:
        return
    st.markdown("**dbt tests** (from dbt's run_results.json, Dagster being unavailable)")
    frame = pd.DataFrame(
        [{"test": k.split(".")[2], "status": v["status"], "failures": v["failures"], "message": v["message"]}
         for k, v in sorted(tests.items())]
    )
    _table(frame, "dbt_results_table")


def _gx_section(sources: Any, tz: str) -> None:
    st.subheader("Great Expectations suites")
    history, error = read_quality(sources.job_db, tz)
    if error:
        st.info(error)
        return
    if not history:
        st.info("No quality results recorded yet. The transform job stores them when its checks run.")
        return
    latest = data.latest_per_suite(history)
    passing = sum(1 for r in latest if r["success"])
    st.metric("Suites passing", f"{passing}/{len(latest)}")
    cols = st.columns(min(len(latest), 4))
    for i, result in enumerate(latest):
        failed = result["evaluated"] - result["successful"]
        cols[i % len(cols)].metric(
            f"{result['suite']} ({result['asset']})",
            f"{result['successful']}/{result['evaluated']}",
            delta="all passed" if result["success"] else f"-{failed} failed",
            help=f"run at {result['run_at']:%Y-%m-%d %H:%M:%S %Z}, {result.get('row_count') or 0} rows",
            border=True,
        )
    failing = data.failing_expectations(latest)
    if failing.empty:
        st.success("Every expectation passed in the latest run of every suite.")
    else:
        st.markdown("**Failing expectations** (latest run of each suite, with sample failing values)")
        _table(failing, "failing_expectations_table")

    st.markdown("**History per suite**")
    suite = st.selectbox("Suite", [r["suite"] for r in latest], key="quality_suite")
    runs = [r for r in history if r["suite"] == suite]
    table = pd.DataFrame([
        {"run_at": r["run_at"], "passed": r["success"], "expectations": f"{r['successful']}/{r['evaluated']}",
         "rows": r.get("row_count"), "run_id": r.get("run_id"),
         "failed": ", ".join(f"{e.get('expectation')} on {e.get('column')}" for e in r.get("results", [])
                             if not e.get("success")),
         # the run's Great Expectations Data Docs page (a file under EVENTLAKE_HOME, or s3:// in PROD)
         "data_docs": r.get("data_docs")}
        for r in runs
    ])
    _table(table, "suite_history_table")
    index = next((r.get("data_docs_index") for r in runs if r.get("data_docs_index")), None)
    if index:
        st.caption(f"Data Docs of every run: `{index}`")
    failures = data.failing_expectations([r for r in runs if not r["success"]][:20])
    if not failures.empty:
        st.markdown(f"**Failures of {suite}** (newest runs first, with sample failing values)")
        _table(failures, "suite_failures_table")
    trend = data.quality_trend(history)
    if len(trend) and trend.groupby("suite").size().max() > 1:  # a line needs two runs of a suite
        chart = (
            alt.Chart(trend.assign(run_at=data.wall_clock(trend["run_at"])),
                      title=f"Share of expectations passing ({tz})")
            .mark_line(point=True)
            .encode(
                x=_time_axis("run_at", f"run ({tz})"),
                y=alt.Y("pass_rate:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
                color="suite:N",
                tooltip=[_time_tooltip("run_at", tz), "suite:N", alt.Tooltip("pass_rate:Q", format=".0%")],
            )
        )
        st.altair_chart(chart, width="stretch")


# -- Rejected records -----------------------------------------------------------------
def rejects_view(sources: Any, tz: str) -> None:
    st.header("Rejected records")
    frame, error = read_rejects(str(sources.home), tz, None)
    if error:
        st.info(error)
        return
    if frame.empty:
        st.info("No record has been rejected: every record received so far met its contract.")
        return
    c1, c2, c3 = st.columns([2, 1, 1])
    jobs = c1.multiselect("Job", sorted(frame["job_id"].unique()), key="rej_jobs", placeholder="all")
    datasets = c2.multiselect("Dataset", sorted(frame["dataset"].unique()), key="rej_datasets", placeholder="all")
    rules = c3.multiselect("Rule", sorted(frame["rule"].dropna().unique()), key="rej_rules", placeholder="all")
    shown = rejects.filter_rejects(frame, rejects.RejectFilters(tuple(jobs), tuple(datasets), tuple(rules)))
    records = shown[["job_id", "record_index", "kind"]].drop_duplicates()
    cols = st.columns(3)
    cols[0].metric("Rejected records", f"{len(records):,}")
    cols[1].metric("Invalid", f"{int((records['kind'] == 'invalid').sum()):,}")
    cols[2].metric("Duplicate", f"{int((records['kind'] == 'duplicate').sum()):,}")
    reasons = rejects.by_reason(shown)
    if not reasons.empty:
        reasons = reasons.assign(reason=reasons["rule"].fillna("") + " / " + reasons["field"].fillna("-"))
        chart = (
            alt.Chart(reasons, title="Rejected records by reason (rule / field)", height=alt.Step(26))
            .mark_bar()
            .encode(
                y=alt.Y("reason:N", sort="-x", title=None, axis=alt.Axis(labelLimit=300)),
                x=alt.X("records:Q", axis=COUNT_AXIS),
                color=alt.Color("kind:N", scale=alt.Scale(domain=["invalid", "duplicate"],
                                                          range=[data.OUTCOME_RANGE[1], data.OUTCOME_RANGE[2]])),
                tooltip=["rule", "field", "kind", alt.Tooltip("records:Q", format=",d")],
            )
        )
        st.altair_chart(chart, width="stretch")
    st.markdown(f"**Violations** ({len(shown):,} rows: one per violation, with the record as it arrived; times in {tz})")
    _table(shown, "rejects_table", column_order=REJECT_TABLE_COLUMNS, column_config={
        "job_id": st.column_config.TextColumn("job"),
        "record_index": st.column_config.NumberColumn("record", help="0-based index of the record in its request"),
        "raw": st.column_config.TextColumn("raw record", width="large"),
        "rejected_at": st.column_config.DatetimeColumn("rejected", format="YYYY-MM-DD HH:mm:ss"),
    })
    st.download_button(
        "Download CSV", rejects.to_csv(shown), file_name="rejected_records.csv", mime="text/csv",
        key="rej_download", help="The violations shown, as CSV.",
    )


# -- Lineage --------------------------------------------------------------------------
def _lineage_chart(lineage: data.Lineage, selected: str | None) -> alt.LayerChart:
    positions: dict[str, tuple[int, float]] = {}
    rows = []
    for x, (layer, nodes) in enumerate(lineage.by_layer().items()):
        for y, node in enumerate(nodes):
            offset = y - (len(nodes) - 1) / 2
            positions[node.unique_id] = (x, offset)
            rows.append({"name": node.name, "layer": layer, "x": x, "y": offset,
                         "type": node.materialized or node.resource_type, "tests": node.tests,
                         "selected": node.name == selected})
    nodes = pd.DataFrame(rows)
    edges = pd.DataFrame([
        {"x": positions[p][0], "y": positions[p][1], "x2": positions[c][0], "y2": positions[c][1]}
        for p, c in lineage.edges
    ], columns=["x", "y", "x2", "y2"])
    pick = alt.selection_point(name="node", fields=["name"], on="click", clear=False)
    x = alt.X("x:Q", axis=None, scale=alt.Scale(domain=[-0.4, len(data.LAYERS) - 0.4]))
    y = alt.Y("y:Q", axis=None)
    links = alt.Chart(edges).mark_rule(color="#999999").encode(x=x, y=y, x2="x2:Q", y2="y2:Q")
    points = (
        alt.Chart(nodes)
        .mark_point(filled=True, size=500, shape="square", cursor="pointer")
        .encode(
            x=x, y=y,
            color=alt.Color("layer:N", scale=alt.Scale(domain=list(data.LAYERS),
                                                       range=["#f58518", "#4c78a8", "#b279a2", "#54a24b"])),
            stroke=alt.condition("datum.selected", alt.value("black"), alt.value(None)),
            strokeWidth=alt.value(3),
            tooltip=["name", "layer", "type", "tests"],
        )
        .add_params(pick)
    )
    labels = alt.Chart(nodes).mark_text(align="left", dx=14, fontSize=12).encode(x=x, y=y, text="name:N")
    return (links + points + labels).properties(height=max(60 * int(nodes.groupby("layer").size().max()), 240),
                                                title="Click a node to see its details")


def _select_model_from_chart() -> None:
    state = st.session_state.get("lineage_chart")
    selection = getattr(state, "selection", None) if state is not None else None
    if selection is None and isinstance(state, dict):
        selection = state.get("selection")
    picked = (selection or {}).get("node") or []
    if picked and picked[0].get("name"):
        st.session_state["lineage_model"] = picked[0]["name"]


def lineage_view(sources: Any, tz: str) -> None:
    st.header("Lineage")
    manifest, error = read_manifest(str(sources.dbt_target_dir), _mtime(sources.manifest_path))
    if error:
        st.info(error)
        return
    prod = _settings().env == "PROD"
    lineage = data.lineage_from_manifest(manifest, prod=prod)
    if not lineage.nodes:
        st.info(f"The dbt manifest at {sources.manifest_path} lists no models.")
        return
    st.caption(
        ("Snowflake RAW tables, loaded from the raw Iceberg tables by the Dagster assets snowflake_raw_*, "
         if prod else "Raw Iceberg tables (Dagster assets raw_*) ")
        + "feed the dbt models: staging -> intermediate -> marts. "
        f"From {sources.manifest_path}" + (f", generated {lineage.generated_at}" if lineage.generated_at else "")
    )
    names = [n.name for n in lineage.nodes]
    if st.session_state.get("lineage_model") not in names:
        st.session_state["lineage_model"] = next((n for n in names if n == "fact_events"), names[-1])
    selected = st.session_state["lineage_model"]
    with st.container(key="lineage_graph"):
        st.altair_chart(_lineage_chart(lineage, selected), width="stretch", key="lineage_chart",
                        on_select=_select_model_from_chart, selection_mode="node")
    model = st.selectbox("Model", names, key="lineage_model")
    node = next(n for n in lineage.nodes if n.name == model)
    _model_details(sources, manifest, node, tz)


def _model_details(sources: Any, manifest: dict, node: data.LineageNode, tz: str) -> None:
    details = data.model_details(manifest, node.unique_id)
    st.subheader(f"{node.name} ({node.layer})")
    facts = [details["materialized"] or details["resource_type"] or ""]
    if details["path"]:
        facts.append(f"dbt_project/{details['path']}")
    if details["relation"]:
        facts.append(details["relation"])
    st.caption(" · ".join(f for f in facts if f))
    if details["description"]:
        st.markdown(details["description"])

    found, error = read_materializations(str(sources.dagster_home), (node.name,))
    latest = (found or {}).get(node.name)
    st.markdown("**Latest run**")
    if error:
        st.info(error)
    elif latest is None:
        st.info(f"Dagster has no materialization of {node.name} yet.")
    else:
        at = pd.Timestamp(latest["at"]).tz_convert(data.zone(tz))
        meta = latest["metadata"]
        cols = st.columns(3)
        cols[0].metric("Materialized", f"{at:%Y-%m-%d %H:%M:%S}")
        cols[1].metric("Rows", f"{int(meta['dagster/row_count']):,}" if "dagster/row_count" in meta else "-")
        cols[2].metric("dbt status", str(meta.get("status", meta.get("operation", "-"))))
        if latest["run_id"]:
            st.markdown(f"[Run {latest['run_id'][:8]} in Dagster]"
                        f"({orchestrator.run_url(sources.dagster_url, latest['run_id'])})")
        else:
            st.caption("Reported by the snapshot sensor (no run): the consumer's Iceberg commit.")

    st.markdown("**Columns**")
    if details["schema"] and details["resource_type"] != "source":
        actual, _ = read_warehouse_columns(str(sources.duckdb_file), details["schema"], details["table"],
                                           _mtime(sources.duckdb_file))
        if actual is not None and not actual.empty:
            details["columns"] = data.with_warehouse_types(details["columns"], actual)
    if details["columns"].empty:
        st.caption("No columns documented in the dbt yml.")
    else:
        _table(details["columns"], "model_columns_table")
    st.markdown("**Tests**")
    tests = details["tests"]
    if tests.empty:
        st.caption("No dbt tests on this model.")
        return
    checks, error = read_checks(str(sources.dagster_home), sources.dagster_url, tz)
    if not error and not checks.empty:
        status = checks.drop_duplicates("check").set_index("check")
        tests = tests.assign(
            status=tests["test"].map(status["status"]),
            failed_rows=tests["test"].map(status["failed_rows"]),
            evaluated_at=tests["test"].map(status["evaluated_at"]),
        )
    _table(tests, "model_tests_table")


# -- Explore --------------------------------------------------------------------------
def explore_view(sources: Any, tz: str, period: str) -> None:
    st.header("Explore")
    warehouse = _warehouse_key()
    if warehouse is None:
        st.caption("Events in marts.fact_events, joined to dim_users and dim_products.")
        mtime = _mtime(sources.duckdb_file)
        options, error = read_explore_options(str(sources.duckdb_file), tz, mtime)
    else:
        settings = _settings()
        st.caption(f"Events in {settings.snowflake_database}.MARTS.FACT_EVENTS joined to DIM_USERS, read from "
                   "Snowflake through the warehouse resource (PROD).")
        found, error = read_explore_warehouse(warehouse, (), None, None, "", "", tz)
        options = found[1] if found else None
    if error:
        st.info(error)
        return
    if options.first_date is None:
        st.info("marts.fact_events is empty: ingest events and run the transform job.")
        return

    c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
    event_types = c1.multiselect("Event type", list(options.event_types), key="f_event_types", placeholder="all")
    dates = c2.date_input(f"Dates ({tz})", value=(options.first_date, options.last_date), key="f_dates")
    job_id = c3.text_input("Job id", key="f_job_id")
    user_id = c4.text_input("User id", key="f_user_id", disabled=not options.has_user_dimension)
    dates = tuple(dates) if isinstance(dates, (tuple, list)) else (dates,)
    start = dates[0] if len(dates) > 0 else None
    end = dates[1] if len(dates) > 1 else None

    if warehouse is None:
        result, error = read_explore(
            str(sources.duckdb_file), tuple(sorted(event_types)), start, end, job_id, user_id, tz, mtime, period
        )
    else:
        found, error = read_explore_warehouse(warehouse, tuple(sorted(event_types)), start, end, job_id, user_id, tz)
        result = found[0] if found else None
    if error:
        st.info(error)
        return

    m1, m2, m3 = st.columns(3)
    if result.periods is None:  # read through the warehouse resource: totals only
        m1.metric("Events", f"{result.total:,}", border=True)
        m2.metric("Users", f"{result.users:,}", border=True)
        m3.metric("Event value", f"{result.value_sum:,.2f}", border=True)
    else:
        now, before = result.periods["current"], result.periods["previous"]
        window = period.replace("last ", "")
        help_text = (f"Change: matching events of the {window} up to the newest one minus the {window} before "
                     "(by event time).")
        m1.metric("Events", f"{result.total:,}", delta=f"{now['events'] - before['events']:+,.0f}",
                  help=help_text, border=True)
        m2.metric("Users", f"{result.users:,}", delta=f"{now['users'] - before['users']:+,.0f}", help=help_text,
                  border=True)
        m3.metric("Event value", f"{result.value_sum:,.2f}", delta=f"{now['value'] - before['value']:+,.2f}",
                  help=help_text, border=True)
    if result.total == 0:
        st.info("No events match these filters.")
        return

    per_hour = result.per_hour
    hours = per_hour.assign(hour=data.wall_clock(per_hour["hour"]))
    color = event_type_color(options.event_types)
    chart = _stacked_bars(hours, f"Events per hour ({tz})", ("hour", f"hour ({tz})"), "events", color, tz)
    st.altair_chart(chart, width="stretch")
    with st.expander(f"Hourly counts ({tz})"):
        hourly = per_hour.assign(hour=_local_label(per_hour["hour"])).pivot_table(
            index="hour", columns="event_type", values="events", aggfunc="sum", fill_value=0
        )
        _table(hourly, "hourly_counts_table", hide_index=False)

    st.altair_chart(
        _bar(result.by_type, "event_type", "events", event_type_color(options.event_types, legend=False),
             "Events by type"),
        width="stretch",
    )
    shown = min(result.total, result.limit)
    st.markdown(f"**Events** (newest {shown:,} of {result.total:,}, times in {tz})")
    _table(result.rows, "events_table")


# -- page -------------------------------------------------------------------------
def main() -> None:
    st.set_page_config(page_title="eventlake", layout="wide")
    sources = data.DashboardSources.from_settings(_settings())

    with st.sidebar:
        st.header("eventlake")
        exists = "" if sources.home.exists() else " (does not exist yet)"
        st.markdown(f"Reading **EVENTLAKE_HOME** `{sources.home}`{exists}")
        st.caption(
            f"job DB `{sources.job_db_display}`  \nwarehouse `{sources.duckdb_file}`  \n"
            f"dbt target `{sources.dbt_target_dir}`  \nDagster home `{sources.dagster_home}`"
        )
        st.markdown(f"[Dagster UI]({sources.dagster_url})")
        browser_tz = None
        try:
            browser_tz = st.context.timezone
        except Exception:  # not available outside a browser session
            pass
        tz = st.selectbox("Time zone", data.timezone_choices(browser_tz), index=0, key="tz")
        period = st.selectbox("Metric deltas compare the", list(data.PERIODS), index=1, key="delta_period",
                              help="The cards' deltas: this period minus the one before it.")
        if st.button("Refresh", key="refresh"):
            st.cache_data.clear()
        st.caption(f"Reads are cached for {CACHE_TTL_S} s.")

    st.title("eventlake")
    pipeline, quality, rejected, lineage, explore = st.tabs(list(TABS))
    with pipeline:
        pipeline_view(sources, tz, period)
    with quality:
        quality_view(sources, tz)
    with rejected:
        rejects_view(sources, tz)
    with lineage:
        lineage_view(sources, tz)
    with explore:
        explore_view(sources, tz, period)


main()
