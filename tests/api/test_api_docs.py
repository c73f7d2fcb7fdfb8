"""/docs and /redoc work without internet: every script, stylesheet and icon comes from the app."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest


class _Assets(HTMLParser):
    """The URLs a page loads: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        url = values.get("src") if tag in ("script", "img") else values.get("href") if tag == "link" else None
        if url:
            self.urls.append((tag, url))


def assets(html: str) -> list[tuple[str, str]]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize(("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_docs_pages_load_only_assets_the_app_serves(client, page, script):
    response = client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "cdn." not in html and "https://" not in html and "http://" not in html
    urls = assets(html)
    assert script in {urlsplit(url).path.rsplit("/", 1)[-1] for _, url in urls}
    for tag, url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from elsewhere"
        asset = client.get(url)
        assert asset.status_code == 200, url
        kind = asset.headers["content-type"]
        if tag == "script":
            assert "javascript" in kind and len(asset.content) > 100_000  # the real bundle, not a stub
        elif url.endswith(".css"):
            assert kind.startswith("text/css") and b"swagger-ui" in asset.content
        else:
            assert kind.startswith("image/")

