"""The console's complaints desk (issue 7 items 1 and 3; P20, P21, P22): the queue, a phone call
recorded by staff, a complaint's page with its SLA times, thread and actions, evidence downloads,
the dashboard counts, for every role of preset B (and a variant where the owner may not read
complaint texts).

Preset B gives the `complaints` purpose to the owner and customer service; sales, accounting and
the auditor see none of it.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from pledge.complaints import evidence as complaint_evidence
from pledge.complaints import handling, services
from pledge.complaints.models import (
    Compensation,
    Complaint,
    ComplaintEvidence,
    ComplaintMessage,
    ComplaintStatus,
    MessageKind,
)
from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import LoadedPolicy, load_policy
from pledge.policy.schema import Policy
from pledge.policy.services import publish_policy
from pledge.vault.access import Actor
from tests.console.staffing import EMAIL, NAME, PHONE, login_staff, make_staff, seed_customer
from tests.smtp import Mailbox, body_of, deliver_outbox

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
ROLES = ("owner", "customer_service", "sales", "accounting", "auditor")
HANDLERS = ("owner", "customer_service")
QUEUE = "/console/complaints/"
NEW = "/console/complaints/new/"
TEXT = "Tôi nhận được email quảng cáo dù đã từ chối; xin giải thích."
CALL = Actor(kind="staff", id="998", role="customer_service")
# A Tuesday morning, shop time: no holiday near, the shop open.
TUESDAY = dt.datetime(2026, 3, 10, 9, 0, tzinfo=HCM)


def detail_url(complaint_id: uuid.UUID) -> str:
    return f"/console/complaints/{complaint_id}/"


def evidence_url(complaint_id: uuid.UUID, evidence_id: uuid.UUID) -> str:
    return f"/console/complaints/{complaint_id}/evidence/{evidence_id}/"


def publish_variant(
    *, handlers: list[str] | None = None, calendar_hours: int | None = None
) -> None:
    """Preset B with other complaint handlers, or a promise in calendar hours."""
    loaded = load_policy("leman-jewelry")
    data = loaded.policy.model_dump(mode="python", exclude_none=True)
    if handlers is not None:
        for purpose in data["purposes"]:
            if purpose["key"] == "complaints":
                purpose["roles"] = handlers
    if calendar_hours is not None:
        data["complaints"]["response"] = {"hours": calendar_hours, "clock": "calendar"}
    data["version"] = f"test-console-{handlers}-{calendar_hours}"
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
def customer_id(leman: Any, shop_api: Actor) -> uuid.UUID:
    return seed_customer(shop_api)


@pytest.fixture
def evidence_dir(settings: Any, tmp_path: Path) -> Path:
    settings.PLEDGE_EVIDENCE_DIR = tmp_path / "evidence"
    Path(settings.PLEDGE_EVIDENCE_DIR).mkdir()
    return Path(settings.PLEDGE_EVIDENCE_DIR)


def client_as(role: str, lang: str = "en") -> Client:
    client = Client(headers={"accept-language": lang})
    login_staff(client, make_staff(role))
    return client


def file(
    customer_id: uuid.UUID, received: dt.datetime | None = None, text: str = TEXT
) -> Complaint:
    return services.file_complaint(
        actor=CALL,
        customer_id=customer_id,
        channel="staff_phone",
        text=text,
        received_at=received,
    )


def act(client: Client, complaint_id: uuid.UUID, action: str, **fields: Any) -> Any:
    return client.post(detail_url(complaint_id), {"action": action, **fields})


def page_text(response: Any) -> str:
    return html.unescape(response.content.decode())


def status_of(complaint_id: uuid.UUID) -> str:
    return str(Complaint.objects.get(pk=complaint_id).status)


# -- who gets in ------------------------------------------------------------------------------


def test_every_page_per_role(customer_id: uuid.UUID, evidence_dir: Path) -> None:
    complaint = file(customer_id)
    stored = complaint_evidence.store_evidence(
        actor=CALL,
        complaint_id=complaint.id,
        filename="x.txt",
        content=b"receipt",
        content_type="text/plain",
    )
    pages = {
        QUEUE: {"owner": 200, "customer_service": 200},
        NEW: {"owner": 200, "customer_service": 200},
        detail_url(complaint.id): {"owner": 200, "customer_service": 200},
        evidence_url(complaint.id, stored.id): {"owner": 200, "customer_service": 200},
    }
    wrong = []
    for url, allowed in pages.items():
        anonymous = Client().get(url)
        if anonymous.status_code != 302 or not anonymous["Location"].startswith("/console/login/"):
            wrong.append(f"anonymous {url}: {anonymous.status_code}")
        for role in ROLES:
            client = client_as(role)
            got = client.get(url).status_code
            if got != allowed.get(role, 403):
                wrong.append(f"{role} GET {url}: {got}")
            if url in (NEW, detail_url(complaint.id)):
                posted = client.post(url, {}).status_code
                # Past the access check an empty form is a 400 (no such action / no customer).
                expected = 400 if role in allowed else 403
                if posted != expected:
                    wrong.append(f"{role} POST {url}: {posted}, expected {expected}")
    assert not wrong, "\n".join(wrong)
    assert status_of(complaint.id) == ComplaintStatus.ACKNOWLEDGED
    assert not ComplaintMessage.objects.exists()


def test_a_post_without_the_csrf_token_is_refused(customer_id: uuid.UUID) -> None:
    complaint = file(customer_id)
    client = Client(enforce_csrf_checks=True, headers={"accept-language": "en"})
    login_staff(client, make_staff("customer_service"))
    response = act(client, complaint.id, "note", text="Called back, no answer.")
    assert response.status_code == 403
    assert not ComplaintMessage.objects.exists()


def test_an_owner_the_policy_keeps_from_texts_sees_times_not_texts(customer_id: uuid.UUID) -> None:
    publish_variant(handlers=["customer_service"])
    complaint = file(customer_id)
    owner = client_as("owner")
    assert owner.get(QUEUE).status_code == 200
    response = owner.get(detail_url(complaint.id))
    assert response.status_code == 200
    text = page_text(response)
    assert TEXT not in text and "data-thread" not in text
    assert "The shop's policy does not let your role read complaint texts" in text
    assert "data-due" in text and "Acknowledgement" in text
    assert 'id="answer-form"' not in text
    refused = act(
        owner, complaint.id, "answer", text="Sorry", reason="Our mistake", outcome="upheld"
    )
    assert refused.status_code == 403
    assert status_of(complaint.id) == ComplaintStatus.ACKNOWLEDGED
    assert owner.get(NEW).status_code == 403
    # Customer service, the policy's handlers, read it.
    assert TEXT in page_text(client_as("customer_service").get(detail_url(complaint.id)))


@pytest.mark.parametrize(
    ("role", "shown"),
    [("owner", True), ("customer_service", True), ("sales", False), ("auditor", False)],
)
def test_the_complaints_link_is_in_the_menu_of_the_roles_that_see_the_desk(
    leman: Any, role: str, shown: bool
) -> None:
    page = client_as(role).get("/console/").content.decode()
    menu = page.split('class="console-nav"', 1)[1].split("</nav>", 1)[0]
    assert (f'href="{QUEUE}"' in menu) is shown


def test_an_unknown_or_malformed_id_is_a_404(customer_id: uuid.UUID, evidence_dir: Path) -> None:
    complaint = file(customer_id)
    client = client_as("customer_service")
    unknown = uuid.uuid4()
    assert client.get(detail_url(unknown)).status_code == 404
    assert act(client, unknown, "note", text="x").status_code == 404
    assert client.get("/console/complaints/not-a-uuid/").status_code == 404
    assert client.get(evidence_url(complaint.id, unknown)).status_code == 404


def test_evidence_of_another_complaint_is_a_404(
    customer_id: uuid.UUID, shop_api: Actor, evidence_dir: Path
) -> None:
    other_customer = seed_other(shop_api)
    mine = file(customer_id)
    theirs = file(other_customer)
    stored = complaint_evidence.store_evidence(
        actor=CALL,
        complaint_id=theirs.id,
        filename=None,
        content=b"their receipt",
        content_type="text/plain",
    )
    client = client_as("customer_service")
    assert client.get(evidence_url(mine.id, stored.id)).status_code == 404
    assert client.get(evidence_url(theirs.id, stored.id)).status_code == 200


def seed_other(shop_api: Actor) -> uuid.UUID:
    from pledge.vault import services as vault

    cid: uuid.UUID = vault.collect_customer(
        actor=shop_api, purpose="order_fulfilment", fields={"full_name": "Trần Văn Bình"}
    )
    return cid


def test_evidence_is_served_as_a_download_that_is_never_sniffed(
    customer_id: uuid.UUID, evidence_dir: Path
) -> None:
    complaint = file(customer_id)
    stored = complaint_evidence.store_evidence(
        actor=CALL,
        complaint_id=complaint.id,
        filename="hoa-don.txt",
        content="Hoá đơn số 123".encode(),
        content_type="text/plain",
    )
    response = client_as("owner").get(evidence_url(complaint.id, stored.id))
    assert response.status_code == 200
    assert response.content == "Hoá đơn số 123".encode()
    assert response["Content-Type"] == "text/plain"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == f'attachment; filename="evidence-{stored.id}.txt"'
    page = page_text(client_as("owner").get(detail_url(complaint.id)))
    assert evidence_url(complaint.id, stored.id) in page


# -- the queue --------------------------------------------------------------------------------


def test_the_queue_lists_open_complaints_due_first_with_marks_in_words(
    customer_id: uuid.UUID, shop_api: Actor
) -> None:
    publish_variant(calendar_hours=24)
    other = seed_other(shop_api)
    with time_machine.travel(TUESDAY, tick=False):
        fresh = file(customer_id)  # due in 24 h
        risky = file(other, received=TUESDAY - dt.timedelta(hours=13))  # past 50 %
        late = file(customer_id, received=TUESDAY - dt.timedelta(hours=30))  # overdue
        answered = file(other, received=TUESDAY - dt.timedelta(hours=1))
        handling.answer(
            actor=Actor(kind="staff", id="1", role="owner"),
            complaint_id=answered.id,
            text="Đã xử lý",
            reason="Lỗi của cửa hàng",
            outcome="upheld",
        )
        services.escalate_due(TUESDAY)  # records the late one's breach
        response = client_as("customer_service").get(QUEUE)
        assert response.status_code == 200
        text = response.content.decode()
        rows = re.findall(r'<tr data-complaint="([0-9a-f-]+)"', text)
        assert rows == [str(late.id), str(risky.id), str(fresh.id)]
        cells = [chunk.split("</tr>")[0] for chunk in text.split('<tr data-complaint="')[1:]]
        row_html = dict(zip(rows, cells, strict=True))
        assert 'data-mark="overdue"' in row_html[str(late.id)]
        assert 'data-mark="breached"' in row_html[str(late.id)]
        assert "SLA breached" in row_html[str(late.id)]
        assert 'data-mark="at_risk"' in row_html[str(risky.id)]
        assert "At risk" in row_html[str(risky.id)]
        for mark in ("overdue", "at_risk", "breached"):
            assert f'data-mark="{mark}"' not in row_html[str(fresh.id)]
        # A reference, the channel and the times; never a text, a name or an address.
        assert late.id.hex[:8] in text and "phone call recorded by staff" in text
        assert TEXT not in html.unescape(text) and NAME not in text and EMAIL not in text
        assert "Asia/Ho_Chi_Minh" in text
        assert 'href="/console/complaints/reports/"' in text
        # Answered complaints are found by their status.
        listed = client_as("owner").get(f"{QUEUE}?status=answered").content.decode()
        assert re.findall(r'<tr data-complaint="([0-9a-f-]+)"', listed) == [str(answered.id)]


def test_the_queue_filters_by_channel_and_assignment(customer_id: uuid.UUID) -> None:
    handler = make_staff("customer_service")
    mine = file(customer_id)
    theirs = file(customer_id)
    handling.assign(actor=CALL, complaint_id=mine.id, assignee=handler.pk)
    client = login_staff(Client(headers={"accept-language": "en"}), handler)

    def listed(query: str) -> list[str]:
        response = client.get(f"{QUEUE}?{query}")
        assert response.status_code == 200
        return re.findall(r'<tr data-complaint="([0-9a-f-]+)"', response.content.decode())

    assert listed("assigned=me") == [str(mine.id)]
    assert listed("assigned=unassigned") == [str(theirs.id)]
    assert listed("channel=email") == []
    assert sorted(listed("channel=staff_phone")) == sorted([str(mine.id), str(theirs.id)])
    assert handler.email in client.get(QUEUE).content.decode()


@pytest.mark.parametrize(
    "query", ["status=lost", "channel=fax", "assigned=bob", "status=" + "x" * 5000]
)
def test_an_unknown_filter_is_a_400_naming_the_field(customer_id: uuid.UUID, query: str) -> None:
    file(customer_id)
    response = client_as("owner").get(f"{QUEUE}?{query}")
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


# -- a phone call -----------------------------------------------------------------------------


def test_staff_record_a_phone_complaint_with_evidence(
    customer_id: uuid.UUID, evidence_dir: Path, mailbox: Mailbox
) -> None:
    client = client_as("customer_service")
    page = client.get(f"{NEW}?customer={customer_id}").content.decode()
    assert customer_id.hex[:8] in page and 'enctype="multipart/form-data"' in page
    upload = SimpleUploadedFile("bien-lai.txt", b"Receipt 2026-03-01", content_type="text/plain")
    response = client.post(
        f"{NEW}?customer={customer_id}",
        {"customer": str(customer_id), "text": TEXT, "evidence": upload},
    )
    assert response.status_code == 302
    complaint = Complaint.objects.get()
    assert response["Location"] == detail_url(complaint.id)
    assert (complaint.channel, complaint.sender_verified) == ("staff_phone", True)
    assert complaint.status == ComplaintStatus.ACKNOWLEDGED
    (stored,) = ComplaintEvidence.objects.filter(complaint=complaint)
    assert stored.content_type == "text/plain"
    assert b"Receipt" not in (evidence_dir / stored.storage_name).read_bytes()
    detail = page_text(client.get(response["Location"]))
    assert "Complaint recorded" in detail and TEXT in detail
    assert f'href="/console/customers/{customer_id}/?purpose=complaints"' in detail
    deliver_outbox()
    assert [m["To"] for m in mailbox.wait_for(1)] == [EMAIL]


def test_a_call_recorded_later_keeps_the_time_of_the_call(customer_id: uuid.UUID) -> None:
    """The law counts from receipt: a call written up two hours later starts its clock at the
    call, in the shop's time zone (Asia/Ho_Chi_Minh, UTC+7)."""
    client = client_as("customer_service")
    called = timezone.now().astimezone(dt.timezone(dt.timedelta(hours=7))) - dt.timedelta(hours=2)
    response = client.post(
        f"{NEW}?customer={customer_id}",
        {
            "customer": str(customer_id),
            "text": TEXT,
            "received_at": called.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 302
    complaint = Complaint.objects.get()
    assert abs(complaint.received_at - called.replace(second=0, microsecond=0)) < dt.timedelta(
        seconds=1
    )
    for when, says in (
        (called + dt.timedelta(days=1), "cannot be in the future"),
        (called - dt.timedelta(days=8), "more than 7 days ago"),
        (None, "Enter a valid date/time"),
    ):
        value = when.strftime("%Y-%m-%dT%H:%M") if when else "yesterday at noon"
        bad = client.post(
            f"{NEW}?customer={customer_id}",
            {"customer": str(customer_id), "text": TEXT, "received_at": value},
        )
        assert bad.status_code == 400 and says in page_text(bad)
    assert Complaint.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"customer": "", "text": TEXT}, 400, "This field is required"),
        ({"customer": "not-a-uuid", "text": TEXT}, 400, "Enter a valid UUID"),
        ({"customer": str(uuid.UUID(int=7)), "text": TEXT}, 400, "No customer has this reference"),
        ({"text": ""}, 400, "This field is required"),
        ({"text": "x" * 2001}, 400, "at most 2000 characters"),
        ({"text": "bad\x07bell"}, 422, "control"),
    ],
)
def test_bad_phone_entries_name_the_field_and_record_nothing(
    customer_id: uuid.UUID, fields: dict[str, str], status: int, says: str
) -> None:
    data = {"customer": str(customer_id), **fields}
    response = client_as("customer_service").post(NEW, data)
    assert response.status_code == status, page_text(response)[:2000]
    assert says in page_text(response)
    assert not Complaint.objects.exists()


def test_refused_evidence_records_no_complaint(customer_id: uuid.UUID, evidence_dir: Path) -> None:
    upload = SimpleUploadedFile("x.exe", b"MZ\x90\x00\x03binary\x00\x00", content_type="text/plain")
    response = client_as("customer_service").post(
        NEW, {"customer": str(customer_id), "text": TEXT, "evidence": upload}
    )
    assert response.status_code == 415
    assert "This evidence file cannot be kept" in page_text(response)
    assert not Complaint.objects.exists()
    assert list(evidence_dir.iterdir()) == []


# -- handling ---------------------------------------------------------------------------------


def test_a_note_that_looks_personal_is_refused_until_confirmed(customer_id: uuid.UUID) -> None:
    complaint = file(customer_id)
    client = client_as("customer_service")
    note = f"Called the customer back on {PHONE}"
    refused = act(client, complaint.id, "note", text=note)
    assert refused.status_code == 422
    text = page_text(refused)
    assert "data-note-warning" in text and "a phone number" in text
    assert 'name="confirm_personal"' in text and PHONE in text  # the typed note is kept
    assert not ComplaintMessage.objects.exists()
    saved = act(client, complaint.id, "note", text=note, confirm_personal="on")
    assert saved.status_code == 302
    (message,) = ComplaintMessage.objects.all()
    assert (message.kind, message.flagged_personal) == (MessageKind.NOTE, True)
    page = page_text(client.get(detail_url(complaint.id)))
    assert "Internal note: never shown to the customer" in page
    assert 'data-entry="note"' in page
    # A note without personal data is saved at once, unflagged.
    assert act(client, complaint.id, "note", text="Checked the order log.").status_code == 302
    assert ComplaintMessage.objects.filter(flagged_personal=False).count() == 1


def test_staff_answer_with_a_reason_and_the_customer_is_emailed(
    customer_id: uuid.UUID, mailbox: Mailbox
) -> None:
    complaint = file(customer_id)
    deliver_outbox()
    mailbox.wait_for(1)  # the acknowledgement
    client = client_as("customer_service")
    page = client.get(detail_url(complaint.id)).content.decode()
    form = page.split('<form method="post" id="answer-form"', 1)[1].split("</form>", 1)[0]
    assert '<textarea name="text"' in form and '<textarea name="reason"' in form
    assert '<select name="outcome"' in form and form.count('type="submit"') == 1
    assert act(client, complaint.id, "message", text="Chúng tôi đang kiểm tra.").status_code == 302
    assert status_of(complaint.id) == ComplaintStatus.IN_PROGRESS
    answered = act(
        client,
        complaint.id,
        "answer",
        text="Chúng tôi đã gỡ bạn khỏi danh sách quảng cáo.",
        reason="Nhân viên gửi nhầm danh sách.",
        outcome="upheld",
    )
    assert answered.status_code == 302
    assert status_of(complaint.id) == ComplaintStatus.ANSWERED
    page = page_text(client.get(detail_url(complaint.id)))
    assert 'data-status="answered"' in page and "answered" in page
    assert "Nhân viên gửi nhầm danh sách." in page
    deliver_outbox()
    mails = [m for m in mailbox.wait_for(3) if m["To"] == EMAIL]
    bodies = [body_of(m) for m in mails]
    assert any("Chúng tôi đang kiểm tra." in b for b in bodies)
    assert any(
        "Chúng tôi đã gỡ bạn khỏi danh sách quảng cáo." in b
        and "Nhân viên gửi nhầm danh sách." in b
        for b in bodies
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"text": "Không lỗi.", "reason": "", "outcome": "not_upheld"},
        {"text": "Không lỗi.", "outcome": "not_upheld"},
        {"text": "Không lỗi.", "reason": "Vì sao", "outcome": "maybe"},
        {"text": "", "reason": "Vì sao", "outcome": "upheld"},
    ],
)
def test_an_answer_without_a_reason_or_outcome_is_a_422(
    customer_id: uuid.UUID, fields: dict[str, str]
) -> None:
    complaint = file(customer_id)
    response = act(client_as("owner"), complaint.id, "answer", **fields)
    assert response.status_code == 422
    assert "field-errors" in response.content.decode()
    assert status_of(complaint.id) == ComplaintStatus.ACKNOWLEDGED
    assert not ComplaintMessage.objects.exists()


def test_closing_needs_an_answer(customer_id: uuid.UUID) -> None:
    complaint = file(customer_id)
    client = client_as("customer_service")
    assert 'data-action="close"' not in client.get(detail_url(complaint.id)).content.decode()
    refused = act(client, complaint.id, "close")
    assert refused.status_code == 409
    assert "This complaint cannot change this way now" in page_text(refused)
    assert status_of(complaint.id) == ComplaintStatus.ACKNOWLEDGED
    act(client, complaint.id, "answer", text="Xong.", reason="Đã hoàn tiền.", outcome="upheld")
    assert 'data-action="close"' in client.get(detail_url(complaint.id)).content.decode()
    assert act(client, complaint.id, "close").status_code == 302
    assert status_of(complaint.id) == ComplaintStatus.CLOSED
    # Closed: no more answer or message (409 from the service if a stale page posts one).
    stale = act(client, complaint.id, "message", text="Thêm một điều.")
    assert stale.status_code == 409


@pytest.mark.parametrize("amount", ["-5", "0", "abc", "1.234", "Infinity", "NaN", "", "1" * 40])
def test_a_bad_compensation_amount_is_a_422(customer_id: uuid.UUID, amount: str) -> None:
    complaint = file(customer_id)
    response = act(
        client_as("owner"), complaint.id, "compensate", amount=amount, currency="VND", reason="Hỏng"
    )
    assert response.status_code == 422
    assert "amount" in page_text(response).lower()
    assert not Compensation.objects.exists()


def test_compensation_is_recorded_with_its_amount_and_reason(customer_id: uuid.UUID) -> None:
    complaint = file(customer_id)
    client = client_as("owner")
    bad_currency = act(
        client, complaint.id, "compensate", amount="100", currency="vn", reason="Giao trễ"
    )
    assert bad_currency.status_code == 422 and not Compensation.objects.exists()
    done = act(
        client, complaint.id, "compensate", amount="500000", currency="VND", reason="Giao trễ"
    )
    assert done.status_code == 302
    (row,) = Compensation.objects.all()
    assert (str(row.amount), row.currency) == ("500000.00", "VND")
    page = page_text(client.get(detail_url(complaint.id)))
    assert "500000.00 VND" in page and "Giao trễ" in page


def test_assignment_goes_to_a_handler_only(customer_id: uuid.UUID) -> None:
    complaint = file(customer_id)
    handler = make_staff("customer_service")
    seller = make_staff("sales")
    client = client_as("owner")
    page = client.get(detail_url(complaint.id)).content.decode()
    assert handler.email in page and seller.email not in page
    refused = act(client, complaint.id, "assign", assignee=str(seller.pk))
    assert refused.status_code == 422
    assert Complaint.objects.get(pk=complaint.id).assigned_to is None
    assert act(client, complaint.id, "assign", assignee=str(handler.pk)).status_code == 302
    assert Complaint.objects.get(pk=complaint.id).assigned_to == handler.pk
    assert handler.email in page_text(client.get(detail_url(complaint.id)))
    assert act(client, complaint.id, "assign", assignee="").status_code == 302
    assert Complaint.objects.get(pk=complaint.id).assigned_to is None


def test_an_unknown_action_is_a_400(customer_id: uuid.UUID) -> None:
    complaint = file(customer_id)
    response = act(client_as("owner"), complaint.id, "delete")
    assert response.status_code == 400
    assert "No such action" in page_text(response)


def test_the_page_shows_the_sla_times_and_a_breach_plainly(customer_id: uuid.UUID) -> None:
    publish_variant(calendar_hours=24)
    with time_machine.travel(TUESDAY, tick=False):
        complaint = file(customer_id, received=TUESDAY - dt.timedelta(hours=30))
        services.escalate_due(TUESDAY)
        page = page_text(client_as("owner").get(detail_url(complaint.id)))
    assert "data-breach" in page and "The promised answer time was missed" in page
    assert 'data-mark="overdue"' in page and "overdue by 6 h 00 min" in page
    assert "within 24 hours, counted in calendar hours" in page
    assert "50 %: told" in page and "80 %: told" in page


def test_working_hours_remaining_are_counted_in_the_shops_open_time(
    customer_id: uuid.UUID,
) -> None:
    # Preset B: 24 working hours. Filed on Tuesday 9:00, due three working days later.
    with time_machine.travel(TUESDAY, tick=False):
        complaint = file(customer_id)
        page = page_text(client_as("owner").get(detail_url(complaint.id)))
    assert "24 h 00 min of working time left" in page
    assert "counted in working hours" in page


def test_resecure_is_offered_to_the_owner_for_a_verified_complaint(customer_id: uuid.UUID) -> None:
    complaint = file(customer_id)
    link = f'href="/console/customers/{customer_id}/resecure/"'
    assert link in client_as("owner").get(detail_url(complaint.id)).content.decode()
    assert link not in client_as("customer_service").get(detail_url(complaint.id)).content.decode()


def test_the_page_works_in_vietnamese(customer_id: uuid.UUID) -> None:
    complaint = file(customer_id)
    response = client_as("customer_service", lang="vi").get(detail_url(complaint.id))
    assert response.status_code == 200
    assert '<html lang="vi">' in response.content.decode()
    assert TEXT in page_text(response)
    assert client_as("owner", lang="vi").get(QUEUE).status_code == 200


# -- the dashboard ----------------------------------------------------------------------------


def test_the_dashboard_counts_open_at_risk_and_overdue_complaints(customer_id: uuid.UUID) -> None:
    publish_variant(calendar_hours=24)
    with time_machine.travel(TUESDAY, tick=False):
        file(customer_id)
        file(customer_id, received=TUESDAY - dt.timedelta(hours=13))
        file(customer_id, received=TUESDAY - dt.timedelta(hours=30))
        for role in HANDLERS:
            page = client_as(role).get("/console/").content.decode()
            stat = re.search(r'data-pending="complaints">(.*?)</div>', page, re.S)
            assert stat is not None, role
            text = " ".join(re.sub(r"<[^>]+>", " ", stat.group(1)).split())
            assert text.startswith("3 open complaints"), text
            assert "1 at risk" in text and "1 overdue" in text
            assert f'href="{QUEUE}"' in stat.group(1)
        for role in ("sales", "accounting", "auditor"):
            page = client_as(role).get("/console/").content.decode()
            assert 'data-pending="complaints"' not in page, role


def test_the_customer_page_offers_a_complaint_to_the_roles_that_handle_them(
    customer_id: uuid.UUID,
) -> None:
    link = f"/console/complaints/new/?customer={customer_id}"
    for role, purpose, shown in (
        ("customer_service", "order_fulfilment", True),
        ("owner", "complaints", True),
        ("sales", "order_fulfilment", False),
    ):
        page = client_as(role).get(f"/console/customers/{customer_id}/?purpose={purpose}")
        assert page.status_code == 200, role
        assert (link in page.content.decode()) is shown, role
