"""A signed-in customer changes their password (P16): the current password first (a stolen
session must not be a password oracle, so a wrong one counts toward the sign-in lockout), the new
one twice under the registration rules; every other session ends, this one stays signed in under
a new key, and the account is told by email."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

from pledge.accounts.models import CustomerAccount, CustomerSession, ThrottleEvent
from pledge.notify.models import OutboxMessage
from tests.portal.conftest import (
    LOGIN,
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
    sign_in,
)

CHANGE = "/me/password/"
NEW_PASSWORD = "copper kettle midnight 88"
PHONE = {"width": 390, "height": 844}


def change(
    client: Client,
    current: str = PASSWORD,
    new: str = NEW_PASSWORD,
    again: str | None = None,
    **extra: Any,
) -> Any:
    data = {
        "current_password": current,
        "new_password": new,
        "new_password_again": new if again is None else again,
    }
    return client.post(CHANGE, data, **extra)


def password_is(account: CustomerAccount, password: str) -> bool:
    account.refresh_from_db()
    return check_password(password, account.password)


def signed_in(client: Client) -> bool:
    return int(client.get(SESSIONS).status_code) == 200


def test_change_ends_the_other_sessions_keeps_this_one_and_sends_a_notice(
    account: CustomerAccount, mailbox: Mailbox
) -> None:
    deliver()
    mailbox.wait_for(1)  # the verification email
    here = customer_client(account)
    elsewhere = customer_client(account, address="203.0.113.4")  # a new device: a notice
    deliver()
    mailbox.wait_for(2)
    # A copy of this browser's session cookie (stolen before the change): it must die too.
    old_key = here.cookies["sessionid"].value
    stolen = english()
    stolen.cookies["sessionid"] = old_key
    assert signed_in(stolen)

    form = here.get(CHANGE)
    assert form.status_code == 200
    assert "no-store" in form["Cache-Control"]
    response = change(here)
    assert response.status_code == 302 and response["Location"] == SESSIONS
    assert "no-store" in response["Cache-Control"]

    assert password_is(account, NEW_PASSWORD)
    # This browser stays signed in, under a new session key with the session row following it.
    page = here.get(SESSIONS)
    assert page.status_code == 200
    assert "Every other session of your account has ended" in page.content.decode()
    new_key = here.cookies["sessionid"].value
    assert new_key != old_key
    assert list(
        CustomerSession.objects.filter(account=account).values_list("session_key", flat=True)
    ) == [new_key]
    assert not signed_in(elsewhere)
    assert not signed_in(stolen)
    assert details("customer:password_changed") == [{"via": "change", "sessions_ended": 1}]

    deliver()
    notice = mailbox.wait_for(3)[2]
    assert notice["To"] == "an@example.com"
    assert "was changed" in notice["Subject"]
    assert "/me/password-reset/" in body_of(notice)

    assert sign_in(english(), "an@example.com", PASSWORD).status_code == 400
    assert sign_in(english(), "an@example.com", NEW_PASSWORD).status_code == 302


def test_the_notice_is_in_the_language_of_the_account(leman: Any, mailbox: Mailbox) -> None:
    account = make_account("vi@example.com", language="vi")
    here = customer_client(account)  # an English browser: the email follows the account
    assert change(here).status_code == 302
    deliver()
    notice = mailbox.wait_for(2)[1]
    assert notice["Content-Language"] == "vi"
    assert "đã được đổi" in notice["Subject"]


def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failed_sign_in(
    account: CustomerAccount, settings: Any
) -> None:
    settings.PLEDGE_LOGIN_MAX_FAILURES = 2
    here = customer_client(account)
    elsewhere = customer_client(account, address="203.0.113.4")
    outbox = OutboxMessage.objects.count()

    response = change(here, current="not my password at all")
    assert response.status_code == 400
    text = response.content.decode()
    assert "The current password is wrong." in text
    assert 'id="id_current_password_errors"' in text
    assert 'aria-describedby="id_current_password_errors"' in text
    assert password_is(account, PASSWORD)
    assert signed_in(here) and signed_in(elsewhere)
    assert OutboxMessage.objects.count() == outbox
    assert not events("customer:password_changed")
    failed = events("customer:login_failed")
    assert [d["reason"] for d in details("customer:login_failed")] == ["change_password"]
    assert failed[0].actor == f"customer:{account.customer_id}"

    # The third failure within the window locks the account: said plainly, still signed in.
    change(here, current="second wrong password")
    locked = change(here, current="third wrong password")
    assert locked.status_code == 400
    assert "paused" in locked.content.decode()
    assert "You are still signed in here" in locked.content.decode()
    assert "cust_account" in [d["scope"] for d in details("customer:locked_out")]
    assert signed_in(here) and signed_in(elsewhere)
    # Now even the right current password is refused, and sign-in to the account is paused too.
    refused = change(here)
    assert refused.status_code == 400 and "paused" in refused.content.decode()
    assert password_is(account, PASSWORD)
    assert details("customer:password_changed") == [{"via": "change", "reason": "locked"}]
    assert sign_in(english(), "an@example.com", PASSWORD, address="203.0.113.99").status_code == 400


def test_wrong_current_passwords_count_against_the_address_with_failed_sign_ins(
    account: CustomerAccount, settings: Any
) -> None:
    """One allowance per client address, whichever page the wrong passwords are typed on."""
    settings.PLEDGE_LOGIN_MAX_FAILURES = 2
    here = customer_client(account, address="192.0.2.10")
    change(here, current="wrong password one", REMOTE_ADDR="192.0.2.10")
    sign_in(english(), "someone@example.com", "wrong", address="192.0.2.10")
    sign_in(english(), "another@example.com", "wrong", address="192.0.2.10")
    assert "cust_address" in [d["scope"] for d in details("customer:locked_out")]
    refused = change(here, REMOTE_ADDR="192.0.2.10")
    assert refused.status_code == 400 and "paused" in refused.content.decode()
    assert password_is(account, PASSWORD)
    # From another network the owner can still change it.
    assert change(here, REMOTE_ADDR="198.51.100.200").status_code == 302
    assert password_is(account, NEW_PASSWORD)


@pytest.mark.parametrize(
    ("new", "again", "field"),
    [
        ("short", "short", "new_password"),
        ("1234567890123", "1234567890123", "new_password"),  # only digits
        ("password1234", "password1234", "new_password"),  # a common password
        (NEW_PASSWORD, "copper kettle midnight 89", "new_password_again"),
        (PASSWORD, PASSWORD, "new_password"),  # the same as the current one
    ],
)
def test_a_weak_mismatched_or_unchanged_new_password_is_a_field_error(
    account: CustomerAccount, new: str, again: str, field: str
) -> None:
    here = customer_client(account)
    elsewhere = customer_client(account, address="203.0.113.4")
    response = change(here, new=new, again=again)
    assert response.status_code == 400
    text = response.content.decode()
    assert f'id="id_{field}_errors"' in text
    assert f'aria-describedby="id_{field}_help id_{field}_errors"' in text or (
        f'aria-describedby="id_{field}_errors"' in text
    )
    assert 'aria-invalid="true"' in text
    assert password_is(account, PASSWORD)
    assert signed_in(here) and signed_in(elsewhere)
    assert not events("customer:password_changed")
    assert not events("customer:login_failed")


def test_the_unchanged_password_is_refused_by_the_service_too(account: CustomerAccount) -> None:
    """Not only the form: the service refuses it (its own caller might not use the form)."""
    from django.core.exceptions import ValidationError

    from pledge.accounts import customers
    from tests.portal.conftest import _TEST_LINKS

    with pytest.raises(ValidationError):
        customers.change_password(
            account_id=account.pk,
            current_password=PASSWORD,
            new_password=PASSWORD,
            session_key="",
            address="192.0.2.1",
            links=_TEST_LINKS,
        )
    assert not events("customer:password_changed")


def test_an_anonymous_visitor_is_sent_to_sign_in(account: CustomerAccount) -> None:
    for response in (english().get(CHANGE), change(english())):
        assert response.status_code == 302
        assert response["Location"] == f"{LOGIN}?next=%2Fme%2Fpassword%2F"
    assert password_is(account, PASSWORD)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"current_password": PASSWORD},
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        {"current_password": "", "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD},
        {"current_password": PASSWORD, "new_password": "a\x00" * 10, "new_password_again": "a"},
        {
            "current_password": "x\x00y" * 5,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        },
        {
            "current_password": PASSWORD,
            "new_password": "p" * 1_000_000,
            "new_password_again": "p" * 1_000_000,
        },
        {
            "current_password": "c" * 1_000_000,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        },
    ],
    ids=[
        "nothing",
        "only-current",
        "no-repeat",
        "empty-current",
        "nul-new",
        "nul-current",
        "1mb-new",
        "1mb-current",
    ],
)
def test_hostile_input_is_a_400_and_changes_nothing(
    account: CustomerAccount, data: dict[str, str]
) -> None:
    here = customer_client(account)
    counted = ThrottleEvent.objects.count()  # the registration's email request
    response = here.post(CHANGE, data)
    assert response.status_code == 400
    assert b"Traceback" not in response.content
    assert b'class="field-errors"' in response.content
    assert password_is(account, PASSWORD)
    assert signed_in(here)
    # An unreadable form is not a password guess: nothing counted, nothing audited.
    assert ThrottleEvent.objects.count() == counted
    assert not events("customer:login_failed")
    assert not events("customer:password_changed")


def test_a_json_body_is_a_400(account: CustomerAccount) -> None:
    here = customer_client(account)
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    response = here.post(CHANGE, body, content_type="application/json")
    assert response.status_code == 400
    assert password_is(account, PASSWORD)


def test_only_a_post_with_a_csrf_token_changes_the_password(account: CustomerAccount) -> None:
    browser = customer_client(account)
    query = f"?current_password={PASSWORD}&new_password={NEW_PASSWORD}"
    query += f"&new_password_again={NEW_PASSWORD}"
    assert browser.get(CHANGE + query).status_code == 200
    assert browser.put(CHANGE).status_code == 405
    assert password_is(account, PASSWORD)
    here = Client(enforce_csrf_checks=True, headers={"accept-language": "en"})
    here.cookies = browser.cookies  # the same signed-in session, now with CSRF checks
    assert change(here).status_code == 403  # no CSRF token
    assert password_is(account, PASSWORD)
    token = here.get(CHANGE).context["csrf_token"]
    response = here.post(
        CHANGE,
        {
            "csrfmiddlewaretoken": str(token),
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert password_is(account, NEW_PASSWORD)


def test_the_sessions_page_links_to_the_change(signed_in: Client) -> None:
    assert f'href="{CHANGE}"' in signed_in.get(SESSIONS).content.decode()
    form = signed_in.get(CHANGE).content.decode()
    for name, autocomplete in (
        ("current_password", "current-password"),
        ("new_password", "new-password"),
        ("new_password_again", "new-password"),
    ):
        assert f'name="{name}"' in form
        assert f'for="id_{name}"' in form
        assert f'autocomplete="{autocomplete}"' in form.split(f'name="{name}"')[1].split(">")[0]


# ── In a real browser ─────────────────────────────────────────────────────────────────────────


@pytest.fixture
def center(live_server: LiveServer, settings: Any) -> str:
    from pledge.policy.enforcement import clear_policy_cache
    from pledge.policy.loader import load_policy
    from pledge.policy.services import publish_policy

    settings.PLEDGE_SHOP = "leman-jewelry"
    clear_policy_cache()
    publish_policy(load_policy("leman-jewelry"), effective_date=dt.date(2025, 7, 1), actor="test")
    clear_policy_cache()
    return live_server.url


def test_change_the_password_on_a_phone(
    center: str, new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
) -> None:
    page = new_page(locale="en-US", viewport=PHONE)
    # The registration's policy box sits beside its text, on the same line (portal.css `.check`).
    page.goto(f"{center}/me/register/")
    box = page.locator("#id_accept_policy").bounding_box()
    text = page.locator("label.check span").bounding_box()
    assert box is not None and text is not None
    assert box["width"] < 40
    assert box["x"] + box["width"] <= text["x"]
    assert box["y"] < text["y"] + text["height"] and text["y"] < box["y"] + box["height"]

    make_account("phone@example.com")
    page.goto(f"{center}/me/login/")
    page.locator("#id_email").fill("phone@example.com")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(f"{center}/me/")
    page.goto(f"{center}/me/sessions/")
    page.locator(f'main a[href="{CHANGE}"]').click()
    page.wait_for_url(f"{center}{CHANGE}")
    current = page.locator("#id_current_password")
    assert current.evaluate("el => el === document.activeElement")
    current.fill(PASSWORD)
    page.locator("#id_new_password").fill(NEW_PASSWORD)
    page.locator("#id_new_password_again").fill("something else entirely")
    page.locator("form.stack button[type=submit]").click()
    again = page.locator("#id_new_password_again")
    assert again.get_attribute("aria-invalid") == "true"
    assert "id_new_password_again_errors" in (again.get_attribute("aria-describedby") or "")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "portal-change-password-en")
    page.locator("#id_current_password").fill(PASSWORD)
    page.locator("#id_new_password").fill(NEW_PASSWORD)
    again.fill(NEW_PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(f"{center}{SESSIONS}")
    assert page.locator("tr.current").count() == 1  # still signed in
    account = CustomerAccount.objects.get()
    assert check_password(NEW_PASSWORD, account.password)
