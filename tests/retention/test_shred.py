"""The sweep's batch erasure (retention/shred.py) does what `vault.erasure.erase_customer` does
(P18): twin customers, one erased by each, end alike (rows left, reports, audit details, keys).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction

from pledge.audit.events import EventType
from pledge.audit.models import AuditEvent
from pledge.consent.models import ConsentState
from pledge.notify.models import OutboxMessage
from pledge.retention.shred import erase_customers
from pledge.vault import services
from pledge.vault.access import Actor
from pledge.vault.erasure import ErasureReport, erase_customer
from pledge.vault.errors import AccessRefused
from pledge.vault.invoices import issue_invoice
from pledge.vault.keystore import KeyStore
from pledge.vault.models import (
    BlindIndex,
    Customer,
    EncryptedValue,
    GuaranteeCard,
    IdDocument,
    PaymentMethod,
    StaffNote,
)
from pledge.vault.store import generation_key

pytest.register_assert_rewrite("tests.vault.shredding")
from tests.vault.shredding import (  # noqa: E402 - after the rewrite hook
    PERSON,
    customer_with_everything,
    queue_mail,
)

pytest_plugins = ["tests.vault.shredding"]

SYSTEM = Actor(kind="system", id="retention")
TWIN = {**PERSON, "email": "twin.erase@example.vn", "phone": "0912 604 999"}
JAMES_SHOP = Actor(
    kind="api", id="james-shop", purposes=frozenset({"order_fulfilment", "customer_database"})
)
SAIGON = ZoneInfo("Asia/Ho_Chi_Minh")


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SAIGON)


def invoiced_customer(email: str) -> uuid.UUID:
    """A preset-A customer whose name is on two invoices the law still keeps (December 2026,
    January 2027) and on one whose hold is over (2015): as in tests/vault/test_erasure.py."""
    cid = services.collect_customer(
        actor=JAMES_SHOP,
        purpose="order_fulfilment",
        fields={"full_name": "Ngô Thị Hoá Đơn", "phone": "0977 310 552", "email": email},
    )
    for label, issued in (
        ("december", local(2026, 12, 31, 23, 30)),
        ("january", local(2027, 1, 1, 0, 30)),
        ("old", local(2015, 6, 1, 10, 0)),
    ):
        oid = services.place_order(
            actor=JAMES_SHOP,
            purpose="order_fulfilment",
            customer_id=cid,
            number=f"JJ-{label}-{cid.hex[:6]}",
            items=[{"sku": "D-1", "name": "Nhẫn kim cương", "quantity": 1, "unit_price": "9"}],
            total="9",
            placed_at=issued,
        )
        issue_invoice(
            actor=JAMES_SHOP,
            purpose="order_fulfilment",
            customer_id=cid,
            order_id=oid,
            number=f"INV-{label}-{cid.hex[:6]}",
            fields={"full_name": "Ngô Thị Hoá Đơn"},
            issued_at=issued,
        )
    return cid


def left_of(customer_id: uuid.UUID) -> dict[str, Any]:
    """What remains of a customer, as counts and flags (comparable between two customers)."""
    row = Customer.objects.get(pk=customer_id)
    return {
        "values": sorted(
            EncryptedValue.objects.filter(customer_id=customer_id).values_list(
                "record_kind", "field"
            )
        ),
        "indexes": BlindIndex.objects.filter(customer_id=customer_id).count(),
        "documents": IdDocument.objects.filter(customer_id=customer_id).count(),
        "notes": StaffNote.objects.filter(customer_id=customer_id).count(),
        "guarantees": GuaranteeCard.objects.filter(customer_id=customer_id).count(),
        "cards": PaymentMethod.objects.filter(customer_id=customer_id).count(),
        "live_consents": ConsentState.objects.filter(customer_id=customer_id, live=True).count(),
        "unsent": OutboxMessage.objects.filter(
            customer_id=customer_id,
            status__in=[OutboxMessage.Status.QUEUED, OutboxMessage.Status.SENDING],
        ).count(),
        "erased": row.erased_at is not None,
        "restricted": (row.restricted_at is not None, row.restriction_reason),
        "held_until": row.held_until,
        "external_ref": row.external_ref,
    }


def erased_event(customer_id: uuid.UUID) -> Any:
    return (
        AuditEvent.objects.filter(type=EventType.CUSTOMER_ERASED, customer_id=customer_id)
        .values_list("details", flat=True)
        .get()
    )


def as_compared(report: ErasureReport) -> dict[str, Any]:
    out = report.as_dict()
    out.pop("customer_id")
    out.pop("erased_at")
    return out


def erase_both(
    one: uuid.UUID, other: uuid.UUID, capture: Any
) -> tuple[ErasureReport, ErasureReport]:
    with capture(execute=True):
        single = erase_customer(actor=SYSTEM, customer_id=one)
    with capture(execute=True), transaction.atomic():
        batch = erase_customers(actor=SYSTEM, customer_ids=[other])
    return single, batch[other]


def test_the_batch_erasure_deletes_what_an_erasure_deletes(
    own_keystore: KeyStore,
    leman_with_notes: Any,
    shop_api: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    one = customer_with_everything(shop_api, notes=True).customer_id
    other = customer_with_everything(shop_api, person=TWIN, notes=True).customer_id
    queue_mail(one)
    queue_mail(other, to=TWIN["email"])
    assert left_of(one) == left_of(other)

    single, batch = erase_both(one, other, django_capture_on_commit_callbacks)

    assert as_compared(batch) == as_compared(single)
    categories = {d["category"] for d in as_compared(batch)["deleted"]}
    assert {"identity documents", "staff notes", "payment cards", "unsent emails"} <= categories
    assert left_of(other) == left_of(one)
    assert left_of(other)["values"] == [] and left_of(other)["erased"]
    assert erased_event(other) == erased_event(one)
    # Nothing is held under preset B: every key generation is destroyed.
    assert own_keystore.generations(one) == own_keystore.generations(other) == []
    assert own_keystore.pending_shreds_with_time() == []


@pytest.fixture
def march_2027() -> Iterator[Any]:
    with time_machine.travel(local(2027, 3, 1, 9, 0), tick=False) as traveller:
        yield traveller


def test_the_batch_erasure_keeps_what_a_legal_hold_keeps_under_a_new_key(
    own_keystore: KeyStore,
    james: Any,
    march_2027: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    one = invoiced_customer("hoa.don@example.vn")
    other = invoiced_customer("hoa.don.twin@example.vn")
    single, batch = erase_both(one, other, django_capture_on_commit_callbacks)

    assert as_compared(batch) == as_compared(single)
    assert batch.kept and all(k.record_kind == "invoice" for k in batch.kept)
    # The 2015 invoice's hold is over: its name went with the rest.
    assert sum(k.count for k in batch.kept) == 2
    assert left_of(other) == left_of(one)
    assert left_of(other)["held_until"] is not None
    assert erased_event(other) == erased_event(one)
    for cid in (one, other):
        customer = Customer.objects.get(pk=cid)
        # Only the generation holding the invoices is left, and it opens them.
        assert own_keystore.generations(cid) == [customer.key_generation]
        key = generation_key(cid, customer.key_generation)
        for value in EncryptedValue.objects.filter(customer_id=cid):
            assert key.decrypt(
                value.record_kind, value.record_id, value.field, bytes(value.ciphertext)
            )


def test_already_erased_and_unknown_customers_are_skipped(
    own_keystore: KeyStore,
    leman_with_notes: Any,
    shop_api: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    cid = customer_with_everything(shop_api).customer_id
    with django_capture_on_commit_callbacks(execute=True):
        erase_customer(actor=SYSTEM, customer_id=cid)
    events = AuditEvent.objects.count()
    with transaction.atomic():
        assert erase_customers(actor=SYSTEM, customer_ids=[cid, uuid.uuid4()]) == {}
    assert AuditEvent.objects.count() == events


def test_only_staff_or_the_system_erase(
    own_keystore: KeyStore, leman_with_notes: Any, shop_api: Actor
) -> None:
    cid = customer_with_everything(shop_api).customer_id
    with transaction.atomic(), pytest.raises(AccessRefused):
        erase_customers(actor=Actor(kind="customer", id=str(cid)), customer_ids=[cid])
    assert Customer.objects.get(pk=cid).erased_at is None
