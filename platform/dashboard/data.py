"""What the dashboard reads, as plain functions (no Streamlit here, so tests call them).

Sources, all located by eventlake's Settings (``EVENTLAKE_*``):

* the job store (``settings.job_db``): ingestion jobs and their record counts, the GX results
  (``quality_results``) and the consumer's stored stream positions;
* the local stream (``eventlake.stream.local``): how far it has been written, for the lag;
* the dbt artifacts in ``settings.dbt_target_path`` (``EVENTLAKE_DBT_TARGET_DIR``): the manifest
  (lineage, a model's columns and tests) and ``run_results.json`` (test results and queries);
* the DuckDB warehouse (``settings.duckdb_file``): ``marts.fact_events`` joined to its
  dimensions, and a model's column types.

Dagster's runs and checks are read in :mod:`eventlake.dashboard.orchestrator`, the rejected
records in :mod:`eventlake.dashboard.rejects`.

The dashboard only reads: a missing SQLite job DB or DuckDB file is reported as
:class:`SourceUnavailable`, never created. DuckDB is opened read-only per call and
closed at once, so the dashboard never holds the lock a dbt run needs.

Times are stored in UTC; every function that returns times takes ``tz`` (an IANA
name) and returns them in that zone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pandas as pd

from eventlake.dbt.nodes import LAYERS as DBT_LAYERS
from eventlake.dbt.nodes import RAW_LAYER, asset_key_path, layer_of, loader_asset_name
from eventlake.stream.lag import LAG_FIELDS

log = logging.getLogger("eventlake.dashboard")

DBT_TARGET_ENV = "EVENTLAKE_DBT_TARGET_DIR"  # named in messages; read by the settings (dbt_target_dir)

LAYERS = (RAW_LAYER, *DBT_LAYERS)
JOB_STATUSES = ("PENDING", "PROCESSING", "COMPLETED", "FAILED")


class SourceUnavailable(RuntimeError):
    """A source is missing, empty, locked or unreadable; the message tells a person what to do."""


# ---------------------------------------------------------------------------
# where the dashboard reads
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DashboardSources:
    home: Path
    job_db: str
    duckdb_file: Path
    dbt_target_dir: Path
    dagster_url: str
    dagster_home: Path = Path()

    @property
    def manifest_path(self) -> Path:
        return self.dbt_target_dir / "manifest.json"

    @property
    def job_db_display(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.job_db).render_as_string(hide_password=True)

    @classmethod
    def from_settings(cls, settings: Any = None) -> DashboardSources:
        from eventlake.settings import get_settings

        settings = settings or get_settings()
        return cls(
            home=settings.home,
            job_db=settings.job_db,
            duckdb_file=settings.duckdb_file,
            dbt_target_dir=settings.dbt_target_path,
            dagster_url=settings.dagster_url,
            dagster_home=settings.dagster_home,
        )


def _missing_sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL when it does not exist (opening would create it)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    path = Path(parsed.database).expanduser()
    return None if path.exists() else path


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except Exception as exc:  # ZoneInfoNotFoundError, ValueError for odd names
        raise ValueError(f"unknown time zone {tz!r}") from exc


def timezone_choices(preferred: str | None = None) -> list[str]:
    """IANA zones, UTC and the preferred (browser) zone first."""
    zones = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    head = ["UTC"]
    if preferred and preferred != "UTC" and preferred in available_timezones():
        head.insert(0, preferred)
    return head + [z for z in zones if z not in head]


def _to_zone(values: pd.Series, tz: str) -> pd.Series:
    """UTC times (naive = UTC, or aware) as aware times in ``tz``."""
    values = pd.to_datetime(values)
    if values.dt.tz is None:
        values = values.dt.tz_localize("UTC")
    return values.dt.tz_convert(zone(tz))


def _hour_start(values: pd.Series) -> pd.Series:
    """Start of the local hour of aware times (stays aware, unambiguous across DST changes)."""
    return values - pd.to_timedelta(values.dt.minute * 60 + values.dt.second, unit="s") - pd.to_timedelta(
        values.dt.microsecond, unit="us"
    ) - pd.to_timedelta(values.dt.nanosecond, unit="ns")


def wall_clock(values: pd.Series) -> pd.Series:
    """Aware times as naive local wall-clock times, for charts drawn on a UTC scale."""
    return values.dt.tz_localize(None)


# ---------------------------------------------------------------------------
# pipeline metrics (the job store)
# ---------------------------------------------------------------------------
JOB_COLUMNS = [
    "job_id", "dataset", "format", "status", "created_at", "completed_at", "record_count",
    "accepted_count", "rejected_count", "duplicate_count", "parts_done", "parts", "snapshot_id", "error_message",
]


def _job_store(job_db: str):
    missing = _missing_sqlite_file(job_db)
    if missing is not None:
        raise SourceUnavailable(
            f"No job database yet at {missing}. It appears when the API accepts its first "
            "ingestion request (`eventlake api`, then POST /ingest)."
        )
    from eventlake.state.ingestion_jobs import IngestionJobStore

    try:
        return IngestionJobStore(job_db)
    except Exception as exc:
        raise SourceUnavailable(f"Cannot open the job database {job_db}: {exc}") from exc


def pipeline_metrics(job_db: str) -> dict[str, Any]:
    """``IngestionJobStore.metrics()``: jobs_by_status, jobs_total, records_received/accepted/rejected/duplicates..."""
    store = _job_store(job_db)
    try:
        return store.metrics()
    finally:
        store.close()


def recent_jobs(job_db: str, tz: str = "UTC", limit: int = 1000, status: str | None = None) -> pd.DataFrame:
    """The most recent jobs, newest first, times in ``tz``."""
    store = _job_store(job_db)
    try:
        jobs = store.list_jobs(limit=limit, status=status)
    finally:
        store.close()
    frame = pd.DataFrame(
        [{column: getattr(job, column) for column in JOB_COLUMNS} for job in jobs], columns=JOB_COLUMNS
    )
    frame["status"] = frame["status"].astype(str).str.replace("JobStatus.", "", regex=False)
    for column in ("created_at", "completed_at"):
        frame[column] = _to_zone(frame[column], tz) if len(frame) else pd.Series(dtype=f"datetime64[ns, {tz}]")
    return frame


def throughput(jobs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Records accepted/rejected/duplicated per time bucket of job completion (local times).

    The bucket (minute, hour or day) follows the time span shown. Returns the
    frame (``bucket``, ``accepted``, ``rejected``, ``duplicates``, ``jobs``) and
    the bucket's name.
    """
    done = jobs[jobs["completed_at"].notna()] if len(jobs) else jobs
    if done.empty:
        return pd.DataFrame(columns=["bucket", "accepted", "rejected", "duplicates", "jobs"]), "hour"
    times = done["completed_at"]
    span = times.max() - times.min()
    if span <= pd.Timedelta(hours=3):
        unit, bucket = "minute", times - pd.to_timedelta(times.dt.second, unit="s") - pd.to_timedelta(
            times.dt.microsecond, unit="us"
        )
    elif span <= pd.Timedelta(days=7):
        unit, bucket = "hour", _hour_start(times)
    else:
        unit, bucket = "day", times.dt.normalize()
    grouped = (
        done.assign(bucket=bucket)
        .groupby("bucket", sort=True)
        .agg(
            accepted=("accepted_count", "sum"),
            rejected=("rejected_count", "sum"),
            duplicates=("duplicate_count", "sum"),
            jobs=("job_id", "count"),
        )
        .reset_index()
    )
    return grouped, unit


# ---------------------------------------------------------------------------
# lineage (the dbt manifest)
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LineageNode:
    unique_id: str
    name: str  # Dagster asset name: raw_events for source raw.events, else the model name
    layer: str
    resource_type: str
    materialized: str | None = None
    tests: int = 0


@dataclass(frozen=True)
class Lineage:
    nodes: tuple[LineageNode, ...]
    edges: tuple[tuple[str, str], ...]  # (parent unique_id, child unique_id)
    generated_at: str | None = None

    def by_layer(self) -> dict[str, list[LineageNode]]:
        layers: dict[str, list[LineageNode]] = {layer: [] for layer in LAYERS}
        for node in self.nodes:
            layers.setdefault(node.layer, []).append(node)
        return layers

    def names(self) -> dict[str, str]:
        return {n.unique_id: n.name for n in self.nodes}


def load_manifest(target_dir: Path) -> dict[str, Any]:
    path = Path(target_dir) / "manifest.json"
    if not path.exists():
        raise SourceUnavailable(
            f"No dbt manifest at {path}. Run the transform job, or start the Dagster code location "
            "(`eventlake demo`, `dagster dev -w workspace.yaml`) with the same EVENTLAKE_HOME: it parses the "
            f"dbt project into $EVENTLAKE_HOME/dbt/target; or point {DBT_TARGET_ENV} at the target that holds it."
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SourceUnavailable(f"Cannot read the dbt manifest {path}: {exc}") from exc


def lineage_from_manifest(manifest: Mapping[str, Any], *, prod: bool = False) -> Lineage:
    """Models (and the raw sources they read) with their dependencies.

    Every node is named and layered as in the Dagster asset graph (``eventlake.dbt.nodes``):
    sources ``raw.<table>`` by their ``meta.dagster.asset_key`` (``raw_<table>``), or in PROD
    (``prod``) by the asset that loads that table into Snowflake RAW, which is what dbt reads
    there (``snowflake_raw_<table>``); sources no model reads are left out.
    """
    nodes: dict[str, LineageNode] = {}
    edges: list[tuple[str, str]] = []
    tests: dict[str, int] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") == "test":
            for parent in node.get("depends_on", {}).get("nodes", []):
                tests[parent] = tests.get(parent, 0) + 1
    for unique_id, node in manifest.get("nodes", {}).items():
        if node.get("resource_type") not in ("model", "seed", "snapshot"):
            continue
        nodes[unique_id] = LineageNode(
            unique_id=unique_id,
            name=node.get("name", unique_id),
            layer=layer_of(node),
            resource_type=node["resource_type"],
            materialized=(node.get("config") or {}).get("materialized"),
            tests=tests.get(unique_id, 0),
        )
        for parent in node.get("depends_on", {}).get("nodes", []):
            edges.append((parent, unique_id))
    sources = manifest.get("sources", {})
    read_sources = {parent for parent, _ in edges if parent in sources}
    for unique_id in sorted(read_sources):
        source = {"resource_type": "source", **sources[unique_id]}
        key = "/".join(asset_key_path(source))
        nodes[unique_id] = LineageNode(
            unique_id=unique_id,
            name=loader_asset_name(key) if prod else key,
            layer=layer_of(source),
            resource_type="source",
            tests=tests.get(unique_id, 0),
        )
    edges = [(p, c) for p, c in edges if p in nodes and c in nodes]
    ordered = sorted(nodes.values(), key=lambda n: (LAYERS.index(n.layer) if n.layer in LAYERS else 99, n.name))
    return Lineage(
        nodes=tuple(ordered),
        edges=tuple(sorted(set(edges))),
        generated_at=(manifest.get("metadata") or {}).get("generated_at"),
    )


_LAYER_COLORS = {"raw": "#fde2c8", "staging": "#d6e9f8", "intermediate": "#e3dcf5", "marts": "#d5f0da"}


def lineage_dot(lineage: Lineage) -> str:
    """Graphviz DOT, left to right, one column per layer: raw -> staging -> intermediate -> marts."""

    def q(text: str) -> str:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'

    names = lineage.names()
    lines = [
        "digraph lineage {",
        "  rankdir=LR; newrank=true; nodesep=0.3; ranksep=0.9;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
        '  edge [color="#777777"];',
    ]
    for layer, layer_nodes in lineage.by_layer().items():
        if not layer_nodes:
            continue
        lines.append(f"  subgraph cluster_{layer} {{")
        lines.append(f'    label={q(layer)}; style="dashed"; color="#bbbbbb"; fontname="Helvetica";')
        lines.append("    rank=same;")
        for node in layer_nodes:
            detail = node.materialized or node.resource_type
            if node.tests:
                detail += f", {node.tests} test{'s' if node.tests != 1 else ''}"
            label = q(node.name + "\n(" + detail + ")")
            color = q(_LAYER_COLORS.get(layer, "#eeeeee"))
            lines.append(f"    {q(node.name)} [label={label}, fillcolor={color}];")
        lines.append("  }")
    for parent, child in lineage.edges:
        lines.append(f"  {q(names[parent])} -> {q(names[child])};")
    lines.append("}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# quality results
# ---------------------------------------------------------------------------
def quality_history(job_db: str, tz: str = "UTC", limit: int = 500) -> list[dict[str, Any]]:
    """Stored Great Expectations results, newest first (``eventlake.quality.recent_results``)."""
    missing = _missing_sqlite_file(job_db)
    if missing is not None:
        raise SourceUnavailable(
            f"No quality results yet: the job database {missing} does not exist. "
            "Results are stored when the transform job runs its Great Expectations checks."
        )
    from eventlake.quality import recent_results

    try:
        rows = recent_results(job_db, limit=limit)
    except Exception as exc:
        raise SourceUnavailable(f"Cannot read quality results from {job_db}: {exc}") from exc
    zone_info = zone(tz)
    for row in rows:
        row["run_at"] = row["run_at"].astimezone(zone_info)
    return rows


def latest_per_suite(results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The newest result of each suite (input newest first), in suite order."""
    latest: dict[str, dict[str, Any]] = {}
    for row in results:
        latest.setdefault(row["suite"], dict(row))
    return [latest[suite] for suite in sorted(latest)]


def failing_expectations(latest: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per failed expectation of the given results, with counts and sample values."""
    rows = []
    for result in latest:
        for expectation in result.get("results", []):
            if expectation.get("success"):
                continue
            sample = expectation.get("partial_unexpected_list") or []
            rows.append(
                {
                    "suite": result["suite"],
                    "asset": result["asset"],
                    "severity": expectation.get("severity"),
                    "expectation": expectation.get("expectation"),
                    "column": expectation.get("column"),
                    "rule": expectation.get("rule"),
                    "unexpected_count": expectation.get("unexpected_count"),
                    "unexpected_percent": expectation.get("unexpected_percent"),
                    "sample_values": ", ".join(json.dumps(v) if not isinstance(v, str) else v for v in sample[:10]),
                    "observed_value": None if expectation.get("observed_value") is None else str(expectation["observed_value"]),
                    "error": expectation.get("exception"),
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "suite", "asset", "severity", "expectation", "column", "rule", "unexpected_count",
            "unexpected_percent", "sample_values", "observed_value", "error",
        ],
    )


def quality_trend(results: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Share of passing expectations per suite and run (for a trend chart)."""
    rows = [
        {
            "run_at": r["run_at"],
            "suite": r["suite"],
            "pass_rate": (r["successful"] / r["evaluated"]) if r["evaluated"] else 1.0,
            "success": r["success"],
        }
        for r in results
    ]
    return pd.DataFrame(rows, columns=["run_at", "suite", "pass_rate", "success"]).sort_values("run_at")


# ---------------------------------------------------------------------------
# explore (the DuckDB warehouse)
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class EventFilters:
    event_types: tuple[str, ...] = ()
    start: date | None = None  # local dates in ``tz``, both inclusive
    end: date | None = None
    job_id: str = ""
    user_id: str = ""
    tz: str = "UTC"


@dataclass
class ExploreResult:
    rows: pd.DataFrame  # the newest matching events (at most ``limit``), times in tz
    total: int
    users: int
    value_sum: float
    by_type: pd.DataFrame  # event_type, events
    per_hour: pd.DataFrame  # hour (aware, tz), event_type, events
    limit: int
    has_user_dimension: bool = True
    #: ``current`` / ``previous``: events, users and value of the matching events whose
    #: event_timestamp is in the last ``period`` before the newest matching event, and in the one before
    periods: dict[str, dict[str, float]] | None = None


@dataclass(frozen=True)
class ExploreOptions:
    event_types: tuple[str, ...]
    first_date: date | None
    last_date: date | None
    has_user_dimension: bool


def _connect(duckdb_file: Path):
    import duckdb

    path = Path(duckdb_file)
    if not path.exists():
        raise SourceUnavailable(
            f"No warehouse yet at {path}. It is built by the transform job (dbt) after the "
            "first ingestion; run the Dagster `transform_job`."
        )
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise SourceUnavailable(
                f"The warehouse {path} is locked by another process (a dbt run in progress?). "
                "Try again in a moment."
            ) from exc
        raise SourceUnavailable(f"Cannot open the warehouse {path}: {text}") from exc
    return con


def _events_relation(con) -> tuple[str, bool]:
    """SQL of the events with their dimension attributes, and whether user_id is available."""
    columns: dict[str, set[str]] = {}
    for table, column in con.execute(
        "select table_name, column_name from information_schema.columns "
        "where table_schema = 'marts' and table_name in ('fact_events', 'dim_users', 'dim_products')"
    ).fetchall():
        columns.setdefault(table, set()).add(column)
    fact = columns.get("fact_events")
    if not fact:
        raise SourceUnavailable(
            "The warehouse has no marts.fact_events yet: run the Dagster `transform_job` to build the marts."
        )
    select = ["f.event_id", "f.event_timestamp", "f.event_type", "f.event_value", "f.job_id"]
    joins = []
    has_user = True
    if "user_id" in fact:
        select.append("f.user_id")
    elif {"user_sk", "user_id"} <= columns.get("dim_users", set()) and "user_sk" in fact:
        select.append("u.user_id")
        joins.append("left join marts.dim_users u on u.user_sk = f.user_sk")
    else:
        select.append("cast(null as varchar) as user_id")
        has_user = False
    if {"product_sk", "product_id", "category"} <= columns.get("dim_products", set()) and "product_sk" in fact:
        select += ["p.product_id", "p.category"]
        joins.append("left join marts.dim_products p on p.product_sk = f.product_sk")
    sql = f"select {', '.join(select)} from marts.fact_events f {' '.join(joins)}"
    return sql, has_user


def _utc_bound(day: date, tz: str) -> datetime:
    """Local midnight of ``day`` in ``tz`` as a naive UTC time (how the warehouse stores times)."""
    return datetime.combine(day, time.min, tzinfo=zone(tz)).astimezone(UTC).replace(tzinfo=None)


def _where(filters: EventFilters) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if filters.event_types:
        clauses.append(f"event_type in ({', '.join('?' for _ in filters.event_types)})")
        params += list(filters.event_types)
    if filters.start is not None:
        clauses.append("event_timestamp >= ?")
        params.append(_utc_bound(filters.start, filters.tz))
    if filters.end is not None:
        clauses.append("event_timestamp < ?")
        params.append(_utc_bound(filters.end + timedelta(days=1), filters.tz))
    if filters.job_id.strip():
        clauses.append("job_id = ?")
        params.append(filters.job_id.strip())
    if filters.user_id.strip():
        clauses.append("user_id = ?")
        params.append(filters.user_id.strip())
    return ("where " + " and ".join(clauses)) if clauses else "", params


def _use_utc(con) -> None:
    # Naive timestamps in the warehouse are UTC; keep any TIMESTAMPTZ rendering in UTC too.
    try:
        con.execute("set TimeZone = 'UTC'")
    except Exception:  # without the ICU extension there is no session zone to set
        pass


def explore_options(duckdb_file: Path, tz: str = "UTC") -> ExploreOptions:
    """Values for the filter widgets: event types present and the first/last local date."""
    con = _connect(duckdb_file)
    try:
        _use_utc(con)
        relation, has_user = _events_relation(con)
        types = [r[0] for r in con.execute(f"select distinct event_type from ({relation}) order by 1").fetchall()]
        low, high = con.execute(f"select min(event_timestamp), max(event_timestamp) from ({relation})").fetchone()
    finally:
        con.close()
    if low is None:
        return ExploreOptions(tuple(types), None, None, has_user)
    bounds = _to_zone(pd.Series([low, high]), tz)
    return ExploreOptions(tuple(types), bounds.iloc[0].date(), bounds.iloc[1].date(), has_user)


def explore(
    duckdb_file: Path, filters: EventFilters, limit: int = 1000, period: timedelta = timedelta(hours=24)
) -> ExploreResult:
    """The filtered events: newest rows, totals, events by type and per local hour, and the totals of
    the last ``period`` (ending at the newest matching event) and of the ``period`` before it."""
    con = _connect(duckdb_file)
    try:
        _use_utc(con)
        relation, has_user = _events_relation(con)
        where, params = _where(filters)
        base = f"select * from ({relation}) as events {where}"
        total, users, value_sum = con.execute(
            f"select count(*), count(distinct user_id), coalesce(sum(event_value), 0) from ({base})", params
        ).fetchone()
        rows = con.execute(f"{base} order by event_timestamp desc, event_id limit {int(limit)}", params).df()
        seconds = int(period.total_seconds())
        windows = con.execute(
            f"with e as ({base}), edge as (select max(event_timestamp) as newest from e) "
            f"select case when event_timestamp > newest - to_seconds({seconds}) then 'current' else 'previous' end, "
            f"count(*), count(distinct user_id), coalesce(sum(event_value), 0) from e, edge "
            f"where event_timestamp > newest - to_seconds({2 * seconds}) group by 1",
            params,
        ).fetchall()
        by_type = con.execute(
            f"select event_type, count(*) as events from ({base}) group by 1 order by 2 desc, 1", params
        ).df()
        # 15-minute UTC buckets: every real UTC offset is a multiple of 15 minutes, so they
        # regroup exactly into local hours of any zone (India +5:30, Nepal +5:45, ...).
        quarter = con.execute(
            f"select time_bucket(interval 15 minutes, cast(event_timestamp as timestamp)) as bucket, "
            f"event_type, count(*) as events from ({base}) group by 1, 2",
            params,
        ).df()
    finally:
        con.close()
    rows["event_timestamp"] = _to_zone(rows["event_timestamp"], filters.tz) if len(rows) else rows["event_timestamp"]
    if len(quarter):
        local = _to_zone(quarter["bucket"], filters.tz)
        per_hour = (
            quarter.assign(hour=_hour_start(local))
            .groupby(["hour", "event_type"], sort=True)["events"]
            .sum()
            .reset_index()
        )
    else:
        per_hour = pd.DataFrame(columns=["hour", "event_type", "events"])
    return ExploreResult(
        rows=rows,
        total=int(total),
        users=int(users),
        value_sum=float(value_sum),
        by_type=by_type,
        per_hour=per_hour,
        limit=limit,
        has_user_dimension=has_user,
        periods={
            name: dict(zip(("events", "users", "value"), next(
                ([float(v) for v in w[1:]] for w in windows if w[0] == name), [0.0, 0.0, 0.0]), strict=True))
            for name in ("current", "previous")
        },
    )


def marts_warehouse(settings: Any) -> Any:
    """The warehouse resource the Explore view reads the marts through in PROD (Snowflake, configured
    by the same ``EVENTLAKE_SNOWFLAKE_*`` values as the code location's), or None (LOCAL: the DuckDB
    file, read by :func:`explore`)."""
    if settings.env != "PROD":
        return None
    from eventlake.resources.warehouse import SnowflakeWarehouse

    return SnowflakeWarehouse()


def explore_warehouse(warehouse: Any, filters: EventFilters, limit: int = 1000) -> tuple[ExploreResult, ExploreOptions]:
    """:func:`explore` through a warehouse resource (``eventlake.resources.warehouse.explore_marts``):
    the filtered events, their totals, by type and per hour (the warehouse's UTC hours, shown in
    ``filters.tz``), and the filter widgets' values. No period deltas, no product columns."""
    from eventlake.resources.warehouse import explore_marts

    try:
        found = explore_marts(
            warehouse, limit, event_types=filters.event_types, job_id=filters.job_id, user_id=filters.user_id,
            start=_utc_bound(filters.start, filters.tz) if filters.start else None,
            end=_utc_bound(filters.end + timedelta(days=1), filters.tz) if filters.end else None,
        )
    except Exception as exc:  # the connector's errors: unreachable, no such table, no privilege
        name = type(warehouse).__name__
        raise SourceUnavailable(
            f"Cannot read the marts through the warehouse resource ({name}): {exc}. The transform job builds "
            "them (marts.fact_events, marts.dim_users); check the EVENTLAKE_SNOWFLAKE_* settings."
        ) from exc
    rows = found["rows"]
    if len(rows):
        rows["event_timestamp"] = _to_zone(rows["event_timestamp"], filters.tz)
    per_hour = found["per_hour"]
    per_hour = (per_hour.assign(hour=_to_zone(per_hour["hour"], filters.tz)) if len(per_hour)
                else pd.DataFrame(columns=["hour", "event_type", "events"]))
    first, last = found["first_event_at"], found["last_event_at"]
    dates = (None, None)
    if first is not None and not pd.isna(first):
        bounds = _to_zone(pd.Series([first, last]), filters.tz)
        dates = (bounds.iloc[0].date(), bounds.iloc[1].date())
    result = ExploreResult(
        rows=rows, total=found["total"], users=found["users"], value_sum=found["value_sum"],
        by_type=found["by_type"], per_hour=per_hour[["hour", "event_type", "events"]], limit=limit,
    )
    return result, ExploreOptions(found["event_types"], dates[0], dates[1], True)


# ---------------------------------------------------------------------------
# colours shared by every chart
# ---------------------------------------------------------------------------
#: One colour per event type (the contract's types, in its order), the same in every chart.
EVENT_TYPE_DOMAIN: tuple[str, ...] = ("view", "click", "add_to_cart", "purchase")
EVENT_TYPE_RANGE: tuple[str, ...] = ("#4c78a8", "#f58518", "#54a24b", "#b279a2")
#: A record's outcome: received = accepted + rejected (invalid) + duplicates (+ not yet processed).
OUTCOME_DOMAIN: tuple[str, ...] = ("accepted", "rejected (invalid)", "duplicates", "not yet processed")
OUTCOME_RANGE: tuple[str, ...] = ("#54a24b", "#e45756", "#f2b701", "#bab0ac")
STATUS_DOMAIN: tuple[str, ...] = (*JOB_STATUSES, "QUEUED", "STARTING", "STARTED", "SUCCESS", "FAILURE", "CANCELED")
STATUS_RANGE: tuple[str, ...] = (
    "#bab0ac", "#4c78a8", "#54a24b", "#e45756", "#bab0ac", "#72b7b2", "#4c78a8", "#54a24b", "#e45756", "#9d755d",
)


def event_type_domain(present: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """The fixed domain and range of the event-type colour scale, any type outside the contract
    (an older row) appended in grey so no type ever changes colour."""
    extra = sorted(set(present) - set(EVENT_TYPE_DOMAIN))
    return [*EVENT_TYPE_DOMAIN, *extra], [*EVENT_TYPE_RANGE, *(["#999999"] * len(extra))]


# ---------------------------------------------------------------------------
# counts that add up, and their change over a period
# ---------------------------------------------------------------------------
def record_outcomes(metrics: Mapping[str, Any]) -> dict[str, int]:
    """Records received split so the parts add up: accepted + rejected (invalid) + duplicates +
    not yet processed (records of jobs still PENDING/PROCESSING, or lost with a FAILED job)."""
    received = int(metrics["records_received"])
    accepted, rejected, duplicates = (
        int(metrics["records_accepted"]), int(metrics["records_rejected"]), int(metrics["records_duplicates"])
    )
    return {
        "received": received,
        "accepted": accepted,
        "rejected (invalid)": rejected,
        "duplicates": duplicates,
        "not yet processed": max(received - accepted - rejected - duplicates, 0),
    }


PERIODS = {"last hour": timedelta(hours=1), "last 24 hours": timedelta(hours=24), "last 7 days": timedelta(days=7)}


def period_totals(job_db: str, period: timedelta, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Jobs and records of the jobs created in the last ``period`` (``current``) and in the
    ``period`` before it (``previous``), for the metric cards' deltas."""
    from sqlalchemy import func, select

    from eventlake.state.ingestion_jobs import jobs_table

    now = now or datetime.now(UTC)
    c = jobs_table.c
    store = _job_store(job_db)
    totals: dict[str, dict[str, int]] = {}
    try:
        with store.engine.connect() as conn:
            for name, (low, high) in {"current": (now - period, now + timedelta(days=3650)),
                                      "previous": (now - 2 * period, now - period)}.items():
                row = conn.execute(
                    select(
                        func.count(), func.coalesce(func.sum(c.record_count), 0),
                        func.coalesce(func.sum(c.accepted_count), 0), func.coalesce(func.sum(c.rejected_count), 0),
                        func.coalesce(func.sum(c.duplicate_count), 0),
                    ).where(c.created_at >= low, c.created_at < high)
                ).one()
                totals[name] = dict(zip(
                    ("jobs", "received", "accepted", "rejected (invalid)", "duplicates"), (int(v) for v in row),
                    strict=True,
                ))
    finally:
        store.close()
    return totals


def job_detail(job_db: str, job_id: str, tz: str = "UTC") -> dict[str, Any] | None:
    """One job's row (as in :func:`recent_jobs`), or None."""
    store = _job_store(job_db)
    try:
        job = store.get(job_id)
    finally:
        store.close()
    if job is None:
        return None
    row = {column: getattr(job, column) for column in JOB_COLUMNS}
    row["status"] = str(row["status"]).replace("JobStatus.", "")
    for column in ("created_at", "completed_at"):
        if row[column] is not None:
            row[column] = pd.Timestamp(row[column]).tz_convert(zone(tz)) if pd.Timestamp(row[column]).tzinfo else (
                pd.Timestamp(row[column]).tz_localize("UTC").tz_convert(zone(tz)))
    return row


# ---------------------------------------------------------------------------
# stream lag
# ---------------------------------------------------------------------------
LAG_COLUMNS = list(LAG_FIELDS)


def stream_lag(settings: Any, now: datetime | None = None) -> pd.DataFrame:
    """Per shard of the local stream: the last sequence number written (``head``), the position
    the consumer has read and committed to every table (``committed``), the records between them
    and the age of the oldest of those (``eventlake.stream.lag``, which ``/metrics`` reads too)."""
    from eventlake.stream.lag import LagUnavailable
    from eventlake.stream.lag import stream_lag as measure

    try:
        return pd.DataFrame(measure(settings, now), columns=LAG_COLUMNS)
    except LagUnavailable as exc:
        raise SourceUnavailable(str(exc)) from exc


# ---------------------------------------------------------------------------
# a model's details (the dbt manifest, run_results.json)
# ---------------------------------------------------------------------------
TEST_COLUMNS = ["test", "column", "type", "description"]


def model_details(manifest: Mapping[str, Any], unique_id: str) -> dict[str, Any]:
    """A node's description, files, columns (name, type, description) and the dbt tests on it."""
    node = manifest.get("nodes", {}).get(unique_id) or manifest.get("sources", {}).get(unique_id) or {}
    columns = pd.DataFrame(
        [
            {"column": c.get("name", name), "type": c.get("data_type"), "description": c.get("description") or ""}
            for name, c in (node.get("columns") or {}).items()
        ],
        columns=["column", "type", "description"],
    )
    tests = []
    for test in manifest.get("nodes", {}).values():
        if test.get("resource_type") != "test":
            continue
        if test.get("attached_node") != unique_id and unique_id not in (test.get("depends_on") or {}).get("nodes", []):
            continue
        kind = ((test.get("test_metadata") or {}).get("name")) or "singular"
        tests.append({
            "test": test.get("name"),
            "column": test.get("column_name"),
            "type": kind,
            "description": test.get("description") or "",
        })
    return {
        "name": node.get("name", unique_id),
        "resource_type": node.get("resource_type", "source" if unique_id.startswith("source.") else None),
        "materialized": (node.get("config") or {}).get("materialized"),
        "description": node.get("description") or "",
        "path": node.get("original_file_path"),
        "relation": node.get("relation_name"),
        "schema": node.get("schema"),
        "table": node.get("alias") or node.get("name"),
        "columns": columns,
        "tests": pd.DataFrame(sorted(tests, key=lambda t: t["test"] or ""), columns=TEST_COLUMNS),
    }


def dbt_run_results(target_dir: Path) -> dict[str, dict[str, Any]]:
    """The latest result of every dbt node in the ``run_results.json`` files in ``target_dir`` and
    below it (one per dbt step), by unique_id: status, failures, message, execution time, completion
    time and, for tests, the compiled SQL that selects the failing rows. Empty without any."""
    target = Path(target_dir)
    files = [target / "run_results.json", *target.glob("*/run_results.json")]
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((f for f in files if f.exists()), key=lambda p: p.stat().st_mtime):  # newest last wins
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        generated = (results.get("metadata") or {}).get("generated_at")
        for result in results.get("results", []):
            timing = [t.get("completed_at") for t in result.get("timing") or [] if t.get("completed_at")]
            found[result["unique_id"]] = {
                "status": result.get("status"),
                "failures": result.get("failures"),
                "message": result.get("message"),
                "execution_time": result.get("execution_time"),
                "completed_at": max(timing) if timing else generated,
                "compiled_code": result.get("compiled_code"),
            }
    return found


def failing_rows(duckdb_file: Path, test_sql: str, limit: int = 20) -> pd.DataFrame:
    """The rows a dbt test's compiled SQL selects now (its failing records), at most ``limit``."""
    con = _connect(duckdb_file)
    try:
        _use_utc(con)
        body = test_sql.strip().rstrip(";")
        return con.execute(f"select * from ({body}) as failing limit {int(limit)}").df()
    except SourceUnavailable:
        raise
    except Exception as exc:
        raise SourceUnavailable(f"Cannot run the test's query on the warehouse: {exc}") from exc
    finally:
        con.close()


def warehouse_columns(duckdb_file: Path, schema: str, table: str) -> pd.DataFrame:
    """A warehouse table's columns and their types, in table order (``column``, ``type``)."""
    con = _connect(duckdb_file)
    try:
        return con.execute(
            "select column_name as column, data_type as type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).df()
    finally:
        con.close()


def with_warehouse_types(documented: pd.DataFrame, actual: pd.DataFrame) -> pd.DataFrame:
    """The documented columns with the warehouse's types, then the columns only the warehouse has."""
    types = dict(zip(actual["column"], actual["type"], strict=True))
    merged = documented.assign(type=[types.get(c) or t for c, t in zip(documented["column"], documented["type"],
                                                                         strict=True)])
    extra = actual[~actual["column"].isin(documented["column"])].assign(description="")
    return pd.concat([merged, extra[["column", "type", "description"]]], ignore_index=True)
