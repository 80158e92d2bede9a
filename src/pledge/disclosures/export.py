"""The file a recipient receives: one per disclosure, CSV or JSON, holding only its fields (P11).

Built on each download, never written to disk. The values are decrypted through the vault's
store for the disclosure's purpose, after the same checks as any read (the actor's role holds
the purpose and sees the fields whole, P06, P09), and each customer's read is an audited
`vault:read` event naming the purpose and the disclosure. Values are whole (the recipient was
declared to receive them), except a payment card, which is never more than BIN and last four
digits (PCI DSS 3.4.1).

A customer whose basis no longer holds (consent withdrawn, restricted, erased) since the
disclosure was recorded is left out: a withdrawal is not retroactive, but nothing more goes out
after it. Each row starts with the customer's reference (the pseudonymous customer id), the only
thing a later notice to the recipient names (`notices.py`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from pledge.audit.events import EventType
from pledge.audit.services import EventSpec, record_events
from pledge.consent.services import has_live_consent
from pledge.disclosures.models import DisclosedCustomer, Disclosure
from pledge.disclosures.services import (
    DisclosureInvalid,
    declared_recipient,
    masked_refusal,
    refuse_disclosure,
)
from pledge.policy.enforcement import EnforcedPolicy
from pledge.vault.access import Actor, authorize, policy, visible_fields
from pledge.vault.errors import NotFound, Problem
from pledge.vault.masking import card_display
from pledge.vault.models import Customer, EncryptedValue, Order, RecordKind
from pledge.vault.services import usable_for
from pledge.vault.store import customer_key

FORMATS = ("csv", "json")
REFERENCE = "customer_reference"
# A cell a spreadsheet would run as a formula (CSV injection, OWASP): kept as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content_type: str
    content: bytes
    customers: int
    left_out: int


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def _order_summary(order: Order) -> str:
    return f"{order.number} {order.placed_at.date().isoformat()} {order.total} {order.currency}"


def _values(customer_id: uuid.UUID, fields: list[str]) -> dict[str, Any]:
    """Every held value of these fields: the profile's value, or the values on the customer's
    other records (orders, guarantee cards, payments…) joined with "; "."""
    key = customer_key(customer_id)
    found: dict[str, list[Any]] = defaultdict(list)
    profile_first = sorted(
        EncryptedValue.objects.filter(customer_id=customer_id, field__in=fields).values_list(
            "record_kind", "record_id", "field", "ciphertext"
        ),
        key=lambda r: (r[0] != RecordKind.PROFILE, r[0], str(r[1])),
    )
    for kind, record_id, field, blob in profile_first:
        value = key.decrypt(kind, record_id, field, bytes(blob))
        if field == "card" and isinstance(value, dict):
            value = card_display(value, whole=True)  # PCI DSS 3.4.1
        if value not in found[field]:
            found[field].append(value)
    if "purchase_history" in fields:
        orders = Order.objects.filter(customer_id=customer_id).order_by("placed_at", "id")
        found["purchase_history"] += [_order_summary(o) for o in orders]
    out: dict[str, Any] = {}
    for field in fields:
        values = found.get(field, [])
        if not values:
            out[field] = None
        elif len(values) == 1:
            out[field] = values[0]
        else:
            out[field] = "; ".join(_text(v) for v in values)
    return out


def _still_usable(
    enforced: EnforcedPolicy, disclosure: Disclosure, customers: list[uuid.UUID]
) -> list[uuid.UUID]:
    living = set(
        Customer.objects.filter(pk__in=customers, erased_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    usable = usable_for(enforced, disclosure.purpose, [c for c in customers if c in living])
    if disclosure.basis == "consent":
        usable = {c for c in usable if has_live_consent(c, disclosure.purpose)}
    return [c for c in customers if c in usable]


def _check(enforced: EnforcedPolicy, actor: Actor, disclosure: Disclosure) -> None:
    """The same rules as when the disclosure was made, under the policy in force now."""
    authorize(enforced, actor, disclosure.purpose, event=EventType.ACCESS_REFUSED)
    recipient = declared_recipient(enforced, disclosure.recipient)
    readable, unmasked = visible_fields(enforced, actor, disclosure.purpose)
    if recipient is None or disclosure.purpose not in recipient.purposes:
        refuse_disclosure(
            "recipient_undeclared",
            "the policy in force no longer declares this recipient for this purpose",
            actor=actor,
            recipient=disclosure.recipient,
            purpose=disclosure.purpose,
            field="recipient",
        )
    gone = [f for f in disclosure.fields if f not in recipient.fields or f not in readable]
    if gone:
        refuse_disclosure(
            "field_not_declared_for_recipient",
            f"{gone[0]} may no longer be given to this recipient or read by this role",
            actor=actor,
            recipient=disclosure.recipient,
            purpose=disclosure.purpose,
            field=gone[0],
            fields=gone,
        )
    # P09: the file holds whole values; a field this role now sees masked (the policy changed,
    # or another role downloads) is refused, never handed over whole.
    masked = [f for f in disclosure.fields if f not in unmasked]
    if masked:
        rule, message = masked_refusal(masked[0], actor, disclosure.purpose)
        refuse_disclosure(
            rule,
            message,
            actor=actor,
            recipient=disclosure.recipient,
            purpose=disclosure.purpose,
            field=masked[0],
            fields=masked,
        )


def _csv_cell(value: Any) -> str:
    text = _text(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def export_disclosure(*, actor: Actor, disclosure_id: uuid.UUID, fmt: str) -> ExportFile:
    if fmt not in FORMATS:
        raise DisclosureInvalid(
            "the format is csv or json", [Problem("format", "choice", "use csv or json")]
        )
    disclosure = Disclosure.objects.filter(pk=disclosure_id).first()
    if disclosure is None:
        raise NotFound("no such disclosure")
    enforced = policy()
    # Checked before the transaction: a refusal's audit record must survive the raise.
    _check(enforced, actor, disclosure)
    with transaction.atomic():
        return _build(enforced, actor, disclosure, fmt)


def _build(enforced: EnforcedPolicy, actor: Actor, disclosure: Disclosure, fmt: str) -> ExportFile:
    fields = list(disclosure.fields)
    customers = list(
        DisclosedCustomer.objects.filter(disclosure=disclosure)
        .order_by("id")
        .values_list("customer_id", flat=True)
    )
    usable = _still_usable(enforced, disclosure, customers)
    rows = [{REFERENCE: str(c), **_values(c, fields)} for c in usable]
    record_events(
        [
            EventSpec(
                EventType.CUSTOMER_READ,
                actor=actor.label,
                actor_role=actor.role,
                customer_id=c,
                record=f"disclosure:{disclosure.id}",
                purpose=disclosure.purpose,
                fields=tuple(fields),
                details={"disclosure": str(disclosure.id), "format": fmt},
            )
            for c in usable
        ]
    )
    Disclosure.objects.filter(pk=disclosure.pk).update(exported_at=timezone.now())
    name = f"disclosure-{disclosure.reference}-{disclosure.recipient}.{fmt}"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow([REFERENCE, *fields])
        for row in rows:
            writer.writerow([_csv_cell(row[k]) for k in (REFERENCE, *fields)])
        # A BOM so spreadsheet programs read Vietnamese text as UTF-8.
        content = ("\ufeff" + buffer.getvalue()).encode("utf-8")
        content_type = "text/csv; charset=utf-8"
    else:
        document = {
            "disclosure": str(disclosure.id),
            "recipient": disclosure.recipient,
            "purpose": disclosure.purpose,
            "basis": disclosure.basis,
            "legal_reference": disclosure.legal_reference or None,
            "disclosed_at": disclosure.disclosed_at.isoformat(),
            "fields": fields,
            "customers": rows,
        }
        content = json.dumps(document, ensure_ascii=False, indent=2, default=_json_default).encode()
        content_type = "application/json"
    return ExportFile(name, content_type, content, len(rows), len(customers) - len(rows))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal | dt.date | dt.datetime | uuid.UUID):
        return str(value)
    raise TypeError(type(value).__name__)
