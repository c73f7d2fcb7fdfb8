"""Runs that coalesce: the snapshot sensor, the run queue's transform lane, raw assets reported.

The sensor runs against real Iceberg tables (a SqlCatalog in a tmp EVENTLAKE_HOME,
written through eventlake's own append path) and a real Dagster instance whose
dagster.yaml is the one the demo writes. The runs the sensor asks for are created
in the instance's run storage, QUEUED as the QueuedRunCoordinator leaves them, and
move on through the events the daemon and the run worker report. The last test
runs a real dagster-webserver and dagster-daemon on that config.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    RunsFilter,
    SkipReason,
    build_sensor_context,
    job,
    op,
)
from dagster._core.test_utils import in_process_test_workspace
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from eventlake import lake, runs
from eventlake.demo import write_dagster_yaml
from eventlake.resources.core import EventlakeResource
from eventlake.sensors import snapshots
from eventlake.sensors.snapshots import iceberg_snapshot_sensor

START = datetime(2026, 11, 24, tzinfo=UTC)
CONSUMER_PROPS = {"eventlake.checkpoint.events": '{"shard-0": "42"}'}


# -- real peers ---------------------------------------------------------------------------
@op
def noop() -> None:
    pass


@job(name=runs.TRANSFORM_JOB, tags=dict(runs.TRANSFORM_TAGS))
def transform_job():
    """Stands in for eventlake's transform_job (same name, same lane tag; no dbt to parse)."""
    noop()


defs = Definitions(jobs=[transform_job])


@pytest.fixture
def instance(tmp_path):
    home = tmp_path / "dagster"
    write_dagster_yaml(home)
    with DagsterInstance.from_config(str(home)) as inst:
        yield inst


@pytest.fixture
def workspace(instance):
    """A workspace serving this module's definitions in process: what the daemon submits runs with."""
    origin = LoadableTargetOrigin(python_file=__file__, attribute="defs", working_directory=str(Path(__file__).parent))
    with in_process_test_workspace(instance, origin) as context:
        yield context


def submit(instance, workspace, tags, **kwargs):
    """Create a transform_job run and submit it to the instance's run coordinator, as the sensor
    daemon and the webserver do: the QueuedRunCoordinator leaves it QUEUED."""
    (location,) = workspace.code_location_names
    remote = workspace.get_code_location(location).get_repository("__repository__").get_full_job(runs.TRANSFORM_JOB)
    run = instance.create_run_for_job(
        transform_job,
        status=DagsterRunStatus.NOT_STARTED,
        tags={**transform_job.run_tags, **tags},
        remote_job_origin=remote.get_remote_origin(),
        job_code_origin=remote.get_python_origin(),
        **kwargs,
    )
    submitted = instance.submit_run(run.run_id, workspace)
    assert submitted.status == DagsterRunStatus.QUEUED
    return submitted


@pytest.fixture
def eventlake(tmp_path):
    return EventlakeResource(home=str(tmp_path / "eventlake"))


@pytest.fixture
def tables(eventlake):
    return eventlake.tables()


def rows(dataset: str, n: int, tag: str) -> pa.Table:
    ts = [START + timedelta(minutes=i) for i in range(n)]
    lineage = {
        "job_id": [f"job-{tag}"] * n,
        "ingested_at": pa.array([START] * n, pa.timestamp("us", tz="UTC")),
    }
    if dataset == "events":
        return pa.table(
            {
                "event_id": [f"{tag}-{i}" for i in range(n)],
                "user_id": [f"u{i % 5}" for i in range(n)],
                "event_type": ["view"] * n,
                "event_timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
                "event_value": pa.array([1.5] * n, pa.float64()),
                "product_id": [None] * n,
                "properties": [None] * n,
                "event_date": pa.array([t.date() for t in ts], pa.date32()),
                "event_hour": pa.array([t.hour for t in ts], pa.int32()),
                **lineage,
            }
        )
    if dataset == "users":
        return pa.table(
            {
                "user_id": [f"{tag}-{i}" for i in range(n)],
                "user_name": [f"name {i}" for i in range(n)],
                "email": [None] * n,
                "updated_at": pa.array(ts, pa.timestamp("us", tz="UTC")),
                **lineage,
            }
        )
    return pa.table(
        {
            "product_id": [f"{tag}-{i}" for i in range(n)],
            "product_name": [f"product {i}" for i in range(n)],
            "category": ["c"] * n,
            "price": pa.array([9.5] * n, pa.float64()),
            **lineage,
        }
    )


def land(tables, dataset: str, n: int, tag: str):
    """A consumer commit: n rows appended in one snapshot carrying the consumer's properties."""
    return lake.append_arrow(tables[dataset], rows(dataset, n, tag), snapshot_properties=CONSUMER_PROPS)


def compact(table, operation: str):
    """Rewrite every data file into one, same rows, the consumer's summary properties carried
    forward. ``replace``: eventlake's own maintenance compaction; ``overwrite``: the same
    rewrite committed as pyiceberg's plain overwrite, as another writer may do it."""
    if operation == "replace":
        from eventlake import maintenance

        result = maintenance.compact(table, target_file_bytes=1 << 27, small_file_bytes=1 << 26, min_input_files=2)
        assert result.snapshot_id is not None, result
        table.refresh()
        return table.current_snapshot()

    table.refresh()
    old = [task.file for task in table.scan().plan_files()]
    data = table.scan().to_arrow()
    files, _ = lake.write_data_files(table, data)
    carried = {
        k: v for k, v in table.current_snapshot().summary.additional_properties.items() if k.startswith("eventlake.")
    }
    with table.transaction() as tx:
        with tx.update_snapshot(snapshot_properties=carried).overwrite() as rewrite:
            for f in old:
                rewrite.delete_data_file(f)
            for f in files:
                rewrite.append_data_file(lake.to_data_file(table, f))
    snapshot = table.current_snapshot()
    assert snapshot.summary.operation.value == operation
    return snapshot


@pytest.fixture
def tick(instance, workspace, eventlake):
    """One sensor evaluation, and what the daemon does with its result: record the asset
    events, and create and submit each requested run. Returns (result, new runs, cursor)."""

    def _tick(cursor):
        context = build_sensor_context(instance=instance, cursor=cursor, resources={"eventlake": eventlake})
        result = iceberg_snapshot_sensor(context)
        for event in result.asset_events:
            instance.report_runless_asset_event(event)
        created = [
            submit(instance, workspace, {**request.tags, "dagster/run_key": request.run_key})
            for request in result.run_requests or []
        ]
        return result, created, result.cursor

    return _tick


def queued_transform_runs(instance) -> list:
    return instance.get_runs(
        RunsFilter(job_name=runs.TRANSFORM_JOB, statuses=[DagsterRunStatus.QUEUED], tags=dict(runs.TRANSFORM_TAGS))
    )


def report(instance, run, event_type: DagsterEventType) -> None:
    """A run moves on as the daemon (STARTING) and its run worker (START, SUCCESS) report it."""
    instance.report_dagster_event(DagsterEvent(event_type_value=event_type.value, job_name=run.job_name), run_id=run.run_id)


def start(instance, run) -> None:
    report(instance, run, DagsterEventType.PIPELINE_STARTING)
    report(instance, run, DagsterEventType.RUN_START)
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED


def materializations(instance, dataset: str) -> list:
    """The asset's materializations in the order they were recorded."""
    records = instance.fetch_materializations(AssetKey(f"raw_{dataset}"), limit=1000, ascending=True).records
    return [r.asset_materialization for r in records]


def meta(event) -> dict:
    return {k: getattr(v, "value", v) for k, v in event.metadata.items()}


# -- the instance config --------------------------------------------------------------------
def test_the_demo_instance_queues_runs_one_transform_at_a_time(instance, tmp_path):
    config = instance.get_concurrency_config().run_queue_config
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert config.tag_concurrency_limits == [{"key": "eventlake/pipeline", "value": "transform", "limit": 1}]
    assert instance.run_monitoring_enabled and instance.run_monitoring_start_timeout_seconds == 180
    # rewriting keeps the file; a hand-written one is left alone
    path = tmp_path / "dagster" / "dagster.yaml"
    written = path.read_text()
    write_dagster_yaml(path.parent)
    assert path.read_text() == written
    path.write_text("telemetry:\n  enabled: false\n")  # what the demo wrote before: upgraded
    write_dagster_yaml(path.parent)
    assert path.read_text() == written
    path.write_text("run_coordinator:\n  module: x\n")
    write_dagster_yaml(path.parent)
    assert path.read_text() == "run_coordinator:\n  module: x\n"


# -- materializations -----------------------------------------------------------------------
def test_every_new_snapshot_is_reported_with_its_metadata(instance, tick, tables):
    first = land(tables, "events", 3, "a")
    second = land(tables, "events", 5, "b")
    users = land(tables, "users", 2, "u")

    result, created, cursor = tick(None)
    assert all(isinstance(e, AssetMaterialization) for e in result.asset_events)
    events = materializations(instance, "events")
    assert [meta(m) | {"committed_at": None} for m in events] == [
        {"snapshot_id": str(first.snapshot_id), "operation": "append", "added_records": 3, "dagster/row_count": 3,
         "committed_at": None},
        {"snapshot_id": str(second.snapshot_id), "operation": "append", "added_records": 5, "dagster/row_count": 8,
         "committed_at": None},
    ]
    assert meta(events[1])["committed_at"] == second.timestamp_ms / 1000
    (user,) = materializations(instance, "users")
    assert meta(user)["snapshot_id"] == str(users.snapshot_id) and meta(user)["added_records"] == 2
    assert materializations(instance, "products") == []
    # one run for all of it, in the transform lane
    (request,) = result.run_requests
    assert request.tags[runs.PIPELINE_TAG] == runs.TRANSFORM
    assert request.tags[runs.TRIGGERED_BY_TAG] == "iceberg_snapshot_sensor"
    assert request.tags["eventlake/snapshot.events"] == str(second.snapshot_id)
    assert len(created) == 1

    # nothing new: nothing reported, no run
    result, created, cursor = tick(cursor)
    assert result.asset_events == [] and not result.run_requests and isinstance(result.skip_reason, SkipReason)
    third = land(tables, "products", 4, "p")
    result, created, cursor = tick(cursor)
    (product,) = result.asset_events
    assert meta(product)["snapshot_id"] == str(third.snapshot_id) and meta(product)["dagster/row_count"] == 4
    assert len(materializations(instance, "events")) == 2


def test_a_backlog_is_reported_a_few_per_tick_and_none_is_missed(instance, tick, tables, monkeypatch):
    monkeypatch.setattr(snapshots, "REPORT_LIMIT", 2)
    landed = [land(tables, "events", 1, f"s{i}").snapshot_id for i in range(5)]
    reported, requests, cursor = [], [], None
    for _ in range(4):
        result, created, cursor = tick(cursor)
        reported.append([int(meta(e)["snapshot_id"]) for e in result.asset_events])
        requests.append(len(result.run_requests or []))
    assert reported == [landed[:2], landed[2:4], landed[4:], []]
    assert requests == [1, 0, 0, 0]  # the data was all there at the first tick: one run
    assert [int(m.metadata["snapshot_id"].value) for m in materializations(instance, "events")] == landed


def test_a_snapshot_already_recorded_by_a_run_is_not_reported_again(instance, tick, tables):
    snap = land(tables, "events", 2, "a")
    # raw_ingest_job's IO manager recorded this snapshot already
    instance.report_runless_asset_event(
        AssetMaterialization(asset_key="raw_events", metadata={"snapshot_id": str(snap.snapshot_id)})
    )
    result, _, _ = tick(None)
    assert result.asset_events == []
    assert len(materializations(instance, "events")) == 1


def test_the_first_cursor_format_is_read(instance, tick, tables):
    old = land(tables, "events", 2, "a")
    cursor = json.dumps({"events": old.snapshot_id, "users": None, "products": None})
    result, created, cursor = tick(cursor)
    assert result.asset_events == [] and not result.run_requests
    new = land(tables, "events", 1, "b")
    result, created, _ = tick(cursor)
    assert [meta(e)["snapshot_id"] for e in result.asset_events] == [str(new.snapshot_id)]
    assert len(created) == 1


# -- compactions -------------------------------------------------------------------------------
@pytest.mark.parametrize("operation", ["replace", "overwrite"])
def test_a_compaction_changes_no_data_and_launches_nothing(instance, tick, tables, operation):
    land(tables, "events", 3, "a")
    land(tables, "events", 4, "b")
    _, created, cursor = tick(None)
    assert len(created) == 1
    report(instance, created[0], DagsterEventType.RUN_CANCELED)  # out of the queue: nothing to join

    compacted = compact(tables["events"], operation)
    # the summary looks like a consumer commit: carried-forward properties, added-records > 0
    assert compacted.summary["eventlake.checkpoint.events"] == CONSUMER_PROPS["eventlake.checkpoint.events"]
    assert int(compacted.summary["added-records"]) == 7
    result, created, cursor = tick(cursor)
    assert not result.run_requests and created == []
    (event,) = result.asset_events
    assert isinstance(event, AssetObservation) and not isinstance(event, AssetMaterialization)
    assert "compaction" in event.description and "no rows added or removed" in event.description
    assert meta(event) | {"committed_at": None} == {
        "snapshot_id": str(compacted.snapshot_id),
        "operation": operation,
        "dagster/row_count": 7,
        "rewritten_records": 7,
        "committed_at": None,
    }
    assert len(materializations(instance, "events")) == 2  # the appends only

    # an append after the compaction is new data again
    land(tables, "events", 1, "c")
    result, created, _ = tick(cursor)
    assert len(created) == 1 and [meta(e)["added_records"] for e in result.asset_events] == [1]


def test_which_operations_change_data():
    def snap(operation, added, deleted, total, parent_total):
        return snapshots.Landed("events", 2, 1, operation, 0, added, deleted, total, parent_total)

    assert snap("append", 5, 0, 12, 7).changes_data
    assert not snap("replace", 7, 7, 7, 7).changes_data  # a compaction by a writer that can say replace
    assert not snap("overwrite", 7, 7, 7, 7).changes_data  # a compaction written as an overwrite
    assert snap("overwrite", 3, 7, 3, 7).changes_data  # rows went away
    assert snap("delete", 0, 2, 5, 7).changes_data
    assert not snap("overwrite", 4, 4, 7, None).changes_data  # parent expired: added == deleted


def test_a_delete_changes_data_and_asks_for_a_run(instance, tick, tables):
    from pyiceberg.expressions import EqualTo

    land(tables, "users", 3, "a")
    _, created, cursor = tick(None)
    report(instance, created[0], DagsterEventType.RUN_CANCELED)
    tables["users"].delete(EqualTo("user_id", "a-1"))
    op_ = tables["users"].current_snapshot().summary.operation.value
    assert op_ in ("delete", "overwrite")
    result, created, _ = tick(cursor)
    assert len(created) == 1
    (event,) = result.asset_events
    assert isinstance(event, AssetMaterialization) and meta(event)["dagster/row_count"] == 2


# -- coalescing ------------------------------------------------------------------------------------
def test_snapshots_coalesce_into_one_queued_run_and_one_follow_up(instance, tick, tables):
    land(tables, "events", 2, "s1")
    _, created, cursor = tick(None)
    (first,) = created

    # while it is queued, new snapshots join it: it has not started, it will read them
    land(tables, "events", 1, "s2")
    land(tables, "users", 1, "s2")
    result, created, cursor = tick(cursor)
    assert created == [] and not result.run_requests
    assert "queued" in result.skip_reason.skip_message and first.run_id in result.skip_reason.skip_message
    assert len(result.asset_events) == 2  # still reported
    assert [r.run_id for r in queued_transform_runs(instance)] == [first.run_id]

    # it starts; a snapshot that lands during the run asks for exactly one follow-up
    start(instance, first)
    land(tables, "events", 1, "s3")
    result, created, cursor = tick(cursor)
    (follow_up,) = created
    assert follow_up.tags[runs.PIPELINE_TAG] == runs.TRANSFORM
    # more snapshots while the follow-up waits behind the running one: no more runs
    for i in range(3):
        land(tables, "events", 1, f"s4-{i}")
        land(tables, "products", 1, f"s4-{i}")
        result, created, cursor = tick(cursor)
        assert created == []
    result, created, cursor = tick(cursor)  # and none once it is quiet
    assert created == []
    assert [r.run_id for r in queued_transform_runs(instance)] == [follow_up.run_id]

    # the first run ends, the follow-up starts and reads all of it; nothing new: no run
    report(instance, first, DagsterEventType.RUN_SUCCESS)
    start(instance, follow_up)
    result, created, cursor = tick(cursor)
    assert created == [] and queued_transform_runs(instance) == []
    transform_runs = instance.get_runs(RunsFilter(job_name=runs.TRANSFORM_JOB))
    assert len(transform_runs) == 2


def test_a_queued_run_from_another_trigger_is_joined_but_not_a_re_execution(instance, workspace, tick, tables):
    api_run = submit(instance, workspace, {runs.TRIGGERED_BY_TAG: "api"})
    land(tables, "events", 1, "a")
    _, created, cursor = tick(None)
    assert created == []  # joined the API's queued run
    report(instance, api_run, DagsterEventType.RUN_CANCELED)

    submit(
        instance,
        workspace,
        {runs.PARENT_RUN_TAG: api_run.run_id, "dagster/root_run_id": api_run.run_id},
        parent_run_id=api_run.run_id,
        root_run_id=api_run.run_id,
    )
    land(tables, "events", 1, "b")
    _, created, _ = tick(cursor)
    assert len(created) == 1  # a re-execution is not a whole transform run


# -- the real queue: dagster-webserver + dagster-daemon on the demo's instance config ------------------
def test_the_daemon_dequeues_one_transform_run_at_a_time(tmp_path):
    from eventlake.dagster_client import DagsterClient
    from tests.airflow_bridge import dagster_webserver_harness as harness

    # long enough that the other run, started by the same daemon tick, starts inside the lane's runs even
    # when a loaded machine takes seconds to start a run process
    sleep = {"ops": {"sleep_op": {"config": {"seconds": 8.0}}}}
    with harness.run_dagster_webserver(tmp_path, dagster_yaml=harness.queued_dagster_yaml(), daemon=True) as server:
        with DagsterClient(server.url, timeout=30) as client:
            # launch_run, not trigger_run: two transform-lane runs in the queue at once
            lane = [client.launch_run("sleepy_job", run_config=sleep, tags=dict(runs.TRANSFORM_TAGS)) for _ in range(2)]
            other = client.launch_run("sleepy_job", run_config=sleep)
            statuses = {}
            for run_id in [*lane, other]:
                statuses[run_id] = client.wait_for_run(run_id, timeout_s=240, poll_s=0.5)
        with DagsterInstance.from_config(str(server.home)) as inst:
            spans = {}
            for run_id in [*lane, other]:
                record = inst.get_run_record_by_id(run_id)
                spans[run_id] = (record.start_time, record.end_time)
    assert set(statuses.values()) == {"SUCCESS"}, (statuses, server.daemon_log_path.read_text()[-3000:])
    (a_start, a_end), (b_start, b_end) = spans[lane[0]], spans[lane[1]]
    assert a_end <= b_start or b_end <= a_start, f"transform runs overlapped: {spans}"
    # the limit is the lane's, not the queue's: the other run ran alongside the first transform run
    o_start, o_end = spans[other]
    assert o_start < max(a_end, b_end) and min(a_start, b_start) < o_end, spans
