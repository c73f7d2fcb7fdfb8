"""GET /api/v1/metrics: request counters of this process plus job store aggregates."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.dependencies import CountersDep, JobStoreDep
from api.schemas import MetricsResponse

router = APIRouter(tags=["operations"])


@router.get("/metrics", summary="Processing metrics", response_model=MetricsResponse)
async def metrics(counters: CountersDep, jobs: JobStoreDep) -> MetricsResponse:
    return MetricsResponse(api=counters.snapshot(), jobs=await run_in_threadpool(jobs.metrics))
