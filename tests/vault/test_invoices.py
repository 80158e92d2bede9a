"""Invoices (P13) on preset A (James Jewelry), which keeps the buyer's name on invoices, and on
preset B (Leman Jewelry), which keeps only the payment transaction on them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pledge.audit.models import AuditEvent
from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import load_policy
from pledge.policy.services import publish_policy
from pledge.vault import services
from pledge.vault.access import Actor
from pledge.vault.errors import AccessRefused, FieldsRefused, NotFound, ValuesInvalid
from pledge.vault.invoices import issue_invoice, list_invoices
from pledge.vault.models import EncryptedValue, Invoice, Order

NAME = "Trần Thị Bích Ngọc"


def order_of(actor: Actor, purpose: str, **fields: Any) -> tuple[Any, Any]:
    cid = services.collect_customer(actor=actor, purpose=purpose, fields=fields)
    oid = services.place_order(
        actor=actor,
        purpose=purpose,
        customer_id=cid,
        number="HD-1",
        items=[{"sku": "N-1", "name": "Nhẫn", "quantity": 1, "unit_price": "1000000"}],
        total="1000000",
    )
    return cid, oid


def test_p13_leman_invoice_keeps_the_transaction_and_refuses_buyer_fields(
    leman: Any, shop_api: Actor, staff: Any
) -> None:
    cid, oid = order_of(shop_api, "order_fulfilment", full_name=NAME)
    with pytest.raises(FieldsRefused) as err:
        issue_invoice(
            actor=shop_api,
            purpose="payment",
            customer_id=cid,
            order_id=oid,
            number="INV-1",
            fields={"full_name": NAME},
        )
    # Leman's payment purpose collects the card and the transaction, not the buyer's name.
    assert (err.value.problems[0].field, err.value.problems[0].rule) == (
        "full_name",
        "not_declared_for_purpose",
    )
    assert Invoice.objects.count() == 0
    inv = issue_invoice(
        actor=shop_api,
        purpose="payment",
        customer_id=cid,
        order_id=oid,
        number="INV-1",
        tax="80000",
    )
    views = list_invoices(actor=staff("accounting"), purpose="payment", customer_id=cid)
    assert [(v.id, v.number, v.order_number, str(v.total), str(v.tax)) for v in views] == [
        (inv, "INV-1", "HD-1", "1000000.00", "80000.00")
    ]
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None and event.type == "vault:invoices_read"


def test_p13_invoice_refusals(leman: Any, shop_api: Actor, staff: Any) -> None:
    cid, oid = order_of(shop_api, "order_fulfilment", full_name=NAME)
    with pytest.raises(FieldsRefused):  # Leman keeps nothing order fulfilment collects on invoices
        issue_invoice(
            actor=shop_api, purpose="order_fulfilment", customer_id=cid, order_id=oid, number="X"
        )
    with pytest.raises(NotFound):
        issue_invoice(
            actor=shop_api,
            purpose="payment",
            customer_id=cid,
            order_id=uuid.uuid4(),
            number="INV-2",
        )
    issue_invoice(actor=shop_api, purpose="payment", customer_id=cid, order_id=oid, number="INV-3")
    with pytest.raises(ValuesInvalid):
        issue_invoice(
            actor=shop_api, purpose="payment", customer_id=cid, order_id=oid, number="INV-3"
        )
    with pytest.raises(AccessRefused):  # the payment purpose is accounting's, not sales'
        list_invoices(actor=staff("sales"), purpose="payment", customer_id=cid)


def test_p13_james_invoice_holds_the_buyer_encrypted(db: None, staff: Any) -> None:
    clear_policy_cache()
    loaded = load_policy("james-jewelry")
    publish_policy(loaded, actor="test", effective_date=loaded.policy.effective_date)
    clear_policy_cache()
    policy = loaded.policy
    # The purpose that records payment transactions and may hold the name on invoices.
    purpose = "order_fulfilment"  # collects full_name and purchase_history, both kept on invoices
    assert {"full_name", "purchase_history"} <= set(policy.purpose(purpose).fields)
    api = Actor(kind="api", id="t", purposes=frozenset({purpose}))
    cid, oid = order_of(api, purpose, full_name=NAME)
    inv = issue_invoice(
        actor=api,
        purpose=purpose,
        customer_id=cid,
        order_id=oid,
        number="INV-9",
        fields={"full_name": NAME},
    )
    row = EncryptedValue.objects.get(record_kind="invoice", record_id=inv)
    assert row.field == "full_name" and NAME.encode() not in bytes(row.ciphertext)
    assert Order.objects.get(pk=oid).invoices.count() == 1
    clear_policy_cache()
