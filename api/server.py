"""uvicorn HTTP protocols whose own 400 answers use the API's error shape.

uvicorn answers some requests itself, before the app sees them, with a plain-text
``400 Invalid HTTP request received.``: a malformed request line or header, an
invalid or conflicting ``Content-Length``/``Transfer-Encoding``, and body bytes
beyond the declared ``Content-Length`` (read as the start of a next, malformed,
request). No ASGI app can change that answer; only the protocol class can. The
subclasses here answer ``{"error": "invalid HTTP request", "details": [...]}``
instead, and also answer (rather than silently close) a request whose client
half-closes the connection before sending the whole body it announced.

The httptools variant (uvicorn's default) also writes each response with one
``send`` instead of two: uvicorn writes the status line and headers, then the
body, as separate transport writes, each a system call (on loopback, the
receiver's TCP processing too). ``CoalescingTransport`` joins the writes made in
one event-loop step; for small responses this was a fifth of the event loop's
time.

Serve the API with them: ``uvicorn.run(app, http=HTTP_PROTOCOL)`` or
``uvicorn --factory api.main:create_server_app --http api.server:JsonErrorProtocol``.
"""

from __future__ import annotations

import asyncio
import http
import json
import sys
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

INVALID_REQUEST = "invalid HTTP request"
INCOMPLETE_BODY = "incomplete request body"


def _error_body(error: str, details: list[dict[str, Any]]) -> bytes:
    return json.dumps({"error": error, "details": details}).encode("utf-8")


def _invalid_request_details(msg: str) -> list[dict[str, Any]]:
    detail: dict[str, Any] = {"message": msg}
    # uvicorn calls send_400_response from its `except` clause: name the parser's reason too.
    exc = sys.exc_info()[1]
    if exc is not None and str(exc):
        detail["reason"] = str(exc)
    return [detail]


def _incomplete_body_details(headers: list[tuple[bytes, bytes]] | None) -> list[dict[str, Any]]:
    detail: dict[str, Any] = {
        "message": "the client closed its side of the connection before sending the whole body it announced"
    }
    for name, value in headers or []:
        if name.lower() == b"content-length":
            detail["content_length"] = value.decode("latin-1")
    return [detail]


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with JSON 400 answers."""

    def send_400_response(self, msg: str) -> None:
        self._send_json_error(400, INVALID_REQUEST, _invalid_request_details(msg))

    def eof_received(self) -> None:
        # uvicorn ignores the client's EOF and lets asyncio close the transport: a body cut short
        # by a half-close would get no answer at all. Answer it while the socket can still write.
        if self.cycle is not None and not self.cycle.response_started and self.conn.their_state is h11.SEND_BODY:
            self._send_json_error(400, INCOMPLETE_BODY, _incomplete_body_details(self.headers))

    def _send_json_error(self, status: int, error: str, details: list[dict[str, Any]]) -> None:
        body = _error_body(error, details)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        try:
            reason = http.HTTPStatus(status).phrase.encode("ascii")
            output = self.conn.send(h11.Response(status_code=status, headers=headers, reason=reason))
            output += self.conn.send(h11.Data(data=body)) or b""
            output += self.conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:  # a response is already under way: all we can do is close
            output = b""
        if output:
            self.transport.write(output)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app must not answer this connection any more
            self.cycle.message_event.set()
        self.transport.close()


class CoalescingTransport:
    """A transport whose writes made in one event-loop step go out as one write (one ``send``).

    The first write of a step is kept and a flush is scheduled with ``call_soon``; later writes
    of the same step join it. ``close()`` flushes first. Everything else is the wrapped
    transport's (flow control, extra info, ``is_closing``...).
    """

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self._flush)
        else:
            self._pending.append(data)

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


JsonErrorProtocol: type[asyncio.Protocol]

try:
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
except ImportError:  # pragma: no cover - uvicorn without httptools uses h11, so do we
    JsonErrorProtocol = JsonErrorH11Protocol
else:

    class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol (its default) with JSON 400 answers and one write per response."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

        def send_400_response(self, msg: str) -> None:
            self._send_json_error(400, INVALID_REQUEST, _invalid_request_details(msg))

        def eof_received(self) -> None:
            # See JsonErrorH11Protocol.eof_received.
            cycle = self.cycle
            if cycle is not None and cycle.more_body and not cycle.response_started and not cycle.disconnected:
                self._send_json_error(400, INCOMPLETE_BODY, _incomplete_body_details(self.headers))

        def _send_json_error(self, status: int, error: str, details: list[dict[str, Any]]) -> None:
            if self.cycle is not None and not self.cycle.response_complete:
                if self.cycle.response_started:  # the app is answering: all we can do is close
                    self.transport.close()
                    return
                # The connection gets this answer; the request in flight must not answer it as well.
                self.cycle.disconnected = True
                self.cycle.message_event.set()
            body = _error_body(error, details)
            content = [STATUS_LINE[status]]
            for name, value in self.server_state.default_headers:
                content.extend([name, b": ", value, b"\r\n"])
            content.extend(
                [
                    b"content-type: application/json\r\n",
                    b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                    b"connection: close\r\n",
                    b"\r\n",
                    body,
                ]
            )
            self.transport.write(b"".join(content))
            self.transport.close()

    JsonErrorProtocol = JsonErrorHttpToolsProtocol

HTTP_PROTOCOL = "api.server:JsonErrorProtocol"
"""What to pass as uvicorn's ``http`` setting (``uvicorn.run(..., http=HTTP_PROTOCOL)``, ``--http``)."""
