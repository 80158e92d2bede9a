"""Complaints by email (complaints/mailin.py, `pledge mail-in`).

The vetting rules run in-process through `mailin.receive` (the function the listener calls for
each message, with the message's bytes and envelope sender); the listener itself runs for real as
a `pledge mail-in` subprocess on a free port, against an installation of its own (a file or
PostgreSQL database the test process and the listener share, tests/notify/installation.py), and
real `smtplib` clients talk SMTP and LMTP to it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import smtplib
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from pledge.audit.models import AuditEvent
from pledge.complaints import mailin
from pledge.complaints.evidence import read_evidence
from pledge.complaints.models import Complaint, ComplaintEvidence
from pledge.vault.access import Actor
from pledge.vault.models import Customer, EncryptedValue, RecordKind
from pledge.vault.store import customer_key, read_values
from tests.complaints.conftest import EMAIL, TEXT
from tests.complaints.test_evidence import PDF, PNG
from tests.notify.installation import (  # noqa: F401 - fixtures
    Installation,
    installation,
    migrated_database,
)
from tests.security.helpers import PLEDGE, RESULT_MARK
from tests.smtp import smtp_server  # noqa: F401 - fixture of `installation`

AUTHSERV = "mx.shop.example"
STRANGER = "khach.la@example.vn"
SUBJECT = "Khiếu nại về email quảng cáo"


def message(
    *,
    sender: str = EMAIL,
    text: str | None = TEXT,
    html: str | None = None,
    results: str | None = "dmarc=pass header.from=example.vn",
    attachments: list[tuple[bytes, str, str]] = (),  # type: ignore[assignment]
    language: str | None = "vi",
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "khieunai@shop.example"
    msg["Subject"] = SUBJECT
    msg["Message-ID"] = f"<{uuid.uuid4()}@example.vn>"
    if results is not None:
        msg["Authentication-Results"] = f"{AUTHSERV}; {results}"
    if text is not None:
        msg.set_content(text)
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    for content, maintype_subtype, name in attachments:
        maintype, subtype = maintype_subtype.split("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    if language:
        msg["Content-Language"] = language
    return msg


@pytest.fixture
def trusted(settings: Any, tmp_path: Path) -> None:
    settings.PLEDGE_MAILIN_AUTHSERV_ID = AUTHSERV
    settings.PLEDGE_EVIDENCE_DIR = tmp_path / "evidence"


def receive(msg: EmailMessage | bytes, envelope: str | None = EMAIL) -> str:
    data = msg if isinstance(msg, bytes) else msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    return mailin.receive(data, envelope)


def refused_reasons() -> list[str]:
    return [
        json.loads(e.details)["reason"]
        for e in AuditEvent.objects.filter(type="complaints:mail_refused").order_by("seq")
    ]


# -- in-process: the rules -------------------------------------------------------------------


def test_a_verified_known_sender_files_for_their_customer_with_the_evidence(
    customer: uuid.UUID, trusted: None
) -> None:
    reply = receive(message(attachments=[(PNG, "image/png", "ảnh.png")]))
    assert reply.startswith("250 ")
    complaint = Complaint.objects.get()
    assert complaint.customer_id == customer
    assert complaint.channel == "email" and complaint.sender_verified
    text = read_values(
        customer_key(customer), RecordKind.COMPLAINT, [complaint.id], ["complaint_details"]
    )
    assert text[complaint.id]["complaint_details"] == f"{SUBJECT}\n\n{TEXT}"
    row = ComplaintEvidence.objects.get()
    _, data = read_evidence(
        actor=Actor(kind="customer", id=str(customer)),
        complaint_id=complaint.id,
        evidence_id=row.id,
    )
    assert data == PNG


def test_without_a_trusted_mail_server_nobody_is_verified(
    customer: uuid.UUID, settings: Any
) -> None:
    settings.PLEDGE_MAILIN_AUTHSERV_ID = ""
    assert receive(message()).startswith("250 ")
    complaint = Complaint.objects.get()
    assert complaint.customer_id != customer and not complaint.sender_verified


def test_a_header_from_another_server_does_not_verify(customer: uuid.UUID, trusted: None) -> None:
    msg = message(results=None)
    msg["Authentication-Results"] = "mx.attacker.example; dmarc=pass"
    assert receive(msg).startswith("250 ")
    assert Complaint.objects.get().customer_id != customer


@pytest.mark.parametrize(
    "results",
    [
        # security review: a pass hidden in a comment or a value the attacker chose
        "spf=pass (domain of dmarc=pass@attacker.example) smtp.mailfrom=attacker.example; "
        "dmarc=none",
        "spf=neutral smtp.mailfrom=dmarc=pass@attacker.example",
        # a DMARC pass for another domain than the From address's
        "dmarc=pass header.from=attacker.example",
    ],
)
def test_a_pass_the_attacker_wrote_does_not_verify(
    customer: uuid.UUID, trusted: None, results: str
) -> None:
    reply = receive(message(results=results), envelope="dmarc=pass@attacker.example")
    # the From is not the envelope sender and no genuine DMARC pass vouches for it
    assert reply.startswith("550 ")
    assert not Complaint.objects.exists()


def test_spf_pass_with_the_from_equal_to_the_envelope_verifies(
    customer: uuid.UUID, trusted: None
) -> None:
    assert receive(message(results="spf=pass smtp.mailfrom=example.vn")).startswith("250 ")
    assert Complaint.objects.get().customer_id == customer


def test_an_unknown_sender_becomes_a_new_complainant_in_its_language(
    customer: uuid.UUID, trusted: None
) -> None:
    reply = receive(message(sender=STRANGER, language="en-GB"), envelope=STRANGER)
    assert reply.startswith("250 ")
    complaint = Complaint.objects.get()
    assert complaint.customer_id != customer
    new = Customer.objects.get(pk=complaint.customer_id)
    assert new.language == "en"
    kept = read_values(customer_key(new.pk), RecordKind.COMPLAINT, [new.pk], ["email"])[new.pk]
    assert kept == {"email": STRANGER}


def test_an_html_only_body_is_reduced_to_its_text(leman: Any, trusted: None) -> None:
    html = (
        "<html><head><style>p{color:red}</style><script>alert('x')</script></head>"
        "<body><p>Tôi bị <b>làm phiền</b> &amp; muốn khiếu nại.</p><p>Cảm ơn</p></body></html>"
    )
    assert receive(message(sender=STRANGER, text=None, html=html), STRANGER).startswith("250 ")
    complaint = Complaint.objects.get()
    text = read_values(
        customer_key(uuid.UUID(str(complaint.customer_id))),
        RecordKind.COMPLAINT,
        [complaint.id],
        ["complaint_details"],
    )[complaint.id]["complaint_details"]
    assert text == f"{SUBJECT}\n\nTôi bị làm phiền & muốn khiếu nại.\n\nCảm ơn"


def test_a_long_text_is_shortened_saying_so_and_kept_whole_as_evidence(
    leman: Any, trusted: None
) -> None:
    long_text = "Nội dung khiếu nại dài. " * 200
    assert receive(message(sender=STRANGER, text=long_text, language="en"), STRANGER).startswith(
        "250"
    )
    complaint = Complaint.objects.get()
    customer_id = uuid.UUID(str(complaint.customer_id))
    text = read_values(
        customer_key(customer_id), RecordKind.COMPLAINT, [complaint.id], ["complaint_details"]
    )[complaint.id]["complaint_details"]
    assert len(text) <= 2000
    assert text.endswith("its full text is attached as evidence.)")
    row = ComplaintEvidence.objects.get()
    _, data = read_evidence(
        actor=Actor(kind="customer", id=str(customer_id)),
        complaint_id=complaint.id,
        evidence_id=row.id,
    )
    assert row.content_type == "text/plain" and long_text.strip() in data.decode()


def test_a_refused_attachment_is_skipped_and_the_complaint_stands(
    leman: Any, trusted: None, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.PLEDGE_EVIDENCE_MAX_FILES = 1
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(range(256))
    msg = message(
        sender=STRANGER,
        attachments=[
            (exe, "application/pdf", "hoa-don.pdf"),
            (PDF, "application/pdf", "a.pdf"),
            (PNG, "image/png", "b.png"),
        ],
    )
    with caplog.at_level(logging.INFO, logger="pledge.complaints.mailin"):
        assert receive(msg, STRANGER).startswith("250 ")
    complaint = Complaint.objects.get()
    assert list(ComplaintEvidence.objects.values_list("content_type", flat=True)) == [
        "application/pdf"
    ]
    assert refused_reasons() == ["attachment:file_type", "attachment:max_files"]
    event = AuditEvent.objects.filter(type="complaints:mail_refused").order_by("seq").first()
    assert event is not None and event.record == f"complaint:{complaint.id}"
    assert "skipped an attachment" in caplog.text and "file_type" in caplog.text
    assert STRANGER not in caplog.text and "hoa-don" not in caplog.text


def _raw(headers: str, body: str = "Xin chào, tôi muốn khiếu nại.") -> bytes:
    return (headers.replace("\n", "\r\n") + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


PLAIN = "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit"
MALFORMED = [
    ("no_from", _raw(f"To: khieunai@shop.example\nSubject: x\n{PLAIN}")),
    ("bad_from", _raw(f"From: not an address\nSubject: x\n{PLAIN}")),
    ("bad_from", _raw(f"From: a@example.vn, b@example.vn\n{PLAIN}")),
    ("no_text", _raw(f"From: {EMAIL}\n{PLAIN}", body="  \n ")),
    ("undecodable", _raw(f"From: {EMAIL}\nContent-Type: text/plain; charset=x-klingon")),
    (
        "undecodable",
        f"From: {EMAIL}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n".encode()
        + b"\xff\xfe\xfa",
    ),
    (
        "no_text",
        _raw(
            f"From: {EMAIL}\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b",
            "--b\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\n"
            "iVBORw0KGgo=\n--b--\n",
        ),
    ),
]
FORGED = [
    ("several_from", _raw(f"From: {EMAIL}\nFrom: {STRANGER}\n{PLAIN}")),
    ("header_injection", f"From: {EMAIL}\r\nSubject: hi\nBcc: x@example.vn\r\n\r\nbody".encode()),
    (
        "header_injection",
        _raw(f"From: {EMAIL}\nSubject: =?utf-8?q?hi=0D=0ABcc=3A_x=40example=2Evn?=\n{PLAIN}"),
    ),
    ("envelope_mismatch", _raw(f"From: {STRANGER}\n{PLAIN}")),
    ("dmarc_fail", _raw(f"From: {EMAIL}\nAuthentication-Results: {AUTHSERV}; dmarc=fail\n{PLAIN}")),
    (
        "spf_dkim_fail",
        _raw(f"From: {EMAIL}\nAuthentication-Results: {AUTHSERV}; spf=fail; dkim=none\n{PLAIN}"),
    ),
]


def _nested(depth: int) -> bytes:
    """A message whose multiparts nest `depth` deep (security review: RecursionError → 451)."""
    head = f"From: {EMAIL}\nSubject: x\nMIME-Version: 1.0\n"
    body = "Xin chào"
    for level in range(depth):
        body = (
            f"Content-Type: multipart/mixed; boundary=b{level}\n\n--b{level}\n{body}\n--b{level}--"
        )
    return _raw(head + body.split("\n\n", 1)[0], body.split("\n\n", 1)[1])


def _many_parts(count: int) -> bytes:
    msg = message()
    for n in range(count):
        msg.add_attachment(b"x", maintype="text", subtype="plain", filename=f"{n}.txt")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


MALFORMED += [("too_deep", _nested(3000)), ("too_many_parts", _many_parts(60))]


@pytest.mark.parametrize(
    ("rule", "data"), MALFORMED + FORGED, ids=[r for r, _ in MALFORMED + FORGED]
)
def test_malformed_and_forged_mail_is_refused_with_a_log_line_and_nothing_stored(
    customer: uuid.UUID, trusted: None, caplog: pytest.LogCaptureFixture, rule: str, data: bytes
) -> None:
    customers = Customer.objects.count()
    values = EncryptedValue.objects.count()
    with caplog.at_level(logging.WARNING, logger="pledge.complaints.mailin"):
        reply = receive(data, EMAIL)
    expected = "554 5.6.0" if (rule, data) in MALFORMED else "550 5.7.1"
    assert reply.startswith(expected), reply
    assert f"mail-in refused a message ({len(data)} bytes): {rule}:" in caplog.text
    assert (
        EMAIL not in caplog.text and STRANGER not in caplog.text and "khiếu nại" not in caplog.text
    )
    assert not Complaint.objects.exists()
    assert Customer.objects.count() == customers and EncryptedValue.objects.count() == values
    assert refused_reasons() == [rule]
    event = AuditEvent.objects.get(type="complaints:mail_refused")
    assert event.customer_id is None and json.loads(event.details)["size"] == len(data)


def test_attachments_beyond_what_a_complaint_holds_are_left_out_in_one_event(
    customer: uuid.UUID, trusted: None, settings: Any
) -> None:
    settings.PLEDGE_EVIDENCE_MAX_FILES = 2
    text = "Bằng chứng".encode()
    msg = message(attachments=[(text, "text/plain", f"{n}.txt") for n in range(6)])
    assert receive(msg).startswith("250 ")
    complaint = Complaint.objects.get()
    assert complaint.evidence.count() == 2
    # one summary event for the four left out, not one event (and one write) per part
    assert refused_reasons() == ["attachment:max_files"]


def test_a_bounce_is_not_a_complaint(customer: uuid.UUID, trusted: None) -> None:
    assert receive(message(), envelope="").startswith("554 5.6.0")
    assert refused_reasons() == ["null_sender"] and not Complaint.objects.exists()


def test_an_unexpected_error_is_a_temporary_failure_logged_without_personal_data(
    customer: uuid.UUID,
    trusted: None,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The one stand-in of this module: a fault no real input can trigger on demand.
    def broken(**kwargs: Any) -> Any:
        raise RuntimeError(f"boom for {kwargs['email']}")

    monkeypatch.setattr(mailin.intake, "complainant_for", broken)
    with caplog.at_level(logging.ERROR, logger="pledge.complaints.mailin"):
        assert receive(message()).startswith("451 4.3.0")
    assert "mail-in could not file a message: RuntimeError at " in caplog.text
    assert EMAIL not in caplog.text and not Complaint.objects.exists()


# -- the real listener: `pledge mail-in` -----------------------------------------------------

SETUP = f"""
import json
from pledge.vault import services as vault
from pledge.vault.access import Actor
api = Actor(kind="api", id="test", purposes=frozenset({{"order_fulfilment"}}))
cid = vault.collect_customer(
    actor=api,
    purpose="order_fulfilment",
    fields={{"full_name": "Nguyễn Thị Hồng Nhung", "email": {EMAIL!r}}},
)
print({RESULT_MARK!r} + json.dumps(str(cid)))
"""

OUTCOME = f"""
import json, uuid
from pledge.audit.models import AuditEvent
from pledge.complaints.evidence import evidence_dir, read_evidence
from pledge.complaints.models import Complaint, ComplaintEvidence
from pledge.vault.access import Actor
out = {{"complaints": [], "refused": [
    json.loads(e.details)["reason"]
    for e in AuditEvent.objects.filter(type="complaints:mail_refused").order_by("seq")
]}}
for c in Complaint.objects.order_by("received_at"):
    files = []
    for row in ComplaintEvidence.objects.filter(complaint=c):
        raw = (evidence_dir() / row.storage_name).read_bytes()
        actor = Actor(kind="customer", id=str(c.customer_id))
        _, data = read_evidence(actor=actor, complaint_id=c.id, evidence_id=row.id)
        files.append({{"type": row.content_type, "raw": raw.hex(), "data": data.hex()}})
    out["complaints"].append(
        {{"customer": str(c.customer_id), "channel": c.channel, "verified": c.sender_verified,
          "files": files}}
    )
print({RESULT_MARK!r} + json.dumps(out))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def shop(installation: Installation) -> tuple[Installation, str]:  # noqa: F811
    installation.pledge("policy", "publish", "leman-jewelry", "--actor", "test")
    customer = installation.script(SETUP)
    assert isinstance(customer, str)
    return installation, customer


@contextlib.contextmanager
def listen(inst: Installation, *args: str) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    port = free_port()
    process = subprocess.Popen(
        [str(PLEDGE), "mail-in", "--port", str(port), *args],
        env={
            **inst.env,
            "PLEDGE_MAILIN_AUTHSERV_ID": AUTHSERV,
            "PLEDGE_MAILIN_MAX_BYTES": "65536",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # ready when it accepts a connection
            assert process.poll() is None, process.communicate()[1]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "pledge mail-in did not start listening"
                time.sleep(0.05)
        yield port, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.communicate(timeout=30)


def log_of(process: subprocess.Popen[str]) -> str:
    """Stop the listener (SIGTERM) and return its log."""
    process.terminate()
    _, stderr = process.communicate(timeout=30)
    return stderr


def test_pledge_mail_in_over_smtp(shop: tuple[Installation, str]) -> None:
    inst, customer = shop
    with listen(inst) as (port, process):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            # 1. A known, verified sender with a PDF: their complaint, the PDF encrypted.
            assert (
                client.send_message(message(attachments=[(PDF, "application/pdf", "hd.pdf")])) == {}
            )
            # 2. Malformed: no text at all.
            bad = _raw(f"From: {EMAIL}\n{PLAIN}", body=" ")
            with pytest.raises(smtplib.SMTPDataError) as malformed:
                client.sendmail(EMAIL, ["khieunai@shop.example"], bad)
            assert malformed.value.smtp_code == 554
            # 3. An attachment that makes the message too large: 552, before anything is stored.
            big = message(attachments=[(PNG + b"\x00" * 70_000, "image/png", "big.png")])
            with pytest.raises(smtplib.SMTPException) as oversized:
                client.send_message(big)
            assert getattr(oversized.value, "smtp_code", None) == 552
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            # 4. Forged: a From other than the envelope sender, without a DMARC pass.
            forged = message(sender=STRANGER, results="dmarc=none")
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.send_message(forged, from_addr=EMAIL)
            assert refused.value.smtp_code == 550
            # 5. An unknown sender: a new complainant.
            assert client.send_message(message(sender=STRANGER, results=None)) == {}
        log = log_of(process)
    outcome = inst.script(OUTCOME)
    [known, unknown] = outcome["complaints"]
    assert known["customer"] == customer and known["verified"] and known["channel"] == "email"
    [pdf] = known["files"]
    assert pdf["type"] == "application/pdf" and bytes.fromhex(pdf["data"]) == PDF
    assert PDF not in bytes.fromhex(pdf["raw"]) and b"%PDF" not in bytes.fromhex(pdf["raw"])
    assert unknown["customer"] != customer and not unknown["verified"]
    assert outcome["refused"] == ["no_text", "too_large", "envelope_mismatch"]
    assert ": no_text: the message has no text" in log
    assert "too_large: the message is over 65536 bytes" in log
    assert ": envelope_mismatch: the From address is not the envelope sender" in log
    assert "mail-in filed complaint" in log and "Traceback" not in log and "mail.log" not in log
    assert EMAIL not in log and STRANGER not in log and "khiếu nại" not in log.lower()


def test_pledge_mail_in_over_lmtp(shop: tuple[Installation, str]) -> None:
    inst, customer = shop
    with listen(inst, "--lmtp") as (port, process):
        with smtplib.LMTP("127.0.0.1", port, timeout=30) as client:
            assert client.send_message(message(attachments=[(PNG, "image/png", "a.png")])) == {}
        log = log_of(process)
    [complaint] = inst.script(OUTCOME)["complaints"]
    assert complaint["customer"] == customer and complaint["verified"]
    assert [bytes.fromhex(f["data"]) for f in complaint["files"]] == [PNG]
    assert "listening for LMTP" in log
