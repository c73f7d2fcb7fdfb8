"""GET /api/v1/metrics: request counters of this process plus job store aggregates, as JSON, or
in Prometheus' text format when the Accept header asks for it (``api.prometheus``). ``GET /metrics``
(outside the API prefix, where scrapers look by default) always answers in the text format."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api import prometheus
from api.dependencies import CountersDep, IngestionJobStoreDep, ResourcesDep, SettingsDep
from api.schemas import MetricsResponse

router = APIRouter(tags=["operations"])
#: ``GET /metrics``, included without the API prefix
scrape_router = APIRouter(tags=["operations"])

_TEXT = {200: {"content": {prometheus.CONTENT_TYPE.split(";")[0]: {}},
               "description": "The Prometheus text format (`Accept: text/plain` or `application/openmetrics-text`)."}}


async def _exposition(settings, counters, jobs, resources) -> Response:
    body = await run_in_threadpool(
        prometheus.render, settings=settings, api=counters.snapshot(), writer_stats=resources.writer_stats(), jobs=jobs
    )
    return Response(body, media_type=prometheus.CONTENT_TYPE)


@router.get("/metrics", summary="Processing metrics (JSON, or Prometheus text by Accept)", response_model=MetricsResponse,
            responses=_TEXT)
async def metrics(request: Request, settings: SettingsDep, counters: CountersDep, jobs: IngestionJobStoreDep,
                  resources: ResourcesDep) -> MetricsResponse | Response:
    if prometheus.wants_prometheus(request.headers.get("accept")):
        return await _exposition(settings, counters, jobs, resources)
    api = counters.snapshot()
    # this process's group writer: groups vs requests shows how much group commit coalesces
    api["ingest_writer"] = resources.writer_stats()
    return MetricsResponse(api=api, jobs=await run_in_threadpool(jobs.metrics))


@scrape_router.get("/metrics", summary="Prometheus scrape endpoint", response_class=Response, responses=_TEXT)
async def scrape(settings: SettingsDep, counters: CountersDep, jobs: IngestionJobStoreDep,
                 resources: ResourcesDep) -> Response:
    return await _exposition(settings, counters, jobs, resources)
