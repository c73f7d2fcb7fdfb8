"""`eventlake demo --env PROD`'s parts that need no running stack: the PROD settings it hands its processes,
the backends it names, the events it reconciles, and its error when moto or fakesnow is missing.

The demo itself, end to end against moto_server and a fakesnow server, is tests/e2e/test_demo_prod.py.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from rich.console import Console

from eventlake import demo, peers
from eventlake.settings import Settings

MOTO = "http://127.0.0.1:5999"


def _prod(tmp_path, **user) -> Settings:
    return peers.prod_settings(Settings(home=tmp_path / "home", **user), moto_url=MOTO, snowflake_host="127.0.0.1",
                               snowflake_port=6001, stream_name="eventlake-demo-x")


def test_the_prod_settings_point_every_hop_at_the_peers_and_keep_the_rest(tmp_path):
    user = Settings(home=tmp_path / "home", api_port=8123, job_db_url="postgresql+psycopg://u:pw@db:5432/jobs")
    prod = peers.prod_settings(user, moto_url=MOTO, snowflake_host="127.0.0.1", snowflake_port=6001)
    assert (prod.env, prod.stream, prod.catalog_type) == ("PROD", "kinesis", "glue")
    assert prod.kinesis_endpoint_url == prod.glue_endpoint_url == prod.s3_endpoint_url == MOTO
    assert prod.warehouse_location == f"s3://{peers.DEMO_BUCKET}/warehouse"
    assert (prod.snowflake_host, prod.snowflake_port, prod.snowflake_protocol) == ("127.0.0.1", 6001, "http")
    assert prod.snowflake_password.get_secret_value() == peers.FAKESNOW_LOGIN["password"]
    # a new stream per demo: the job store keeps the consumer's read positions per stream name
    assert prod.stream_name.startswith("eventlake-demo-") and prod.stream_name != user.stream_name
    # what the user chose stays: the job store (PostgreSQL here), the home, the ports
    assert (prod.job_db, prod.home, prod.api_port) == (user.job_db, user.home, 8123)


def test_the_child_processes_read_the_same_settings_from_the_environment(tmp_path, monkeypatch):
    prod = _prod(tmp_path)
    environ = peers.settings_environ(prod)
    assert set(environ) == {f"EVENTLAKE_{name.upper()}" for name in peers.PROD_FIELDS}
    for name in [n for n in list(__import__("os").environ) if n.startswith("EVENTLAKE_")]:
        monkeypatch.delenv(name)
    for name, value in {**environ, "EVENTLAKE_HOME": str(prod.home)}.items():
        monkeypatch.setenv(name, value)
    read = Settings()
    assert {n: getattr(read, n) for n in peers.PROD_FIELDS} == {n: getattr(prod, n) for n in peers.PROD_FIELDS}


def test_moto_gets_test_credentials_never_the_users(monkeypatch):
    env = peers.aws_environ({"AWS_PROFILE": "work", "AWS_SESSION_TOKEN": "t", "AWS_ACCESS_KEY_ID": "AKIA-real", "PATH": "/bin"})
    assert env == {"PATH": "/bin", **peers.AWS_TEST_CREDENTIALS}


def test_the_backends_of_each_hop_are_named(tmp_path):
    local = dict(demo.backends(Settings(home=tmp_path / "home"), tmp_path / "home" / "dagster"))
    assert local["ingestion stream"].startswith("embedded log, SQLite ")
    assert local["job store"] == f"SQLite {tmp_path / 'home' / 'jobs.db'}"
    assert local["Iceberg catalog"] == f"SQL catalog, SQLite {tmp_path / 'home' / 'catalog.db'}"
    assert local["dbt target LOCAL"] == f"DuckDB {tmp_path / 'home' / 'warehouse.duckdb'}"
    assert local["Dagster storage"] == f"SQLite under {tmp_path / 'home' / 'dagster'}"
    assert not any("Snowflake" in hop for hop in local)

    prod = _prod(tmp_path, job_db_url="postgresql+psycopg://app:s3cret@db:5432/jobs")
    names = {MOTO: "moto_server", "http://127.0.0.1:6001": "fakesnow server"}
    rows = demo.backends(prod, tmp_path / "home" / "dagster", names)
    hops = dict(rows)
    assert hops["ingestion stream"] == f"Kinesis stream eventlake-demo-x (2 shards) at {MOTO} (moto_server)"
    assert hops["Iceberg catalog"] == f"Glue database raw at {MOTO} (moto_server)"
    assert hops["Iceberg data files"] == f"s3://{peers.DEMO_BUCKET}/warehouse at {MOTO} (moto_server)"
    assert hops["dbt target PROD"] == "Snowflake database EVENTLAKE at http://127.0.0.1:6001 (fakesnow server)"
    assert "EVENTLAKE.RAW" in hops["Iceberg -> Snowflake RAW"]
    assert hops["job store"].startswith("PostgreSQL ") and "s3cret" not in hops["job store"]
    # in pipeline order: the stream first, Snowflake after the lake
    order = [hop for hop, _ in rows]
    assert order.index("ingestion stream") < order.index("Iceberg catalog") < order.index("dbt target PROD")


def test_a_dagster_instance_on_postgresql_is_named(tmp_path):
    (tmp_path / "dagster.yaml").write_text("storage:\n  postgres:\n    postgres_url: postgresql://x@db/dagster\n")
    assert demo._dagster_storage(tmp_path).startswith("PostgreSQL")


def _job(dataset: str, received: int, accepted: int, rejected: int, duplicates: int):
    return SimpleNamespace(dataset=dataset, status="COMPLETED", record_count=received, accepted_count=accepted,
                           rejected_count=rejected, duplicate_count=duplicates)


COUNTS = {"raw.events": 282, "snowflake_raw.events": 282, "staging.stg_events": 282, "marts.fact_events": 282,
          "raw.users": 20}


def test_the_events_reconcile_from_the_posts_to_fact_events():
    jobs = [_job("events", 300, 282, 9, 9), _job("users", 20, 20, 0, 0)]
    rec = demo.reconcile_events(jobs, COUNTS)
    assert rec.reconciled
    assert rec.line() == (
        "events reconciled: POSTed 300 = accepted 282 + rejected (invalid) 9 + duplicates 9; accepted 282 = "
        "raw.events (Iceberg on S3) 282 = snowflake_raw.events (Snowflake RAW.EVENTS) 282 = "
        "staging.stg_events (Snowflake) 282 = marts.fact_events (Snowflake) 282")

    lost = demo.reconcile_events(jobs, {**COUNTS, "marts.fact_events": 281})
    assert not lost.reconciled and lost.line().startswith("events do NOT reconcile:")
    assert not demo.reconcile_events(jobs, {k: v for k, v in COUNTS.items() if k != "snowflake_raw.events"}).reconciled


def test_a_summary_whose_events_do_not_reconcile_fails_the_demo(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(demo, "console", Console(file=out, width=400, color_system=None))
    jobs = [_job("events", 300, 282, 9, 9)]
    checks = {"marts_suite": {"asset": "fact_events", "success": True, "successful": 9, "evaluated": 9}}
    assert demo.render_summary(jobs, COUNTS, checks, [("logs", "x")],
                               reconciliation=demo.reconcile_events(jobs, COUNTS))
    bad = {**COUNTS, "snowflake_raw.events": 0}
    assert not demo.render_summary(jobs, bad, checks, [("logs", "x")], reconciliation=demo.reconcile_events(jobs, bad))
    text = out.getvalue()
    assert "events reconciled:" in text and "events do NOT reconcile:" in text
    # Snowflake's RAW copy sits between the raw Iceberg tables and staging
    assert text.index("snowflake_raw.events") < text.index("staging.stg_events")
    assert text.index("raw.users") < text.index("snowflake_raw.events")


def test_without_moto_or_fakesnow_the_prod_demo_says_how_to_install_them(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(demo, "console", Console(file=out, width=400, color_system=None))
    monkeypatch.setattr(peers, "moto_server_path", lambda: None)
    with pytest.raises(peers.PeersMissing) as raised:
        peers.require()
    assert "moto_server (moto[server])" in str(raised.value) and "make setup" in str(raised.value)
    assert demo.run_demo(once=True, env="PROD") == 2
    assert "make setup" in out.getvalue() and "moto[server]" in out.getvalue()


def test_a_prod_transform_counts_the_models_and_names_the_loader_step_running():
    """In PROD the run's plan also holds the Snowflake RAW loaders (steps, outputs "result", asset keys):
    they are steps, not models."""
    plan = {"steps": [{"key": f"snowflake_raw_{d}", "outputs": [{"name": "result"}]} for d in ("events", "users")]
            + [{"key": "dbt_staging", "outputs": [{"name": "stg_events"}, {"name": "stg_users"}]}],
            "assetKeys": [{"path": [n]} for n in ("snowflake_raw_events", "snowflake_raw_users", "stg_events",
                                                   "stg_users")]}
    run = {"runId": "0badcafe-1", "status": "STARTED", "executionPlan": plan, "stepStats": [
        {"stepKey": "snowflake_raw_events", "status": "SUCCESS",
         "materializations": [{"assetKey": {"path": ["snowflake_raw_events"]}}]},
        {"stepKey": "snowflake_raw_users", "status": "IN_PROGRESS", "materializations": []}]}
    progress = demo.transform_progress(run)
    assert (progress.done, progress.total) == (0, 2)
    assert progress.description == "transform_job run 0badcafe: 0/2 models, step 2/3 running snowflake_raw_users"
