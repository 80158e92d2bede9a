"""The interactive API documentation (Swagger UI) at /api/v1/docs, served from this machine.

ninja serves its bundled Swagger UI through staticfiles only when "ninja" is in INSTALLED_APPS;
otherwise its page loads Swagger UI from a CDN, which an offline shop cannot reach and our
Content-Security-Policy (`script-src 'self'`, pledge/security.py) forbids anyway. So the page is
ours: it loads the three files of the installed ninja package from `docs/assets/`, which keeps
them in step with ninja's version and needs no settings. The page has no inline script (the
settings travel as a JSON data block, read by ninja's swagger-ui-init.js) and Swagger UI's
online validator badge is turned off (`validatorUrl: null`), so nothing leaves the machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import ninja
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from ninja.openapi.docs import DocsBase

from pledge.api.problems import not_found

if TYPE_CHECKING:
    from ninja import NinjaAPI

NINJA_STATIC = Path(ninja.__file__).resolve().parent / "static" / "ninja"
DOCS_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-init.js": "text/javascript; charset=utf-8",
}
ASSET_URL_NAME = "docs-asset"


class OfflineSwagger(DocsBase):
    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        openapi_url = self.get_openapi_url(api, kwargs)

        def asset(name: str) -> str:
            return reverse(f"{api.urls_namespace}:{ASSET_URL_NAME}", kwargs={"name": name})

        context = {
            "openapi_url": openapi_url,
            "css_url": asset("swagger-ui.css"),
            "bundle_url": asset("swagger-ui-bundle.js"),
            "init_url": asset("swagger-ui-init.js"),
            "swagger_settings": {
                "url": openapi_url,
                "layout": "BaseLayout",
                "deepLinking": True,
                "validatorUrl": None,
                "persistAuthorization": False,
            },
        }
        return render(request, "api/docs.html", context)


def docs_asset(request: HttpRequest, name: str) -> HttpResponseBase:
    content_type = DOCS_ASSETS.get(name)
    if content_type is None or request.method not in ("GET", "HEAD"):
        return not_found()
    response = FileResponse((NINJA_STATIC / name).open("rb"), content_type=content_type)
    response["Cache-Control"] = "public, max-age=86400"
    return response
