"""DagsterClient against a real dagster-webserver serving throwaway definitions."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from eventlake.dagster_client import DagsterClient, DagsterClientError, DagsterRunTimeout


def _load_harness():
    path = Path(__file__).parent / "airflow_bridge" / "dagster_webserver_harness.py"
    spec = importlib.util.spec_from_file_location("eventlake_tests_dagster_webserver_harness", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


harness = _load_harness()


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    with harness.run_dagster_webserver(tmp_path_factory.mktemp("dagster")) as server:
        yield server


@pytest.fixture
def client(webserver):
    with DagsterClient(webserver.url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def launched(webserver, tmp_path_factory):
    """Launch the runs of the module at once: each run worker needs seconds to start."""
    out = tmp_path_factory.mktemp("record") / "record.json"
    with DagsterClient(webserver.url, timeout=30) as c:
        runs = {
            "transform": c.launch_run("transform_job"),
            "record": c.launch_run(
                "record_job",
                run_config={"ops": {"record_op": {"config": {"out_path": str(out), "marker": "m-42"}}}},
                tags={"triggered_by": "pytest", "attempt": 3},
            ),
            "failing": c.launch_run("failing_job"),
        }
    return runs, out


# Property 21: Manual triggers start workflows
# Property 19: Successful workflows marked complete
def test_launch_run_reaches_success(client, launched):
    runs, _ = launched
    assert client.wait_for_run(runs["transform"], timeout_s=120, poll_s=0.5) == "SUCCESS"
    assert client.run_status(runs["transform"]) == "SUCCESS"


def test_run_config_and_tags_reach_the_run(client, launched):
    runs, out = launched
    assert client.wait_for_run(runs["record"], timeout_s=120, poll_s=0.5) == "SUCCESS"
    recorded = json.loads(out.read_text())
    assert recorded["marker"] == "m-42"
    assert recorded["tags"] == {"triggered_by": "pytest", "attempt": "3"}


def test_failed_run_reports_failure(client, launched):
    runs, _ = launched
    assert client.wait_for_run(runs["failing"], timeout_s=120, poll_s=0.5) == "FAILURE"


def test_wait_for_run_times_out_while_run_is_going(client):
    run_id = client.launch_run("sleepy_job", run_config={"ops": {"sleep_op": {"config": {"seconds": 3.0}}}})
    # The op sleeps 3 s (and its run worker needs seconds to start): not over after 0.2 s.
    with pytest.raises(DagsterRunTimeout) as info:
        client.wait_for_run(run_id, timeout_s=0.2, poll_s=0.1)
    assert run_id in str(info.value)
    # The run itself is unaffected by the client giving up.
    assert client.wait_for_run(run_id, timeout_s=120, poll_s=0.5) == "SUCCESS"


def test_unknown_job_names_job_and_location(client):
    with pytest.raises(DagsterClientError) as info:
        client.launch_run("no_such_job_xyz")
    err = info.value
    assert err.kind == "PipelineNotFoundError"
    assert "no_such_job_xyz" in str(err)
    assert "eventlake" in str(err)
    assert err.job_name == "no_such_job_xyz"


def test_unknown_location_names_location(client):
    with pytest.raises(DagsterClientError) as info:
        client.launch_run("transform_job", location="not_a_location")
    assert "not_a_location" in str(info.value)
    assert "transform_job" in str(info.value)


def test_invalid_run_config_is_reported_with_dagster_message(client):
    with pytest.raises(DagsterClientError) as info:
        client.launch_run("record_job", run_config={"ops": {"record_op": {"config": {"marker": 5}}}})
    assert info.value.kind == "RunConfigValidationInvalid"
    assert "record_job" in str(info.value)
    assert "out_path" in str(info.value)  # Dagster names the missing field


def test_unknown_run_id(client):
    with pytest.raises(DagsterClientError) as info:
        client.run_status("00000000-0000-0000-0000-000000000000")
    assert info.value.kind == "RunNotFoundError"


def test_server_info_lists_location_and_jobs(client):
    import dagster

    info = client.server_info()
    assert info["version"] == dagster.__version__
    (location,) = [loc for loc in info["locations"] if loc["name"] == "eventlake"]
    assert location["error"] is None
    jobs = location["repositories"]["__repository__"]
    assert {"transform_job", "record_job", "failing_job", "sleepy_job"} <= set(jobs)


def test_unreachable_webserver_names_job_and_location():
    with DagsterClient(f"http://127.0.0.1:{harness.free_port()}/graphql", timeout=2) as c:
        with pytest.raises(DagsterClientError) as info:
            c.launch_run("transform_job", location="eventlake")
    assert info.value.kind == "ConnectionError"
    assert "transform_job" in str(info.value) and "eventlake" in str(info.value)
