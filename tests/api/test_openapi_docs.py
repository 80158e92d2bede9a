"""/api/v1/openapi.json describes the API; /api/v1/docs shows it from this machine only."""

from __future__ import annotations

import json
import re
from typing import Any

from django.test import Client

EXTERNAL_URL = re.compile(rb"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.IGNORECASE)

PATHS = {
    "/api/v1/customers": {"post"},
    "/api/v1/customers/lookup": {"get"},
    "/api/v1/customers/{customer_id}": {"get", "patch"},
    "/api/v1/customers/{customer_id}/orders": {"get", "post"},
    "/api/v1/customers/{customer_id}/guarantees": {"post"},
    "/api/v1/guarantees/lookup": {"get"},
}


def test_openapi_json_lists_every_path_with_its_auth_and_problem_responses(db: None) -> None:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200

    def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # Valid for Python's json, refused by Swagger UI's parser (js-yaml).
        assert len({k for k, _ in pairs}) == len(pairs), [k for k, _ in pairs]
        return dict(pairs)

    schema = json.loads(response.content, object_pairs_hook=no_duplicate_keys)
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Pledge API"
    for path, methods in PATHS.items():
        assert path in schema["paths"], path
        assert methods <= set(schema["paths"][path]), path
    assert set(schema["components"]["securitySchemes"]) == {"BearerKey", "HeaderKey"}
    assert schema["components"]["securitySchemes"]["HeaderKey"]["name"] == "X-API-Key"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation["security"], (path, method)
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    assert list(answer["content"]) == ["application/problem+json"]


def test_docs_page_loads_nothing_from_elsewhere(db: None) -> None:
    client = Client()
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert not EXTERNAL_URL.search(response.content), EXTERNAL_URL.search(response.content)
    assert b"<script>" not in response.content  # no inline script for the CSP to refuse
    html = response.content.decode()
    srcs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert srcs and all(s.startswith("/") for s in srcs), srcs
    for src in srcs:
        asset = client.get(src)
        assert asset.status_code == 200, src
    settings = re.search(
        r'<script id="swagger-settings" type="application/json">(.*?)</script>', html
    )
    assert settings is not None
    assert json.loads(settings.group(1))["validatorUrl"] is None


def test_only_the_swagger_files_are_served(db: None) -> None:
    client = Client()
    css = client.get("/api/v1/docs/assets/swagger-ui.css")
    assert css["Content-Type"].startswith("text/css")
    for name in ("redoc.standalone.js", "swagger-ui-bundle.js.map", "__init__.py", "..%2Fconf.py"):
        response = client.get(f"/api/v1/docs/assets/{name}")
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/problem+json")
