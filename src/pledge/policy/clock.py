"""The legal deadline clock: when a request (issue 6) or complaint (issue 7) is due.

Pure functions: a received time, a `Deadline` from a jurisdiction profile and the shop's calendar
(time zone, opening hours, public holidays) give a `Due`. No database, no clock, no other app.

Counting rules, by unit, and where they come from:

- ``hours`` — exact elapsed time from the moment of receipt (Civil Code 91/2015/QH13 Art 147(1):
  a period in hours starts at the stated moment; EU Regulation 1182/71 Art 3(1)). Nights, weekends
  and holidays count; nothing rolls forward (1182/71 Art 3(4) excludes periods in hours).
- ``days`` / ``months`` — the day of receipt is not counted, whatever the hour (Civil Code
  Art 147(2)-(3); 1182/71 Art 3(1)); the period ends at 24:00 of its last day (Civil Code
  Art 148(1), (6)). Months end on the corresponding day of the last month, or that month's last
  day when it has none: 31 Jan + 1 month ends 28/29 Feb (Civil Code Art 148(3); 1182/71
  Art 3(2)(c)). When the last day is not a working day, the period ends at 24:00 of the next
  working day (Civil Code Art 148(5); 1182/71 Art 3(4); the ICO's GDPR guidance says the same).
- ``working_days`` — Decree 356/2025/ND-CP Art 5 counts "ngày làm việc kể từ ngày nhận được yêu
  cầu" (working days from the day of receipt). As for days, the day of receipt is not counted
  (Civil Code Art 147): day 1 is the first working day *after* the receipt date, so a request filed
  Friday 09:00 and one filed Friday 19:30 are due at the same time; the period ends at 24:00 of
  the Nth working day.
- ``working_hours`` — a shop's own promise (P21, "24 working hours"): only the shop's open time
  counts (its days, open-close minus breaks, public holidays closed unless it says otherwise);
  a complaint received outside that time starts counting at the next opening.
- ``without_undue_delay`` — no fixed time: `Due.at` is None and `Due.without_undue_delay` is True.

Working days: Monday-Friday except public holidays of ``holiday_country`` (Vietnam by default, with
the lunar Tết days, from the `holidays` package), *plus* any day the shop says it is open
(`business_hours.days`, e.g. Saturday; public holidays too when `closed_on_public_holidays` is
false). A shop that works Saturdays counts them; a shop open only three days a week cannot stretch
a legal period past the official working week — the stricter reading of both wins.

Where several profiles apply the strictest wins (LAW.md): `strictest` picks the earliest fixed due
time. `extend` takes the one extension a deadline allows, counted on from the end of the original
period before any roll-forward (the stricter reading of GDPR Art 12(3) "two further months").
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from pledge.policy.jurisdictions import Deadline
from pledge.policy.schema import OpeningHours, Policy

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Official working week (Labour Code 45/2019/QH14 Art 105; EU 1182/71 Art 2(2)): Monday-Friday.
OFFICIAL_WORKING_WEEKDAYS = frozenset(range(5))
# When a shop gives no business hours, working hours are office hours with a lunch break.
DEFAULT_OPEN = dt.time(8, 0)
DEFAULT_CLOSE = dt.time(17, 0)
DEFAULT_BREAKS: tuple[tuple[dt.time, dt.time], ...] = ((dt.time(12, 0), dt.time(13, 0)),)
# No working time for a whole year means the calendar is broken, not that the shop is on holiday.
_MAX_CLOSED_DAYS = 366


class ClockError(ValueError):
    """Input the clock cannot count from; the message says what is wrong."""


@cache
def _public_holidays(country: str, year: int) -> frozenset[dt.date]:
    try:
        found = holidays.country_holidays(country, years=year)
    except NotImplementedError:
        raise ClockError(f"no public-holiday calendar for country {country!r}") from None
    return frozenset(found.keys())


def _hhmm(value: str) -> dt.time:
    hour, minute = value.split(":")
    return dt.time(int(hour), int(minute))


@dataclass(frozen=True)
class WorkCalendar:
    """The shop's time zone, opening hours and public holidays."""

    timezone: ZoneInfo
    hours: OpeningHours | None = None
    holiday_country: str = "VN"

    @classmethod
    def create(
        cls, timezone: str, hours: OpeningHours | None = None, holiday_country: str = "VN"
    ) -> WorkCalendar:
        if not isinstance(timezone, str) or not timezone:
            raise ClockError(
                f"time zone must be a name such as 'Asia/Ho_Chi_Minh', not {timezone!r}"
            )
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ClockError(f"unknown time zone {timezone!r}") from None
        _public_holidays(holiday_country, 2026)  # fail now on an unknown country, not mid-count
        return cls(timezone=zone, hours=hours, holiday_country=holiday_country)

    @classmethod
    def for_policy(cls, policy: Policy, holiday_country: str = "VN") -> WorkCalendar:
        return cls.create(policy.timezone, policy.business_hours, holiday_country)

    def is_public_holiday(self, day: dt.date) -> bool:
        return day in _public_holidays(self.holiday_country, day.year)

    def is_shop_day(self, day: dt.date) -> bool:
        """The shop is open on this day (its own hours; office hours when it gives none)."""
        if self.hours is None:
            return day.weekday() in OFFICIAL_WORKING_WEEKDAYS and not self.is_public_holiday(day)
        if WEEKDAYS[day.weekday()] not in self.hours.days:
            return False
        return not (self.hours.closed_on_public_holidays and self.is_public_holiday(day))

    def is_working_day(self, day: dt.date) -> bool:
        """A working day for legal periods: an official working day, or a day the shop works."""
        official = day.weekday() in OFFICIAL_WORKING_WEEKDAYS and not self.is_public_holiday(day)
        return official or self.is_shop_day(day)

    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day strictly after `day`."""
        day += dt.timedelta(days=1)
        while not self.is_working_day(day):
            day += dt.timedelta(days=1)
        return day

    def end_of(self, day: dt.date) -> dt.datetime:
        """24:00 of `day`, shop time (Civil Code Art 148(6)): the first instant that is late."""
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=self.timezone)

    def open_periods(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The shop's open time on `day` as aware intervals, breaks removed."""
        if not self.is_shop_day(day):
            return []
        if self.hours is None:
            start, end, breaks = DEFAULT_OPEN, DEFAULT_CLOSE, DEFAULT_BREAKS
        else:
            start, end = _hhmm(self.hours.open), _hhmm(self.hours.close)
            breaks = tuple((_hhmm(b.start), _hhmm(b.end)) for b in self.hours.breaks)
        pieces: list[tuple[dt.time, dt.time]] = [(start, end)]
        for b_start, b_end in sorted(breaks):
            cut: list[tuple[dt.time, dt.time]] = []
            for p_start, p_end in pieces:
                if b_end <= p_start or b_start >= p_end:
                    cut.append((p_start, p_end))
                    continue
                if p_start < b_start:
                    cut.append((p_start, b_start))
                if b_end < p_end:
                    cut.append((b_end, p_end))
            pieces = cut
        return [
            (
                dt.datetime.combine(day, a, tzinfo=self.timezone),
                dt.datetime.combine(day, b, tzinfo=self.timezone),
            )
            for a, b in pieces
        ]


@dataclass(frozen=True)
class Due:
    """When a deadline falls. `at` is the first late instant (aware, in the shop's time zone)."""

    received: dt.datetime
    deadline: Deadline
    calendar: WorkCalendar
    with_processor: bool
    # None when the law says "without undue delay" instead of a fixed time.
    at: dt.datetime | None
    without_undue_delay: bool
    # The last day of the period after any roll-forward, for display ("by the end of 12 Feb").
    last_day: dt.date | None
    # The period's last day before roll-forward: an extension counts on from here.
    nominal_last_day: dt.date | None
    extended: bool = False

    def is_late(self, now: dt.datetime) -> bool:
        return self.at is not None and _aware(now, "now") >= self.at


def _aware(value: object, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise ClockError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ClockError(
            f"{name} must be timezone-aware (got naive {value.isoformat()}); "
            "a deadline depends on the time zone it was received in"
        )
    return value


def add_months(day: dt.date, months: int) -> dt.date:
    """The corresponding day `months` later, clamped to the month's end (Civil Code Art 148(3))."""
    year, month0 = divmod(day.month - 1 + months, 12)
    year += day.year
    last = _calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last))


def _add_working_days(cal: WorkCalendar, start: dt.date, count: int) -> dt.date:
    day = start
    for _ in range(count):
        day = cal.next_working_day(day)
    return day


def working_time_after(cal: WorkCalendar, start: dt.datetime, amount: dt.timedelta) -> dt.datetime:
    """The instant when `amount` of the shop's open time has passed since `start` (fractions of
    an hour allowed: the complaints desk escalates at 50 % and 80 % of a working-hours SLA)."""
    remaining = amount
    start_utc = start.astimezone(dt.UTC)
    day = start.astimezone(cal.timezone).date()
    closed_days = 0
    while True:
        periods = cal.open_periods(day)
        closed_days = 0 if periods else closed_days + 1
        if closed_days > _MAX_CLOSED_DAYS:
            raise ClockError("the business hours give no working time in a whole year")
        for p_start, p_end in periods:
            # Compare and subtract in UTC: wall-clock arithmetic is wrong across DST changes.
            a, b = max(p_start.astimezone(dt.UTC), start_utc), p_end.astimezone(dt.UTC)
            if b <= a:
                continue
            if b - a >= remaining:
                return (a + remaining).astimezone(cal.timezone)
            remaining -= b - a
        day += dt.timedelta(days=1)


def _period_amount(deadline: Deadline, with_processor: bool) -> int:
    if with_processor and deadline.with_processor is not None:
        return deadline.with_processor
    assert deadline.amount is not None  # the Deadline validator guarantees it
    return deadline.amount


def _count(
    cal: WorkCalendar, deadline: Deadline, received: dt.datetime, start_day: dt.date, amount: int
) -> tuple[dt.datetime, dt.date | None, dt.date | None]:
    """(due instant, last day after roll-forward, nominal last day) for `amount` units."""
    unit = deadline.unit
    if unit == "hours":
        at = (received.astimezone(dt.UTC) + dt.timedelta(hours=amount)).astimezone(cal.timezone)
        return at, None, None
    if unit == "working_hours":
        return working_time_after(cal, received, dt.timedelta(hours=amount)), None, None
    if unit == "working_days":
        last = _add_working_days(cal, start_day, amount)
        return cal.end_of(last), last, last
    if unit == "days":
        nominal = start_day + dt.timedelta(days=amount)
    elif unit == "months":
        nominal = add_months(start_day, amount)
    else:  # pragma: no cover - without_undue_delay is handled by the callers
        raise ClockError(f"unit {unit!r} has no fixed due time")
    # Civil Code Art 148(5); EU 1182/71 Art 3(4): a period ending on a day off ends on the next
    # working day.
    last = nominal if cal.is_working_day(nominal) else cal.next_working_day(nominal)
    return cal.end_of(last), last, nominal


def due_at(
    received: dt.datetime,
    deadline: Deadline,
    calendar: WorkCalendar,
    *,
    with_processor: bool = False,
) -> Due:
    """When `deadline` falls for something received at `received` (timezone-aware)."""
    received = _aware(received, "received").astimezone(calendar.timezone)
    if not isinstance(deadline, Deadline):
        raise ClockError(f"deadline must be a Deadline, not {type(deadline).__name__}")
    if deadline.unit == "without_undue_delay":
        return Due(received, deadline, calendar, with_processor, None, True, None, None)
    amount = _period_amount(deadline, with_processor)
    at, last, nominal = _count(calendar, deadline, received, received.date(), amount)
    return Due(received, deadline, calendar, with_processor, at, False, last, nominal)


def extend(due: Due, deadline: Deadline) -> Due:
    """The due time after the one extension `deadline` allows (Decree 356 Art 5; GDPR Art 12(3))."""
    if deadline != due.deadline:
        raise ClockError("extend a due time with the deadline it was computed from")
    if due.extended:
        raise ClockError("this deadline was already extended; the law allows one extension")
    if deadline.extension is None or due.at is None:
        raise ClockError(f"this deadline ({deadline.article.en}) allows no extension")
    if deadline.unit in ("hours", "working_hours"):
        at, last, nominal = _count(
            due.calendar, deadline, due.at, due.at.date(), deadline.extension
        )
    else:
        assert due.nominal_last_day is not None
        at, last, nominal = _count(
            due.calendar, deadline, due.received, due.nominal_last_day, deadline.extension
        )
    return replace(due, at=at, last_day=last, nominal_last_day=nominal, extended=True)


def strictest(
    received: dt.datetime,
    deadlines: Iterable[Deadline | None],
    calendar: WorkCalendar,
    *,
    with_processor: bool = False,
) -> Due:
    """The strictest of several profiles' deadlines for the same request (LAW.md).

    The earliest fixed due time wins; a profile that gives none (None, e.g. no acknowledgement
    rule) is skipped. If any applicable rule says "without undue delay", the result carries that
    flag too: both bind, act without undue delay and no later than `at`.
    """
    dues = [
        due_at(received, d, calendar, with_processor=with_processor)
        for d in deadlines
        if d is not None
    ]
    if not dues:
        raise ClockError("strictest() needs at least one deadline")
    undue = any(d.without_undue_delay for d in dues)
    fixed = [d for d in dues if d.at is not None]
    if not fixed:
        return dues[0]
    best = min(fixed, key=lambda d: d.at or received)  # min() keeps the first of equal times
    return replace(best, without_undue_delay=undue)
