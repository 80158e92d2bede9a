"""A customer registers, confirms the email from a real SMTP server, and signs in, in a real
browser on a phone-sized screen, in Vietnamese and in English (P16, P18)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

from pledge.accounts.models import CustomerAccount, CustomerSession
from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import load_policy
from pledge.policy.services import publish_policy
from tests.portal.conftest import PASSWORD, Mailbox, deliver, link_in

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def center(live_server: LiveServer, settings: Any) -> str:
    settings.PLEDGE_SHOP = "leman-jewelry"
    clear_policy_cache()
    publish_policy(load_policy("leman-jewelry"), effective_date=dt.date(2025, 7, 1), actor="test")
    clear_policy_cache()
    return live_server.url


@pytest.mark.parametrize("locale", ["en-US", "vi-VN"])
def test_register_confirm_and_see_the_sessions(
    center: str,
    new_page: Callable[..., Page],
    mailbox: Mailbox,
    screenshot: Callable[[Page, str], Path],
    locale: str,
) -> None:
    # Inputs are found by id, not by label: the Vietnamese catalog may still change.
    page = new_page(locale=locale, viewport=PHONE)
    email = f"browser-{locale.lower()}@example.com"
    page.goto(f"{center}/me/register/")
    assert page.locator("html").get_attribute("lang") == locale[:2]
    page.locator("#id_email").fill(email)
    page.locator("#id_password").fill(PASSWORD)
    # The policy box is required: submitting without it is an error tied to the box.
    page.locator("form.stack button[type=submit]").click()
    box = page.locator("#id_accept_policy")
    assert box.get_attribute("aria-invalid") == "true"
    assert page.locator("#id_accept_policy_errors").is_visible()
    page.locator("#id_password").fill(PASSWORD)
    box.check()
    screenshot(page, f"portal-register-{locale}")
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_selector("[role=status]")

    deliver()
    message = mailbox.wait_for(1)[0]
    assert message["Content-Language"] == locale[:2]
    page.goto(f"{center}{link_in(message, '/me/verify/')}")
    password = page.locator("#id_password")
    assert password.evaluate("el => el === document.activeElement")
    password.fill(PASSWORD)
    screenshot(page, f"portal-verify-{locale}")
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(f"{center}/me/")

    account = CustomerAccount.objects.get()
    assert account.verified_at is not None and account.language == locale[:2]
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["pledge_device"]["httpOnly"]
    assert CustomerSession.objects.filter(
        account=account, session_key=cookies["sessionid"]["value"]
    ).exists()

    page.goto(f"{center}/me/sessions/")
    row = page.locator("tr.current")
    assert row.count() == 1
    assert "Chrome" in row.inner_text()
    if locale == "en-US":
        assert "(this device)" in row.inner_text()
    # Nothing overflows the phone's width.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, f"portal-sessions-{locale}")

    # Sign out, then in again through the login form (the same browser: no notice).
    page.locator("nav form button[type=submit]").click()
    page.wait_for_url(f"{center}/me/login/")
    page.locator("#id_email").fill(email)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(f"{center}/me/")
    deliver()
    assert len(mailbox.settle(0.3)) == 1
