"""PROD end to end, against real protocol peers on this machine: POST -> Kinesis -> consumer -> Iceberg
on S3 with the Glue catalog (moto_server) -> Snowflake RAW (the snowflake_raw_* loaders) -> dbt PROD
(staging, intermediate, marts) -> Great Expectations checks on the Snowflake marts -> the dashboard's
read of the marts through the warehouse resource (a fakesnow server). The job store and the Dagster
instance's storage are PostgreSQL (127.0.0.1:5432): without it the test is skipped, saying so.

Counts reconcile at every hop: accepted = Iceberg rows = RAW rows = fact_events rows; a second load
after more POSTs copies only the new rows (exactly once).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import orjson
import pytest
from fastapi.testclient import TestClient

from eventlake import peers
from eventlake.generate import generate, to_csv, to_ndjson
from tests.conftest import postgres_database
from tests.moto_server import fake_aws_credentials, moto_url  # noqa: F401 - fixtures
from tests.resources.fakesnow_server import fakesnow_server, snowflake_env

pytestmark = [
    pytest.mark.timeout(1200),
    pytest.mark.usefixtures("fake_aws_credentials"),
    pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning"),
    pytest.mark.filterwarnings("ignore:The 'insecure_mode' connection property is deprecated:DeprecationWarning"),
]

pytest.importorskip("fakesnow")


@pytest.fixture
def job_db() -> Iterator[str]:
    with postgres_database("eventlake_prod_jobs") as url:
        yield url


@pytest.fixture
def dagster_db() -> Iterator[str]:
    with postgres_database("eventlake_prod_dagster") as url:
        yield url


@pytest.fixture
def snowflake_server(monkeypatch) -> Iterator[dict[str, Any]]:
    import fakesnow.arrow

    # fakesnow 0.12 sends a null timestamp as 1970-01-01: keep the nulls, as the demo's fakesnow server does
    monkeypatch.setattr(
        fakesnow.arrow, "timestamp_to_sf_struct", peers.timestamps_keeping_nulls(fakesnow.arrow.timestamp_to_sf_struct)
    )
    with fakesnow_server() as kwargs:
        yield kwargs


@pytest.fixture
def prod_settings(tmp_path, monkeypatch, moto_url, job_db, snowflake_server):  # noqa: F811 - moto_url is a fixture
    """EVENTLAKE_ENV=PROD with every backend a real peer: the process environment, as a deployment sets it."""
    from eventlake.settings import get_settings

    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1").create_bucket(Bucket=bucket)
    database = f"EVENTLAKE_{uuid.uuid4().hex[:8].upper()}"  # fakesnow's databases are shared per process
    for name in list(__import__("os").environ):
        if name.startswith("EVENTLAKE_"):
            monkeypatch.delenv(name)
    env = {
        "EVENTLAKE_HOME": str(tmp_path / "home"),
        "EVENTLAKE_ENV": "PROD",
        "EVENTLAKE_API_KEYS": "test-key",
        "EVENTLAKE_JOB_DB_URL": job_db,
        "EVENTLAKE_STREAM": "kinesis",
        "EVENTLAKE_STREAM_NAME": f"eventlake-{uuid.uuid4().hex[:8]}",
        "EVENTLAKE_KINESIS_ENDPOINT_URL": moto_url,
        "EVENTLAKE_CATALOG_TYPE": "glue",
        "EVENTLAKE_GLUE_ENDPOINT_URL": moto_url,
        "EVENTLAKE_WAREHOUSE": f"s3://{bucket}/warehouse",
        "EVENTLAKE_S3_ENDPOINT_URL": moto_url,
        "EVENTLAKE_AWS_REGION": "us-east-1",
        **snowflake_env(snowflake_server, database),
        "EVENTLAKE_DBT_THREADS": "2",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.env == "PROD"
    import snowflake.connector

    with snowflake.connector.connect(**snowflake_server) as conn:
        conn.cursor().execute(f"create database {database}")
    yield settings
    get_settings.cache_clear()


@pytest.fixture
def instance(tmp_path, dagster_db):
    """A DagsterInstance whose run, event log and schedule storage is PostgreSQL (dagster-postgres)."""
    from dagster import DagsterInstance

    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    # dagster-postgres binds NOTIFY parameters client-side: psycopg2, not psycopg 3 (SQLAlchemy 2.1's default)
    url = dagster_db.replace("postgresql+psycopg://", "postgresql+psycopg2://")
    (dagster_home / "dagster.yaml").write_text(
        f"storage:\n  postgres:\n    postgres_url: {url}\ntelemetry:\n  enabled: false\n"
    )
    with DagsterInstance.from_config(str(dagster_home)) as inst:
        yield inst


def _post(client, dataset: str, body: bytes, ctype: str) -> dict:
    resp = client.post("/api/v1/ingest", params={"dataset": dataset}, content=body,
                       headers={"X-API-Key": "test-key", "Content-Type": ctype})
    assert resp.status_code == 202, resp.text
    return resp.json()


def _status(client, job_id: str) -> dict:
    return client.get(f"/api/v1/status/{job_id}", headers={"X-API-Key": "test-key"}).json()


def _snowflake_count(warehouse, relation: str) -> int:
    return int(warehouse.query_df(f"select count(*) as n from {relation}").iloc[0, 0])


def _materializations(result) -> dict[str, dict[str, Any]]:
    return {
        mat.asset_key.to_user_string(): {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        for mat in (e.event_specific_data.materialization for e in result.all_events if e.is_step_materialization)
    }


def test_prod_post_to_snowflake_marts(prod_settings, instance):
    # Property 43: End-to-end pipeline correctness, on the PROD backends
    from api.main import create_app
    from eventlake import lake
    from eventlake.consumer import Consumer
    from eventlake.definitions import build_definitions
    from eventlake.resources.warehouse import SnowflakeWarehouse, explore_marts

    settings = prod_settings
    data = generate(events=400, users=30, products=10, invalid_rate=0.05, duplicate_rate=0.05, seed=21)
    assert data.invalid_count > 0 and data.duplicate_count > 0
    more = generate(events=120, users=30, products=10, invalid_rate=0.05, duplicate_rate=0.05, seed=22)

    defs = build_definitions("PROD")
    warehouse = defs.resources["warehouse"]
    assert isinstance(warehouse, SnowflakeWarehouse)
    db = settings.snowflake_database

    with TestClient(create_app(settings)) as client:
        # 1. POST (JSON, CSV, NDJSON) onto Kinesis; the job store is PostgreSQL
        users_job = _post(client, "users", orjson.dumps(data.users), "application/json")
        products_job = _post(client, "products", to_csv(data.products, ["product_id", "product_name", "category", "price"]), "text/csv")
        events_job = _post(client, "events", to_ndjson(data.events), "application/x-ndjson")

        # 2. raw_ingest_job: the raw assets drain Kinesis through the real consumer into Iceberg (S3 + Glue)
        raw = defs.resolve_job_def("raw_ingest_job").execute_in_process(instance=instance)
        assert raw.success
        status = _status(client, events_job["job_id"])
        assert status["status"] == "COMPLETED", status
        accepted = status["accepted_count"]
        assert accepted == len(data.expected_event_ids)
        assert status["rejected_count"] == data.invalid_count
        assert status["duplicate_count"] == data.duplicate_count
        assert accepted + status["rejected_count"] + status["duplicate_count"] == status["record_count"] == len(data.events)
        for job in (users_job, products_job):
            assert _status(client, job["job_id"])["status"] == "COMPLETED"

        catalog = lake.load_catalog(settings)
        assert type(catalog).__name__ == "GlueCatalog"
        tables = lake.ensure_tables(catalog)
        assert tables["events"].metadata.location.startswith("s3://")
        iceberg = {name: tables[name].scan().to_arrow().num_rows for name in ("events", "users", "products")}
        assert iceberg == {"events": accepted, "users": len(data.users), "products": len(data.products)}

        # 3. snowflake_load_job: every raw row into <database>.RAW, the snapshot recorded
        load = defs.resolve_job_def("snowflake_load_job").execute_in_process(instance=instance)
        assert load.success
        mats = _materializations(load)
        assert {k: v["rows_loaded"] for k, v in mats.items()} == {f"snowflake_raw_{n}": iceberg[n] for n in iceberg}
        raw_counts = {n: _snowflake_count(warehouse, f"{db}.RAW.{n.upper()}") for n in iceberg}
        assert raw_counts == iceberg
        for name in iceberg:
            tables[name].refresh()
            assert mats[f"snowflake_raw_{name}"]["snapshot_id"] == str(tables[name].metadata.current_snapshot().snapshot_id)

        # 4. transform_job: dbt PROD (staging, intermediate, marts) on Snowflake, then the GX checks there
        transform = defs.resolve_job_def("transform_job").execute_in_process(instance=instance)
        assert transform.success
        checks = transform.get_asset_check_evaluations()
        gx = {c.check_name for c in checks if c.check_name.startswith("gx_")}
        assert gx >= {"gx_staging_suite", "gx_intermediate_suite", "gx_marts_suite"}
        failed = [(c.asset_key.to_user_string(), c.check_name) for c in checks if not c.passed]
        assert not failed, failed
        # each GX check's Data Docs page, and the site's index linking it, are objects in the bucket (moto S3)
        assert settings.gx_root.startswith("s3://")
        bucket = settings.gx_root.removeprefix("s3://").split("/")[0]
        s3, site = boto3.client("s3", endpoint_url=settings.s3_endpoint_url), f"{settings.s3_endpoint_url}/{bucket}/"
        docs = {c.check_name: {k: c.metadata[k].value for k in ("data_docs", "data_docs_index") if k in c.metadata}
                for c in checks if c.check_name in gx}
        assert {d.get("data_docs_index") for d in docs.values()} == {f"{site}gx/data_docs/index.html"}, docs
        index = s3.get_object(Bucket=bucket, Key="gx/data_docs/index.html")["Body"].read().decode()
        for name, urls in docs.items():
            assert s3.head_object(Bucket=bucket, Key=urls["data_docs"][len(site):]), name
            assert urls["data_docs"].removeprefix(f"{site}gx/data_docs/") in index, name
        assert _snowflake_count(warehouse, f"{db}.MARTS.FACT_EVENTS") == accepted
        ids = set(warehouse.query_df(f"select event_id from {db}.MARTS.FACT_EVENTS").iloc[:, 0])
        assert ids == data.expected_event_ids

        # 5. the dashboard's read of the marts, through the warehouse resource
        view = explore_marts(warehouse, limit=10)
        assert view["total"] == accepted
        assert int(view["by_type"]["events"].sum()) == accepted
        assert len(view["rows"]) == 10 and view["rows"]["user_name"].notna().all()

        # 6. more POSTs, drained by a consumer process's loop (`eventlake consume --once`), loaded once
        more_job = _post(client, "events", to_ndjson(more.events), "application/x-ndjson")
        consumer = Consumer(settings)
        try:
            consumer.drain()
        finally:
            consumer.close()
        more_status = _status(client, more_job["job_id"])
        assert more_status["status"] == "COMPLETED", more_status
        more_accepted = more_status["accepted_count"]
        assert more_accepted == len(more.expected_event_ids)

    again = defs.resolve_job_def("snowflake_load_job").execute_in_process(instance=instance)
    assert again.success
    mats = _materializations(again)
    assert {k: v["rows_loaded"] for k, v in mats.items()} == {
        "snowflake_raw_events": more_accepted, "snowflake_raw_users": 0, "snowflake_raw_products": 0,
    }
    assert _snowflake_count(warehouse, f"{db}.RAW.EVENTS") == accepted + more_accepted
    # a third load with nothing new copies nothing
    idle = defs.resolve_job_def("snowflake_load_job").execute_in_process(instance=instance)
    assert {k: v["rows_loaded"] for k, v in _materializations(idle).items()} == dict.fromkeys(mats, 0)
    assert _snowflake_count(warehouse, f"{db}.RAW.EVENTS") == accepted + more_accepted

    transform = defs.resolve_job_def("transform_job").execute_in_process(instance=instance)
    assert transform.success
    failed = [(c.asset_key.to_user_string(), c.check_name) for c in transform.get_asset_check_evaluations() if not c.passed]
    assert not failed, failed
    assert _snowflake_count(warehouse, f"{db}.MARTS.FACT_EVENTS") == accepted + more_accepted
    n_more = warehouse.query_df(f"select count(*) from {db}.MARTS.FACT_EVENTS where job_id = '{more_job['job_id']}'")
    assert int(n_more.iloc[0, 0]) == more_accepted

    # the runs are in the PostgreSQL run storage
    assert len(instance.get_runs()) == 6
