"""The vault's consent check on every path, not only profile reads and writes (P04; GDPR Art
21(3)): lookups by value, the guarantee lookup, orders and guarantee cards. A customer who did not
consent (or objected to marketing) cannot be found, read or written through that purpose."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.consent.conftest import MARKETING_PURPOSES, publish, variant_of_leman

from pledge.audit.models import AuditEvent
from pledge.consent import services as consent
from pledge.policy.enforcement import EnforcedPolicy, clear_policy_cache, enforced_policy
from pledge.policy.loader import load_policy
from pledge.vault import services
from pledge.vault.access import Actor
from pledge.vault.errors import ConsentRequired
from pledge.vault.models import GuaranteeCard, Order

# A purpose based on consent that records purchases and guarantee cards: a loyalty programme.
LOYALTY: dict[str, Any] = {
    "key": "loyalty",
    "name": {"vi": "Khách hàng thân thiết", "en": "Loyalty programme"},
    "description": {
        "vi": "Ghi nhận đơn hàng và phiếu bảo hành để tích điểm.",
        "en": "Record orders and guarantee cards to earn points.",
    },
    "basis": "consent",
    "fields": ["full_name", "purchase_history", "guarantee_number"],
    "roles": ["sales"],
}
# A purpose based on consent that keeps payment details on invoices (an instalment plan).
INSTALMENTS: dict[str, Any] = {
    "key": "instalments",
    "name": {"vi": "Trả góp", "en": "Instalment plan"},
    "description": {
        "vi": "Lập hóa đơn các kỳ trả góp.",
        "en": "Invoice the instalments of a plan.",
    },
    "basis": "consent",
    "fields": ["payment_history"],
    "roles": ["accounting"],
}


@pytest.fixture
def loyalty(db: None) -> Iterator[EnforcedPolicy]:
    base = load_policy("leman-jewelry").policy
    purposes = [p.model_dump(mode="python", exclude_none=True) for p in base.purposes]
    publish(
        variant_of_leman(
            "test-loyalty", purposes=[*purposes, LOYALTY, INSTALMENTS, *MARKETING_PURPOSES]
        )
    )
    yield enforced_policy()
    clear_policy_cache()


def last_refusal() -> AuditEvent:
    event = AuditEvent.objects.filter(outcome="refused").order_by("-seq").first()
    assert event is not None
    return event


def issue_card(shop: Actor, customer: uuid.UUID, number: str = "LM-0001") -> None:
    services.issue_guarantee(
        actor=shop,
        purpose="guarantee",
        customer_id=customer,
        number=number,
        product="Lotus ring",
        issued_on=dt.date(2026, 1, 5),
        valid_until=dt.date(2028, 1, 5),
    )


def test_the_guarantee_lookup_refuses_a_consent_purpose_without_consent(
    leman: Any, shop_api: Actor, customer: uuid.UUID, staff: Callable[..., Actor]
) -> None:
    # customer_database (basis consent) may read guarantee numbers: the holder must consent.
    issue_card(shop_api, customer)
    with pytest.raises(ConsentRequired):
        services.lookup_guarantee(
            actor=staff("customer_service"), purpose="customer_database", number="LM-0001"
        )
    refusal = last_refusal()
    assert refusal.customer_id == customer and '"rule":"consent_required"' in refusal.details
    consent.give_consent(customer_id=customer, purpose="customer_database", method="m", actor="t")
    card = services.lookup_guarantee(
        actor=staff("customer_service"), purpose="customer_database", number="LM-0001"
    )
    assert card.customer_id == customer and "full_name" in card.fields
    consent.withdraw_consent(
        customer_id=customer, purpose="customer_database", method="m", actor="t"
    )
    with pytest.raises(ConsentRequired):
        services.lookup_guarantee(
            actor=staff("customer_service"), purpose="customer_database", number="LM-0001"
        )
    # The contract purpose of the card itself needs no consent.
    services.lookup_guarantee(actor=staff("sales"), purpose="guarantee", number="LM-0001")


def test_a_lookup_does_not_find_who_did_not_consent(
    leman: Any,
    new_customer: Callable[..., uuid.UUID],
    staff: Callable[..., Actor],
) -> None:
    willing = new_customer(email="same@example.vn")
    unwilling = new_customer(email="same@example.vn")
    consent.give_consent(customer_id=willing, purpose="customer_database", method="m", actor="t")
    found = services.lookup_customers(
        actor=staff("owner"), purpose="customer_database", by="email", value="same@example.vn"
    )
    assert found == [willing]
    event = AuditEvent.objects.filter(type="vault:lookup").order_by("-seq").first()
    assert event is not None and '"withheld":1' in event.details
    # For a purpose that needs no consent both are found.
    both = services.lookup_customers(
        actor=staff("sales"), purpose="order_fulfilment", by="email", value="same@example.vn"
    )
    assert set(both) == {willing, unwilling}


def test_a_lookup_for_marketing_does_not_find_who_objected(
    marketing: Any, new_customer: Callable[..., uuid.UUID], staff: Callable[..., Actor]
) -> None:
    customer = new_customer(email="offers@example.vn")
    sales = staff("sales")
    assert services.lookup_customers(
        actor=sales, purpose="promotions", by="email", value="offers@example.vn"
    ) == [customer]
    consent.withdraw_consent(
        customer_id=customer, purpose="promotions", method="one_click", actor="t", channel="email"
    )
    assert (
        services.lookup_customers(
            actor=sales, purpose="promotions", by="email", value="offers@example.vn"
        )
        == []
    )


def test_orders_and_guarantee_cards_for_a_consent_purpose_need_consent(
    loyalty: Any, shop_api: Actor, new_customer: Callable[..., uuid.UUID]
) -> None:
    customer = new_customer()
    shop = Actor(kind="api", id="loyalty-backend")

    def order(number: str) -> uuid.UUID:
        return services.place_order(
            actor=shop,
            purpose="loyalty",
            customer_id=customer,
            number=number,
            items=[{"sku": "R1", "name": "Ring", "quantity": 1, "unit_price": "10"}],
            total="10",
        )

    with pytest.raises(ConsentRequired):
        order("L-1")
    assert not Order.objects.exists()
    assert last_refusal().type == "vault:write_refused"
    with pytest.raises(ConsentRequired):
        services.issue_guarantee(
            actor=shop,
            purpose="loyalty",
            customer_id=customer,
            number="LM-0100",
            product="Ring",
            issued_on=dt.date(2026, 1, 5),
            valid_until=dt.date(2027, 1, 5),
        )
    assert not GuaranteeCard.objects.exists()
    consent.give_consent(customer_id=customer, purpose="loyalty", method="m", actor="t")
    order("L-2")
    assert Order.objects.filter(number="L-2").exists()


def test_invoices_for_a_consent_purpose_need_consent(
    loyalty: Any,
    shop_api: Actor,
    new_customer: Callable[..., uuid.UUID],
    staff: Callable[..., Actor],
) -> None:
    from pledge.vault import invoices
    from pledge.vault.models import Invoice

    customer = new_customer()
    order = services.place_order(
        actor=shop_api,
        purpose="order_fulfilment",
        customer_id=customer,
        number="I-1",
        items=[{"sku": "R1", "name": "Ring", "quantity": 1, "unit_price": "10"}],
        total="10",
    )
    accounting = staff("accounting")

    def issue(number: str) -> uuid.UUID:
        return invoices.issue_invoice(
            actor=accounting,
            purpose="instalments",
            customer_id=customer,
            order_id=order,
            number=number,
        )

    with pytest.raises(ConsentRequired):
        issue("HD-1")
    assert not Invoice.objects.exists()
    assert last_refusal().type == "vault:write_refused"
    consent.give_consent(customer_id=customer, purpose="instalments", method="m", actor="t")
    issue("HD-2")
    assert [
        i.number
        for i in invoices.list_invoices(
            actor=accounting, purpose="instalments", customer_id=customer
        )
    ] == ["HD-2"]
    consent.withdraw_consent(customer_id=customer, purpose="instalments", method="m", actor="t")
    with pytest.raises(ConsentRequired):
        invoices.list_invoices(actor=accounting, purpose="instalments", customer_id=customer)
    assert last_refusal().type == "vault:access_refused"
