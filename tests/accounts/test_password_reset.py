"""Password reset by email, end to end through a real SMTP server: the same answer whether the
account exists, a link that works once, every session ended after the reset."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from pledge.audit.models import AuditEvent
from pledge.notify.models import OutboxMessage
from tests.accounts.conftest import (
    ACCOUNT,
    LOGIN,
    Mailbox,
    Staff,
    body_of,
    english,
    events,
    link_in,
    make_staff,
    page_text,
    sign_in,
    signed_in,
)
from tests.smtp import deliver_outbox

RESET = "/console/password-reset/"
NEW_PASSWORD = "harbour violet kettle 88 ride"


def ask(client: Client, email: str, address: str = "198.51.100.20") -> Any:
    response = client.post(RESET, {"email": email}, REMOTE_ADDR=address)
    deliver_outbox()  # what `pledge worker` does after the request committed
    return response


def test_the_reset_email_arrives_and_its_link_works_once(owner: Staff, mailbox: Mailbox) -> None:
    signed_in_elsewhere = signed_in(owner)
    response = ask(english(), owner.email.upper())
    assert response.status_code == 200
    assert "If a staff account uses that address" in response.content.decode()

    [message] = mailbox.wait_for(1)
    assert message["To"] == owner.email
    assert message["From"] == "pledge@shop.example"
    assert message["Content-Language"] == "en"
    assert message["Subject"] == "Reset your password at Leman Jewelry"
    body = body_of(message)
    assert "ignore this email" in body
    link = link_in(message, RESET)
    assert json.loads(events("staff:password_reset_requested")[-1].details or "{}") == {}

    client = english()
    form = client.get(link)
    assert form.status_code == 200 and owner.email in form.content.decode()
    done = client.post(link, {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})
    assert (done.status_code, done["Location"]) == (302, LOGIN)

    # Every session of the account ended; the new password (and still the code) signs in.
    assert signed_in_elsewhere.get(ACCOUNT)["Location"].startswith(LOGIN)
    assert sign_in(english(), owner.email, owner.password, owner.code()).status_code == 200
    assert sign_in(english(), owner.email, NEW_PASSWORD, owner.code())["Location"] == "/console/"
    changed = events("staff:password_changed")[-1]
    assert (changed.actor, json.loads(changed.details)) == (
        f"staff:{owner.user.pk}",
        {"via": "reset"},
    )
    # The link works once.
    assert english().get(link).status_code == 400
    # No email address and no link in the audit log.
    for event in AuditEvent.objects.all():
        assert owner.email not in event.canonical and link not in event.canonical


def test_the_answer_is_the_same_for_an_unknown_email(owner: Staff, mailbox: Mailbox) -> None:
    unknown = "nobody@shop.example"
    unknown_answer = ask(english(), unknown)
    known_answer = ask(english(), owner.email)
    assert unknown_answer.status_code == known_answer.status_code == 200
    assert page_text(unknown_answer, unknown) == page_text(known_answer, owner.email)
    mailbox.wait_for(1)
    assert [m["To"] for m in mailbox.settle()] == [owner.email]


def test_the_email_is_in_the_staff_members_language(leman: Any, mailbox: Mailbox) -> None:
    staff = make_staff("accounting", language="vi")
    ask(english(), staff.email)
    [message] = mailbox.wait_for(1)
    assert message["Content-Language"] == "vi"
    assert "/console/password-reset/" in body_of(message)


def test_reset_requests_are_throttled_without_saying_so(owner: Staff, mailbox: Mailbox) -> None:
    answers = [ask(english(), owner.email, address=f"198.51.100.{n}") for n in range(7)]
    assert len({page_text(a, owner.email) for a in answers}) == 1
    mailbox.wait_for(5)
    assert len(mailbox.settle()) == 5  # PLEDGE_LOGIN_MAX_FAILURES per email within the window
    refused = [e for e in events("staff:password_reset_requested") if e.outcome == "refused"]
    assert [json.loads(e.details) for e in refused] == [{"reason": "throttled"}] * 2


def test_a_reset_does_not_lift_the_second_factor(owner: Staff, mailbox: Mailbox) -> None:
    ask(english(), owner.email)
    link = link_in(mailbox.wait_for(1)[0], RESET)
    client = english()
    client.post(link, {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})
    assert "_auth_user_id" not in client.session
    # The password alone reaches only the second step.
    response = sign_in(client, owner.email, NEW_PASSWORD)
    assert response["Location"] == "/console/login/verify/"
    assert client.get(ACCOUNT)["Location"].startswith(LOGIN)


def test_a_weak_or_mismatched_new_password_is_refused(owner: Staff, mailbox: Mailbox) -> None:
    ask(english(), owner.email)
    link = link_in(mailbox.wait_for(1)[0], RESET)
    client = english()
    weak = client.post(link, {"new_password": "password123", "new_password_again": "password123"})
    assert weak.status_code == 200 and "too common" in weak.content.decode()
    mismatch = client.post(
        link, {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD + "x"}
    )
    assert "The two passwords are not the same." in mismatch.content.decode()
    owner.user.refresh_from_db()
    assert owner.user.check_password(owner.password)


def test_forged_links_are_refused(owner: Staff) -> None:
    for path in (
        f"{RESET}MQ/not-a-token/",
        f"{RESET}%%%/abc-def/",
        f"{RESET}OTk5OTk/abc-def/",
    ):
        response = english().get(path)
        assert response.status_code in (400, 404), path
    assert english().get(f"{RESET}MQ/abc-def/").status_code == 400


def test_the_email_waits_in_the_outbox_until_the_worker_sends_it(
    owner: Staff, mailbox: Mailbox
) -> None:
    response = english().post(RESET, {"email": owner.email}, REMOTE_ADDR="198.51.100.20")
    assert response.status_code == 200
    # The request wrote a sealed message and sent nothing: no SMTP round trip in the answer.
    [queued] = OutboxMessage.objects.filter(template="accounts/email/password_reset")
    assert (queued.status, queued.language) == ("queued", "en")
    assert owner.email.encode() not in bytes(queued.sealed or b"")
    assert mailbox.messages == []
    assert deliver_outbox() == 1
    assert [m["To"] for m in mailbox.wait_for(1)] == [owner.email]
