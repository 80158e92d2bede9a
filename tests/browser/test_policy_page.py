"""The public privacy policy page (/privacy/) in a real browser, in Vietnamese and English."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page
from pytest_django.fixtures import Settings
from pytest_django.live_server_helper import LiveServer

from pledge.policy.loader import load_policy
from pledge.policy.render import SECTIONS
from pledge.policy.services import publish_policy

pytestmark = pytest.mark.browser

SHOP_NAME = "Leman Jewelry"
# Letters that occur in Vietnamese and never in English text.
VIETNAMESE_LETTERS = re.compile(
    "[àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ]", re.IGNORECASE
)

Screenshot = Callable[[Page, str], Path]


@pytest.fixture
def policy_url(live_server: LiveServer, settings: Settings) -> str:
    """Publish the Leman Jewelry preset (in force since a past date) and return the page URL."""
    settings.PLEDGE_SHOP = "leman-jewelry"  # the shop this instance serves
    publish_policy(
        load_policy("leman-jewelry"),
        effective_date=dt.date(2025, 7, 1),
        material=False,
        actor="test",
    )
    return f"{live_server.url}/privacy/"


def open_policy(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None
    assert response.status == 200, f"{url} answered {response.status}"


def section_headings(page: Page) -> dict[str, str]:
    """Visible heading text of every required section, by section id."""
    headings = {}
    for section in SECTIONS:
        heading = page.locator(f"section#{section} h2").first
        assert heading.is_visible(), f"section #{section} has no visible <h2>"
        headings[section] = heading.inner_text().strip()
        assert headings[section], f"section #{section} has an empty heading"
    return headings


def assert_vietnamese(page: Page) -> dict[str, str]:
    assert page.locator("html").get_attribute("lang") == "vi"
    h1 = page.locator("h1").first.inner_text()
    assert SHOP_NAME in h1
    assert not re.search(r"privacy policy", h1, re.IGNORECASE), h1
    headings = section_headings(page)
    assert "quyền" in headings["rights"].lower(), headings["rights"]
    assert "khiếu nại" in headings["complaints"].lower(), headings["complaints"]
    untranslated = [s for s, text in headings.items() if not VIETNAMESE_LETTERS.search(text)]
    # A heading may be a loanword ("Cookie"), but the page as a whole must be Vietnamese.
    assert len(untranslated) <= 1, f"headings without Vietnamese text: {untranslated} {headings}"
    return headings


def assert_english(page: Page) -> dict[str, str]:
    assert page.locator("html").get_attribute("lang") == "en"
    h1 = page.locator("h1").first.inner_text()
    assert SHOP_NAME in h1
    assert re.search(r"privacy", h1, re.IGNORECASE), h1
    headings = section_headings(page)
    assert "rights" in headings["rights"].lower(), headings["rights"]
    assert "complaint" in headings["complaints"].lower(), headings["complaints"]
    vietnamese = {s: text for s, text in headings.items() if VIETNAMESE_LETTERS.search(text)}
    assert not vietnamese, f"Vietnamese headings on the English page: {vietnamese}"
    return headings


def test_vietnamese_browser_gets_the_vietnamese_page(
    new_page: Callable[..., Page], policy_url: str, screenshot: Screenshot
) -> None:
    page = new_page(locale="vi-VN")
    open_policy(page, policy_url)
    screenshot(page, "policy-vi")
    assert_vietnamese(page)
    switch = page.locator("nav.lang-switch")
    assert switch.is_visible()
    assert switch.locator('a[hreflang="vi"]').is_visible()
    assert switch.locator('a[hreflang="en"]').is_visible()


def test_english_browser_gets_the_english_page(
    new_page: Callable[..., Page], policy_url: str, screenshot: Screenshot
) -> None:
    page = new_page(locale="en-US")
    open_policy(page, policy_url)
    screenshot(page, "policy-en")
    assert_english(page)
    assert page.locator("nav.lang-switch").is_visible()


def test_lang_parameter_overrides_the_browser_language(
    new_page: Callable[..., Page], policy_url: str, screenshot: Screenshot
) -> None:
    page = new_page(locale="en-US")
    open_policy(page, f"{policy_url}?lang=vi")
    screenshot(page, "policy-lang-param-vi")
    assert_vietnamese(page)


def test_switch_links_change_the_language(
    new_page: Callable[..., Page], policy_url: str, screenshot: Screenshot
) -> None:
    page = new_page(locale="vi-VN")
    open_policy(page, policy_url)
    vi_headings = assert_vietnamese(page)

    page.locator('nav.lang-switch a[hreflang="en"]').click()
    page.wait_for_selector('html[lang="en"]')
    screenshot(page, "policy-switch-en")
    en_headings = assert_english(page)
    assert page.url.startswith(policy_url)
    # Same sections, different words: the page was translated, not just relabelled.
    assert set(vi_headings) == set(en_headings) == set(SECTIONS)
    assert sum(vi_headings[s] != en_headings[s] for s in SECTIONS) >= len(SECTIONS) - 1

    page.locator('nav.lang-switch a[hreflang="vi"]').click()
    page.wait_for_selector('html[lang="vi"]')
    screenshot(page, "policy-switch-vi")
    assert assert_vietnamese(page) == vi_headings
