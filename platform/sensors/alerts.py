"""The Dagster sensors that raise alerts (property 31; ``eventlake.alerts`` sends them).

* ``check_failure_alert_sensor``: every asset check evaluation of the code
  location that failed and is blocking, critical (severity ERROR) or a
  freshness check, read from the instance's asset check executions after the
  cursor (the last evaluation alerted);
* ``run_failure_alert_sensor``: Dagster's run-failure sensor, on every failed run
  of the code location's jobs;
* ``failed_job_alert_sensor``: ingestion jobs the consumer (or the API) marked
  FAILED, polled from the job store, so the consumer makes no HTTP calls; the
  cursor remembers what was alerted;
* ``consumer_lag_alert_sensor``: stream records written and not committed by
  the consumer, per shard, over ``EVENTLAKE_CONSUMER_LAG_ALERT_RECORDS``; each
  tick also stores the lag per shard (``eventlake.metrics_history``), the
  dashboard's stream lag history;
* the marts' freshness: ``marts_freshness_checks`` (Dagster's last-update
  freshness checks on fact_events, dim_users and dim_products, failing when a
  mart was last updated longer ago than ``EVENTLAKE_FACT_EVENTS_FRESHNESS_MINUTES``)
  and ``marts_freshness_sensor``, which runs them when they can be overdue; a
  failed one is alerted by ``check_failure_alert_sensor`` as a freshness breach.

A sensor's cursor moves on whether or not a webhook took the alert: a failed
webhook is logged, and the rate limit (``eventlake.alerts.AlertLog``) lets the
next occurrence of the same failure through.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
import warnings
from typing import Any

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from eventlake import alerts
from eventlake.logs import log_errors
from eventlake.resources.core import EventlakeResource

CHECK_SENSOR = "check_failure_alert_sensor"
RUN_SENSOR = "run_failure_alert_sensor"
JOB_SENSOR = "failed_job_alert_sensor"
LAG_SENSOR = "consumer_lag_alert_sensor"
FRESHNESS_SENSOR = "marts_freshness_sensor"
MARTS = ("fact_events", "dim_users", "dim_products")
#: failed executions read per check and tick
HISTORY_LIMIT = 20


def _first_tick_since(settings: Any) -> float:
    """Where a sensor without a cursor starts: failures of the last repeat window (at least 10 minutes)."""
    return time.time() - max(settings.alert_repeat_minutes * 60, 600)


def _send(context: Any, notifier: alerts.Notifier, found: list[alerts.Alert]) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for alert in found:
        outcome = notifier.notify(alert)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        context.log.info(f"{outcome}: {alert.title}: {alert.reason}")
    return outcomes


# -- failed checks (blocking, critical, freshness) ---------------------------------------------
@sensor(
    name=CHECK_SENSOR,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Alerts the configured webhooks (EVENTLAKE_ALERT_WEBHOOK_URLS) on every failed asset check that is "
        "blocking, of severity ERROR, or a freshness check: the asset and check, why, sample failing records, "
        "links to the run and the Data Docs."
    ),
)
@log_errors("eventlake.alerts", CHECK_SENSOR, sensor=CHECK_SENSOR)  # a failed evaluation: a JSON ERROR line
def check_failure_alert_sensor(context: SensorEvaluationContext, eventlake: EventlakeResource):
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    settings = eventlake.settings
    cursor = json.loads(context.cursor) if context.cursor else {"ts": _first_tick_since(settings), "id": 0}
    after = (float(cursor["ts"]), int(cursor["id"]))
    if context.repository_def is None:
        return SkipReason("no code location to read the checks of")
    keys = list(context.repository_def.asset_graph.asset_check_keys)
    storage = context.instance.event_log_storage
    latest = storage.get_latest_asset_check_execution_by_key(keys) if keys else {}
    failed: list[tuple[tuple[float, int], Any, str]] = []
    for key, record in latest.items():
        newest = record.event.timestamp if record.event is not None else record.create_timestamp
        if record.status != AssetCheckExecutionRecordStatus.PLANNED and (newest, record.id) <= after:
            continue  # nothing evaluated since the cursor
        for execution in storage.get_asset_check_execution_history(
            key, limit=HISTORY_LIMIT, status={AssetCheckExecutionRecordStatus.FAILED}
        ):
            evaluation = execution.event.asset_check_evaluation if execution.event is not None else None
            if evaluation is None:
                continue
            mark = (execution.event.timestamp, execution.id)
            if mark > after:
                failed.append((mark, evaluation, execution.run_id))
    failed.sort(key=lambda item: item[0])
    to_send = [alerts.check_failure_alert(e, run_id) for _, e, run_id in failed if alerts.alerts_on_check(e)]
    next_cursor = max([after, *(mark for mark, _, _ in failed)])
    context.update_cursor(json.dumps({"ts": next_cursor[0], "id": next_cursor[1]}))
    if not to_send:
        return SkipReason(f"no failed blocking, critical or freshness check since the last tick ({len(failed)} other failed)")
    with alerts.Notifier(settings) as notifier:
        outcomes = _send(context, notifier, to_send)
    return SkipReason(f"alerts on failed checks: {outcomes}")


def _root_error(step_failure: Any) -> str | None:
    """The first line of what a step raised: the innermost cause of Dagster's wrapping error."""
    error = getattr(step_failure.event_specific_data, "error", None)
    while error is not None and error.cause is not None:
        error = error.cause
    lines = (error.message or "").strip().splitlines() if error is not None else []
    return lines[0] if lines else None


# -- failed runs ------------------------------------------------------------------------------
# the sensors' declarations share one shape on purpose: each is a Dagster decorator with its own name and text
@run_failure_sensor(
    name=RUN_SENSOR,
    default_status=DefaultSensorStatus.RUNNING,
    description="Alerts the configured webhooks on every failed run of this code location's jobs, naming the "
    "job, the failed steps and their errors, with a link to the run.",
)
@log_errors("eventlake.alerts", RUN_SENSOR, sensor=RUN_SENSOR)  # a failed evaluation: a JSON ERROR line
def run_failure_alert_sensor(context: RunFailureSensorContext, eventlake: EventlakeResource):
    run = context.dagster_run
    steps = context.get_step_failure_events()
    alert = alerts.run_failure_alert(
        run.job_name,
        run.run_id,
        context.failure_event.message,
        [event.step_key or "?" for event in steps],
    )
    errors = tuple(f"{event.step_key}: {_root_error(event)}" for event in steps if _root_error(event))
    if errors:
        alert = alerts.Alert(alert.kind, alert.subject, alert.reason, alert.details + errors, alert.samples, alert.run_id)
    with alerts.Notifier(eventlake.settings) as notifier:
        outcome = notifier.notify(alert)
    context.log.info(f"{outcome}: {alert.title}: {alert.reason}")


# -- ingestion jobs marked FAILED ----------------------------------------------------------
@sensor(
    name=JOB_SENSOR,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Alerts the configured webhooks on ingestion jobs marked FAILED (after the consumer's "
    "attempts, or never published), one alert per dataset and reason naming the jobs.",
)
@log_errors("eventlake.alerts", JOB_SENSOR, sensor=JOB_SENSOR)  # a failed evaluation: a JSON ERROR line
def failed_job_alert_sensor(context: SensorEvaluationContext, eventlake: EventlakeResource):
    settings = eventlake.settings
    if context.cursor:
        cursor = json.loads(context.cursor)
        since = dt.datetime.fromisoformat(cursor["since"])
        seen = set(cursor["seen"])
    else:
        since, seen = dt.datetime.fromtimestamp(_first_tick_since(settings), dt.UTC), set()
    jobs = alerts.failed_jobs_since(settings.job_db, since)
    new = [j for j in jobs if j.updated_at > since or j.job_id not in seen]
    if jobs:
        newest = max(j.updated_at for j in jobs)
        seen = {j.job_id for j in jobs if j.updated_at == newest} | (seen if newest == since else set())
        since = newest
    context.update_cursor(json.dumps({"since": since.isoformat(), "seen": sorted(seen)}))
    if not new:
        return SkipReason("no ingestion job marked FAILED since the last tick")
    with alerts.Notifier(settings) as notifier:
        outcomes = _send(context, notifier, alerts.failed_job_alerts(new))
    return SkipReason(f"{len(new)} FAILED job(s): {outcomes}")


# -- consumer lag ---------------------------------------------------------------------------
@sensor(
    name=LAG_SENSOR,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Alerts the configured webhooks when a stream shard holds more records not yet committed by "
    "the consumer than EVENTLAKE_CONSUMER_LAG_ALERT_RECORDS; stores each tick's lag per shard for the "
    "dashboard's history.",
)
@log_errors("eventlake.alerts", LAG_SENSOR, sensor=LAG_SENSOR)  # a failed evaluation: a JSON ERROR line
def consumer_lag_alert_sensor(context: SensorEvaluationContext, eventlake: EventlakeResource):
    settings = eventlake.settings
    reading = alerts.stream_lag(settings)
    if reading.unavailable:
        return SkipReason(reading.unavailable)
    _sample_lag(context, settings, reading)
    alert = alerts.lag_alert(settings, reading)
    lags = {s.shard: s.lag_records for s in reading.shards}
    if alert is None:
        return SkipReason(f"lag within {settings.consumer_lag_alert_records} records: {lags}")
    with alerts.Notifier(settings) as notifier:
        outcome = notifier.notify(alert)
    return SkipReason(f"lag {lags}: alert {outcome}")


def _sample_lag(context: Any, settings: Any, reading: alerts.LagReading) -> None:
    """Keep this tick's lag per shard for the dashboard's history (``eventlake.metrics_history``); a
    state database that does not answer costs the sample, never the alert."""
    import sqlalchemy as sa

    from eventlake import metrics_history

    try:
        metrics_history.record_lag_samples(settings.job_db, settings.stream_name, reading.shards)
    except sa.exc.SQLAlchemyError as exc:
        context.log.warning(f"stream lag sample not stored: {exc}")


# -- freshness of the marts ------------------------------------------------------------------
@functools.cache
def marts_freshness_checks(minutes: float) -> tuple:
    """Dagster's last-update freshness checks on the marts: each fails when its mart was last
    materialized more than ``minutes`` ago."""
    from dagster import build_last_update_freshness_checks

    with warnings.catch_warnings():
        # superseded by FreshnessPolicy on the assets, which raises no check result to alert on
        warnings.simplefilter("ignore", FutureWarning)
        return tuple(
            build_last_update_freshness_checks(
                assets=[AssetKey(m) for m in MARTS], lower_bound_delta=dt.timedelta(minutes=minutes)
            )
        )


def marts_freshness_sensor(checks: tuple):
    from dagster import build_sensor_for_freshness_checks

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return build_sensor_for_freshness_checks(
            freshness_checks=list(checks),
            name=FRESHNESS_SENSOR,
            minimum_interval_seconds=60,
            default_status=DefaultSensorStatus.RUNNING,
        )


def alert_sensors() -> list:
    return [check_failure_alert_sensor, run_failure_alert_sensor, failed_job_alert_sensor, consumer_lag_alert_sensor]
