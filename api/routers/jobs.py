"""GET /api/v1/jobs/{job_id}/rejected: a job's rejected records with their violations, a page at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from api import rejected_records
from api.dependencies import IngestionJobStoreDep, ResourcesDep
from api.errors import ApiError, ComponentUnavailable, ErrorResponse
from api.schemas import RejectedRecordsPage

# Needs the API key: api.main includes this router with the require_api_key dependency.
router = APIRouter(tags=["jobs"])

#: Largest page the endpoint returns.
MAX_LIMIT = 1000


@router.get(
    "/jobs/{job_id}/rejected",
    summary="A job's rejected records and their violations",
    response_model=RejectedRecordsPage,
    responses={
        400: {"model": ErrorResponse, "description": "`limit` or `offset` out of range."},
        404: {"model": ErrorResponse, "description": "No job with this id."},
        503: {"model": ErrorResponse, "description": "The job store or the Iceberg catalog is unavailable."},
    },
)
async def rejected(
    job_id: str,
    request: Request,
    jobs: IngestionJobStoreDep,
    resources: ResourcesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Records per page.")] = 100,
    offset: Annotated[int, Query(ge=0, description="Records to skip: the previous page's `next_offset`.")] = 0,
    rule: Annotated[
        str | None, Query(description="Only records with a violation of this rule, e.g. `required` or `duplicate`.")
    ] = None,
) -> RejectedRecordsPage:
    """The records of the job kept in ``raw.rejected_records``, ordered by ``record_index`` (0-based
    position in the request): records that broke the contract, and duplicates (rule ``duplicate``).

    Paginated with ``limit`` and ``offset``: follow ``next_offset`` until it is null. ``total`` counts
    every matching record of the job. A job with no rejected records (or none landed yet) gives an
    empty ``items`` list; an unknown job is 404.
    """
    request.state.job_id = job_id
    job = await run_in_threadpool(jobs.get, job_id)
    if job is None:
        raise ApiError(404, "job not found", [{"job_id": job_id}])

    def read() -> rejected_records.RejectedPage:
        try:
            catalog = resources.catalog()
        except Exception as exc:
            raise ComponentUnavailable("catalog", f"cannot open the Iceberg catalog: {exc}") from exc
        return rejected_records.read_page(catalog, job_id, limit=limit, offset=offset, rule=rule)

    page = await run_in_threadpool(read)
    end = offset + limit
    return RejectedRecordsPage(
        job_id=job_id,
        dataset=job.dataset,
        rule=rule,
        total=page.total,
        limit=limit,
        offset=offset,
        next_offset=end if end < page.total else None,
        items=page.rows,  # type: ignore[arg-type]  # validated into RejectedRecord
    )
