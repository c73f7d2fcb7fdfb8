"""The maintenance jobs and schedules (eventlake.assets.maintenance) run against a real home."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dagster import DagsterInstance, Definitions, build_schedule_context

from eventlake.assets.maintenance import maintenance_jobs, maintenance_schedules
from eventlake.resources.core import EventlakeResource
from eventlake.settings import Settings

from .conftest import RAW_TABLES, contract_rows, fill, open_tables


def _run(job, home: Path, **config):
    run_config = {"ops": {job.graph.node_defs[0].name: {"config": config}}} if config else None
    return job.execute_in_process(
        run_config=run_config,
        resources={"eventlake": EventlakeResource(home=str(home))},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _metadata(result) -> dict:
    (event,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    return {k: v.value for k, v in event.event_specific_data.metadata.items()}


def test_the_jobs_compact_expire_and_remove_orphans_with_actionable_metadata(tmp_path, monkeypatch):
    monkeypatch.setenv("EVENTLAKE_COMPACTION_MIN_INPUT_FILES", "2")
    monkeypatch.setenv("EVENTLAKE_SNAPSHOT_RETAIN_LAST", "1")
    monkeypatch.setenv("EVENTLAKE_SNAPSHOT_RETENTION_DAYS", "0.00001")  # about a second
    monkeypatch.setenv("EVENTLAKE_ORPHAN_FILE_MIN_AGE_DAYS", "3")
    home = tmp_path / "home"
    settings = Settings(home=home)
    assert settings.compaction_min_input_files == 2
    fill(settings, passes=2)  # raw.events and raw.rejected_records
    tables = open_tables(settings)
    before = {name: contract_rows(t) for name, t in tables.items()}
    compaction, expiry, orphans = maintenance_jobs

    result = _run(compaction, home)
    assert result.success
    meta = _metadata(result)
    assert (meta["raw.events/files_before"], meta["raw.events/files_after"]) == (4, 2)
    assert (meta["raw.rejected_records/files_before"], meta["raw.rejected_records/files_after"]) == (2, 1)
    assert meta["raw.rejected_records/bytes_after"] < meta["raw.rejected_records/bytes_before"]
    assert (meta["raw.users/files_before"], meta["raw.users/snapshot_id"]) == (0, "")
    assert meta["raw.events/snapshot_id"] == str(tables["events"].refresh().metadata.current_snapshot().snapshot_id)
    assert "| raw.events | 4 | 2 |" in meta["tables"]

    time.sleep(1.0)
    result = _run(expiry, home)
    assert result.success
    meta = _metadata(result)
    for name in ("events", "rejected_records"):
        assert (meta[f"raw.{name}/snapshots_before"], meta[f"raw.{name}/snapshots_after"]) == (3, 1)
        assert meta[f"raw.{name}/deleted_files"] > 0
        current = tables[name].refresh().metadata.current_snapshot()
        assert meta[f"raw.{name}/current_snapshot_id"] == str(current.snapshot_id)

    stray = Path(tables["rejected_records"].location().removeprefix("file://")) / "data" / "stray.parquet"
    stray.write_bytes(b"x" * 10)
    old = (datetime.now(UTC) - timedelta(days=4)).timestamp()
    os.utime(stray, (old, old))
    young = stray.with_name("young.parquet")
    young.write_bytes(b"y")
    result = _run(orphans, home, dry_run=True)
    assert result.success and _metadata(result)["raw.rejected_records/removed_files"] == 1 and stray.exists()
    result = _run(orphans, home, tables=["rejected_records"])
    assert result.success
    meta = _metadata(result)
    assert (meta["raw.rejected_records/removed_files"], meta["raw.rejected_records/kept_young_files"]) == (1, 1)
    assert "raw.events/removed_files" not in meta  # only the table asked for
    assert not stray.exists() and young.exists()

    for name, table in tables.items():
        assert contract_rows(table).equals(before[name])


def _orphan_removal_failing(tmp_path, monkeypatch, error_for):
    """Run the orphan file job (quick retries) on a filled home, eventlake.maintenance.remove_orphan_files
    raising ``error_for(table, calls so far)`` where that is not None; return the run and the tables it was called for."""
    home = tmp_path / "home"
    fill(Settings(home=home), passes=1)
    from eventlake import maintenance

    real = maintenance.remove_orphan_files
    calls = []

    def remove(table, **kw):
        calls.append(table.name()[-1])
        error = error_for(calls[-1], calls)
        if error is not None:
            raise error
        return real(table, **kw)

    monkeypatch.setattr(maintenance, "remove_orphan_files", remove)
    return _run(_quick_retries(maintenance_jobs[2]), home), calls


def test_a_failing_table_fails_the_run_but_not_the_others(tmp_path, monkeypatch):
    result, calls = _orphan_removal_failing(
        tmp_path, monkeypatch, lambda table, calls: OSError("disk on fire") if table == "events" else None
    )
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "raw.events" in str(failure.event_specific_data.error)
    # the other tables still had their turn, on the first attempt and on each of the 3 retries (an I/O error)
    assert calls == list(RAW_TABLES) * 4
    assert _retries(result) == 3
    unknown = _run(_quick_retries(maintenance_jobs[0]), tmp_path / "home", tables=["nope"])
    assert unknown.success is False and _retries(unknown) == 0, "a wrong table name is not worth retrying"


def _quick_retries(job):
    """The job with its own retry policy, but a delay of 10 ms instead of a minute."""
    from dagster import Backoff, RetryPolicy

    policy = job.op_retry_policy
    assert policy is not None and policy.max_retries == 3 and policy.backoff is Backoff.EXPONENTIAL, policy
    return job.graph.to_job(name=job.name, executor_def=job.executor_def,
                            op_retry_policy=RetryPolicy(max_retries=policy.max_retries, delay=0.01, backoff=policy.backoff))


def _retries(result) -> int:
    return sum(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)


def test_a_transient_failure_is_retried_and_the_run_succeeds(tmp_path, monkeypatch):
    def flaky_once(table, calls):
        return OSError("bucket briefly unreachable") if table == "events" and calls.count("events") == 1 else None

    result, calls = _orphan_removal_failing(tmp_path, monkeypatch, flaky_once)
    assert result.success
    assert _retries(result) == 1 and calls == list(RAW_TABLES) * 2


def test_a_failure_that_is_not_the_infrastructures_is_not_retried(tmp_path, monkeypatch):
    result, calls = _orphan_removal_failing(tmp_path, monkeypatch, lambda table, calls: ValueError("a bug, not the weather"))
    assert not result.success and _retries(result) == 0 and calls == list(RAW_TABLES)


def test_schedules_follow_the_settings_and_load_with_the_eventlake_resource(tmp_path):
    settings = Settings()
    by_job = {s.job_name: s for s in maintenance_schedules}
    assert {j.name for j in maintenance_jobs} == set(by_job)
    assert by_job["maintenance_compaction_job"].cron_schedule == settings.compaction_schedule
    assert by_job["maintenance_expire_snapshots_job"].cron_schedule == settings.snapshot_expiry_schedule
    assert by_job["maintenance_remove_orphan_files_job"].cron_schedule == settings.orphan_files_schedule
    assert all(s.execution_timezone == "UTC" for s in maintenance_schedules)

    # the code location binds EventlakeResource as "eventlake" (eventlake.resources.registry)
    defs = Definitions(
        jobs=maintenance_jobs, schedules=maintenance_schedules, resources={"eventlake": EventlakeResource(home=str(tmp_path))}
    )
    for schedule in maintenance_schedules:
        resolved = defs.resolve_schedule_def(schedule.name)
        request = resolved.evaluate_tick(build_schedule_context(scheduled_execution_time=datetime(2026, 12, 6, tzinfo=UTC)))
        assert len(request.run_requests) == 1
    for job in maintenance_jobs:
        assert defs.resolve_job_def(job.name).name == job.name


@pytest.mark.parametrize("variable", ["EVENTLAKE_COMPACTION_MIN_INPUT_FILES", "EVENTLAKE_SNAPSHOT_RETAIN_LAST"])
def test_settings_refuse_values_that_make_no_sense(monkeypatch, variable):
    monkeypatch.setenv(variable, "0")
    with pytest.raises(ValueError):
        Settings()
