"""The customer's own view of their data (GDPR Art 15, PDPL right of access; P18) and its
correction (rectification, GDPR Art 16; P18).

`read_subject` gathers everything Pledge holds about one customer, for that customer only
(`SUBJECT_ACCESS`): every encrypted value on every record of theirs, whole (except the card,
never shown beyond BIN + last 4, PCI DSS 3.4.1), with the non-personal facts of each record
(order numbers, amounts, dates). It reads every value the customer has, *not only the fields the
policy in force declares*: a value kept under an older policy is still held, so it is shown
(Art 15 covers what is held, not what is declared). It is one audit event, `vault:read` with the
purpose `subject_access`, listing every field shown: the customer's own page view is one line in
"who looked at my data", not seven.

`rectify` lets the customer correct the profile fields the policy says they gave (source
`customer`, stored, kept on the profile, not derived from another service): it validates like any
vault write, writes only the fields whose value changes, and records `vault:rectified`.

Staff notes are shown: they are personal data about the customer (Art 15(1), and the EDPB's
guidelines 01/2022 on the right of access, which include internal notes and comments). Their
author (a staff id) is not: the customer learns what was written, not by whom (P09 keeps staff
identities inside the shop; the access log shows roles only).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.policy.enforcement import EnforcedPolicy
from pledge.vault.access import SUBJECT_ACCESS, Actor, authorize, policy, refuse
from pledge.vault.accounts import ACCOUNT_RECORD
from pledge.vault.crypto import DecryptionFailed
from pledge.vault.errors import FieldsRefused, NotFound, Problem, ValuesInvalid, VaultError
from pledge.vault.masking import card_display
from pledge.vault.models import (
    Customer,
    EncryptedValue,
    GuaranteeCard,
    IdDocument,
    Invoice,
    Order,
    Payment,
    PaymentMethod,
    RecordKind,
    StaffNote,
)
from pledge.vault.normalise import DERIVED_FIELDS
from pledge.vault.services import MAX_FIELDS_PER_CALL, clean_values
from pledge.vault.store import (
    customer_key,
    customer_key_and_language,
    read_values,
    upsert_values,
    uuid_param,
)


@dataclass(frozen=True)
class SubjectOrder:
    id: uuid.UUID
    number: str
    placed_at: dt.datetime
    status: str
    currency: str
    total: Decimal
    items: list[dict[str, Any]]
    fields: dict[str, Any]


@dataclass(frozen=True)
class SubjectInvoice:
    id: uuid.UUID
    number: str
    order_number: str
    issued_at: dt.datetime
    total: Decimal
    tax: Decimal
    currency: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class SubjectGuarantee:
    id: uuid.UUID
    product: str
    issued_on: dt.date
    valid_until: dt.date
    order_number: str | None
    fields: dict[str, Any]


@dataclass(frozen=True)
class SubjectCard:
    """A kept card: brand and last 4 only (the number is never kept whole, PCI DSS 3.4.1)."""

    id: uuid.UUID
    display: str
    expiry: str
    holder: str
    added_at: dt.datetime


@dataclass(frozen=True)
class SubjectPayment:
    id: uuid.UUID
    order_number: str
    at: dt.datetime
    status: str
    amount: Decimal
    currency: str
    card: str | None
    decline_reason: str


@dataclass(frozen=True)
class SubjectDocument:
    """An identity-document copy: what it is, never the image (that is a separate request)."""

    id: uuid.UUID
    content_type: str
    size: int
    uploaded_at: dt.datetime


@dataclass(frozen=True)
class SubjectNote:
    id: uuid.UUID
    created_at: dt.datetime
    text: str


@dataclass(frozen=True)
class HeldValue:
    """A value on a record kind this module does not present by itself (kept anyway: shown)."""

    record_kind: str
    record_id: uuid.UUID
    field: str
    value: Any


@dataclass(frozen=True)
class SubjectData:
    customer_id: uuid.UUID
    language: str
    created_at: dt.datetime
    profile: dict[str, Any]
    account: dict[str, Any]
    orders: list[SubjectOrder]
    invoices: list[SubjectInvoice]
    guarantees: list[SubjectGuarantee]
    cards: list[SubjectCard]
    payments: list[SubjectPayment]
    documents: list[SubjectDocument]
    notes: list[SubjectNote]
    other: list[HeldValue] = field(default_factory=list)

    def fields_shown(self) -> set[str]:
        """The field names of every value in this view (what the audit event lists)."""
        shown: set[str] = set(self.profile) | set(self.account)
        for records in (self.orders, self.invoices, self.guarantees):
            for record in records:
                shown |= set(record.fields)
        shown |= {v.field for v in self.other}
        if self.orders or self.guarantees:
            shown.add("purchase_history")
        if self.payments or self.invoices:
            shown.add("payment_history")
        if self.cards:
            shown.add("card")
        if self.documents:
            shown.add("id_document")
        if self.notes:
            shown.add("staff_notes")
        return shown


def _decrypt_all(customer_id: uuid.UUID) -> tuple[str, dict[tuple[str, uuid.UUID], dict[str, Any]]]:
    """Every encrypted value of the customer, by (record kind, record id): one indexed query
    (the `(customer, record_kind)` index), decrypted with the customer's data key."""
    key, language = customer_key_and_language(customer_id)
    values: dict[tuple[str, uuid.UUID], dict[str, Any]] = defaultdict(dict)
    rows = EncryptedValue.objects.filter(customer_id=customer_id).values_list(
        "record_kind", "record_id", "field", "ciphertext"
    )
    for record_kind, record_id, name, blob in rows.iterator(chunk_size=500):
        try:
            values[(record_kind, record_id)][name] = key.decrypt(
                record_kind, record_id, name, bytes(blob)
            )
        except DecryptionFailed as exc:
            # A value that does not decrypt was moved or tampered with: never show it.
            raise VaultError(str(exc)) from None
    return language, values


@dataclass(frozen=True)
class _Inventory:
    """Which record kinds the customer has (besides the encrypted values), and when the customer
    was recorded: one query, so that a kind the customer has none of costs no round trip."""

    created_at: dt.datetime
    orders: bool
    invoices: bool
    guarantees: bool
    cards: bool
    payments: bool
    documents: bool
    notes: bool


# Raw SQL, as the store's hot-path reads (vault/store.py): built with the ORM, this one query
# cost ~3 ms of expression building per page on PostgreSQL, ten times its execution.
_INVENTORY_KINDS = (Order, Invoice, GuaranteeCard, PaymentMethod, Payment, IdDocument, StaffNote)
# Table names come from the models, never from input.
_HAS_KIND = "EXISTS (SELECT 1 FROM {} WHERE customer_id = c.id)"
_INVENTORY_SQL = "SELECT c.created_at, {} FROM {} c WHERE c.id = %s".format(  # noqa: S608
    ", ".join(_HAS_KIND.format(model._meta.db_table) for model in _INVENTORY_KINDS),
    Customer._meta.db_table,
)


def _aware(value: Any) -> dt.datetime:
    """A timestamp read by raw SQL: aware on PostgreSQL; naive UTC (or its text) on SQLite, where
    Django stores datetimes in UTC."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value  # type: ignore[no-any-return]


def _inventory(customer_id: uuid.UUID) -> _Inventory:
    with connection.cursor() as cursor:
        cursor.execute(_INVENTORY_SQL, [uuid_param(customer_id)])
        row = cursor.fetchone()
    if row is None:
        raise NotFound(f"no customer {customer_id}")
    return _Inventory(_aware(row[0]), *(bool(v) for v in row[1:]))


def read_subject(*, actor: Actor, customer_id: uuid.UUID) -> SubjectData:
    """Everything held about the customer, for the customer (refused, and audited, for anyone
    else: `authorize` allows `subject_access` only to the customer themselves).

    Round trips are the page's cost on a networked database (docs/benchmarks.md): the data key,
    the encrypted values, one inventory of the record kinds held, then one query per kind the
    customer actually has (rows as tuples, not model instances), then the audit append.
    """
    enforced = policy()
    authorize(
        enforced, actor, SUBJECT_ACCESS, event=EventType.ACCESS_REFUSED, customer_id=customer_id
    )
    language, values = _decrypt_all(customer_id)
    held = _inventory(customer_id)
    taken: set[tuple[str, uuid.UUID]] = set()

    def take(kind: str, record_id: uuid.UUID) -> dict[str, Any]:
        taken.add((kind, record_id))
        return dict(values.get((kind, record_id), {}))

    profile = take(RecordKind.PROFILE, customer_id)
    account_ids = [rid for kind, rid in values if kind == ACCOUNT_RECORD]
    account: dict[str, Any] = {}
    for rid in account_ids:
        account.update(take(ACCOUNT_RECORD, rid))

    def rows(
        has: bool, model: type[models.Model], order: tuple[str, ...], columns: tuple[str, ...]
    ) -> Any:
        """The customer's rows of one kind as tuples; no query for a kind they have none of."""
        if not has:
            return []
        manager = model._default_manager
        return manager.filter(customer_id=customer_id).order_by(*order).values_list(*columns)

    orders = [
        SubjectOrder(
            oid, number, placed_at, status, currency, total, items, take(RecordKind.ORDER, oid)
        )
        for oid, number, placed_at, status, currency, total, items in rows(
            held.orders,
            Order,
            ("-placed_at", "id"),
            ("id", "number", "placed_at", "status", "currency", "total", "items"),
        )
    ]
    invoices = [
        SubjectInvoice(iid, number, order, at, total, tax, currency, take(RecordKind.INVOICE, iid))
        for iid, number, order, at, total, tax, currency in rows(
            held.invoices,
            Invoice,
            ("-issued_at", "id"),
            ("id", "number", "order__number", "issued_at", "total", "tax", "currency"),
        )
    ]
    guarantees = [
        SubjectGuarantee(gid, product, start, end, order, take(RecordKind.GUARANTEE, gid))
        for gid, product, start, end, order in rows(
            held.guarantees,
            GuaranteeCard,
            ("-issued_on", "id"),
            ("id", "product", "issued_on", "valid_until", "order__number"),
        )
    ]
    cards: list[SubjectCard] = []
    card_displays: dict[uuid.UUID, str] = {}
    for method_id, added_at in rows(
        held.cards, PaymentMethod, ("-created_at",), ("id", "created_at")
    ):
        summary = take(RecordKind.PAYMENT, method_id).get("card")
        if not isinstance(summary, dict):
            continue
        # Brand and last 4 only: the customer knows their card by them, and a page can be
        # overlooked on a shared screen (PCI DSS 3.4.1 allows at most BIN + last 4).
        display = card_display(summary, whole=False)
        card_displays[method_id] = display
        cards.append(
            SubjectCard(
                method_id,
                display,
                str(summary.get("expiry", "")),
                str(summary.get("holder", "")),
                added_at,
            )
        )
    payments = [
        SubjectPayment(
            pid,
            order,
            at,
            status,
            amount,
            currency,
            card_displays.get(method_id) if method_id else None,
            decline_reason,
        )
        for pid, order, at, status, amount, currency, method_id, decline_reason in rows(
            held.payments,
            Payment,
            ("-at", "-id"),
            (
                "id",
                "order__number",
                "at",
                "status",
                "amount",
                "currency",
                "method_id",
                "decline_reason",
            ),
        )
    ]
    documents = [
        SubjectDocument(*row)
        for row in rows(
            held.documents,
            IdDocument,
            ("-uploaded_at",),
            ("id", "content_type", "size", "uploaded_at"),
        )
    ]
    notes = [
        SubjectNote(
            note_id, created_at, str(take(RecordKind.STAFF_NOTE, note_id).get("staff_notes", ""))
        )
        for note_id, created_at in rows(
            held.notes, StaffNote, ("-created_at", "-id"), ("id", "created_at")
        )
    ]
    other = [
        HeldValue(kind, rid, name, value)
        for (kind, rid), fields in sorted(values.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))
        if (kind, rid) not in taken
        for name, value in sorted(fields.items())
    ]
    data = SubjectData(
        customer_id=customer_id,
        language=language,
        created_at=held.created_at,
        profile=profile,
        account=account,
        orders=orders,
        invoices=invoices,
        guarantees=guarantees,
        cards=cards,
        payments=payments,
        documents=documents,
        notes=notes,
        other=other,
    )
    record_event(
        EventType.CUSTOMER_READ,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        purpose=SUBJECT_ACCESS,
        fields=sorted(data.fields_shown()),
        details={
            "orders": len(orders),
            "invoices": len(invoices),
            "guarantees": len(guarantees),
            "payments": len(payments),
            "documents": len(documents),
            "notes": len(notes),
        },
    )
    return data


# -- rectification (P18) --------------------------------------------------------------------


def rectifiable_fields(enforced: EnforcedPolicy) -> list[str]:
    """The fields a customer corrects themselves, in the policy's order: given by the customer,
    stored, kept on the profile, and set by value (not an order, a card or a document, which
    have their own services; not a staff note or an automatic value)."""
    return [
        f.key
        for f in enforced.policy.fields
        if f.source == "customer"
        and f.storage == "stored"
        and f.key not in DERIVED_FIELDS
        and (not f.records or RecordKind.PROFILE in f.records)
    ]


def held_profile_fields(customer_id: uuid.UUID) -> set[str]:
    """Which profile fields hold a value: field names only, nothing decrypted."""
    return set(
        EncryptedValue.objects.filter(
            customer_id=customer_id, record_kind=RecordKind.PROFILE, record_id=customer_id
        ).values_list("field", flat=True)
    )


def current_profile(*, actor: Actor, customer_id: uuid.UUID) -> dict[str, Any]:
    """The customer's own rectifiable profile values, to fill the correction form (audited as
    a subject-access read of those fields)."""
    enforced = policy()
    authorize(
        enforced, actor, SUBJECT_ACCESS, event=EventType.ACCESS_REFUSED, customer_id=customer_id
    )
    wanted = rectifiable_fields(enforced)
    key = customer_key(customer_id)
    values = read_values(key, RecordKind.PROFILE, [customer_id], wanted)[customer_id]
    record_event(
        EventType.CUSTOMER_READ,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        purpose=SUBJECT_ACCESS,
        fields=sorted(values),
    )
    return {f: values[f] for f in wanted if f in values}


def rectify(*, actor: Actor, customer_id: uuid.UUID, changes: Mapping[str, Any]) -> list[str]:
    """Correct profile values the customer holds; returns the fields whose value changed.

    Refuses (audited, nothing written) a field that is not the customer's to correct; raises
    `ValuesInvalid` naming each invalid field (bad email or phone, control characters, too
    long, empty: removing a value is an erasure request, not a correction). A value equal to
    the stored one is not written: changing nothing changes nothing, and records nothing.
    """
    enforced = policy()
    names = [str(k)[:63] for k in changes]
    authorize(
        enforced,
        actor,
        SUBJECT_ACCESS,
        event=EventType.WRITE_REFUSED,
        customer_id=customer_id,
        fields=names,
    )
    if not changes:
        raise ValuesInvalid(
            "no fields given", [Problem("fields", "required", "give at least one field")]
        )
    if len(changes) > MAX_FIELDS_PER_CALL:
        raise ValuesInvalid(
            "too many fields",
            [Problem(None, "too_many_fields", f"at most {MAX_FIELDS_PER_CALL} fields per call")],
        )
    allowed = set(rectifiable_fields(enforced))
    key = customer_key(customer_id)
    current = read_values(key, RecordKind.PROFILE, [customer_id], sorted(allowed))[customer_id]
    problems = []
    for name in names:
        if name not in allowed:
            problems.append(
                Problem(name, "not_rectifiable", f"{name} is not a field the customer corrects")
            )
        elif name not in current:
            problems.append(
                Problem(name, "not_held", f"no {name} is held, so there is nothing to correct")
            )
    if problems:
        refuse(
            FieldsRefused("these fields cannot be corrected here", problems),
            event=EventType.WRITE_REFUSED,
            actor=actor,
            purpose=SUBJECT_ACCESS,
            customer_id=customer_id,
            fields=[p.field or "" for p in problems],
        )
    cleaned = clean_values(changes, enforced.policy.phone_region, allow_none=False)
    changed = {f: v for f, v in cleaned.items() if current.get(f) != v}
    if not changed:
        return []
    with transaction.atomic():
        upsert_values(
            key, RecordKind.PROFILE, customer_id, changed, region=enforced.policy.phone_region
        )
        Customer.objects.filter(pk=customer_id).update(updated_at=timezone.now())
        record_event(
            EventType.CUSTOMER_RECTIFIED,
            actor=actor.label,
            actor_role=actor.role,
            customer_id=customer_id,
            purpose=SUBJECT_ACCESS,
            fields=sorted(changed),
        )
    return sorted(changed)
