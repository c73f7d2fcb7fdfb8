"""The stream's interface, shared by both backends: records, limits, errors, routing.

Both backends route a partition key to a shard the way Kinesis does (MD5 of the key as a
128-bit integer, shards own equal slices of that range), so all records with the same key
(a job's chunks) land in one shard, in order; both enforce the Kinesis record and batch limits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

MAX_RECORD_BYTES = 1024 * 1024
"""Largest record (data + partition key), the Kinesis limit; both backends enforce it."""
MAX_BATCH_RECORDS = 500
"""Kinesis PutRecords limit on records per call."""
MAX_BATCH_BYTES = 5 * 1024 * 1024
"""Kinesis PutRecords limit on bytes (data + partition keys) per call."""
MAX_PARTITION_KEY_CHARS = 256


class StreamError(Exception):
    """The stream backend failed (unreachable, throttled past all retries, misconfigured)."""


class RecordTooLargeError(ValueError):
    """A record is over ``MAX_RECORD_BYTES``; the producer must chunk below it."""


@dataclass(frozen=True)
class StreamRecord:
    shard_id: str
    sequence_number: str
    data: bytes


@runtime_checkable
class Stream(Protocol):
    def ensure(self) -> None:
        """Create the stream if it is missing (idempotent)."""

    def shard_ids(self) -> list[str]: ...

    def put_records(self, records: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
        """Publish ``(partition_key, data)`` pairs; return ``(shard_id, sequence_number)`` per record.

        Every record is durable when this returns; otherwise it raises.
        """

    def read(self, shard_id: str, after_sequence: str | None, limit: int) -> list[StreamRecord]:
        """Up to ``limit`` records of one shard after ``after_sequence`` (None = from the start), in order."""

    def close(self) -> None: ...


def sequence_key(seq: str) -> int:
    """Sort key of a sequence number: both backends use decimal strings that compare as integers."""
    return int(seq)


def shard_index(partition_key: str, shard_count: int) -> int:
    """Kinesis routing: the MD5 of the key as a 128-bit integer, shards own equal slices."""
    digest = int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")
    return (digest * shard_count) >> 128


def check_record(partition_key: str, data: bytes) -> int:
    """Validate one record against the Kinesis limits; return its billed size in bytes."""
    if not 1 <= len(partition_key) <= MAX_PARTITION_KEY_CHARS:
        raise ValueError(f"partition key must be 1..{MAX_PARTITION_KEY_CHARS} characters, got {len(partition_key)}")
    size = len(data) + len(partition_key.encode("utf-8"))
    if size > MAX_RECORD_BYTES:
        raise RecordTooLargeError(f"stream record of {size} bytes is over the {MAX_RECORD_BYTES}-byte limit")
    return size


def put_batches(
    records: list[tuple[str, bytes]],
    max_records: int = MAX_BATCH_RECORDS,
    max_bytes: int = MAX_BATCH_BYTES,
) -> list[list[int]]:
    """Split record indexes into consecutive PutRecords batches within the count and byte limits."""
    batches: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for i, (key, data) in enumerate(records):
        size = check_record(key, data)
        if current and (len(current) >= max_records or current_bytes + size > max_bytes):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(i)
        current_bytes += size
    if current:
        batches.append(current)
    return batches
