"""Error paths that only show on the wire, against a real uvicorn server.

Client disconnects, bodies that do not match their Content-Length, and oversized
uploads: each is driven over a real TCP connection (raw sockets where no HTTP
client would send such a request).
"""

from __future__ import annotations

import http.client
import json
import logging
import socket

import httpx
import pytest
import uvicorn.importer

from api.main import create_app
from api.routers import ingest as ingest_module
from api.server import HTTP_PROTOCOL, JsonErrorH11Protocol, JsonErrorHttpToolsProtocol, JsonErrorProtocol

from .conftest import AUTH, assert_error_shape, make_settings, read_responses, serve, wait_for

EVENT = {"event_id": "e1", "user_id": "u1", "event_type": "click", "event_timestamp": "2025-01-01T00:00:00Z"}


def request_head(content_length: int | str | None = None, extra: str = "") -> bytes:
    length = f"Content-Length: {content_length}\r\n" if content_length is not None else ""
    return (
        "POST /api/v1/ingest?dataset=events HTTP/1.1\r\nHost: test\r\n"
        f"X-API-Key: {AUTH['X-API-Key']}\r\nContent-Type: application/json\r\n{length}{extra}\r\n"
    ).encode()


def ingest_counts(live) -> dict[str, int]:
    return httpx.get(f"{live.url}/api/v1/metrics").json()["api"]["requests"].get("POST /api/v1/ingest", {})


# -- a client that goes away mid-upload ------------------------------------------------------------
def test_a_client_disconnect_mid_upload_is_logged_and_counted_as_such_not_as_a_500(live_server, caplog):
    caplog.set_level(logging.INFO)
    with live_server.connect() as sock:
        sock.sendall(request_head(100_000) + b"[" + b" " * 999)  # 1000 of the 100000 declared bytes
    # the socket is closed: the app sees http.disconnect while it reads the body
    request_log = wait_for(lambda: next((r for r in caplog.records if getattr(r, "client_disconnected", 0)), None))
    assert request_log.levelno == logging.WARNING and request_log.status == 499
    assert "client_disconnected=true" in request_log.getMessage()
    api = httpx.get(f"{live_server.url}/api/v1/metrics").json()["api"]
    assert api["requests"]["POST /api/v1/ingest"] == {"499": 1}
    assert api["client_disconnects"] == 1
    # no 500, no traceback: neither the API's handler nor uvicorn logged an error
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# -- oversized bodies -------------------------------------------------------------------------------
BIG = 16 * 1024 * 1024  # far more than the socket buffers hold: the server must read it, or reset


@pytest.fixture
def small_limit_server(tmp_path):
    app = create_app(make_settings(tmp_path, max_body_bytes=1000))
    with serve(app) as live:
        yield live


def _http_client_post(live, body, headers) -> tuple[int, bytes, str | None]:
    """POST with the stdlib client, which sends the whole body before it reads the answer."""
    conn = http.client.HTTPConnection(live.host, live.port, timeout=30)
    try:
        conn.request("POST", "/api/v1/ingest?dataset=events", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("content-type")
    finally:
        conn.close()


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_the_client_reads_the_413_of_an_oversized_body_on_a_closing_connection(small_limit_server, declared):
    # Connection: close makes the server close right after its answer; unread upload bytes would
    # then make the kernel reset the connection while the client is still sending.
    body = b"[" + b" " * BIG + b"]"
    content = body if declared else (body[i : i + 65536] for i in range(0, len(body), 65536))
    headers = {**AUTH, "Content-Type": "application/json", "Connection": "close"}
    status, payload, content_type = _http_client_post(small_limit_server, content, headers)
    assert status == 413 and content_type == "application/json"
    error = json.loads(payload)
    assert set(error) == {"error", "details"} and error["error"] == "request body too large"
    assert error["details"][0]["max_body_bytes"] == 1000
    wait_for(lambda: ingest_counts(small_limit_server) == {"413": 1})


def test_after_a_413_the_connection_still_serves_the_next_request(small_limit_server):
    conn = http.client.HTTPConnection(small_limit_server.host, small_limit_server.port, timeout=30)
    headers = {**AUTH, "Content-Type": "application/json"}
    try:
        conn.request("POST", "/api/v1/ingest?dataset=events", body=b"[" + b" " * BIG + b"]", headers=headers)
        first = conn.getresponse()
        assert first.status == 413 and json.loads(first.read())["error"] == "request body too large"
        conn.request("POST", "/api/v1/ingest?dataset=events", body=json.dumps(EVENT).encode(), headers=headers)
        second = conn.getresponse()
        assert second.status == 202, second.read()
        second.read()
    finally:
        conn.close()


# -- a body that does not match its Content-Length ---------------------------------------------------
def test_a_body_shorter_than_its_content_length_gets_408_in_the_error_shape(live_server, monkeypatch):
    monkeypatch.setattr(ingest_module, "BODY_IDLE_TIMEOUT_SECONDS", 0.2)
    with live_server.connect() as sock:
        sock.sendall(request_head(100) + json.dumps(EVENT).encode()[:40])  # 40 of 100 bytes, then waits
        [response] = read_responses(sock)  # the server answers, then closes
    body = assert_error_shape(response, 408)
    assert body["details"][0]["received_bytes"] == 40 and body["details"][0]["content_length"] == 100
    assert response.headers["connection"] == "close"
    wait_for(lambda: ingest_counts(live_server) == {"408": 1})


PROTOCOLS = [JsonErrorHttpToolsProtocol, JsonErrorH11Protocol]


@pytest.fixture(params=PROTOCOLS, ids=["httptools", "h11"])
def protocol_server(request, app):
    """The app served with the API's uvicorn protocol (see api.server), for the answers uvicorn gives itself."""
    with serve(app, http=request.param) as live:
        yield live


def test_the_api_serves_with_the_json_error_protocol():
    assert uvicorn.importer.import_from_string(HTTP_PROTOCOL) is JsonErrorProtocol
    assert JsonErrorProtocol in PROTOCOLS


def test_a_body_longer_than_its_content_length_gets_400_in_the_error_shape(protocol_server):
    body = json.dumps(EVENT).encode()
    with protocol_server.connect() as sock:
        # the bytes past Content-Length are read as the next request, which is malformed
        sock.sendall(request_head(len(body)) + body + b'}, {"event_id": "e2"}]\r\n\r\n')
        responses = read_responses(sock)
    # h11 answers the announced request first (202), httptools drops it; the framing error is a JSON 400
    assert [r.status for r in responses] in ([400], [202, 400])
    error = assert_error_shape(responses[-1], 400)
    assert error["error"] == "invalid HTTP request"
    assert responses[-1].headers["connection"] == "close"


@pytest.mark.parametrize("content_length", ["abc", "-5", "10, 20"])
def test_an_invalid_content_length_gets_400_in_the_error_shape(protocol_server, content_length):
    with protocol_server.connect() as sock:
        sock.sendall(request_head(content_length) + b"{}")
        [response] = read_responses(sock)
    error = assert_error_shape(response, 400)
    assert error["error"] == "invalid HTTP request" and error["details"][0]["reason"]


def test_a_body_cut_short_by_a_half_close_gets_400_in_the_error_shape(protocol_server):
    with protocol_server.connect() as sock:
        sock.sendall(request_head(100) + json.dumps(EVENT).encode()[:40])
        sock.shutdown(socket.SHUT_WR)  # "that is all", while 60 announced bytes are missing
        [response] = read_responses(sock)
    error = assert_error_shape(response, 400)
    assert error["error"] == "incomplete request body" and error["details"][0]["content_length"] == "100"
    # the app saw the client go away mid-body: a client disconnect, not a 500
    wait_for(lambda: ingest_counts(protocol_server) == {"499": 1})
