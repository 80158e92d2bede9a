"""Forgotten passwords (P16): the same answer for every email, a single-use link bound to the
password, every session ending at the reset, a notice afterwards; and the hashing work that keeps
the answers' timing alike."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.hashers import check_password, identify_hasher

from pledge.accounts.models import CustomerAccount, CustomerSession
from pledge.notify.models import OutboxMessage
from tests.portal.conftest import (
    LOGIN,
    PASSWORD,
    REGISTER,
    RESET,
    SESSIONS,
    Mailbox,
    QuickArgon2PasswordHasher,
    account_for,
    body_of,
    customer_client,
    deliver,
    details,
    english,
    link_in,
    make_account,
    page_text,
    sign_in,
)

NEW_PASSWORD = "copper kettle midnight 88"


def ask_reset(email: str, address: str = "198.51.100.60") -> Any:
    return english().post(RESET, {"email": email}, REMOTE_ADDR=address)


def reset_link(mailbox: Mailbox, count: int) -> str:
    """The link of the reset email, the `count`-th message to arrive."""
    deliver()
    message = mailbox.wait_for(count)[count - 1]
    assert "Reset your password" in message["Subject"]
    return link_in(message, "/me/password-reset/")


def test_reset_ends_every_session_and_sends_a_notice(
    account: CustomerAccount, mailbox: Mailbox
) -> None:
    deliver()
    mailbox.wait_for(1)  # the verification email
    first = customer_client(account)
    second = customer_client(account, address="203.0.113.4")  # a new device: a notice
    assert CustomerSession.objects.filter(account=account).count() == 2
    deliver()
    mailbox.wait_for(2)

    response = ask_reset("an@example.com")
    assert response.status_code == 200
    link = reset_link(mailbox, 3)
    assert english().get(link).status_code == 200
    response = english().post(link, {"password": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == LOGIN

    account.refresh_from_db()
    assert check_password(NEW_PASSWORD, account.password)
    assert not CustomerSession.objects.filter(account=account).exists()
    for client in (first, second):
        assert client.get(SESSIONS).status_code == 302  # signed out
    assert details("customer:password_changed") == [{"via": "reset", "sessions_ended": 2}]
    deliver()
    notice = mailbox.wait_for(4)[3]
    assert "was changed" in notice["Subject"]
    assert "/me/password-reset/" in body_of(notice)

    # The link worked once; the old password no longer signs in, the new one does.
    assert english().post(link, {"password": "yet another password 99"}).status_code == 400
    assert sign_in(english(), "an@example.com", PASSWORD).status_code == 400
    assert sign_in(english(), "an@example.com", NEW_PASSWORD).status_code == 302


def full_reset_link(mailbox: Mailbox, count: int) -> str:
    """The reset email's link as written, scheme and host included."""
    deliver()
    message = mailbox.wait_for(count)[count - 1]
    assert "Reset your password" in message["Subject"]
    found = re.search(r"https?://\S+/me/password-reset/\S+", body_of(message))
    assert found is not None
    return found.group(0)


def test_a_host_header_cannot_point_the_reset_link_at_another_port(
    account: CustomerAccount, mailbox: Mailbox
) -> None:
    """Django checks the Host header's name against ALLOWED_HOSTS, not its port: the link in the
    email must not lead to a port the sender of the request chose (password-reset poisoning)."""
    deliver()
    mailbox.wait_for(1)  # the verification email
    poisoned = english().post(
        RESET, {"email": "an@example.com"}, REMOTE_ADDR="198.51.100.61", HTTP_HOST="localhost:6666"
    )
    assert poisoned.status_code == 200
    assert "http://localhost/me/password-reset/" in full_reset_link(mailbox, 2)
    # The port the request arrived on is kept (a development server on :8000).
    english().post(
        RESET,
        {"email": "an@example.com"},
        REMOTE_ADDR="198.51.100.62",
        HTTP_HOST="localhost:8000",
        SERVER_PORT="8000",
    )
    assert "http://localhost:8000/me/password-reset/" in full_reset_link(mailbox, 3)


def test_reset_request_answers_the_same_for_known_and_unknown_emails(
    account: CustomerAccount, mailbox: Mailbox
) -> None:
    known = ask_reset("an@example.com")
    unknown = ask_reset("nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert page_text(known, "an@example.com") == page_text(unknown, "nobody@example.com")
    deliver()
    messages = mailbox.settle(0.3)
    assert [m["To"] for m in messages] == ["an@example.com", "an@example.com"]  # verify, reset
    assert len(details("customer:password_reset_requested")) == 1


def test_reset_requests_beyond_the_allowance_send_nothing(
    account: CustomerAccount, settings: Any
) -> None:
    settings.PLEDGE_LOGIN_MAX_FAILURES = 2
    before = OutboxMessage.objects.count()
    answers = [ask_reset("an@example.com", address=f"192.0.2.{n}") for n in range(4)]
    assert {a.status_code for a in answers} == {200}
    assert len({page_text(a) for a in answers}) == 1
    # The registration of the account was the first request that emailed this address: one
    # reset email is left in the allowance of two.
    assert OutboxMessage.objects.count() == before + 1
    assert details("customer:password_reset_requested")[-1] == {"reason": "throttled"}


def test_registrations_beyond_the_allowance_send_nothing(leman: Any, settings: Any) -> None:
    """Nobody can use the registration form to flood someone's mailbox."""
    settings.PLEDGE_LOGIN_MAX_FAILURES = 2
    for n in range(4):
        english().post(
            REGISTER,
            {"email": "target@example.com", "password": PASSWORD, "accept_policy": "on"},
            REMOTE_ADDR=f"192.0.2.{n}",
        )
    assert OutboxMessage.objects.count() == 2
    assert CustomerAccount.objects.count() == 1


def test_a_weak_new_password_is_a_form_error(account: CustomerAccount, mailbox: Mailbox) -> None:
    ask_reset("an@example.com")
    link = reset_link(mailbox, 2)
    for bad in ("short", "1234567890123", "p" * 2000):
        response = english().post(link, {"password": bad})
        assert response.status_code == 400
        assert 'id="id_password_errors"' in response.content.decode()
    account.refresh_from_db()
    assert check_password(PASSWORD, account.password)


def test_reset_of_an_unverified_account_verifies_it(leman: Any, mailbox: Mailbox) -> None:
    """Whoever can read the mailbox owns the address: the reset link confirms it as well (the way
    out for someone whose address a stranger registered first)."""
    make_account("late@example.com", verified=False)
    ask_reset("late@example.com")
    link = reset_link(mailbox, 2)
    assert english().post(link, {"password": NEW_PASSWORD}).status_code == 302
    account = account_for("late@example.com")
    assert account.verified_at is not None
    assert details("customer:email_verified")[-1] == {"linked": False, "via": "reset"}
    assert sign_in(english(), "late@example.com", NEW_PASSWORD).status_code == 302


def test_every_path_does_the_same_hashing_work(account: CustomerAccount) -> None:
    """No account enumeration by timing: a sign-in runs the Argon2 hasher exactly once whether
    the email is known, unknown, or locked out; a registration once whether it is new or not."""

    def runs(action: Any) -> int:
        QuickArgon2PasswordHasher.runs = 0
        action()
        return QuickArgon2PasswordHasher.runs

    assert runs(lambda: sign_in(english(), "an@example.com", "wrong password here")) == 1
    assert runs(lambda: sign_in(english(), "nobody@example.com", "wrong password here")) == 1
    assert runs(lambda: sign_in(english(), "an@example.com", PASSWORD)) == 1

    def register(email: str) -> Any:
        return english().post(
            REGISTER, {"email": email, "password": NEW_PASSWORD, "accept_policy": "on"}
        )

    assert runs(lambda: register("an@example.com")) == 1
    assert runs(lambda: register("brand.new@example.com")) == 1


def test_production_hashes_passwords_with_argon2id() -> None:
    """These tests use a cheaper Argon2id (conftest); the settings use Django's, OWASP's choice."""
    from pledge import settings as pledge_settings

    assert pledge_settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_stored_passwords_are_argon2id(account: CustomerAccount) -> None:
    hasher = identify_hasher(account.password)
    assert hasher.algorithm == "argon2"
    assert account.password.startswith("argon2$argon2id$")
