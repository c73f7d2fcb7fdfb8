"""The Dagster raw assets drain the stream through the consumer's one entry point."""

from __future__ import annotations

from dagster import DagsterInstance

from eventlake.consumer import Consumer
from eventlake.definitions import build_definitions
from eventlake.leases import ShardLeases
from eventlake.state.ingestion_jobs import IngestionJobStore, JobStatus

from .conftest import events, publish, rows


def _materializations(result, asset: str) -> list:
    return [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.is_step_materialization and e.event_specific_data.materialization.asset_key.path[-1] == asset
    ]


def test_raw_ingest_job_drains_the_stream_exactly_once(settings):
    ev = publish(settings, "events", events(40) + [{"event_id": "bad"}], parts=2)
    users = publish(settings, "users", [{"user_id": "u1", "user_name": "a", "email": "a@example.com",
                                         "updated_at": "2026-01-01T00:00:00Z"}])
    defs = build_definitions("LOCAL", home=str(settings.home))
    instance = DagsterInstance.ephemeral()
    result = defs.resolve_job_def("raw_ingest_job").execute_in_process(instance=instance)
    assert result.success
    store = IngestionJobStore(settings.job_db)
    assert store.get(ev).status is JobStatus.COMPLETED and store.get(users).status is JobStatus.COMPLETED
    assert (store.get(ev).accepted_count, store.get(ev).rejected_count) == (40, 1)
    assert len(rows(settings, "events")) == 40 and len(rows(settings, "users")) == 1
    (mat,) = _materializations(result, "raw_events")
    assert mat.metadata["dagster/row_count"].value == 40
    assert mat.metadata["accepted"].value == 40

    # a second run finds nothing new and appends nothing
    again = defs.resolve_job_def("raw_ingest_job").execute_in_process(instance=instance)
    assert again.success
    assert len(rows(settings, "events")) == 40


def test_raw_assets_leave_the_work_to_a_live_consumer(settings):
    publish(settings, "events", events(10))
    live = ShardLeases(Consumer(settings).jobs.engine, f"stream:{settings.stream_name}", 30)
    live.balance(["shard-0", "shard-1"])  # a running `eventlake consume` holds the shards
    defs = build_definitions("LOCAL", home=str(settings.home))
    result = defs.resolve_job_def("raw_ingest_job").execute_in_process(instance=DagsterInstance.ephemeral())
    assert result.success
    assert rows(settings, "events") == [], "the materialization must not drain under a live consumer"
    live.release_all()
