"""GET /api/v1/status/{job_id}: where a job is."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from api.dependencies import IngestionJobStoreDep
from api.errors import ApiError, ErrorResponse
from api.schemas import JobStatusResponse

router = APIRouter(tags=["jobs"])


@router.get(
    "/status/{job_id}",
    summary="Status of an ingestion job",
    response_model=JobStatusResponse,
    responses={404: {"model": ErrorResponse, "description": "No job with this id."}},
)
async def job_status(job_id: str, request: Request, jobs: IngestionJobStoreDep) -> JobStatusResponse:
    request.state.job_id = job_id
    job = await run_in_threadpool(jobs.get, job_id)
    if job is None:
        raise ApiError(404, "job not found", [{"job_id": job_id}])
    return JobStatusResponse.from_job(job)
