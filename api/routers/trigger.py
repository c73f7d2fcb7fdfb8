"""POST /api/v1/trigger/{pipeline}: run a Dagster job, joining a transform run still queued."""

from __future__ import annotations

import logging

from eventlake import runs
from eventlake.dagster_client import DagsterClientError
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from api.dependencies import DagsterClientDep
from api.errors import ApiError, ComponentUnavailable, ErrorResponse
from api.schemas import TriggerResponse

log = logging.getLogger("eventlake.api")

# Needs the API key: api.main includes this router with the require_api_key dependency.
router = APIRouter(tags=["operations"])

#: The Dagster jobs a client may start (defined in eventlake.definitions).
PIPELINES: tuple[str, ...] = ("raw_ingest_job", runs.TRANSFORM_JOB)

#: DagsterClientError kinds that mean "Dagster is not there", not "Dagster said no".
_UNREACHABLE = frozenset({"ConnectionError", "HTTPError"})


class TriggeredResponse(TriggerResponse):
    joined: bool = Field(
        description=(
            "True when a transform_job run was already queued (not started yet): the trigger joined it, "
            "and that run will read everything that landed before it starts. False: a new run was queued."
        )
    )


# the shape of every route declaration (as in api.routers.jobs): path, summary, response model, error responses
@router.post(
    "/trigger/{pipeline}",
    status_code=202,
    summary="Run a Dagster pipeline (joins a queued transform run)",
    response_model=TriggeredResponse,
    responses={
        401: {"model": ErrorResponse, "description": "Missing or wrong X-API-Key."},
        404: {"model": ErrorResponse, "description": "Not a known pipeline."},
        502: {"model": ErrorResponse, "description": "Dagster refused to launch the run."},
        503: {"model": ErrorResponse, "description": "Dagster is unreachable."},
    },
)
async def trigger(pipeline: str, dagster: DagsterClientDep) -> TriggeredResponse:
    """Known pipelines: ``raw_ingest_job`` (drain the stream into Iceberg) and ``transform_job`` (dbt + checks).

    Runs go through Dagster's run queue, which starts one transform run at a time. A
    ``transform_job`` trigger while a transform run is queued answers that run's id with
    ``"joined": true`` instead of queueing a second one.
    """
    if pipeline not in PIPELINES:
        raise ApiError(404, "unknown pipeline", [{"pipeline": pipeline, "known": list(PIPELINES)}])
    try:
        triggered = await run_in_threadpool(
            dagster.trigger_run, pipeline, tags={runs.TRIGGERED_BY_TAG: "api"}
        )
    except DagsterClientError as exc:
        if exc.kind in _UNREACHABLE:
            raise ComponentUnavailable("dagster", str(exc), [{"pipeline": pipeline}]) from exc
        log.error("component=dagster refused to launch %s: %s", pipeline, exc, extra={"component": "dagster"})
        raise ApiError(502, "dagster could not launch the run", [{"pipeline": pipeline, "kind": exc.kind, "message": str(exc)}]) from exc
    run_id = triggered.run_id
    log.info(
        "trigger %s pipeline=%s run_id=%s",
        "joined queued run" if triggered.joined else "launched",
        pipeline,
        run_id,
        extra={"pipeline": pipeline, "run_id": run_id, "joined": triggered.joined},
    )
    return TriggeredResponse(pipeline=pipeline, run_id=run_id, run_url=dagster.run_url(run_id), joined=triggered.joined)
