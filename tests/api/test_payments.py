"""POST /customers/{id}/orders/{order_id}/payments: the card passes through, and never comes back
(P02; PCI DSS 3.3.1: the CVC is not kept, 3.4.1: at most BIN + last 4 is shown)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpResponse

from pledge.api import payments
from pledge.audit.models import AuditEvent
from pledge.vault.models import Order, Payment
from tests.api.conftest import Api, World, assert_problem, db_state, last_event

NUMBER = "4242424242424242"
CVC = "737"
CARD = {
    "number": "4242 4242 4242 4242",
    "expiry_month": 12,
    "expiry_year": 2030,
    "holder": "NGUYEN THI HONG NHUNG",
    "cvc": CVC,
}
# The CVC as a token of its own (not three digits inside an id or a hex reference).
CVC_TOKEN = re.compile(rf"(?<![0-9A-Za-z]){CVC}(?![0-9A-Za-z])")


def pay(api: Api, world: World, card: dict[str, Any] | None = None, **extra: Any) -> HttpResponse:
    body = {"purpose": "payment", "card": card or CARD, **extra}
    return api.post(f"/customers/{world.a}/orders/{world.order_a}/payments", body)


def assert_no_card(text: str) -> None:
    assert NUMBER not in re.sub(r"[ -]", "", text)
    assert not CVC_TOKEN.search(text), CVC_TOKEN.search(text)


def test_p02_a_payment_is_authorised_and_the_card_shown_as_brand_and_last_4(
    api: Api, world: World
) -> None:
    response = pay(api, world)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["amount"], body["currency"]) == ("authorized", "5200000.00", "VND")
    assert body["card"] == "VISA •••• 4242"
    assert body["order_id"] == str(world.order_a) and body["decline_reason"] == ""
    assert Order.objects.get(pk=world.order_a).status == "paid"
    assert last_event().type == "vault:payment_authorized"
    assert_no_card(response.content.decode())


def test_a_declined_card_is_recorded_not_refused(api: Api, world: World) -> None:
    response = pay(api, world, {**CARD, "number": "4000000000000002"})
    assert response.status_code == 201
    assert (response.json()["status"], response.json()["decline_reason"]) == (
        "declined",
        "card_declined",
    )
    assert Order.objects.get(pk=world.order_a).status == "placed"
    assert last_event().type == "vault:payment_declined"


def test_a_card_not_kept_shows_nothing_of_it(api: Api, world: World) -> None:
    response = pay(api, world, save_card=False)
    assert response.status_code == 201 and response.json()["card"] is None


def test_an_invalid_card_is_refused_naming_the_fields_only(api: Api, world: World) -> None:
    before = db_state()
    bad = {**CARD, "number": "4242 4242 4242 4241", "expiry_month": 13, "cvc": "73"}
    body = assert_problem(pay(api, world, bad), 422)
    assert {(e["field"], e["rule"]) for e in body["errors"]} == {
        ("card.number", "card_checksum"),
        ("card.expiry_month", "expiry_month"),
        ("card.cvc", "cvc_format"),
    }
    assert db_state() == before


def test_a_paid_order_is_not_paid_twice(api: Api, world: World) -> None:
    assert pay(api, world).status_code == 201
    before = db_state()
    assert_problem(pay(api, world), 422, rule="order_not_payable")
    assert db_state() == before


def test_p02_the_card_never_comes_back_nor_reaches_the_logs_or_the_audit_log(
    api: Api,
    world: World,
    issue_key: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"/customers/{world.a}/orders/{world.order_a}/payments"
    other = f"/customers/{world.b}/orders/{world.order_a}/payments"
    raw_card = json.dumps(CARD)
    typed_wrong = {**CARD, "number": int(NUMBER), "cvc": int(CVC), "holder": ["x"]}
    requests = [
        (api, url, {"purpose": "payment", "card": {**CARD, "number": "4000000000000002"}}, None),
        (api, url, {"purpose": "payment", "card": {**CARD, "expiry_year": 2001}}, None),
        (api, url, {"purpose": "payment", "card": typed_wrong}, None),
        (api, url, {"purpose": "payment", "card": {**CARD, "cvv": CVC}}, None),
        (api, url, {"purpose": "payment", "card": CARD, "extra": CVC}, None),
        (api, other, {"purpose": "payment", "card": CARD}, None),
        (Api(issue_key("order_fulfilment")), url, {"purpose": "payment", "card": CARD}, None),
        (Api(None), url, {"purpose": "payment", "card": CARD}, None),
        (api, url, None, ('{"purpose": "payment", "card": ' + raw_card).encode()),
        (api, url, None, ('{"purpose": "payment", "card": ' + raw_card + ', "x": NaN}').encode()),
        (api, url, {"purpose": "payment", "card": CARD}, None),
        (api, url, {"purpose": "payment", "card": CARD}, None),  # already paid
    ]
    statuses = []
    with caplog.at_level(logging.DEBUG):
        for client, path, body, raw in requests:
            response = client.send("post", path, body, raw=raw)
            statuses.append(response.status_code)
            assert_no_card(response.content.decode())
    assert statuses == [201, 422, 422, 422, 422, 404, 403, 401, 400, 400, 201, 422]
    assert_no_card(caplog.text)
    for event in AuditEvent.objects.all():
        assert_no_card(event.canonical)
    for row in Payment.objects.values():
        assert_no_card(json.dumps(row, default=str))


def test_validation_messages_of_the_payment_call_quote_nothing(api: Api, world: World) -> None:
    # pydantic's own messages may quote a character of the input (uuid_parsing does); here the
    # message is only the rule.
    body = assert_problem(pay(api, world, {**CARD, "cvc": 737, "number": ["4", "2"]}), 422)
    for error in body["errors"]:
        assert error["message"] == f"invalid value ({error['rule']})"


def test_an_unexpected_error_in_the_payment_call_logs_no_message(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Injected: a library failing with the card in its message (the worst case for a log).
    def leaky(**kwargs: Any) -> Any:
        raise RuntimeError(f"gateway said: bad card {NUMBER} cvc {CVC}")

    monkeypatch.setattr(payments, "authorize_payment", leaky)
    with caplog.at_level(logging.DEBUG):
        response = pay(api, world)
    assert_problem(response, 500, rule="internal_error")
    assert "RuntimeError" in caplog.text and "pay_order" in caplog.text
    assert_no_card(caplog.text)
    assert_no_card(response.content.decode())
