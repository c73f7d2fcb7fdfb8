"""The warehouse pool: one run that writes the DuckDB file at a time, whatever its job.

A Dagster instance with eventlake's dagster.yaml (``runs.instance_config``; runs
are not really launched: the MockedRunLauncher only records them), serving the
real code location (``eventlake.definitions``, as workspace.yaml does). The
QueuedRunCoordinatorDaemon's own iteration decides which QUEUED runs start: a
UI "Materialize" of a dbt asset (an ``__ASSET_JOB`` run without the transform
tag) waits while a transform run is in progress, a run of raw assets does not.
"""

from __future__ import annotations

import pytest
import yaml
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.instance.config import PoolGranularity
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.test_utils import InProcessTestWorkspaceLoadTarget
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from eventlake import runs
from tests.test_sensor_coalescing import report

ASSET_JOB = "__ASSET_JOB"  # the job of a UI "Materialize"


@pytest.fixture
def instance(tmp_path):
    home = tmp_path / "dagster"
    home.mkdir()
    launcher = {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"}
    (home / "dagster.yaml").write_text(yaml.safe_dump(runs.instance_config(run_launcher=launcher)))
    with DagsterInstance.from_config(str(home)) as inst:
        yield inst


@pytest.fixture
def workspace(instance, eventlake_home):
    """The eventlake code location in process: what the webserver and the daemon serve."""
    origin = LoadableTargetOrigin(module_name="eventlake.definitions", attribute="defs")
    target = InProcessTestWorkspaceLoadTarget(InProcessCodeLocationOrigin(origin))
    with WorkspaceProcessContext(instance, target) as context:
        yield context


def submit(instance, workspace, job_name: str, *, assets: set[str] | None = None):
    """Create a run and submit it as the webserver does (with the job's tags, a selection of
    assets for __ASSET_JOB): the QueuedRunCoordinator leaves it QUEUED."""
    from eventlake.definitions import defs

    request = workspace.create_request_context()
    (location,) = request.code_location_names
    remote = request.get_code_location(location).get_repository("__repository__").get_full_job(job_name)
    job_def = defs.resolve_implicit_global_asset_job_def() if job_name == ASSET_JOB else defs.resolve_job_def(job_name)
    run = instance.create_run_for_job(
        job_def,
        status=DagsterRunStatus.NOT_STARTED,
        tags=dict(remote.run_tags),
        asset_selection={AssetKey(a) for a in assets} if assets else None,
        remote_job_origin=remote.get_remote_origin(),
        job_code_origin=remote.get_python_origin(),
    )
    submitted = instance.submit_run(run.run_id, request)
    assert submitted.status == DagsterRunStatus.QUEUED
    return submitted


def test_a_ui_materialization_of_dbt_assets_waits_for_the_transform_run(instance, workspace, monkeypatch):
    # as if every STARTED run had been running for a while: pools of granularity "op" count a
    # STARTED run only for its first seconds (then only its steps' slot claims), "run" for all of it
    monkeypatch.setenv("DAGSTER_OP_CONCURRENCY_KEYS_ALLOTTED_FOR_STARTED_RUN_SECONDS", "0")
    config = instance.get_concurrency_config()
    assert config.pool_config.pool_granularity == PoolGranularity.RUN
    assert config.pool_config.default_pool_limit == 1
    assert config.run_queue_config.should_block_op_concurrency_limited_runs
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)

    def dequeue() -> None:
        """One iteration of the daemon: it moves the runs it lets go to STARTING and launches them."""
        list(daemon.run_iteration(workspace))

    def status(run) -> DagsterRunStatus:
        return instance.get_run_by_id(run.run_id).status

    transform = submit(instance, workspace, runs.TRANSFORM_JOB)
    assert runs.is_transform(transform.tags)
    assert transform.run_op_concurrency.all_pools == {runs.WAREHOUSE_POOL}
    dequeue()
    assert status(transform) == DagsterRunStatus.STARTING
    report(instance, transform, DagsterEventType.RUN_START)
    assert status(transform) == DagsterRunStatus.STARTED
    # the queue set the pool's limit from the instance config
    (pool,) = [p for p in instance.event_log_storage.get_pool_limits() if p.name == runs.WAREHOUSE_POOL]
    assert pool.limit == 1

    # "Materialize" on a dbt asset in the UI: no transform tag, but the dbt op's pool
    ui_dbt = submit(instance, workspace, ASSET_JOB, assets={"stg_events"})
    assert runs.PIPELINE_TAG not in ui_dbt.tags
    assert ui_dbt.run_op_concurrency.all_pools == {runs.WAREHOUSE_POOL}
    # ... and of a raw asset: nothing in the warehouse
    ui_raw = submit(instance, workspace, ASSET_JOB, assets={"raw_events"})
    assert ui_raw.run_op_concurrency is None
    follow_up = submit(instance, workspace, runs.TRANSFORM_JOB)

    for _ in range(2):
        dequeue()
        assert status(ui_raw) == DagsterRunStatus.STARTING
        assert status(ui_dbt) == DagsterRunStatus.QUEUED
        assert status(follow_up) == DagsterRunStatus.QUEUED
    assert set(instance.run_launcher._launched_run_ids) == {transform.run_id, ui_raw.run_id}

    # the transform run ends: the older of the two waiting warehouse runs starts, only it
    report(instance, transform, DagsterEventType.RUN_SUCCESS)
    dequeue()
    assert status(ui_dbt) == DagsterRunStatus.STARTING
    assert status(follow_up) == DagsterRunStatus.QUEUED  # the pool holds it now, not only the tag

    report(instance, ui_dbt, DagsterEventType.RUN_START)
    dequeue()
    assert status(follow_up) == DagsterRunStatus.QUEUED
    report(instance, ui_dbt, DagsterEventType.RUN_SUCCESS)
    dequeue()
    assert status(follow_up) == DagsterRunStatus.STARTING


def test_on_a_new_instance_the_demo_sets_the_pool_limit_before_the_first_runs(tmp_path, instance, workspace):
    """The queue writes a pool's limit only after it read the pools it knows, so without
    ``set_pool_limits`` two warehouse runs queued on a new instance both start in its first iteration."""
    from eventlake.demo import set_pool_limits

    set_pool_limits(tmp_path / "dagster")
    transform = submit(instance, workspace, runs.TRANSFORM_JOB)
    ui_dbt = submit(instance, workspace, ASSET_JOB, assets={"stg_events"})
    list(QueuedRunCoordinatorDaemon(interval_seconds=1).run_iteration(workspace))
    assert instance.get_run_by_id(transform.run_id).status == DagsterRunStatus.STARTING
    assert instance.get_run_by_id(ui_dbt.run_id).status == DagsterRunStatus.QUEUED
