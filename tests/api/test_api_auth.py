"""The authentication rule: every /api/v1 endpoint needs X-API-Key except health and metrics;
the documentation needs none. Checked over every route the app has, so a new route cannot
slip through unprotected (or be protected by accident)."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from api.main import create_app

from .conftest import AUTH, assert_error_shape, make_settings

#: The routes anyone may call, by (method, path).
PUBLIC = {("GET", "/api/v1/health"), ("GET", "/api/v1/metrics"), ("GET", "/metrics")}


def api_routes() -> list[tuple[str, str]]:
    app = create_app(make_settings("/nonexistent"))
    return sorted(
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in route.methods
    )


ROUTES = api_routes()
PROTECTED = [r for r in ROUTES if r not in PUBLIC]


def test_the_rule_covers_every_route():
    assert PUBLIC <= set(ROUTES)
    assert set(PROTECTED) == {
        ("POST", "/api/v1/ingest"),
        ("GET", "/api/v1/status/{job_id}"),
        ("GET", "/api/v1/jobs/{job_id}/rejected"),
        ("POST", "/api/v1/trigger/{pipeline}"),
        ("GET", "/api/v1/tables/{name}/snapshots"),
        ("GET", "/api/v1/tables/{name}/snapshots/{snapshot_id}"),
    }


def _url(path: str) -> str:
    return (path.replace("{job_id}", "some-job").replace("{pipeline}", "transform_job")
            .replace("{name}", "raw.events").replace("{snapshot_id}", "1"))


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    ("headers", "error"), [({}, "missing API key"), ({"X-API-Key": "wrong"}, "invalid API key")], ids=["no-key", "wrong-key"]
)
def test_protected_routes_answer_401_in_the_error_shape(client, method, path, headers, error):
    response = client.request(method, _url(path), headers={**headers, "Content-Type": "application/json"}, content=b"{}")
    body = assert_error_shape(response, 401)
    assert body["error"] == error and body["details"][0]["header"] == "X-API-Key"


@pytest.mark.parametrize(("method", "path"), [r for r in PROTECTED if r[0] == "GET"])
def test_protected_reads_pass_the_key_check_with_a_key(client, method, path):
    # past the key check: the unknown job (or the table without data) is what stops them
    error = "table not found" if "/tables/" in path else "job not found"
    assert assert_error_shape(client.request(method, _url(path), headers=AUTH), 404)["error"] == error


@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/metrics", "/docs", "/redoc", "/openapi.json"])
def test_public_routes_need_no_key(client, path):
    assert client.get(path).status_code == 200


def test_openapi_declares_the_key_exactly_on_the_protected_routes(client):
    schema = client.get("/openapi.json").json()
    scheme = schema["components"]["securitySchemes"]["APIKeyHeader"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    for method, path in ROUTES:
        operation = schema["paths"][path][method.lower()]
        if (method, path) in PUBLIC:
            assert "security" not in operation, path
        else:
            assert operation["security"] == [{"APIKeyHeader": []}], path
            assert "401" in operation["responses"], path
