"""DagsterClient against a real dagster-webserver serving throwaway definitions."""

from __future__ import annotations

import json

import pytest

from eventlake import runs
from eventlake.dagster_client import DagsterClient, DagsterClientError, DagsterRunTimeout, TriggeredRun
from tests.airflow_bridge import dagster_webserver_harness as harness


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    with harness.run_dagster_webserver(tmp_path_factory.mktemp("dagster")) as server:
        yield server


#: With the DefaultRunCoordinator a launch waits for the run worker process to start:
#: on a loaded machine (two cores, other tests running) that takes more than 30 s.
LAUNCH_TIMEOUT_S = 120


@pytest.fixture
def client(webserver):
    with DagsterClient(webserver.url, timeout=LAUNCH_TIMEOUT_S) as c:
        yield c


@pytest.fixture(scope="module")
def launched(webserver, tmp_path_factory):
    """Launch the runs of the module at once: each run worker needs seconds to start."""
    out = tmp_path_factory.mktemp("record") / "record.json"
    with DagsterClient(webserver.url, timeout=LAUNCH_TIMEOUT_S) as c:
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


# -- runs that coalesce: a webserver on eventlake's instance config (QueuedRunCoordinator, no
# daemon: launched runs stay QUEUED, which is the state a trigger joins) ---------------------
TERMINATE = """mutation($id: String!) { terminateRun(runId: $id) { __typename } }"""
RUNS = """query($f: RunsFilter) { runsOrError(filter: $f) { ... on Runs { results { runId status } } } }"""


def graphql(url: str, query: str, variables: dict) -> dict:
    import httpx

    return httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=30).json()["data"]


def cancel(url: str, run_id: str) -> None:
    """Take a queued run out of the queue, as a person does in the UI."""
    assert graphql(url, TERMINATE, {"id": run_id})["terminateRun"]["__typename"] == "TerminateRunSuccess"


@pytest.fixture(scope="module")
def queue(tmp_path_factory):
    with harness.run_dagster_webserver(tmp_path_factory.mktemp("queue"), dagster_yaml=harness.queued_dagster_yaml()) as server:
        yield server


@pytest.fixture
def queued_client(queue):
    """A client of the queue's webserver, with no transform run queued at the start."""
    with DagsterClient(queue.url, timeout=30) as c:
        for run in c.queued_runs("transform_job", runs.TRANSFORM_TAGS):
            cancel(queue.url, run.run_id)
        yield c


def test_a_trigger_joins_the_transform_run_still_queued(queued_client, queue):
    first = queued_client.trigger_run("transform_job", tags={"eventlake/triggered_by": "pytest"})
    assert first.joined is False
    assert queued_client.run_status(first.run_id) == "QUEUED"
    second = queued_client.trigger_run("transform_job")
    assert second == TriggeredRun(first.run_id, True)
    (queued,) = queued_client.queued_runs("transform_job", runs.TRANSFORM_TAGS)
    assert queued.run_id == first.run_id
    assert queued.tags["eventlake/pipeline"] == "transform" and queued.tags["eventlake/triggered_by"] == "pytest"

    # once that run left the queue (here: canceled) the next trigger queues a new one
    cancel(queue.url, first.run_id)
    assert queued_client.run_status(first.run_id) == "CANCELED"
    third = queued_client.trigger_run("transform_job")
    assert third.joined is False and third.run_id != first.run_id
    assert [r.run_id for r in queued_client.queued_runs("transform_job", runs.TRANSFORM_TAGS)] == [third.run_id]


def test_triggers_at_once_each_answer_a_queued_run_and_the_next_joins_the_oldest(queued_client, queue):
    from concurrent.futures import ThreadPoolExecutor

    def trigger(_):
        with DagsterClient(queue.url, timeout=30) as c:
            return c.trigger_run("transform_job")

    with ThreadPoolExecutor(6) as pool:
        triggered = list(pool.map(trigger, range(6)))
    queued = queued_client.queued_runs("transform_job", runs.TRANSFORM_TAGS)
    # triggers within one round trip of each other may each queue a run (the lane then runs
    # them in turn); every answer names a run still queued, each launched by one trigger
    assert {t.run_id for t in triggered} == {r.run_id for r in queued}
    assert sum(not t.joined for t in triggered) == len(queued)
    assert queued_client.trigger_run("transform_job") == TriggeredRun(queued[0].run_id, True)


def test_jobs_without_a_lane_are_launched_every_time(queued_client):
    first = queued_client.trigger_run("failing_job")
    second = queued_client.trigger_run("failing_job")
    assert not first.joined and not second.joined and first.run_id != second.run_id
    assert queued_client.run_status(second.run_id) == "QUEUED"
