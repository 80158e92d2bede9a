"""Brute force (issue 4 acceptance, P16): the 6th wrong password within the window locks the
account for PLEDGE_LOCKOUT_SECONDS; a wrong TOTP counts as a failure; a lockout does not reveal
whether the account exists. Per account and per client address."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from django.test import RequestFactory
from django.utils import timezone

from pledge.accounts.clients import client_address, client_network, throttle_address
from pledge.accounts.models import ThrottleEvent, ThrottleLock
from pledge.audit.models import AuditEvent
from tests.accounts.conftest import LOGIN, Staff, english, events, page_text, sign_in
from tests.accounts.hashers import CountingArgon2PasswordHasher

FAILED = "Sign-in failed."


def attempt(email: str, password: str, n: int, *, address: str | None = None) -> Any:
    """One password attempt; from a new address each time unless one is given, so that only the
    account's count is at work."""
    return sign_in(english(), email, password, address=address or f"192.0.2.{n + 1}")


def expire_locks() -> None:
    """Move the clock past every lockout, by editing the stored end time."""
    ThrottleLock.objects.update(until=timezone.now() - dt.timedelta(seconds=1))


def test_the_sixth_wrong_password_locks_the_account(owner: Staff) -> None:
    for n in range(5):
        response = attempt(owner.email, "wrong password!", n)
        assert response.status_code == 200 and FAILED in response.content.decode()
        assert not ThrottleLock.objects.exists()
    # The right password still works before the sixth failure…
    assert attempt(owner.email, owner.password, 10).status_code == 302
    # …which did not clear the count (only a full sign-in, both factors, does).
    response = attempt(owner.email, "wrong password!", 5)
    assert response.status_code == 200
    lock = ThrottleLock.objects.get()
    assert lock.scope == "account"
    seconds = (lock.until - timezone.now()).total_seconds()
    assert 890 < seconds <= 900  # PLEDGE_LOCKOUT_SECONDS
    locked = events("staff:locked_out")[-1]
    assert (locked.actor, locked.record, json.loads(locked.details)) == (
        "anonymous",
        f"staff:{owner.user.pk}",
        {"scope": "account", "seconds": 900},
    )

    # While locked, even the right password is refused, with the same answer.
    refused = attempt(owner.email, owner.password, 20)
    assert refused.status_code == 200 and FAILED in refused.content.decode()
    assert "_auth_user_id" not in refused.client.session

    expire_locks()
    client = english()
    response = sign_in(client, owner.email, owner.password, owner.code(), address="192.0.2.99")
    assert response["Location"] == "/console/"


def test_the_lockout_time_and_allowance_are_settings(owner: Staff, settings: Any) -> None:
    settings.PLEDGE_LOGIN_MAX_FAILURES = 2
    settings.PLEDGE_LOCKOUT_SECONDS = 60
    for n in range(2):
        attempt(owner.email, "wrong password!", n)
    assert not ThrottleLock.objects.exists()
    attempt(owner.email, "wrong password!", 3)
    lock = ThrottleLock.objects.get(scope="account")
    assert 50 < (lock.until - timezone.now()).total_seconds() <= 60
    assert "sign-in is paused for 1 minute after too many failed attempts" in page_text(
        attempt(owner.email, owner.password, 4)
    )


def test_failures_outside_the_window_do_not_count(owner: Staff) -> None:
    for n in range(5):
        attempt(owner.email, "wrong password!", n)
    ThrottleEvent.objects.update(at=timezone.now() - dt.timedelta(seconds=901))
    attempt(owner.email, "wrong password!", 6)
    assert not ThrottleLock.objects.exists()


def test_wrong_totp_codes_lock_the_account_too(owner: Staff, settings: Any) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    client = english()
    response = client.post(
        LOGIN, {"email": owner.email, "password": owner.password}, REMOTE_ADDR="192.0.2.50"
    )
    assert response.status_code == 302
    wrong = f"{(int(owner.code()) + 7) % 1_000_000:06d}"
    for _ in range(5):
        response = client.post("/console/login/verify/", {"code": wrong}, REMOTE_ADDR="192.0.2.50")
        assert response.status_code == 200
    response = client.post("/console/login/verify/", {"code": wrong}, REMOTE_ADDR="192.0.2.50")
    # Locked: back to the start, with the one sign-in-failed message.
    assert (response.status_code, response["Location"]) == (302, LOGIN)
    assert {lock.scope for lock in ThrottleLock.objects.all()} == {"account", "address"}
    steps = [json.loads(e.details)["step"] for e in events("staff:login_failed")]
    assert steps == ["second_factor"] * 6
    # Now even both right factors fail, from any address.
    again = sign_in(english(), owner.email, owner.password, owner.code(), address="192.0.2.51")
    assert again.status_code == 200 and FAILED in again.content.decode()


def test_a_lockout_does_not_reveal_whether_the_account_exists(owner: Staff) -> None:
    """Known and unknown emails: the same status and page at every attempt, and both lock."""
    unknown = "nobody@shop.example"
    for n in range(8):
        known_answer = attempt(owner.email, "wrong password!", n)
        unknown_answer = attempt(unknown, "wrong password!", n + 100)
        assert known_answer.status_code == unknown_answer.status_code == 200
        assert page_text(known_answer, owner.email) == page_text(unknown_answer, unknown), n
    assert ThrottleLock.objects.filter(scope="account").count() == 2
    assert len(events("staff:locked_out")) == 2
    # Locked with the right password: still the same page as the unknown email's.
    assert page_text(attempt(owner.email, owner.password, 50), owner.email) == page_text(
        attempt(unknown, owner.password, 51), unknown
    )
    # No email in the audit log or the throttle tables.
    for event in AuditEvent.objects.all():
        assert owner.email not in event.canonical and unknown not in event.canonical
        assert "shop.example" not in event.canonical
    for row in [*ThrottleEvent.objects.values(), *ThrottleLock.objects.values()]:
        text = json.dumps(row, default=str)
        assert "shop.example" not in text and "192.0.2" not in text
        assert re.fullmatch(r"[0-9a-f]{64}", row["key"])


def test_the_password_hasher_runs_for_unknown_and_locked_accounts(
    owner: Staff, settings: Any
) -> None:
    """Timing: one password hash per attempt, whether the account exists, is locked or not."""
    settings.PASSWORD_HASHERS = ["tests.accounts.hashers.CountingArgon2PasswordHasher"]
    for email in (owner.email, "nobody@shop.example"):
        for n in range(8):  # before, at and after the lockout
            before = CountingArgon2PasswordHasher.runs
            attempt(email, "wrong password!", n)
            assert CountingArgon2PasswordHasher.runs - before == 1, (email, n)


def test_the_client_address_locks_across_emails(owner: Staff) -> None:
    address = "203.0.113.77"
    for n in range(6):
        response = attempt(f"guess{n}@shop.example", "wrong password!", n, address=address)
        assert response.status_code == 200
    assert ThrottleLock.objects.filter(scope="address").count() == 1
    assert events("staff:locked_out")[-1].details == '{"scope":"address","seconds":900}'
    # The owner's right password is refused from that address…
    refused = sign_in(english(), owner.email, owner.password, owner.code(), address=address)
    assert refused.status_code == 200 and FAILED in refused.content.decode()
    # …and accepted from another.
    response = sign_in(english(), owner.email, owner.password, owner.code(), address="203.0.113.78")
    assert response["Location"] == "/console/"


def test_ipv6_clients_are_counted_per_64(owner: Staff) -> None:
    for n in range(6):
        attempt(f"guess{n}@shop.example", "wrong password!", n, address=f"2001:db8:1:2::{n + 1}")
    refused = attempt(owner.email, owner.password, 9, address="2001:db8:1:2:ffff::1")
    assert FAILED in refused.content.decode()
    assert attempt(owner.email, owner.password, 9, address="2001:db8:1:3::1").status_code == 302


def test_forwarded_for_is_ignored_unless_behind_a_proxy(settings: Any) -> None:
    factory = RequestFactory()
    request = factory.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 5.6.7.8")
    settings.SECURE_PROXY_SSL_HEADER = None
    assert client_address(request) == "10.0.0.1"
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # The entry our proxy appended (right-most), never what the client wrote before it.
    assert client_address(request) == "5.6.7.8"
    garbage = factory.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, nonsense")
    assert client_address(garbage) == "10.0.0.1"


def test_forged_forwarded_for_headers_do_not_escape_the_address_lock(
    owner: Staff, settings: Any
) -> None:
    settings.SECURE_PROXY_SSL_HEADER = None
    for n in range(6):
        sign_in(
            english(),
            f"guess{n}@shop.example",
            "wrong password!",
            address="203.0.113.5",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
    refused = sign_in(
        english(),
        owner.email,
        owner.password,
        address="203.0.113.5",
        HTTP_X_FORWARDED_FOR="1.1.1.1",
    )
    assert FAILED in refused.content.decode()


def test_addresses_are_shortened_for_display() -> None:
    assert client_network("203.0.113.77") == "203.0.113.0/24"
    assert client_network("2001:db8:1:2::7") == "2001:db8:1::/48"
    assert client_network("::ffff:203.0.113.77") == "203.0.113.0/24"
    assert client_network("unknown") == ""
    assert throttle_address("2001:db8:1:2::7") == "2001:db8:1:2::/64"
