"""The API's /docs (Swagger UI) and /redoc (ReDoc) render with no internet.

Every request that leaves the machine is aborted, as on a host without
internet; the page must still list every operation of the API's OpenAPI
document, and no script, stylesheet or font may have been asked of another host.
"""

from __future__ import annotations

import httpx
import pytest

from tests.browser.conftest import NO_PLAYWRIGHT, external_hosts_blocked, save_screenshot

expect = pytest.importorskip("playwright.sync_api", reason=NO_PLAYWRIGHT).expect


def _operations(api_url: str) -> dict[str, str]:
    """operationId -> path of every operation in the API's OpenAPI document."""
    spec = httpx.get(f"{api_url}/openapi.json", timeout=10).raise_for_status().json()
    return {op["operationId"]: path for path, methods in spec["paths"].items() for op in methods.values()}


def _assert_nothing_needed_from_outside(blocked: list[tuple[str, str]]) -> None:
    print(f"requests to other hosts, aborted: {blocked or 'none'}")
    # an image may fail (ReDoc's "API docs by Redocly" footer logo); the page's code and styles may not
    needed = [(kind, url) for kind, url in blocked if kind != "image"]
    assert not needed, f"the page needs the internet: {needed}"


def test_swagger_ui_lists_every_operation_offline(demo_stack, page):
    blocked = external_hosts_blocked(page.context)
    operations = _operations(demo_stack.api_url)
    page.goto(f"{demo_stack.api_url}/docs")
    paths = page.locator("#swagger-ui .opblock-summary-path")
    expect(paths).to_have_count(len(operations))
    assert sorted(paths.evaluate_all("els => els.map(e => e.dataset.path)")) == sorted(operations.values())
    expect(page.locator("#swagger-ui .opblock-summary-path", has_text="/api/v1/ingest")).to_be_visible()
    save_screenshot(page, "api-docs-swagger-offline")
    _assert_nothing_needed_from_outside(blocked)


def test_redoc_lists_every_operation_offline(demo_stack, page):
    blocked = external_hosts_blocked(page.context)
    operations = _operations(demo_stack.api_url)
    page.goto(f"{demo_stack.api_url}/redoc")
    for operation_id in operations:
        expect(page.locator(f'[id="operation/{operation_id}"] h2').first).to_be_visible()
    save_screenshot(page, "api-docs-redoc-offline")
    _assert_nothing_needed_from_outside(blocked)
