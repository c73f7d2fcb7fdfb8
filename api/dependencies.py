"""Typed dependencies. Tests swap any of them with ``app.dependency_overrides``."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from typing import Annotated

from eventlake.dagster_client import DagsterClient
from eventlake.jobs import JobStore
from eventlake.resources.stream import Stream
from eventlake.settings import Settings, get_settings
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from api.counters import ApiCounters
from api.errors import ApiError
from api.resources import AppResources

log = logging.getLogger("eventlake.api")

SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_resources(request: Request) -> AppResources:
    return request.app.state.resources


ResourcesDep = Annotated[AppResources, Depends(get_resources)]


def get_job_store(resources: ResourcesDep) -> JobStore:
    return resources.job_store()


def get_stream(resources: ResourcesDep) -> Stream:
    return resources.stream()


def get_counters(request: Request) -> ApiCounters:
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


JobStoreDep = Annotated[JobStore, Depends(get_job_store)]
StreamDep = Annotated[Stream, Depends(get_stream)]
CountersDep = Annotated[ApiCounters, Depends(get_counters)]
DagsterClientDep = Annotated[DagsterClient, Depends(get_dagster_client)]

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="One of the keys in EVENTLAKE_API_KEYS."
)


def require_api_key(key: Annotated[str | None, Security(api_key_header)], settings: SettingsDep) -> str:
    """401 unless ``X-API-Key`` is one of ``settings.api_keys`` (no keys configured = nobody gets in)."""
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
