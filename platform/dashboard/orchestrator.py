"""What the dashboard reads from Dagster: runs, asset check evaluations, latest materializations.

Everything comes from the Dagster instance under ``settings.dagster_home`` (its ``dagster.yaml``
names the storage: SQLite files locally, PostgreSQL in production), the same storage the
Dagster UI shows, so the dashboard agrees with it check for check. No webserver is needed;
a home without an instance raises :class:`~eventlake.dashboard.data.SourceUnavailable` with
what to do. Plain functions, no Streamlit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from eventlake.dashboard.data import SourceUnavailable, _to_zone

RUN_COLUMNS = ["run_id", "job", "status", "started", "ended", "duration_s", "triggered_by", "url"]
CHECK_COLUMNS = [
    "asset", "check", "kind", "status", "severity", "failed_rows", "run_id", "evaluated_at", "description", "url",
]
#: Dagster's own words for a check's state (the UI's), from its execution record and run.
CHECK_PASSED, CHECK_FAILED, CHECK_ERROR, CHECK_SKIPPED, CHECK_RUNNING = (
    "passed", "failed", "execution failed", "skipped", "in progress",
)
#: a freshness check on an asset never materialized (Dagster fails it; it is not alerted)
CHECK_NEVER_MATERIALIZED = "never materialized"
#: the kinds of checks: dbt tests, GX suites, Dagster's freshness checks, eventlake's own SQL checks
CHECK_KINDS = ("dbt", "gx", "freshness", "sql")
FRESHNESS_CHECK_NAME = "freshness_check"  # what build_last_update_freshness_checks names its checks


@contextmanager
def open_instance(dagster_home: Path) -> Iterator[Any]:
    """The Dagster instance of ``dagster_home``; never creates one."""
    home = Path(dagster_home)
    if not (home / "dagster.yaml").exists() and not (home / "storage").exists():
        raise SourceUnavailable(
            f"Dagster is not reachable: no Dagster instance at {home} (DAGSTER_HOME). It appears when "
            "Dagster starts (`eventlake demo`, or `dagster dev -w workspace.yaml` with DAGSTER_HOME set)."
        )
    try:
        from dagster import DagsterInstance

        instance = DagsterInstance.from_config(str(home))
    except Exception as exc:
        raise SourceUnavailable(f"Dagster is not reachable: cannot open the instance at {home}: {exc}") from exc
    try:
        yield instance
    except SourceUnavailable:
        raise
    except Exception as exc:  # the storage (a PostgreSQL server, a file) went away mid-read
        raise SourceUnavailable(f"Dagster is not reachable: reading the instance at {home} failed: {exc}") from exc
    finally:
        instance.dispose()


def _status(value: Any) -> str:
    return getattr(value, "value", str(value))


def _time(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def run_url(dagster_url: str, run_id: str) -> str:
    return f"{dagster_url.rstrip('/')}/runs/{run_id}"


def recent_runs(
    dagster_home: Path, dagster_url: str, job_names: Sequence[str] = (), tz: str = "UTC", limit: int = 50
) -> pd.DataFrame:
    """The newest runs (of ``job_names``, or of every job), newest first: status, times in ``tz``,
    duration in seconds (to now while running), who triggered it and its page in the Dagster UI."""
    from dagster import RunsFilter

    with open_instance(dagster_home) as instance:
        records = instance.get_run_records(RunsFilter(job_name=job_names[0]) if len(job_names) == 1 else None,
                                           limit=limit if len(job_names) <= 1 else limit * 4)
    now = datetime.now(UTC)
    rows = []
    for record in records:
        run = record.dagster_run
        if job_names and run.job_name not in job_names:
            continue
        started, ended = _time(record.start_time), _time(record.end_time)
        duration = ((ended or now) - started).total_seconds() if started else None
        rows.append({
            "run_id": run.run_id,
            "job": run.job_name,
            "status": _status(run.status),
            "started": started or record.create_timestamp,
            "ended": ended,
            "duration_s": None if duration is None else round(duration, 1),
            "triggered_by": run.tags.get("eventlake/triggered_by") or run.tags.get("dagster/sensor_name")
            or run.tags.get("dagster/schedule_name") or "",
            "url": run_url(dagster_url, run.run_id),
        })
    frame = pd.DataFrame(rows[:limit], columns=RUN_COLUMNS)
    for column in ("started", "ended"):
        frame[column] = _to_zone(pd.to_datetime(frame[column], utc=True), tz)
    return frame


@dataclass(frozen=True)
class CheckEvaluation:
    asset: str
    check: str
    passed: bool
    severity: str
    run_id: str
    evaluated_at: datetime
    description: str | None
    metadata: dict[str, Any]

    @property
    def kind(self) -> str:
        return check_kind(self.check, self.metadata)


def check_kind(check: str, metadata: dict[str, Any]) -> str:
    """``gx`` (a Great Expectations suite), ``dbt`` (a dbt test), ``freshness`` (Dagster's last-update
    freshness checks on the marts) or ``sql`` (eventlake's own checks)."""
    from eventlake.alerts import FRESHNESS_PARAMS_KEY

    if check.startswith("gx_"):
        return "gx"
    if check == FRESHNESS_CHECK_NAME or FRESHNESS_PARAMS_KEY in metadata:
        return "freshness"
    if "dagster_dbt/failed_row_count" in metadata or str(metadata.get("unique_id", "")).startswith("test."):
        return "dbt"
    return "sql"


def _plain(value: Any) -> Any:
    """A metadata value as plain data (every Dagster MetadataValue has ``.value``)."""
    return getattr(value, "value", value)


def _evaluation(record: Any) -> CheckEvaluation:
    entry = record.event_log_entry
    evaluation = entry.dagster_event.event_specific_data
    return CheckEvaluation(
        asset="/".join(evaluation.asset_key.path),
        check=evaluation.check_name,
        passed=bool(evaluation.passed),
        severity=_status(evaluation.severity),
        run_id=entry.run_id,
        evaluated_at=datetime.fromtimestamp(entry.timestamp, UTC),
        description=evaluation.description,
        metadata={k: _plain(v) for k, v in evaluation.metadata.items()},
    )


def check_history(dagster_home: Path, job_name: str = "transform_job", runs: int = 20) -> list[CheckEvaluation]:
    """Every check evaluation of the newest ``runs`` runs of ``job_name``, newest run first."""
    from dagster import DagsterEventType, RunsFilter

    evaluations: list[CheckEvaluation] = []
    with open_instance(dagster_home) as instance:
        for record in instance.get_run_records(RunsFilter(job_name=job_name), limit=runs):
            connection = instance.get_records_for_run(
                record.dagster_run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
            )
            evaluations += [_evaluation(r) for r in connection.records]
    return evaluations


HISTORY_COLUMNS = ["evaluated_at", "status", "failed_rows", "severity", "run_id", "url"]


def check_history_frame(
    dagster_home: Path, dagster_url: str, check: str, asset: str, tz: str = "UTC", runs: int = 20
) -> pd.DataFrame:
    """One check's evaluations in the newest ``runs`` transform runs, newest first."""
    rows = [
        {
            "evaluated_at": e.evaluated_at,
            "status": CHECK_PASSED if e.passed else CHECK_NEVER_MATERIALIZED if _never_updated(e.metadata)
            else CHECK_FAILED,
            "failed_rows": failed_rows(e.metadata),
            "severity": e.severity,
            "run_id": e.run_id,
            "url": run_url(dagster_url, e.run_id),
        }
        for e in check_history(dagster_home, runs=runs)
        if e.check == check and e.asset == asset
    ]
    frame = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    frame["evaluated_at"] = _to_zone(pd.to_datetime(frame["evaluated_at"], utc=True), tz)
    frame["failed_rows"] = frame["failed_rows"].astype("Int64")
    return frame.sort_values("evaluated_at", ascending=False).reset_index(drop=True)


def latest_checks(dagster_home: Path, dagster_url: str, tz: str = "UTC", runs: int = 20) -> pd.DataFrame:
    """The latest execution of every asset check, as Dagster resolves it (passed, failed,
    execution failed when its run failed before it reported, skipped, in progress).

    The checks are those planned by the newest ``runs`` runs of any job (dbt tests, GX suites,
    eventlake's SQL checks); their latest execution is Dagster's, whichever run it was in.
    """
    from dagster import AssetCheckKey, AssetKey, DagsterEventType

    with open_instance(dagster_home) as instance:
        keys: dict[tuple[str, ...], Any] = {}
        for record in instance.get_run_records(limit=runs):
            planned = instance.get_records_for_run(
                record.dagster_run.run_id,
                of_type={DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED, DagsterEventType.ASSET_CHECK_EVALUATION},
            )
            for event in planned.records:
                data = event.event_log_entry.dagster_event.event_specific_data
                key = AssetCheckKey(AssetKey(data.asset_key.path), data.check_name)
                keys.setdefault((*data.asset_key.path, data.check_name), key)
        if not keys:
            return pd.DataFrame(columns=CHECK_COLUMNS)
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(keys.values()))
        run_status = {}
        rows = []
        for key, execution in latest.items():
            run_id = execution.run_id
            evaluation = None
            if execution.event is not None and execution.event.dagster_event is not None:
                data = execution.event.dagster_event.event_specific_data
                if hasattr(data, "passed"):
                    evaluation = data
            status = _status(execution.status)
            metadata = {k: _plain(v) for k, v in evaluation.metadata.items()} if evaluation else {}
            if status == "SUCCEEDED":
                state = CHECK_PASSED
            elif status == "FAILED":
                state = CHECK_NEVER_MATERIALIZED if _never_updated(metadata) else CHECK_FAILED
            else:  # PLANNED: the run's outcome says what became of it
                if run_id not in run_status:
                    run = instance.get_run_by_id(run_id)
                    run_status[run_id] = None if run is None else run
                run = run_status[run_id]
                if run is None:
                    state = CHECK_SKIPPED
                elif run.is_finished:
                    state = CHECK_ERROR if _status(run.status) == "FAILURE" else CHECK_SKIPPED
                else:
                    state = CHECK_RUNNING
            rows.append({
                "asset": "/".join(key.asset_key.path),
                "check": key.name,
                "kind": check_kind(key.name, metadata),
                "status": state,
                "severity": _status(evaluation.severity) if evaluation else None,
                "failed_rows": failed_rows(metadata),
                "run_id": run_id,
                "evaluated_at": datetime.fromtimestamp(
                    execution.event.timestamp if execution.event is not None else execution.create_timestamp, UTC
                ),
                "description": evaluation.description if evaluation else None,
                "url": run_url(dagster_url, run_id),
            })
    frame = pd.DataFrame(rows, columns=CHECK_COLUMNS).sort_values(["asset", "check"]).reset_index(drop=True)
    frame["failed_rows"] = frame["failed_rows"].astype("Int64")
    frame["evaluated_at"] = _to_zone(pd.to_datetime(frame["evaluated_at"], utc=True), tz)
    return frame


def _never_updated(metadata: dict[str, Any]) -> bool:
    """A freshness check's result on an asset that has no last update (never materialized)."""
    from eventlake.alerts import FRESHNESS_LAST_UPDATED_KEY, FRESHNESS_PARAMS_KEY

    return FRESHNESS_PARAMS_KEY in metadata and FRESHNESS_LAST_UPDATED_KEY not in metadata


def failed_rows(metadata: dict[str, Any]) -> int | None:
    """The number of failing rows a check reported: dbt's ``failed_row_count``, GX's unexpected
    counts summed, or eventlake's own checks' counts."""
    if "dagster_dbt/failed_row_count" in metadata:
        return int(metadata["dagster_dbt/failed_row_count"])
    failed = metadata.get("failed_expectations")
    if isinstance(failed, list):
        return sum(int(f.get("unexpected_count") or 0) for f in failed)
    if isinstance(failed, str) and failed.startswith("["):
        try:
            return sum(int(f.get("unexpected_count") or 0) for f in json.loads(failed))
        except (ValueError, AttributeError):
            return None
    return None


def latest_materializations(dagster_home: Path, asset_names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per asset: the run, time and metadata (row count, dbt status) of its latest materialization."""
    from dagster import AssetKey

    found: dict[str, dict[str, Any]] = {}
    with open_instance(dagster_home) as instance:
        for name in asset_names:
            event = instance.get_latest_materialization_event(AssetKey(name.split("/")))
            if event is None or event.asset_materialization is None:
                continue
            found[name] = {
                "run_id": event.run_id,
                "at": datetime.fromtimestamp(event.timestamp, UTC),
                "metadata": {k: _plain(v) for k, v in event.asset_materialization.metadata.items()},
            }
    return found


def materialization_times(dagster_home: Path, asset_names: Sequence[str], since: datetime,
                          limit: int = 2000) -> dict[str, list[datetime]]:
    """Per asset: the times of its materializations since ``since`` and of the one before (so its age
    at ``since`` is known), oldest first, at most ``limit`` of the newest; assets never materialized
    are absent."""
    from dagster import AssetKey, AssetRecordsFilter

    found: dict[str, list[datetime]] = {}
    with open_instance(dagster_home) as instance:
        for name in asset_names:
            key = AssetKey(name.split("/"))
            records = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=key, after_timestamp=since.timestamp()), limit=limit
            ).records
            before = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=key, before_timestamp=since.timestamp()), limit=1
            ).records
            times = sorted(_time(r.timestamp) for r in [*records, *before])
            if times:
                found[name] = times
    return found
