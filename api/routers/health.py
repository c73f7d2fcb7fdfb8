"""GET /api/v1/health: is the service able to accept data, and are its neighbours up?

Essential components (the job store and the stream) decide the status code:
without them nothing can be accepted (503). The Iceberg catalog and Dagster are
reported but not fatal: ingestion keeps working while they are away ("degraded").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.dependencies import ResourcesDep, SettingsDep
from api.schemas import ComponentHealth, HealthResponse

log = logging.getLogger("eventlake.api")

router = APIRouter(tags=["operations"])

CHECK_TIMEOUT_SECONDS = 5.0
DAGSTER_TIMEOUT_SECONDS = 2.0


async def _check(
    component: str, essential: bool, probe: Callable[[], Awaitable[dict[str, Any]]], timeout: float
) -> tuple[str, ComponentHealth]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(probe(), timeout)
    except Exception as exc:
        error = f"timed out after {timeout:g} s" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        log.warning("component=%s health check failed: %s", component, error, extra={"component": component})
        return component, ComponentHealth(
            status="down" if essential else "degraded",
            essential=essential,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            error=error,
        )
    return component, ComponentHealth(
        status="up", essential=essential, latency_ms=round((time.perf_counter() - started) * 1000, 2), detail=detail
    )


@router.get(
    "/health",
    summary="Health of the service and its components",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "The job store or the stream is down."}},
)
async def health(resources: ResourcesDep, settings: SettingsDep) -> Any:
    def job_store() -> dict[str, Any]:
        resources.job_store().ping()
        return {"dialect": resources.job_store().engine.dialect.name}

    def stream() -> dict[str, Any]:
        return {"backend": settings.stream, "shards": len(resources.stream().shard_ids())}

    def catalog() -> dict[str, Any]:
        return {"type": settings.catalog_type, "namespaces": len(resources.catalog().list_namespaces())}

    async def dagster() -> dict[str, Any]:
        url = settings.dagster_url.rstrip("/") + "/server_info"
        async with httpx.AsyncClient(timeout=DAGSTER_TIMEOUT_SECONDS) as client:
            response = await client.get(url)
        response.raise_for_status()
        info = response.json()
        return {"url": settings.dagster_url, "version": info.get("dagster_version")}

    results = dict(
        await asyncio.gather(
            _check("job_store", True, lambda: run_in_threadpool(job_store), CHECK_TIMEOUT_SECONDS),
            _check("stream", True, lambda: run_in_threadpool(stream), CHECK_TIMEOUT_SECONDS),
            _check("catalog", False, lambda: run_in_threadpool(catalog), CHECK_TIMEOUT_SECONDS),
            _check("dagster", False, dagster, DAGSTER_TIMEOUT_SECONDS + 1),
        )
    )
    if any(c.status == "down" for c in results.values()):
        overall = "down"
    elif any(c.status != "up" for c in results.values()):
        overall = "degraded"
    else:
        overall = "ok"
    body = HealthResponse(status=overall, components=results)
    return JSONResponse(status_code=503 if overall == "down" else 200, content=body.model_dump(mode="json"))
