"""Structured request logging.

``RequestLogMiddleware`` logs one line per request on ``eventlake.api`` with
``method``, ``path``, ``status``, ``job_id`` (when the request has one) and
``duration_ms`` as ``extra`` fields (and in the message, as key=value, for
plain-text handlers), plus what the endpoint put in ``request.state.log_extra``
(an accepted ingest: ``dataset``, ``format``, ``records``, ``parts``, ``bytes``;
one line per request, not one more per job), and counts requests by route template and status. A client
that goes away before the response (``ClientDisconnect``, e.g. mid-upload) is
logged at WARNING as a client disconnect and counted under status 499 ("client
closed request", as nginx does), never as a 500.
The lines are eventlake's shared format (``eventlake.logs``: timestamp, level,
component ``api``, message, ids, error details), uvicorn's own lines included.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.counters import ApiCounters
from eventlake import logs
from eventlake.logs import JsonFormatter

__all__ = ["JsonFormatter", "CoalescingStreamHandler", "RequestLogMiddleware", "configure_logging", "log_config"]

log = logging.getLogger("eventlake.api")

CLIENT_CLOSED_REQUEST = 499
"""Status recorded for a request whose client disconnected before it was answered (no response is sent)."""


class CoalescingStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A ``StreamHandler`` that writes the lines logged in one event-loop step together.

    The request log writes a line per request; written one by one that is a ``write`` system
    call per request. Here a line logged on an event loop is kept until the end of the loop's
    current step (``call_soon``), and the lines of that step go out in one write and flush.
    Lines logged by other threads are written at once (after any kept ones). A process that is
    killed loses at most the lines of the step it was in.
    """

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:  # noqa: BLE001 - logging never raises into the caller
            self.handleError(record)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        # Handler.handle holds self.lock around emit
        if loop is None:
            self._pending.append(line)
            self._write_pending()
            return
        if not self._pending:
            loop.call_soon(self._flush_step)
        self._pending.append(line)

    def _flush_step(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_pending()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        text, self._pending = "".join(self._pending), []
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:  # noqa: BLE001
            self.handleError(logging.makeLogRecord({"msg": "cannot write log lines"}))

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_pending()
            super().flush()


def log_config(level: str = "INFO") -> dict[str, Any]:
    """uvicorn's logging config with every line, uvicorn's and eventlake's, in eventlake's
    format (``eventlake.logs``, component ``api``) on stderr.

    For ``uvicorn.run(log_config=...)``: uvicorn applies it in every worker process, which
    ``configure_logging`` in the parent would not reach.
    """
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    line_format = {"()": "eventlake.logs.formatter", "component": "api"}
    config["formatters"]["eventlake"] = line_format
    # uvicorn's own lines (startup, errors in the server, the access log when it is on) too
    for name in ("default", "access"):
        config["formatters"][name] = dict(line_format)
    config["handlers"]["eventlake"] = {
        "formatter": "eventlake", "class": "api.logs.CoalescingStreamHandler", "stream": "ext://sys.stderr"
    }
    config["loggers"]["eventlake"] = {"handlers": ["eventlake"], "level": level, "propagate": False}
    return config


def configure_logging(level: int | str = logging.INFO) -> None:
    """eventlake's lines on stderr for a process that runs the API in-process (``eventlake.logs.configure``)."""
    logs.configure(level, component="api")


class RequestLogMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware) so request bodies still stream to the endpoint."""

    def __init__(self, app: ASGIApp, counters: ApiCounters) -> None:
        self.app = app
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def send_and_capture(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        disconnected = False
        try:
            await self.app(scope, receive, send_and_capture)
        except ClientDisconnect:
            # The client is gone (the server reported http.disconnect): nobody to answer, and not
            # a server error. Swallowed here so it never reaches the 500 handler.
            disconnected = True
            status_code = CLIENT_CLOSED_REQUEST
        finally:
            self._record(scope, status_code, started, disconnected)

    def _record(self, scope: Scope, status_code: int, started: float, disconnected: bool = False) -> None:
        route = scope.get("route")
        # The route template, not the raw path: job ids must not become metric labels.
        endpoint = f"{scope['method']} {route.path if route is not None else '<unmatched>'}"
        self.counters.count_request(endpoint, status_code)
        if disconnected:
            self.counters.count_client_disconnect()
        state = scope.get("state") or {}
        job_id = state.get("job_id")
        more: dict[str, Any] = state.get("log_extra") or {}
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        level = logging.ERROR if status_code >= 500 else logging.WARNING if status_code >= 400 else logging.INFO
        if not log.isEnabledFor(level):
            return
        log.log(
            level,
            "request method=%s path=%s status=%d job_id=%s duration_ms=%.2f%s%s",
            scope["method"],
            scope["path"],
            status_code,
            job_id or "-",
            duration_ms,
            "".join(f" {key}={value}" for key, value in more.items()),
            " client_disconnected=true (the client closed the connection before the response)" if disconnected else "",
            extra={
                **more,
                "method": scope["method"],
                "path": scope["path"],
                "status": status_code,
                "job_id": job_id,
                "duration_ms": duration_ms,
                "client_disconnected": disconnected,
            },
        )
