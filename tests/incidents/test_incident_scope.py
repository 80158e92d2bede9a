"""Issue 8 acceptance, "an incident test" (P23): a simulated leak of one role's session for a
time window scopes exactly the customers that role read in that window (checked against the
audit log with a query written here), the 24 h and 72 h warnings fire at the right times with a
frozen clock, once each, and customer notices reach the SMTP server in each customer's language,
once each; a drill sends nothing."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from pledge.audit.models import AuditEvent
from pledge.incidents import services
from pledge.incidents.models import IncidentAffected, IncidentStep
from pledge.jobs import JOBS
from pledge.notify.delivery import deliver_due
from pledge.notify.models import OutboxMessage
from tests.console.staffing import make_staff
from tests.incidents.conftest import (
    DETECTED,
    LEAK_FROM,
    LEAK_TO,
    at,
    customer_service,
    owner_actor,
    read,
    record,
    sales,
)
from tests.smtp import Mailbox, body_of

HOUR = dt.timedelta(hours=1)
SECOND = dt.timedelta(seconds=1)


def reads_of_role_in_window(role: str) -> dict[uuid.UUID, set[str]]:
    """Independently of scope.py: the read events of `role` in the window, straight from the
    log, by their type names."""
    found: dict[uuid.UUID, set[str]] = {}
    for event in AuditEvent.objects.filter(actor_role=role, outcome="ok"):
        if not (LEAK_FROM <= event.at <= LEAK_TO) or not event.type.endswith("read"):
            continue
        assert event.customer_id is not None
        found.setdefault(event.customer_id, set()).update(f for f in event.fields.split(",") if f)
    return found


def seed_reads(customers: list[uuid.UUID]) -> None:
    a, b, c, d, e, _f = customers
    read(sales(), a, LEAK_FROM + HOUR, ["full_name", "email"])
    read(sales(), b, LEAK_TO, ["full_name"])  # the window's last instant counts
    read(sales(), a, LEAK_FROM + 2 * HOUR - SECOND, ["address"])  # none on file: no field
    read(sales(), d, LEAK_FROM - SECOND, ["full_name"])  # before the window
    read(sales(), e, LEAK_TO + SECOND, ["full_name"])  # after it
    read(customer_service(), c, LEAK_FROM + HOUR, ["full_name", "email"])  # another role


def test_a_leaked_role_session_scopes_exactly_what_that_role_read(
    customers: list[uuid.UUID], owner: Any
) -> None:
    seed_reads(customers)
    incident = record(owner)
    with at(DETECTED + HOUR):
        scoped = services.scope_incident(
            actor=owner_actor(owner), incident_id=incident.id, roles=["sales"], systems=[]
        )
    expected = reads_of_role_in_window("sales")
    assert set(expected) == {customers[0], customers[1]}
    affected = {a.customer_id: set(a.fields) for a in IncidentAffected.objects.all()}
    assert affected == expected
    assert scoped.affected_count == 2
    assert scoped.records_count == 3
    assert scoped.field_counts == {"email": 1, "full_name": 2}
    event = AuditEvent.objects.filter(type="incidents:scoped").get()
    details = json.loads(event.details)
    assert details["customers"] == 2
    assert details["roles"] == ["sales"]
    assert event.customer_id is None  # the scope's event names no customer
    # Scoping the other role replaces the set.
    with at(DETECTED + 2 * HOUR):
        services.scope_incident(
            actor=owner_actor(owner),
            incident_id=incident.id,
            roles=["customer_service"],
            systems=[],
        )
    assert set(IncidentAffected.objects.values_list("customer_id", flat=True)) == {customers[2]}


def test_a_database_leak_scopes_every_customer_holding_data(
    customers: list[uuid.UUID], owner: Any
) -> None:
    incident = record(owner)
    with at(DETECTED + HOUR):
        scoped = services.scope_incident(
            actor=owner_actor(owner), incident_id=incident.id, roles=[], systems=["database"]
        )
    assert scoped.affected_count == 6
    assert scoped.field_counts == {"email": 6, "full_name": 6}
    assert set(IncidentAffected.objects.values_list("customer_id", flat=True)) == set(customers)


def warnings() -> list[tuple[str, str]]:
    return [
        (d["clock"], d["level"])
        for d in (
            json.loads(e.details)
            for e in AuditEvent.objects.filter(type="incidents:deadline_warning").order_by("seq")
        )
    ]


def test_the_job_is_registered() -> None:
    assert "pledge.incidents.services.due_work" in JOBS


def test_p23_the_24h_and_72h_warnings_fire_at_the_right_times_once_each(
    owner: Any, mailbox: Mailbox
) -> None:
    second_owner = make_staff("owner")
    make_staff("sales")  # not told
    incident = record(owner)
    clocks = {c.key: c for c in incident.clocks.all()}
    assert set(clocks) == {"vn-pdpl-2026:system_attack_authority", "vn-pdpl-2026:authority"}
    assert clocks["vn-pdpl-2026:system_attack_authority"].due_at == DETECTED + 24 * HOUR
    assert clocks["vn-pdpl-2026:authority"].due_at == DETECTED + 72 * HOUR
    short, long = "vn-pdpl-2026:system_attack_authority", "vn-pdpl-2026:authority"
    schedule = [
        (DETECTED + 12 * HOUR, (short, "half")),
        (DETECTED + 22 * HOUR, (short, "final")),
        (DETECTED + 36 * HOUR, (long, "half")),
        (DETECTED + 70 * HOUR, (long, "final")),
    ]
    seen: list[tuple[str, str]] = []
    for moment, expected in schedule:
        assert services.due_work(moment - SECOND) == 0
        assert warnings() == seen
        assert services.due_work(moment) == 1
        assert services.due_work(moment) == 0  # once each, however often the job runs
        seen.append(expected)
        assert warnings() == seen
    assert services.due_work(DETECTED + 100 * HOUR) == 0
    assert IncidentStep.objects.filter(incident=incident, kind="warning").count() == 4
    # Each owner is told each time, on the real SMTP server; no one else.
    assert OutboxMessage.objects.filter(idempotency_key__startswith="incidents:").count() == 8
    deliver_due(DETECTED + 100 * HOUR)
    messages = mailbox.wait_for(8)
    mailbox.settle()
    assert len(mailbox.messages) == 8
    assert sorted({m["To"] for m in messages}) == sorted([owner.email, second_owner.email])
    assert incident.reference in body_of(messages[0])


def test_a_report_sent_stops_its_clock(owner: Any) -> None:
    incident = record(owner)
    with at(DETECTED + 10 * HOUR):
        services.record_report(
            actor=owner_actor(owner),
            incident_id=incident.id,
            stage="initial",
            clock_key="vn-pdpl-2026:system_attack_authority",
        )
    assert services.due_work(DETECTED + 30 * HOUR) == 0  # the 24 h clock is answered
    assert services.due_work(DETECTED + 36 * HOUR) == 1  # the 72 h one still runs
    assert warnings() == [("vn-pdpl-2026:authority", "half")]
    event = AuditEvent.objects.get(type="incidents:authority_reported")
    assert json.loads(event.details)["late"] is False


def test_customer_notices_reach_each_customer_once_in_their_language(
    customers: list[uuid.UUID], owner: Any, mailbox: Mailbox, settings: Any
) -> None:
    settings.PLEDGE_INCIDENT_NOTICE_BATCH = 2
    seed_reads(customers)
    read(sales(), customers[3], LEAK_FROM + HOUR, ["full_name"])  # an English speaker
    incident = record(owner)
    with at(DETECTED + HOUR):
        services.scope_incident(
            actor=owner_actor(owner), incident_id=incident.id, roles=["sales"], systems=[]
        )
        assert services.start_notices(actor=owner_actor(owner), incident_id=incident.id) == 2
    # The worker takes the rest in batches; running the batch again sends nothing twice.
    assert services.due_work(DETECTED + 2 * HOUR) == 1
    assert services.due_work(DETECTED + 3 * HOUR) == 0
    with at(DETECTED + 3 * HOUR):
        assert services.start_notices(actor=owner_actor(owner), incident_id=incident.id) == 0
    notices = OutboxMessage.objects.filter(idempotency_key__contains=":notice:")
    assert notices.count() == 3
    assert set(notices.values_list("customer_id", flat=True)) == {
        customers[0],
        customers[1],
        customers[3],
    }
    deliver_due(DETECTED + 3 * HOUR)
    messages = mailbox.wait_for(3)
    mailbox.settle()
    assert len(mailbox.messages) == 3
    by_address = {m["To"]: m for m in messages}
    assert set(by_address) == {"khach0@example.vn", "khach1@example.vn", "khach3@example.vn"}
    assert by_address["khach0@example.vn"]["Content-Language"] == "vi"
    assert by_address["khach1@example.vn"]["Content-Language"] == "en"
    assert by_address["khach3@example.vn"]["Content-Language"] == "en"
    english = body_of(by_address["khach1@example.vn"])
    assert "What you should do" in english
    assert "full name" in english  # the field read, labelled in the customer's language
    assert "Do not answer messages asking for payment details." in english
    # The address reads are audited, by the incidents system, for the law's purpose.
    reads = AuditEvent.objects.filter(actor="system:incidents", type="vault:read")
    assert reads.count() == 3
    assert set(reads.values_list("purpose", flat=True)) == {"breach_notification"}
    assert (
        AuditEvent.objects.filter(type="incidents:customers_notified")
        .exclude(customer_id=None)
        .count()
        == 3
    )


def test_a_drill_goes_through_everything_and_sends_nothing_to_customers(
    customers: list[uuid.UUID], owner: Any, mailbox: Mailbox
) -> None:
    seed_reads(customers)
    incident = record(owner, drill=True)
    with at(DETECTED + HOUR):
        services.scope_incident(
            actor=owner_actor(owner), incident_id=incident.id, roles=["sales"], systems=[]
        )
        assert services.start_notices(actor=owner_actor(owner), incident_id=incident.id) == 2
    assert not OutboxMessage.objects.filter(idempotency_key__contains=":notice:").exists()
    assert set(IncidentAffected.objects.values_list("notice_status", flat=True)) == {"drill"}
    assert not AuditEvent.objects.filter(actor="system:incidents", type="vault:read").exists()
    step = IncidentStep.objects.get(incident=incident, kind="notified")
    assert step.details["outcomes"]["drill"] == 2
    event = AuditEvent.objects.filter(type="incidents:customers_notified").get()
    assert json.loads(event.details)["drill"] is True
    deliver_due(DETECTED + 2 * HOUR)
    mailbox.settle()
    assert mailbox.messages == []
