"""The Kinesis stream backend (``EVENTLAKE_STREAM=kinesis``): AWS Kinesis Data Streams through boto3.

A moto server stands in for AWS via ``EVENTLAKE_KINESIS_ENDPOINT_URL``. boto3 is imported
when a client is made, not with this module.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from eventlake.stream.base import StreamError, StreamRecord, put_batches

log = logging.getLogger("eventlake.stream")


class KinesisStream:
    """AWS Kinesis Data Streams through boto3.

    ``put_records`` sends batches within the PutRecords limits and re-sends only
    the entries Kinesis reports as failed (throttling), with exponential
    backoff, until every record has a sequence number or ``max_attempts`` calls
    in a row got nothing through. ``put_records_each`` does the same but reports
    an outcome per record instead of raising, so a caller that packs several
    requests into shared calls (the API's group writer) fails only the requests
    whose records did not get through. ``put_calls`` counts PutRecords calls.
    Kinesis gives at-least-once delivery: when it raises after a partial
    success, some records of the call may still be in the stream.
    """

    backend = "kinesis"

    def __init__(
        self,
        stream_name: str,
        *,
        shard_count: int = 2,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        max_attempts: int = 6,
        base_backoff_seconds: float = 0.1,
        client_retries: int = 4,
        client: Any = None,
    ) -> None:
        self.stream_name = stream_name
        self.shard_count = shard_count
        self.endpoint_url = endpoint_url
        self.max_attempts = max_attempts
        self.base_backoff_seconds = base_backoff_seconds
        self.put_calls = 0
        self._client = client if client is not None else self._make_client(endpoint_url, region, client_retries)

    @staticmethod
    def _make_client(endpoint_url: str | None, region: str, retries: int) -> Any:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(region_name=region)
        credentials: dict[str, str] = {}
        if endpoint_url and session.get_credentials() is None:
            # A local endpoint (moto) accepts any credentials; AWS itself never gets here.
            credentials = {"aws_access_key_id": "eventlake", "aws_secret_access_key": "eventlake"}
        # botocore retries transport errors and throttling of whole calls; put_records
        # retries the entries a successful call reports as failed.
        config = Config(retries={"total_max_attempts": retries, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        return session.client("kinesis", endpoint_url=endpoint_url, config=config, **credentials)

    def _error(self, action: str, exc: Exception) -> StreamError:
        where = self.endpoint_url or "AWS"
        return StreamError(f"kinesis stream {self.stream_name!r} at {where}: {action} failed: {exc}")

    def ensure(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client
        try:
            try:
                status = client.describe_stream_summary(StreamName=self.stream_name)["StreamDescriptionSummary"][
                    "StreamStatus"
                ]
            except client.exceptions.ResourceNotFoundException:
                try:
                    client.create_stream(StreamName=self.stream_name, ShardCount=self.shard_count)
                    log.info("stream: created kinesis stream %s with %d shards", self.stream_name, self.shard_count)
                except client.exceptions.ResourceInUseException:
                    pass  # another process created it first
                status = "CREATING"
            deadline = time.monotonic() + 120
            delay = 0.2
            while status != "ACTIVE":
                if status == "DELETING":
                    raise StreamError(f"kinesis stream {self.stream_name!r} is being deleted")
                if time.monotonic() > deadline:
                    raise StreamError(f"kinesis stream {self.stream_name!r} stayed {status} for 120 s")
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                status = client.describe_stream_summary(StreamName=self.stream_name)["StreamDescriptionSummary"][
                    "StreamStatus"
                ]
        except (BotoCoreError, ClientError) as exc:
            raise self._error("ensure", exc) from exc

    def shard_ids(self) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        ids: list[str] = []
        try:
            response = self._client.list_shards(StreamName=self.stream_name)
            while True:
                ids.extend(shard["ShardId"] for shard in response.get("Shards", []))
                token = response.get("NextToken")
                if not token:
                    break
                response = self._client.list_shards(NextToken=token)
        except (BotoCoreError, ClientError) as exc:
            raise self._error("list_shards", exc) from exc
        return sorted(ids)

    def put_records(self, records: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
        results: list[tuple[str, str] | None] = [None] * len(records)
        for batch in put_batches(records):
            self._put_batch(records, batch, results)
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def put_records_each(self, records: list[tuple[str, bytes]]) -> list[tuple[str, str] | StreamError]:
        """Publish in as few PutRecords calls as the limits allow; an outcome per record.

        Each record gets its ``(shard_id, sequence_number)``, or the ``StreamError`` of the
        call it was in when that call failed or its entries kept failing. Records of one
        failed call may still have landed (Kinesis is at least once), as with ``put_records``.
        Records over the size limit raise before anything is sent.
        """
        results: list[tuple[str, str] | StreamError | None] = [None] * len(records)
        for batch in put_batches(records):
            try:
                self._put_batch(records, batch, results)  # type: ignore[arg-type]
            except StreamError as exc:
                for i in batch:
                    if results[i] is None:
                        results[i] = exc
        return results  # type: ignore[return-value]

    def _put_batch(
        self, records: list[tuple[str, bytes]], batch: list[int], results: list[tuple[str, str] | None]
    ) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        pending = batch
        last_error = ""
        stalled = 0  # consecutive attempts in which no entry got through
        while True:
            self.put_calls += 1
            try:
                response = self._client.put_records(
                    StreamName=self.stream_name,
                    Records=[{"PartitionKey": records[i][0], "Data": records[i][1]} for i in pending],
                )
            except (BotoCoreError, ClientError) as exc:
                raise self._error("put_records", exc) from exc
            failed: list[int] = []
            for i, entry in zip(pending, response["Records"], strict=True):
                if entry.get("ErrorCode"):
                    failed.append(i)
                    last_error = f"{entry['ErrorCode']}: {entry.get('ErrorMessage', '')}"
                else:
                    results[i] = (entry["ShardId"], entry["SequenceNumber"])
            if not failed:
                return
            # A job's chunks share one partition key, hence one shard (1 MiB/s in): a big
            # request is throttled in part at every call. Keep going while entries get
            # through; give up after max_attempts calls in a row that moved nothing.
            stalled = stalled + 1 if len(failed) == len(pending) else 0
            if stalled >= self.max_attempts:
                raise StreamError(
                    f"kinesis stream {self.stream_name!r}: {len(failed)} records still failing after "
                    f"{stalled} attempts without progress ({last_error})"
                )
            log.warning(
                "stream: kinesis put_records: %d of %d entries failed (%s), retrying",
                len(failed),
                len(pending),
                last_error,
            )
            time.sleep(min(2.0, self.base_backoff_seconds * 2 ** max(0, stalled - 1)))
            pending = failed

    def read(self, shard_id: str, after_sequence: str | None, limit: int) -> list[StreamRecord]:
        from botocore.exceptions import BotoCoreError, ClientError

        if limit <= 0:
            return []
        try:
            if after_sequence is None:
                iterator = self._client.get_shard_iterator(
                    StreamName=self.stream_name, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            else:
                iterator = self._client.get_shard_iterator(
                    StreamName=self.stream_name,
                    ShardId=shard_id,
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    StartingSequenceNumber=after_sequence,
                )["ShardIterator"]
            out: list[StreamRecord] = []
            # GetRecords may return an empty page while data lies further on (sparse
            # shards); keep following the iterator while Kinesis says we are behind.
            for _ in range(16):
                response = self._client.get_records(ShardIterator=iterator, Limit=min(10_000, limit - len(out)))
                out.extend(
                    StreamRecord(shard_id, r["SequenceNumber"], bytes(r["Data"])) for r in response["Records"]
                )
                iterator = response.get("NextShardIterator")
                if len(out) >= limit or not iterator or not response.get("MillisBehindLatest"):
                    break
        except (BotoCoreError, ClientError) as exc:
            raise self._error("read", exc) from exc
        return out

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"KinesisStream({self.stream_name!r}, endpoint_url={self.endpoint_url!r})"
