"""My consents (/me/consents/), receipts and marketing preferences (P04; PDPL Art 28).

A switch per consent-based purpose, with the exact text agreed to, when and how; withdrawing is
one click, as easy as giving, and the vault then refuses the purpose; receipts are printable and
signed; another customer's receipt is a 404.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import yaml
from django.test import Client

from pledge.audit.models import AuditEvent
from pledge.consent.models import ConsentEvent
from pledge.consent.receipts import verify_receipt
from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import load_policy, parse_policy
from pledge.policy.services import publish_policy
from pledge.vault import services
from pledge.vault.errors import ConsentRequired
from tests.portal import test_center_pages as center
from tests.portal.test_center_pages import Customer

# The shared personas and set-up (fixtures of test_center_pages).
quick_passwords = center.quick_passwords
nhung = center.nhung
bao = center.bao


def ledger(customer: Customer, purpose: str) -> list[ConsentEvent]:
    return list(
        ConsentEvent.objects.filter(customer_id=customer.id, purpose=purpose).order_by("at", "id")
    )


def card(html: str, purpose: str) -> str:
    start = html.index(f'data-purpose="{purpose}"')
    return html[start : html.index("</article>", start)]


def switch(client: Client, purpose: str, decision: str, back: str = "") -> Any:
    return client.post(f"/me/consents/{purpose}/", {"decision": decision, "back": back})


def read_database(customer: Customer, staff: Any) -> Any:
    return services.read_customer(
        actor=staff("customer_service"), purpose="customer_database", customer_id=customer.id
    )


def test_it_lists_each_consent_purpose_with_what_i_agreed_to_when_and_how(
    nhung: Customer,
) -> None:
    html = nhung.client.get("/me/consents/").content.decode()
    database = card(html, "customer_database")
    assert "You have given your consent." in database
    assert "by ticking a box" in database  # the checkout's checkbox (method)
    assert "under policy version 1" in database
    [given] = ledger(nhung, "customer_database")
    assert given.notice is not None
    # The exact text shown then, as the ledger keeps it (HTML-escaped on the page).
    first_line = given.notice.text.splitlines()[0]
    assert first_line in database
    assert f"/me/receipts/{given.receipt_id}/" in database
    assert 'value="withdraw"' in database
    notices = card(html, "service_notices")
    assert "No consent" in notices and 'value="give"' in notices
    # Only purposes based on consent: not the order, not fraud prevention.
    assert 'data-purpose="order_fulfilment"' not in html
    assert 'data-purpose="fraud_prevention"' not in html


def test_withdrawing_is_one_click_and_the_vault_then_refuses_the_purpose(
    nhung: Customer, staff: Any
) -> None:
    assert read_database(nhung, staff).fields  # live consent from the checkout
    response = switch(nhung.client, "customer_database", "withdraw")
    assert response.status_code == 302 and response["Location"] == "/me/consents/"
    _given, withdrawn = ledger(nhung, "customer_database")
    assert withdrawn.action == "withdrawn"
    assert withdrawn.method == "privacy_center" and withdrawn.channel == "privacy_center"
    assert withdrawn.actor == f"customer:{nhung.id}"
    with pytest.raises(ConsentRequired):
        read_database(nhung, staff)
    html = nhung.client.get("/me/consents/").content.decode()
    assert "you withdrew your consent" in html
    assert "No consent" in card(html, "customer_database")
    # Giving it back is the same single click.
    assert switch(nhung.client, "customer_database", "give").status_code == 302
    assert [e.action for e in ledger(nhung, "customer_database")] == [
        "given",
        "withdrawn",
        "given",
    ]
    assert read_database(nhung, staff).fields


def test_giving_records_the_text_the_page_showed(nhung: Customer) -> None:
    html = nhung.client.get("/me/consents/").content.decode()
    shown = card(html, "service_notices")
    switch(nhung.client, "service_notices", "give")
    [event] = ledger(nhung, "service_notices")
    assert event.action == "given" and event.language == "en"
    assert event.notice is not None
    for line in event.notice.text.splitlines():
        assert line.replace("'", "&#x27;") in shown
    audit = AuditEvent.objects.filter(type="consent:given", customer_id=nhung.id).latest("seq")
    assert audit.purpose == "service_notices"


def test_withdrawing_twice_writes_once(nhung: Customer) -> None:
    switch(nhung.client, "customer_database", "withdraw")
    switch(nhung.client, "customer_database", "withdraw")
    assert [e.action for e in ledger(nhung, "customer_database")] == ["given", "withdrawn"]


@pytest.mark.parametrize(
    "purpose",
    ["order_fulfilment", "fraud_prevention", "no_such_purpose", "cookies:analytics", "x" * 300],
)
def test_a_purpose_that_is_not_mine_to_switch_is_not_found(nhung: Customer, purpose: str) -> None:
    before = ConsentEvent.objects.count()
    assert switch(nhung.client, purpose, "withdraw").status_code == 404
    assert ConsentEvent.objects.count() == before


@pytest.mark.parametrize("data", [{}, {"decision": "maybe"}, {"decision": "give", "back": "//x"}])
def test_a_malformed_switch_is_a_400_and_changes_nothing(
    nhung: Customer, data: dict[str, str]
) -> None:
    before = ConsentEvent.objects.count()
    response = nhung.client.post("/me/consents/customer_database/", data)
    assert response.status_code == 400
    assert "Nothing was changed" in response.content.decode()
    assert ConsentEvent.objects.count() == before


def test_switching_needs_a_post(nhung: Customer) -> None:
    assert nhung.client.get("/me/consents/customer_database/").status_code == 405


def test_switching_needs_the_csrf_token(nhung: Customer) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = nhung.client.cookies
    assert switch(strict, "customer_database", "withdraw").status_code == 403
    assert len(ledger(nhung, "customer_database")) == 1


def test_one_customer_switch_leaves_the_others_consent_alone(
    nhung: Customer, bao: Customer, staff: Any
) -> None:
    switch(nhung.client, "customer_database", "withdraw")
    assert read_database(bao, staff).fields
    assert [e.action for e in ledger(bao, "customer_database")] == ["given"]


# -- receipts ------------------------------------------------------------------------------


def test_a_receipt_is_printable_and_its_json_is_signed(nhung: Customer) -> None:
    [given] = ledger(nhung, "customer_database")
    url = f"/me/receipts/{given.receipt_id}/"
    page = nhung.client.get(url)
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    html = page.content.decode()
    assert str(given.receipt_id) in html
    assert "Managing the customer database" in html
    assert given.notice is not None and given.notice.sha256 in html
    assert "Leman Jewelry" in html
    signed = nhung.client.get(url, {"format": "json"})
    assert signed.status_code == 200 and signed["Content-Type"] == "application/json"
    receipt = json.loads(signed.content)
    assert receipt["consentReceiptID"] == str(given.receipt_id)
    assert receipt["piiPrincipalId"] == f"customer:{nhung.id}"
    assert verify_receipt(receipt)
    receipt["noticeText"] += " (changed)"
    assert not verify_receipt(receipt)


def test_another_customers_receipt_is_not_found(nhung: Customer, bao: Customer) -> None:
    [theirs] = ledger(bao, "customer_database")
    for suffix in ["", "?format=json"]:
        response = nhung.client.get(f"/me/receipts/{theirs.receipt_id}/{suffix}")
        assert response.status_code == 404
        assert str(theirs.receipt_id) not in response.content.decode()
    assert nhung.client.get(f"/me/receipts/{uuid.uuid4()}/").status_code == 404
    assert nhung.client.get("/me/receipts/not-a-uuid/").status_code == 404


# -- marketing -----------------------------------------------------------------------------


def test_a_shop_without_marketing_says_so_plainly(nhung: Customer) -> None:
    html = nhung.client.get("/me/marketing/").content.decode()
    assert "This shop sends no marketing" in html
    assert '<form method="post" action="/me/consents/' not in html


def publish_with_marketing(basis: str) -> None:
    """Preset B, version 2, with a newsletter purpose (direct marketing)."""
    data = yaml.safe_load(load_policy("leman-jewelry").text)
    data["version"] = "2"
    data["purposes"].append(
        {
            "key": "newsletter",
            "name": {"vi": "Bản tin khuyến mãi", "en": "Promotional newsletter"},
            "description": {
                "vi": "Gửi bản tin khuyến mãi hằng tháng qua thư điện tử.",
                "en": "Send a monthly promotional newsletter by email.",
            },
            "basis": basis,
            "marketing": True,
            "fields": ["email"],
            "roles": ["customer_service"],
        }
    )
    loaded = parse_policy(yaml.safe_dump(data, allow_unicode=True), source="test")
    publish_policy(loaded, actor="test", effective_date=loaded.policy.effective_date)
    clear_policy_cache()


@pytest.mark.parametrize(
    ("basis", "state", "button"),
    [
        ("consent", "No consent", "Give consent"),
        ("legitimate_interest", "Allowed (you have not objected)", "Object: stop this"),
    ],
)
def test_marketing_purposes_get_a_switch_each(
    nhung: Customer, basis: str, state: str, button: str
) -> None:
    publish_with_marketing(basis)
    html = nhung.client.get("/me/marketing/").content.decode()
    newsletter = card(html, "newsletter")
    assert "Promotional newsletter" in newsletter and "monthly" in newsletter
    assert state in newsletter and button in newsletter
    assert 'data-purpose="customer_database"' not in html  # not marketing
    decision = "give" if basis == "consent" else "withdraw"
    response = switch(nhung.client, "newsletter", decision, back="marketing")
    assert response["Location"] == "/me/marketing/"
    [event] = ledger(nhung, "newsletter")
    assert event.action == ("given" if basis == "consent" else "withdrawn")
    after = card(nhung.client.get("/me/marketing/").content.decode(), "newsletter")
    assert state not in after
