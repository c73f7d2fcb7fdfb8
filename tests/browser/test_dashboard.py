"""The Streamlit dashboard in a browser, on the demo's data.

Each view renders with numbers that match the stack (the job store, Dagster);
the drill-down from a job reaches its rejected records; the filters change the
charts. Streamlit's UI is a React app: every step waits for content (a tab, a
heading, a metric, a chart's marks), never for a fixed time.

Hooks used, as platform/dashboard/README.md lists them: the tabs and each
view's heading are named as in ``TABS``; metric cards by their label; tables
and the lineage graph by their container's key (class ``st-key-<key>``), read
through the grid's accessible table; selects and multiselects by their label.
Other charts are found by their title and read through the ARIA labels Vega
gives each mark ("event_type: view; events: 596").
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.browser.conftest import NO_PLAYWRIGHT, UI_TIMEOUT_MS, save_screenshot

expect = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT).expect
if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

TABS = ("Pipeline", "Quality", "Rejected records", "Lineage", "Explore")
EVENT_TYPES = {"view", "click", "add_to_cart", "purchase"}
RAW_ASSETS = {"raw_events", "raw_users", "raw_products"}


# -- reading the page -----------------------------------------------------------
def open_view(page: Page, url: str, name: str) -> Locator:
    """The dashboard's tab ``name``, opened; returns its panel once its heading shows."""
    page.goto(url)
    page.get_by_role("tab", name=name, exact=True).click()
    panel = page.get_by_role("tabpanel", name=name, exact=True)
    expect(panel.get_by_role("heading", name=name, exact=True)).to_be_visible()
    return panel


def metric(scope: Locator, label: str) -> Locator:
    """The value of the metric card labelled ``label``."""
    label_re = re.compile(rf"^\s*{re.escape(label)}\s*$")
    card = scope.get_by_test_id("stMetric").filter(has=scope.page.get_by_test_id("stMetricLabel").filter(
        has_text=label_re))
    expect(card).to_have_count(1)
    return card.get_by_test_id("stMetricValue")


def number(value: Locator) -> int:
    return int(value.inner_text().strip().replace(",", ""))


def fraction(value: Locator) -> tuple[int, int]:
    """A metric shown as ``passed/total``."""
    passed, total = value.inner_text().strip().replace(",", "").split("/")
    return int(passed), int(total)


def chart(scope: Locator, title: str) -> Locator:
    """The Vega-Lite chart titled ``title`` (its title is an SVG text Vega labels for screen readers)."""
    found = scope.get_by_test_id("stVegaLiteChart").filter(
        has=scope.page.locator(f"[aria-label=\"Title text '{title}'\"]"))
    expect(found).to_have_count(1)
    return found


def marks(chart: Locator, kind: str = "bar") -> list[dict[str, str]]:
    """The chart's marks of one kind, each as the fields of its ARIA label ("a: 1; b: x")."""
    labels = chart.locator(f'[aria-roledescription="{kind}"]').evaluate_all(
        "els => els.map(e => e.getAttribute('aria-label'))")
    return [dict(part.split(": ", 1) for part in label.split("; ") if ": " in part) for label in labels]


def keyed(scope: Locator, key: str) -> Locator:
    """The element (widget or container) the dashboard gave ``key``: Streamlit marks it with class st-key-<key>."""
    return scope.locator(f".st-key-{key}")


def grid_rows(scope: Locator) -> list[dict[str, str]]:
    """The rows of a dataframe the grid has laid out (the first screenful) for screen readers, by column."""
    table = scope.get_by_test_id("stDataFrame").locator("table")
    expect(table.locator("tbody tr").first).to_be_attached()
    header, *rows = table.evaluate(
        "t => [...t.rows].map(r => [...r.cells].map(c => c.textContent.trim()))")
    return [dict(zip(header, row, strict=False)) for row in rows]


def eventually(check: Callable[[], object], what: str, timeout_s: float = UI_TIMEOUT_MS / 1000) -> object:
    """Poll ``check`` (an assertion, or a value that must become truthy) until it holds: a Streamlit
    rerun replaces the page's elements some time after a widget changed."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = check()
            if result or result is None:
                return result
            error: Exception = AssertionError(f"{what}: got {result!r}")
        except AssertionError as exc:
            error = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s:.0f}s") from error
        time.sleep(0.5)


def choose(page: Page, scope: Locator, label: str, option: str) -> None:
    """Pick ``option`` in the select or multiselect labelled ``label``."""
    box = scope.get_by_role("combobox", name=label, exact=True)
    box.click()
    box.fill(option)
    expect(page.get_by_role("option", name=option, exact=True)).to_be_visible()
    box.press("Enter")
    box.press("Escape")


# -- what the stack holds -------------------------------------------------------
def totals(stack) -> dict[str, int]:
    jobs = stack.jobs
    return {
        "received": sum(j.record_count or 0 for j in jobs),
        "accepted": sum(j.accepted_count or 0 for j in jobs),
        "duplicates": sum(j.duplicate_count or 0 for j in jobs),
        "not accepted": sum((j.record_count or 0) - (j.accepted_count or 0) for j in jobs),
        "events accepted": sum(j.accepted_count or 0 for j in jobs if j.dataset == "events"),
    }


_CHECKS = """
query { assetNodes { assetKey { path } assetChecksOrError { __typename ... on AssetChecks { checks { name } } } } }
"""


def _graphql(dagster_url: str, query: str) -> dict:
    answer = httpx.post(f"{dagster_url}/graphql", json={"query": query}, timeout=60).raise_for_status().json()
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


def dagster_check_statuses(dagster_url: str) -> list[str]:
    """The status of the latest execution of every asset check Dagster knows that has run."""
    checks = [
        (node["assetKey"]["path"], check["name"])
        for node in _graphql(dagster_url, _CHECKS)["assetNodes"]
        for check in node["assetChecksOrError"].get("checks", [])
    ]
    latest = _graphql(dagster_url, "query { %s }" % " ".join(
        f"c{i}: assetCheckExecutions(assetKey: {{path: {json.dumps(path)}}}, checkName: {json.dumps(name)}, "
        "limit: 1) { status }"
        for i, (path, name) in enumerate(checks)
    ))
    return [latest[f"c{i}"][0]["status"] for i in range(len(checks)) if latest[f"c{i}"]]


# -- the views ------------------------------------------------------------------
def _pipeline(panel: Locator, stack) -> None:
    expected = totals(stack)
    received, accepted = number(metric(panel, "Records received")), number(metric(panel, "Accepted"))
    invalid, duplicates = number(metric(panel, "Rejected (invalid)")), number(metric(panel, "Duplicates"))
    assert (received, accepted, duplicates) == (expected["received"], expected["accepted"], expected["duplicates"])
    assert received == accepted + invalid + duplicates, "the counts must add up"
    assert invalid > 0 and duplicates > 0, "the demo's sample has invalid records and duplicates"
    outcomes = {m["outcome"]: int(m["records"].replace(",", "")) for m in marks(chart(panel, "Records by outcome"))}
    assert outcomes["accepted"] == accepted and outcomes["duplicates"] == duplicates
    # the transform run the stack waited for, with its link to Dagster
    runs = keyed(panel, "runs_table")
    expect(runs).to_contain_text(stack.transform_run_id)
    expect(runs).to_contain_text(f"{stack.dagster_url}/runs/{stack.transform_run_id}")


def _quality(panel: Locator, stack) -> None:
    executed = dagster_check_statuses(stack.dagster_url)
    assert executed, "Dagster shows no executed asset check"
    assert fraction(metric(panel, "Checks passing")) == (executed.count("SUCCEEDED"), len(executed))
    for label in ("dbt tests passing", "GX suites passing"):
        passed, total = fraction(metric(panel, label))
        assert total > 0, f"{label}: none shown"


def _rejected(panel: Locator, stack) -> None:
    expected = totals(stack)
    assert number(metric(panel, "Rejected records")) == expected["not accepted"]
    assert number(metric(panel, "Duplicate")) == expected["duplicates"]
    assert number(metric(panel, "Invalid")) == expected["not accepted"] - expected["duplicates"]
    reasons = marks(chart(panel, "Rejected records by reason (rule / field)"))
    assert sum(int(m["records"]) for m in reasons) == expected["not accepted"]
    assert {m["kind"] for m in reasons} == {"invalid", "duplicate"}
    assert "duplicate" in {row["rule"] for row in grid_rows(keyed(panel, "rejects_table"))}


def _lineage(panel: Locator, stack) -> None:  # noqa: ARG001
    graph = keyed(panel, "lineage_graph").get_by_test_id("stVegaLiteChart")
    expect(graph).to_be_visible()
    for name in (*sorted(RAW_ASSETS), "stg_events", "fact_events"):
        expect(graph.get_by_text(name, exact=True)).to_be_attached()
    # the model picked (fact_events by default): its latest materialization, its columns and tests
    expect(panel.get_by_role("heading", name=re.compile(r"^fact_events"))).to_be_visible()
    assert number(metric(panel, "Rows")) > 0
    expect(keyed(panel, "model_columns_table")).to_contain_text("event_id")


def _explore(panel: Locator, stack) -> None:
    events = number(metric(panel, "Events"))
    assert events == totals(stack)["events accepted"]
    by_type = {m["event_type"]: int(m["events"].replace(",", "")) for m in marks(chart(panel, "Events by type"))}
    assert set(by_type) == EVENT_TYPES and sum(by_type.values()) == events


VIEW_CHECKS = {"Pipeline": _pipeline, "Quality": _quality, "Rejected records": _rejected, "Lineage": _lineage,
               "Explore": _explore}


@pytest.mark.parametrize("view", TABS)
def test_each_view_renders_with_data(demo_stack, page, view):
    panel = open_view(page, demo_stack.dashboard_url, view)
    VIEW_CHECKS[view](panel, demo_stack)
    save_screenshot(page, f"dashboard-{view.lower().replace(' ', '-')}")


def test_drill_down_from_a_job_to_its_rejects(demo_stack, page):
    # the events job with the most records not accepted (invalid and duplicates)
    job = max((j for j in demo_stack.jobs if j.dataset == "events"), key=lambda j: j.record_count - j.accepted_count)
    not_accepted = job.record_count - job.accepted_count
    assert not_accepted > 0 and job.duplicate_count > 0, "the demo's sample has invalid records and duplicates"

    panel = open_view(page, demo_stack.dashboard_url, "Pipeline")
    choose(page, panel, "Job", job.job_id)
    expect(panel.get_by_role("heading", name=f"Job {job.job_id}")).to_be_visible()
    assert number(metric(panel, "Job records received")) == job.record_count

    panel.get_by_role("tab", name="Records in fact_events", exact=True).click()
    events = panel.get_by_role("tabpanel", name="Records in fact_events", exact=True)
    expect(events).to_contain_text(f"{job.accepted_count:,} events of this job in marts.fact_events")

    panel.get_by_role("tab", name="Rejected records of this job", exact=True).click()
    rejects = panel.get_by_role("tabpanel", name="Rejected records of this job", exact=True)
    expect(rejects).to_contain_text(f"{not_accepted:,} rejected records of this job")
    rules = {row["rule"] for row in grid_rows(keyed(rejects, "job_rejects_table"))}
    assert "duplicate" in rules and rules - {"duplicate"}, f"duplicates and invalid records expected, rules shown: {rules}"
    save_screenshot(page, "dashboard-job-rejects")


def test_filters_change_the_charts(demo_stack, page):
    panel = open_view(page, demo_stack.dashboard_url, "Explore")
    by_type = chart(panel, "Events by type")
    before = {m["event_type"]: int(m["events"].replace(",", "")) for m in marks(by_type)}
    assert set(before) == EVENT_TYPES
    hourly_before = marks(chart(panel, "Events per hour (UTC)"))

    choose(page, panel, "Event type", "purchase")
    eventually(lambda: {m["event_type"] for m in marks(chart(panel, "Events by type"))} == {"purchase"},
               "the events-by-type chart shows purchases only")
    eventually(lambda: number(metric(panel, "Events")) == before["purchase"], "the Events metric counts purchases")
    hourly = eventually(lambda: (m := marks(chart(panel, "Events per hour (UTC)"))) != hourly_before and m,
                        "the events-per-hour chart changes")
    assert {m["event_type"] for m in hourly} == {"purchase"}
    assert sum(int(m["events"]) for m in hourly) == before["purchase"]
    save_screenshot(page, "dashboard-explore-filtered")

    panel = open_view(page, demo_stack.dashboard_url, "Rejected records")
    reasons = marks(chart(panel, "Rejected records by reason (rule / field)"))
    assert {m["rule"] for m in reasons} > {"duplicate"}
    choose(page, panel, "Rule", "duplicate")
    eventually(lambda: {m["rule"] for m in marks(chart(panel, "Rejected records by reason (rule / field)"))}
               == {"duplicate"}, "the by-reason chart shows duplicates only")
    save_screenshot(page, "dashboard-rejected-filtered")


def test_drill_down_from_a_lineage_node_to_its_model(demo_stack, page):
    panel = open_view(page, demo_stack.dashboard_url, "Lineage")
    graph = keyed(panel, "lineage_graph").get_by_test_id("stVegaLiteChart")
    graph.locator('[aria-roledescription="point"][aria-label*="name: stg_events;"]').click()
    expect(panel.get_by_role("heading", name="stg_events (staging)", exact=True)).to_be_visible()
    # its latest run, its columns and its tests
    assert number(metric(panel, "Rows")) == totals(demo_stack)["events accepted"]
    expect(keyed(panel, "model_columns_table")).to_contain_text("event_id")
    assert {row["status"] for row in grid_rows(keyed(panel, "model_tests_table"))} == {"passed"}
    save_screenshot(page, "dashboard-lineage-stg-events")
