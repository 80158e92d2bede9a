"""The legal deadline clock: fixed received times, every request type and profile, Tết, hours."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import holidays
import pytest

from pledge.policy.clock import (
    ClockError,
    WorkCalendar,
    add_months,
    due_at,
    extend,
    strictest,
)
from pledge.policy.jurisdictions import Deadline, load_profile
from pledge.policy.loader import load_policy
from pledge.policy.schema import OpeningHours

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
BERLIN = ZoneInfo("Europe/Berlin")
REQUEST_TYPES = (
    "acknowledge",
    "access",
    "rectification",
    "portability",
    "erasure",
    "restriction",
    "objection",
    "withdraw_consent",
)


def vn(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=HCM)


def de(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def deadline(profile: str, request: str) -> Deadline | None:
    found: Deadline | None = getattr(load_profile(profile).requests, request)
    return found


def shop_promise(hours: int) -> Deadline:
    """The shop's own complaint promise (P21, issue 7): N working hours."""
    return Deadline.model_validate(
        {
            "amount": hours,
            "unit": "working_hours",
            "article": {"vi": "Cam kết của cửa hàng", "en": "The shop's promise"},
            "summary": {"vi": "Trả lời khiếu nại", "en": "Answer a complaint"},
        }
    )


def hours(
    days: list[str], open_: str, close: str, breaks: list[tuple[str, str]], **kw: bool
) -> OpeningHours:
    return OpeningHours.model_validate(
        {
            "days": days,
            "open": open_,
            "close": close,
            "breaks": [{"start": a, "end": b} for a, b in breaks],
            **kw,
        }
    )


@pytest.fixture
def vn_cal() -> WorkCalendar:
    return WorkCalendar.create("Asia/Ho_Chi_Minh")


# ── Each request type under each profile ───────────────────────────────────────────────────────
# Received Wednesday 11 March 2026, 10:00 in Hồ Chí Minh City (no holiday nearby).
# vn-pdpl-2026 (Decree 356 Art 5): the day of receipt is not counted (Civil Code Art 147).
#   acknowledge 2 working days: Thu 12, Fri 13 → late from Sat 14 00:00.
#   10 days → Sat 21 → rolls to Mon 23 (Civil Code Art 148(5)) → late from Tue 24 00:00.
#   15 days → Thu 26 → late from Fri 27 00:00.  20 days → Tue 31 → late from Wed 1 Apr 00:00.
VN_PDPL_EXPECTED = {
    "acknowledge": vn(2026, 3, 14),
    "access": vn(2026, 3, 24),
    "rectification": vn(2026, 3, 24),
    "portability": vn(2026, 3, 24),
    "erasure": vn(2026, 4, 1),
    "restriction": vn(2026, 3, 27),
    "objection": vn(2026, 3, 27),
    "withdraw_consent": vn(2026, 3, 27),
}


@pytest.mark.parametrize("request_type", REQUEST_TYPES)
def test_vn_pdpl_2026_due_times(request_type: str, vn_cal: WorkCalendar) -> None:
    rule = deadline("vn-pdpl-2026", request_type)
    assert rule is not None
    due = due_at(vn(2026, 3, 11, 10, 0), rule, vn_cal)
    assert due.at == VN_PDPL_EXPECTED[request_type]
    assert due.at is not None and due.at.tzinfo is HCM
    assert not due.without_undue_delay


# GDPR under a German shop calendar: received Wednesday 11 March 2026, 10:00 Berlin time.
# One month → Sat 11 April → rolls to Mon 13 April (1182/71 Art 3(4)) → late from Tue 14 April
# 00:00, which is CEST (+02:00) after the March clock change.
@pytest.mark.parametrize("request_type", REQUEST_TYPES)
def test_gdpr_due_times(request_type: str) -> None:
    cal = WorkCalendar.create("Europe/Berlin", holiday_country="DE")
    rule = deadline("gdpr", request_type)
    assert rule is not None
    due = due_at(de(2026, 3, 11, 10, 0), rule, cal)
    if request_type == "acknowledge":
        assert due.at is None
        assert due.without_undue_delay
    else:
        assert due.at == de(2026, 4, 14)
        assert due.at is not None and due.at.utcoffset() == dt.timedelta(hours=2)
        assert due.last_day == dt.date(2026, 4, 13)
        assert due.nominal_last_day == dt.date(2026, 4, 11)


# Decree 13 (historic): 72 hours of elapsed time, rectification "as soon as possible", and no
# acknowledgement rule at all. Received Wednesday 12 March 2025, 10:00.
@pytest.mark.parametrize("request_type", REQUEST_TYPES)
def test_vn_decree13_due_times(request_type: str, vn_cal: WorkCalendar) -> None:
    rule = deadline("vn-decree13", request_type)
    if request_type == "acknowledge":
        assert rule is None
        return
    assert rule is not None
    due = due_at(vn(2025, 3, 12, 10, 0), rule, vn_cal)
    if request_type == "rectification":
        assert (due.at, due.without_undue_delay) == (None, True)
    else:
        assert due.at == vn(2025, 3, 15, 10, 0)


def test_hours_are_elapsed_time_across_a_clock_change() -> None:
    cal = WorkCalendar.create("Europe/Berlin", holiday_country="DE")
    rule = deadline("vn-decree13", "erasure")
    assert rule is not None and rule.unit == "hours"
    # 72 real hours from Saturday noon CET include the lost hour of Sunday 29 March 2026.
    due = due_at(de(2026, 3, 28, 12, 0), rule, cal)
    assert due.at == de(2026, 3, 31, 13, 0)


def test_receipt_day_is_the_shops_local_date(vn_cal: WorkCalendar) -> None:
    rule = deadline("vn-pdpl-2026", "acknowledge")
    assert rule is not None
    # Thursday 18:00 UTC is already Friday 01:00 in Hồ Chí Minh City: Friday is the receipt day.
    due = due_at(dt.datetime(2026, 3, 12, 18, 0, tzinfo=dt.UTC), rule, vn_cal)
    assert due.at == vn(2026, 3, 18)
    assert due.received == vn(2026, 3, 13, 1, 0)


# ── Tết ────────────────────────────────────────────────────────────────────────────────────────
def test_the_holidays_package_knows_tet_2027() -> None:
    tet = holidays.country_holidays("VN", years=2027)
    assert "Lunar New Year" in tet.get(dt.date(2027, 2, 6), "")
    for day in range(4, 11):  # 29 Tết (Thu 4 Feb) through the fifth day (Wed 10 Feb)
        assert dt.date(2027, 2, day) in tet
    assert dt.date(2027, 2, 11) not in tet


def test_friday_evening_before_tet_counts_working_days_after_the_holidays(
    vn_cal: WorkCalendar,
) -> None:
    received = vn(2027, 2, 5, 19, 30)  # Friday, Lunar New Year's Eve, after hours
    ack = deadline("vn-pdpl-2026", "acknowledge")
    assert ack is not None
    due = due_at(received, ack, vn_cal)
    # Sat 6 – Wed 10 are the weekend and Tết; working day 1 is Thu 11, day 2 is Fri 12.
    assert due.last_day == dt.date(2027, 2, 12)
    assert due.at == vn(2027, 2, 13)
    # The hour does not matter: the day of receipt is never counted (Civil Code Art 147).
    assert due_at(vn(2027, 2, 5, 9, 0), ack, vn_cal).at == due.at
    # Calendar days run through Tết; a period ending on a day off rolls to the next working day.
    restriction = deadline("vn-pdpl-2026", "restriction")
    assert restriction is not None
    rolled = due_at(received, restriction, vn_cal)  # 15 days → Sat 20 Feb → Mon 22 Feb
    assert (rolled.nominal_last_day, rolled.last_day) == (
        dt.date(2027, 2, 20),
        dt.date(2027, 2, 22),
    )
    assert rolled.at == vn(2027, 2, 23)


def test_a_week_before_tet_is_unaffected(vn_cal: WorkCalendar) -> None:
    ack = deadline("vn-pdpl-2026", "acknowledge")
    assert ack is not None
    # Friday 29 January 2027 evening: Mon 1 and Tue 2 February are working days.
    assert due_at(vn(2027, 1, 29, 19, 30), ack, vn_cal).at == vn(2027, 2, 3)
    # Wednesday 3 February evening: Thu 4 is already 29 Tết, so days 1-2 are Thu 11, Fri 12.
    assert due_at(vn(2027, 2, 3, 19, 30), ack, vn_cal).at == vn(2027, 2, 13)


def test_a_shop_working_saturdays_counts_them() -> None:
    cal = WorkCalendar.create(
        "Asia/Ho_Chi_Minh",
        hours(["mon", "tue", "wed", "thu", "fri", "sat"], "08:00", "18:00", []),
    )
    ack = deadline("vn-pdpl-2026", "acknowledge")
    assert ack is not None
    # Friday 29 January 2027: Saturday 30 is day 1, Monday 1 February day 2.
    assert due_at(vn(2027, 1, 29, 19, 30), ack, cal).at == vn(2027, 2, 2)
    # Tết Saturday (6 Feb) is still a holiday for a shop closed on public holidays.
    assert due_at(vn(2027, 2, 5, 19, 30), ack, cal).at == vn(2027, 2, 13)


def test_a_shop_open_fewer_days_cannot_stretch_a_legal_period() -> None:
    cal = WorkCalendar.create("Asia/Ho_Chi_Minh", hours(["mon", "wed"], "08:00", "18:00", []))
    ack = deadline("vn-pdpl-2026", "acknowledge")
    assert ack is not None
    # Received Monday 9 March 2026: official working days Tue 10 and Wed 11 still count.
    assert due_at(vn(2026, 3, 9, 10, 0), ack, cal).at == vn(2026, 3, 12)


# ── Working hours (issue 7: "24 working hours") ────────────────────────────────────────────────
def test_working_hours_skip_lunch_break_and_weekend(vn_cal: WorkCalendar) -> None:
    # Default office hours 08-12, 13-17, Mon-Fri. Received Friday 13 March 2026, 11:00:
    # Fri 11-12 (1 h) + 13-17 (4 h), Mon 8 h, Tue 8 h = 21 h, Wed 08-11 (3 h) → Wed 11:00.
    due = due_at(vn(2026, 3, 13, 11, 0), shop_promise(24), vn_cal)
    assert due.at == vn(2026, 3, 18, 11, 0)


def test_working_hours_start_at_the_next_opening(vn_cal: WorkCalendar) -> None:
    promise = shop_promise(2)
    # During lunch: counting starts at 13:00.
    assert due_at(vn(2026, 3, 13, 12, 15), promise, vn_cal).at == vn(2026, 3, 13, 15, 0)
    # On Saturday: counting starts Monday 08:00.
    assert due_at(vn(2026, 3, 14, 9, 0), promise, vn_cal).at == vn(2026, 3, 16, 10, 0)
    # Exactly filling the morning ends at the start of the break, not after it.
    assert due_at(vn(2026, 3, 16, 10, 0), promise, vn_cal).at == vn(2026, 3, 16, 12, 0)


def test_working_hours_follow_the_shops_hours_and_holidays() -> None:
    cal = WorkCalendar.create(
        "Asia/Ho_Chi_Minh",
        hours(["mon", "tue", "wed", "thu", "fri", "sat"], "08:30", "20:00", [("12:00", "13:30")]),
    )
    # Saturday 14 March 2026, 11:00: 11-12 (1 h) then 13:30-16:30 (3 h).
    assert due_at(vn(2026, 3, 14, 11, 0), shop_promise(4), cal).at == vn(2026, 3, 14, 16, 30)
    # Friday 5 February 2027 (Tết eve) 19:30: closed through Wed 10; Thu 11 from 08:30.
    assert due_at(vn(2027, 2, 5, 19, 30), shop_promise(2), cal).at == vn(2027, 2, 11, 10, 30)


def test_a_shop_open_on_holidays_counts_them_when_it_says_so() -> None:
    always = hours(
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "07:00",
        "20:00",
        [],
        closed_on_public_holidays=False,
    )
    cal = WorkCalendar.create("Asia/Ho_Chi_Minh", always)
    assert due_at(vn(2027, 2, 6, 19, 0), shop_promise(2), cal).at == vn(2027, 2, 7, 8, 0)
    ack = deadline("vn-pdpl-2026", "acknowledge")
    assert ack is not None
    assert due_at(vn(2027, 2, 5, 19, 30), ack, cal).at == vn(2027, 2, 8)


# ── Months ─────────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (dt.date(2026, 1, 31), 1, dt.date(2026, 2, 28)),
        (dt.date(2028, 1, 31), 1, dt.date(2028, 2, 29)),
        (dt.date(2026, 3, 31), 1, dt.date(2026, 4, 30)),
        (dt.date(2026, 12, 15), 1, dt.date(2027, 1, 15)),
        (dt.date(2026, 11, 30), 3, dt.date(2027, 2, 28)),
    ],
)
def test_add_months_clamps_to_the_month_end(start: dt.date, months: int, end: dt.date) -> None:
    assert add_months(start, months) == end


def test_month_deadline_from_31_january(vn_cal: WorkCalendar) -> None:
    rule = deadline("gdpr", "access")
    assert rule is not None
    # 2027: 28 February is a Sunday → Monday 1 March; 2028 is a leap year: Tuesday 29 February.
    due = due_at(vn(2027, 1, 31, 10, 0), rule, vn_cal)
    assert (due.nominal_last_day, due.at) == (dt.date(2027, 2, 28), vn(2027, 3, 2))
    assert due_at(vn(2028, 1, 31, 10, 0), rule, vn_cal).at == vn(2028, 3, 1)


# ── Processor and extension ────────────────────────────────────────────────────────────────────
def test_with_processor_uses_the_longer_period(vn_cal: WorkCalendar) -> None:
    received = vn(2026, 3, 11, 10, 0)
    access = deadline("vn-pdpl-2026", "access")
    erasure = deadline("vn-pdpl-2026", "erasure")
    assert access is not None and erasure is not None
    assert due_at(received, access, vn_cal, with_processor=True).at == vn(2026, 3, 27)  # 15 d
    assert due_at(received, erasure, vn_cal, with_processor=True).at == vn(2026, 4, 11)  # 30 d
    # GDPR has no processor period: the same month.
    gdpr = deadline("gdpr", "access")
    assert gdpr is not None
    assert (
        due_at(received, gdpr, vn_cal, with_processor=True).at == due_at(received, gdpr, vn_cal).at
    )


def test_one_extension_counts_on_from_the_original_period(vn_cal: WorkCalendar) -> None:
    access = deadline("vn-pdpl-2026", "access")
    assert access is not None
    due = due_at(vn(2026, 3, 11, 10, 0), access, vn_cal)
    assert due.at == vn(2026, 3, 24)  # Sat 21 rolled to Mon 23
    longer = extend(due, access)
    # +10 days from Saturday 21 (not from the rolled Monday): Tuesday 31 March.
    assert longer.at == vn(2026, 4, 1)
    assert longer.extended
    with pytest.raises(ClockError, match="one extension"):
        extend(longer, access)


def test_gdpr_extension_of_two_further_months(vn_cal: WorkCalendar) -> None:
    access = deadline("gdpr", "access")
    assert access is not None
    due = due_at(vn(2027, 1, 31, 10, 0), access, vn_cal)
    # Period ends 28 Feb; two further months: 28 April (Wednesday).
    assert extend(due, access).at == vn(2027, 4, 29)


def test_extension_refused_where_the_law_gives_none(vn_cal: WorkCalendar) -> None:
    received = vn(2026, 3, 11, 10, 0)
    for profile, request in (
        ("gdpr", "withdraw_consent"),
        ("gdpr", "acknowledge"),
        ("vn-decree13", "access"),
    ):
        rule = deadline(profile, request)
        assert rule is not None
        with pytest.raises(ClockError, match="allows no extension"):
            extend(due_at(received, rule, vn_cal), rule)
    access, erasure = deadline("vn-pdpl-2026", "access"), deadline("vn-pdpl-2026", "erasure")
    assert access is not None and erasure is not None
    with pytest.raises(ClockError, match="deadline it was computed from"):
        extend(due_at(received, access, vn_cal), erasure)


# ── Strictest of several profiles ──────────────────────────────────────────────────────────────
def test_strictest_picks_the_earliest(vn_cal: WorkCalendar) -> None:
    vn_access, gdpr_access = deadline("vn-pdpl-2026", "access"), deadline("gdpr", "access")
    due = strictest(vn(2026, 3, 11, 10, 0), [gdpr_access, vn_access], vn_cal)
    assert due.at == vn(2026, 3, 24)
    assert due.deadline == vn_access
    # With a processor, Vietnam's 30-day erasure is later than GDPR's month from 2 February.
    vn_erase, gdpr_erase = deadline("vn-pdpl-2026", "erasure"), deadline("gdpr", "erasure")
    due = strictest(vn(2026, 2, 2, 10, 0), [vn_erase, gdpr_erase], vn_cal, with_processor=True)
    assert due.at == vn(2026, 3, 3)  # GDPR: Monday 2 March; Vietnam: Wednesday 4 March
    assert due.deadline == gdpr_erase


def test_strictest_keeps_without_undue_delay_and_skips_missing_rules(
    vn_cal: WorkCalendar,
) -> None:
    acks = [deadline(p, "acknowledge") for p in ("vn-decree13", "gdpr", "vn-pdpl-2026")]
    due = strictest(vn(2026, 3, 11, 10, 0), acks, vn_cal)
    assert due.at == vn(2026, 3, 14)
    assert due.without_undue_delay
    only_undue = strictest(vn(2026, 3, 11, 10, 0), acks[:2], vn_cal)
    assert (only_undue.at, only_undue.without_undue_delay) == (None, True)
    with pytest.raises(ClockError, match="at least one deadline"):
        strictest(vn(2026, 3, 11, 10, 0), [None], vn_cal)


def test_is_late_at_the_due_instant(vn_cal: WorkCalendar) -> None:
    ack = deadline("vn-pdpl-2026", "acknowledge")
    assert ack is not None
    due = due_at(vn(2026, 3, 11, 10, 0), ack, vn_cal)
    assert not due.is_late(vn(2026, 3, 13, 23, 59, 59))
    assert due.is_late(vn(2026, 3, 14))
    assert due.is_late(dt.datetime(2026, 3, 13, 17, 0, tzinfo=dt.UTC))  # = 14 March 00:00 +07


# ── Bad input ──────────────────────────────────────────────────────────────────────────────────
def test_naive_datetimes_are_refused(vn_cal: WorkCalendar) -> None:
    ack = deadline("vn-pdpl-2026", "acknowledge")
    assert ack is not None
    with pytest.raises(ClockError, match="received must be timezone-aware"):
        due_at(dt.datetime(2026, 3, 11, 10, 0), ack, vn_cal)
    due = due_at(vn(2026, 3, 11, 10, 0), ack, vn_cal)
    with pytest.raises(ClockError, match="now must be timezone-aware"):
        due.is_late(dt.datetime(2026, 3, 20, 10, 0))
    with pytest.raises(ClockError, match="timezone-aware"):
        strictest(dt.datetime(2026, 3, 11, 10, 0), [ack], vn_cal)


@pytest.mark.parametrize("received", ["2026-03-11T10:00+07:00", dt.date(2026, 3, 11), 1773198000])
def test_non_datetimes_are_refused(received: object, vn_cal: WorkCalendar) -> None:
    ack = deadline("vn-pdpl-2026", "acknowledge")
    assert ack is not None
    with pytest.raises(ClockError, match="received must be a datetime"):
        due_at(received, ack, vn_cal)  # type: ignore[arg-type]


def test_bad_calendars_are_refused() -> None:
    with pytest.raises(ClockError, match="unknown time zone 'Asia/Saigon_'"):
        WorkCalendar.create("Asia/Saigon_")
    with pytest.raises(ClockError, match="unknown time zone"):
        WorkCalendar.create("../../etc/passwd")
    with pytest.raises(ClockError, match="time zone must be a name"):
        WorkCalendar.create("")
    with pytest.raises(ClockError, match="no public-holiday calendar for country 'XX'"):
        WorkCalendar.create("Asia/Ho_Chi_Minh", holiday_country="XX")
    # Breaks covering the whole day leave no working time: refused, not an endless loop.
    never = WorkCalendar.create(
        "Asia/Ho_Chi_Minh", hours(["mon"], "08:00", "17:00", [("08:00", "17:00")])
    )
    with pytest.raises(ClockError, match="no working time"):
        due_at(vn(2026, 3, 11, 10, 0), shop_promise(1), never)


def test_calendar_from_a_policy() -> None:
    policy = load_policy("leman-jewelry").policy
    cal = WorkCalendar.for_policy(policy)
    assert cal.timezone == ZoneInfo(policy.timezone)
    assert cal.hours == policy.business_hours
