"""A choice made on Pledge's own pages by a signed-in customer is the customer's (P07, P04).

The privacy-center session is the one ambient credential Pledge has, and /consent/choices is
CSRF-exempt; so the session counts only when the browser's Origin says the post comes from
Pledge's own pages. From the shop's site (or with no Origin) the choice is the anonymous
visitor's, whatever cookies come along.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from pledge.consent.models import ConsentEvent
from pledge.consent.services import cookie_state, visitor_key
from tests.portal.conftest import customer_client, make_account

CHOICES = "/consent/choices"
VISITOR = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
OWN_ORIGIN = "http://testserver"  # the Django test client's host
SHOP = "https://leman.jewelry"


@pytest.fixture(autouse=True)
def quick_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["tests.portal.conftest.QuickArgon2PasswordHasher"]


@pytest.fixture
def customer(leman: Any) -> tuple[Client, Any]:
    account = make_account("cookie.choice@example.com")
    return customer_client(account), account


def post(client: Client, leman: Any, origin: str | None) -> Any:
    data = {
        "visitor": VISITOR,
        "choices": {"preferences": True, "analytics": False, "advertising": False},
        "method": "banner_custom",
        "language": "en",
        "policy_hash": leman.content_hash,
    }
    headers = {"Origin": origin} if origin else {}
    return client.post(CHOICES, json.dumps(data), content_type="application/json", headers=headers)


def test_on_pledge_pages_the_choice_is_the_signed_in_customers(
    customer: tuple[Client, Any], leman: Any
) -> None:
    client, account = customer
    assert post(client, leman, OWN_ORIGIN).status_code == 200
    events = ConsentEvent.objects.all()
    assert {e.customer_id for e in events} == {account.customer_id}
    assert {e.visitor for e in events} == {None}
    assert {e.actor for e in events} == {f"customer:{account.customer_id}"}
    assert cookie_state(customer_id=account.customer_id) == {
        "preferences": True,
        "analytics": False,
        "advertising": False,
    }


@pytest.mark.parametrize("origin", [SHOP, None])
def test_from_elsewhere_the_session_is_ignored(
    customer: tuple[Client, Any], leman: Any, origin: str | None
) -> None:
    client, account = customer
    assert post(client, leman, origin).status_code == 200
    events = ConsentEvent.objects.all()
    assert {e.customer_id for e in events} == {None}
    assert {e.visitor for e in events} == {visitor_key(VISITOR)}
    assert cookie_state(customer_id=account.customer_id) == {}


def test_an_anonymous_visitor_on_pledge_pages_stays_anonymous(client: Client, leman: Any) -> None:
    assert post(client, leman, OWN_ORIGIN).status_code == 200
    assert {e.visitor for e in ConsentEvent.objects.all()} == {visitor_key(VISITOR)}
