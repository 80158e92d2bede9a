"""Marketing unsubscribe in a real browser (issue 5 acceptance, P19): a one-click POST as a mail
client sends it (RFC 8058), and the page's single button, in vi and en; each writes a withdrawal
into the ledger, without any sign-in."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from pledge.consent import services
from pledge.consent.models import ConsentEvent
from pledge.consent.unsubscribe import make_token

pytestmark = pytest.mark.browser


@pytest.fixture
def subscriber(
    live_server: LiveServer, marketing: Any, new_customer: Callable[..., uuid.UUID]
) -> uuid.UUID:
    customer = new_customer(language="vi")
    services.give_consent(customer_id=customer, purpose="newsletter", method="checkbox", actor="t")
    return customer


def link(live_server: LiveServer, customer: uuid.UUID, purpose: str) -> str:
    path = reverse("consent:unsubscribe", kwargs={"token": make_token(customer, purpose)})
    return f"{live_server.url}{path}"


def test_one_click_unsubscribe_by_post(
    live_server: LiveServer, subscriber: uuid.UUID, page: Page
) -> None:
    url = link(live_server, subscriber, "newsletter")
    answer = page.request.post(url, form={"List-Unsubscribe": "One-Click"})
    assert answer.status == 200
    event = ConsentEvent.objects.get(customer_id=subscriber, action="withdrawn")
    assert (event.purpose, event.method, event.channel) == ("newsletter", "one_click", "email")
    assert not services.has_live_consent(subscriber, "newsletter")
    again = page.request.post(url, form={"List-Unsubscribe": "One-Click"})
    assert again.status == 200
    assert ConsentEvent.objects.filter(action="withdrawn").count() == 1


@pytest.mark.parametrize("locale", ["en-US", "vi-VN"])
def test_the_page_button_unsubscribes(
    live_server: LiveServer,
    subscriber: uuid.UUID,
    new_page: Callable[..., Page],
    screenshot: Callable[[Page, str], Path],
    locale: str,
) -> None:
    language = locale[:2]
    page = new_page(locale=locale)
    page.goto(link(live_server, subscriber, "newsletter"))
    expect(page.locator("html")).to_have_attribute("lang", language)
    name = "Newsletter" if language == "en" else "Bản tin khuyến mãi"  # from the policy
    expect(page.locator("strong", has_text=name)).to_be_visible()
    assert not ConsentEvent.objects.filter(action="withdrawn").exists()  # looking is not acting
    screenshot(page, f"unsubscribe-{language}")
    buttons = page.get_by_role("button")
    expect(buttons).to_have_count(1)  # one button: as easy as it gets (P04)
    buttons.click()
    expect(page.get_by_role("status")).to_contain_text(name)
    screenshot(page, f"unsubscribed-{language}")
    event = ConsentEvent.objects.get(customer_id=subscriber, action="withdrawn")
    assert (event.method, event.language) == ("unsubscribe_link", language)
    assert not services.has_live_consent(subscriber, "newsletter")
    assert page.context.cookies() == []  # no sign-in, no cookie needed


def test_a_forged_link_shows_what_is_wrong(
    live_server: LiveServer, subscriber: uuid.UUID, page: Page
) -> None:
    answer = page.goto(link(live_server, subscriber, "newsletter")[:-3] + "xx/")
    assert answer is not None and answer.status == 400
    expect(page.get_by_role("alert")).to_have_attribute("data-problem", "bad_signature")
    assert not ConsentEvent.objects.filter(action="withdrawn").exists()
