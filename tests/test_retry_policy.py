"""transform_job retries a step that failed for a transient reason, with exponential backoff (issue 11).

The retry policy is Dagster's op retry policy on the asset job
(``define_asset_job(op_retry_policy=...)``, ``eventlake.runs.step_retry_policy``).
The transient failure is a real one: during the first dbt invocation another
process holds the DuckDB warehouse file's write lock, so dbt fails with DuckDB's
"Could not set lock on file"; the lock is released once that attempt is over.
The retry delay is lowered for the test (``runs.STEP_RETRY_DELAY_SECONDS``).
A failure the data causes (dbt tests failing) is not retried.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import pytest

from eventlake import runs
from eventlake.settings import Settings
from tests.e2e.test_transform_blocking import _append


@pytest.fixture
def quick_retries(monkeypatch):
    """transform_job built with a 0.2 s retry delay (then rebuilt with the real one)."""
    from eventlake import definitions

    def rebuild() -> None:  # the job, and the schedule that names it
        definitions._transform_job.cache_clear()
        definitions._transform_full_checks_schedule.cache_clear()

    monkeypatch.setattr(runs, "STEP_RETRY_DELAY_SECONDS", 0.2)
    rebuild()
    yield
    monkeypatch.undo()
    rebuild()


def _run(settings: Settings):
    from dagster import DagsterInstance

    from eventlake.definitions import build_definitions

    defs = build_definitions("LOCAL", home=str(settings.home))
    return defs.resolve_job_def("transform_job").execute_in_process(instance=DagsterInstance.ephemeral(), raise_on_error=False)


def _events(result, step: str) -> list:
    return [e for e in result.all_events if e.step_key == step]


class WarehouseLock:
    """Another process holding the DuckDB file's write lock, as a second writer does."""

    def __init__(self, path: str):
        code = textwrap.dedent(
            f"""
            import sys, duckdb
            con = duckdb.connect({path!r})
            print("locked", flush=True)
            sys.stdin.read()
            con.close()
            """
        )
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def test_transform_job_has_the_exponential_retry_policy(tmp_path):
    from dagster import Backoff, RetryPolicy

    from eventlake.definitions import build_definitions

    defs = build_definitions("LOCAL", home=str(tmp_path / "home"))
    policy = defs.resolve_job_def("transform_job").op_retry_policy
    assert policy == RetryPolicy(max_retries=3, delay=15.0, backoff=Backoff.EXPONENTIAL)
    assert [policy.calculate_delay(n) for n in (1, 2, 3)] == [15.0, 45.0, 105.0]


def test_dbt_failures_are_transient_only_for_locks_and_io():
    from eventlake.assets.dbt import is_transient_dbt_failure

    lock = "IO Error: Could not set lock on file \"/h/warehouse.duckdb\": Conflicting lock is held in python (PID 7)"
    assert is_transient_dbt_failure(["Runtime Error in model stg_events", lock])
    assert not is_transient_dbt_failure(["Failure in test accepted_values_stg_events_event_type", "Got 1 result"])
    assert not is_transient_dbt_failure(["Compilation Error in model fact_events", ""])


def test_a_transient_step_failure_is_retried_with_backoff_then_the_run_succeeds(tmp_path, monkeypatch, quick_retries):
    """The first dbt attempt meets a real locked warehouse file and fails; Dagster's retry policy
    puts the step up for retry after its backoff (0.2 s here), the second attempt builds the layer,
    and the whole run succeeds with every layer built once."""
    from eventlake import dbt_runner

    settings = Settings(home=tmp_path / "home")
    settings.ensure_home()
    _append(settings, "job-1", [("e1", "click"), ("e2", "purchase")])

    real_invoke = dbt_runner.invoke
    attempts: list[bool] = []

    def invoke_once_locked(*args, **kwargs):
        if attempts:
            outcome = real_invoke(*args, **kwargs)
        else:
            lock = WarehouseLock(str(settings.duckdb_file))
            try:
                outcome = real_invoke(*args, **kwargs)
            finally:
                lock.release()
        attempts.append(outcome.success)
        return outcome

    monkeypatch.setattr(dbt_runner, "invoke", invoke_once_locked)
    result = _run(settings)

    staging = [e.event_type_value for e in _events(result, "dbt_staging")]
    assert "STEP_UP_FOR_RETRY" in staging and "STEP_RESTARTED" in staging, staging
    assert staging.count("STEP_UP_FOR_RETRY") == 1 and staging.count("STEP_SUCCESS") == 1 and "STEP_FAILURE" not in staging
    assert staging.index("STEP_UP_FOR_RETRY") < staging.index("STEP_RESTARTED") < staging.index("STEP_SUCCESS")
    retry = next(e for e in _events(result, "dbt_staging") if e.event_type_value == "STEP_UP_FOR_RETRY")
    assert retry.event_specific_data.seconds_to_wait == pytest.approx(0.2)  # (2^1 - 1) x the delay
    assert "Could not set lock" in str(retry.event_specific_data.error)
    assert attempts[0] is False and all(attempts[1:]), attempts  # the locked attempt failed, the rest built
    assert len(attempts) == 4  # staging twice, intermediate and marts once each
    assert result.success
    for step in ("dbt_intermediate", "dbt_marts"):
        assert "STEP_UP_FOR_RETRY" not in [e.event_type_value for e in _events(result, step)]


def test_a_data_failure_is_not_retried(tmp_path, quick_retries):
    """dbt tests that fail on bad rows fail the staging step at once: a retry would meet the same rows."""
    settings = Settings(home=tmp_path / "home")
    _append(settings, "bad-job", [("b1", "teleport"), ("b2", "view")])

    result = _run(settings)

    assert not result.success
    staging = [e.event_type_value for e in _events(result, "dbt_staging")]
    assert "STEP_FAILURE" in staging and "STEP_UP_FOR_RETRY" not in staging, staging
