"""Build the eventlake ingestion API.

``create_app(settings=None)`` returns the FastAPI app; with no settings it uses
the process's cached ``eventlake.settings.get_settings()`` (``EVENTLAKE_*``
environment variables). Serve it with ``python -m api.main`` (``run``:
``EVENTLAKE_API_WORKERS`` processes), or with
``uvicorn --factory api.main:create_server_app --http api.server:JsonErrorProtocol``
(the protocol makes uvicorn's own 400 answers use the API's error shape; see
``api.server``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from eventlake.settings import Settings, get_settings
from fastapi import FastAPI, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from api.counters import ApiCounters
from api.dependencies import API_KEY_SCHEME, api_key_header, require_api_key
from api.errors import ErrorResponse, install_error_handlers
from api.group_commit import sweep_unpublished_forever
from api.logs import RequestLogMiddleware
from api.resources import AppResources
from api.routers import health, ingest, jobs, metrics, status, tables, trigger
from api.transport import DrainRequestBodyMiddleware

API_PREFIX = "/api/v1"

#: Where the Swagger UI and ReDoc assets are served from (the ``fastapi-offline`` package's copies):
#: /docs and /redoc work without internet access.
DOCS_STATIC_URL = "/docs-static"

#: The API description in the OpenAPI document (shown at the top of /docs and /redoc).
DESCRIPTION = """\
Send events, users and products; they land exactly once in Apache Iceberg.

**Authentication.** Every endpoint that reads or writes data needs an `X-API-Key` header holding
one of the keys in `EVENTLAKE_API_KEYS`: `POST /api/v1/ingest`, `GET /api/v1/status/{job_id}`,
`GET /api/v1/jobs/{job_id}/rejected`, `GET /api/v1/tables/{name}/snapshots[/{snapshot_id}]` and
`POST /api/v1/trigger/{pipeline}`. Without a valid key
they answer 401. The operational endpoints `GET /api/v1/health` and `GET /api/v1/metrics`, and the
documentation (`/docs`, `/redoc`, `/openapi.json`), need no key.

**Errors** always have the body `{"error": "...", "details": [...]}`.

**Records are numbered from 0**, in the order the request held them (array elements, NDJSON lines,
CSV rows after the header): `record_index` in error details, in `raw.rejected_records` and in
`GET /api/v1/jobs/{job_id}/rejected` is that number. A detail about a malformed body also carries
`line` (1-based, as editors number lines) and `offset` (0-based byte offset in the body), which
locate the fault in the text.
"""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    settings.ensure_home()
    resources = AppResources(settings)
    app.state.resources = resources
    await run_in_threadpool(resources.open_essentials)
    if app.state.server_process:
        _tune_server_process()
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


def _tune_server_process() -> None:
    """Settings for a process that exists to serve the API, applied once it has started.

    * ``gc.freeze()``: the modules, the app and its backends are a few hundred thousand
      long-lived objects that every full collection would traverse again, and in-flight
      requests allocate enough to trigger collections often (about a quarter of the CPU of a
      single-event ingest, measured).
    * A GIL switch interval of 0.5 ms (not 5): the group writer thread needs the GIL back after
      every SQLite call, and while it waits for a busy event loop to let go it holds the job
      database's write turn, stalling every other API worker's commits with it (waits of
      hundreds of milliseconds measured with two workers).
    * The logging module's documented optimizations (Logging HOWTO, "Optimization"): no caller
      lookup (a stack walk per record), no thread or process names. Nothing the API logs uses
      them, and the request log writes a record per request.

    Only for a process that serves the app (``run``, ``create_server_app``): a test process that
    builds many apps would keep their garbage cycles forever.
    """
    sys.setswitchinterval(0.0005)
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    gc.collect()
    gc.freeze()


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


def create_app(settings: Settings | None = None, *, server_process: bool = False) -> FastAPI:
    """The API (see the module docstring). ``server_process``: this process exists to serve it
    (tunes the garbage collector and logging at startup, see ``_tune_server_process``)."""
    # FastAPIOffline: FastAPI whose /docs and /redoc pages load their scripts and styles from
    # the app itself (DOCS_STATIC_URL), not from a CDN.
    app = FastAPIOffline(
        title="eventlake ingestion API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=_lifespan,
        static_url=DOCS_STATIC_URL,
    )
    # On app.state, not as a dependency override: any override makes FastAPI re-inspect every
    # dependency's signature on every request.
    app.state.settings = settings if settings is not None else get_settings()
    app.state.server_process = server_process
    counters = ApiCounters()
    app.state.counters = counters
    install_error_handlers(app)
    # Added first = inner: the request log times and counts the drain too.
    app.add_middleware(DrainRequestBodyMiddleware)
    app.add_middleware(RequestLogMiddleware, counters=counters)
    include_routers(app)
    app.openapi = lambda: _openapi_without_422(app)  # type: ignore[method-assign]
    return app


#: Routers open to anyone: operations (health for load balancers, metrics for scrapers).
PUBLIC_ROUTERS = (health, metrics)
#: Routers whose every endpoint needs the API key, checked by the ``require_api_key`` dependency.
PROTECTED_ROUTERS = (status, jobs, trigger, tables)


def include_routers(app: FastAPI) -> None:
    """Every router under ``API_PREFIX``, applying the authentication rule (see ``DESCRIPTION``).

    ``POST /ingest`` needs the key too but checks it in the endpoint itself, with the same
    ``check_api_key`` the dependency calls: it has no dependencies at all, for speed (see
    ``api.routers.ingest``). ``tests/api/test_api_auth.py`` holds every route to the rule.
    """
    unauthorized = {401: {"model": ErrorResponse, "description": "Missing or wrong X-API-Key."}}
    app.include_router(ingest.router, prefix=API_PREFIX)
    for module in PROTECTED_ROUTERS:
        app.include_router(
            module.router, prefix=API_PREFIX, dependencies=[Security(require_api_key)], responses=unauthorized
        )
    for module in PUBLIC_ROUTERS:
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(metrics.scrape_router)  # GET /metrics, where Prometheus looks by default


def create_server_app() -> FastAPI:
    """``create_app()`` for a process that only serves the API: what ``run`` gives each uvicorn
    worker (``uvicorn --factory api.main:create_server_app``)."""
    return create_app(server_process=True)


def worker_count(settings: Settings) -> int:
    """``settings.api_workers``, with 0 meaning one per CPU core (at most ``MAX_AUTO_WORKERS``)."""
    if settings.api_workers > 0:
        return settings.api_workers
    return max(1, min(MAX_AUTO_WORKERS, os.cpu_count() or 1))


#: Most worker processes ``api_workers=0`` starts: they share one SQLite writer turn.
MAX_AUTO_WORKERS = 4


def settings_environment(settings: Settings) -> dict[str, str]:
    """``settings`` as ``EVENTLAKE_*`` variables, which rebuild them in another process."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, list):
            value = ",".join(map(str, value))
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"EVENTLAKE_{name.upper()}"] = str(value)
    return env


def run(settings: Settings | None = None) -> None:
    """Serve the API on ``settings.api_host:api_port`` with JSON logs, in ``settings.api_workers`` processes.

    One worker serves the app built from ``settings`` in this process. Several are uvicorn
    worker processes sharing the socket, each building the app with ``create_server_app()``
    from the environment, which is set to ``settings`` first; each has its own group writer.
    On a machine with more than one core this is what takes the API past one core's worth of
    Python (2 workers on 2 cores: 5,100 single-event ingests/s against 3,800 with one).
    """
    import uvicorn

    from api.logs import log_config
    from api.server import HTTP_PROTOCOL

    settings = settings or get_settings()
    options: dict[str, Any] = dict(
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
        http=HTTP_PROTOCOL,
        log_config=log_config(),
        # The request log (api.logs.RequestLogMiddleware) writes one JSON line per request with
        # what the access log has and more; uvicorn's access log on top cost a quarter of the
        # throughput of single-event ingests.
        access_log=False,
    )
    workers = worker_count(settings)
    if workers > 1:
        os.environ.update(settings_environment(settings))  # what the workers' get_settings() reads
        uvicorn.run("api.main:create_server_app", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_app(settings, server_process=True), **options)


if __name__ == "__main__":
    run()
