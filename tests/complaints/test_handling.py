"""Handling a complaint (issue 7 item 3; P20, P21, P22): the thread and who reads it, internal
notes and the personal-data warning, messages and the written answer with its reason (by email
too), compensation, closing, and the customer writing again or reopening within the window."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from pledge.audit.models import AuditEvent
from pledge.complaints import handling, services
from pledge.complaints.models import (
    Complaint,
    ComplaintMessage,
    ComplaintStatus,
    MessageKind,
)
from pledge.complaints.pii import personal_data_hints
from pledge.notify.delivery import deliver_due
from pledge.vault import services as vault
from pledge.vault.access import Actor
from pledge.vault.errors import AccessRefused, NotFound
from pledge.vault.models import Customer, EncryptedValue, RecordKind
from tests.complaints.conftest import EMAIL, TEXT, me
from tests.console.staffing import make_staff
from tests.smtp import Mailbox, body_of

ANSWER = "Chúng tôi đã gỡ địa chỉ của bạn khỏi danh sách quảng cáo."
REASON = "Một nhân viên đã dùng danh sách cũ; chúng tôi đã xoá danh sách đó."


@pytest.fixture
def handler(leman: Any) -> Actor:
    user = make_staff("customer_service")
    return Actor(kind="staff", id=str(user.pk), role="customer_service")


@pytest.fixture
def complaint(customer: uuid.UUID) -> Complaint:
    return services.file_complaint(
        actor=me(customer), customer_id=customer, channel="privacy_center", text=TEXT
    )


def events(kind: str) -> list[dict[str, Any]]:
    return [json.loads(e.details) for e in AuditEvent.objects.filter(type=kind).order_by("seq")]


# -- reading --------------------------------------------------------------------------------


def test_the_thread_shows_the_customer_what_was_said_and_never_internal_notes(
    complaint: Complaint, customer: uuid.UUID, handler: Actor
) -> None:
    handling.add_note(actor=handler, complaint_id=complaint.id, text="Kiểm tra danh sách cũ")
    handling.send_message(actor=handler, complaint_id=complaint.id, text="Chúng tôi đang xem xét.")
    staff_view = handling.thread(actor=handler, complaint_id=complaint.id)
    assert [e.kind for e in staff_view.entries] == ["complaint", "note", "staff"]
    assert staff_view.entries[0].text == TEXT
    assert not staff_view.masked
    mine = handling.thread(actor=me(customer), complaint_id=complaint.id)
    assert [e.kind for e in mine.entries] == ["complaint", "staff"]
    assert mine.entries[1].text == "Chúng tôi đang xem xét."
    # every read is audited, with no text in the event
    reads = AuditEvent.objects.filter(type="complaints:read")
    assert reads.count() == 2
    assert all(TEXT not in e.details for e in reads)


def test_another_customer_cannot_see_or_write_on_a_complaint_by_its_id(
    complaint: Complaint, leman: Any, shop_api: Actor
) -> None:
    other = vault.collect_customer(
        actor=shop_api,
        purpose="order_fulfilment",
        fields={"full_name": "Trần Văn Bình", "email": "binh@example.vn"},
    )
    with pytest.raises(NotFound) as seen:
        handling.thread(actor=me(other), complaint_id=complaint.id)
    with pytest.raises(NotFound) as unknown:
        handling.thread(actor=me(other), complaint_id=uuid.uuid4())
    # the same answer as for a complaint that does not exist (no oracle)
    assert type(seen.value) is type(unknown.value)
    with pytest.raises(NotFound):
        handling.customer_reply(
            actor=me(other), complaint_id=complaint.id, text="xin chào", channel="privacy_center"
        )
    assert not ComplaintMessage.objects.exists()


@pytest.mark.parametrize("role", ["sales", "accounting", "auditor"])
def test_roles_the_policy_does_not_give_complaints_cannot_read_or_answer(
    complaint: Complaint, role: str
) -> None:
    user = make_staff(role)
    outsider = Actor(kind="staff", id=str(user.pk), role=role)
    with pytest.raises(AccessRefused):
        handling.thread(actor=outsider, complaint_id=complaint.id)
    with pytest.raises(AccessRefused):
        handling.answer(
            actor=outsider,
            complaint_id=complaint.id,
            text=ANSWER,
            reason=REASON,
            outcome="upheld",
        )
    assert Complaint.objects.get(pk=complaint.id).status == ComplaintStatus.ACKNOWLEDGED
    assert AuditEvent.objects.filter(type="vault:access_refused").exists()
    assert AuditEvent.objects.filter(type="vault:write_refused").exists()


def test_bad_ids_are_not_found(handler: Actor) -> None:
    for bad in ("not-a-uuid", 42, None, uuid.uuid4()):
        with pytest.raises(NotFound):
            handling.thread(actor=handler, complaint_id=bad)  # type: ignore[arg-type]


# -- notes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hints"),
    [
        ("Đã gọi lại số 0912 345 678", ["phone"]),
        ("Khách gửi từ hong@example.vn", ["email"]),
        ("Thẻ 4111 1111 1111 1111 bị trừ tiền", ["card"]),
        ("CCCD 079203001234", ["id_number"]),
        ("Hẹn 16:55 ngày 2027-03-06, hoàn 1.500.000 VND", []),
    ],
)
def test_personal_data_hints(text: str, hints: list[str]) -> None:
    assert personal_data_hints(text) == hints


def test_a_note_that_looks_personal_is_refused_until_confirmed(
    complaint: Complaint, handler: Actor
) -> None:
    with pytest.raises(handling.NoteLooksPersonal) as refused:
        handling.add_note(actor=handler, complaint_id=complaint.id, text="Gọi 0912345678")
    assert refused.value.hints == ["phone"]
    assert refused.value.status == 422
    assert "0912345678" not in str(refused.value)  # the warning does not repeat the data
    assert not ComplaintMessage.objects.exists()
    note = handling.add_note(
        actor=handler, complaint_id=complaint.id, text="Gọi 0912345678", confirm_personal=True
    )
    assert note.flagged_personal and note.kind == MessageKind.NOTE
    assert events("complaints:note_added") == [{"flagged_personal": True}]
    # the text is encrypted in the vault, not in the row
    row = EncryptedValue.objects.get(record_kind=RecordKind.COMPLAINT, record_id=note.id)
    assert b"0912345678" not in bytes(row.ciphertext)


# -- answering ------------------------------------------------------------------------------


def test_the_answer_with_its_reason_is_emailed_and_decides_the_promise(
    complaint: Complaint, customer: uuid.UUID, handler: Actor, mailbox: Mailbox
) -> None:
    deliver_due()
    mailbox.wait_for(1)  # the acknowledgement
    handling.send_message(actor=handler, complaint_id=complaint.id, text="Chúng tôi đang xem xét.")
    assert Complaint.objects.get(pk=complaint.id).status == ComplaintStatus.IN_PROGRESS
    handling.answer(
        actor=handler,
        complaint_id=complaint.id,
        text=ANSWER,
        reason=REASON,
        outcome="upheld",
    )
    done = Complaint.objects.get(pk=complaint.id)
    assert done.status == ComplaintStatus.ANSWERED
    assert done.first_answered_at == done.answered_at
    assert done.sla_met is True and done.outcome == "upheld"
    assert events("complaints:answered") == [
        {"outcome": "upheld", "first": True, "sla_met": True, "in_time": True}
    ]
    deliver_due()
    sent = mailbox.wait_for(3)
    assert all(m["To"] == EMAIL for m in sent)
    bodies = [body_of(m) for m in sent[1:]]
    assert "Chúng tôi đang xem xét." in bodies[0]
    assert ANSWER in bodies[1] and REASON in bodies[1]
    # never the customer's own complaint text
    assert all(TEXT not in b for b in bodies)
    mine = handling.thread(actor=me(customer), complaint_id=complaint.id)
    answer = mine.entries[-1]
    assert answer.kind == "answer" and answer.text == ANSWER and answer.reason == REASON


def test_a_late_answer_keeps_the_breach(complaint: Complaint, handler: Actor) -> None:
    late = complaint.due_at + dt.timedelta(minutes=1)
    services.escalate_due(late)
    with time_machine.travel(late, tick=False):
        handling.answer(
            actor=handler,
            complaint_id=complaint.id,
            text=ANSWER,
            reason=REASON,
            outcome="partly_upheld",
        )
    done = Complaint.objects.get(pk=complaint.id)
    assert done.breached_at is not None and done.sla_met is False
    assert AuditEvent.objects.filter(type="complaints:sla_breached").count() == 1


def test_an_answer_after_the_due_time_records_the_breach_even_before_the_worker(
    complaint: Complaint, customer: uuid.UUID, handler: Actor, settings: Any
) -> None:
    late = complaint.due_at + dt.timedelta(minutes=5)
    with time_machine.travel(late, tick=False):
        handling.answer(
            actor=handler, complaint_id=complaint.id, text=ANSWER, reason=REASON, outcome="upheld"
        )
    done = Complaint.objects.get(pk=complaint.id)
    assert done.sla_met is False and done.breached_at is not None
    assert events("complaints:answered")[0]["in_time"] is False
    services.escalate_due(late + dt.timedelta(hours=1))  # the worker finds nothing to add
    assert AuditEvent.objects.filter(type="complaints:sla_breached").count() == 1
    first_breach = done.breached_at
    # reopened, and the new round answered late too: its own breach event; the first stays
    with time_machine.travel(late + dt.timedelta(hours=2), tick=False):
        handling.reopen(
            actor=me(customer), complaint_id=complaint.id, text="Chưa ổn", channel="privacy_center"
        )
    again = Complaint.objects.get(pk=complaint.id)
    assert again.breached_at == first_breach
    with time_machine.travel(again.due_at + dt.timedelta(minutes=1), tick=False):
        handling.answer(
            actor=handler, complaint_id=complaint.id, text=ANSWER, reason=REASON, outcome="upheld"
        )
    breaches = events("complaints:sla_breached")
    assert len(breaches) == 2 and breaches[1]["round"] == 1
    final = Complaint.objects.get(pk=complaint.id)
    assert final.breached_at == first_breach and final.sla_met is False


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": ""}, "reason"),
        ({"reason": "x" * 2001}, "reason"),
        ({"text": "  "}, "complaint_details"),
        ({"outcome": "maybe"}, "outcome"),
        ({"outcome": None}, "outcome"),
    ],
)
def test_an_answer_without_a_proper_reason_or_outcome_is_refused(
    complaint: Complaint, handler: Actor, changes: dict[str, Any], field: str
) -> None:
    kwargs: dict[str, Any] = {"text": ANSWER, "reason": REASON, "outcome": "upheld", **changes}
    with pytest.raises(services.ComplaintInvalid) as refused:
        handling.answer(actor=handler, complaint_id=complaint.id, **kwargs)
    assert refused.value.problems[0].field == field
    assert Complaint.objects.get(pk=complaint.id).status == ComplaintStatus.ACKNOWLEDGED
    assert not ComplaintMessage.objects.exists()


def test_compensation_is_recorded_with_amount_and_reason(
    complaint: Complaint, customer: uuid.UUID, handler: Actor
) -> None:
    handling.compensate(
        actor=handler,
        complaint_id=complaint.id,
        amount="500000",
        currency="VND",
        reason="Bồi thường phiền hà",
    )
    for bad in ("-5", "0", "abc", "1.005", "1e40", "NaN", True):
        with pytest.raises(services.ComplaintInvalid):
            handling.compensate(
                actor=handler, complaint_id=complaint.id, amount=bad, currency="VND", reason="x"
            )
    with pytest.raises(services.ComplaintInvalid):
        handling.compensate(
            actor=handler, complaint_id=complaint.id, amount="5", currency="dong", reason="x"
        )
    mine = handling.thread(actor=me(customer), complaint_id=complaint.id)
    assert [(c.amount, c.currency, c.reason) for c in mine.compensations] == [
        (Decimal("500000.00"), "VND", "Bồi thường phiền hà")
    ]
    assert events("complaints:compensated") == [{"amount": "500000.00", "currency": "VND"}]


def test_only_an_answered_complaint_closes(complaint: Complaint, handler: Actor) -> None:
    with pytest.raises(handling.ComplaintConflict):
        handling.close(actor=handler, complaint_id=complaint.id)
    handling.answer(
        actor=handler, complaint_id=complaint.id, text=ANSWER, reason=REASON, outcome="upheld"
    )
    closed = handling.close(actor=handler, complaint_id=complaint.id)
    assert closed.status == ComplaintStatus.CLOSED and closed.closed_at is not None
    with pytest.raises(handling.ComplaintConflict):
        handling.answer(
            actor=handler, complaint_id=complaint.id, text=ANSWER, reason=REASON, outcome="upheld"
        )


def test_assignment_goes_only_to_staff_whose_role_handles_complaints(
    complaint: Complaint, handler: Actor
) -> None:
    handling.assign(actor=handler, complaint_id=complaint.id, assignee=int(handler.id))
    assert Complaint.objects.get(pk=complaint.id).assigned_to == int(handler.id)
    sales = make_staff("sales")
    with pytest.raises(services.ComplaintInvalid):
        handling.assign(actor=handler, complaint_id=complaint.id, assignee=sales.pk)
    assert Complaint.objects.get(pk=complaint.id).assigned_to == int(handler.id)
    handling.assign(actor=handler, complaint_id=complaint.id, assignee=None)
    assert Complaint.objects.get(pk=complaint.id).assigned_to is None


# -- the customer writes again and reopens ----------------------------------------------------


def test_the_customer_reopens_within_the_window_and_a_new_round_starts(
    complaint: Complaint, customer: uuid.UUID, handler: Actor, settings: Any
) -> None:
    settings.PLEDGE_COMPLAINT_REOPEN_DAYS = 7
    with pytest.raises(handling.ComplaintConflict):  # not answered yet
        handling.reopen(
            actor=me(customer), complaint_id=complaint.id, text="Chưa ổn", channel="privacy_center"
        )
    handling.answer(
        actor=handler, complaint_id=complaint.id, text=ANSWER, reason=REASON, outcome="upheld"
    )
    first = Complaint.objects.get(pk=complaint.id)
    later = timezone.now() + dt.timedelta(days=3)
    with time_machine.travel(later, tick=False):
        handling.reopen(
            actor=me(customer),
            complaint_id=complaint.id,
            text="Tôi vẫn nhận quảng cáo",
            channel="privacy_center",
        )
    again = Complaint.objects.get(pk=complaint.id)
    assert again.status == ComplaintStatus.REOPENED and again.reopen_count == 1
    assert again.due_at > first.due_at and again.escalated_50_at is None
    # the first round's verdict stays
    assert again.first_answered_at == first.first_answered_at and again.sla_met is True
    with time_machine.travel(later + dt.timedelta(hours=1), tick=False):
        handling.answer(
            actor=handler,
            complaint_id=complaint.id,
            text="Đã xử lý lại",
            reason=REASON,
            outcome="upheld",
        )
    outside = later + dt.timedelta(days=8)
    with time_machine.travel(outside, tick=False), pytest.raises(handling.ComplaintConflict):
        handling.reopen(
            actor=me(customer), complaint_id=complaint.id, text="Lần nữa", channel="privacy_center"
        )


def test_a_closed_complaint_takes_no_reply_but_an_open_one_does(
    complaint: Complaint, customer: uuid.UUID, handler: Actor
) -> None:
    handling.customer_reply(
        actor=me(customer),
        complaint_id=complaint.id,
        text="Thêm chi tiết",
        channel="privacy_center",
    )
    handling.answer(
        actor=handler, complaint_id=complaint.id, text=ANSWER, reason=REASON, outcome="upheld"
    )
    handling.close(actor=handler, complaint_id=complaint.id)
    with pytest.raises(handling.ComplaintConflict):
        handling.customer_reply(
            actor=me(customer), complaint_id=complaint.id, text="Nữa", channel="privacy_center"
        )
    assert ComplaintMessage.objects.filter(kind=MessageKind.CUSTOMER).count() == 1
    # staff cannot write as the customer, nor the customer as the mail-in listener
    with pytest.raises(AccessRefused):
        handling.customer_reply(
            actor=handler, complaint_id=complaint.id, text="x", channel="privacy_center"
        )


def test_an_erased_customers_complaint_keeps_its_history_but_no_text(
    complaint: Complaint, customer: uuid.UUID, handler: Actor
) -> None:
    from pledge.vault.erasure import erase_customer

    handling.add_note(actor=handler, complaint_id=complaint.id, text="Đã kiểm tra")
    erase_customer(actor=Actor(kind="system", id="test"), customer_id=customer)
    assert Customer.objects.get(pk=customer).erased_at is not None
    seen = handling.thread(actor=handler, complaint_id=complaint.id)
    assert seen.unavailable and all(e.text == "" for e in seen.entries)
    assert not EncryptedValue.objects.filter(customer_id=customer).exists()


def test_a_receipt_time_in_the_future_is_refused(customer: uuid.UUID) -> None:
    with pytest.raises(services.ComplaintInvalid) as refused:
        services.file_complaint(
            actor=me(customer),
            customer_id=customer,
            channel="privacy_center",
            text=TEXT,
            received_at=timezone.now() + dt.timedelta(hours=1),
        )
    assert refused.value.problems[0].rule == "future"
    assert not Complaint.objects.exists()
