"""Complaint reports (issue 7, item 5; P21): is the shop keeping its promised answer time?

Aggregates only, no personal data: counts, times and complaint ids, never a text or a customer.

How the numbers are read (docs/complaints.md, "Reports"):

- A complaint counts in the month it was *received*, in the shop's time zone (the policy's
  `timezone`, where its SLA is counted), whatever happened to it later: a month's row keeps
  filling in while its complaints are handled.
- *In time* and *breached* are the first round's verdict (`Complaint.sla_met`: True when the
  first answer came before the first due time, False once a breach is recorded). A reopened
  complaint's later rounds do not change it. *Attainment* is in time / (in time + breached):
  complaints still inside their first round are not decided yet and count in neither, so a month
  with nothing decided has no attainment (None, shown "—"), not 0 % or 100 %.
- *Median time to first answer* is elapsed calendar hours from receipt to the first written
  answer, over the answered complaints of the row, whatever the SLA's clock (a promise of
  working hours is met or breached by `sla_met`; the median says how long customers waited).
- *Open at risk* is the state now, not the period's: open complaints past their 50 % escalation
  point and not yet due ("at risk"), and open complaints past their due time ("overdue").

Queries are fixed in number whatever the rows: one aggregate per (month, channel), one list of
the two timestamps of answered complaints for the medians (computed here: a small shop answers a
few hundred complaints a year), one aggregate and one bounded list for the open ones.
"""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Q
from django.db.models.functions import TruncMonth

from pledge.complaints.models import OPEN_STATUSES, Complaint, ComplaintChannel

DEFAULT_MONTHS = 12
MAX_MONTHS = 36
# The open-at-risk list on the page; the counts cover every open complaint.
AT_RISK_LIMIT = 100
# The key of the totals of every channel (a row per month, and the period's).
ALL = "all"


class PeriodInvalid(ValueError):
    """A report period the reports cannot show; the message says what is wrong."""


@dataclass(frozen=True)
class Attainment:
    """One row of the report: the complaints received in `month` (None: the whole period)
    through `channel` (`ALL`: every channel)."""

    month: dt.date | None
    channel: str
    filed: int
    answered: int
    in_time: int
    breached: int
    still_open: int
    median_hours: float | None  # calendar hours to the first answer, one decimal

    @property
    def decided(self) -> int:
        return self.in_time + self.breached

    @property
    def undecided(self) -> int:
        """Received and not yet judged against the first due time (still inside the round)."""
        return self.filed - self.decided

    @property
    def attainment(self) -> float | None:
        """Percent answered in time of those decided (P21); None when nothing is decided."""
        if not self.decided:
            return None
        return round(100 * self.in_time / self.decided, 1)


@dataclass(frozen=True)
class MonthReport:
    month: dt.date  # the first day of the month, in the shop's time zone
    total: Attainment
    channels: list[Attainment]  # every channel, in `ComplaintChannel` order (zeros included)

    @property
    def active_channels(self) -> list[Attainment]:
        return [row for row in self.channels if row.filed]


@dataclass(frozen=True)
class OpenComplaint:
    id: uuid.UUID
    channel: str
    status: str
    received_at: dt.datetime
    due_at: dt.datetime
    overdue: bool

    @property
    def reference(self) -> str:
        return str(self.id)[:8]


@dataclass(frozen=True)
class OpenAtRisk:
    at_risk: dict[str, int]  # channel -> open, past 50 % of the SLA, not yet due
    overdue: dict[str, int]  # channel -> open, past the due time
    complaints: list[OpenComplaint]  # overdue first, then by due time; at most AT_RISK_LIMIT

    @property
    def total_at_risk(self) -> int:
        return sum(self.at_risk.values())

    @property
    def total_overdue(self) -> int:
        return sum(self.overdue.values())

    @property
    def truncated(self) -> bool:
        return len(self.complaints) < self.total_at_risk + self.total_overdue


@dataclass(frozen=True)
class SlaReport:
    months: list[MonthReport]  # oldest first
    period: list[Attainment]  # the whole period: every channel, then the totals (`ALL`)
    start: dt.datetime  # the first instant counted (the first month's start, shop time)
    now: dt.datetime

    @property
    def period_total(self) -> Attainment:
        return self.period[-1]


# -- the period -------------------------------------------------------------------------------


def parse_months(value: str | None) -> int:
    """`?months=N`: a whole number of months from 1 to 36 (blank: the default, 12)."""
    if value is None or not value.strip():
        return DEFAULT_MONTHS
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        raise PeriodInvalid(f"months must be a whole number from 1 to {MAX_MONTHS}")
    months = int(text)
    if not 1 <= months <= MAX_MONTHS:
        raise PeriodInvalid(f"months must be from 1 to {MAX_MONTHS}")
    return months


def month_starts(now: dt.datetime, months: int, tz: dt.tzinfo) -> list[dt.date]:
    """The first days of the last `months` months, this month included, oldest first."""
    local = now.astimezone(tz)
    index = local.year * 12 + local.month - 1
    return [dt.date(i // 12, i % 12 + 1, 1) for i in range(index - months + 1, index + 1)]


# -- attainment -------------------------------------------------------------------------------


def _median_hours(durations: list[dt.timedelta]) -> float | None:
    if not durations:
        return None
    return round(statistics.median(d.total_seconds() for d in durations) / 3600, 1)


def _as_month(value: dt.date | dt.datetime, tz: dt.tzinfo) -> dt.date:
    """A truncated month as the first day: PostgreSQL and SQLite both give an aware datetime at
    the month's local midnight; read it in the shop's zone before dropping the time."""
    if isinstance(value, dt.datetime):
        if value.utcoffset() is not None:
            value = value.astimezone(tz)
        return value.date().replace(day=1)
    return value.replace(day=1)


def _row(
    month: dt.date | None, channel: str, counts: Iterable[dict[str, int]], waits: list[dt.timedelta]
) -> Attainment:
    totals: dict[str, int] = defaultdict(int)
    for c in counts:
        for key, n in c.items():
            totals[key] += n
    return Attainment(
        month=month,
        channel=channel,
        filed=totals["filed"],
        answered=totals["answered"],
        in_time=totals["in_time"],
        breached=totals["breached"],
        still_open=totals["still_open"],
        median_hours=_median_hours(waits),
    )


def sla_attainment(*, now: dt.datetime, months: int, tz: dt.tzinfo) -> SlaReport:
    """Per month and channel: filed, answered, in time, breached, still open, attainment and the
    median time to the first answer, over the last `months` months (this one included)."""
    if not 1 <= months <= MAX_MONTHS:
        raise PeriodInvalid(f"months must be from 1 to {MAX_MONTHS}")
    calendar = month_starts(now, months, tz)
    start = dt.datetime.combine(calendar[0], dt.time.min, tzinfo=tz)
    received = Complaint.objects.filter(received_at__gte=start, received_at__lte=now)
    month = TruncMonth("received_at", tzinfo=tz)
    aggregated = (
        received.annotate(month=month)
        .values("month", "channel")
        .annotate(
            filed=Count("id"),
            answered=Count("id", filter=Q(first_answered_at__isnull=False)),
            in_time=Count("id", filter=Q(sla_met=True)),
            breached=Count("id", filter=Q(sla_met=False)),
            still_open=Count("id", filter=Q(status__in=list(OPEN_STATUSES))),
        )
        .order_by()
    )
    counts: dict[tuple[dt.date, str], dict[str, int]] = {}
    for row in aggregated:
        key = (_as_month(row["month"], tz), row["channel"])
        counts[key] = {
            name: row[name] for name in ("filed", "answered", "in_time", "breached", "still_open")
        }
    # The medians: two timestamps (and the channel) per answered complaint, bucketed here.
    waits: dict[tuple[dt.date, str], list[dt.timedelta]] = defaultdict(list)
    answered = received.filter(first_answered_at__isnull=False).values_list(
        "channel", "received_at", "first_answered_at"
    )
    for channel, received_at, first_answered_at in answered.order_by():
        if first_answered_at is None:  # pragma: no cover - filtered out above
            continue
        local_month = received_at.astimezone(tz).date().replace(day=1)
        waits[(local_month, channel)].append(first_answered_at - received_at)

    channels = list(ComplaintChannel.values)
    # A channel no longer offered still has its old rows reported.
    channels += sorted({c for _m, c in counts} - set(channels))
    reports: list[MonthReport] = []
    for first_day in calendar:
        per_channel = [
            _row(
                first_day,
                channel,
                [counts[(first_day, channel)]] if (first_day, channel) in counts else [],
                waits.get((first_day, channel), []),
            )
            for channel in channels
        ]
        total = _row(
            first_day,
            ALL,
            [counts[(first_day, c)] for c in channels if (first_day, c) in counts],
            [w for c in channels for w in waits.get((first_day, c), [])],
        )
        reports.append(MonthReport(month=first_day, total=total, channels=per_channel))
    period = [
        _row(
            None,
            channel,
            [v for (_m, c), v in counts.items() if c == channel],
            [w for (_m, c), ws in waits.items() if c == channel for w in ws],
        )
        for channel in channels
    ]
    period.append(
        _row(None, ALL, counts.values(), [w for ws in waits.values() for w in ws]),
    )
    return SlaReport(months=reports, period=period, start=start, now=now)


# -- open at risk -----------------------------------------------------------------------------


def open_at_risk(*, now: dt.datetime, limit: int = AT_RISK_LIMIT) -> OpenAtRisk:
    """Open complaints past their 50 % escalation point (P21: the owner has been told), split
    into not yet due and overdue, per channel, and the first `limit` of them, overdue first."""
    open_late = Complaint.objects.filter(status__in=list(OPEN_STATUSES), escalate_50_at__lte=now)
    overdue_q = Q(due_at__lte=now)
    per_channel = (
        open_late.values("channel")
        .annotate(
            overdue=Count("id", filter=overdue_q),
            at_risk=Count("id", filter=~overdue_q),
        )
        .order_by()
    )
    at_risk: dict[str, int] = {}
    overdue: dict[str, int] = {}
    for row in per_channel:
        at_risk[row["channel"]] = row["at_risk"]
        overdue[row["channel"]] = row["overdue"]
    # Overdue ones are exactly those due first: ordering by due time puts them on top.
    rows = open_late.order_by("due_at", "id").values_list(
        "id", "channel", "status", "received_at", "due_at"
    )[:limit]
    complaints = [
        OpenComplaint(
            id=cid,
            channel=channel,
            status=status,
            received_at=received_at,
            due_at=due_at,
            overdue=due_at <= now,
        )
        for cid, channel, status, received_at, due_at in rows
    ]
    return OpenAtRisk(at_risk=at_risk, overdue=overdue, complaints=complaints)
