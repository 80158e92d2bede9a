"""The cookie banner under test: preset B (Leman Jewelry) in force, and a shop's site served from
another origin than Pledge (a real HTTP server on 127.0.0.1, while Pledge's live server answers
on localhost), whose pages carry the snippet and scripts blocked until consent.

    site = shop(lang="vi")            # the shop's page URL; choices are allowed from its origin
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# A category consent must run these; `advertising` loads an external file, `analytics` is inline.
BLOCKED_SCRIPTS = """
<script type="text/plain" data-category="analytics">window.analyticsRan = true;</script>
<script type="text/plain" data-category="advertising" src="/ads.js"></script>
<script type="text/plain" data-category="necessary">window.necessaryRan = true;</script>
"""


def shop_html(pledge_url: str, lang: str | None, loading: str = "defer") -> str:
    html_lang = f' lang="{lang}"' if lang else ""
    return f"""<!doctype html>
<html{html_lang}><head><meta charset="utf-8"><title>Leman Jewelry</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script src="{pledge_url}/consent/banner.js" {loading}></script></head>
<body><h1>Rings</h1><p>A gold ring.</p>
<button type="button" id="buy">Add to cart</button>
<a href="#" id="settings" data-pledge-cookie-settings>Cookie settings</a>
{BLOCKED_SCRIPTS}
</body></html>"""


@dataclass
class ShopSite:
    """A tiny static web server standing for the shop's own site."""

    url: str
    pages: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (type, body)
    hits: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return self.url


@pytest.fixture
def shop_site() -> Iterator[ShopSite]:
    site = ShopSite(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            site.hits.append(path)
            content_type, body = site.pages.get(path, ("text/plain", ""))
            data = body.encode()
            self.send_response(200 if path in site.pages else 404)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    site.pages["/ads.js"] = ("text/javascript", "window.adsRan = true;")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def shop(live_server: Any, leman: Any, settings: Any, shop_site: ShopSite) -> Callable[..., str]:
    """shop(lang="en") -> URL of a shop page (on its own origin) carrying the banner snippet
    (`loading="async"` embeds it async instead of defer)."""
    settings.PLEDGE_BANNER_ORIGINS = [shop_site.origin]

    def make(*, lang: str | None = "en", path: str = "/", loading: str = "defer") -> str:
        shop_site.pages[path] = ("text/html", shop_html(live_server.url, lang, loading))
        return shop_site.url + path

    return make
