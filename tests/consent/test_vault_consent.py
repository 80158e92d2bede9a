"""The vault's consent check (P04; GDPR Art 21(3)): a purpose based on consent is refused without a
live consent in the ledger, direct marketing while an objection stands; a call that brings consent
records it, with the channel of the actor."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from pledge.api.services import create_api_key
from pledge.audit.models import AuditEvent
from pledge.consent import services as consent
from pledge.consent.models import ConsentEvent
from pledge.vault import services
from pledge.vault.access import Actor
from pledge.vault.errors import ConsentRequired, ValuesInvalid
from pledge.vault.models import Customer


def refusal_rule() -> str:
    event = AuditEvent.objects.filter(outcome="refused").order_by("-seq").first()
    assert event is not None
    return event.details


def test_a_withdrawn_consent_is_refused_by_the_vault(
    leman: Any, customer: uuid.UUID, staff: Callable[[str], Actor]
) -> None:
    consent.give_consent(customer_id=customer, purpose="customer_database", method="m", actor="t")
    view = services.read_customer(
        actor=staff("owner"), purpose="customer_database", customer_id=customer
    )
    assert "email" in view.fields
    consent.withdraw_consent(
        customer_id=customer, purpose="customer_database", method="switch", actor="t"
    )
    with pytest.raises(ConsentRequired) as refused:
        services.read_customer(
            actor=staff("owner"), purpose="customer_database", customer_id=customer
        )
    assert refused.value.problems[0].rule == "consent_required"
    assert '"rule":"consent_required"' in refusal_rule()
    # Orders read for that purpose are refused the same way.
    with pytest.raises(ConsentRequired):
        services.list_orders(
            actor=staff("owner"), purpose="customer_database", customer_id=customer
        )


def test_an_objection_to_marketing_is_absolute(
    marketing: Any, new_customer: Callable[..., uuid.UUID], marketer: Actor
) -> None:
    customer = new_customer()
    # Legitimate interest: usable without consent, until the customer objects.
    view = services.read_customer(
        actor=marketer, purpose="promotions", customer_id=customer, fields=["email"]
    )
    assert view.fields["email"] == "hong.nhung@example.vn"
    objection = consent.withdraw_consent(
        customer_id=customer, purpose="promotions", method="one_click", actor="t", channel="email"
    )
    assert objection is not None and objection.action == "withdrawn"
    assert consent.objection_stands(customer, "promotions")
    with pytest.raises(ConsentRequired) as refused:
        services.read_customer(actor=marketer, purpose="promotions", customer_id=customer)
    assert refused.value.problems[0].rule == "objection"
    assert '"rule":"objection"' in refusal_rule()
    with pytest.raises(ConsentRequired):
        services.update_customer(
            actor=marketer,
            purpose="promotions",
            customer_id=customer,
            fields={"email": "new@example.vn"},
        )
    # Objecting twice changes nothing; opting in again lifts it.
    assert (
        consent.withdraw_consent(customer_id=customer, purpose="promotions", method="m", actor="t")
        is None
    )
    consent.give_consent(customer_id=customer, purpose="promotions", method="switch", actor="t")
    assert not consent.objection_stands(customer, "promotions")
    services.read_customer(actor=marketer, purpose="promotions", customer_id=customer)


def test_a_consent_based_marketing_purpose_needs_consent_then_no_objection(
    marketing: Any, new_customer: Callable[..., uuid.UUID], marketer: Actor
) -> None:
    customer = new_customer()
    with pytest.raises(ConsentRequired) as refused:
        services.read_customer(actor=marketer, purpose="newsletter", customer_id=customer)
    assert refused.value.problems[0].rule == "consent_required"
    consent.give_consent(customer_id=customer, purpose="newsletter", method="m", actor="t")
    services.read_customer(actor=marketer, purpose="newsletter", customer_id=customer)
    consent.withdraw_consent(customer_id=customer, purpose="newsletter", method="m", actor="t")
    with pytest.raises(ConsentRequired) as again:
        services.read_customer(actor=marketer, purpose="newsletter", customer_id=customer)
    assert again.value.problems[0].rule == "objection"


def test_a_call_that_brings_consent_records_it_with_its_channel(
    leman: Any, shop_api: Actor, new_customer: Callable[..., uuid.UUID]
) -> None:
    customer = new_customer(language="en")
    services.update_customer(
        actor=shop_api,
        purpose="customer_database",
        customer_id=customer,
        fields={"phone": "0912 345 678"},
        consent_method="checkbox",
    )
    event = ConsentEvent.objects.get(customer_id=customer)
    assert (event.method, event.channel, event.language, event.actor) == (
        "checkbox",
        "api",
        "en",
        shop_api.label,
    )
    assert event.notice is not None and "Managing the customer database" in event.notice.text
    itself = Actor(kind="customer", id=str(customer))
    services.update_customer(
        actor=itself,
        purpose="service_notices",
        customer_id=customer,
        fields={"email": "me@example.vn"},
        consent_method="switch",
        consent_notice="Send me notices, please.",
    )
    mine = ConsentEvent.objects.get(customer_id=customer, purpose="service_notices")
    assert mine.channel == "privacy_center"
    assert mine.notice is not None and mine.notice.text == "Send me notices, please."


def test_a_bad_notice_in_the_call_changes_nothing(leman: Any, shop_api: Actor) -> None:
    with pytest.raises(ValuesInvalid) as refused:
        services.collect_customer(
            actor=shop_api,
            purpose="customer_database",
            fields={"email": "a@example.vn"},
            consent_method="checkbox",
            consent_notice=" ",
        )
    assert refused.value.problems[0].field == "consent.notice_text"
    assert not ConsentEvent.objects.exists()
    assert not Customer.objects.exists()


def api_client(purposes: tuple[str, ...]) -> Client:
    issued = create_api_key(name="shop", purposes=list(purposes), actor="test")
    return Client(headers={"Authorization": f"Bearer {issued.token}"})


def test_the_api_takes_the_exact_notice_shown(leman: Any) -> None:
    client = api_client(("customer_database",))
    shown = "Tôi đồng ý để Leman quản lý thông tin của tôi."
    answer = client.post(
        "/api/v1/customers",
        {
            "purpose": "customer_database",
            "fields": {"email": "ha@example.vn"},
            "language": "vi",
            "consent": {"method": "checkbox", "notice": shown},
        },
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content
    event = ConsentEvent.objects.get()
    assert event.notice is not None and event.notice.text == shown
    too_long = client.post(
        "/api/v1/customers",
        {
            "purpose": "customer_database",
            "fields": {"email": "an@example.vn"},
            "consent": {"method": "checkbox", "notice": "x" * 20_001},
        },
        content_type="application/json",
    )
    assert too_long.status_code in (400, 422)
    assert "notice" in too_long.content.decode()
    assert ConsentEvent.objects.count() == 1
