"""The customer's complaints in the privacy center, /me/complaints/ (issue 7 item 4; P21, P22):
list, new (text and evidence), the full thread with the answer and its reason, reply, reopen;
only ever the customer's own complaints and files.

Signed in through the real login page (tests/portal/conftest.py), preset B (leman).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from pledge.accounts.models import CustomerAccount
from pledge.audit.models import AuditEvent
from pledge.complaints import handling, services
from pledge.complaints.models import Complaint, ComplaintEvidence, ComplaintMessage
from pledge.vault.access import Actor
from tests.portal.conftest import customer_client, english, make_account

LIST = "/me/complaints/"
NEW = "/me/complaints/new/"
CS = Actor(kind="staff", id="7", role="customer_service")
TEXT = "Tôi nhận được tin nhắn quảng cáo dù đã từ chối nhận."
# A real PNG: the evidence's type is detected from its bytes.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


def text_of(response: Any) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def without_csrf(response: Any) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


def me(account: CustomerAccount) -> Actor:
    return Actor(kind="customer", id=str(account.customer_id))


def file(account: CustomerAccount, text: str = TEXT) -> Complaint:
    return services.file_complaint(
        actor=me(account),
        customer_id=uuid.UUID(str(account.customer_id)),
        channel="privacy_center",
        text=text,
    )


def png(name: str = "proof.png", data: bytes = PNG, content_type: str = "image/png") -> Any:
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture(autouse=True)
def evidence_dir(settings: Any, tmp_path: Path) -> Path:
    settings.PLEDGE_EVIDENCE_DIR = tmp_path / "evidence"
    return Path(settings.PLEDGE_EVIDENCE_DIR)


@pytest.fixture
def account(leman: Any) -> CustomerAccount:
    return make_account("an@example.com")


@pytest.fixture
def client(account: CustomerAccount) -> Client:
    return customer_client(account)


@pytest.fixture
def other(leman: Any) -> CustomerAccount:
    return make_account("binh@example.com")


# -- signed out --------------------------------------------------------------------------------


def test_a_signed_out_visitor_is_sent_to_sign_in(account: CustomerAccount) -> None:
    complaint = file(account)
    evidence_url = f"{LIST}{complaint.id}/evidence/{uuid.uuid4()}/"
    for url in (LIST, NEW, f"{LIST}{complaint.id}/", evidence_url):
        response = english().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/me/login/?next=")
    response = english().post(f"{LIST}{complaint.id}/", {"action": "reply", "text": "hi"})
    assert response.status_code == 302
    assert not ComplaintMessage.objects.exists()


# -- filing --------------------------------------------------------------------------------------


def test_a_customer_files_a_complaint_with_evidence_and_follows_it(
    account: CustomerAccount, client: Client, evidence_dir: Path
) -> None:
    page = client.get(NEW)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="complaint-form"' in html and 'enctype="multipart/form-data"' in html
    assert 'name="evidence"' in html and 'type="file"' in html

    response = client.post(NEW, {"text": TEXT, "evidence": png()})
    complaint = Complaint.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{LIST}{complaint.id}/"
    assert complaint.channel == "privacy_center"
    assert str(complaint.customer_id) == str(account.customer_id)
    assert complaint.sender_verified
    stored = ComplaintEvidence.objects.get(complaint=complaint)
    # Encrypted at rest: the file on disk is not the PNG.
    assert PNG not in (evidence_dir / stored.storage_name).read_bytes()

    listing = client.get(LIST)
    assert listing.status_code == 200
    assert listing["Cache-Control"] == "no-store"
    assert str(complaint.id)[:8] in text_of(listing)
    assert "Acknowledged" in text_of(listing)

    detail = client.get(response["Location"])
    assert detail.status_code == 200
    assert TEXT in text_of(detail)
    url = f"{LIST}{complaint.id}/evidence/{stored.id}/"
    assert url in detail.content.decode()
    download = client.get(url)
    assert download.status_code == 200
    assert download.content == PNG
    assert download["Content-Type"] == "image/png"
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert AuditEvent.objects.filter(type="complaints:evidence_read").count() == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("   ", "Write what happened."),
        ("x" * 2001, "longer than 2000 characters"),
        ("bad \x07 bell", "control characters"),
        ("broken \ufffd bytes", "could not be read (not UTF-8)"),
    ],
)
def test_bad_text_is_refused_and_nothing_is_filed(client: Client, text: Any, message: str) -> None:
    response = client.post(NEW, {"text": text})
    assert response.status_code == 400
    assert message in text_of(response)
    assert not Complaint.objects.exists()


def test_a_bad_file_is_refused_and_nothing_is_filed(
    client: Client, settings: Any, evidence_dir: Path
) -> None:
    settings.PLEDGE_EVIDENCE_MAX_BYTES = 64
    too_big = client.post(NEW, {"text": TEXT, "evidence": png(data=PNG + b"\0" * 64)})
    assert too_big.status_code == 400
    assert "The file is larger than" in text_of(too_big)
    settings.PLEDGE_EVIDENCE_MAX_BYTES = 1024 * 1024
    program = png("run.exe", b"MZ\x90\x00" + bytes(range(256)), "application/octet-stream")
    wrong_type = client.post(NEW, {"text": TEXT, "evidence": program})
    assert wrong_type.status_code == 415
    assert "JPEG, PNG or WebP image, a PDF or plain text" in text_of(wrong_type)
    mismatch = client.post(NEW, {"text": TEXT, "evidence": png("a.pdf", PNG, "application/pdf")})
    assert mismatch.status_code == 422
    assert "does not match its type" in text_of(mismatch)
    assert not Complaint.objects.exists()
    assert not ComplaintEvidence.objects.exists()
    assert not any(p.suffix == ".evd" for p in evidence_dir.glob("*"))


# -- another customer's ------------------------------------------------------------------------


def test_another_customers_complaint_and_files_are_not_found(
    account: CustomerAccount, client: Client, other: CustomerAccount
) -> None:
    theirs = file(other, "Khiếu nại riêng của Bình")
    row = handling.evidence_of(theirs)
    from pledge.complaints.evidence import store_evidence

    evidence = store_evidence(
        actor=me(other),
        complaint_id=theirs.id,
        filename="b.png",
        content=PNG,
        content_type="image/png",
    )
    assert row == []
    unknown = client.get(f"{LIST}{uuid.uuid4()}/")
    foreign = client.get(f"{LIST}{theirs.id}/")
    assert unknown.status_code == foreign.status_code == 404
    assert without_csrf(unknown) == without_csrf(foreign)
    assert "Bình" not in foreign.content.decode()
    assert client.get(f"{LIST}{theirs.id}/evidence/{evidence.id}/").status_code == 404
    mine = file(account)
    # My complaint's URL with their file's id: still not found.
    assert client.get(f"{LIST}{mine.id}/evidence/{evidence.id}/").status_code == 404
    reply = client.post(f"{LIST}{theirs.id}/", {"action": "reply", "text": "xin chào"})
    assert reply.status_code == 404
    assert not ComplaintMessage.objects.filter(complaint=theirs).exists()
    assert str(theirs.id)[:8] not in text_of(client.get(LIST))
    assert not AuditEvent.objects.filter(type="complaints:evidence_read").exists()


# -- the thread ----------------------------------------------------------------------------------


def test_the_answer_its_reason_and_compensation_show_and_notes_do_not(
    account: CustomerAccount, client: Client
) -> None:
    complaint = file(account)
    handling.add_note(actor=CS, complaint_id=complaint.id, text="Kiểm tra danh sách gửi tin")
    handling.send_message(actor=CS, complaint_id=complaint.id, text="Chúng tôi đang kiểm tra.")
    handling.answer(
        actor=CS,
        complaint_id=complaint.id,
        text="Chúng tôi đã gỡ số của bạn khỏi danh sách.",
        reason="Tin nhắn được gửi do lỗi đồng bộ danh sách từ chối.",
        outcome="upheld",
    )
    handling.compensate(
        actor=CS, complaint_id=complaint.id, amount="200000", currency="VND", reason="Xin lỗi"
    )
    page = client.get(f"{LIST}{complaint.id}/")
    assert page.status_code == 200
    text = text_of(page)
    assert "Chúng tôi đang kiểm tra." in text
    assert "Chúng tôi đã gỡ số của bạn khỏi danh sách." in text
    assert "Tin nhắn được gửi do lỗi đồng bộ danh sách từ chối." in text
    assert "Upheld" in text and "Answered" in text
    assert "200000" in text and "VND" in text
    assert "Kiểm tra danh sách gửi tin" not in text
    assert 'id="reopen-form"' in page.content.decode()


def test_a_reply_and_a_reopen_with_its_reason(account: CustomerAccount, client: Client) -> None:
    complaint = file(account)
    url = f"{LIST}{complaint.id}/"
    assert 'id="reopen-form"' not in client.get(url).content.decode()
    empty = client.post(url, {"action": "reply", "text": ""})
    assert empty.status_code == 400 and "Write what happened." in text_of(empty)
    sent = client.post(url, {"action": "reply", "text": "Thêm: tin nhắn lúc 21:00."})
    assert sent.status_code == 302
    assert "Thêm: tin nhắn lúc 21:00." in text_of(client.get(url))
    # Not answered yet: nothing to reopen.
    early = client.post(url, {"action": "reopen", "text": "Chưa ổn"})
    assert early.status_code == 409
    handling.answer(
        actor=CS, complaint_id=complaint.id, text="Đã xử lý.", reason="Lỗi.", outcome="upheld"
    )
    no_reason = client.post(url, {"action": "reopen", "text": " "})
    assert no_reason.status_code == 400
    complaint.refresh_from_db()
    assert complaint.status == "answered"
    reopened = client.post(url, {"action": "reopen", "text": "Tôi vẫn nhận tin nhắn."})
    assert reopened.status_code == 302
    complaint.refresh_from_db()
    assert complaint.status == "reopened" and complaint.reopen_count == 1
    unknown = client.post(url, {"action": "delete"})
    assert unknown.status_code == 400 and "Unknown action" in text_of(unknown)


def test_a_closed_complaint_takes_no_reply(account: CustomerAccount, client: Client) -> None:
    complaint = file(account)
    handling.answer(
        actor=CS, complaint_id=complaint.id, text="Đã xử lý.", reason="Lỗi.", outcome="upheld"
    )
    handling.close(actor=CS, complaint_id=complaint.id)
    url = f"{LIST}{complaint.id}/"
    assert 'id="reply-form"' not in client.get(url).content.decode()
    response = client.post(url, {"action": "reply", "text": "Còn một việc"})
    assert response.status_code == 409
    assert "This complaint is closed" in text_of(response)
    assert not ComplaintMessage.objects.filter(complaint=complaint, kind="customer").exists()
