"""End to end, in one process: API -> stream -> Dagster raw_ingest_job (consumer drain, Iceberg IO
manager, raw asset check) -> transform_job (dbt + GX) -> fact_events.

Property 43: End-to-end pipeline correctness.
"""

from __future__ import annotations

import json
import os

import duckdb
import orjson
import pytest
from fastapi.testclient import TestClient

from eventlake.generate import generate, to_csv, to_ndjson

pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def settings(eventlake_home):
    from eventlake.settings import get_settings

    return get_settings()


def _post(client, dataset, body, ctype):
    resp = client.post("/api/v1/ingest", params={"dataset": dataset}, content=body,
                       headers={"X-API-Key": "test-key", "Content-Type": ctype})
    assert resp.status_code == 202, resp.text
    return resp.json()


def _row_counts(result) -> dict[str, int]:
    """dagster/row_count of each asset the run materialized."""
    return {
        mat.asset_key.to_user_string(): mat.metadata["dagster/row_count"].value
        for mat in (e.event_specific_data.materialization for e in result.all_events if e.is_step_materialization)
    }


def test_post_ingest_transform(settings):
    # Property 43: End-to-end pipeline correctness
    from dagster import DagsterInstance

    from api.main import create_app
    from eventlake import lake
    from eventlake.consumer import Consumer
    from eventlake.definitions import build_definitions
    from eventlake.state.ingestion_jobs import IngestionJobStore

    data = generate(events=600, users=40, products=10, invalid_rate=0.05, duplicate_rate=0.05, seed=11)
    assert data.invalid_count > 0 and data.duplicate_count > 0

    # 1. POST through the real app: users as a JSON array, products as CSV, events as NDJSON
    with TestClient(create_app(settings)) as client:
        users_job = _post(client, "users", orjson.dumps(data.users), "application/json")
        products_job = _post(client, "products", to_csv(data.products, ["product_id", "product_name", "category", "price"]), "text/csv")
        events_job = _post(client, "events", to_ndjson(data.events), "application/x-ndjson")
        assert events_job["status"] == "PENDING"
        assert events_job["record_count"] == len(data.events)

        # 2. the records wait in the stream: nothing is in Iceberg until the raw assets run
        tables = lake.ensure_tables(lake.load_catalog(settings))
        assert tables["events"].scan().to_arrow().num_rows == 0

        # 3. raw_ingest_job drains the stream through the raw assets and the Iceberg IO manager
        defs = build_definitions("LOCAL", home=str(settings.home))
        instance = DagsterInstance.ephemeral()
        raw = defs.resolve_job_def("raw_ingest_job").execute_in_process(instance=instance)
        assert raw.success

        status = client.get(f"/api/v1/status/{events_job['job_id']}", headers={"X-API-Key": "test-key"}).json()
    assert status["status"] == "COMPLETED", status
    accepted = status["accepted_count"]
    assert accepted == len(data.expected_event_ids)
    assert status["duplicate_count"] == data.duplicate_count
    assert status["rejected_count"] == data.invalid_count  # duplicates are counted once, in duplicate_count
    assert accepted + status["rejected_count"] + status["duplicate_count"] == status["record_count"]
    store = IngestionJobStore(settings.job_db)
    for job in (users_job, products_job):
        assert str(store.get(job["job_id"]).status) == "COMPLETED"

    # each raw asset's materialization records the table it committed
    expected_rows = {"raw_events": accepted, "raw_users": len(data.users), "raw_products": len(data.products)}
    assert _row_counts(raw) == expected_rows
    (contract,) = raw.get_asset_check_evaluations()
    assert (contract.check_name, contract.passed) == ("raw_events_contract", True)
    assert contract.metadata["rows"].value == accepted

    # 4. Iceberg row counts equal the accepted counts; rejected records carry their violations
    for table in tables.values():
        table.refresh()
    events = tables["events"].scan().to_arrow()
    assert events.num_rows == accepted
    assert set(events["event_id"].to_pylist()) == data.expected_event_ids
    assert set(events["job_id"].to_pylist()) == {events_job["job_id"]}
    assert tables["users"].scan().to_arrow().num_rows == len(data.users)
    assert tables["products"].scan().to_arrow().num_rows == len(data.products)
    rejected = tables["rejected_records"].scan().to_arrow().to_pylist()
    event_rejects = [r for r in rejected if r["job_id"] == events_job["job_id"]]
    assert len(event_rejects) == data.invalid_count + data.duplicate_count
    rules = [v["rule"] for r in event_rejects for v in json.loads(r["violations"])]
    assert rules.count("duplicate") == data.duplicate_count
    invalid = [r for r in event_rejects if all(v["rule"] != "duplicate" for v in json.loads(r["violations"]))]
    assert len(invalid) == data.invalid_count
    for r in invalid:
        violations = json.loads(r["violations"])
        assert violations and all(v["rule"] and v["message"] for v in violations)
        assert r["raw"], "the rejected record keeps its original text"

    # the stream holds nothing more: a later drain commits nothing twice
    # (a second raw_ingest_job run is covered by tests/consumer/test_raw_assets.py)
    Consumer(settings).drain()
    tables["events"].refresh()
    assert tables["events"].scan().to_arrow().num_rows == accepted

    # 5. materialize the dbt assets and their GX checks in-process
    result = defs.resolve_job_def("transform_job").execute_in_process(instance=instance)
    assert result.success
    checks = result.get_asset_check_evaluations()
    gx = [c for c in checks if c.check_name.startswith("gx_")]
    assert {c.check_name for c in gx} >= {"gx_staging_suite", "gx_intermediate_suite", "gx_marts_suite"}
    failed = [(c.asset_key.to_user_string(), c.check_name) for c in checks if not c.passed]
    assert not failed, failed

    # 6. fact_events holds exactly the accepted, deduplicated events of the job
    with duckdb.connect(str(settings.duckdb_file), read_only=True) as conn:
        n = conn.execute("select count(*) from marts.fact_events where job_id = ?", [events_job["job_id"]]).fetchone()[0]
        ids = {r[0] for r in conn.execute("select event_id from marts.fact_events").fetchall()}
    assert n == accepted
    assert ids == data.expected_event_ids
    # running dbt in process must not leave this home's paths in the environment
    assert "EVENTLAKE_CATALOG_URI" not in os.environ
