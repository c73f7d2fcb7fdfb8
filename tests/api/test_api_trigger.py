"""POST /api/v1/trigger/{pipeline} against a real dagster-webserver (throwaway definitions).

The webserver's instance has eventlake's config (``eventlake.runs.instance_config``): runs
go through the QueuedRunCoordinator, and with no daemon here they stay QUEUED, the state
in which a transform trigger joins a run instead of queueing another.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from eventlake.dagster_client import RUN_STATUS_QUERY
from tests.airflow_bridge import dagster_webserver_harness as harness

from .conftest import AUTH, assert_error_shape, make_settings


@pytest.fixture(scope="module")
def dagster_url(tmp_path_factory):
    with harness.run_dagster_webserver(tmp_path_factory.mktemp("dagster"), dagster_yaml=harness.queued_dagster_yaml()) as server:
        yield server.url


TERMINATE = """mutation($id: String!) { terminateRun(runId: $id) { __typename } }"""
QUEUED = """query($f: RunsFilter) { runsOrError(filter: $f) { ... on Runs { results { runId tags { key value } } } } }"""


def _graphql(url: str, query: str, variables: dict) -> dict:
    return httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=30).json()["data"]


def queued_transform_runs(url: str) -> list[dict]:
    found = _graphql(url, QUEUED, {"f": {"pipelineName": "transform_job", "statuses": ["QUEUED"]}})
    return found["runsOrError"]["results"]


@pytest.fixture
def trigger_client(tmp_path, dagster_url):
    with TestClient(create_app(make_settings(tmp_path, dagster_url=dagster_url))) as client:
        yield client


# Property 21: Manual triggers start workflows
def test_trigger_launches_the_dagster_job(trigger_client, dagster_url):
    response = trigger_client.post("/api/v1/trigger/transform_job", headers=AUTH)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["pipeline"] == "transform_job" and body["run_id"]
    assert body["run_url"] == f"{dagster_url}/runs/{body['run_id']}"
    assert isinstance(body["joined"], bool)
    # Dagster knows the run, as a run of transform_job (that runs succeed is DagsterClient's test)
    answer = httpx.post(
        f"{dagster_url}/graphql", json={"query": RUN_STATUS_QUERY, "variables": {"runId": body["run_id"]}}, timeout=30
    ).json()
    run = answer["data"]["runOrError"]
    assert run["__typename"] == "Run" and run["runId"] == body["run_id"]
    assert run["jobName"] == "transform_job" and run["status"] != "FAILURE"


# Runs that coalesce: a trigger while a transform run is queued joins it
def test_a_trigger_while_a_transform_run_is_queued_joins_it(trigger_client, dagster_url):
    for run in queued_transform_runs(dagster_url):  # start from an empty queue
        _graphql(dagster_url, TERMINATE, {"id": run["runId"]})
    first = trigger_client.post("/api/v1/trigger/transform_job", headers=AUTH)
    second = trigger_client.post("/api/v1/trigger/transform_job", headers=AUTH)
    assert first.status_code == second.status_code == 202, (first.text, second.text)
    assert first.json()["joined"] is False
    assert second.json() == {**first.json(), "joined": True}
    (queued,) = queued_transform_runs(dagster_url)
    assert queued["runId"] == first.json()["run_id"]
    tags = {t["key"]: t["value"] for t in queued["tags"]}
    assert tags["eventlake/pipeline"] == "transform" and tags["eventlake/triggered_by"] == "api"

    # out of the queue (canceled here; started, in life): the next trigger queues a new run
    _graphql(dagster_url, TERMINATE, {"id": queued["runId"]})
    third = trigger_client.post("/api/v1/trigger/transform_job", headers=AUTH).json()
    assert third["joined"] is False and third["run_id"] != first.json()["run_id"]
    assert [r["runId"] for r in queued_transform_runs(dagster_url)] == [third["run_id"]]


def test_a_known_pipeline_dagster_does_not_serve_is_502(trigger_client):
    # the throwaway code location has no raw_ingest_job: Dagster answers PipelineNotFoundError
    body = assert_error_shape(trigger_client.post("/api/v1/trigger/raw_ingest_job", headers=AUTH), 502)
    assert body["details"][0]["pipeline"] == "raw_ingest_job"
    assert body["details"][0]["kind"] == "PipelineNotFoundError"


def test_unknown_pipeline_is_404(trigger_client):
    body = assert_error_shape(trigger_client.post("/api/v1/trigger/record_job", headers=AUTH), 404)
    assert body["details"][0]["known"] == ["raw_ingest_job", "transform_job"]


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "nope"}], ids=["missing", "wrong"])
def test_trigger_needs_the_api_key(trigger_client, headers):
    assert_error_shape(trigger_client.post("/api/v1/trigger/transform_job", headers=headers), 401)


def test_unreachable_dagster_is_503(client):
    # the default test settings point Dagster at a port where nothing listens
    body = assert_error_shape(client.post("/api/v1/trigger/transform_job", headers=AUTH), 503)
    assert body["error"] == "dagster unavailable" and body["details"][0]["component"] == "dagster"
