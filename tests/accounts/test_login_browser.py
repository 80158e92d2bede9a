"""The owner signs in to the console in a real browser: email and password, then a TOTP code
(issue 4 acceptance: "owner login with TOTP")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

from pledge.accounts.models import StaffSession
from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import load_policy
from pledge.policy.services import publish_policy
from tests.accounts.conftest import make_staff


@pytest.fixture
def console(live_server: LiveServer, settings: Any) -> str:
    settings.PLEDGE_SHOP = "leman-jewelry"
    clear_policy_cache()
    publish_policy(load_policy("leman-jewelry"), effective_date=dt.date(2025, 7, 1), actor="test")
    clear_policy_cache()
    return live_server.url


def test_the_owner_signs_in_with_a_totp_code(
    console: str, page: Page, screenshot: Callable[[Page, str], Path]
) -> None:
    owner = make_staff("owner")
    page.goto(f"{console}/console/login/")
    page.get_by_label("Email address").fill(owner.email)
    page.get_by_label("Password").fill(owner.password)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{console}/console/login/verify/")

    code = page.get_by_label("Code")
    assert code.evaluate("el => el === document.activeElement")  # ready to type
    code.fill(owner.code())
    screenshot(page, "console-login-code")
    with page.expect_navigation() as navigation:
        page.keyboard.press("Enter")
    assert page.url == f"{console}/console/"
    # The dashboard is another part of the console; whatever it answers, the redirect to it
    # came from a verified staff session.
    assert navigation.value is not None
    screenshot(page, "console-login")

    cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    store = import_module(django_settings.SESSION_ENGINE).SessionStore(cookie["value"])
    data = store.load()
    assert str(data["_auth_user_id"]) == str(owner.user.pk)
    assert data["otp_device_id"] == owner.device.persistent_id
    assert StaffSession.objects.filter(user=owner.user, session_key=cookie["value"]).exists()

    page.goto(f"{console}/console/account/")
    assert page.get_by_role("heading", name="My account").is_visible()
    assert page.get_by_text("(this session)").is_visible()
