"""POST /consent/choices: a banner choice recorded in the consent ledger (P07; LAW.md, Cookies).

Strict input: every malformed body gets a 4xx problem naming the field, and writes nothing.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client

from pledge.audit.models import AuditEvent
from pledge.consent.banner import build_config, notice_text
from pledge.consent.models import ConsentEvent, ConsentNotice, ConsentState
from pledge.consent.services import cookie_state, visitor_key
from pledge.consent.views_banner import MAX_CHOICES_BYTES
from pledge.policy.enforcement import clear_policy_cache

CHOICES = "/consent/choices"
SHOP = "https://leman.jewelry"
VISITOR = "3f2b8c4e-5d6a-4b7c-8d9e-0a1b2c3d4e5f"
ALL_TRUE = {"preferences": True, "analytics": True, "advertising": True}
ALL_FALSE = {"preferences": False, "analytics": False, "advertising": False}


def body(leman: Any, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "visitor": VISITOR,
        "choices": dict(ALL_TRUE),
        "method": "banner_accept_all",
        "language": "en",
        "policy_hash": leman.content_hash,
    }
    data.update(changes)
    return data


def post(client: Client, data: Any, *, origin: str | None = SHOP, **headers: str) -> Any:
    if origin is not None:
        headers["Origin"] = origin
    raw = data if isinstance(data, (str, bytes)) else json.dumps(data)
    content_type = headers.pop("content_type", "application/json")
    return client.post(CHOICES, raw, content_type=content_type, headers=headers)


def ledger() -> dict[str, str]:
    return dict(ConsentEvent.objects.order_by("id").values_list("purpose", "action"))


def nothing_written() -> bool:
    return not ConsentEvent.objects.exists() and not ConsentState.objects.exists()


# -- recording -----------------------------------------------------------------------------------


def test_accept_all_gives_every_category(client: Client, leman: Any) -> None:
    response = post(client, body(leman))
    assert response.status_code == 200
    assert response.json() == {"recorded": 3, "choices": ALL_TRUE}
    assert response["Access-Control-Allow-Origin"] == SHOP
    assert response["Cache-Control"] == "no-store"
    assert ledger() == {
        "cookies:advertising": "given",
        "cookies:analytics": "given",
        "cookies:preferences": "given",
    }
    event = ConsentEvent.objects.get(purpose="cookies:analytics")
    assert event.method == "banner_accept_all"
    assert event.channel == "banner"
    assert event.language == "en"
    assert event.customer_id is None
    assert event.visitor == visitor_key(VISITOR)
    assert event.actor == f"visitor:{visitor_key(VISITOR)[:12]}"
    assert event.policy_hash == leman.content_hash
    # The exact text the banner showed, kept for the record (LAW.md, Consent).
    assert event.notice is not None
    assert event.notice.text == notice_text(build_config(leman, "en", policy_url=""))
    assert cookie_state(visitor_id=VISITOR) == ALL_TRUE


def test_reject_all_refuses_every_category(client: Client, leman: Any) -> None:
    response = post(client, body(leman, choices=ALL_FALSE, method="banner_reject_all"))
    assert response.status_code == 200
    assert set(ledger().values()) == {"withdrawn"}
    assert len(ledger()) == 3
    assert cookie_state(visitor_id=VISITOR) == ALL_FALSE


def test_a_custom_choice_records_each_category_as_chosen(client: Client, leman: Any) -> None:
    chosen = {"preferences": True, "analytics": False, "advertising": False, "necessary": True}
    response = post(client, body(leman, choices=chosen, method="banner_custom", language="vi"))
    assert response.status_code == 200
    assert ledger() == {
        "cookies:advertising": "withdrawn",
        "cookies:analytics": "withdrawn",
        "cookies:preferences": "given",
    }
    assert set(ConsentEvent.objects.values_list("language", flat=True)) == {"vi"}


def test_changing_one_choice_records_only_that_change(client: Client, leman: Any) -> None:
    post(client, body(leman, choices=ALL_FALSE, method="banner_reject_all"))
    changed = {**ALL_FALSE, "analytics": True}
    response = post(client, body(leman, choices=changed, method="banner_custom"))
    assert response.json()["recorded"] == 1
    assert ConsentEvent.objects.count() == 4
    assert ConsentEvent.objects.order_by("-id").first().purpose == "cookies:analytics"


def test_gpc_refuses_advertising_once(client: Client, leman: Any) -> None:
    gpc = body(leman, choices={"advertising": False}, method="gpc")
    assert post(client, gpc).json()["recorded"] == 1
    assert post(client, gpc).json()["recorded"] == 0
    event = ConsentEvent.objects.get()
    assert (event.purpose, event.action, event.method) == (
        "cookies:advertising",
        "withdrawn",
        "gpc",
    )
    assert "Global Privacy Control" in event.notice.text


def test_an_explicit_choice_after_gpc_wins(client: Client, leman: Any) -> None:
    post(client, body(leman, choices={"advertising": False}, method="gpc"))
    post(client, body(leman))
    assert cookie_state(visitor_id=VISITOR)["advertising"] is True
    assert ConsentEvent.objects.order_by("-id").first().method == "banner_accept_all"


def test_the_visitor_id_is_stored_only_as_an_hmac(client: Client, leman: Any) -> None:
    post(client, body(leman))
    stored = repr(
        [
            list(model.objects.values())
            for model in (ConsentEvent, ConsentState, ConsentNotice, AuditEvent)
        ]
    )
    assert VISITOR not in stored
    assert VISITOR.replace("-", "") not in stored
    audit = AuditEvent.objects.get(type="consent:cookie_choice")
    assert audit.actor == f"visitor:{visitor_key(VISITOR)[:12]}"


def test_it_sets_no_cookie(client: Client, leman: Any) -> None:
    assert not post(client, body(leman)).cookies


def test_a_request_without_origin_is_recorded_for_the_visitor(client: Client, leman: Any) -> None:
    # Not a browser (browsers always send Origin on POST): no ambient authority is used.
    assert post(client, body(leman), origin=None).status_code == 200
    assert ConsentEvent.objects.filter(visitor=visitor_key(VISITOR)).count() == 3


# -- refusals ------------------------------------------------------------------------------------


def test_a_stale_policy_hash_is_a_conflict(client: Client, leman: Any) -> None:
    response = post(client, body(leman, policy_hash="0" * 64))
    assert response.status_code == 409
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == "policy_hash"
    assert response["Access-Control-Allow-Origin"] == SHOP  # so the banner can read it
    assert nothing_written()


BAD_BODIES = [
    ({"choices": {**ALL_TRUE, "tracking": True}}, "choices.tracking", "unknown_category"),
    ({"choices": {**ALL_TRUE, "analytics": "yes"}}, "choices.analytics", "boolean"),
    ({"choices": {**ALL_TRUE, "analytics": 1}}, "choices.analytics", "boolean"),
    ({"choices": {**ALL_TRUE, "analytics": None}}, "choices.analytics", "boolean"),
    ({"choices": {**ALL_TRUE, "necessary": False}}, "choices.necessary", "required"),
    ({"choices": {"preferences": True, "analytics": True}}, "choices.advertising", "required"),
    ({"choices": {**ALL_TRUE, "advertising": False}}, "choices", "method"),
    ({"choices": ALL_TRUE, "method": "banner_reject_all"}, "choices", "method"),
    ({"choices": {"advertising": True}, "method": "gpc"}, "choices", "gpc_refusal"),
    ({"choices": {}, "method": "gpc"}, "choices", "gpc_refusal"),
    ({"choices": ["analytics"]}, "choices", "type"),
    ({"visitor": "not-a-uuid"}, "visitor", "uuid"),
    ({"visitor": VISITOR.upper()}, "visitor", "uuid"),
    ({"visitor": "{" + VISITOR + "}"}, "visitor", "uuid"),
    ({"visitor": 12345}, "visitor", "uuid"),
    ({"visitor": None}, "visitor", "uuid"),
    ({"method": "banner_wink"}, "method", "choice"),
    ({"method": ["gpc"]}, "method", "choice"),
    ({"language": "fr"}, "language", "choice"),
    ({"policy_hash": "abc"}, "policy_hash", "sha256"),
    ({"policy_hash": 7}, "policy_hash", "sha256"),
    ({"extra": 1}, "extra", "unknown_field"),
]


@pytest.mark.parametrize(("changes", "field", "rule"), BAD_BODIES)
def test_bad_input_is_refused_naming_the_field(
    client: Client, leman: Any, changes: dict[str, Any], field: str, rule: str
) -> None:
    response = post(client, body(leman, **changes))
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    error = response.json()["errors"][0]
    assert (error["field"], error["rule"]) == (field, rule)
    assert nothing_written()


@pytest.mark.parametrize("missing", ["visitor", "choices", "method", "language", "policy_hash"])
def test_each_field_is_required(client: Client, leman: Any, missing: str) -> None:
    data = body(leman)
    del data[missing]
    response = post(client, data)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == missing
    assert nothing_written()


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "null", b"\xff\xfe{}"])
def test_a_body_that_is_not_a_json_object_is_refused(
    client: Client, leman: Any, raw: str | bytes
) -> None:
    response = post(client, raw)
    assert response.status_code == 400
    assert response.json()["errors"][0]["rule"] in {"json", "type"}
    assert nothing_written()


def test_an_oversized_body_is_refused(client: Client, leman: Any) -> None:
    data = body(leman, padding="x" * MAX_CHOICES_BYTES)
    response = post(client, data)
    assert response.status_code == 413
    assert response.json()["errors"][0]["rule"] == "max_body_size"
    assert nothing_written()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_other_content_types_are_refused(client: Client, leman: Any, content_type: str) -> None:
    response = post(client, json.dumps(body(leman)), content_type=content_type)
    assert response.status_code == 415
    assert response.json()["errors"][0]["field"] == "Content-Type"
    assert nothing_written()


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://leman.jewelry"])
def test_other_sites_may_not_post_choices(client: Client, leman: Any, origin: str) -> None:
    response = post(client, body(leman), origin=origin)
    assert response.status_code == 403
    assert response.json()["errors"][0]["field"] == "Origin"
    assert "Access-Control-Allow-Origin" not in response
    assert nothing_written()


def test_only_post_and_preflight_are_allowed(client: Client, leman: Any) -> None:
    assert client.get(CHOICES).status_code == 405
    assert client.put(CHOICES, "{}", content_type="application/json").status_code == 405


def test_it_answers_503_without_a_policy(client: Client, db: None) -> None:
    clear_policy_cache()
    response = post(client, {"visitor": VISITOR})
    assert response.status_code == 503
    assert nothing_written()


# -- CORS preflight ------------------------------------------------------------------------------


def preflight(client: Client, origin: str, method: str = "POST") -> Any:
    return client.options(
        CHOICES,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )


def test_the_shop_gets_a_preflight_answer(client: Client, leman: Any) -> None:
    response = preflight(client, SHOP)
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == SHOP
    assert response["Access-Control-Allow-Methods"] == "POST"
    assert response["Access-Control-Allow-Headers"] == "Content-Type"
    assert "Access-Control-Allow-Credentials" not in response


def test_configured_origins_get_a_preflight_answer(
    client: Client, leman: Any, settings: Any
) -> None:
    settings.PLEDGE_BANNER_ORIGINS = ["http://127.0.0.1:8001"]
    assert preflight(client, "http://127.0.0.1:8001").status_code == 204


def test_other_origins_get_no_preflight_answer(client: Client, leman: Any) -> None:
    response = preflight(client, "https://evil.example")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response


def test_a_preflight_for_another_method_is_refused(client: Client, leman: Any) -> None:
    response = preflight(client, SHOP, method="DELETE")
    assert response.status_code == 400
    assert "Access-Control-Allow-Methods" not in response


def test_a_fresh_visitor_is_a_separate_subject(client: Client, leman: Any) -> None:
    post(client, body(leman))
    other = str(uuid.uuid4())
    post(client, body(leman, visitor=other, choices=ALL_FALSE, method="banner_reject_all"))
    assert cookie_state(visitor_id=VISITOR) == ALL_TRUE
    assert cookie_state(visitor_id=other) == ALL_FALSE
