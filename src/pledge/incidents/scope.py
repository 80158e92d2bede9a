"""Who and what an incident touched (P23): the affected customers and fields, with counts,
computed from the audit log and the vault for the incident's window. Field *names* only: no
value is decrypted, and the affected set is foreign keys to the vault.

What each selector adds (the scope is their union):

- a role (a leaked staff session or API key of role X): the customers whose data that role READ
  in the window, with the fields it read (`READ_EVENTS`, outcome ok). A session can show only
  what its role read; writes and refusals show nothing.
- system `console` / `api`: the same for every staff session / every API key;
- system `database` / `backups`: every customer holding data at that time (created before the
  window ended, not erased before it began), with the fields the vault holds for them. The
  values are ciphertext and the keys live apart (vault/keystore.py); the report says so, and
  whether customers must be told is the shop's decision (GDPR Art 34(3)(a));
- system `email`: the customers the outbox wrote to in the window (their email address);
- system `other`: nothing automatic: the register records it, staff describe it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Q

from pledge.audit.events import EventType, Outcome
from pledge.audit.models import AuditEvent
from pledge.incidents.models import System
from pledge.notify.models import OutboxMessage
from pledge.vault.models import Customer, EncryptedValue

# Audit events that are a read of one customer's data (the customer is named on the event).
READ_EVENTS = frozenset(
    {
        EventType.CUSTOMER_READ,
        EventType.ORDERS_READ,
        EventType.INVOICES_READ,
        EventType.PAYMENTS_READ,
        EventType.ID_DOCUMENT_READ,
        EventType.STAFF_NOTES_READ,
        EventType.GUARANTEE_LOOKUP,
        EventType.ACCOUNT_EMAIL_READ,
        EventType.BREAK_GLASS,
        EventType.COMPLAINT_READ,
        EventType.COMPLAINT_EVIDENCE_READ,
    }
)
_CHUNK = 2000


@dataclass
class Scope:
    customers: dict[uuid.UUID, set[str]] = field(default_factory=dict)
    records: int = 0

    def add(self, customer_id: uuid.UUID, fields: Iterable[str]) -> None:
        self.customers.setdefault(customer_id, set()).update(f for f in fields if f)

    def field_counts(self) -> dict[str, int]:
        """Field -> how many affected customers it concerns."""
        counts: dict[str, int] = defaultdict(int)
        for fields in self.customers.values():
            for name in fields:
                counts[name] += 1
        return dict(sorted(counts.items()))


def _reads(scope: Scope, window: tuple[dt.datetime, dt.datetime], where: Q) -> None:
    start, end = window
    rows = (
        AuditEvent.objects.filter(
            where,
            at__gte=start,
            at__lte=end,
            type__in=[t.value for t in READ_EVENTS],
            outcome=Outcome.OK,
            customer_id__isnull=False,
        )
        .values_list("customer_id", "fields")
        .order_by("seq")
    )
    for customer_id, fields in rows.iterator(chunk_size=_CHUNK):
        if customer_id is None:  # excluded by the query; for the type checker
            continue
        scope.add(customer_id, fields.split(",") if fields else ())
        scope.records += 1


def _holders(scope: Scope, window: tuple[dt.datetime, dt.datetime]) -> None:
    start, end = window
    customers = Customer.objects.filter(created_at__lte=end).filter(
        Q(erased_at__isnull=True) | Q(erased_at__gte=start)
    )
    ids = list(customers.values_list("id", flat=True).order_by("id"))
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        for customer_id in chunk:
            scope.customers.setdefault(customer_id, set())
        values = EncryptedValue.objects.filter(customer_id__in=chunk).values_list(
            "customer_id", "field"
        )
        for customer_id, name in values.iterator(chunk_size=_CHUNK):
            scope.add(customer_id, (name,))
            scope.records += 1


def _mailed(scope: Scope, window: tuple[dt.datetime, dt.datetime]) -> None:
    start, end = window
    rows = OutboxMessage.objects.filter(
        created_at__gte=start, created_at__lte=end, customer_id__isnull=False
    ).values_list("customer_id", flat=True)
    for customer_id in rows.iterator(chunk_size=_CHUNK):
        if customer_id is None:  # excluded by the query; for the type checker
            continue
        scope.add(customer_id, ("email",))
        scope.records += 1


def compute_scope(
    *, start: dt.datetime, end: dt.datetime, roles: Iterable[str], systems: Iterable[str]
) -> Scope:
    """The affected customers and fields for the window [start, end] (both included)."""
    scope = Scope()
    window = (start, end)
    wanted_roles = sorted(set(roles))
    wanted_systems = set(systems)
    if wanted_roles:
        _reads(scope, window, Q(actor_role__in=wanted_roles))
    if System.CONSOLE in wanted_systems:
        _reads(scope, window, Q(actor__startswith="staff:"))
    if System.API in wanted_systems:
        _reads(scope, window, Q(actor__startswith="api:"))
    if wanted_systems & {System.DATABASE, System.BACKUPS}:
        _holders(scope, window)
    if System.EMAIL in wanted_systems:
        _mailed(scope, window)
    return scope
