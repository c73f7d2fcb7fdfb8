"""Airflow -> Dagster bridge: run eventlake's transform job when raw data changes.

For teams that schedule in Airflow. Dagster remains the orchestrator of the
asset graph; this DAG only decides *when* to run it:

    wait_for_raw_snapshot  >>  run_transform_job  >>  remember_snapshots

* ``wait_for_raw_snapshot`` pokes the Iceberg catalog (the one eventlake's
  Settings name) until a raw table (raw.events, raw.users, raw.products) has a
  current snapshot other than the one recorded at the last successful run.
  The recorded ids live in the Airflow Variable ``eventlake_bridge_last_snapshots``.
  No change within the sensor timeout -> the run ends SKIPPED, not FAILED.
* ``run_transform_job`` launches the Dagster ``transform_job`` through the
  webserver's GraphQL API (``EVENTLAKE_DAGSTER_URL``), or joins a transform
  run still queued there (``DagsterClient.trigger_run``), and waits for it; a
  FAILURE/CANCELED run fails the task, which Airflow retries with exponential
  backoff (Properties 18 and 40). A job Dagster does not know fails at once.
* ``remember_snapshots`` stores the snapshot ids the sensor saw, only after the
  transform succeeded, so a failed run is re-triggered next time.

Module import stays cheap for DagBag parsing: eventlake, pyiceberg and httpx
are imported inside the callables.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import PokeReturnValue, Variable, dag, task

log = logging.getLogger("eventlake.airflow_bridge")

DAG_ID = "eventlake_bridge"
LAST_SEEN_VARIABLE = "eventlake_bridge_last_snapshots"

# A scheduled run waits up to SENSOR_TIMEOUT for new raw data, poking every
# POKE_INTERVAL in reschedule mode (the worker slot is freed between pokes).
SCHEDULE = timedelta(minutes=10)
POKE_INTERVAL = timedelta(seconds=30)
SENSOR_TIMEOUT = timedelta(minutes=9)

# Retry policy of the Dagster launch (Property 18 / 40): 3 retries, waiting at
# least 1, 2, 4 minutes (doubling, capped at 30 minutes). Airflow adds a
# deterministic jitter: the n-th retry waits from delay * 2^(n-1) up to just under
# twice that. The delay may be set, in seconds, by the environment variable
# EVENTLAKE_BRIDGE_RETRY_DELAY_SECONDS where the DAG is parsed (the tests use 2).
RETRY_DELAY_VARIABLE = "EVENTLAKE_BRIDGE_RETRY_DELAY_SECONDS"
DEFAULT_RETRY_DELAY = timedelta(minutes=1)


def retry_delay(environ: Mapping[str, str] = os.environ) -> timedelta:
    """The first retry delay: ``EVENTLAKE_BRIDGE_RETRY_DELAY_SECONDS`` (a positive number) or 1 minute."""
    raw = environ.get(RETRY_DELAY_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_RETRY_DELAY
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{RETRY_DELAY_VARIABLE} must be a positive number of seconds, not {raw!r}")
    return timedelta(seconds=seconds)


TRANSFORM_RETRIES = 3
TRANSFORM_RETRY_DELAY = retry_delay()
TRANSFORM_BACKOFF = 2.0
TRANSFORM_MAX_RETRY_DELAY = timedelta(minutes=30)

# Dagster errors that a retry cannot fix.
PERMANENT_DAGSTER_ERRORS = frozenset(
    {"PipelineNotFoundError", "InvalidSubsetError", "RunConfigValidationInvalid", "InvalidStepError"}
)


def _log_setup() -> None:
    """The bridge's lines also go to stderr as eventlake's JSON lines (component ``airflow_bridge``,
    ``eventlake.logs``); they still reach Airflow's task log as well. Called by the callables, not at
    import: DagBag parsing stays free of eventlake."""
    from eventlake.logs import attach

    attach(log)


def read_raw_snapshots(settings: Any = None) -> dict[str, int]:
    """Current snapshot id of every raw table that has one (``raw.events`` ...), read from the Iceberg
    catalog without creating anything (``eventlake.raw_snapshots``)."""
    from eventlake import raw_snapshots
    from eventlake.contracts import RAW_NAMESPACE
    from eventlake.settings import get_settings

    tables = raw_snapshots.existing_tables(settings or get_settings())
    return {
        f"{RAW_NAMESPACE}.{dataset}": snapshot.snapshot_id
        for dataset, snapshot in raw_snapshots.current(tables).items()
        if snapshot is not None
    }


def changed_tables(current: dict[str, int], last_seen: dict[str, Any]) -> list[str]:
    """Tables whose current snapshot differs from the recorded one (ids are not ordered)."""
    return sorted(t for t, snapshot_id in current.items() if str(last_seen.get(t)) != str(snapshot_id))


def poke_raw_snapshots(last_seen: dict[str, Any], settings: Any = None) -> PokeReturnValue:
    """One poke: done when a raw table has a snapshot other than ``last_seen``'s.

    The XCom value is the full map of current snapshot ids, recorded after success.
    """
    _log_setup()
    try:
        current = read_raw_snapshots(settings)
    except Exception as exc:
        log.error("cannot read the raw tables' snapshots: %s", exc, exc_info=True)
        raise
    changed = changed_tables(current, last_seen or {})
    if changed:
        log.info("new Iceberg snapshots in %s: %s", ", ".join(changed), {t: current[t] for t in changed})
        return PokeReturnValue(is_done=True, xcom_value=current)
    log.info("no new raw snapshot (tables with data: %s)", ", ".join(sorted(current)) or "none")
    return PokeReturnValue(is_done=False)


def run_dagster_job(
    job_name: str,
    location: str,
    *,
    timeout_s: float,
    poll_s: float = 5,
    tags: dict[str, str] | None = None,
    dagster_url: str | None = None,
) -> str:
    """Launch a Dagster job (or join its run still queued, for transform_job), wait for it,
    return the run id; raise when it did not succeed.

    Every failure (Dagster unreachable, a launch refused, a run that did not succeed) is logged
    at ERROR with the Dagster run id when there is one, the Airflow run and try, and the error.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from eventlake.dagster_client import DagsterClient, DagsterClientError
    from eventlake.settings import get_settings

    _log_setup()
    url = dagster_url or get_settings().dagster_url
    tags = tags or {}
    run_id: str | None = None
    try:
        with DagsterClient(url, timeout=30) as client:
            try:
                # a transform run still queued (by the sensor, the API, ...) is joined: it has not
                # started, so it reads the snapshots this DAG run saw
                triggered = client.trigger_run(job_name, location=location, tags=tags)
            except DagsterClientError as exc:
                if exc.kind in PERMANENT_DAGSTER_ERRORS:
                    # Retrying cannot create a missing job: fail without retries.
                    raise AirflowFailException(str(exc)) from exc
                raise
            run_id = triggered.run_id
            verb = "joined queued" if triggered.joined else "launched"
            log.info("%s Dagster %s run %s: %s", verb, job_name, run_id, client.run_url(run_id),
                     extra={"run_id": run_id})
            status = client.wait_for_run(run_id, timeout_s=timeout_s, poll_s=poll_s)
            if status != "SUCCESS":
                raise RuntimeError(f"Dagster {job_name} run {run_id} ended {status}: {client.run_url(run_id)}")
            log.info("Dagster %s run %s succeeded", job_name, run_id, extra={"run_id": run_id})
            return run_id
    except Exception as exc:
        what = f"Dagster {job_name} run {run_id}" if run_id else f"launching Dagster {job_name} at {url}"
        log.error("%s failed: %s", what, exc, exc_info=True, extra={
            "run_id": run_id, "dagster_job": job_name, "dagster_url": url,
            "airflow_dag_id": tags.get("airflow/dag_id"), "airflow_run_id": tags.get("airflow/run_id"),
            "airflow_try_number": tags.get("airflow/try_number"),
        })
        raise


@dag(
    dag_id=DAG_ID,
    schedule=SCHEDULE,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["eventlake", "dagster"],
    params={"job_name": "transform_job", "location": "eventlake", "run_timeout_s": 3600, "poll_s": 5},
    default_args={"owner": "eventlake"},
    doc_md=__doc__,
)
def eventlake_bridge():
    @task.sensor(
        task_id="wait_for_raw_snapshot",
        poke_interval=POKE_INTERVAL,
        timeout=SENSOR_TIMEOUT,
        mode="reschedule",
        soft_fail=True,
    )
    def wait_for_raw_snapshot() -> PokeReturnValue:
        last_seen = Variable.get(LAST_SEEN_VARIABLE, default={}, deserialize_json=True)
        return poke_raw_snapshots(last_seen)

    @task(
        task_id="run_transform_job",
        retries=TRANSFORM_RETRIES,
        retry_delay=TRANSFORM_RETRY_DELAY,
        retry_exponential_backoff=TRANSFORM_BACKOFF,
        max_retry_delay=TRANSFORM_MAX_RETRY_DELAY,
    )
    def run_transform_job(snapshots: dict[str, int], **context: Any) -> str:
        from eventlake import raw_snapshots

        params = context["params"]
        ti = context["ti"]
        tags = {
            "eventlake/triggered_by": "airflow",
            "airflow/dag_id": ti.dag_id,
            "airflow/run_id": ti.run_id,
            "airflow/try_number": str(ti.try_number),
            "eventlake/raw_snapshots": raw_snapshots.state_key(snapshots),
        }
        return run_dagster_job(
            params["job_name"],
            params["location"],
            timeout_s=float(params["run_timeout_s"]),
            poll_s=float(params["poll_s"]),
            tags=tags,
        )

    @task(task_id="remember_snapshots")
    def remember_snapshots(snapshots: dict[str, int], dagster_run_id: str) -> None:
        _log_setup()
        Variable.set(LAST_SEEN_VARIABLE, snapshots, serialize_json=True)
        log.info("recorded raw snapshots %s after Dagster run %s", snapshots, dagster_run_id,
                 extra={"run_id": dagster_run_id})

    snapshots = wait_for_raw_snapshot()
    dagster_run_id = run_transform_job(snapshots)
    remember_snapshots(snapshots, dagster_run_id)


eventlake_bridge()
