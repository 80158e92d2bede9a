"""Reading the audit log for the console's viewer and its CSV export (issue 4, item 5).

Pages use keyset pagination on `seq` (`seq < cursor ORDER BY seq DESC LIMIT n`), never OFFSET:
an OFFSET query reads and throws away every row before the page, which on a log of 10,000,000
events (ARCHITECTURE.md budgets) makes the last pages cost seconds; a keyset page costs the same
wherever it is. Nothing here counts the matching rows, for the same reason.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import QuerySet

from pledge.audit.events import EventType, Outcome
from pledge.audit.models import AuditEvent

PAGE_SIZE = 50
EXPORT_CHUNK = 2_000

# The viewer never shows the canonical record or the previous hash: leave those columns behind.
_LISTED = (
    "seq",
    "at",
    "type",
    "actor",
    "actor_role",
    "customer_id",
    "record",
    "purpose",
    "fields",
    "outcome",
    "details",
    "hash",
)


@dataclass(frozen=True)
class AuditFilter:
    """What to show; an empty value means "any". `since` is inclusive, `until` exclusive."""

    customer_id: uuid.UUID | None = None
    actor: str = ""
    purpose: str = ""
    type: str = ""
    outcome: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def as_details(self) -> dict[str, str]:
        """The filters in force, for the `audit:exported` event: ids and codes, no personal
        data."""
        details = {
            "customer_id": str(self.customer_id) if self.customer_id else "",
            "actor": self.actor,
            "purpose": self.purpose,
            "type": self.type,
            "outcome": self.outcome,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {key: value for key, value in details.items() if value}


@dataclass(frozen=True)
class EventPage:
    """One page of events, newest first, with the cursors of its neighbours (None: no page)."""

    events: list[AuditEvent]
    newer_cursor: int | None  # pass as `after` to get the page of newer events
    older_cursor: int | None  # pass as `before` to get the page of older events


def filtered_events(f: AuditFilter) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.only(*_LISTED)
    if f.customer_id is not None:
        events = events.filter(customer_id=f.customer_id)
    if f.actor:
        events = events.filter(actor=f.actor)
    if f.purpose:
        events = events.filter(purpose=f.purpose)
    if f.type:
        events = events.filter(type=f.type)
    if f.outcome:
        events = events.filter(outcome=f.outcome)
    if f.since is not None:
        events = events.filter(at__gte=f.since)
    if f.until is not None:
        events = events.filter(at__lt=f.until)
    return events


def events_page(
    f: AuditFilter,
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> EventPage:
    """The page of matching events just older than `before`, or just newer than `after`, or
    the newest page when neither is given."""
    if before is not None and after is not None:
        raise ValueError("a page is either before or after a cursor, not both")
    matching = filtered_events(f)
    if after is not None:
        # Ascending from the cursor (so the index walk starts there), then shown newest first.
        rows = list(matching.filter(seq__gt=after).order_by("seq")[: size + 1])
        has_newer = len(rows) > size
        events = rows[:size][::-1]
        has_older = matching.filter(seq__lte=after).exists()
    else:
        older = matching.filter(seq__lt=before) if before is not None else matching
        rows = list(older.order_by("-seq")[: size + 1])
        has_older = len(rows) > size
        events = rows[:size]
        has_newer = before is not None and matching.filter(seq__gte=before).exists()
    if not events:
        # An empty page past either end: offer the way back to the nearest end.
        return EventPage(
            events=[],
            newer_cursor=before - 1 if before is not None and has_newer else None,
            older_cursor=after + 1 if after is not None and has_older else None,
        )
    return EventPage(
        events=events,
        newer_cursor=events[0].seq if has_newer else None,
        older_cursor=events[-1].seq if has_older else None,
    )


def events_for_export(f: AuditFilter, *, up_to_seq: int | None = None) -> Iterator[AuditEvent]:
    """Every matching event (up to `up_to_seq`), oldest first, read in chunks: the export
    streams, it never holds the whole log in memory."""
    events = filtered_events(f)
    if up_to_seq is not None:
        events = events.filter(seq__lte=up_to_seq)
    return events.order_by("seq").iterator(chunk_size=EXPORT_CHUNK)


# -- the customer's own "who looked at my data" (privacy center, P09, P18) --------------------

# Events that read or changed a customer's personal data. Refusals read nothing and are left
# out; key operations, imports and acknowledgements touch no one customer's data.
PERSONAL_DATA_EVENTS: frozenset[str] = frozenset(
    {
        EventType.CUSTOMER_CREATED,
        EventType.CUSTOMER_UPDATED,
        EventType.CUSTOMER_READ,
        EventType.CUSTOMER_LOOKUP,
        EventType.ORDER_PLACED,
        EventType.ORDERS_READ,
        EventType.INVOICE_ISSUED,
        EventType.INVOICES_READ,
        EventType.GUARANTEE_ISSUED,
        EventType.GUARANTEE_LOOKUP,
        EventType.PAYMENT_AUTHORIZED,
        EventType.PAYMENT_DECLINED,
        EventType.PAYMENTS_READ,
        EventType.ID_DOCUMENT_STORED,
        EventType.ID_DOCUMENT_READ,
        EventType.ID_DOCUMENT_DELETED,
        EventType.STAFF_NOTE_ADDED,
        EventType.STAFF_NOTES_READ,
        EventType.BREAK_GLASS,
        EventType.CUSTOMER_RECTIFIED,
        EventType.ACCOUNT_EMAIL_READ,
    }
)
ACCESS_LOG_PAGE_SIZE = 25
ACCESS_LOG_MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class AccessLogEntry:
    """One access, as the customer may see it: no actor id, only its kind and role."""

    seq: int
    at: dt.datetime
    type: str
    actor_kind: str  # staff, api, customer, system
    actor_role: str  # a policy role key (staff), else ""
    purpose: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class AccessLogPage:
    entries: list[AccessLogEntry]
    page: int
    has_previous: bool
    has_next: bool


def customer_access_log(
    customer_id: uuid.UUID, *, page: int = 1, per_page: int = ACCESS_LOG_PAGE_SIZE
) -> AccessLogPage:
    """The reads and changes of one customer's personal data, newest first, `per_page` a page.

    Uses the `(customer_id, at)` index: the rows of one customer only, walked from the newest.
    OFFSET paging is fine here (unlike the staff viewer above): one customer's events are few,
    and a customer reads the first pages. The actor's id is never returned (P09: the customer
    learns which role looked, for which purpose, never which staff member).
    """
    page = max(1, int(page))
    per_page = min(max(1, int(per_page)), ACCESS_LOG_MAX_PAGE_SIZE)
    start = (page - 1) * per_page
    rows = list(
        AuditEvent.objects.filter(
            customer_id=customer_id, type__in=PERSONAL_DATA_EVENTS, outcome=Outcome.OK
        )
        .order_by("-at", "-seq")
        .values_list("seq", "at", "type", "actor", "actor_role", "purpose", "fields")[
            start : start + per_page + 1
        ]
    )
    entries = [
        AccessLogEntry(
            seq=seq,
            at=at,
            type=type_,
            actor_kind=actor.partition(":")[0],
            actor_role=role if actor.startswith("staff:") else "",
            purpose=purpose,
            fields=tuple(f for f in fields.split(",") if f),
        )
        for seq, at, type_, actor, role, purpose, fields in rows[:per_page]
    ]
    return AccessLogPage(
        entries=entries, page=page, has_previous=page > 1, has_next=len(rows) > per_page
    )
