"""POST /api/v1/trigger/{pipeline}: launch a Dagster job now."""

from __future__ import annotations

import logging

from eventlake.dagster_client import DagsterClientError
from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from api.dependencies import DagsterClientDep, require_api_key
from api.errors import ApiError, ComponentUnavailable, ErrorResponse
from api.schemas import TriggerResponse

log = logging.getLogger("eventlake.api")

router = APIRouter(tags=["operations"], dependencies=[Depends(require_api_key)])

#: The Dagster jobs a client may start (defined in eventlake.definitions).
PIPELINES: tuple[str, ...] = ("raw_ingest_job", "transform_job")

#: DagsterClientError kinds that mean "Dagster is not there", not "Dagster said no".
_UNREACHABLE = frozenset({"ConnectionError", "HTTPError"})


@router.post(
    "/trigger/{pipeline}",
    status_code=202,
    summary="Launch a Dagster pipeline",
    response_model=TriggerResponse,
    responses={
        401: {"model": ErrorResponse, "description": "Missing or wrong X-API-Key."},
        404: {"model": ErrorResponse, "description": "Not a known pipeline."},
        502: {"model": ErrorResponse, "description": "Dagster refused to launch the run."},
        503: {"model": ErrorResponse, "description": "Dagster is unreachable."},
    },
)
async def trigger(pipeline: str, dagster: DagsterClientDep) -> TriggerResponse:
    """Known pipelines: ``raw_ingest_job`` (drain the stream into Iceberg) and ``transform_job`` (dbt + checks)."""
    if pipeline not in PIPELINES:
        raise ApiError(404, "unknown pipeline", [{"pipeline": pipeline, "known": list(PIPELINES)}])
    try:
        run_id = await run_in_threadpool(dagster.launch_run, pipeline, tags={"eventlake/triggered_by": "api"})
    except DagsterClientError as exc:
        if exc.kind in _UNREACHABLE:
            raise ComponentUnavailable("dagster", str(exc), [{"pipeline": pipeline}]) from exc
        log.error("component=dagster refused to launch %s: %s", pipeline, exc, extra={"component": "dagster"})
        raise ApiError(502, "dagster could not launch the run", [{"pipeline": pipeline, "kind": exc.kind, "message": str(exc)}]) from exc
    log.info("trigger launched pipeline=%s run_id=%s", pipeline, run_id, extra={"pipeline": pipeline, "run_id": run_id})
    return TriggerResponse(pipeline=pipeline, run_id=run_id, run_url=dagster.run_url(run_id))
