"""The public complaint form, /complaint/, and a complaint's status link, /complaint/s/<token>/
(issue 7 items 1 and 4; P21, P22): no account, throttled, spam-resistant without a third-party
captcha (honeypot, signed time token), bad input answered with a clear 4xx and nothing filed; the
status link shows its own complaint only, and any other token one "not valid" page.

Real parts: the Django test client through the full middleware (sessions, CSRF), the outbox
delivered to a real SMTP server (`mailbox`), preset B (leman).
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from pledge.complaints import handling, links
from pledge.complaints.evidence import store_evidence
from pledge.complaints.forms import form_token
from pledge.complaints.models import Complaint, ComplaintEvidence, ComplaintMessage
from pledge.notify.models import OutboxMessage
from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import LoadedPolicy, load_policy
from pledge.policy.schema import Policy
from pledge.policy.services import publish_policy
from pledge.vault.access import Actor
from pledge.vault.models import Customer, EncryptedValue
from tests.complaints.conftest import EMAIL, TEXT
from tests.smtp import Mailbox, body_of, deliver_outbox

FORM = "/complaint/"
ADDRESS = "203.0.113.9"
TYPED = "khach.moi@example.vn"
CS = Actor(kind="staff", id="7", role="customer_service")
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


def browser() -> Client:
    return Client(headers={"accept-language": "en"})


def served(seconds_ago: float = 10) -> str:
    """The time token of a form served `seconds_ago` (no waiting in tests)."""
    return form_token(time.time() - seconds_ago)


def send(
    client: Client | None = None,
    *,
    text: Any = TEXT,
    email: str = TYPED,
    started: str | None = None,
    address: str = ADDRESS,
    **more: Any,
) -> Any:
    data = {"text": text, "email": email, "started": served() if started is None else started}
    data.update(more)
    return (client or browser()).post(FORM, data, REMOTE_ADDR=address)


def text_of(response: Any) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def status_link(response: Any) -> str:
    found = re.search(
        r'id="status-link" href="http://testserver(/complaint/s/[^"]+/)"', response.content.decode()
    )
    assert found, "no status link on the page"
    return found.group(1)


def without_csrf(response: Any) -> str:
    """The page without its CSRF token and the language switch's way back (the URL asked)."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())
    return re.sub(r'name="next" value="[^"]+"', "", html)


def nothing_filed() -> bool:
    return not Complaint.objects.exists() and not OutboxMessage.objects.exists()


@pytest.fixture(autouse=True)
def evidence_dir(settings: Any, tmp_path: Path) -> Path:
    settings.PLEDGE_EVIDENCE_DIR = tmp_path / "evidence"
    return Path(settings.PLEDGE_EVIDENCE_DIR)


@pytest.fixture
def policy(leman: Any, settings: Any) -> Any:
    # Emails link to the public address (the status link in the acknowledgement).
    settings.PLEDGE_PUBLIC_URL = "http://testserver"
    return leman


def publish_without_complaint_email() -> None:
    """Preset B, but the policy keeps no email on complaint records (P01)."""
    loaded = load_policy("leman-jewelry")
    data = loaded.policy.model_dump(mode="python", exclude_none=True)
    for field in data["fields"]:
        if field["key"] == "email":
            field["records"] = [r for r in field["records"] if r != "complaint"]
    data["version"] = "test-no-complaint-email"
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


# -- the form ------------------------------------------------------------------------------------


def test_the_form_asks_for_the_text_an_email_and_a_file_and_hides_a_honeypot(policy: Any) -> None:
    response = browser().get(FORM)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="complaint-form"' in html and 'enctype="multipart/form-data"' in html
    assert 'name="text"' in html and 'name="email"' in html and 'type="file"' in html
    # The honeypot is a text input hidden by CSS and from screen readers, not type=hidden.
    honeypot = re.search(r'<input[^>]*name="website"[^>]*>', html)
    assert honeypot and 'type="text"' in honeypot.group(0) and 'tabindex="-1"' in honeypot.group(0)
    assert '<div class="visually-hidden" aria-hidden="true">' in html
    assert re.search(r'<input type="hidden" name="started" value="[^"]+"', html)
    assert response["Cache-Control"] == "no-store"


def test_the_sign_in_and_request_pages_link_to_the_form(policy: Any) -> None:
    for page in ("/me/login/", "/request/"):
        assert f'href="{FORM}"' in browser().get(page).content.decode()


def test_a_complaint_is_filed_once_and_the_acknowledgement_carries_the_link(
    policy: Any, mailbox: Mailbox
) -> None:
    customers = Customer.objects.count()
    response = send()
    assert response.status_code == 200, text_of(response)
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cache-Control"] == "no-store"
    complaint = Complaint.objects.get()
    assert complaint.channel == "web_form"
    assert not complaint.sender_verified
    # A new complainant customer: a typed address never reaches anyone's data.
    assert Customer.objects.count() == customers + 1
    path = status_link(response)
    assert links.read_token(path.split("/")[3]).complaint_id == complaint.id
    assert "Keep this link" in text_of(response)
    # The address is kept encrypted only: never as plaintext in a row.
    assert not EncryptedValue.objects.filter(ciphertext__contains=TYPED.encode()).exists()

    deliver_outbox()
    [message] = mailbox.wait_for(1)
    assert message["To"] == TYPED
    assert path in body_of(message)

    page = browser().get(path)
    assert page.status_code == 200
    assert TEXT in text_of(page)
    assert page["Referrer-Policy"] == "no-referrer"
    assert page["Cache-Control"] == "no-store"
    assert page["X-Robots-Tag"].startswith("noindex")


def test_a_known_customers_address_typed_on_the_form_files_against_a_new_complainant(
    customer: uuid.UUID,
) -> None:
    response = send(email=EMAIL)
    assert response.status_code == 200
    complaint = Complaint.objects.get()
    assert complaint.customer_id != customer


def test_without_an_email_in_the_policy_the_form_says_to_keep_the_link(policy: Any) -> None:
    publish_without_complaint_email()
    page = browser().get(FORM)
    assert 'name="email"' not in page.content.decode()
    assert "keep it, it is the only way to read the shop's answer" in text_of(page)
    response = send()
    assert response.status_code == 200
    complaint = Complaint.objects.get()
    # The email posted anyway was neither kept nor written to.
    assert not OutboxMessage.objects.exists()
    assert status_link(response)
    assert "sent to the email address you gave" not in text_of(response)
    assert EncryptedValue.objects.filter(record_id=complaint.customer_id).count() == 0


# -- spam and throttling -------------------------------------------------------------------------


def test_a_filled_honeypot_gets_the_same_page_and_files_nothing(
    policy: Any, caplog: pytest.LogCaptureFixture
) -> None:
    customers = Customer.objects.count()
    response = send(website="http://spam.example")
    assert response.status_code == 200
    assert "Keep this link" in text_of(response)
    assert nothing_filed()
    assert Customer.objects.count() == customers
    assert "honeypot" in caplog.text and TYPED not in caplog.text
    # The link it was shown leads nowhere.
    assert browser().get(status_link(response)).status_code == 404


@pytest.mark.parametrize(
    ("started", "message"),
    [
        (lambda: served(0.5), "sent too quickly"),
        (lambda: served(7 * 3600), "too old or damaged"),
        (lambda: "", "too old or damaged"),
        (lambda: served() + "x", "too old or damaged"),
        (lambda: "not-a-token:abc", "too old or damaged"),
    ],
)
def test_a_form_sent_too_fast_or_too_late_is_refused(
    policy: Any, started: Any, message: str
) -> None:
    response = send(started=started())
    assert response.status_code == 400
    assert message in text_of(response)
    assert "send it again" in text_of(response)
    assert nothing_filed()
    # Served again with a valid token and what was typed.
    assert TEXT in response.content.decode()


def test_a_form_files_once_and_a_replayed_post_files_nothing(policy: Any) -> None:
    """Security review: a token fetched once must not file again and again for six hours."""
    token = served()
    assert send(started=token).status_code == 200
    assert Complaint.objects.count() == 1
    again = send(started=token, address="198.51.100.7", email="khac@example.vn")
    assert again.status_code == 400
    assert "already sent" in text_of(again)
    assert Complaint.objects.count() == 1
    # served again with a new token, not the spent one
    assert token not in again.content.decode()
    # a tampered token spends nothing and files nothing
    assert send(started=token[:-2] + "xx").status_code == 400
    assert Complaint.objects.count() == 1


def test_the_form_is_throttled_per_address_and_per_email(policy: Any, settings: Any) -> None:
    settings.PLEDGE_LOGIN_MAX_FAILURES = 2
    assert send(email="a@example.vn").status_code == 200
    assert send(email="b@example.vn").status_code == 200
    # Third from the same address: refused, whatever the email.
    refused = send(email="c@example.vn")
    assert refused.status_code == 429
    assert "Too many complaints" in text_of(refused)
    assert Complaint.objects.count() == 2
    # The same email from elsewhere: counted per email too.
    assert send(email="d@example.vn", address="198.51.100.1").status_code == 200
    assert send(email="d@example.vn", address="198.51.100.2").status_code == 200
    assert send(email="d@example.vn", address="198.51.100.3").status_code == 429
    assert Complaint.objects.count() == 4


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": ""}, "Write what happened."),
        ({"text": "x" * 2001}, "longer than 2000 characters"),
        ({"text": "a\x07b"}, "control characters"),
        ({"text": "a\x00b"}, "Null characters are not allowed."),
        ({"email": "not-an-address"}, "Enter a valid email address."),
        ({"email": "a@" + "b" * 300 + ".vn"}, "Enter a valid email address."),
    ],
)
def test_bad_input_is_named_and_nothing_is_filed(
    policy: Any, fields: dict[str, str], message: str
) -> None:
    response = send(**fields)
    assert response.status_code == 400
    assert message in text_of(response)
    assert nothing_filed()


def test_text_in_another_encoding_is_refused(policy: Any) -> None:
    body = f"text=Khi%E1%BA%BFu+n%E1%BA%A1i+%FF%FE&email=&started={served()}"
    response = browser().post(
        FORM, body, content_type="application/x-www-form-urlencoded", REMOTE_ADDR=ADDRESS
    )
    assert response.status_code == 400
    assert "could not be read (not UTF-8)" in text_of(response)
    assert nothing_filed()


def test_bad_evidence_is_refused_and_nothing_is_filed(
    policy: Any, settings: Any, evidence_dir: Path
) -> None:
    settings.PLEDGE_EVIDENCE_MAX_BYTES = 64
    big = SimpleUploadedFile("p.png", PNG + b"\0" * 64, content_type="image/png")
    assert "larger than" in text_of(send(evidence=big))
    settings.PLEDGE_EVIDENCE_MAX_BYTES = 1024 * 1024
    program = SimpleUploadedFile(
        "x.exe", b"MZ\x90\x00" + bytes(range(256)), "application/x-msdownload"
    )
    refused = send(evidence=program)
    assert refused.status_code == 415
    assert "a PDF or plain text" in text_of(refused)
    assert nothing_filed()
    assert not ComplaintEvidence.objects.exists()
    ok = send(evidence=SimpleUploadedFile("p.png", PNG, content_type="image/png"))
    assert ok.status_code == 200
    assert ComplaintEvidence.objects.get().complaint == Complaint.objects.get()


# -- the status link -----------------------------------------------------------------------------


def filed(text: str, email: str) -> tuple[Complaint, str]:
    response = send(text=text, email=email, address=f"192.0.2.{uuid.uuid4().int % 250}")
    assert response.status_code == 200
    path = status_link(response)
    complaint = Complaint.objects.get(pk=links.read_token(path.split("/")[3]).complaint_id)
    return complaint, path


def test_a_status_link_shows_its_own_complaint_only(policy: Any) -> None:
    _, a_path = filed("Khiếu nại A: tin nhắn rác", "a@example.vn")
    b, b_path = filed("Khiếu nại B: lộ số điện thoại", "b@example.vn")
    page = browser().get(a_path)
    assert "Khiếu nại A" in text_of(page) and "Khiếu nại B" not in text_of(page)
    evidence = store_evidence(
        actor=Actor(kind="customer", id=str(b.customer_id)),
        complaint_id=b.id,
        filename="b.png",
        content=PNG,
        content_type="image/png",
    )
    # B's file through A's link: not found.
    assert browser().get(f"{a_path}evidence/{evidence.id}/").status_code == 404
    own = browser().get(f"{b_path}evidence/{evidence.id}/")
    assert own.status_code == 200 and own.content == PNG
    assert own["Content-Disposition"].startswith("attachment;")


def test_a_tampered_or_revoked_link_gets_one_not_valid_page(policy: Any) -> None:
    a, path = filed(TEXT, "a@example.vn")
    token = path.split("/")[3]
    tampered = browser().get(f"/complaint/s/{token[:-2]}xy/")
    garbage = browser().get("/complaint/s/nothing-here/")
    assert tampered.status_code == garbage.status_code == 404
    assert without_csrf(tampered) == without_csrf(garbage)
    assert "This link is not valid" in text_of(garbage)
    assert TEXT not in tampered.content.decode()
    assert garbage["Referrer-Policy"] == "no-referrer"
    # Re-keyed after misuse (P20): the old link dies.
    Customer.objects.filter(pk=a.customer_id).update(key_generation=9)
    assert browser().get(path).status_code == 404


def test_through_the_link_the_customer_replies_and_reopens(policy: Any) -> None:
    complaint, path = filed(TEXT, "a@example.vn")
    client = browser()
    sent = client.post(path, {"action": "reply", "text": "Thêm ảnh chụp màn hình."})
    assert sent.status_code == 302 and sent["Location"] == path
    message = ComplaintMessage.objects.get(complaint=complaint, kind="customer")
    assert message is not None
    assert "Your message was sent." in text_of(client.get(path))
    handling.answer(
        actor=CS,
        complaint_id=complaint.id,
        text="Chúng tôi đã xoá số của bạn.",
        reason="Do lỗi đồng bộ.",
        outcome="partly_upheld",
    )
    page = client.get(path)
    assert "Chúng tôi đã xoá số của bạn." in text_of(page)
    assert "Do lỗi đồng bộ." in text_of(page)
    assert "Partly upheld" in text_of(page)
    empty = client.post(path, {"action": "reopen", "text": ""})
    assert empty.status_code == 400
    assert client.post(path, {"action": "reopen", "text": "Vẫn còn nhận."}).status_code == 302
    complaint.refresh_from_db()
    assert complaint.status == "reopened"
    assert client.post(path, {"action": "nope"}).status_code == 400
