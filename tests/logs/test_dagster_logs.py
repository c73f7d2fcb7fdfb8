"""Dagster runs' log lines: every step's start and outcome, and errors with the run id.

Property 20: every task of an orchestrated run and its outcome is logged.
Property 38: every component logs its errors with a timestamp, the component name and the details.

The instance has the ``python_logs`` section eventlake writes into every dagster.yaml
(``eventlake.runs.instance_config``). The runs are eventlake's own raw assets (and their
contract check), materialized in-process; the failure is real: the SQLite catalog's write lock is
held by another connection, so the consumer's commit inside the ``raw_events`` step fails.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict

import pytest
from dagster import DagsterInstance, materialize

from eventlake import lake, runs
from eventlake.assets.raw import raw_events, raw_events_contract, raw_products, raw_users
from eventlake.resources.core import EventlakeResource
from eventlake.resources.io_manager import IcebergIOManager
from eventlake.settings import Settings
from tests.consumer.conftest import events, publish

from .conftest import assert_error_line, json_lines


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    # what EventlakeResource's settings read besides the home: a locked catalog fails in 0.2 s, once
    monkeypatch.setenv("EVENTLAKE_CATALOG_URI", f"sqlite:///{home / 'catalog.db'}?timeout=0.2")
    monkeypatch.setenv("EVENTLAKE_CONSUMER_MAX_ATTEMPTS", "1")
    lake.ensure_tables(lake.load_catalog(Settings(home=home)))
    return home


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dagster").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dagster"),
                                    overrides={"python_logs": runs.instance_config()["python_logs"]}) as instance:
        yield instance


def _materialize(home, instance, assets):
    resources = {"eventlake": EventlakeResource(home=str(home)), "iceberg_io_manager": IcebergIOManager(home=str(home))}
    return materialize(assets, resources=resources, instance=instance, raise_on_error=False)


def _steps(lines: list[dict], run_id: str) -> dict[str, list[str]]:
    """The step events of a run's lines, by step."""
    steps: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        if line.get("run_id") == run_id and line.get("event", "").startswith("STEP_"):
            steps[line["step_key"]].append(line["event"])
    return dict(steps)


# Property 20: Workflow executions are logged
def test_every_step_of_a_run_and_its_outcome_is_a_line_with_the_run_id(home, instance, capsys):
    publish(Settings(home=home), "events", events(3))
    result = _materialize(home, instance, [raw_events, raw_users, raw_products, raw_events_contract])
    assert result.success
    lines = json_lines(capsys.readouterr().err)
    assert all(line["component"] == "dagster" for line in lines if line.get("run_id"))
    steps = _steps(lines, result.run_id)
    # a step per raw asset and one for the contract check, each started and succeeded
    assert steps == {key: ["STEP_START", "STEP_SUCCESS"]
                     for key in ("raw_events", "raw_users", "raw_products", "raw_events_raw_events_contract")}
    assert set(steps) == {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    run_events = [line["event"] for line in lines if line.get("run_id") == result.run_id and "step_key" not in line]
    assert run_events[0] == "RUN_START" and run_events[-1] == "RUN_SUCCESS"
    materialized = {line["asset"] for line in lines if line.get("event") == "ASSET_MATERIALIZATION"}
    assert materialized == {"raw_events", "raw_users", "raw_products"}
    (checked,) = [line for line in lines if line.get("event") == "ASSET_CHECK_EVALUATION"]
    assert checked["run_id"] == result.run_id and checked["step_key"] == "raw_events_raw_events_contract"
    assert (checked["asset"], checked["check"], checked["passed"]) == ("raw_events", "raw_events_contract", True)
    assert checked["severity"] == "ERROR"
    # eventlake's own lines in a step carry the run and the ids they know: the Iceberg commit its snapshot
    (commit,) = [line for line in lines if line["message"].startswith("iceberg commit table=raw.events")]
    assert commit["run_id"] == result.run_id and commit["step_key"] == "raw_events"
    assert isinstance(commit["snapshot_id"], int) and commit["component"] == "dagster"


# Property 20: Workflow executions are logged
# Property 38: Errors are logged with details
def test_a_failed_step_logs_its_error_with_the_run_id_and_the_consumers_error_names_the_jobs(home, instance, capsys):
    job_id = publish(Settings(home=home), "events", events(3))
    lock = sqlite3.connect(str(home / "catalog.db"), isolation_level=None, timeout=5)
    lock.execute("BEGIN IMMEDIATE")  # every Iceberg commit fails: database is locked
    try:
        result = _materialize(home, instance, [raw_events])
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert not result.success
    lines = json_lines(capsys.readouterr().err)
    run = [line for line in lines if line.get("run_id") == result.run_id]

    # what the consumer logged inside the step: its error, with the run, the step and the jobs
    (consumer,) = [line for line in run if line["logger"] == "eventlake.consumer" and line["level"] == "ERROR"]
    assert_error_line(consumer, "dagster", error_type="OperationalError")
    assert consumer["step_key"] == "raw_events" and consumer["job_ids"] == [job_id]

    # the step's outcome, with the exception the asset raised (not Dagster's wrapper)
    assert _steps(lines, result.run_id) == {"raw_events": ["STEP_START", "STEP_FAILURE"]}
    (failure,) = [line for line in run if line.get("event") == "STEP_FAILURE"]
    assert_error_line(failure, "dagster", error_type="OperationalError")
    assert "database is locked" in failure["error"]["message"]
    assert 'raw.py' in failure["error"]["traceback"]  # down to eventlake's asset
    assert run[-1]["event"] == "RUN_FAILURE" and run[-1]["level"] == "ERROR"
