"""Read-only queries behind the console dashboard: aggregate counts only, never a personal value.

Each selector is one or two indexed queries, so the dashboard stays inside the page budget
(p95 ≤ 50 ms, ARCHITECTURE.md) on a shop's real log: the chart is one GROUP BY over the `at`
index, the audit status reads the chain head and the last `audit:verified` event.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.utils import timezone

from pledge.audit.events import EventType, Outcome
from pledge.audit.models import AuditEvent
from pledge.consent.models import ConsentState
from pledge.policy.enforcement import EnforcedPolicy, NoPolicyInForce, enforced_policy
from pledge.rights.selectors import queue_counts
from pledge.vault.models import Customer

# The audit events that are a read of customer data on someone's behalf (the chart's "accesses").
ACCESS_EVENTS = (
    EventType.CUSTOMER_READ,
    EventType.ORDERS_READ,
    EventType.CUSTOMER_LOOKUP,
    EventType.GUARANTEE_LOOKUP,
)
CHART_DAYS = 14
PAST_COUNTS_SECONDS = 36 * 3600
VERIFIED_CACHE_KEY = "pledge:console:audit_verified"


@dataclass(frozen=True)
class PendingWork:
    """Work with deadlines: requests (issue 6), complaints and incidents (later issues)."""

    key: str
    count: int
    enabled: bool
    at_risk: int = 0
    overdue: int = 0
    # The roles that see this work and its page (empty: every staff member).
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AuditStatus:
    head_seq: int
    # The last successful `pledge audit verify` (or "verify now"), if any.
    verified_at: dt.datetime | None
    verified_by: str
    verified_events: int | None
    events_since: int


@dataclass(frozen=True)
class ConsentRate:
    purpose: str
    live: int
    customers: int

    @property
    def percent(self) -> float:
        return 100.0 * self.live / self.customers if self.customers else 0.0


@dataclass(frozen=True)
class DailyAccesses:
    days: list[dt.date]
    purposes: list[str]  # those with at least one access in the window, in policy order
    counts: dict[tuple[dt.date, str], int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def audit_status() -> AuditStatus:
    """The chain head and the last successful verification.

    `type` has no index (each index costs every append, audit/models.py), so finding the last
    `audit:verified` event means reading back from the head. This process remembers how far it
    has read (the head's sequence number and hash: a different log, or a rewritten head, starts
    over) and on the next load reads only the events appended since.
    """
    head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    if head is None:
        return AuditStatus(0, None, "", None, 0)
    head_seq, head_hash = head
    remembered = cache.get(VERIFIED_CACHE_KEY)
    verified: tuple[int, dt.datetime, str, str] | None = None
    since = 0
    if remembered is not None:
        seen_seq, seen_hash, verified = remembered
        still = AuditEvent.objects.filter(seq=seen_seq, hash=seen_hash).exists()
        since = seen_seq if still else 0
        verified = verified if still else None
    if since < head_seq:
        newer = (
            AuditEvent.objects.filter(
                seq__gt=since, type=EventType.AUDIT_VERIFIED, outcome=Outcome.OK
            )
            .order_by("-seq")
            .values_list("seq", "at", "actor", "details")
            .first()
        )
        verified = newer or verified
        cache.set(VERIFIED_CACHE_KEY, (head_seq, head_hash, verified), None)
    if verified is None:
        return AuditStatus(head_seq, None, "", None, head_seq)
    seq, at, actor, details = verified
    # Sequence numbers have no gaps (a gap is a deleted event, which verify reports), so the
    # events after the verification are counted without reading them.
    return AuditStatus(head_seq, at, actor, _detail_int(details, "events"), head_seq - seq)


def _detail_int(details: str, name: str) -> int | None:
    try:
        value = json.loads(details).get(name) if details else None
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def consent_rates(enforced: EnforcedPolicy) -> list[ConsentRate]:
    """Per purpose based on consent: customers holding a live consent / all customers (P04)."""
    purposes = [p.key for p in enforced.policy.purposes if p.basis == "consent"]
    if not purposes:
        return []
    customers = Customer.objects.count()
    live = dict(
        ConsentState.objects.filter(purpose__in=purposes, live=True, customer_id__isnull=False)
        .values_list("purpose")
        .annotate(n=Count("customer_id", distinct=True))
        .values_list("purpose", "n")
    )
    return [ConsentRate(p, live.get(p, 0), customers) for p in purposes]


def accesses_per_day(enforced: EnforcedPolicy, days: int = CHART_DAYS) -> DailyAccesses:
    """Reads of customer data per purpose per local day over the last `days` days (today
    included).

    The log is append-only and every event is stamped when it is appended, so the counts of the
    days before today never change: they are one aggregate query, cached for the day (keyed by
    the hash of the last event before today, so a different log never hits a stale entry), and
    only today's events are counted on each load. A busy shop's log holds hundreds of thousands
    of reads in 14 days; counting them all on every load would blow the page budget.
    """
    tz = timezone.get_current_timezone()
    today = timezone.localdate()
    calendar = [today - dt.timedelta(days=days - 1 - i) for i in range(days)]
    starts = [dt.datetime.combine(day, dt.time.min, tzinfo=tz) for day in calendar]
    counts = _past_counts(calendar[:-1], starts) if days > 1 else {}
    counts.update(_count(calendar[-1:], starts[-1:], until=None))
    seen = {p for _, p in counts}
    order = [p.key for p in enforced.policy.purposes if p.key in seen]
    order += sorted(seen - set(order))  # purposes a former policy version had
    return DailyAccesses(calendar, order, counts)


def _past_counts(past: list[dt.date], starts: list[dt.datetime]) -> dict[tuple[dt.date, str], int]:
    today_start = starts[len(past)]
    marker = (
        AuditEvent.objects.filter(at__lt=today_start)
        .order_by("-at")
        .values_list("hash", flat=True)
        .first()
    )
    if marker is None:
        return {}
    key = f"pledge:console:accesses:{today_start.isoformat()}:{len(past)}:{marker}"
    cached: dict[tuple[dt.date, str], int] | None = cache.get(key)
    if cached is None:
        cached = _count(past, starts[: len(past)], until=today_start)
        cache.set(key, cached, PAST_COUNTS_SECONDS)
    return dict(cached)


def _count(
    calendar: list[dt.date], starts: list[dt.datetime], *, until: dt.datetime | None
) -> dict[tuple[dt.date, str], int]:
    """One aggregate query: reads per (day, purpose) from `starts[0]` (to `until`).

    The day is a CASE over the instants where each local day starts (computed here, so
    daylight-saving changes are right), not the database's date functions: on SQLite those are
    Python callbacks run for every row.
    """
    events = AuditEvent.objects.filter(
        at__gte=starts[0], type__in=[t.value for t in ACCESS_EVENTS], outcome=Outcome.OK
    ).exclude(purpose="")
    if until is not None:
        events = events.filter(at__lt=until)
    bucket = Case(
        *(When(at__lt=starts[i + 1], then=Value(i)) for i in range(len(starts) - 1)),
        default=Value(len(starts) - 1),
        output_field=IntegerField(),
    )
    rows = events.annotate(day=bucket).values_list("day", "purpose").annotate(n=Count("seq"))
    return {(calendar[day], purpose): n for day, purpose, n in rows.order_by()}


# A policy may name the roles that handle data-subject requests with this console capability;
# without it, the roles below do (request_handler_roles).
HANDLE_REQUESTS = "handle_requests"


def request_handler_roles(enforced: EnforcedPolicy) -> frozenset[str]:
    """The roles that handle data-subject requests in the console (P18; issue 6).

    The owner (the role that manages staff: it answers for the controller, Decree 356/2025 Art 5)
    and the roles the policy gives its `complaints` purpose: the staff who already talk with
    customers about their data (seed B: "Communicating and resolving complaints with customers").
    A policy can name more roles with the console capability `handle_requests`. Accounting, sales
    and the auditor see no request: a request says who asked for what, which is none of their
    purposes.
    """
    roles = {
        r.key
        for r in enforced.policy.roles
        if "manage_staff" in r.console or HANDLE_REQUESTS in r.console
    }
    return frozenset(roles | set(enforced.roles.get("complaints", ())))


def pending_work() -> list[PendingWork]:
    """Open requests (with how many are at risk or overdue: one aggregate query), complaints
    (filled in by views_dashboard) and incidents (issue 8)."""
    try:
        handlers = request_handler_roles(enforced_policy())
    except NoPolicyInForce:
        handlers = frozenset()
    counts = queue_counts()
    requests = PendingWork(
        "requests",
        counts.open,
        enabled=True,
        at_risk=counts.at_risk,
        overdue=counts.overdue,
        roles=handlers,
    )
    return [requests, PendingWork("complaints", 0, enabled=False), incident_work()]


def incident_work(now: dt.datetime | None = None) -> PendingWork:
    """Open incidents (not closed), with how many have a legal clock past half time and how
    many one past its deadline without a report (P23): two aggregate queries. The owner's only
    (console/views_incidents.py)."""
    from pledge.incidents.models import Incident, IncidentClock, IncidentStatus

    now = now or timezone.now()
    try:
        owners = frozenset(
            r.key for r in enforced_policy().policy.roles if "manage_staff" in r.console
        )
    except NoPolicyInForce:
        owners = frozenset()
    open_count = Incident.objects.exclude(status=IncidentStatus.CLOSED).count()
    running = IncidentClock.objects.filter(answered_at__isnull=True).exclude(
        incident__status=IncidentStatus.CLOSED
    )
    marks = running.aggregate(
        at_risk=Count("incident", distinct=True, filter=Q(warn_half_at__lte=now, due_at__gt=now)),
        overdue=Count("incident", distinct=True, filter=Q(due_at__lte=now)),
    )
    return PendingWork(
        "incidents",
        open_count,
        enabled=True,
        at_risk=int(marks["at_risk"] or 0),
        overdue=int(marks["overdue"] or 0),
        roles=owners,
    )


def staff_emails(labels: Iterable[str]) -> dict[str, str]:
    """Audit actor labels "staff:<id>" -> the staff member's email (others are left out)."""
    ids = {label.split(":", 1)[1] for label in labels if label.startswith("staff:")}
    wanted = [int(i) for i in ids if i.isdigit()]
    if not wanted:
        return {}
    users = get_user_model().objects.filter(pk__in=wanted).values_list("pk", "email")
    return {f"staff:{pk}": email for pk, email in users}
