"""The Pipeline view's history charts (issue 11) and the Quality view's freshness checks, run with
Streamlit's AppTest against a home the real pipeline filled.

Once per module: two requests are published to the local stream exactly as the API does, the
consumer_lag_alert_sensor ticks (storing a lag sample per shard) while they wait, the real consumer
commits them to Iceberg (two commits of raw.events, one request with invalid records), the sensor
ticks again (lag 0), and a real Dagster instance under the home materializes fact_events and runs
the marts' freshness checks (dim_users and dim_products were never materialized).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from dagster import AssetSelection, Definitions, asset, build_sensor_context, define_asset_job
from streamlit.testing.v1 import AppTest

from eventlake import dashboard, lake, metrics_history
from eventlake.alerts import ShardLag
from eventlake.consumer import Consumer
from eventlake.dashboard import history
from eventlake.resources.core import EventlakeResource
from eventlake.sensors.alerts import consumer_lag_alert_sensor, marts_freshness_checks
from eventlake.settings import Settings
from eventlake.state.ingestion_jobs import IngestionJobStore
from tests.consumer.conftest import events, publish
from tests.dashboard.charts import title_of, vega_charts

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def _lag_tick(settings: Settings) -> None:
    context = build_sensor_context(
        definitions=Definitions(sensors=[consumer_lag_alert_sensor]),
        resources={"eventlake": EventlakeResource(home=str(settings.home))},
    )
    consumer_lag_alert_sensor.evaluate_tick(context)


def _drain(settings: Settings) -> None:
    consumer = Consumer(settings)
    try:
        consumer.drain()
    finally:
        consumer.close()


def _dagster(settings: Settings) -> None:
    """fact_events materialized, then the marts' freshness checks: fact_events fresh, the other two
    never materialized."""
    from dagster import DagsterInstance

    @asset(name="fact_events")
    def fact_events() -> None:
        return None

    @asset(name="dim_users")
    def dim_users() -> None:
        return None

    @asset(name="dim_products")
    def dim_products() -> None:
        return None

    checks = marts_freshness_checks(60.0)
    defs = Definitions(
        assets=[fact_events, dim_users, dim_products], asset_checks=list(checks),
        jobs=[define_asset_job("transform_job", selection=AssetSelection.assets("fact_events")),
              define_asset_job("freshness_job", selection=AssetSelection.checks(*checks))],
    )
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    (settings.dagster_home / "dagster.yaml").write_text("")
    with DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        assert defs.resolve_job_def("transform_job").execute_in_process(instance=instance).success
        defs.resolve_job_def("freshness_job").execute_in_process(instance=instance, raise_on_error=False)


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("history")
    settings = Settings(home=root / "home", stream_shards=1, consumer_lease_seconds=30)
    settings.ensure_home()
    with pytest.MonkeyPatch.context() as mp:  # the sensor's resource reads the environment
        mp.setenv("EVENTLAKE_STREAM_SHARDS", "1")
        publish(settings, "events", events(6, prefix="a-"), job_id="job-a")
        _lag_tick(settings)  # one stream record waiting
        _drain(settings)
        invalid = [{"event_id": "b-bad", "event_type": "view", "event_timestamp": "2026-03-01T10:00:00Z"}]
        publish(settings, "events", events(3, prefix="b-") + invalid, job_id="job-b")
        _drain(settings)
        _lag_tick(settings)  # drained
    _dagster(settings)
    return settings


@pytest.fixture
def app_env(filled, monkeypatch):
    monkeypatch.setenv("EVENTLAKE_HOME", str(filled.home))
    monkeypatch.setenv("EVENTLAKE_STREAM_SHARDS", "1")
    monkeypatch.setenv("EVENTLAKE_DBT_TARGET_DIR", str(filled.home / "no_target"))
    for var in ("EVENTLAKE_JOB_DB_URL", "EVENTLAKE_DUCKDB_PATH", "DAGSTER_HOME", "EVENTLAKE_ENV"):
        monkeypatch.delenv(var, raising=False)
    return filled


def chart(at: AppTest, title_start: str) -> pd.DataFrame:
    """The data of the one Altair chart whose title starts with ``title_start``."""
    found = []
    for spec, frames in vega_charts(at):
        title = title_of(spec)
        if isinstance(title, str) and title.startswith(title_start):
            found += frames
    assert len(found) == 1, f"{len(found)} datasets for {title_start!r}"
    return found[0]


def test_pipeline_history_charts_plot_the_persisted_measures(app_env):
    at = AppTest.from_file(str(dashboard.APP), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    store = IngestionJobStore(app_env.job_db)
    try:
        m = store.metrics()
        jobs = store.list_jobs()
    finally:
        store.close()
    processed = m["records_accepted"] + m["records_rejected"] + m["records_duplicates"]
    assert m["records_received"] == 10 and m["records_rejected"] == 1 and processed == 10

    # records/s in and out: averaged per minute, so records/s x 60 adds up to the job store's counts
    rates = chart(at, "Records/s in and out")
    per_direction = (rates.groupby("direction")["records_per_s"].sum() * 60).round(6).to_dict()
    assert per_direction == {"in": m["records_received"], "out": processed}
    assert rates.groupby("direction").size().min() >= 60 * 24  # every minute of the day, 0 when idle

    # commit latency: every completed job counted once, its POST -> COMPLETED seconds
    latency = chart(at, "Commit latency, POST -> committed")
    median = latency[latency["statistic"] == "median"]
    assert median["jobs"].sum() == len(jobs) == 2
    seconds = [(j.completed_at - j.created_at).total_seconds() for j in jobs]
    assert latency[latency["statistic"] == "max"]["seconds"].max() == pytest.approx(max(seconds), abs=1e-3)

    # rejected rate: the invalid share of what was processed, per minute
    rejected = chart(at, "Rejected rate")
    assert (rejected["rejected_pct"] * rejected["processed"] / 100).sum() == pytest.approx(m["records_rejected"])
    assert rejected["processed"].sum() == processed

    # freshness: raw.events drops to 0 at each of its Iceberg commits; fact_events at its materialization
    fresh = chart(at, "Freshness: minutes since the last update")
    table = lake.load_catalog(app_env).load_table("raw.events")
    commits = [s for s in table.metadata.snapshots if s.summary.operation.value == "append"]
    assert len(commits) == 2
    raw_events = fresh[fresh["table"] == "raw.events"]
    assert (raw_events["minutes"] == 0).sum() == len(commits)
    assert (raw_events["minutes"] >= 0).all()
    assert "marts.fact_events" in set(fresh["table"])
    assert not {"marts.dim_users", "marts.dim_products"} & set(fresh["table"])  # never materialized

    # stream lag: the sensor's samples, one stream record behind, then none
    lag = chart(at, "Stream lag per shard")
    assert lag.sort_values("sampled_at")["lag_records"].tolist() == [1, 0]
    assert set(lag["shard"]) == {"shardId-000000000000"}


def test_quality_view_shows_freshness_checks_and_never_materialized_marts(app_env):
    at = AppTest.from_file(str(dashboard.APP), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    (passing,) = [m.value for m in at.metric if m.label == "Freshness checks passing"]
    assert passing == "1/3"
    at.selectbox(key="checks_kind").set_value("freshness").run()
    (table,) = [n for n in at.get_by_key("checks_table") if getattr(n, "type", None) == "dataframe"]
    shown = table.value.set_index("asset")
    assert set(shown["kind"]) == {"freshness"}
    assert shown["status"].to_dict() == {
        "dim_products": "never materialized", "dim_users": "never materialized", "fact_events": "passed",
    }


def test_lag_samples_are_pruned_after_the_kept_window(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    now = time.time()
    shard = ShardLag("shardId-000000000000", head=5, committed=2)
    metrics_history.record_lag_samples(url, "s", [shard], now=now - metrics_history.KEEP_SECONDS - 60)
    metrics_history.record_lag_samples(url, "s", [shard], now=now - 60)
    metrics_history.record_lag_samples(url, "other", [shard], now=now)
    rows = metrics_history.read_lag_samples(url, "s", since=0)
    assert [(r["sampled_at"], r["lag_records"]) for r in rows] == [(now - 60, 3)]  # the old one is gone


def test_freshness_is_a_sawtooth_through_the_updates():
    start = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    updates = {"raw.events": [start - timedelta(minutes=5), start + timedelta(minutes=10),
                              start + timedelta(minutes=40)]}
    frame = history.freshness(updates, start, start + timedelta(hours=1))
    points = [((at - start).total_seconds() / 60, minutes) for at, minutes in zip(frame["at"], frame["minutes"],
                                                                                 strict=True)]
    assert points == [(0, 5), (10, 15), (10, 0), (40, 30), (40, 0), (60, 20)]
    assert history.freshness({"never": []}, start, start + timedelta(hours=1)).empty


def test_frequent_updates_are_sampled_once_per_bucket():
    start = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    every_20_s = [start + timedelta(seconds=20 * i) for i in range(3 * 30)]  # 90 commits in 30 minutes
    frame = history.freshness({"raw.events": every_20_s}, start, start + timedelta(hours=1), timedelta(minutes=1))
    assert len(frame) == 61  # one point per minute
    ages = frame.set_index(frame["at"].map(lambda at: int((at - start).total_seconds() // 60)))["minutes"]
    assert ages[0] == 0 and ages[10] == 0  # a commit at every whole minute while it committed
    assert ages[60] == pytest.approx(60 - (89 * 20) / 60, abs=1e-3)  # then the age since the last one


def test_a_week_of_lag_samples_is_the_highest_per_quarter_hour(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    start = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    for minute, lag in enumerate([1, 7, 2, 0] * 8):  # 32 minutes of samples
        shard = ShardLag("shardId-000000000000", head=lag, committed=0)
        metrics_history.record_lag_samples(url, "s", [shard], now=(start + timedelta(minutes=minute)).timestamp(),
                                           keep_seconds=1e12)
    frame = history.lag_history(url, "s", start, timedelta(minutes=15))
    assert frame["lag_records"].tolist() == [7, 7, 2]  # minutes 30 and 31: 2, 0
    assert [(t - start).total_seconds() / 60 for t in frame["sampled_at"]] == [0, 15, 30]
