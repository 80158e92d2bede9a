"""Read-only queries behind the staff request queue and the dashboard (issue 6; P18).

The queue holds the open requests (not denied, complete or canceled), the one due first on top:
ordered by the due time that binds (`COALESCE(extended_due_at, due_at)`), requests without a
fixed time last, then by receipt. It filters on `status` first, so the `(status, due_at)` index
(`rights_status_due`) narrows the rows; the customer comes in the same query (no N+1).

**At risk** (one rule, documented in docs/staff.md): a request is at risk when it is not yet late
and its due time falls before the end of the *second working day after today* in the shop's
calendar (`pledge.policy.clock.WorkCalendar`: time zone, opening days, Vietnamese public holidays
with Tết). A working-day margin rather than a share of the allowed time, because the legal periods
themselves are counted in working days (Decree 356/2025 Art 5) and staff plan by working days: on
a Friday, a request due Tuesday evening is at risk; one due the Wednesday after is not yet.

**Acknowledgement overdue**: the acknowledgement time (Decree 356 Art 5: 2 working days) has
passed while the request still waits for its identity check. The acknowledgement goes out when a
request is filed from the privacy center and when a request of another channel is verified
(`pledge.rights.notices`), so a request still `identity_unverified` after `acknowledge_due_at`
was not acknowledged in time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.db.models import Count, DateTimeField, F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from pledge.audit.models import AuditEvent
from pledge.policy.clock import WorkCalendar
from pledge.rights.models import CLOSED_STATUSES, DataSubjectRequest, RequestKind, RequestStatus
from pledge.vault.access import policy

OPEN_STATUSES = tuple(s.value for s in RequestStatus if s not in CLOSED_STATUSES)
# Working days after today within which a due time counts as "at risk".
AT_RISK_WORKING_DAYS = 2
# A small shop has a handful of open requests; more than this on one page is a backlog that the
# filters should cut (the page stays inside its budget, ARCHITECTURE.md: p95 ≤ 50 ms).
QUEUE_LIMIT = 500
# Events of a request recorded before its customer was known (the public form) carry no
# customer id; `created_at` is stamped just before the filing event is appended.
_CLOCK_SLACK = dt.timedelta(seconds=5)


class QueueFilterInvalid(ValueError):
    """A status or kind the queue cannot filter by; the message names the accepted values."""


@dataclass(frozen=True)
class QueueRow:
    request: DataSubjectRequest
    due_at: dt.datetime | None  # the binding due time (extended or original); None: no fixed time
    at_risk: bool
    overdue: bool
    acknowledge_overdue: bool

    @property
    def customer_ref(self) -> str:
        return short_ref(self.request.customer_id)

    @property
    def due_end_of_day(self) -> dt.date | None:
        return end_of_day(self.due_at)


@dataclass(frozen=True)
class QueueCounts:
    open: int
    at_risk: int
    overdue: int


def short_ref(customer_id: uuid.UUID | None) -> str:
    """The customer as staff see them in lists: the first 8 hex digits of the id, never a name
    (P09: the queue is not a purpose to read anyone's data)."""
    return customer_id.hex[:8] if customer_id is not None else ""


def end_of_day(due: dt.datetime | None) -> dt.date | None:
    """The day a due time closes, when it falls at 24:00 in the current time zone (the shop's,
    in the console): "by the end of 2 December" reads right where "3 December, midnight" makes
    staff think they have one more day (Civil Code Art 148(6): a period ends at 24:00)."""
    if due is None:
        return None
    local = timezone.localtime(due)
    return local.date() - dt.timedelta(days=1) if local.time() == dt.time(0) else None


def calendar() -> WorkCalendar:
    return WorkCalendar.for_policy(policy().policy)


def at_risk_before(now: dt.datetime, cal: WorkCalendar | None = None) -> dt.datetime:
    """The first instant whose due time is no longer "at risk" on `now`: 24:00 (shop time) of the
    second working day after today."""
    cal = cal or calendar()
    day = now.astimezone(cal.timezone).date()
    for _ in range(AT_RISK_WORKING_DAYS):
        day = cal.next_working_day(day)
    return cal.end_of(day)


def _effective_due() -> Coalesce:
    return Coalesce(F("extended_due_at"), F("due_at"), output_field=DateTimeField())


def _open_requests() -> QuerySet[DataSubjectRequest]:
    return DataSubjectRequest.objects.filter(status__in=OPEN_STATUSES)


def _choice(value: str | None, choices: list[str], name: str) -> str | None:
    if value in (None, ""):
        return None
    if value not in choices:
        raise QueueFilterInvalid(f"unknown {name} {value!r}; expected one of: {', '.join(choices)}")
    return value


def request_queue(
    *,
    now: dt.datetime | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int = QUEUE_LIMIT,
) -> list[QueueRow]:
    """The open requests, due first on top, each with its at-risk and overdue marks."""
    now = now or timezone.now()
    wanted_status = _choice(status, list(OPEN_STATUSES), "status")
    wanted_kind = _choice(kind, list(RequestKind.values), "kind")
    rows = _open_requests()
    if wanted_status is not None:
        rows = rows.filter(status=wanted_status)
    if wanted_kind is not None:
        rows = rows.filter(kind=wanted_kind)
    rows = (
        rows.select_related("customer")
        .annotate(effective_due=_effective_due())
        .order_by(F("effective_due").asc(nulls_last=True), "received_at", "id")
    )
    risk_end = at_risk_before(now)
    return [queue_row(request, now=now, risk_end=risk_end) for request in rows[:limit]]


def queue_row(
    request: DataSubjectRequest,
    *,
    now: dt.datetime | None = None,
    risk_end: dt.datetime | None = None,
) -> QueueRow:
    """One request with its marks (the queue's rule), e.g. for the request's own page."""
    now = now or timezone.now()
    risk_end = risk_end or at_risk_before(now)
    due = request.effective_due_at
    if request.status in CLOSED_STATUSES:
        # A closed request runs against no deadline any more: no marks.
        return QueueRow(request, due, at_risk=False, overdue=False, acknowledge_overdue=False)
    overdue = due is not None and now >= due
    ack_due = request.acknowledge_due_at
    return QueueRow(
        request=request,
        due_at=due,
        at_risk=due is not None and not overdue and due <= risk_end,
        overdue=overdue,
        acknowledge_overdue=(
            ack_due is not None
            and now >= ack_due
            and request.status == RequestStatus.IDENTITY_UNVERIFIED
        ),
    )


def queue_counts(*, now: dt.datetime | None = None) -> QueueCounts:
    """Open, at-risk and overdue requests for the dashboard: one aggregate query."""
    now = now or timezone.now()
    risk_end = at_risk_before(now)
    counts = (
        _open_requests()
        .annotate(effective_due=_effective_due())
        .aggregate(
            open=Count("id"),
            at_risk=Count("id", filter=Q(effective_due__gt=now, effective_due__lte=risk_end)),
            overdue=Count("id", filter=Q(effective_due__lte=now)),
        )
    )
    return QueueCounts(counts["open"], counts["at_risk"], counts["overdue"])


def request_timeline(request: DataSubjectRequest) -> list[AuditEvent]:
    """The audit events of one request (`record = "request:<id>"`), oldest first.

    `record` has no index of its own (each index costs every append, audit/models.py), so the
    search is bounded by indexed columns: the customer's events since the request was created
    (the `(customer_id, at)` index), and the customer-less events from its creation until the
    customer was known (a public-form request is matched to its customer at verification).
    """
    record = f"request:{request.id}"
    since = request.created_at - _CLOCK_SLACK
    events: list[AuditEvent] = []
    until: dt.datetime | None = None
    if request.customer_id is not None:
        events = list(
            AuditEvent.objects.filter(customer_id=request.customer_id, at__gte=since, record=record)
        )
        until = events[0].at if events else None
    anonymous = AuditEvent.objects.filter(customer_id__isnull=True, at__gte=since, record=record)
    if until is not None:
        anonymous = anonymous.filter(at__lte=until)
    events.extend(anonymous)
    return sorted(events, key=lambda e: e.seq)
