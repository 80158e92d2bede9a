"""Synthetic demo customers: written through the vault services, deterministic, idempotent."""

from __future__ import annotations

import io
from typing import Any

from django.core.management import call_command

from pledge.audit.models import AuditEvent
from pledge.audit.verify import verify_chain
from pledge.consent.models import ConsentEvent, ConsentState
from pledge.vault import services
from pledge.vault.demo_data import SyntheticCustomers, ascii_slug, seed_demo_customers
from pledge.vault.models import Customer, EncryptedValue, GuaranteeCard, Order
from pledge.vault.normalise import clean_value, normalise_phone


def test_it_seeds_customers_with_orders_readable_through_the_services(
    leman: Any, staff: Any
) -> None:
    assert seed_demo_customers(20) == 20
    customers = Customer.objects.filter(external_ref__startswith="demo-")
    assert customers.count() == 20
    assert Order.objects.count() > 0
    assert GuaranteeCard.objects.count() == Order.objects.count()  # preset B has P03 cards
    consents = ConsentEvent.objects.filter(purpose__in=["customer_database", "service_notices"])
    assert consents.exists()
    assert {(e.method, e.channel, e.action) for e in consents} == {("demo", "system", "given")}
    assert ConsentState.objects.filter(live=True).count() == consents.count()
    with_orders = Order.objects.values_list("customer_id", flat=True).first()
    assert with_orders is not None
    view = services.read_customer(
        actor=staff("sales"), purpose="order_fulfilment", customer_id=with_orders
    )
    assert set(view.fields) == {"full_name", "address", "email", "phone"}
    assert view.fields["phone"].startswith("+84")
    orders = services.list_orders(
        actor=staff("sales"), purpose="order_fulfilment", customer_id=with_orders
    )
    assert orders and orders[0].items and orders[0].total > 0
    assert orders[0].fields["full_name"] == view.fields["full_name"]
    # Everything went through the services: encrypted, and audited in one intact chain.
    assert EncryptedValue.objects.filter(customer_id=with_orders).exists()
    assert AuditEvent.objects.filter(type="vault:customer_created").count() == 20
    assert AuditEvent.objects.filter(type="vault:order_placed").count() == Order.objects.count()
    assert verify_chain().ok


def test_it_does_nothing_when_demo_customers_exist(leman: Any) -> None:
    assert seed_demo_customers(5) == 5
    events = AuditEvent.objects.count()
    assert seed_demo_customers(5) == 0
    assert Customer.objects.count() == 5 and AuditEvent.objects.count() == events


def test_the_same_seed_gives_the_same_people() -> None:
    first = [SyntheticCustomers(7).customer(i) for i in range(1, 4)]
    second = [SyntheticCustomers(7).customer(i) for i in range(1, 4)]
    assert [(c.full_name, c.email, c.phone) for c in first] == [
        (c.full_name, c.email, c.phone) for c in second
    ]


def test_synthetic_values_pass_the_vaults_validation() -> None:
    people = SyntheticCustomers(11)
    for index in range(1, 400):
        person = people.customer(index)
        assert normalise_phone(person.phone, "VN").startswith("+84")
        for field in ("full_name", "email", "address"):
            clean_value(field, getattr(person, field), region="VN")
    assert ascii_slug("Nguyễn Thị Đào") == "nguyen.thi.dao"


def test_demo_command_creates_customers_once(db: None) -> None:
    out = io.StringIO()
    call_command("demo", "--preset", "leman-jewelry", "--no-serve", "--customers", "6", stdout=out)
    assert "created 6 demo customers" in out.getvalue()
    again = io.StringIO()
    call_command(
        "demo", "--preset", "leman-jewelry", "--no-serve", "--customers", "6", stdout=again
    )
    assert "demo customers already created" in again.getvalue()
    assert Customer.objects.count() == 6
