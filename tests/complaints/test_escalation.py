"""Escalation at 50 % and 80 % of the SLA and the breach (issue 7 acceptance; P21), by the worker
job `escalate_due`, with a frozen clock. Each step fires once: the job runs twice at each instant,
and (PostgreSQL) two workers run it at once. The owners' emails arrive on the real SMTP server."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from pledge.audit.models import AuditEvent
from pledge.complaints import services
from pledge.complaints.models import Complaint
from pledge.jobs import JOBS
from pledge.notify.delivery import deliver_due
from pledge.notify.models import OutboxMessage
from tests.complaints.conftest import TEXT, me
from tests.console.staffing import make_staff
from tests.smtp import Mailbox, body_of

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
SATURDAY = dt.datetime(2027, 3, 13, 16, 55, tzinfo=HCM)
FIFTY = dt.datetime(2027, 3, 16, 12, 0, tzinfo=HCM)  # 12 working hours later
EIGHTY = dt.datetime(2027, 3, 17, 11, 12, tzinfo=HCM)  # 19 h 12 min of working time
DUE = dt.datetime(2027, 3, 17, 17, 0, tzinfo=HCM)
SECOND = dt.timedelta(seconds=1)


def filed(customer: uuid.UUID) -> Complaint:
    with time_machine.travel(SATURDAY, tick=False):
        return services.file_complaint(
            actor=me(customer), customer_id=customer, channel="privacy_center", text=TEXT
        )


def events(kind: str) -> list[dict[str, Any]]:
    return [json.loads(e.details) for e in AuditEvent.objects.filter(type=kind).order_by("seq")]


def escalation_mails() -> int:
    return OutboxMessage.objects.filter(idempotency_key__contains=":escalated_").count()


def test_the_job_is_registered() -> None:
    assert "pledge.complaints.services.escalate_due" in JOBS


def test_p21_escalations_fire_once_each_and_a_breach_is_recorded_once(
    customer: uuid.UUID, mailbox: Mailbox
) -> None:
    owners = [make_staff("owner"), make_staff("owner")]
    make_staff("customer_service")  # not told: escalation goes to the owner (seed B: the Board)
    complaint = filed(customer)
    deliver_due(SATURDAY)  # queued at the frozen receipt time
    assert len(mailbox.wait_for(1)) == 1  # the acknowledgement
    assert services.escalate_due(FIFTY - SECOND) == 0
    assert events("complaints:escalated") == []
    # 50 %: the job runs twice at the same instant, then later again.
    assert services.escalate_due(FIFTY) == 1
    assert services.escalate_due(FIFTY) == 0
    assert services.escalate_due(EIGHTY - SECOND) == 0
    assert [e["level"] for e in events("complaints:escalated")] == [50]
    assert escalation_mails() == 2
    # 80 %
    assert services.escalate_due(EIGHTY) == 1
    assert services.escalate_due(EIGHTY) == 0
    assert [e["level"] for e in events("complaints:escalated")] == [50, 80]
    assert events("complaints:escalated")[1] == {
        "level": 80,
        "owners": 2,
        "due_at": DUE.astimezone(dt.UTC).isoformat(),
    }
    assert escalation_mails() == 4
    # Not answered by the due time: the breach is recorded once, never hidden.
    assert services.escalate_due(DUE - SECOND) == 0
    assert events("complaints:sla_breached") == []
    assert services.escalate_due(DUE) == 1
    assert services.escalate_due(DUE + dt.timedelta(days=3)) == 0
    assert len(events("complaints:sla_breached")) == 1
    complaint.refresh_from_db()
    assert complaint.escalated_50_at == FIFTY
    assert complaint.escalated_80_at == EIGHTY
    assert complaint.breached_at == DUE
    # The owners' emails arrive on the real SMTP server: each owner twice, no one else.
    deliver_due(DUE)
    messages = mailbox.wait_for(5)
    mailbox.settle()
    assert len(mailbox.messages) == 5
    told = sorted(m["To"] for m in messages[1:])
    assert told == sorted([owners[0].email, owners[0].email, owners[1].email, owners[1].email])
    body = body_of(messages[-1])
    assert str(complaint.id)[:8] in body
    assert TEXT not in body  # the complaint's text never leaves the vault in an escalation


def test_a_worker_down_for_days_catches_up_in_one_run(customer: uuid.UUID) -> None:
    make_staff("owner")
    filed(customer)
    assert services.escalate_due(DUE + dt.timedelta(days=2)) == 3
    assert [e["level"] for e in events("complaints:escalated")] == [50, 80]
    assert len(events("complaints:sla_breached")) == 1


def test_an_answered_complaint_does_not_escalate(customer: uuid.UUID) -> None:
    complaint = filed(customer)
    Complaint.objects.filter(pk=complaint.pk).update(status="answered", answered_at=FIFTY)
    assert services.escalate_due(DUE + SECOND) == 0
    assert events("complaints:escalated") == events("complaints:sla_breached") == []


def test_no_owner_still_records_the_escalation(customer: uuid.UUID) -> None:
    filed(customer)
    assert services.escalate_due(FIFTY) == 1
    assert events("complaints:escalated")[0]["owners"] == 0


@pytest.mark.postgresql_only
def test_two_workers_at_once_escalate_once(
    transactional_db: None, leman: Any, shop_api: Any
) -> None:
    from django.db import connections

    from pledge.vault import services as vault

    customers = [
        vault.collect_customer(
            actor=shop_api,
            purpose="order_fulfilment",
            fields={"full_name": f"Khách {i}", "email": f"k{i}@example.vn"},
        )
        for i in range(5)
    ]
    make_staff("owner")
    for cid in customers:
        filed(cid)
    start = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait(timeout=30)
            results.append(services.escalate_due(DUE))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sum(results) == 15  # 5 complaints x (50 %, 80 %, breach), each once
    assert len(events("complaints:escalated")) == 10
    assert len(events("complaints:sla_breached")) == 5
    assert escalation_mails() == 10
