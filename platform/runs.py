"""Runs that coalesce: at most one transform run at a time, and no pile of waiting ones.

Every transform run carries the tag ``eventlake/pipeline: transform``
(``TRANSFORM_TAGS``; transform_job's own tags, and set again by every trigger).
The Dagster instance (its ``dagster.yaml``, see ``instance_config``) queues
every run through the QueuedRunCoordinator and lets only one run with that tag
be in progress (STARTING, STARTED, CANCELING) at a time; the others wait QUEUED.

Runs of other jobs write the warehouse too: "Materialize" on dbt assets in the
UI launches an ``__ASSET_JOB`` run without the tag. So the dbt assets also sit
in the concurrency pool ``WAREHOUSE_POOL``, limited to one run at a time (pool
granularity ``run``): the queue holds back every run that would build a dbt
asset while another such run is in progress, whatever its job or tags.

A trigger (the API, Airflow through ``DagsterClient.trigger_run``, the snapshot
sensor) that finds a transform run still QUEUED joins it instead of queueing
another: a queued run has not started yet, so it will read every Iceberg
snapshot that landed before it starts, the trigger's too.

This module imports neither dagster nor yaml: the API and Airflow workers import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TRANSFORM_JOB = "transform_job"

#: The tag that puts a run in a pipeline's lane of the run queue.
PIPELINE_TAG = "eventlake/pipeline"
TRANSFORM = "transform"
TRANSFORM_TAGS: Mapping[str, str] = {PIPELINE_TAG: TRANSFORM}

#: Who asked for a run: ``api``, ``airflow``, ``iceberg_snapshot`` (the sensor), ...
TRIGGERED_BY_TAG = "eventlake/triggered_by"

#: Transform runs in progress at once. One: dbt builds into one DuckDB file, and
#: DuckDB lets a single process open it for writing ("Could not set lock on file").
TRANSFORM_RUN_LIMIT = 1

#: The Dagster concurrency pool of every asset that writes the warehouse (the dbt
#: assets): one run holding it at a time, for the same DuckDB lock as above.
WAREHOUSE_POOL = "warehouse"
WAREHOUSE_POOL_LIMIT = 1

#: How often the snapshot sensor looks for new raw snapshots, and how often the run queue starts
#: waiting runs: together with a run's start they are the wait between a commit and its transform.
SENSOR_INTERVAL_SECONDS = 5
DEQUEUE_INTERVAL_SECONDS = 1

#: Dagster's tag of a re-execution (its steps are a subset, or its config is its parent's).
PARENT_RUN_TAG = "dagster/parent_run_id"

#: Step retries of transform_job (Dagster's op retry policy, what Dagster recommends for asset
#: jobs: ``define_asset_job(op_retry_policy=...)``): a step that fails for a transient reason (a
#: locked DuckDB file, an unreachable catalog or bucket) is tried again within the same run,
#: after 15, 45 and 105 s (exponential backoff: (2^n - 1) x the delay). A failure the data causes
#: is not retried: dbt tests or models that fail (``Failure(allow_retries=False)``, see
#: ``eventlake.assets.dbt``) and failed blocking checks (Dagster never retries those).
STEP_MAX_RETRIES = 3
STEP_RETRY_DELAY_SECONDS = 15.0
#: The maintenance jobs' steps retry a table that failed for an infrastructure reason (an I/O error,
#: a catalog commit conflict) after 60, 180 and 420 s; they run nightly, so there is time.
MAINTENANCE_RETRY_DELAY_SECONDS = 60.0


def step_retry_policy(delay_seconds: float | None = None) -> Any:
    """The ``dagster.RetryPolicy`` of transform_job's steps (dagster is imported here, not at import)."""
    from dagster import Backoff, RetryPolicy

    delay = STEP_RETRY_DELAY_SECONDS if delay_seconds is None else delay_seconds
    return RetryPolicy(max_retries=STEP_MAX_RETRIES, delay=delay, backoff=Backoff.EXPONENTIAL)


def concurrency_config() -> dict[str, Any]:
    """The ``concurrency:`` section of dagster.yaml: one transform run, and one run that
    writes the warehouse, in progress at a time.

    ``runs``: the tag limit of the transform lane. ``pools``: every pool's limit
    defaults to one (``WAREHOUSE_POOL`` is eventlake's only pool), and with
    granularity ``run`` the QueuedRunCoordinator keeps a run QUEUED while any pool
    of its steps is held by a run in progress; the run's own steps then claim no
    slots (so a run never waits on itself between its dbt layers). The queue writes
    the pool's limit into the instance's storage the first time it sees a queued
    run in the pool; it blocks from the next iteration on (Dagster 1.13).
    """
    return {
        "runs": {
            "tag_concurrency_limits": [
                {"key": PIPELINE_TAG, "value": TRANSFORM, "limit": TRANSFORM_RUN_LIMIT},
            ],
        },
        "pools": {"default_limit": WAREHOUSE_POOL_LIMIT, "granularity": "run"},
    }


def instance_config(**extra: Any) -> dict[str, Any]:
    """The dagster.yaml of an instance that runs eventlake's jobs (the demo's, the tests').

    Runs go through the QueuedRunCoordinator (said explicitly: the limits above
    only hold for queued runs; a DefaultRunCoordinator would launch at once).
    Run monitoring fails a run whose worker did not start within 180 s, so a
    run stuck in STARTING cannot hold the transform lane forever. ``extra``
    adds or replaces top-level sections (storage, run_launcher, ...).

    ``python_logs`` (``eventlake.logs.dagster_python_logs``): every step's start and outcome, the
    run's, and what eventlake's loggers say in a step go to the run worker's stderr as
    eventlake's JSON lines with ``run_id`` and ``step_key``, and eventlake's lines to the run's
    event log too.
    """
    from eventlake.logs import dagster_python_logs

    config: dict[str, Any] = {
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"dequeue_interval_seconds": DEQUEUE_INTERVAL_SECONDS},
        },
        "concurrency": concurrency_config(),
        "run_monitoring": {"enabled": True, "start_timeout_seconds": 180, "poll_interval_seconds": 30},
        "telemetry": {"enabled": False},
        "python_logs": dagster_python_logs(),
    }
    config.update(extra)
    return config


def lane_of(job_name: str) -> Mapping[str, str]:
    """The tags of the run queue lane a job's runs wait in ({} for jobs without one)."""
    return TRANSFORM_TAGS if job_name == TRANSFORM_JOB else {}


def is_transform(tags: Mapping[str, str]) -> bool:
    return tags.get(PIPELINE_TAG) == TRANSFORM


def joinable(job_name: str, tags: Mapping[str, str], *, status: str, subset: bool = False) -> bool:
    """Whether a trigger may join this run instead of queueing another.

    Only a whole transform_job run that has not started: QUEUED, in the
    transform lane, not a re-execution and not a ``subset`` of the job (a
    selection of ops, assets or steps): those would not rebuild everything a
    trigger asks for.
    """
    return (
        status == "QUEUED"
        and job_name == TRANSFORM_JOB
        and is_transform(tags)
        and PARENT_RUN_TAG not in tags
        and not subset
    )
