"""Invoices (P13): accounting documents kept for the legal period in the vault.

Amounts and the invoice number are not personal; the buyer's details printed on the invoice are,
and are held only where the policy keeps them on invoice records (`fields[].records`), encrypted
like every other value. Erasure (issue 6) restricts what a legal hold keeps instead of deleting it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.vault.access import Actor, authorize, policy, refuse, visible_fields
from pledge.vault.errors import NotFound, Problem, ValuesInvalid
from pledge.vault.models import Invoice, Order, RecordKind
from pledge.vault.services import (
    _money,
    _plain,
    _present,
    access_refused_error,
    check_collectable,
    clean_values,
    refuse_fields,
    require_consent,
)
from pledge.vault.store import customer_key, encrypted_rows, fast_insert, read_values


def _invoice_fields(enforced: Any, purpose: str) -> list[str]:
    """The fields this purpose collects that the policy keeps on invoices (P01: an invoice may be
    issued only by a purpose that collects what invoices hold: payment or purchase history, or
    the buyer's details, as the shop's policy says)."""
    collects = enforced.collects.get(purpose, frozenset())
    return sorted(
        f for f, records in enforced.field_records.items() if "invoice" in records and f in collects
    )


@dataclass(frozen=True)
class InvoiceView:
    id: uuid.UUID
    order_number: str
    number: str
    issued_at: dt.datetime
    total: Decimal
    tax: Decimal
    currency: str
    fields: dict[str, Any]
    masked: frozenset[str]


def issue_invoice(
    *,
    actor: Actor,
    purpose: str,
    customer_id: uuid.UUID,
    order_id: uuid.UUID,
    number: str,
    tax: Any = "0",
    fields: Mapping[str, Any] | None = None,
    issued_at: dt.datetime | None = None,
) -> uuid.UUID:
    """Issue the invoice of an order; buyer fields must be declared for invoices (P01)."""
    enforced = policy()
    buyer = dict(fields or {})
    tried = [*buyer, *_invoice_fields(enforced, purpose)]
    authorize(
        enforced,
        actor,
        purpose,
        event=EventType.WRITE_REFUSED,
        customer_id=customer_id,
        fields=tried,
    )
    problems = check_collectable(enforced, purpose, buyer, RecordKind.INVOICE)
    invoice_fields = _invoice_fields(enforced, purpose)
    if not invoice_fields:
        problems.append(
            Problem(
                None,
                "not_declared_for_purpose",
                f"the purpose {purpose!r} collects nothing the policy keeps on invoices (P01)",
            )
        )
    refuse_fields(problems, actor=actor, purpose=purpose, customer_id=customer_id)
    # P04: an invoice issued for a purpose based on consent needs a live one, like every write.
    require_consent(
        enforced,
        purpose,
        customer_id,
        actor=actor,
        event=EventType.WRITE_REFUSED,
        consent_method=None,
        fields=tried,
    )
    cleaned = clean_values(buyer, enforced.policy.phone_region, allow_none=False)
    number = _plain("number", number, 64)
    tax_amount = _money(tax, "tax")
    order = Order.objects.filter(pk=order_id, customer_id=customer_id).first()
    if order is None:
        raise NotFound(
            "no such order for this customer",
            [Problem("order_id", "not_found", "no such order for this customer")],
        )
    key = customer_key(customer_id)
    invoice_id = uuid.uuid4()
    with transaction.atomic():
        try:
            with transaction.atomic():
                Invoice.objects.create(
                    id=invoice_id,
                    customer_id=customer_id,
                    order=order,
                    number=number,
                    issued_at=issued_at or timezone.now(),
                    total=order.total,
                    tax=tax_amount,
                    currency=order.currency,
                )
        except IntegrityError:
            raise ValuesInvalid(
                "invoice number exists",
                [Problem("number", "unique", "an invoice with this number exists")],
            ) from None
        fast_insert(encrypted_rows(key, RecordKind.INVOICE, invoice_id, cleaned))
        record_event(
            EventType.INVOICE_ISSUED,
            actor=actor.label,
            actor_role=actor.role,
            customer_id=customer_id,
            record=f"invoice:{invoice_id}",
            purpose=purpose,
            fields=[*cleaned, *invoice_fields],
        )
    return invoice_id


def list_invoices(*, actor: Actor, purpose: str, customer_id: uuid.UUID) -> list[InvoiceView]:
    enforced = policy()
    authorize(
        enforced,
        actor,
        purpose,
        event=EventType.ACCESS_REFUSED,
        customer_id=customer_id,
        fields=["invoice"],
    )
    readable, unmasked = visible_fields(enforced, actor, purpose)
    on_invoices = sorted(f for f in readable if "invoice" in enforced.field_records.get(f, ()))
    if not on_invoices:
        refuse(
            access_refused_error(["invoice"], purpose),
            event=EventType.ACCESS_REFUSED,
            actor=actor,
            purpose=purpose,
            customer_id=customer_id,
            fields=["invoice"],
        )
    # P04: reading invoices for a purpose based on consent needs a live one, like every read.
    require_consent(
        enforced,
        purpose,
        customer_id,
        actor=actor,
        event=EventType.ACCESS_REFUSED,
        consent_method=None,
        fields=["invoice"],
    )
    key = customer_key(customer_id)
    invoices = list(
        Invoice.objects.filter(customer_id=customer_id)
        .select_related("order")
        .order_by("-issued_at")
    )
    values = read_values(key, RecordKind.INVOICE, [i.id for i in invoices], readable)
    views = []
    for inv in invoices:
        shown, masked = _present(values[inv.id], unmasked)
        views.append(
            InvoiceView(
                inv.id,
                inv.order.number,
                inv.number,
                inv.issued_at,
                inv.total,
                inv.tax,
                inv.currency,
                shown,
                masked,
            )
        )
    record_event(
        EventType.INVOICES_READ,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        purpose=purpose,
        fields={*on_invoices, *(f for v in values.values() for f in v)},
        details={"invoices": len(invoices)},
    )
    return views
