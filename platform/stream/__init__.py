"""The ingestion stream: one interface, two backends.

The API publishes each chunk of a request as one stream record; the consumer
reads records per shard in sequence order and checkpoints by sequence number.
``open_stream`` opens the backend ``EVENTLAKE_STREAM`` names:

* ``base``: what both backends share: the ``Stream`` protocol, records, the
  Kinesis limits and partition-key routing, errors.
* ``local`` (the default): ``LocalStream``, an embedded durable log in one
  SQLite file, by default the ingestion job store's (``local_stream_path``).
* ``kinesis``: ``KinesisStream``, AWS Kinesis Data Streams through boto3 (or a
  moto server via ``EVENTLAKE_KINESIS_ENDPOINT_URL``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eventlake.stream.base import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    MAX_PARTITION_KEY_CHARS,
    MAX_RECORD_BYTES,
    RecordTooLargeError,
    Stream,
    StreamError,
    StreamRecord,
    check_record,
    put_batches,
    sequence_key,
    shard_index,
)
from eventlake.stream.kinesis import KinesisStream
from eventlake.stream.local import LocalStream, PreparedAppend, local_stream_path

if TYPE_CHECKING:
    from eventlake.settings import Settings

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_RECORDS",
    "MAX_PARTITION_KEY_CHARS",
    "MAX_RECORD_BYTES",
    "KinesisStream",
    "LocalStream",
    "PreparedAppend",
    "RecordTooLargeError",
    "Stream",
    "StreamError",
    "StreamRecord",
    "check_record",
    "local_stream_path",
    "open_stream",
    "put_batches",
    "sequence_key",
    "shard_index",
]


def open_stream(settings: Settings) -> Stream:
    """The stream backend ``settings.stream`` names (not yet ensured: call ``ensure()``)."""
    if settings.stream == "local":
        return LocalStream(local_stream_path(settings), settings.stream_shards)
    if settings.stream == "kinesis":
        return KinesisStream(
            settings.stream_name,
            shard_count=settings.stream_shards,
            endpoint_url=settings.kinesis_endpoint_url,
            region=settings.aws_region,
        )
    raise ValueError(f"unknown stream backend {settings.stream!r}")
