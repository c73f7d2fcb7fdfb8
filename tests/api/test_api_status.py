"""GET /api/v1/status/{job_id}."""

from __future__ import annotations

import json
from datetime import datetime

from hypothesis import HealthCheck, given, settings as hyp_settings
from hypothesis import strategies as st

from .conftest import AUTH, assert_error_shape

STATUS_FIELDS = {
    "job_id", "dataset", "status", "created_at", "updated_at", "record_count", "accepted_count",
    "rejected_count", "duplicate_count", "snapshot_id", "error_message",
}


def ingest(client, dataset: str, n: int) -> str:
    rows = [{"product_id": f"p{i}", "user_id": f"u{i}", "updated_at": "2025-01-01T00:00:00Z"} for i in range(n)]
    response = client.post(
        f"/api/v1/ingest?dataset={dataset}", content=json.dumps(rows), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def test_unknown_job_is_404(client):
    body = assert_error_shape(client.get("/api/v1/status/does-not-exist", headers=AUTH), 404)
    assert body["details"] == [{"job_id": "does-not-exist"}]


# Property 3: Job status lookup returns status
@hyp_settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dataset=st.sampled_from(["events", "users", "products"]), n=st.integers(1, 40), progress=st.data())
def test_property_status_of_every_created_job(client, job_store, dataset, n, progress):
    job_id = ingest(client, dataset, n)
    status = client.get(f"/api/v1/status/{job_id}", headers=AUTH)
    assert status.status_code == 200
    body = status.json()
    assert set(body) >= STATUS_FIELDS
    assert (body["job_id"], body["dataset"], body["status"], body["record_count"]) == (job_id, dataset, "PENDING", n)
    assert datetime.fromisoformat(body["created_at"]) <= datetime.fromisoformat(body["updated_at"])

    # the consumer (another process, its own store handle) moves the job on: the API reports it
    job = job_store.get(job_id)
    job_store.mark_processing(job_id)
    assert client.get(f"/api/v1/status/{job_id}", headers=AUTH).json()["status"] == "PROCESSING"
    accepted = progress.draw(st.integers(0, n), label="accepted")
    rejected = n - accepted
    for part in range(job.parts):
        share = (accepted if part == 0 else 0, rejected if part == 0 else 0)
        job_store.record_chunk(job_id, part, share[0], share[1], 0, snapshot_id=1000 + part)
    body = client.get(f"/api/v1/status/{job_id}", headers=AUTH).json()
    assert body["status"] == "COMPLETED"
    assert (body["accepted_count"], body["rejected_count"], body["duplicate_count"]) == (accepted, rejected, 0)
    assert body["snapshot_id"] == 1000 + job.parts - 1 and body["error_message"] is None
