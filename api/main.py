"""Build the eventlake ingestion API.

``create_app(settings=None)`` returns the FastAPI app; with no settings it uses
the process's cached ``eventlake.settings.get_settings()`` (``EVENTLAKE_*``
environment variables). Serve it with ``python -m api.main``, or with
``uvicorn --factory api.main:create_app --http api.server:JsonErrorProtocol``
(the protocol makes uvicorn's own 400 answers use the API's error shape; see
``api.server``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from eventlake.settings import Settings, get_settings
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi

from api.counters import ApiCounters
from api.errors import install_error_handlers
from api.logs import RequestLogMiddleware
from api.resources import AppResources
from api.routers import health, ingest, metrics, status, trigger
from api.transport import DrainRequestBodyMiddleware

API_PREFIX = "/api/v1"


def _resolve_settings(app: FastAPI) -> Settings:
    # The lifespan resolves settings the way the dependencies do, so one override serves both.
    return app.dependency_overrides.get(get_settings, get_settings)()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = _resolve_settings(app)
    settings.ensure_home()
    resources = AppResources(settings)
    app.state.resources = resources
    await run_in_threadpool(resources.open_essentials)
    try:
        yield
    finally:
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
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="eventlake ingestion API",
        version="1.0.0",
        description="Send events, users and products; they land exactly once in Apache Iceberg.",
        lifespan=_lifespan,
    )
    if settings is not None:
        app.dependency_overrides[get_settings] = lambda: settings
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
    """Serve the API on ``settings.api_host:api_port`` with JSON logs."""
    import uvicorn

    from api.logs import configure_logging
    from api.server import HTTP_PROTOCOL

    settings = settings or get_settings()
    configure_logging()
    uvicorn.run(
        create_app(settings), host=settings.api_host, port=settings.api_port, log_level="info", http=HTTP_PROTOCOL
    )


if __name__ == "__main__":
    run()
