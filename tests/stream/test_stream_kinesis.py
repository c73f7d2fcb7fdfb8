"""KinesisStream against a real moto_server process speaking the Kinesis HTTP API."""

from __future__ import annotations

import uuid
from collections import defaultdict

import pytest

from eventlake.stream import (
    MAX_RECORD_BYTES,
    KinesisStream,
    RecordTooLargeError,
    StreamError,
    open_stream,
    sequence_key,
)
from eventlake.settings import Settings
from tests.conftest import free_port
from tests.stream.conftest import read_all


pytestmark = pytest.mark.usefixtures("fake_aws_credentials")


def kinesis_settings(tmp_path, moto_url, shards=2) -> Settings:
    return Settings(
        home=tmp_path,
        stream="kinesis",
        stream_name=f"eventlake-test-{uuid.uuid4().hex[:8]}",
        stream_shards=shards,
        kinesis_endpoint_url=moto_url,
    )


@pytest.fixture
def stream(tmp_path, moto_url):
    s = open_stream(kinesis_settings(tmp_path, moto_url))
    s.ensure()
    yield s
    s.close()


def test_open_stream_picks_kinesis_and_ensure_is_idempotent(tmp_path, moto_url):
    settings = kinesis_settings(tmp_path, moto_url, shards=3)
    s = open_stream(settings)
    try:
        assert isinstance(s, KinesisStream)
        s.ensure()
        s.ensure()  # already there: no error, no second stream
        assert len(s.shard_ids()) == 3
        # a second producer process opening the same stream sees the same shards
        other = open_stream(settings)
        other.ensure()
        assert other.shard_ids() == s.shard_ids()
        other.close()
    finally:
        s.close()


# Property 2: Ingested data appears in Kinesis
def test_records_round_trip_through_kinesis_in_key_order(stream):
    # 1,200 records: three PutRecords calls (500 + 500 + 200)
    records = [(f"job-{i % 7}", f"{i}".encode()) for i in range(1200)]
    positions = stream.put_records(records)
    assert len(positions) == len(records)

    stored = {}
    for shard_id in stream.shard_ids():
        shard_records = read_all(stream, shard_id, page=200)
        seqs = [sequence_key(r.sequence_number) for r in shard_records]
        assert seqs == sorted(seqs)
        stored.update({(r.shard_id, r.sequence_number): r.data for r in shard_records})
    assert len(stored) == len(records)
    per_key = defaultdict(list)
    for (key, data), position in zip(records, positions, strict=True):
        assert stored[position] == data
        per_key[key].append(position)
    for key_positions in per_key.values():
        assert len({shard for shard, _ in key_positions}) == 1
        assert [sequence_key(s) for _, s in key_positions] == sorted(sequence_key(s) for _, s in key_positions)


def test_read_after_sequence_number(stream):
    positions = stream.put_records([("one-key", f"r{i}".encode()) for i in range(6)])
    shard = positions[0][0]
    assert [r.data for r in stream.read(shard, positions[1][1], 3)] == [b"r2", b"r3", b"r4"]
    assert [r.data for r in stream.read(shard, None, 2)] == [b"r0", b"r1"]
    assert stream.read(shard, positions[-1][1], 10) == []


def test_batches_split_at_five_mib(stream):
    # six records of ~1 MiB cannot share one PutRecords call (5 MiB limit)
    records = [(f"k{i}", bytes([65 + i]) * (MAX_RECORD_BYTES - 16)) for i in range(6)]
    positions = stream.put_records(records)
    stored = {(r.shard_id, r.sequence_number): r.data for sid in stream.shard_ids() for r in read_all(stream, sid, 3)}
    assert [stored[p] for p in positions] == [data for _, data in records]


def test_a_record_over_one_mib_is_refused_before_sending(stream):
    with pytest.raises(RecordTooLargeError):
        stream.put_records([("k", b"x" * MAX_RECORD_BYTES)])
    assert all(stream.read(sid, None, 10) == [] for sid in stream.shard_ids())


def test_failed_entries_are_resent_alone(stream):
    """Kinesis answers throttled entries with an ErrorCode; only those are sent again.

    moto never throttles, so a botocore hook marks entry 1 of the first real
    response as throttled (Kinesis has in fact stored it, as it may when a
    response is lost: at-least-once).
    """
    sent_sizes = []

    def count_entries(params, **_):
        sent_sizes.append(len(params["Records"]))

    def throttle_once(parsed, **_):
        if len(sent_sizes) == 1:
            entry = parsed["Records"][1]
            entry.clear()
            entry.update(ErrorCode="ProvisionedThroughputExceededException", ErrorMessage="Rate exceeded for shard")

    events = stream._client.meta.events
    events.register("provide-client-params.kinesis.PutRecords", count_entries)
    events.register("after-call.kinesis.PutRecords", throttle_once)
    records = [(f"k{i}", f"v{i}".encode()) for i in range(4)]
    positions = stream.put_records(records)
    assert sent_sizes == [4, 1]
    stored = {(r.shard_id, r.sequence_number): r.data for sid in stream.shard_ids() for r in read_all(stream, sid, page=200)}
    assert [stored[p] for p in positions] == [data for _, data in records]


def test_an_unreachable_endpoint_is_a_stream_error():
    dead = f"http://127.0.0.1:{free_port()}"
    s = KinesisStream("nowhere", endpoint_url=dead, client_retries=1)  # no botocore retries: fail fast
    try:
        with pytest.raises(StreamError, match="nowhere"):
            s.put_records([("k", b"v")])
        with pytest.raises(StreamError):
            s.ensure()
    finally:
        s.close()


def test_put_gives_up_when_nothing_gets_through(moto_url):
    s = KinesisStream(f"eventlake-test-{uuid.uuid4().hex[:8]}", endpoint_url=moto_url, max_attempts=3, base_backoff_seconds=0.01)
    s.ensure()
    sent_sizes = []
    s._client.meta.events.register(
        "provide-client-params.kinesis.PutRecords", lambda params, **_: sent_sizes.append(len(params["Records"]))
    )

    def throttle_all(parsed, **_):
        for entry in parsed["Records"]:
            entry.clear()
            entry.update(ErrorCode="ProvisionedThroughputExceededException", ErrorMessage="Rate exceeded")

    s._client.meta.events.register("after-call.kinesis.PutRecords", throttle_all)
    try:
        with pytest.raises(StreamError, match="3 attempts without progress"):
            s.put_records([("a", b"1"), ("b", b"2")])
        assert sent_sizes == [2, 2, 2]
    finally:
        s.close()


def test_put_records_each_packs_records_into_shared_calls(stream):
    # what the API's group writer does with many requests' records: as few PutRecords calls as
    # the limits allow (500 records, 5 MiB), an outcome per record
    records = [(f"job-{i % 11}", f"r{i}".encode()) for i in range(1200)]
    calls = stream.put_calls
    outcomes = stream.put_records_each(records)
    assert stream.put_calls - calls == 3
    assert all(isinstance(o, tuple) for o in outcomes)
    stored = {(r.shard_id, r.sequence_number): r.data for sid in stream.shard_ids() for r in read_all(stream, sid, page=200)}
    assert [stored[o] for o in outcomes] == [data for _, data in records]


def test_put_records_each_reports_failures_per_record_instead_of_raising(tmp_path, moto_url):
    settings = kinesis_settings(tmp_path, moto_url)
    s = open_stream(settings)
    s.ensure()
    try:
        s._client.delete_stream(StreamName=settings.stream_name, EnforceConsumerDeletion=True)
        outcomes = s.put_records_each([(f"k{i}", b"v") for i in range(501)])  # two calls, both fail
        assert len(outcomes) == 501 and all(isinstance(o, StreamError) for o in outcomes)
        assert settings.stream_name in str(outcomes[0])
        with pytest.raises(RecordTooLargeError):  # a record over the limit is refused before any call
            s.put_records_each([("k", b"v"), ("k", b"x" * MAX_RECORD_BYTES)])
    finally:
        s.close()
