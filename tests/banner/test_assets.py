"""banner.js and banner.css as served: the size budget (ARCHITECTURE.md) and their headers."""

from __future__ import annotations

import gzip
import re

import pytest
from django.test import Client

from pledge.consent.views_banner import ASSETS_DIR

BUDGET_BYTES = 6 * 1024  # JS + CSS, gzip level 9 (cookieconsent 3.1: 15.5 KB; Fides.js: 51.5 KB)
ASSETS = {
    "/consent/banner.js": "text/javascript; charset=utf-8",
    "/consent/banner.css": "text/css; charset=utf-8",
}


def served(client: Client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200
    return response.content


def test_the_banner_fits_the_budget(client: Client) -> None:
    sizes = {url: len(gzip.compress(served(client, url), 9)) for url in ASSETS}
    total = sum(sizes.values())
    assert total <= BUDGET_BYTES, f"banner JS + CSS is {total} bytes gzipped: {sizes}"


def test_what_is_served_is_the_source_file(client: Client) -> None:
    for url in ASSETS:
        assert served(client, url) == (ASSETS_DIR / url.rsplit("/", 1)[1]).read_bytes()


@pytest.mark.parametrize(("url", "content_type"), ASSETS.items())
def test_the_assets_have_type_cache_and_nosniff_headers(
    client: Client, url: str, content_type: str
) -> None:
    response = client.get(url)
    assert response["Content-Type"] == content_type
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "public, max-age=3600"
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert not response.cookies
    again = client.get(url, headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304


def test_gzip_is_served_to_browsers_that_accept_it(client: Client) -> None:
    plain = served(client, "/consent/banner.js")
    response = client.get("/consent/banner.js", headers={"Accept-Encoding": "gzip, br"})
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    assert gzip.decompress(response.content) == plain


def test_only_safe_methods_are_allowed(client: Client) -> None:
    assert client.post("/consent/banner.js").status_code == 405


def test_the_script_uses_no_eval_and_no_inline_styles() -> None:
    # The banner runs under the shop's Content-Security-Policy: no eval, no string timers, no
    # inline style attributes; its looks come from banner.css classes only.
    source = (ASSETS_DIR / "banner.js").read_text(encoding="utf-8")
    for forbidden in (
        r"\beval\(",
        r"new Function",
        r"\.style\b",
        r"innerHTML",
        r"setTimeout\(\s*[\"']",
    ):
        assert not re.search(forbidden, source), forbidden
