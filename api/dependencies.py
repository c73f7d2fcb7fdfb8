"""Typed dependencies. Tests swap any of them with ``app.dependency_overrides``.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in
the threadpool, a thread hop per dependency per request (it was most of an
ingest request's cost). A backend that is not open yet is opened in the
threadpool (that may block on a connect), one that is open is returned at once.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from typing import Annotated

from eventlake.dagster_client import DagsterClient
from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore
from eventlake.stream import Stream
from fastapi import Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader

from api.counters import ApiCounters
from api.errors import ApiError
from api.resources import AppResources

log = logging.getLogger("eventlake.api")

async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with (``create_app(settings)``, else ``get_settings()``)."""
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_resources(request: Request) -> AppResources:
    return request.app.state.resources


ResourcesDep = Annotated[AppResources, Depends(get_resources)]


async def get_job_store(resources: ResourcesDep) -> IngestionJobStore:
    return resources.opened_job_store() or await run_in_threadpool(resources.job_store)


async def get_stream(resources: ResourcesDep) -> Stream:
    return resources.opened_stream() or await run_in_threadpool(resources.stream)


async def get_counters(request: Request) -> ApiCounters:
    return request.app.state.counters


#: Seconds a launch may take: with Dagster's DefaultRunCoordinator the webserver starts
#: the run worker before it answers, which takes several seconds on a busy machine.
DAGSTER_LAUNCH_TIMEOUT_SECONDS = 30.0


def get_dagster_client(settings: SettingsDep) -> Iterator[DagsterClient]:
    client = DagsterClient(settings.dagster_url, timeout=DAGSTER_LAUNCH_TIMEOUT_SECONDS)
    try:
        yield client
    finally:
        client.close()


IngestionJobStoreDep = Annotated[IngestionJobStore, Depends(get_job_store)]
StreamDep = Annotated[Stream, Depends(get_stream)]
CountersDep = Annotated[ApiCounters, Depends(get_counters)]
DagsterClientDep = Annotated[DagsterClient, Depends(get_dagster_client)]

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="One of the keys in EVENTLAKE_API_KEYS."
)


#: How OpenAPI names the API key scheme (FastAPI names a scheme after its class).
API_KEY_SCHEME = "APIKeyHeader"


async def require_api_key(key: Annotated[str | None, Security(api_key_header)], settings: SettingsDep) -> str:
    """401 unless ``X-API-Key`` is one of ``settings.api_keys`` (no keys configured = nobody gets in)."""
    return check_api_key(key, settings)


def check_api_key(key: str | None, settings: Settings) -> str:
    """``require_api_key`` without the dependency machinery (the ingest hot path calls it directly)."""
    if not key:
        raise ApiError(401, "missing API key", [{"header": "X-API-Key", "message": "send an API key in X-API-Key"}])
    if not settings.api_keys:
        log.warning("component=api rejected a key: EVENTLAKE_API_KEYS is empty, so no key is valid")
    # Compare with every key in constant time so timing does not reveal a prefix match.
    valid = False
    for accepted in settings.api_keys:
        valid |= hmac.compare_digest(key.encode("utf-8"), accepted.encode("utf-8"))
    if not valid:
        raise ApiError(401, "invalid API key", [{"header": "X-API-Key", "message": "the key is not accepted"}])
    return key


ApiKeyDep = Annotated[str, Depends(require_api_key)]
