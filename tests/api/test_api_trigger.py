"""POST /api/v1/trigger/{pipeline} against a real dagster-webserver (throwaway definitions)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from eventlake.dagster_client import RUN_STATUS_QUERY

from .conftest import AUTH, assert_error_shape, make_settings


def _load_harness():
    path = Path(__file__).parents[1] / "airflow_bridge" / "dagster_webserver_harness.py"
    spec = importlib.util.spec_from_file_location("eventlake_tests_dagster_webserver_harness", path)
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dagster_url(tmp_path_factory):
    with _load_harness().run_dagster_webserver(tmp_path_factory.mktemp("dagster")) as server:
        yield server.url


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
    # Dagster knows the run, as a run of transform_job (that runs succeed is DagsterClient's test)
    answer = httpx.post(
        f"{dagster_url}/graphql", json={"query": RUN_STATUS_QUERY, "variables": {"runId": body["run_id"]}}, timeout=30
    ).json()
    run = answer["data"]["runOrError"]
    assert run["__typename"] == "Run" and run["runId"] == body["run_id"]
    assert run["jobName"] == "transform_job" and run["status"] != "FAILURE"


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
