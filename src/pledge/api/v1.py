"""The REST API, version 1, mounted at /api/v1/ (pledge/urls.py).

Every operation needs an API key (auth.py) and answers errors as RFC 9457 problem documents
(problems.py), including the ones Django or ninja would answer in HTML or plain text: an unknown
path (404), a method the path does not take (405). CSRF does not apply: no cookie authenticates
anything here (ninja marks its views csrf_exempt).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.urls import URLPattern, URLResolver, path, re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema

from pledge.api import customers, documents, payments
from pledge.api.auth import API_KEY_AUTH
from pledge.api.body import StrictJSONParser, limit_body_size
from pledge.api.docs import ASSET_URL_NAME, OfflineSwagger, docs_asset
from pledge.api.problems import PROBLEM_CONTENT_TYPE, install_handlers, not_found, problem_response

DESCRIPTION = """\
The shop's backend talks to Pledge here: customers, orders, guarantee cards, payments and ID
documents, each call naming the **purpose** it acts for. The privacy policy in force decides what
each purpose may collect and read; a key only acts for the purposes it was created with
(`pledge apikey create`).

Authenticate with `Authorization: Bearer <key>` (or `X-API-Key: <key>`). Errors are
`application/problem+json` (RFC 9457) with an `errors` list of `{field, rule, message}`.
See docs/api.md.
"""


def _problem_on_404_and_405(view: Callable[..., HttpResponseBase]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            return not_found()
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            problem = problem_response(
                405,
                "method-not-allowed",
                "Method not allowed",
                f"this path takes {allowed}",
                [{"field": None, "rule": "method", "message": f"use one of {allowed}"}],
            )
            problem["Allow"] = allowed
            return problem
        return response

    return wrapped


@csrf_exempt
def unknown_endpoint(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
    return not_found()


class PledgeAPI(NinjaAPI):
    @property
    def urls(self) -> tuple[list[URLResolver | URLPattern], str, str]:
        patterns, app_name, namespace = super().urls
        for pattern in patterns:
            if isinstance(pattern, URLPattern):
                pattern.callback = _problem_on_404_and_405(pattern.callback)
        patterns.append(path("docs/assets/<str:name>", docs_asset, name=ASSET_URL_NAME))
        # Last: anything else under /api/v1/ is a problem document too, never an HTML page.
        patterns.append(re_path(r"^.*$", unknown_endpoint, name="unknown-endpoint"))
        return patterns, app_name, namespace

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        """ninja documents every response as application/json; errors are problem+json."""
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if int(status) >= 400 and "application/json" in content:
                        content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
        return schema


api = PledgeAPI(
    title="Pledge API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api-v1",
    auth=API_KEY_AUTH,
    parser=StrictJSONParser(),
    docs=OfflineSwagger(),
)
install_handlers(api)
api.add_decorator(limit_body_size, mode="view")
api.add_router("", customers.router)
api.add_router("", payments.router)
api.add_router("", documents.router)
