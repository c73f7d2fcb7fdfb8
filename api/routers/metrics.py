"""GET /api/v1/metrics: request counters of this process plus job store aggregates."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.dependencies import CountersDep, IngestionJobStoreDep, ResourcesDep
from api.schemas import MetricsResponse

router = APIRouter(tags=["operations"])


@router.get("/metrics", summary="Processing metrics", response_model=MetricsResponse)
async def metrics(counters: CountersDep, jobs: IngestionJobStoreDep, resources: ResourcesDep) -> MetricsResponse:
    api = counters.snapshot()
    # this process's group writer: groups vs requests shows how much group commit coalesces
    api["ingest_writer"] = resources.writer_stats()
    return MetricsResponse(api=api, jobs=await run_in_threadpool(jobs.metrics))
