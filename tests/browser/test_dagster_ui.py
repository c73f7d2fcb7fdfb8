"""Dagster's lineage shows the raw Iceberg tables as materialized.

The consumer commits to raw.events, raw.users and raw.products outside any
Dagster run and reports each commit to Dagster; the raw group's lineage page
must show each raw asset "Materialized", never "Never materialized".
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import NO_PLAYWRIGHT, save_screenshot

expect = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT).expect

RAW_ASSETS = ("raw_events", "raw_users", "raw_products")


def test_lineage_shows_the_raw_assets_materialized(demo_stack, page):
    page.goto(f"{demo_stack.dagster_url}/locations/eventlake/asset-groups/raw/lineage")
    for name in RAW_ASSETS:
        # each asset of the graph is drawn in an SVG foreignObject holding its name and its status
        node = page.locator("foreignObject").filter(has=page.get_by_text(name, exact=True))
        expect(node).to_have_count(1)
        expect(node.get_by_text("Materialized", exact=True)).to_be_visible()
        expect(node.get_by_text("Never materialized")).to_have_count(0)
    skip = page.get_by_role("button", name="Skip")  # Dagster's "Join the community" dialog hides the graph
    if skip.is_visible():
        skip.click()
    save_screenshot(page, "dagster-raw-lineage")
