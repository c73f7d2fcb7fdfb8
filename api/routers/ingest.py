"""POST /api/v1/ingest: accept a batch of records, publish it to the stream, return a job id.

The request is acknowledged (202) only once its job and every chunk are durable;
the consumer does the rest. The endpoint checks and splits the body (in the
event loop for bodies up to ``INLINE_SPLIT_BYTES``: the Rust splitter takes
microseconds there, less than a thread hop; in the threadpool above), then hands
the job and its chunks to the process's group writer (``api.group_commit``),
which writes concurrent requests together: one transaction, one fsync (or one
PutRecords call) per group, and no thread-pool hop per request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import uuid
from typing import Any

import data_processor_rs
from eventlake import envelope
from eventlake.contracts import DATASETS
from eventlake.state.ingestion_jobs import NewJob
from eventlake.stream import MAX_RECORD_BYTES
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from api.dependencies import API_KEY_SCHEME, api_key_header, check_api_key
from api.errors import ApiError, ErrorResponse
from api.schemas import IngestAccepted

log = logging.getLogger("eventlake.api")

# No FastAPI dependencies or declared parameters on this route, on purpose: each costs a resolution
# and validation step per request (a thread hop for a plain ``def`` dependency), which was most of a
# single-event request's time. The key is checked by the endpoint itself (the same check as
# ``require_api_key``), first; the ``dataset`` query parameter is read from the query string; both
# are declared in the OpenAPI document below.
router = APIRouter(tags=["ingest"])

#: Accepted media types and the format name data_processor_rs knows them by.
CONTENT_TYPES: dict[str, str] = {
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "text/csv": "csv",
}

_REQUEST_BODY_DOC: dict[str, Any] = {
    "security": [{API_KEY_SCHEME: []}],
    "parameters": [
        {
            "name": "dataset",
            "in": "query",
            "required": False,
            "description": "Target dataset (default `events`).",
            "schema": {"type": "string", "enum": list(DATASETS), "default": "events"},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "object"},
                        {"type": "array", "items": {"type": "object"}, "minItems": 1},
                    ]
                },
                "example": [
                    {
                        "event_id": "e-1",
                        "user_id": "u-1",
                        "event_type": "click",
                        "event_timestamp": "2025-01-01T12:00:00Z",
                    }
                ],
            },
            "application/x-ndjson": {"schema": {"type": "string", "description": "one JSON object per line"}},
            "text/csv": {"schema": {"type": "string", "description": "CSV with a header row"}},
        },
    }
}


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


#: Seconds the API waits for the next piece of a request body before it answers 408. A client
#: that declares a Content-Length and then sends fewer bytes (and keeps the connection open)
#: would otherwise hold the request open forever: uvicorn has no body read timeout.
BODY_IDLE_TIMEOUT_SECONDS = 30.0

#: Bodies up to this size are split in the event loop; larger ones in the threadpool.
INLINE_SPLIT_BYTES = 64 * 1024


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over ``limit`` without buffering more than ``limit``.

    A body that stalls for ``BODY_IDLE_TIMEOUT_SECONDS`` is answered 408 (and the connection closed:
    the server would still expect the missing bytes). A client that goes away mid-upload raises
    ``ClientDisconnect``, which the request log middleware records as a client disconnect, not a 500.
    """
    declared: int | None = None
    header = request.headers.get("content-length")
    if header is not None:
        try:
            declared = int(header)
        except ValueError:
            raise ApiError(400, "invalid Content-Length header", [{"content_length": header}]) from None
        if declared > limit:
            raise ApiError(413, "request body too large", [{"content_length": declared, "max_body_bytes": limit}])
    body = bytearray()
    receive = request.receive
    timeout = BODY_IDLE_TIMEOUT_SECONDS
    while True:
        # asyncio.timeout, not anyio.move_on_after: the same idle limit at a fraction of the cost
        # (this runs for every request)
        try:
            async with asyncio.timeout(timeout):
                message = await receive()
        except TimeoutError:
            message = None
        if message is None:
            raise ApiError(
                408,
                "request body timeout",
                [
                    {
                        "received_bytes": len(body),
                        "content_length": declared,
                        "idle_timeout_seconds": timeout,
                        "message": "no more body bytes arrived; the body is shorter than its Content-Length or stalled",
                    }
                ],
                headers={"Connection": "close"},
            )
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        piece = message.get("body", b"")
        if len(body) + len(piece) > limit:
            # A client that sends more than it declared (or declares nothing) stops here.
            raise ApiError(413, "request body too large", [{"max_body_bytes": limit, "message": "the body grew past the limit while it was read"}])
        if not message.get("more_body", False):
            return piece if not body else bytes(body + piece)
        body += piece


_JSON_WS_CHARS = " \t\r\n"
_JSON_WS = re.compile(rb"[ \t\r\n]*")


def is_json_array(body: bytes) -> bool:
    first = _JSON_WS.match(body).end()
    return body[first : first + 1] == b"["


def second_json_value(body: bytes) -> dict[str, Any]:
    """Where a second top-level value starts in a JSON body (``line``, byte ``offset``), as an error detail.

    The splitter reads a non-array JSON body the way it reads NDJSON, so ``{"a":1} {"b":2}`` counts
    two records; ``application/json`` allows exactly one top-level value. (Arrays followed by more
    data are refused by the splitter itself.)
    """
    text = body.decode("utf-8", errors="surrogateescape")
    start = len(text) - len(text.lstrip(_JSON_WS_CHARS))
    try:
        _, end = json.JSONDecoder().raw_decode(text, start)
    except ValueError:  # the splitter accepted the first record, so this should not happen
        end = start
    second = len(text) - len(text[end:].lstrip(_JSON_WS_CHARS))
    return {
        "record_index": 1,
        "line": text.count("\n", 0, second) + 1,
        "offset": len(text[:second].encode("utf-8", errors="surrogateescape")),
        "message": "a second top-level JSON value: application/json holds one object or one array of objects "
        "(send several records as an array, or as application/x-ndjson)",
    }


_RANDOM_POOL = bytearray()


def _random_bytes(n: int) -> bytes:
    """``n`` bytes from ``os.urandom``, read 4 KiB at a time (a system call per 400 ids, not per id).

    Called from the event loop thread only (the ingest endpoint), so the pool needs no lock.
    """
    global _RANDOM_POOL
    if len(_RANDOM_POOL) < n:
        _RANDOM_POOL = bytearray(os.urandom(4096))
    out = bytes(_RANDOM_POOL[-n:])
    del _RANDOM_POOL[-n:]
    return out


def _empty_random_pool() -> None:
    _RANDOM_POOL.clear()


os.register_at_fork(after_in_child=_empty_random_pool)


def new_job_id() -> str:
    """A fresh job id: a UUIDv7 (RFC 9562), 48 bits of Unix milliseconds then 74 random bits.

    Time-ordered, so a group's new job rows land at the end of the job table's primary key
    index instead of on random pages: with random (v4) ids every job rewrote a 4 KiB index page
    into the write-ahead log (about 15 KB written per single-event request). The random bits
    (from ``os.urandom``) keep ids unguessable: the status endpoint answers whoever knows one.
    A forked child starts with an empty pool (``os.register_at_fork``), so two processes never
    hand out the same random bits.
    """
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(_random_bytes(10), "big")
    value = (
        (millis & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76  # version 7
        | (rand >> 68 & 0xFFF) << 64  # rand_a: 12 bits
        | 0b10 << 62  # the RFC 9562 variant
        | rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b: 62 bits
    )
    return str(uuid.UUID(int=value))


def error_details(exc: Exception) -> list[dict[str, Any]]:
    """The splitter's error details in the API's numbering (see ``api.main.DESCRIPTION``).

    The splitter names a record's 0-based position ``record``; the API calls it ``record_index``,
    as ``raw.rejected_records`` and ``GET /jobs/{job_id}/rejected`` do, and puts it first. ``line``
    (1-based) and ``offset`` (0-based bytes) are positions in the body text and stay as they are.
    """
    out = []
    for detail in getattr(exc, "details", None) or [{"message": str(exc)}]:
        detail = dict(detail)
        if "record" in detail:
            detail = {"record_index": detail.pop("record"), **detail}
        out.append(detail)
    return out


def split(body: bytes, fmt: str, chunk_bytes: int) -> list[tuple[bytes, int]]:
    try:
        return data_processor_rs.split_payload(body, fmt, chunk_bytes)
    except data_processor_rs.ParseError as exc:
        raise ApiError(400, "malformed body", error_details(exc)) from exc
    except data_processor_rs.DataProcessorError as exc:
        raise ApiError(400, "invalid body", error_details(exc)) from exc


@router.post(
    "/ingest",
    status_code=202,
    summary="Ingest a batch of records",
    response_model=IngestAccepted,
    responses={
        400: {
            "model": ErrorResponse,
            "description": "Malformed or empty body, unknown dataset. Each malformed record is one detail: "
            "`record_index` (0-based position of the record in the request), `line` (1-based line of the body) "
            "and `offset` (0-based byte offset in the body) where the fault is, and `message`.",
        },
        401: {"model": ErrorResponse, "description": "Missing or wrong X-API-Key."},
        408: {"model": ErrorResponse, "description": "The body stopped arriving (shorter than its Content-Length)."},
        413: {"model": ErrorResponse, "description": "Body over EVENTLAKE_MAX_BODY_BYTES, or one record over 1 MiB."},
        415: {"model": ErrorResponse, "description": "Content type other than JSON, NDJSON or CSV."},
        503: {"model": ErrorResponse, "description": "The job store or the stream is unavailable; nothing was accepted."},
    },
    openapi_extra=_REQUEST_BODY_DOC,
)
async def ingest(request: Request) -> Any:
    """Takes one JSON object, a JSON array of objects, NDJSON, or CSV with a header row.

    The body is checked for well-formedness (not against the dataset schema: invalid
    records are rejected later, per record, into ``raw.rejected_records``), cut into
    chunks and published to the stream under a new job id.
    """
    app_state = request.app.state
    settings = app_state.settings
    dataset = request.query_params.get("dataset", "events")
    check_api_key(request.headers.get(api_key_header.model.name), settings)
    resources = app_state.resources
    # the writer opens the job store and the stream: 503 naming the one that is down, before reading
    writer = resources.opened_ingest_writer() or await run_in_threadpool(resources.ingest_writer)
    if dataset not in DATASETS:
        raise ApiError(400, "unknown dataset", [{"dataset": dataset, "allowed": list(DATASETS)}])
    content_type = media_type(request.headers.get("content-type"))
    fmt = CONTENT_TYPES.get(content_type)
    if fmt is None:
        raise ApiError(
            415,
            "unsupported content type",
            [{"content_type": content_type or None, "allowed": list(CONTENT_TYPES)}],
        )
    body = await read_body(request, settings.max_body_bytes)
    if not body or body.isspace():
        raise ApiError(400, "empty body", [{"message": "the request body holds no records"}])

    inline = len(body) <= INLINE_SPLIT_BYTES
    chunks = split(body, fmt, settings.chunk_bytes) if inline else await run_in_threadpool(split, body, fmt, settings.chunk_bytes)
    record_count = sum(count for _, count in chunks)
    if fmt == "json" and record_count > 1 and not is_json_array(body):
        detail = second_json_value(body) if inline else await run_in_threadpool(second_json_value, body)
        raise ApiError(400, "malformed body", [detail])
    if record_count == 0:
        raise ApiError(400, "empty body", [{"message": "the request body holds no records"}])

    job_id = new_job_id()
    request.state.job_id = job_id
    chunk_format = "csv" if fmt == "csv" else "ndjson"
    records: list[tuple[str, bytes]] = []
    first_index = 0
    for part, (chunk, count) in enumerate(chunks):
        header = envelope.ChunkHeader(
            job_id=job_id,
            dataset=dataset,
            format=chunk_format,
            part=part,
            parts=len(chunks),
            first_index=first_index,
            record_count=count,
        )
        data = envelope.encode(header, chunk)
        if len(data) + len(job_id) > MAX_RECORD_BYTES:
            raise ApiError(
                413,
                "record too large",
                [
                    {
                        "record_index": first_index,
                        "bytes": len(chunk),
                        "max_record_bytes": MAX_RECORD_BYTES,
                        "message": "a single record must fit in one stream record",
                    }
                ],
            )
        records.append((job_id, data))
        first_index += count

    # Returns once the job and its records are durable (a 503 otherwise; see api.group_commit).
    await writer.submit(NewJob(job_id, dataset, fmt, record_count, len(chunks)), records)

    app_state.counters.count_ingest(record_count, len(body))
    # The request log line (api.logs) carries these, with the job id.
    request.state.log_extra = {"dataset": dataset, "format": fmt, "records": record_count, "parts": len(chunks), "bytes": len(body)}
    return JSONResponse({"job_id": job_id, "status": "PENDING", "record_count": record_count}, status_code=202)
