"""The staff queue of open requests (issue 6 item 2): due order, at-risk and overdue marks, the
acknowledgement mark, filters, the dashboard counts and a request's timeline.

Every time is fixed and passed in (`now=`): under preset B (vn-pdpl-2026) a request received on
Lunar New Year's Eve, Friday 5 February 2027 at 19:30, is acknowledged by the end of Friday 12 and
answered (access) by the end of Monday 15; Saturday 6 to Wednesday 10 are the weekend and Tết.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pledge.audit.events import EventType
from pledge.rights import selectors, services
from pledge.rights.models import DataSubjectRequest, RequestStatus
from pledge.rights.selectors import QueueFilterInvalid, queue_counts, request_queue
from pledge.vault import services as vault
from pledge.vault.access import Actor

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
TET_EVE = dt.datetime(2027, 2, 5, 19, 30, tzinfo=HCM)
OWNER = Actor(kind="staff", id="7", role="owner")


def at(day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(2027, 2, day, hour, minute, tzinfo=HCM)


def end_of(day: int) -> dt.datetime:
    return dt.datetime(2027, 2, day, tzinfo=HCM) + dt.timedelta(days=1)


@pytest.fixture
def customers(leman: Any, shop_api: Actor) -> list[uuid.UUID]:
    return [
        vault.collect_customer(
            actor=shop_api,
            purpose="order_fulfilment",
            fields={"full_name": f"Khách {i}", "email": f"khach{i}@example.vn"},
        )
        for i in range(3)
    ]


def staff_request(
    customer_id: uuid.UUID | None, kind: str, received: dt.datetime = TET_EVE
) -> DataSubjectRequest:
    return services.file_request(
        actor=OWNER, customer_id=customer_id, kind=kind, channel="staff", received_at=received
    )


def center_request(
    customer_id: uuid.UUID, kind: str, received: dt.datetime = TET_EVE
) -> DataSubjectRequest:
    return services.file_request(
        actor=Actor(kind="customer", id=str(customer_id)),
        customer_id=customer_id,
        kind=kind,
        channel="privacy_center",
        received_at=received,
    )


def test_the_queue_is_sorted_by_the_binding_due_time(customers: list[uuid.UUID]) -> None:
    a, b, c = customers
    erasure = staff_request(a, "erasure", received=at(6, 9))  # due end of 26 February
    access = staff_request(b, "access")  # due end of 15 February
    restriction = staff_request(c, "restriction")  # due end of 22 February
    # Received earlier, same due time as `access`: the older one first.
    earlier = staff_request(c, "access", received=at(5, 9))
    rows = request_queue(now=at(8))
    assert [r.request.id for r in rows] == [earlier.id, access.id, restriction.id, erasure.id]
    assert [r.due_at for r in rows] == [end_of(15), end_of(15), end_of(22), end_of(26)]

    # The extension binds from then on: access (15 + 10 days: 25 February) moves behind
    # restriction.
    services.extend_request(actor=OWNER, request_id=access.id, reason="A large order history")
    rows = request_queue(now=at(8))
    assert [r.request.id for r in rows] == [earlier.id, restriction.id, access.id, erasure.id]
    assert [r.due_at for r in rows] == [end_of(15), end_of(22), end_of(25), end_of(26)]


def test_requests_without_a_fixed_due_time_come_last(customers: list[uuid.UUID]) -> None:
    a, b, _ = customers
    undue = staff_request(a, "access")
    # A due time the law does not fix ("without undue delay", GDPR Art 12(3)) is stored as null.
    DataSubjectRequest.objects.filter(pk=undue.pk).update(due_at=None)
    dated = staff_request(b, "erasure")
    rows = request_queue(now=at(8))
    assert [r.request.id for r in rows] == [dated.id, undue.id]
    assert rows[1].due_at is None
    assert not rows[1].at_risk and not rows[1].overdue


def test_closed_requests_leave_the_queue(customers: list[uuid.UUID]) -> None:
    a, b, c = customers
    kept = staff_request(a, "access")
    canceled = staff_request(b, "access")
    services.cancel_request(actor=OWNER, request_id=canceled.id)
    denied = staff_request(c, "erasure")
    services.deny_request(
        actor=OWNER, request_id=denied.id, ground="identity_not_verified", explanation="No answer"
    )
    assert [r.request.id for r in request_queue(now=at(8))] == [kept.id]
    assert queue_counts(now=at(8)).open == 1


def test_filters_by_status_and_kind(customers: list[uuid.UUID]) -> None:
    a, b, c = customers
    unverified = staff_request(a, "access")
    pending = center_request(b, "erasure")
    restriction = center_request(c, "restriction")
    assert [r.request.id for r in request_queue(now=at(8), status="pending")] == [
        restriction.id,
        pending.id,
    ]
    assert [r.request.id for r in request_queue(now=at(8), status="identity_unverified")] == [
        unverified.id
    ]
    assert [r.request.id for r in request_queue(now=at(8), kind="erasure")] == [pending.id]
    assert request_queue(now=at(8), status="pending", kind="access") == []
    # Empty filters mean "every": what an empty form field sends.
    assert len(request_queue(now=at(8), status="", kind="")) == 3


@pytest.mark.parametrize(
    ("status", "kind", "named"),
    [
        ("complete", None, "status"),  # closed: never in the queue
        ("pending'; DROP TABLE", None, "status"),
        (None, "everything", "kind"),
        (None, "x" * 10_000, "kind"),
    ],
)
def test_an_unknown_filter_is_refused_by_name(
    customers: list[uuid.UUID], status: str | None, kind: str | None, named: str
) -> None:
    with pytest.raises(QueueFilterInvalid, match=f"unknown {named}"):
        request_queue(now=at(8), status=status, kind=kind)


def test_at_risk_means_due_within_two_working_days_counting_tet(
    customers: list[uuid.UUID],
) -> None:
    access = staff_request(customers[0], "access")  # due end of Monday 15 February
    erasure = staff_request(customers[1], "erasure")  # due end of Thursday 25 February

    def marks(now: dt.datetime) -> dict[str, tuple[bool, bool]]:
        rows = request_queue(now=now)
        return {r.request.kind: (r.at_risk, r.overdue) for r in rows}

    # Wednesday 10 (Tết): the next two working days are Thursday 11 and Friday 12.
    assert selectors.at_risk_before(at(10)) == end_of(12)
    assert marks(at(10)) == {"access": (False, False), "erasure": (False, False)}
    # Thursday 11: Friday 12 and Monday 15 (the weekend does not count): access is at risk.
    assert selectors.at_risk_before(at(11)) == end_of(15)
    assert marks(at(11)) == {"access": (True, False), "erasure": (False, False)}
    # The last instant before the deadline is still at risk; the deadline itself is late.
    assert marks(end_of(15) - dt.timedelta(microseconds=1))["access"] == (True, False)
    assert marks(end_of(15))["access"] == (False, True)
    assert marks(at(23))["erasure"] == (True, False)
    assert marks(end_of(25)) == {"access": (False, True), "erasure": (False, True)}
    assert queue_counts(now=at(11)) == selectors.QueueCounts(open=2, at_risk=1, overdue=0)
    assert queue_counts(now=at(24)) == selectors.QueueCounts(open=2, at_risk=1, overdue=1)
    assert access.due_at == end_of(15) and erasure.due_at == end_of(25)


def test_the_acknowledgement_is_overdue_only_while_the_request_waits_for_verification(
    customers: list[uuid.UUID],
) -> None:
    a, b, c = customers
    waiting = staff_request(a, "access")
    verified = staff_request(b, "access")
    services.verify_identity(actor=OWNER, request_id=verified.id, customer_id=b, method="in_person")
    center = center_request(c, "erasure")  # acknowledged when filed
    assert waiting.acknowledge_due_at == end_of(12)

    def acknowledge_marks(now: dt.datetime) -> dict[uuid.UUID, bool]:
        return {r.request.id: r.acknowledge_overdue for r in request_queue(now=now)}

    assert acknowledge_marks(at(12, 23, 59)) == {
        waiting.id: False,
        verified.id: False,
        center.id: False,
    }
    assert acknowledge_marks(end_of(12)) == {
        waiting.id: True,
        verified.id: False,
        center.id: False,
    }


def test_the_queue_reads_its_rows_and_their_customers_in_one_query(
    customers: list[uuid.UUID],
) -> None:
    def queries_for_queue() -> int:
        request_queue(now=at(8))  # warm the policy cache and the holiday calendar
        with CaptureQueriesContext(connection) as captured:
            rows = request_queue(now=at(8))
            for row in rows:
                assert row.request.customer is not None
                assert row.customer_ref == row.request.customer.id.hex[:8]
        return len(captured.captured_queries)

    staff_request(customers[0], "access")
    one = queries_for_queue()
    for customer_id in customers:
        for kind in ("erasure", "restriction", "objection"):
            staff_request(customer_id, kind)
    assert queries_for_queue() == one == 1


def test_the_queue_shows_a_short_reference_never_a_name(customers: list[uuid.UUID]) -> None:
    staff_request(customers[0], "access")
    staff_request(None, "erasure")  # not matched to a customer yet
    refs = [r.customer_ref for r in request_queue(now=at(8))]
    assert refs == [customers[0].hex[:8], ""]


def test_the_timeline_holds_the_events_of_this_request_only(
    customers: list[uuid.UUID],
) -> None:
    a, b, _ = customers
    # Entered by staff before the customer was known: the filing event has no customer id.
    request = staff_request(None, "access")
    other = staff_request(a, "access")
    services.verify_identity(actor=OWNER, request_id=request.id, customer_id=b, method="in_person")
    services.extend_request(actor=OWNER, request_id=request.id, reason="Paper archive to search")
    services.cancel_request(actor=OWNER, request_id=other.id)
    request.refresh_from_db()
    timeline = selectors.request_timeline(request)
    assert [e.type for e in timeline] == [
        EventType.RIGHTS_REQUEST_FILED,
        EventType.RIGHTS_IDENTITY_VERIFIED,
        EventType.RIGHTS_REQUEST_EXTENDED,
    ]
    assert {e.record for e in timeline} == {f"request:{request.id}"}
    assert [e.customer_id for e in timeline] == [None, b, b]
    other.refresh_from_db()
    assert [e.type for e in selectors.request_timeline(other)] == [
        EventType.RIGHTS_REQUEST_FILED,
        EventType.RIGHTS_REQUEST_CANCELED,
    ]


def test_a_verified_request_is_pending_in_the_queue(customers: list[uuid.UUID]) -> None:
    request = staff_request(customers[0], "rectification")
    services.verify_identity(
        actor=OWNER, request_id=request.id, customer_id=customers[0], method="in_person"
    )
    (row,) = request_queue(now=at(8))
    assert row.request.status == RequestStatus.PENDING
