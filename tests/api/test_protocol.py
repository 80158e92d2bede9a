"""The HTTP contract around the endpoints: headers, CSRF, problems for unknown paths and methods,
the catch-all 500, and no policy in force."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from pledge.api.models import ApiKey
from pledge.api.services import hash_token
from pledge.vault import services
from tests.api.conftest import CUSTOMER_FIELDS, Api, World, assert_problem, last_event


def test_x_api_key_header_and_any_case_bearer_are_accepted(
    issue_key: Callable[..., str], world: World
) -> None:
    token = issue_key()
    path = f"/api/v1/customers/{world.a}?purpose=order_fulfilment"
    assert Client(headers={"X-API-Key": token}).get(path).status_code == 200
    assert Client(headers={"Authorization": f"bearer {token}"}).get(path).status_code == 200
    # Another scheme is not a key.
    assert_problem(
        Client(headers={"Authorization": f"Basic {token}"}).get(path), 401, rule="api_key_invalid"
    )


def test_a_401_says_how_to_authenticate(world: World) -> None:
    response = Api(None).get(f"/customers/{world.a}", purpose="order_fulfilment")
    assert_problem(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="pledge"'


def test_the_key_records_when_it_was_last_used(issue_key: Callable[..., str], world: World) -> None:
    token = issue_key()
    key = ApiKey.objects.get(prefix=token.split("_")[1])
    assert key.last_used_at is None
    Api(token).get(f"/customers/{world.a}", purpose="order_fulfilment")
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_no_csrf_token_is_needed(issue_key: Callable[..., str]) -> None:
    client = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {issue_key()}"})
    response = client.post(
        "/api/v1/customers",
        {"purpose": "order_fulfilment", "fields": CUSTOMER_FIELDS},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content


def test_a_presented_key_never_reaches_the_logs(
    issue_key: Callable[..., str], world: World, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    settings.DEBUG = True  # ninja's own bearer class logs unexpected headers in DEBUG
    token = issue_key()
    wrong = token[:-4] + "abcd"
    with caplog.at_level(logging.DEBUG):
        for headers in (
            {"Authorization": f"Bearer {wrong}"},
            {"Authorization": f"Token {token}"},
            {"X-API-Key": wrong},
        ):
            response = Client(headers=headers).get(f"/api/v1/customers/{world.a}?purpose=x_y")
            assert response.status_code == 401
    assert token[20:] not in caplog.text and wrong[20:] not in caplog.text
    assert token[20:] not in last_event().canonical


def test_unknown_paths_and_methods_are_problems_too(api: Api, world: World) -> None:
    for path in ("/nothing", "/", "/customers/", "/docs/assets/../settings.py"):
        assert_problem(api.get(path), 404)
    assert_problem(api.post("/nothing", {}), 404)
    response = api.client.delete(f"/api/v1/customers/{world.a}")
    assert_problem(response, 405, rule="method")
    assert set(response["Allow"].split(", ")) == {"GET", "PATCH"}


def test_an_unexpected_error_is_a_500_problem_without_details(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The one injected fault of this suite: nothing real raises an unexpected error on purpose.
    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("internal detail: /srv/pledge/secret.key")

    monkeypatch.setattr(services, "read_customer", broken)
    response = api.get(f"/customers/{world.a}", purpose="order_fulfilment")
    body = assert_problem(response, 500, rule="internal_error")
    assert b"secret.key" not in response.content and b"RuntimeError" not in response.content
    assert "RuntimeError" in caplog.text  # for the administrator, in the log
    assert body["type"].endswith("/internal-error")


def test_no_policy_in_force_is_503(db: None) -> None:
    token = "pledge_00112233aabb_" + "1" * 64
    ApiKey.objects.create(
        name="early", prefix="00112233aabb", secret_hash=hash_token(token), purposes=["payment"]
    )
    response = Api(token).get("/customers/lookup", purpose="payment", email="a@example.vn")
    assert_problem(response, 503)


def test_a_content_length_that_is_no_number_is_400(api: Api) -> None:
    response = api.client.generic(
        "POST",
        "/api/v1/customers",
        b"{}",
        content_type="application/json",
        CONTENT_LENGTH="lots",
    )
    assert_problem(response, 400, rule="content_length")
