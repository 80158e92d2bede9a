"""The SLA clocks of a complaint (issue 7; P21): when it is acknowledged, answered, escalated.

Counted by `pledge.policy.clock` in the shop's calendar (time zone, opening hours, Vietnamese
public holidays with the lunar Tết days):

- answer (`due`): the shop's promise, `complaints.response` — hours of calendar time, or working
  hours (only the shop's open time counts, lunch breaks excluded; a complaint received when the
  shop is closed starts counting at the next opening). The law's time to settle a complaint
  (Consumer Protection Law 19/2023/QH15 Art 57: negotiate within 7 working days) also binds; the
  strictest wins (LAW.md), which is the shop's promise whenever it makes one.
- acknowledgement: the stricter of the policy's `complaints.acknowledgement` and the
  jurisdictions' `complaints.acknowledge` (Art 31, 57: 3 working days).
- escalation at 50 % and 80 % of the SLA, measured in the SLA's own clock: for working hours,
  50 % of 24 working hours is 12 *working* hours after receipt, not 12 hours of wall time. The
  instants are computed once, at filing, and stored, so the worker only compares times.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pledge.policy.clock import ClockError, WorkCalendar, strictest, working_time_after
from pledge.policy.jurisdictions import Deadline, load_profile
from pledge.policy.schema import ComplaintSla, Policy, Text

ESCALATION_LEVELS = (50, 80)
# Where the shop's own promise comes from, for the Deadline the clock counts.
_PROMISE = Text(vi="Chính sách bảo mật của cửa hàng (P21)", en="The shop's privacy policy (P21)")


@dataclass(frozen=True)
class Clocks:
    due_at: dt.datetime
    acknowledge_due_at: dt.datetime
    escalate_at: dict[int, dt.datetime]  # level (percent) -> instant
    sla_hours: int | None  # None: the law's deadline applies (the policy promises no time)
    sla_clock: str  # "calendar", "working_hours", or the law's unit


def sla_deadline(sla: ComplaintSla) -> Deadline:
    if sla.clock == "working_hours":
        return Deadline(amount=sla.hours, unit="working_hours", article=_PROMISE, summary=_PROMISE)
    return Deadline(amount=sla.hours, unit="hours", article=_PROMISE, summary=_PROMISE)


def _fraction_at(
    cal: WorkCalendar, received: dt.datetime, due: dt.datetime, sla: ComplaintSla | None, pct: int
) -> dt.datetime:
    if sla is not None and sla.clock == "working_hours":
        return working_time_after(cal, received, dt.timedelta(hours=sla.hours) * pct / 100)
    # Calendar hours, or the law's period: a straight share of the elapsed time.
    return (received + (due - received) * pct / 100).astimezone(cal.timezone)


def clocks_for(policy: Policy, received: dt.datetime) -> Clocks:
    """Every time of a complaint received at `received`. Raises ClockError on a broken calendar."""
    cal = WorkCalendar.for_policy(policy)
    profiles = [load_profile(key) for key in policy.jurisdictions]
    laws = [p.complaints for p in profiles if p.complaints is not None]
    response = policy.complaints.response if policy.complaints else None
    acknowledgement = policy.complaints.acknowledgement if policy.complaints else None
    answer = [sla_deadline(response)] if response else []
    answer += [law.negotiate for law in laws if law.negotiate is not None]
    if not answer:
        raise ClockError("neither the policy nor the law in force gives a complaint answer time")
    due = strictest(received, answer, cal)
    ack = [sla_deadline(acknowledgement)] if acknowledgement else []
    ack += [law.acknowledge for law in laws]
    # No acknowledgement rule anywhere: acknowledging is due with the answer at the latest.
    ack_due = strictest(received, ack, cal) if ack else due
    if due.at is None or ack_due.at is None:  # pragma: no cover - complaint deadlines are fixed
        raise ClockError("a complaint needs a fixed answer time")
    ack_at = min(ack_due.at, due.at)
    # The promise binds only when it won (it is the strictest whenever it exists in practice).
    promised = response if response is not None and due.deadline == answer[0] else None
    return Clocks(
        due_at=due.at,
        acknowledge_due_at=ack_at,
        escalate_at={
            pct: _fraction_at(cal, due.received, due.at, promised, pct) for pct in ESCALATION_LEVELS
        },
        sla_hours=promised.hours if promised else None,
        sla_clock=promised.clock if promised else due.deadline.unit,
    )
