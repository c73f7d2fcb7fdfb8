"""Property 31: Critical failures raise alerts: failed checks.

A failed blocking check, a failed critical (ERROR) check and a freshness breach
on fact_events reach every configured channel through
``check_failure_alert_sensor``, evaluated with ``build_sensor_context`` on a
real Dagster instance after real materializations; the webhook is a real HTTP
server. A repeat of the same failure within the window is held back (the last
sent time is in the state database, so a new sensor tick, with a new notifier,
still holds it back); a passing or non-critical check sends nothing.
"""

from __future__ import annotations

import datetime as dt

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    Definitions,
    MetadataValue,
    asset,
    asset_check,
    build_sensor_context,
    define_asset_job,
    materialize,
)

from eventlake.resources.core import EventlakeResource
from eventlake.sensors.alerts import check_failure_alert_sensor, marts_freshness_checks

from .conftest import DAGSTER_URL, DASHBOARD_URL, texts

FAILED_EXPECTATIONS = [
    {
        "expectation": "expect_column_values_to_not_be_null",
        "column": "user_id",
        "unexpected_count": 2,
        "partial_unexpected_list": [None, None],
        "failing_keys": [{"event_id": "e-17", "job_id": "job-1"}, {"event_id": "e-18", "job_id": "job-1"}],
    }
]
# what eventlake.assets.checks adds beside them: the same keys per rule
FAILING_ROWS = [
    {"rule": "user_id_not_null", "expectation": "expect_column_values_to_not_be_null", "column": "user_id",
     "unexpected_count": 2, "keys": FAILED_EXPECTATIONS[0]["failing_keys"]}
]


def _pipeline(state: dict):
    """stg_events -> int_events_enriched, a blocking GX-like check on stg_events and a non-blocking
    warning on int_events_enriched; ``state["bad"]`` decides whether the rows fail."""

    @asset(name="stg_events")
    def stg_events() -> None:
        return None

    @asset(name="int_events_enriched", deps=[stg_events])
    def int_events_enriched() -> None:
        return None

    @asset_check(asset=stg_events, name="gx_staging_suite", blocking=True)
    def gx_staging_suite() -> AssetCheckResult:
        bad = state["bad"]
        return AssetCheckResult(
            passed=not bad,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "rows": 40,
                "failed_expectations": MetadataValue.json(FAILED_EXPECTATIONS if bad else []),
                "failing_rows": MetadataValue.json(FAILING_ROWS if bad else []),
                "data_docs": MetadataValue.url(state["docs"].as_uri()),
            },
        )

    @asset_check(asset=int_events_enriched, name="gx_intermediate_suite")
    def gx_intermediate_suite() -> AssetCheckResult:
        # a warning that blocks nothing: not an alert
        return AssetCheckResult(passed=not state["bad"], severity=AssetCheckSeverity.WARN)

    return [stg_events, int_events_enriched], [gx_staging_suite, gx_intermediate_suite]


def _tick(instance, defs, home, cursor=None):
    context = build_sensor_context(
        instance=instance, definitions=defs, cursor=cursor, resources={"eventlake": EventlakeResource(home=str(home))}
    )
    check_failure_alert_sensor(context)
    return context.cursor


def test_a_failed_blocking_check_alerts_every_channel_once_and_its_repeat_is_held_back(alert_home, receiver, instance):
    """Property 31: a failed blocking check is alerted to each channel, naming the asset, the check, the failed
    rule, sample failing records, the run and the Data Docs page; a webhook that answers 500 is logged and the
    other channels still get it; the same failure again within the window sends nothing."""
    state = {"bad": True, "docs": alert_home / "gx" / "data_docs" / "local_site" / "index.html"}
    assets, checks = _pipeline(state)
    defs = Definitions(assets=assets, asset_checks=checks, sensors=[check_failure_alert_sensor])

    cursor = _tick(instance, defs, alert_home)  # before anything ran: nothing to say
    assert receiver.posts == []

    result = materialize([*assets, *checks], instance=instance, raise_on_error=False)
    # the blocking check stopped the layer downstream
    assert not any(m.asset_key == AssetKey("int_events_enriched") for m in result.get_asset_materialization_events())
    cursor = _tick(instance, defs, alert_home, cursor)

    a, b = receiver.bodies("/a"), receiver.bodies("/b")
    assert len(a) == 1 and a == b, receiver.posts  # exactly one alert, on both channels
    assert len(receiver.bodies("/broken")) == 1  # tried, refused, did not stop the others
    shown = texts(a[0])
    assert "check gx_staging_suite on stg_events" in shown
    assert "expect_column_values_to_not_be_null(user_id)" in shown  # why
    assert "e-17" in shown and "job-1" in shown  # sample failing records: their keys
    assert shown.count("e-17") == 1  # once: failing_rows repeats the failed expectations' keys
    assert "Blocking" in shown
    assert f"{DAGSTER_URL}/runs/{result.run_id}" in shown
    assert state["docs"].as_uri() in shown
    assert "gx_intermediate_suite" not in shown  # a warning that blocks nothing is not alerted

    # the same failure again, in a later run: held back by the rate limit
    materialize([*assets, *checks], instance=instance, raise_on_error=False)
    cursor = _tick(instance, defs, alert_home, cursor)
    assert len(receiver.bodies("/a")) == 1 and len(receiver.bodies("/b")) == 1


def test_passing_checks_send_nothing(alert_home, receiver, instance):
    """Property 31: when every check passes, no channel hears anything."""
    state = {"bad": False, "docs": alert_home / "docs.html"}
    assets, checks = _pipeline(state)
    defs = Definitions(assets=assets, asset_checks=checks, sensors=[check_failure_alert_sensor])
    cursor = _tick(instance, defs, alert_home)
    result = materialize([*assets, *checks], instance=instance)
    assert result.success
    _tick(instance, defs, alert_home, cursor)
    assert receiver.posts == []


FACT_EVENTS_FRESHNESS = AssetCheckKey(AssetKey("fact_events"), "freshness_check")


def _fact_events_defs(freshness_checks):
    @asset(name="fact_events")
    def fact_events() -> None:
        return None

    return Definitions(
        assets=[fact_events],
        asset_checks=list(freshness_checks),
        # the check of fact_events only: the other marts are not in this small code location
        jobs=[define_asset_job("freshness_job", selection=AssetSelection.checks(FACT_EVENTS_FRESHNESS))],
        sensors=[check_failure_alert_sensor],
    )


def _fact_events_updated(instance, ago: dt.timedelta) -> None:
    updated = dt.datetime.now(dt.UTC) - ago
    instance.report_runless_asset_event(
        AssetMaterialization("fact_events", metadata={"dagster/last_updated_timestamp": MetadataValue.timestamp(updated)})
    )


def test_a_freshness_breach_on_fact_events_is_alerted_once(alert_home, receiver, instance, monkeypatch):
    """Property 31: fact_events last updated 3 hours ago fails the marts' Dagster freshness check (60 min
    allowed); the failed check is alerted as a freshness breach naming fact_events, the allowed age and the run;
    evaluated again within the window, nothing more is sent."""
    checks = marts_freshness_checks(60.0)
    defs = _fact_events_defs(checks)
    cursor = _tick(instance, defs, alert_home)
    _fact_events_updated(instance, dt.timedelta(hours=3))
    job = defs.resolve_job_def("freshness_job")
    result = job.execute_in_process(instance=instance)
    evaluations = result.get_asset_check_evaluations()
    assert [e.passed for e in evaluations if e.asset_key == AssetKey("fact_events")] == [False]
    cursor = _tick(instance, defs, alert_home, cursor)

    (body,) = receiver.bodies("/a")
    shown = texts(body)
    assert "Freshness breach" in shown and "on fact_events" in shown
    assert "fact_events was not updated within the last 1 h" in shown
    assert "overdue" in shown  # Dagster's own words: how long ago the last update was
    assert f"{DAGSTER_URL}/runs/{result.run_id}" in shown
    assert DASHBOARD_URL in shown  # no Data Docs page of its own: the dashboard's Quality view

    job.execute_in_process(instance=instance)
    _tick(instance, defs, alert_home, cursor)
    assert len(receiver.bodies("/a")) == 1


def test_fresh_fact_events_send_nothing(alert_home, receiver, instance):
    """Property 31: fact_events updated a minute ago passes the freshness check: nothing is sent."""
    checks = marts_freshness_checks(60.0)
    defs = _fact_events_defs(checks)
    cursor = _tick(instance, defs, alert_home)
    _fact_events_updated(instance, dt.timedelta(minutes=1))
    result = defs.resolve_job_def("freshness_job").execute_in_process(instance=instance)
    assert [e.passed for e in result.get_asset_check_evaluations() if e.asset_key == AssetKey("fact_events")] == [True]
    _tick(instance, defs, alert_home, cursor)
    assert receiver.posts == []


def test_a_mart_never_materialized_is_not_a_freshness_breach(alert_home, receiver, instance):
    """Issue 11: at startup, before the first transform, the freshness check of fact_events fails ("never
    observed/materialized"); that is not alerted. Once fact_events was materialized and then went stale,
    the breach is alerted."""
    checks = marts_freshness_checks(60.0)
    defs = _fact_events_defs(checks)
    cursor = _tick(instance, defs, alert_home)
    job = defs.resolve_job_def("freshness_job")
    first = job.execute_in_process(instance=instance)
    (evaluation,) = [e for e in first.get_asset_check_evaluations() if e.asset_key == AssetKey("fact_events")]
    assert not evaluation.passed and "never" in evaluation.description
    cursor = _tick(instance, defs, alert_home, cursor)
    assert receiver.posts == []

    _fact_events_updated(instance, dt.timedelta(hours=3))
    job.execute_in_process(instance=instance)
    _tick(instance, defs, alert_home, cursor)
    (body,) = receiver.bodies("/a")
    assert "fact_events was not updated within the last 1 h" in texts(body)
