"""One error shape for every failure: ``{"error": "...", "details": [...]}``.

Endpoints raise ``ApiError`` (client mistakes) or ``ComponentUnavailable``
(a backend is down); the handlers below also map FastAPI's own validation
errors, Starlette's 404/405 and anything unexpected into the same shape.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("eventlake.api")

MAX_DETAILS = 1000
"""Most detail entries a response carries; a 32 MiB body of garbage must not echo a 60 MiB error."""


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: str = Field(description="What went wrong, in a few words.")
    details: list[Any] = Field(default_factory=list, description="Structured specifics, e.g. every malformed record.")


class ApiError(Exception):
    """A request the API refuses, with the status code and the error body to send."""

    def __init__(
        self, status_code: int, error: str, details: list[Any] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(error)
        self.status_code = status_code
        self.error = error
        self.details = details or []
        self.headers = headers


class ComponentUnavailable(Exception):
    """A backend the request needs (job store, stream, Dagster) cannot serve it: 503."""

    def __init__(self, component: str, message: str, details: list[Any] | None = None) -> None:
        super().__init__(f"{component}: {message}")
        self.component = component
        self.message = message
        self.details = details or []


def error_response(
    status_code: int, error: str, details: list[Any] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    details = list(details or [])
    if len(details) > MAX_DETAILS:
        more = len(details) - MAX_DETAILS
        details = details[:MAX_DETAILS] + [{"message": f"... and {more} more"}]
    return JSONResponse(
        status_code=status_code,
        content={"error": error, "details": jsonable_encoder(details)},
        headers=headers,
    )


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.error, exc.details, exc.headers)


async def _component_unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ComponentUnavailable)
    log.error(
        "component=%s unavailable: %s (%s %s)",
        exc.component,
        exc.message,
        request.method,
        request.url.path,
        extra={"component": exc.component},
    )
    details = [{"component": exc.component, "message": exc.message}, *exc.details]
    return error_response(503, f"{exc.component} unavailable", details)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"location": list(err.get("loc", ())), "message": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    return error_response(400, "invalid request", details)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail), [], getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception(
        "component=api unexpected error on %s %s: %r", request.method, request.url.path, exc, extra={"component": "api"}
    )
    return error_response(500, "internal error", [{"message": type(exc).__name__}])


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ComponentUnavailable, _component_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
