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
