"""Let a client read an early answer to a request whose body it is still sending.

The API answers some requests before it has read their body: 401, 415, 400 on an
unknown dataset, and above all 413, which refuses a declared ``Content-Length``
over the limit without reading anything and stops reading an undeclared body at
the limit. If the server then closes the connection (``Connection: close``,
HTTP/1.0) while the rest of the body is still arriving, the kernel answers the
unread bytes with a TCP reset: the client's upload fails with ``ECONNRESET`` and
a client that only reads the response after sending the whole body (Python's
``http.client``, many scripts) never sees the 413.

``DrainRequestBodyMiddleware`` keeps the early answer and avoids the reset: it
sends the whole response (headers and body, with its Content-Length, so the
client can read it at once), then reads and discards the rest of the request
body, bounded in bytes and time, and only then completes the response, so the
server closes (or reuses) a connection with nothing left unread. Nothing is
buffered: drained bytes are dropped as they arrive.
"""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Most request-body bytes drained after an early answer; a larger declared body is not drained
#: (uvicorn itself discards the rest on a keep-alive connection; a closing one may then reset).
DRAIN_MAX_BYTES = 64 * 1024 * 1024

#: Longest time spent draining one request body.
DRAIN_MAX_SECONDS = 10.0


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _tokens(value: bytes | None) -> set[bytes]:
    return {token.strip().lower() for token in (value or b"").split(b",")}


class DrainRequestBodyMiddleware:
    """Pure ASGI: after a response sent before the request body was fully read, drain that body."""

    def __init__(self, app: ASGIApp, max_bytes: int = DRAIN_MAX_BYTES, max_seconds: float = DRAIN_MAX_SECONDS) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds

    # the pure-ASGI middleware preamble, as in api.logs.RequestLogMiddleware: other scopes pass straight through
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # one pass over the request headers (this runs for every request)
        content_length = transfer_encoding = expect = None
        for key, value in scope.get("headers") or ():
            key = key.lower()
            if key == b"content-length":
                content_length = value
            elif key == b"transfer-encoding":
                transfer_encoding = value
            elif key == b"expect":
                expect = value
        chunked = transfer_encoding is not None and b"chunked" in _tokens(transfer_encoding)
        try:
            declared = int(content_length) if content_length is not None else None
        except ValueError:
            declared = None
        # HTTP/1.1: without Content-Length or chunked Transfer-Encoding there is no body to drain.
        body_done = not chunked and not declared
        expects_continue = expect is not None and b"100-continue" in _tokens(expect)
        body_requested = False
        drain = False

        async def tracking_receive() -> Message:
            nonlocal body_done, body_requested
            body_requested = True
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def draining_send(message: Message) -> None:
            nonlocal drain
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                drain = not body_done and (
                    # the client can read the whole answer without waiting for the end of the response
                    _header(headers, b"content-length") is not None
                    # the app closes the connection on purpose (e.g. 408: the client stopped sending)
                    and b"close" not in _tokens(_header(headers, b"connection"))
                    # a client waiting for "100 Continue" that never came sends no body
                    and not (expects_continue and not body_requested)
                    and (declared is None or declared <= self.max_bytes)
                )
            elif message["type"] == "http.response.body" and drain and not message.get("more_body", False):
                await send({**message, "more_body": True})  # the whole answer is on the wire now
                await self._drain(receive)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app(scope, tracking_receive, draining_send)

    async def _drain(self, receive: Receive) -> None:
        drained = 0
        with anyio.move_on_after(self.max_seconds):
            while drained <= self.max_bytes:
                message = await receive()
                if message["type"] != "http.request":
                    return  # http.disconnect
                drained += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return
