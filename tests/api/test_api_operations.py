"""Health, metrics, error shapes for unknown routes, OpenAPI docs, request logs."""

from __future__ import annotations

import json
import logging

from fastapi.testclient import TestClient

from api.main import create_app

from .conftest import AUTH, assert_error_shape, free_port, make_settings


def test_health_reports_every_component(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body["components"]) == {"job_store", "stream", "catalog", "dagster"}
    components = body["components"]
    assert components["job_store"]["status"] == "up" and components["job_store"]["essential"] is True
    assert components["stream"]["status"] == "up" and components["stream"]["detail"] == {"backend": "local", "shards": 2}
    assert components["catalog"]["status"] == "up" and components["catalog"]["essential"] is False
    # nothing listens at the configured Dagster URL: degraded, not fatal
    assert components["dagster"]["status"] == "degraded" and components["dagster"]["error"]
    assert body["status"] == "degraded"


def test_health_is_503_when_the_stream_cannot_open(tmp_path):
    settings = make_settings(tmp_path)
    settings.stream_path.mkdir(parents=True)  # a directory where the log file should be
    with TestClient(create_app(settings)) as client:
        response = client.get("/api/v1/health")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "down"
        assert body["components"]["stream"]["status"] == "down" and body["components"]["stream"]["error"]
        assert body["components"]["job_store"]["status"] == "up"
        # ingestion refuses with the component named, before reading anything
        refused = client.post(
            "/api/v1/ingest?dataset=events", content=b"{}", headers={**AUTH, "Content-Type": "application/json"}
        )
        assert assert_error_shape(refused, 503)["details"][0]["component"] == "stream"


def test_health_is_503_when_the_job_store_is_unreachable(tmp_path):
    dead_pg = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"
    with TestClient(create_app(make_settings(tmp_path, job_db_url=dead_pg))) as client:
        response = client.get("/api/v1/health")
        assert response.status_code == 503
        assert response.json()["components"]["job_store"]["status"] == "down"
        assert assert_error_shape(client.get("/api/v1/status/x", headers=AUTH), 503)["error"] == "job_store unavailable"


def test_metrics_count_requests_records_and_bytes(client):
    rows = [{"event_id": f"e{i}"} for i in range(7)]
    body = json.dumps(rows).encode()
    headers = {**AUTH, "Content-Type": "application/json"}
    assert client.post("/api/v1/ingest?dataset=events", content=body, headers=headers).status_code == 202
    assert client.post("/api/v1/ingest?dataset=events", content=b"[", headers=headers).status_code == 400
    client.get("/api/v1/status/some-id", headers=AUTH)
    client.get("/api/v1/status/other-id", headers=AUTH)

    metrics = client.get("/api/v1/metrics")
    assert metrics.status_code == 200
    data = metrics.json()
    api = data["api"]
    assert api["requests"]["POST /api/v1/ingest"] == {"202": 1, "400": 1}
    assert api["requests"]["GET /api/v1/status/{job_id}"] == {"404": 2}  # by route, not by job id
    assert api["records_received"] == 7 and api["bytes_received"] == len(body)
    assert api["ingest_requests_accepted"] == 1
    jobs = data["jobs"]
    assert jobs["jobs_by_status"] == {"PENDING": 1, "PROCESSING": 0, "COMPLETED": 0, "FAILED": 0}
    assert jobs["records_received"] == 7 and jobs["records_in_flight"] == 7  # not consumed yet
    assert (jobs["records_accepted"], jobs["records_rejected"], jobs["records_duplicates"]) == (0, 0, 0)
    assert {"last_completed_at", "avg_seconds_to_complete"} <= set(jobs)


def test_unknown_routes_and_methods_use_the_error_shape(client):
    assert_error_shape(client.get("/api/v1/nothing-here"), 404)
    response = client.delete("/api/v1/ingest")
    assert_error_shape(response, 405)
    assert "POST" in response.headers["allow"]


def test_openapi_docs(client):
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths) == {
        "/api/v1/ingest", "/api/v1/status/{job_id}", "/api/v1/jobs/{job_id}/rejected", "/api/v1/health",
        "/api/v1/metrics", "/api/v1/trigger/{pipeline}", "/api/v1/tables/{name}/snapshots",
        "/api/v1/tables/{name}/snapshots/{snapshot_id}", "/metrics",
    }
    ingest = paths["/api/v1/ingest"]["post"]
    assert set(ingest["requestBody"]["content"]) == {"application/json", "application/x-ndjson", "text/csv"}
    assert {"202", "400", "401", "413", "415", "503"} <= set(ingest["responses"])
    assert "422" not in ingest["responses"]  # validation errors are 400 in the common shape
    assert "X-API-Key" in json.dumps(schema["components"]["securitySchemes"])


def test_each_request_is_logged_with_its_job_id(client, caplog):
    with caplog.at_level(logging.INFO, logger="eventlake.api"):
        response = client.post(
            "/api/v1/ingest?dataset=users",
            content=b'{"user_id": "u1", "updated_at": "2025-01-01T00:00:00Z"}',
            headers={**AUTH, "Content-Type": "application/json"},
        )
        client.get("/api/v1/status/missing", headers=AUTH)
    job_id = response.json()["job_id"]
    requests = [r for r in caplog.records if r.getMessage().startswith("request ")]
    ingest_log = next(r for r in requests if r.path == "/api/v1/ingest")
    assert (ingest_log.method, ingest_log.status, ingest_log.job_id) == ("POST", 202, job_id)
    assert f"job_id={job_id}" in ingest_log.getMessage()
    status_log = next(r for r in requests if r.path == "/api/v1/status/missing")
    assert (status_log.status, status_log.levelno) == (404, logging.WARNING)


def test_a_failing_component_is_named_in_the_log(tmp_path, caplog):
    settings = make_settings(tmp_path)
    settings.stream_path.mkdir(parents=True)
    with caplog.at_level(logging.INFO, logger="eventlake"), TestClient(create_app(settings)) as client:
        client.post("/api/v1/ingest?dataset=events", content=b"{}", headers={**AUTH, "Content-Type": "application/json"})
    assert any(getattr(r, "component", None) == "stream" and r.levelno >= logging.ERROR for r in caplog.records)


def test_worker_processes_rebuild_the_settings_they_were_given(tmp_path, monkeypatch):
    # `python -m api.main` with several workers: each worker builds its app from the environment
    from api.main import settings_environment, worker_count
    from eventlake.settings import Settings

    given = make_settings(tmp_path, api_workers=3, stream_shares_job_db=False, api_unpublished_seconds=2.5)
    for name, value in settings_environment(given).items():
        monkeypatch.setenv(name, value)
    rebuilt = Settings(_env_file=None)
    assert rebuilt.model_dump() == given.model_dump()
    assert worker_count(rebuilt) == 3
    assert 1 <= worker_count(make_settings(tmp_path, api_workers=0)) <= 4  # one per core, at most 4
