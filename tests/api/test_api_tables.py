"""GET /api/v1/tables/{name}/snapshots[/{snapshot_id}] on a lake the real consumer filled (two jobs,
two snapshots of raw.events), and a job's status linking to its snapshot."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from eventlake import checkpoints, time_travel
from tests.test_time_travel import Lake, build_lake, events_table

from .conftest import AUTH, assert_error_shape, make_settings


@pytest.fixture(scope="module")
def lake_home(tmp_path_factory) -> Lake:
    return build_lake(tmp_path_factory.mktemp("api_tables") / "home")


def client_for(lk: Lake):
    return TestClient(create_app(make_settings(lk.settings.home)))


@pytest.fixture(scope="module")
def api(lake_home):
    with client_for(lake_home) as c:
        yield c


def test_snapshots_lists_the_history_with_positions_job_ids_and_counts(api, lake_home):
    lk = lake_home
    response = api.get("/api/v1/tables/raw.events/snapshots", headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["table"], body["current_snapshot_id"]) == ("raw.events", lk.second)
    first, second = body["snapshots"]
    assert (first["snapshot_id"], second["snapshot_id"], second["parent_id"]) == (lk.first, lk.second, lk.first)
    assert (first["job_ids"], second["job_ids"]) == ([lk.job_a], [lk.job_b])
    assert (first["added_records"], first["total_records"], second["added_records"], second["total_records"]) == (5, 5, 3, 8)
    assert second["positions"] == checkpoints.read_checkpoints(events_table(lk.settings))
    assert (first["current"], second["current"]) == (False, True)
    assert first["in_current_lineage"] and second["in_current_lineage"]
    assert second["url"] == f"/api/v1/tables/raw.events/snapshots/{lk.second}"
    assert second["operation"] == "append" and second["timestamp"].startswith(str(lk.between.year))


def test_snapshots_options_and_the_short_name(api, lake_home):
    newest = api.get("/api/v1/tables/events/snapshots", params={"limit": 1, "jobs": "false"}, headers=AUTH).json()
    assert newest["table"] == "raw.events"
    assert [s["snapshot_id"] for s in newest["snapshots"]] == [lake_home.second]
    assert newest["snapshots"][0]["job_ids"] is None
    assert_error_shape(api.get("/api/v1/tables/raw.events/snapshots", params={"limit": 0}, headers=AUTH), 400)


def test_rejected_records_table_has_its_snapshots_too(api, lake_home):
    body = api.get("/api/v1/tables/raw.rejected_records/snapshots", headers=AUTH).json()
    assert body["table"] == "raw.rejected_records"
    assert [s["job_ids"] for s in body["snapshots"]] == [[lake_home.job_b]]  # job A had nothing rejected
    assert set(body["snapshots"][0]["positions"]) == {"events"}


def test_a_jobs_status_links_to_its_snapshot(api, lake_home):
    status = api.get(f"/api/v1/status/{lake_home.job_b}", headers=AUTH).json()
    assert status["snapshot_id"] == lake_home.second
    assert status["snapshot_url"] == f"/api/v1/tables/raw.events/snapshots/{lake_home.second}"
    snapshot = api.get(status["snapshot_url"], headers=AUTH)
    assert snapshot.status_code == 200, snapshot.text
    assert snapshot.json()["snapshot_id"] == lake_home.second and lake_home.job_b in snapshot.json()["job_ids"]


def test_a_job_not_committed_yet_has_no_snapshot_url(api):
    posted = api.post("/api/v1/ingest?dataset=events", headers={**AUTH, "Content-Type": "application/json"},
                      content=b'[{"event_id": "z", "user_id": "u", "event_type": "view", "event_timestamp": "2026-01-01T00:00:00Z"}]')
    status = api.get(f"/api/v1/status/{posted.json()['job_id']}", headers=AUTH).json()
    assert (status["snapshot_id"], status["snapshot_url"]) == (None, None)


def test_unknown_table_and_snapshot_are_404_in_the_error_shape(api, lake_home):
    body = assert_error_shape(api.get("/api/v1/tables/raw.nope/snapshots", headers=AUTH), 404)
    assert body["error"] == "table not found" and body["details"][0]["table"] == "raw.nope"
    assert "raw.events" in body["details"][0]["tables"]
    body = assert_error_shape(api.get("/api/v1/tables/raw.events/snapshots/123", headers=AUTH), 404)
    assert body == {"error": "snapshot not found", "details": [{"table": "raw.events", "snapshot_id": 123}]}


def test_a_table_before_any_ingest_is_404(tmp_path):
    with TestClient(create_app(make_settings(tmp_path / "empty"))) as c:
        body = assert_error_shape(c.get("/api/v1/tables/raw.users/snapshots", headers=AUTH), 404)
        assert body["error"] == "table not found"


@pytest.mark.parametrize("path", ["/api/v1/tables/raw.events/snapshots", "/api/v1/tables/raw.events/snapshots/1"])
def test_the_key_is_required(api, path):
    assert assert_error_shape(api.get(path), 401)["error"] == "missing API key"
    assert assert_error_shape(api.get(path, headers={"X-API-Key": "wrong"}), 401)["error"] == "invalid API key"


def test_a_snapshot_undone_by_a_rollback_stays_reachable_and_says_so(tmp_path):
    lk = build_lake(tmp_path / "home")
    table = events_table(lk.settings)
    time_travel.rollback(lk.settings, table, time_travel.plan_rollback(lk.settings, table, lk.first))
    with client_for(lk) as c:
        body = c.get("/api/v1/tables/raw.events/snapshots", headers=AUTH).json()
        assert body["current_snapshot_id"] == lk.first
        undone = c.get(f"/api/v1/tables/raw.events/snapshots/{lk.second}", headers=AUTH).json()
        assert (undone["in_current_lineage"], undone["current"]) == (False, False)
        assert undone["job_ids"] == [lk.job_b]
