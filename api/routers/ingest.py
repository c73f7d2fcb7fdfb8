"""POST /api/v1/ingest: accept a batch of records, publish it to the stream, return a job id.

The request is acknowledged (202) only after the stream put returned, i.e. once
every chunk is durable; the consumer does the rest. Parsing, the job store and
the stream put are blocking calls and run in the threadpool.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

import data_processor_rs
from eventlake import envelope
from eventlake.contracts import DATASETS
from eventlake.resources.stream import MAX_RECORD_BYTES
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from api.dependencies import CountersDep, JobStoreDep, SettingsDep, StreamDep, require_api_key
from api.errors import ApiError, ComponentUnavailable, ErrorResponse
from api.schemas import IngestAccepted

log = logging.getLogger("eventlake.api")

router = APIRouter(tags=["ingest"], dependencies=[Depends(require_api_key)])

#: Accepted media types and the format name data_processor_rs knows them by.
CONTENT_TYPES: dict[str, str] = {
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "text/csv": "csv",
}

_REQUEST_BODY_DOC: dict[str, Any] = {
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


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over ``limit`` without buffering more than ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, "invalid Content-Length header", [{"content_length": declared}]) from None
        if size > limit:
            raise ApiError(413, "request body too large", [{"content_length": size, "max_body_bytes": limit}])
    body = bytearray()
    async for piece in request.stream():
        if len(body) + len(piece) > limit:
            # A client that sends more than it declared (or declares nothing) stops here.
            raise ApiError(413, "request body too large", [{"max_body_bytes": limit, "message": "the body grew past the limit while it was read"}])
        body += piece
    return bytes(body)


def split(body: bytes, fmt: str, chunk_bytes: int) -> list[tuple[bytes, int]]:
    try:
        return data_processor_rs.split_payload(body, fmt, chunk_bytes)
    except data_processor_rs.ParseError as exc:
        raise ApiError(400, "malformed body", list(getattr(exc, "details", None) or [{"message": str(exc)}])) from exc
    except data_processor_rs.DataProcessorError as exc:
        raise ApiError(400, "invalid body", list(getattr(exc, "details", None) or [{"message": str(exc)}])) from exc


@router.post(
    "/ingest",
    status_code=202,
    summary="Ingest a batch of records",
    response_model=IngestAccepted,
    responses={
        400: {"model": ErrorResponse, "description": "Malformed or empty body, unknown dataset."},
        401: {"model": ErrorResponse, "description": "Missing or wrong X-API-Key."},
        413: {"model": ErrorResponse, "description": "Body over EVENTLAKE_MAX_BODY_BYTES, or one record over 1 MiB."},
        415: {"model": ErrorResponse, "description": "Content type other than JSON, NDJSON or CSV."},
        503: {"model": ErrorResponse, "description": "The job store or the stream is unavailable; nothing was accepted."},
    },
    openapi_extra=_REQUEST_BODY_DOC,
)
async def ingest(
    request: Request,
    dataset: Annotated[str, Query(description="Target dataset.", json_schema_extra={"enum": list(DATASETS)})],
    settings: SettingsDep,
    jobs: JobStoreDep,
    stream: StreamDep,
    counters: CountersDep,
) -> IngestAccepted:
    """Takes one JSON object, a JSON array of objects, NDJSON, or CSV with a header row.

    The body is checked for well-formedness (not against the dataset schema: invalid
    records are rejected later, per record, into ``raw.rejected_records``), cut into
    chunks and published to the stream under a new job id.
    """
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

    chunks = await run_in_threadpool(split, body, fmt, settings.chunk_bytes)
    record_count = sum(count for _, count in chunks)
    if record_count == 0:
        raise ApiError(400, "empty body", [{"message": "the request body holds no records"}])

    job_id = str(uuid.uuid4())
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

    try:
        await run_in_threadpool(jobs.create_job, job_id, dataset, fmt, record_count, len(chunks))
    except Exception as exc:
        raise ComponentUnavailable("job_store", f"cannot create the job: {exc}") from exc

    try:
        await run_in_threadpool(stream.put_records, records)
    except Exception as exc:
        reason = f"stream publish failed: {exc}"
        try:
            await run_in_threadpool(jobs.mark_failed, job_id, reason)
        except Exception as mark_exc:  # the 503 below is what matters; say why the job stays PENDING
            log.error("component=job_store cannot mark job %s FAILED: %s", job_id, mark_exc, extra={"component": "job_store"})
        raise ComponentUnavailable("stream", str(exc), [{"job_id": job_id, "status": "FAILED"}]) from exc

    counters.count_ingest(record_count, len(body))
    log.info(
        "ingest accepted job_id=%s dataset=%s format=%s records=%d parts=%d bytes=%d",
        job_id,
        dataset,
        fmt,
        record_count,
        len(chunks),
        len(body),
        extra={"job_id": job_id, "dataset": dataset, "records": record_count, "parts": len(chunks)},
    )
    return IngestAccepted(job_id=job_id, record_count=record_count)
