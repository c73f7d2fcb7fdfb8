"""The stream record format shared by the API (producer) and the consumer.

A stream record is one chunk of one ingestion request: a one-line JSON header,
a newline, then the chunk's payload bytes untouched (NDJSON or CSV with its
header row). Keeping the payload as bytes lets the consumer hand it to the Rust
parser without a Python decode.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

VERSION = 1


@dataclass(frozen=True)
class ChunkHeader:
    job_id: str
    dataset: str
    format: str  # "ndjson" | "csv"
    part: int  # 0-based chunk number within the job
    parts: int  # number of chunks of the job
    first_index: int  # index, within the request, of the chunk's first record
    record_count: int
    v: int = VERSION


def encode(header: ChunkHeader, payload: bytes) -> bytes:
    # orjson serializes the dataclass itself (fields in order), several times faster than asdict()
    return orjson.dumps(header) + b"\n" + payload


def decode(data: bytes) -> tuple[ChunkHeader, bytes]:
    head, sep, payload = data.partition(b"\n")
    if not sep:
        raise ValueError("stream record has no header line")
    fields = orjson.loads(head)
    if fields.get("v") != VERSION:
        raise ValueError(f"unsupported stream record version {fields.get('v')!r}")
    return ChunkHeader(**fields), payload
