"""SLA clocks with a frozen clock (issue 7 acceptance; P21): a complaint filed Saturday 16:55, on
the eve of Tết (Friday 5 February 2027, 19:30) and during lunch (Wednesday 12:30), under preset B's
"24 working hours" and under "24 hours" of calendar time, in Hồ Chí Minh City.

Preset B declares no opening hours, so working time is office hours 08:00-12:00 and 13:00-17:00,
Monday to Friday, without Vietnamese public holidays (Tết: Saturday 6 to Wednesday 10 February
2027). 24 working hours are three such days; 50 % is 12 and 80 % is 19 h 12 min of working time.

The clock is frozen with time-machine, so `file_complaint` takes its receipt time from the real
`timezone.now()`, as in production.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
import time_machine

from pledge.complaints import services
from pledge.complaints.models import Complaint, ComplaintStatus
from tests.complaints.conftest import TEXT, me, publish_response

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
SATURDAY = dt.datetime(2027, 3, 13, 16, 55, tzinfo=HCM)
TET_EVE = dt.datetime(2027, 2, 5, 19, 30, tzinfo=HCM)
LUNCH = dt.datetime(2027, 3, 17, 12, 30, tzinfo=HCM)  # a Wednesday


def at(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2027, month, day, hour, minute, tzinfo=HCM)


# received -> (due, 50 %, 80 %, acknowledgement due)
WORKING_HOURS = {
    # Counting starts Monday 08:00: Mon 8 h, Tue 8 h, Wed 8 h.
    "saturday": (SATURDAY, at(3, 17, 17), at(3, 16, 12), at(3, 17, 11, 12)),
    # Tết holidays and the weekend: counting starts Thursday 11 February 08:00.
    "tet_eve": (TET_EVE, at(2, 15, 17), at(2, 12, 12), at(2, 15, 11, 12)),
    # The lunch hour does not count: Wed 13:00-17:00, Thu 8 h, Fri 8 h, Mon 08:00-12:00.
    "lunch": (LUNCH, at(3, 22, 12), at(3, 18, 17), at(3, 19, 16, 12)),
}
CALENDAR = {
    # Calendar hours: nights, weekends and Tết count; 50 % is 12 h, 80 % is 19 h 12 min.
    name: (
        received,
        received + dt.timedelta(hours=24),
        received + dt.timedelta(hours=12),
        received + dt.timedelta(hours=19, minutes=12),
    )
    for name, (received, *_rest) in WORKING_HOURS.items()
}


def file_now(customer: uuid.UUID, instant: dt.datetime) -> Complaint:
    with time_machine.travel(instant, tick=False):
        complaint = services.file_complaint(
            actor=me(customer), customer_id=customer, channel="privacy_center", text=TEXT
        )
    complaint.refresh_from_db()
    return complaint


@pytest.mark.parametrize("case", sorted(WORKING_HOURS))
def test_p21_working_hours_sla_of_preset_b(customer: uuid.UUID, case: str) -> None:
    received, due, fifty, eighty = WORKING_HOURS[case]
    complaint = file_now(customer, received)
    assert complaint.received_at == received
    assert complaint.due_at == due
    assert complaint.escalate_50_at == fifty
    assert complaint.escalate_80_at == eighty
    assert (complaint.sla_hours, complaint.sla_clock) == (24, "working_hours")
    # The law's 3 working days (Consumer Protection Law Art 31, 57) end later than the promised
    # answer: the acknowledgement is due with the answer at the latest, and is sent at once.
    assert complaint.acknowledge_due_at == due
    assert complaint.status == ComplaintStatus.ACKNOWLEDGED
    assert complaint.acknowledged_at == received


@pytest.mark.parametrize("case", sorted(CALENDAR))
def test_p21_calendar_hours_sla(customer: uuid.UUID, case: str) -> None:
    publish_response(24, "calendar")
    received, due, fifty, eighty = CALENDAR[case]
    complaint = file_now(customer, received)
    assert complaint.due_at == due
    assert complaint.escalate_50_at == fifty
    assert complaint.escalate_80_at == eighty
    assert (complaint.sla_hours, complaint.sla_clock) == (24, "calendar")


def test_the_law_wins_when_the_promise_is_longer(customer: uuid.UUID) -> None:
    """A promise of 100 working hours is longer than the law: acknowledge within 3 working days,
    settle within 7 (Consumer Protection Law 19/2023/QH15 Art 31, 57). Filed on Tết eve, the
    working days are Thu 11, Fri 12, Mon 15 ... Fri 19 February 2027; each period ends at 24:00."""
    publish_response(100, "working_hours")
    complaint = file_now(customer, TET_EVE)
    assert complaint.acknowledge_due_at == at(2, 16, 0)  # 24:00 of Monday 15 February
    assert complaint.due_at == at(2, 20, 0)  # 24:00 of Friday 19 February
    assert (complaint.sla_hours, complaint.sla_clock) == (None, "working_days")
    # The law's period escalates on its elapsed time.
    span = complaint.due_at - TET_EVE
    assert complaint.escalate_50_at == TET_EVE + span / 2
    assert complaint.escalate_80_at == TET_EVE + span * 4 / 5
