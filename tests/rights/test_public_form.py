"""The public request form, /request/ (issue 6): no account enumeration, nothing of anyone's data
shown to the requester, throttled, bad input answered with a clear 4xx and nothing filed.

Real parts: the Django test client through the full middleware (sessions, CSRF), the real
outbox delivered to a real SMTP server (`mailbox`), preset B (vn-pdpl-2026).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from typing import Any

import pytest
from django.test import Client

from pledge.audit.models import AuditEvent
from pledge.notify.delivery import deliver_due
from pledge.notify.models import OutboxMessage
from pledge.rights.models import DataSubjectRequest, IdentityChallenge, RequestStatus
from pledge.vault.access import Actor
from tests.rights.test_identity import code_in, wrong
from tests.rights.test_lifecycle import EMAIL, NAME, PHONE, new_customer
from tests.smtp import Mailbox, body_of

FORM = "/request/"
VERIFY = "/request/verify/"
UNKNOWN = "nobody@example.com"


def browser(language: str = "en", **kwargs: Any) -> Client:
    return Client(headers={"accept-language": language}, **kwargs)


def ask(
    client: Client,
    email: str = EMAIL,
    kind: str = "access",
    address: str = "203.0.113.5",
    **more: Any,
) -> Any:
    return client.post(FORM, {"email": email, "kind": kind, **more}, REMOTE_ADDR=address)


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', 'name="csrfmiddlewaretoken"', html)


def headers_of(response: Any) -> dict[str, Any]:
    """Every header, and every cookie with its attributes, but not the cookie values (a session id
    is random for any two answers, and the CSRF cookie rotates) nor a cookie's `expires` date,
    which is "now + max-age" to the second and differs when two answers straddle a second
    (`max-age` is compared)."""
    cookies = {
        name: {k: v for k, v in morsel.items() if k != "expires"}
        for name, morsel in response.cookies.items()
    }
    return {"headers": dict(response.headers.items()), "cookies": cookies}


@pytest.fixture
def customer(leman: Any, shop_api: Actor) -> uuid.UUID:
    return new_customer(shop_api, language="en")


# -- the same answer for every email ----------------------------------------------------------


def test_the_form_answers_the_same_for_a_known_and_an_unknown_email(
    customer: uuid.UUID, mailbox: Mailbox
) -> None:
    answers, pages, work = [], [], []
    for email in (EMAIL, UNKNOWN):
        client = browser()
        client.get(FORM)
        before_events = Counter(AuditEvent.objects.values_list("type", flat=True))
        before_rows = (
            DataSubjectRequest.objects.count(),
            IdentityChallenge.objects.count(),
            OutboxMessage.objects.count(),
        )
        answer = ask(client, email)
        after_events = Counter(AuditEvent.objects.values_list("type", flat=True))
        work.append(
            (
                after_events - before_events,
                DataSubjectRequest.objects.count() - before_rows[0],
                IdentityChallenge.objects.count() - before_rows[1],
                OutboxMessage.objects.count() - before_rows[2],
            )
        )
        answers.append(answer)
        page = client.get(VERIFY)
        pages.append(page)
    known, unknown = answers
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == VERIFY
    assert headers_of(known) == headers_of(unknown)
    assert known.content == unknown.content
    assert pages[0].status_code == pages[1].status_code == 200
    assert headers_of(pages[0]) == headers_of(pages[1])
    assert without_csrf(pages[0].content.decode()) == without_csrf(pages[1].content.decode())
    # The same work: one request, one challenge, one email, the same audit events.
    assert work[0] == work[1]
    assert work[0][1:] == (1, 1, 1)
    assert work[0][0] == Counter({"rights:request_filed": 1, "rights:identity_code_sent": 1})
    # The difference is only in the mailboxes: a code to the address on file, a note otherwise.
    deliver_due()
    by_address = {m["To"]: body_of(m) for m in mailbox.wait_for(2)}
    assert re.search(r"^\s+\d{6}\s*$", by_address[EMAIL], re.MULTILINE)
    assert "holds no personal data" in by_address[UNKNOWN]


def test_wrong_codes_are_answered_the_same_for_known_and_unknown_emails(
    customer: uuid.UUID, settings: Any
) -> None:
    settings.PLEDGE_IDENTITY_CODE_ATTEMPTS = 2
    transcripts = []
    for email in (EMAIL, UNKNOWN):
        client = browser()
        ask(client, email)
        answers = [client.post(VERIFY, {"code": "000000"}) for _ in range(3)]
        transcripts.append([(a.status_code, without_csrf(a.content.decode())) for a in answers])
    assert transcripts[0] == transcripts[1]
    assert [status for status, _ in transcripts[0]] == [400, 429, 429]
    assert "Tries left: 1" in transcripts[0][0][1]
    assert "Too many wrong codes" in transcripts[0][1][1]


# -- someone else's email -----------------------------------------------------------------------


def test_a_request_for_someone_elses_email_shows_the_requester_nothing(
    customer: uuid.UUID, mailbox: Mailbox, settings: Any
) -> None:
    settings.PLEDGE_PUBLIC_URL = "https://privacy.shop.example"
    settings.PLEDGE_IDENTITY_CODE_ATTEMPTS = 3
    intruder = browser()
    seen = [ask(intruder, EMAIL, "access").content.decode()]
    filed = DataSubjectRequest.objects.get()
    seen += [intruder.get(VERIFY).content.decode()]
    seen += [intruder.post(VERIFY, {"code": f"{n:06d}"}).content.decode() for n in range(4)]
    seen += [intruder.get(f"/request/{filed.id}/").content.decode()]
    for html in seen:
        for value in (NAME, "Nhung", PHONE, "0912345678", "hong.nhung"):
            assert value not in html
    filed.refresh_from_db()
    assert filed.status == RequestStatus.IDENTITY_UNVERIFIED
    assert filed.customer_id is None
    # The only email went to the address on file, and it holds a code, no data.
    deliver_due()
    messages = mailbox.settle(0.3)
    assert [m["To"] for m in messages] == [EMAIL]
    assert NAME not in body_of(messages[0]) and "/data-package/" not in body_of(messages[0])


def test_the_answer_goes_only_to_the_address_on_file(
    customer: uuid.UUID, mailbox: Mailbox, settings: Any
) -> None:
    """The owner proves the address with the code; the link to the data package goes by email
    to the address on file and is never shown in the browser or kept in the request."""
    settings.PLEDGE_PUBLIC_URL = "https://privacy.shop.example"
    owner = browser()
    ask(owner, "  HONG.NHUNG@example.vn ", "access")
    deliver_due()
    code = code_in(mailbox.wait_for(1)[0])
    verified = owner.post(VERIFY, {"code": code})
    assert verified.status_code == 302
    status = owner.get(verified["Location"])
    html = status.content.decode()
    assert status.status_code == 200
    assert "carried out" in html
    assert "/data-package/" not in html and "hong.nhung" not in html.lower()
    deliver_due()
    answer = mailbox.wait_for(2)[1]
    assert answer["To"] == EMAIL  # as stored in the vault, not as typed
    assert "https://privacy.shop.example/data-package/" in body_of(answer)
    filed = DataSubjectRequest.objects.get()
    assert filed.status == RequestStatus.COMPLETE
    assert filed.outcome == {"delivery": "link"}


def test_a_phone_request_for_someone_elses_data_is_answered_to_the_email_on_file(
    customer: uuid.UUID, mailbox: Mailbox, settings: Any
) -> None:
    """Staff take a request by phone; whoever called, the package goes to the address on file,
    and nothing of it is returned to staff or kept in the request."""
    from pledge.rights import services
    from tests.rights.test_lifecycle import STAFF, approved

    settings.PLEDGE_PUBLIC_URL = "https://privacy.shop.example"
    request = approved(customer, "access")
    done = services.process_request(actor=STAFF, request_id=request.id)
    assert done.outcome == {"delivery": "link"}
    deliver_due()
    messages = mailbox.settle(0.3)
    assert [m["To"] for m in messages] == [EMAIL, EMAIL]  # acknowledgement, then the answer
    assert "/data-package/" in body_of(messages[1])
    link = re.search(r"https://privacy\.shop\.example(/data-package/\S+)", body_of(messages[1]))
    assert link is not None
    assert link.group(1) not in repr(list(DataSubjectRequest.objects.values()))


# -- the happy path through the pages ---------------------------------------------------------


def test_a_known_customer_files_verifies_and_follows_the_request(
    customer: uuid.UUID, mailbox: Mailbox
) -> None:
    client = browser()
    form = client.get(FORM)
    html = form.content.decode()
    assert form.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'value="erasure"' in html and 'value="withdraw_consent"' in html
    assert ask(client, EMAIL, "erasure").status_code == 302
    deliver_due()
    code = code_in(mailbox.wait_for(1)[0])
    verified = client.post(VERIFY, {"code": code})
    filed = DataSubjectRequest.objects.get()
    assert verified["Location"] == f"/request/{filed.id}/"
    page = client.get(verified["Location"]).content.decode()
    assert "identity is confirmed" in page
    filed.refresh_from_db()
    assert filed.status == RequestStatus.PENDING  # an erasure waits for staff
    assert filed.customer_id == customer
    # Verified: the verify page now leads to the status page.
    assert client.get(VERIFY).status_code == 404
    # The acknowledgement with its due date went to the address on file.
    deliver_due()
    ack = mailbox.wait_for(2)[1]
    assert ack["To"] == EMAIL
    assert "We have received your request" in ack["Subject"]


def test_the_form_speaks_vietnamese(customer: uuid.UUID) -> None:
    html = browser("vi").get(FORM).content.decode()
    assert '<html lang="vi">' in html


def test_request_pages_are_only_for_the_browser_that_filed_them(customer: uuid.UUID) -> None:
    client = browser()
    ask(client)
    filed = DataSubjectRequest.objects.get()
    other = browser()
    assert other.get(VERIFY).status_code == 404
    assert other.post(VERIFY, {"code": "123456"}).status_code == 404
    assert other.get(f"/request/{filed.id}/").status_code == 404
    assert client.get(f"/request/{filed.id}/").status_code == 200
    assert client.get(f"/request/{uuid.uuid4()}/").status_code == 404
    assert IdentityChallenge.objects.get().attempts == 0


# -- throttling ---------------------------------------------------------------------------------


def test_requests_beyond_the_allowance_are_refused_alike_for_every_email(
    customer: uuid.UUID, settings: Any
) -> None:
    settings.PLEDGE_LOGIN_MAX_FAILURES = 2
    answers: dict[str, list[Any]] = {}
    for email in (EMAIL, UNKNOWN):
        # A different client address each time: the per-email count is what refuses.
        answers[email] = [ask(browser(), email, address=f"192.0.2.{n}") for n in range(3)]
    assert [a.status_code for a in answers[EMAIL]] == [302, 302, 429]
    assert [a.status_code for a in answers[UNKNOWN]] == [302, 302, 429]
    assert without_csrf(answers[EMAIL][2].content.decode()) == without_csrf(
        answers[UNKNOWN][2].content.decode()
    )
    assert "Too many requests" in answers[EMAIL][2].content.decode()
    assert DataSubjectRequest.objects.count() == 4


def test_one_client_address_cannot_flood_many_mailboxes(customer: uuid.UUID, settings: Any) -> None:
    settings.PLEDGE_LOGIN_MAX_FAILURES = 2
    codes = [
        ask(browser(), f"n{n}@example.com", address="198.51.100.7").status_code for n in range(3)
    ]
    assert codes == [302, 302, 429]
    assert OutboxMessage.objects.count() == 2


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not an address", "kind": "access"}, "email"),
        ({"email": "", "kind": "access"}, "email"),
        ({"email": "a" * 250 + "@example.com", "kind": "access"}, "email"),
        ({"email": EMAIL, "kind": ""}, "kind"),
        ({"email": EMAIL, "kind": "delete_everything"}, "kind"),
        ({"email": EMAIL, "kind": "objection"}, "object_to"),
        ({"email": EMAIL, "kind": "objection", "object_to": "order_fulfilment"}, "object_to"),
        ({"email": EMAIL, "kind": "withdraw_consent", "withdraw": "nope"}, "withdraw"),
        ({"email": EMAIL + "\x00", "kind": "access"}, "email"),
    ],
)
def test_bad_input_is_a_clear_400_and_files_nothing(
    customer: uuid.UUID, data: dict[str, str], field: str
) -> None:
    response = browser().post(FORM, data, REMOTE_ADDR="203.0.113.77")
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="id_{field}_errors"' in html
    assert "The request was not sent" in html
    assert not DataSubjectRequest.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_the_form_needs_its_csrf_token(customer: uuid.UUID) -> None:
    strict = browser(enforce_csrf_checks=True)
    assert ask(strict).status_code == 403
    assert not DataSubjectRequest.objects.exists()


def test_a_code_that_is_not_six_digits_is_a_form_error(customer: uuid.UUID) -> None:
    client = browser()
    ask(client)
    response = client.post(VERIFY, {"code": "12ab"})
    assert response.status_code == 400
    assert "The code is 6 digits" in response.content.decode()
    assert IdentityChallenge.objects.get().attempts == 0


def test_other_methods_are_refused(customer: uuid.UUID) -> None:
    client = browser()
    assert client.put(FORM).status_code == 405
    assert client.delete(VERIFY).status_code == 405


def test_without_a_policy_the_form_says_so(db: None) -> None:
    response = browser().get(FORM)
    assert response.status_code == 503
    assert "has not published its privacy policy" in response.content.decode()


def test_a_right_code_after_a_wrong_one_still_works(customer: uuid.UUID, mailbox: Mailbox) -> None:
    client = browser()
    ask(client, EMAIL, "restriction")
    deliver_due()
    code = code_in(mailbox.wait_for(1)[0])
    assert client.post(VERIFY, {"code": wrong(code)}).status_code == 400
    assert client.post(VERIFY, {"code": code}).status_code == 302
    assert DataSubjectRequest.objects.get().status == RequestStatus.PENDING


def test_without_a_public_address_an_access_request_waits_for_staff(
    customer: uuid.UUID, mailbox: Mailbox, settings: Any
) -> None:
    """No PLEDGE_PUBLIC_URL: no link to send, so the request is left, acknowledged, for staff
    rather than failing the customer's verification."""
    settings.PLEDGE_PUBLIC_URL = ""
    client = browser()
    ask(client, EMAIL, "access")
    deliver_due()
    verified = client.post(VERIFY, {"code": code_in(mailbox.wait_for(1)[0])})
    assert verified.status_code == 302
    filed = DataSubjectRequest.objects.get()
    assert filed.status == RequestStatus.PENDING
    assert not AuditEvent.objects.filter(type="rights:request_completed").exists()
    deliver_due()
    assert "We have received your request" in mailbox.wait_for(2)[1]["Subject"]


def test_the_sign_in_page_leads_people_without_an_account_to_the_form(customer: uuid.UUID) -> None:
    page = browser().get("/me/login/").content.decode()
    assert f'href="{FORM}"' in page
