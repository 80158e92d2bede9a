"""Due times with a frozen clock (issue 6 acceptance): every request kind under each jurisdiction
profile, filed "now" on Friday 5 February 2027 at 19:30 in Hồ Chí Minh City, Lunar New Year's
Eve, after office hours. Saturday 6 to Wednesday 10 February are the weekend and Tết.

The clock is frozen with time-machine, so `file_request` takes its receipt time from the real
`timezone.now()` as it does in production, not from a parameter.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import LoadedPolicy, load_policy
from pledge.policy.schema import Policy
from pledge.policy.services import publish_policy
from pledge.rights import services
from pledge.rights.models import RequestKind
from pledge.vault import services as vault
from pledge.vault.access import Actor

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
TET_EVE = dt.datetime(2027, 2, 5, 19, 30, tzinfo=HCM)


def end_of(month: int, day: int) -> dt.datetime:
    """24:00 of that day in 2027, shop time: the first late instant."""
    return dt.datetime(2027, month, day, tzinfo=HCM) + dt.timedelta(days=1)


# Decree 356/2025 Art 5: the receipt day is not counted; calendar days run through Tết and a last
# day off rolls to the next working day; the acknowledgement counts working days.
VN_PDPL = {
    "access": end_of(2, 15),  # 10 days → Mon 15 Feb
    "portability": end_of(2, 15),
    "rectification": end_of(2, 15),
    "erasure": end_of(2, 25),  # 20 days → Thu 25 Feb
    "restriction": end_of(2, 22),  # 15 days → Sat 20 Feb → Mon 22 Feb
    "objection": end_of(2, 22),
    "withdraw_consent": end_of(2, 22),
}
# GDPR Art 12(3): one month (Reg 1182/71 Art 3) → Friday 5 March, a working day.
GDPR = dict.fromkeys(RequestKind.values, end_of(3, 5))
# Decree 13/2023 (historic): 72 hours of elapsed time; rectification "as soon as possible".
DECREE13 = {
    kind: (None if kind == "rectification" else TET_EVE + dt.timedelta(hours=72))
    for kind in RequestKind.values
}
EXPECTED = {
    "vn-pdpl-2026": (VN_PDPL, end_of(2, 12)),  # acknowledge: 2 working days → Thu 11, Fri 12
    "gdpr": (GDPR, None),  # acknowledge "without undue delay": no fixed time
    "vn-decree13": (DECREE13, None),  # no acknowledgement rule
}


def publish_with(profile: str) -> None:
    loaded = load_policy("leman-jewelry")
    data = loaded.policy.model_dump(mode="python", exclude_none=True)
    data.update(version=f"test-{profile}", jurisdictions=[profile])
    clear_policy_cache()
    publish_policy(
        LoadedPolicy(
            policy=Policy.model_validate(data),
            source="test",
            text=loaded.text,
            document=loaded.document,
        ),
        actor="test",
        effective_date=loaded.policy.effective_date,
    )
    clear_policy_cache()


@pytest.fixture
def customer(leman: Any, shop_api: Actor) -> uuid.UUID:
    return vault.collect_customer(
        actor=shop_api, purpose="order_fulfilment", fields={"full_name": "Lê Thị Tết"}
    )


@pytest.mark.parametrize("profile", sorted(EXPECTED))
@pytest.mark.parametrize("kind", RequestKind.values)
def test_due_times_with_a_frozen_clock_on_tet_eve(
    customer: uuid.UUID, profile: str, kind: str
) -> None:
    publish_with(profile)
    due, acknowledge = EXPECTED[profile]
    with time_machine.travel(TET_EVE, tick=False):
        request = services.file_request(
            actor=Actor(kind="customer", id=str(customer)),
            customer_id=customer,
            kind=kind,
            channel="privacy_center",
        )
    request.refresh_from_db()
    assert request.received_at == TET_EVE
    assert request.due_at == due[kind]
    assert request.acknowledge_due_at == acknowledge
    assert request.profile == profile


def test_the_frozen_clock_moves_the_due_time(customer: uuid.UUID) -> None:
    """The same request a week earlier (Friday 29 January) is due earlier: the due time really
    comes from the clock, not from a constant."""
    with time_machine.travel(TET_EVE - dt.timedelta(days=7), tick=False):
        request = services.file_request(
            actor=Actor(kind="customer", id=str(customer)),
            customer_id=customer,
            kind="access",
            channel="privacy_center",
        )
    request.refresh_from_db()
    # 10 days from Fri 29 Jan → Mon 8 Feb, inside the Tết holidays (4–10 Feb) → Thu 11 Feb.
    assert request.due_at == end_of(2, 11)
    # 2 working days: Mon 1, Tue 2 February.
    assert request.acknowledge_due_at == end_of(2, 2)
