"""Build the eventlake ingestion API.

``create_app(settings=None)`` returns the FastAPI app; with no settings it uses
the process's cached ``eventlake.settings.get_settings()`` (``EVENTLAKE_*``
environment variables). Serve it with ``python -m api.main``, or with
``uvicorn --factory api.main:create_app --http api.server:JsonErrorProtocol``
(the protocol makes uvicorn's own 400 answers use the API's error shape; see
``api.server``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from eventlake.settings import Settings, get_settings
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi

from api.counters import ApiCounters
from api.dependencies import API_KEY_SCHEME, api_key_header
from api.errors import install_error_handlers
from api.group_commit import sweep_unpublished_forever
from api.logs import RequestLogMiddleware
from api.resources import AppResources
from api.routers import health, ingest, metrics, status, trigger
from api.transport import DrainRequestBodyMiddleware

API_PREFIX = "/api/v1"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    settings.ensure_home()
    resources = AppResources(settings)
    app.state.resources = resources
    await run_in_threadpool(resources.open_essentials)
    sweeper = asyncio.create_task(
        sweep_unpublished_forever(resources.job_store, settings.api_unpublished_seconds), name="unpublished-sweeper"
    )
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await run_in_threadpool(resources.close)


def _openapi_without_422(app: FastAPI) -> dict[str, Any]:
    # Validation errors are answered with 400 in the common error shape, not FastAPI's 422.
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes, tags=app.openapi_tags
        )
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        # The ingest route checks its key itself (no dependency): declare the scheme it names.
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes.setdefault(API_KEY_SCHEME, api_key_header.model.model_dump(mode="json", by_alias=True, exclude_none=True))
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="eventlake ingestion API",
        version="1.0.0",
        description="Send events, users and products; they land exactly once in Apache Iceberg.",
        lifespan=_lifespan,
    )
    # On app.state, not as a dependency override: any override makes FastAPI re-inspect every
    # dependency's signature on every request.
    app.state.settings = settings if settings is not None else get_settings()
    counters = ApiCounters()
    app.state.counters = counters
    install_error_handlers(app)
    # Added first = inner: the request log times and counts the drain too.
    app.add_middleware(DrainRequestBodyMiddleware)
    app.add_middleware(RequestLogMiddleware, counters=counters)
    for module in (ingest, status, health, metrics, trigger):
        app.include_router(module.router, prefix=API_PREFIX)
    app.openapi = lambda: _openapi_without_422(app)  # type: ignore[method-assign]
    return app


def run(settings: Settings | None = None) -> None:
    """Serve the API on ``settings.api_host:api_port`` with JSON logs, in ``settings.api_workers`` processes.

    One worker serves the app built from ``settings`` in this process. Several are uvicorn
    worker processes sharing the socket, each building the app with ``create_app()`` from the
    environment (``EVENTLAKE_*``), each with its own group writer: on a machine with more than
    one core this is what takes the API past one core's worth of Python.
    """
    import uvicorn

    from api.logs import log_config
    from api.server import HTTP_PROTOCOL

    settings = settings or get_settings()
    options: dict[str, Any] = dict(
        host=settings.api_host, port=settings.api_port, log_level="info", http=HTTP_PROTOCOL, log_config=log_config()
    )
    if settings.api_workers > 1:
        uvicorn.run("api.main:create_app", factory=True, workers=settings.api_workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)


if __name__ == "__main__":
    run()
