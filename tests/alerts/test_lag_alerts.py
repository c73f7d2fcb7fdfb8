"""Property 31: Critical failures raise alerts: consumer lag over the threshold.

Records published to a real local stream, exactly as the API publishes them,
and not yet committed by the consumer are lag; over
``EVENTLAKE_CONSUMER_LAG_ALERT_RECORDS`` on a shard, ``consumer_lag_alert_sensor``
alerts the channels, once per window. Once the real consumer has drained the
stream, nothing is sent.
"""

from __future__ import annotations

from dagster import Definitions, build_sensor_context

from eventlake import metrics_history
from eventlake.consumer import Consumer
from eventlake.resources.core import EventlakeResource
from eventlake.sensors.alerts import consumer_lag_alert_sensor
from eventlake.settings import Settings
from tests.consumer.conftest import events, publish

from .conftest import texts


def _tick(home):
    context = build_sensor_context(
        definitions=Definitions(sensors=[consumer_lag_alert_sensor]),
        resources={"eventlake": EventlakeResource(home=str(home))},
    )
    return consumer_lag_alert_sensor.evaluate_tick(context)


def _lagging_home(alert_home, monkeypatch) -> Settings:
    monkeypatch.setenv("EVENTLAKE_STREAM_SHARDS", "1")
    monkeypatch.setenv("EVENTLAKE_CONSUMER_LAG_ALERT_RECORDS", "2")
    settings = Settings(home=alert_home)
    for i in range(3):  # one stream record each: 3 records on the one shard
        publish(settings, "events", events(2, prefix=f"j{i}-"))
    return settings


def test_lag_over_the_threshold_is_alerted_once_per_window(alert_home, receiver, monkeypatch):
    """Property 31: 3 unconsumed stream records with a threshold of 2 alert each channel once, naming the stream,
    the shard and how far behind it is; the next tick, still lagging, is held back."""
    _lagging_home(alert_home, monkeypatch)
    _tick(alert_home)
    a, b = receiver.bodies("/a"), receiver.bodies("/b")
    assert len(a) == 1 and a == b, receiver.posts
    shown = texts(a[0])
    assert "Consumer lag over threshold: stream eventlake-ingest" in shown
    assert "consumer lag over 2 records" in shown
    assert "shardId-000000000000: 3 records behind" in shown

    _tick(alert_home)
    assert len(receiver.bodies("/a")) == 1
    # each tick also kept the lag per shard for the dashboard's history
    samples = metrics_history.read_lag_samples(Settings(home=alert_home).job_db, "eventlake-ingest", since=0)
    assert [(s["shard"], s["lag_records"]) for s in samples] == [("shardId-000000000000", 3)] * 2


def test_a_drained_stream_sends_nothing(alert_home, receiver, monkeypatch):
    """Property 31: once the consumer has committed every record, the lag is 0 and nothing is sent."""
    settings = _lagging_home(alert_home, monkeypatch)
    consumer = Consumer(settings)
    try:
        consumer.drain()
    finally:
        consumer.close()
    result = _tick(alert_home)
    assert "lag within 2 records: {'shardId-000000000000': 0}" in result.skip_message
    assert receiver.posts == []
