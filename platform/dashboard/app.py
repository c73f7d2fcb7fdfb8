"""eventlake dashboard: pipeline metrics, asset lineage, quality results, event explorer.

Run: ``streamlit run platform/dashboard/app.py`` (reads the EVENTLAKE_HOME of its environment;
``eventlake demo`` starts it). Every read goes through :mod:`eventlake.dashboard.data`; this file only
lays the views out.
Reads are cached for a few seconds; the sidebar's Refresh clears the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from eventlake.dashboard import data

CACHE_TTL_S = 5
RECENT_JOBS_SHOWN = 50
EXPLORE_ROWS = 1000


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


# -- cached reads (arguments are plain values so Streamlit can hash them) --------
@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_pipeline(job_db: str, tz: str, status: str | None) -> tuple[Any, str | None]:
    metrics, error = _attempt(data.pipeline_metrics, job_db)
    if error:
        return None, error
    jobs, error = _attempt(data.recent_jobs, job_db, tz=tz, limit=1000)
    if error:
        return None, error
    shown = jobs if status is None else jobs[jobs["status"] == status]
    return (metrics, jobs, shown.head(RECENT_JOBS_SHOWN)), None


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_lineage(target_dir: str, mtime_key: float) -> tuple[Any, str | None]:
    manifest, error = _attempt(data.load_manifest, Path(target_dir))
    if error:
        return None, error
    return data.lineage_from_manifest(manifest), None


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def read_quality(job_db: str, tz: str) -> tuple[Any, str | None]:
    return _attempt(data.quality_history, job_db, tz=tz)


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
) -> tuple[Any, str | None]:
    filters = data.EventFilters(event_types, start, end, job_id, user_id, tz)
    return _attempt(data.explore, Path(duckdb_file), filters, limit=EXPLORE_ROWS)


# -- helpers for charts -------------------------------------------------------------
def _local_label(values: pd.Series) -> pd.Series:
    return values.dt.strftime("%Y-%m-%d %H:%M %z")


def _time_axis(field: str, title: str) -> alt.X:
    # Wall-clock local times on a UTC scale: the browser must not shift them again.
    return alt.X(f"{field}:T", title=title, scale=alt.Scale(type="utc"), axis=alt.Axis(format="%b %d %H:%M"))


def _time_tooltip(field: str, title: str) -> alt.Tooltip:
    return alt.Tooltip(f"{field}:T", title=title, format="%Y-%m-%d %H:%M", formatType="utc")


def _stacked_bars(frame: pd.DataFrame, title: str, time: tuple[str, str], value: str, colour: str, tz: str) -> alt.Chart:
    """Bars over time (``time``: the column and its axis title), ``value`` stacked by ``colour``."""
    return (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(
            x=_time_axis(time[0], time[1]),
            y=alt.Y(f"{value}:Q", stack=True),
            color=f"{colour}:N",
            tooltip=[_time_tooltip(time[0], tz), f"{colour}:N", f"{value}:Q"],
        )
    )


def _bar(frame: pd.DataFrame, x: str, y: str, color: str | None = None, title: str = "") -> alt.Chart:
    encoding: dict[str, Any] = {"x": alt.X(f"{x}:N", sort="-y", title=None), "y": alt.Y(f"{y}:Q", title=None)}
    if color:
        encoding["color"] = alt.Color(f"{color}:N", legend=None)
    return alt.Chart(frame, title=title).mark_bar().encode(**encoding, tooltip=[x, y])


# -- views --------------------------------------------------------------------------
def pipeline_view(sources: Any, tz: str) -> None:
    st.subheader("Pipeline metrics")
    status = st.selectbox("Recent jobs with status", ["All", *data.JOB_STATUSES], key="jobs_status")
    result, error = read_pipeline(sources.job_db, tz, None if status == "All" else status)
    if error:
        st.info(error)
        return
    metrics, jobs, shown = result
    if metrics["jobs_total"] == 0:
        st.info("The job database has no ingestion jobs yet. POST records to the API's /ingest endpoint.")
        return

    cols = st.columns(5)
    cols[0].metric("Jobs", f"{metrics['jobs_total']:,}")
    cols[1].metric("Records received", f"{metrics['records_received']:,}")
    cols[2].metric("Records accepted", f"{metrics['records_accepted']:,}")
    cols[3].metric("Records rejected", f"{metrics['records_rejected']:,}")
    cols[4].metric("Duplicates", f"{metrics['records_duplicates']:,}")
    details = []
    if metrics.get("last_completed_at"):
        last = pd.Timestamp(metrics["last_completed_at"]).tz_convert(data.zone(tz))
        details.append(f"last job completed {last:%Y-%m-%d %H:%M:%S %Z}")
    if metrics.get("avg_seconds_to_complete") is not None:
        details.append(f"average {metrics['avg_seconds_to_complete']:.1f} s from request to completion")
    if details:
        st.caption("; ".join(details))

    left, right = st.columns(2)
    by_status = pd.DataFrame(
        [{"status": s, "jobs": n} for s, n in metrics["jobs_by_status"].items()], columns=["status", "jobs"]
    )
    left.altair_chart(_bar(by_status, "status", "jobs", "status", "Jobs by status"), width="stretch")
    records = pd.DataFrame(
        {
            "outcome": ["accepted", "rejected", "duplicates"],
            "records": [metrics["records_accepted"], metrics["records_rejected"], metrics["records_duplicates"]],
        }
    )
    right.altair_chart(_bar(records, "outcome", "records", "outcome", "Records by outcome"), width="stretch")

    per_bucket, unit = data.throughput(jobs)
    if per_bucket.empty:
        st.info("No job has completed yet, so there is no throughput to chart.")
    else:
        long = per_bucket.assign(bucket=data.wall_clock(per_bucket["bucket"])).melt(
            id_vars=["bucket"], value_vars=["accepted", "rejected", "duplicates"], var_name="outcome", value_name="records"
        )
        title = f"Records per {unit} of job completion ({tz})"
        chart = _stacked_bars(long, title, ("bucket", f"{unit} ({tz})"), "records", "outcome", tz)
        st.altair_chart(chart, width="stretch")

    st.markdown(f"**Recent jobs** ({len(shown)} shown, times in {tz})")
    if shown.empty:
        st.info(f"No jobs with status {status}.")
    else:
        st.dataframe(shown, hide_index=True, width="stretch")


def lineage_view(sources: Any) -> None:
    st.subheader("Asset lineage")
    lineage, error = read_lineage(str(sources.dbt_target_dir), _mtime(sources.manifest_path))
    if error:
        st.info(error)
        return
    if not lineage.nodes:
        st.info(f"The dbt manifest at {sources.manifest_path} lists no models.")
        return
    st.caption(
        "Raw Iceberg tables (Dagster assets raw_*) feed the dbt models: staging -> intermediate -> marts. "
        f"From {sources.manifest_path}" + (f", generated {lineage.generated_at}" if lineage.generated_at else "")
    )
    st.graphviz_chart(data.lineage_dot(lineage), width="stretch")
    table = pd.DataFrame(
        [
            {"asset": n.name, "layer": n.layer, "type": n.materialized or n.resource_type, "dbt tests": n.tests}
            for n in lineage.nodes
        ]
    )
    st.dataframe(table, hide_index=True, width="stretch")


def quality_view(sources: Any, tz: str) -> None:
    st.subheader("Data quality (Great Expectations)")
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
        st.markdown("**Failing expectations** (latest run of each suite)")
        st.dataframe(failing, hide_index=True, width="stretch")

    trend = data.quality_trend(history)
    if trend["run_at"].nunique() > 1:
        chart = (
            alt.Chart(trend.assign(run_at=data.wall_clock(trend["run_at"])), title=f"Share of expectations passing ({tz})")
            .mark_line(point=True)
            .encode(
                x=_time_axis("run_at", f"run ({tz})"),
                y=alt.Y("pass_rate:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
                color="suite:N",
                tooltip=[_time_tooltip("run_at", tz), "suite:N", alt.Tooltip("pass_rate:Q", format=".0%")],
            )
        )
        st.altair_chart(chart, width="stretch")


def explore_view(sources: Any, tz: str) -> None:
    st.subheader("Explore events (marts.fact_events)")
    mtime = _mtime(sources.duckdb_file)
    options, error = read_explore_options(str(sources.duckdb_file), tz, mtime)
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

    result, error = read_explore(
        str(sources.duckdb_file), tuple(sorted(event_types)), start, end, job_id, user_id, tz, mtime
    )
    if error:
        st.info(error)
        return

    m1, m2, m3 = st.columns(3)
    m1.metric("Events", f"{result.total:,}")
    m2.metric("Users", f"{result.users:,}")
    m3.metric("Event value", f"{result.value_sum:,.2f}")
    if result.total == 0:
        st.info("No events match these filters.")
        return

    per_hour = result.per_hour
    hours = per_hour.assign(hour=data.wall_clock(per_hour["hour"]))
    chart = _stacked_bars(hours, f"Events per hour ({tz})", ("hour", f"hour ({tz})"), "events", "event_type", tz)
    st.altair_chart(chart, width="stretch")
    with st.expander(f"Hourly counts ({tz})"):
        hourly = per_hour.assign(hour=_local_label(per_hour["hour"])).pivot_table(
            index="hour", columns="event_type", values="events", aggfunc="sum", fill_value=0
        )
        st.dataframe(hourly, width="stretch")

    st.altair_chart(_bar(result.by_type, "event_type", "events", "event_type", "Events by type"), width="stretch")
    shown = min(result.total, result.limit)
    st.markdown(f"**Events** (newest {shown:,} of {result.total:,}, times in {tz})")
    st.dataframe(result.rows, hide_index=True, width="stretch")


# -- page -------------------------------------------------------------------------
def main() -> None:
    from eventlake.settings import get_settings

    st.set_page_config(page_title="eventlake", layout="wide")
    sources = data.DashboardSources.from_settings(get_settings())

    with st.sidebar:
        st.header("eventlake")
        exists = "" if sources.home.exists() else " (does not exist yet)"
        st.markdown(f"Reading **EVENTLAKE_HOME** `{sources.home}`{exists}")
        st.caption(
            f"job DB `{sources.job_db_display}`  \nwarehouse `{sources.duckdb_file}`  \n"
            f"dbt target `{sources.dbt_target_dir}`"
        )
        st.markdown(f"[Dagster UI]({sources.dagster_url})")
        browser_tz = None
        try:
            browser_tz = st.context.timezone
        except Exception:  # not available outside a browser session
            pass
        tz = st.selectbox("Time zone", data.timezone_choices(browser_tz), index=0, key="tz")
        if st.button("Refresh", key="refresh"):
            st.cache_data.clear()
        st.caption(f"Reads are cached for {CACHE_TTL_S} s.")

    st.title("eventlake")
    pipeline, lineage, quality, explore = st.tabs(["Pipeline", "Lineage", "Quality", "Explore"])
    with pipeline:
        pipeline_view(sources, tz)
    with lineage:
        lineage_view(sources)
    with quality:
        quality_view(sources, tz)
    with explore:
        explore_view(sources, tz)


main()
