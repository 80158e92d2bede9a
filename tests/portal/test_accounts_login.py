"""Signing in to the privacy center (P16): one answer for every failure, lockout, the new-device
notice, the sessions list with its revoke buttons, signing out."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client
from django.utils import timezone, translation

from pledge.accounts.customer_auth import describe_device, device_label
from pledge.accounts.models import CustomerAccount, CustomerDevice, CustomerSession
from pledge.audit.models import AuditEvent
from tests.portal.conftest import (
    HOME,
    LOGIN,
    LOGOUT,
    PASSWORD,
    SESSIONS,
    Mailbox,
    body_of,
    customer_client,
    deliver,
    details,
    english,
    events,
    make_account,
    page_text,
    sign_in,
)

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)


def test_sign_in_opens_a_session_bound_to_the_account(account: CustomerAccount) -> None:
    client = english()
    response = sign_in(client, "AN@example.com")
    assert response.status_code == 302 and response["Location"] == HOME
    assert str(client.session["pledge_customer"]) == str(account.pk)
    assert client.session.get_expiry_age() > 86400  # PLEDGE_CUSTOMER_SESSION_SECONDS, not 8 h
    session = CustomerSession.objects.get(account=account)
    assert session.session_key == client.session.session_key
    assert session.client_network == "198.51.100.0/24"
    assert client.get(SESSIONS).status_code == 200
    assert details("customer:login_succeeded")[-1] == {"new_device": False, "via": "password"}


def test_the_session_key_changes_at_sign_in(account: CustomerAccount) -> None:
    client = english()
    client.get(LOGIN)
    before = client.cookies["sessionid"].value if "sessionid" in client.cookies else ""
    sign_in(client, "an@example.com")
    assert client.session.session_key != before


def test_a_planted_session_key_is_not_signed_in(account: CustomerAccount) -> None:
    """Session fixation: an attacker who made this browser use a session key they know does not
    get a signed-in session from it."""
    from django.contrib.sessions.backends.db import SessionStore

    planted = SessionStore()
    planted["cart"] = "anything"
    planted.create()
    client = english()
    client.cookies["sessionid"] = planted.session_key
    sign_in(client, "an@example.com")
    assert client.session.session_key != planted.session_key
    assert "pledge_customer" not in SessionStore(planted.session_key).load()
    attacker = english()
    attacker.cookies["sessionid"] = planted.session_key
    assert attacker.get(SESSIONS).status_code == 302  # to the sign-in page


def test_sign_in_rotates_the_csrf_token(account: CustomerAccount) -> None:
    """As django.contrib.auth.login does: a CSRF token planted before signing in (a cookie set
    from a sibling subdomain) must not be valid afterwards."""
    client = Client(enforce_csrf_checks=True, headers={"accept-language": "en"})
    client.get(LOGIN)
    planted = client.cookies["csrftoken"].value
    response = client.post(
        LOGIN,
        {"email": "an@example.com", "password": PASSWORD, "csrfmiddlewaretoken": planted},
        REMOTE_ADDR="198.51.100.23",
    )
    assert response.status_code == 302
    assert client.cookies["csrftoken"].value != planted
    stale = client.post(LOGOUT, {"csrfmiddlewaretoken": planted})
    assert stale.status_code == 403
    assert CustomerSession.objects.filter(account=account).exists()


def test_next_is_limited_to_the_privacy_center(account: CustomerAccount) -> None:
    for target, expected in [
        ("/me/data/", "/me/data/"),
        ("https://evil.example/me/", HOME),
        ("//evil.example/me/", HOME),
        ("/console/", HOME),
        ("/\\evil.example/me/", HOME),
    ]:
        response = sign_in(english(), "an@example.com", next_url=target)
        assert response["Location"] == expected, target


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("an@example.com", "wrong password, quite long"),  # known account, wrong password
        ("nobody@example.com", "wrong password, quite long"),  # no such account
        ("nobody@example.com", PASSWORD),
    ],
)
def test_every_failure_gets_the_same_answer(
    account: CustomerAccount, email: str, password: str
) -> None:
    reference = sign_in(english(), "an@example.com", "wrong password, quite long")
    response = sign_in(english(), email, password)
    assert response.status_code == reference.status_code == 400
    assert page_text(response, email) == page_text(reference, "an@example.com")
    assert "Sign-in failed." in response.content.decode()


def test_unverified_and_disabled_accounts_cannot_sign_in(leman: Any) -> None:
    make_account("pending@example.com", verified=False)
    disabled = make_account("disabled@example.com")
    CustomerAccount.objects.filter(pk=disabled.pk).update(disabled_at=timezone.now())
    unknown = sign_in(english(), "nobody@example.com", PASSWORD)
    for email in ("pending@example.com", "disabled@example.com"):
        response = sign_in(english(), email, PASSWORD)
        assert response.status_code == 400
        assert page_text(response, email) == page_text(unknown, "nobody@example.com")
    assert [d["reason"] for d in details("customer:login_failed")] == [
        "unknown",
        "unverified",
        "disabled",
    ]


def test_a_failed_sign_in_is_audited_without_the_email(account: CustomerAccount) -> None:
    sign_in(english(), "an@example.com", "wrong password, quite long")
    sign_in(english(), "stranger@example.com", "wrong password, quite long")
    known, unknown = events("customer:login_failed")
    assert known.actor == f"customer:{account.customer_id}"
    assert unknown.actor == "anonymous" and unknown.customer_id is None
    for event in AuditEvent.objects.all():
        assert "example.com" not in f"{event.actor}{event.record}{event.details}"


def test_lockout_after_too_many_failures(account: CustomerAccount, settings: Any) -> None:
    settings.PLEDGE_LOGIN_MAX_FAILURES = 3
    for n in range(3):
        sign_in(english(), "an@example.com", f"wrong password number {n}", address=f"192.0.2.{n}")
    assert not events("customer:locked_out")
    # The fourth failure (from yet another address) locks the account…
    sign_in(english(), "an@example.com", "wrong password number 4", address="192.0.2.9")
    assert [d["scope"] for d in details("customer:locked_out")] == ["cust_account"]
    # …and then even the right password is refused, with the same answer as a wrong one.
    locked = sign_in(english(), "an@example.com", PASSWORD, address="203.0.113.5")
    wrong = sign_in(english(), "nobody@example.com", "wrong", address="203.0.113.6")
    assert locked.status_code == 400
    assert page_text(locked, "an@example.com") == page_text(wrong, "nobody@example.com")
    assert "pledge_customer" not in Client().session


def test_lockout_of_an_address_guessing_at_many_accounts(leman: Any, settings: Any) -> None:
    settings.PLEDGE_LOGIN_MAX_FAILURES = 3
    make_account("real@example.com")
    for n in range(4):
        sign_in(english(), f"guess{n}@example.com", "wrong", address="203.0.113.50")
    assert "cust_address" in [d["scope"] for d in details("customer:locked_out")]
    # From that address, even a right password is refused now; from another, it works.
    assert sign_in(english(), "real@example.com", address="203.0.113.50").status_code == 400
    assert sign_in(english(), "real@example.com", address="203.0.113.99").status_code == 302


def test_a_new_device_gets_a_notice_once_and_a_known_one_none(
    account: CustomerAccount, mailbox: Mailbox
) -> None:
    deliver()
    mailbox.wait_for(1)  # the verification email of make_account
    # The first browser of the account is not "new".
    laptop = customer_client(account, HTTP_USER_AGENT=FIREFOX_LINUX)
    deliver()
    assert len(mailbox.settle(0.3)) == 1
    # Another browser is: one notice, in the account's language, naming browser and network.
    phone = customer_client(account, address="203.0.113.77", HTTP_USER_AGENT=CHROME_ANDROID)
    deliver()
    notice = mailbox.wait_for(2)[1]
    assert notice["To"] == "an@example.com"
    assert "New sign-in" in notice["Subject"]
    body = body_of(notice)
    assert "Chrome on Android" in body and "203.0.113.0/24" in body
    assert "/me/sessions/" in body and "/me/password-reset/" in body
    assert len(events("customer:new_device")) == 1
    # Both browsers again (after signing out): known devices, no more notices.
    for client, agent in ((laptop, FIREFOX_LINUX), (phone, CHROME_ANDROID)):
        client.post(LOGOUT)
        customer_client(account, client=client, HTTP_USER_AGENT=agent)
    deliver()
    assert len(mailbox.settle(0.3)) == 2
    assert len(events("customer:new_device")) == 1
    assert CustomerDevice.objects.filter(account=account).count() == 2
    # The cookie holds a random id; the table only an HMAC of it.
    cookie = laptop.cookies["pledge_device"]
    assert cookie["httponly"] and cookie["path"] == "/me/"
    assert not CustomerDevice.objects.filter(device__contains=cookie.value.split(":")[0]).exists()


def test_the_new_device_notice_is_in_the_accounts_language(leman: Any, mailbox: Mailbox) -> None:
    account = make_account("vi@example.com", language="vi")
    customer_client(account)
    customer_client(account, HTTP_USER_AGENT=FIREFOX_LINUX)
    deliver()
    notice = mailbox.wait_for(2)[1]
    assert notice["Content-Language"] == "vi"


def test_a_tampered_device_cookie_counts_as_a_new_device(
    account: CustomerAccount, mailbox: Mailbox
) -> None:
    client = customer_client(account)
    client.post(LOGOUT)
    customer_client(account, client=client)
    assert not events("customer:new_device")  # the same browser, signed in again
    client.post(LOGOUT)
    client.cookies["pledge_device"] = "forged-value-that-is-not-signed-at-all"
    customer_client(account, client=client)
    assert len(events("customer:new_device")) == 1


def test_sessions_list_marks_this_device_and_revokes_another(account: CustomerAccount) -> None:
    here = customer_client(account, HTTP_USER_AGENT=FIREFOX_LINUX)
    there = customer_client(account, address="203.0.113.8", HTTP_USER_AGENT=CHROME_ANDROID)
    page = here.get(SESSIONS).content.decode()
    assert page.count("(this device)") == 1
    assert "Firefox on Linux" in page and "Chrome on Android" in page
    other = CustomerSession.objects.get(session_key=there.session.session_key)
    response = here.post(f"/me/sessions/{other.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == SESSIONS
    assert not CustomerSession.objects.filter(pk=other.pk).exists()
    # The revoked session's next request is anonymous.
    assert there.get(SESSIONS)["Location"].startswith(LOGIN)
    assert here.get(SESSIONS).status_code == 200
    assert details("customer:session_revoked") == [{"session": other.pk}]


def test_revoking_this_session_signs_out(account: CustomerAccount) -> None:
    client = customer_client(account)
    mine = CustomerSession.objects.get(session_key=client.session.session_key)
    response = client.post(f"/me/sessions/{mine.pk}/revoke/")
    assert response["Location"] == LOGIN
    assert client.get(SESSIONS).status_code == 302


def test_another_customers_session_cannot_be_revoked(account: CustomerAccount) -> None:
    mine = customer_client(account)
    other_account = make_account("bob@example.com")
    theirs = customer_client(other_account)
    their_session = CustomerSession.objects.get(session_key=theirs.session.session_key)
    response = mine.post(f"/me/sessions/{their_session.pk}/revoke/")
    assert response.status_code == 404
    assert CustomerSession.objects.filter(pk=their_session.pk).exists()
    assert theirs.get(SESSIONS).status_code == 200
    assert not events("customer:session_revoked")
    # Nor listed: bob's session is not on my page.
    assert mine.get(SESSIONS).content.decode().count("/revoke/") == 1


def test_revoke_and_logout_only_by_post(account: CustomerAccount) -> None:
    client = customer_client(account)
    mine = CustomerSession.objects.get(session_key=client.session.session_key)
    assert client.get(f"/me/sessions/{mine.pk}/revoke/").status_code == 405
    assert client.get(LOGOUT).status_code == 405
    assert CustomerSession.objects.filter(pk=mine.pk).exists()
    assert english().post(f"/me/sessions/{mine.pk}/revoke/").status_code == 302  # to sign-in
    assert CustomerSession.objects.filter(pk=mine.pk).exists()


def test_forms_need_their_csrf_token(account: CustomerAccount) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(LOGIN, {"email": "an@example.com", "password": PASSWORD})
    assert response.status_code == 403
    assert not CustomerSession.objects.exists()


def test_logout_ends_the_session(account: CustomerAccount) -> None:
    client = customer_client(account)
    key = client.session.session_key
    response = client.post(LOGOUT)
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert not CustomerSession.objects.filter(session_key=key).exists()
    assert client.get(SESSIONS).status_code == 302
    assert len(events("customer:logged_out")) == 1


def test_a_password_change_elsewhere_signs_this_session_out(account: CustomerAccount) -> None:
    client = customer_client(account)
    CustomerAccount.objects.filter(pk=account.pk).update(
        password=make_password("a brand new password 5")
    )
    assert client.get(SESSIONS).status_code == 302


def test_a_disabled_account_is_signed_out(account: CustomerAccount) -> None:
    client = customer_client(account)
    CustomerAccount.objects.filter(pk=account.pk).update(disabled_at=timezone.now())
    assert client.get(SESSIONS).status_code == 302


@pytest.mark.parametrize(
    "data",
    [
        {"email": "x" * 300 + "@example.com", "password": "p"},
        {"email": "an@example.com", "password": "p" * 5000},
        {"email": "an@example.com\r\nBcc: x@example.com", "password": "p"},
        {"email": "", "password": ""},
        {},
    ],
)
def test_bad_sign_in_input_is_a_form_error(account: CustomerAccount, data: dict[str, str]) -> None:
    response = english().post(LOGIN, data)
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    assert not CustomerSession.objects.exists()


def test_device_labels() -> None:
    assert device_label(FIREFOX_LINUX) == "Firefox on Linux"
    assert device_label(CHROME_ANDROID) == "Chrome on Android"
    assert device_label("curl/8.0") == ""
    # The wording is in the language of the email it goes into.
    with translation.override("en"):
        assert describe_device("") == "an unknown browser"
    with translation.override("vi"):
        assert describe_device("") == "một trình duyệt không xác định"
