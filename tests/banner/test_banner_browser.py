"""The cookie banner on a shop's site, in real Chromium (issue 5 acceptance, P07, P08).

The shop's page is served from another origin (127.0.0.1) than Pledge (localhost), like a real
shop embedding `<script src="https://PLEDGE/consent/banner.js" defer>`. Buttons are found by
their role in the banner (`data-a`), so the same steps run in Vietnamese and English.
Screenshots go to tests/artifacts/banner-*.png.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, Response, expect

from pledge.consent.models import ConsentEvent, PageViewCount
from pledge.consent.services import visitor_key
from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import load_policy, parse_policy
from pledge.policy.services import publish_policy, today
from tests.banner.conftest import ShopSite

pytestmark = pytest.mark.browser

Screenshot = Callable[[Page, str], Path]
LOCALES = {"vi": "vi-VN", "en": "en-US"}
GPC_ON = "Object.defineProperty(navigator, 'globalPrivacyControl', {get: () => true})"
CHOICES = re.compile(r"/consent/choices$")


# -- helpers -------------------------------------------------------------------------------------


def dialog(page: Page) -> Locator:
    return page.locator(".pcb[role=dialog]")


def button(page: Page, action: str) -> Locator:
    """all = Accept all, none = Reject all, prefs = Preferences, save = Save my choices."""
    return dialog(page).locator(f'button[data-a="{action}"]')


def switch(page: Page, category: str) -> Locator:
    return dialog(page).locator(f'input[role=switch][data-c="{category}"]')


def open_shop(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.ok
    expect(dialog(page)).to_be_visible()


@contextmanager
def choice_posted(page: Page, status: int = 200, *, beacon: bool = False) -> Iterator[None]:
    """Wait until the banner's POST to /consent/choices has been answered (and, with `beacon`,
    the page-view count the banner sends after it), so the test reads a settled database."""
    with contextlib.ExitStack() as stack:
        counted = stack.enter_context(page.expect_response(is_beacon)) if beacon else None
        with page.expect_response(lambda r: bool(CHOICES.search(r.url))) as info:
            yield
        assert info.value.status == status, info.value.text()
        stack.close()
        if counted is not None:
            assert counted.value.status == 204


def is_beacon(response: Response) -> bool:
    return "/consent/beacon?" in response.url


def window_flag(page: Page, name: str) -> Any:
    return page.evaluate(f"window.{name} === true")


def consent_cookie(context: BrowserContext) -> dict[str, Any]:
    cookies = context.cookies()
    assert [c["name"] for c in cookies] == ["pledge_consent"], cookies
    return cookies[0]


def stored_choice(context: BrowserContext) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(unquote(consent_cookie(context)["value"]))
    return value


def ledger() -> dict[str, tuple[str, str]]:
    """purpose -> (action, method) of the latest event."""
    return {
        e.purpose: (e.action, e.method) for e in ConsentEvent.objects.order_by("at", "id").all()
    }


def requested(page: Page) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    return urls


def publish_second_version() -> None:
    """A new policy version (changed label and content), in force today."""
    text = load_policy("leman-jewelry").text
    changed = text.replace('version: "1"', 'version: "2"', 1).replace(
        "Cookies keep your preferences for the website.",
        "Cookies keep your language and display preferences for the website.",
        1,
    )
    assert changed.count('version: "2"') == 1
    publish_policy(parse_policy(changed, source="test"), actor="test", effective_date=today())
    clear_policy_cache()


# -- the first layer -----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_accept_all_runs_the_blocked_scripts_and_is_recorded(
    new_page: Callable[..., Page],
    shop: Callable[..., str],
    leman: Any,
    lang: str,
    screenshot: Screenshot,
) -> None:
    page = new_page(locale=LOCALES[lang])
    open_shop(page, shop(lang=lang))
    expect(dialog(page)).to_have_attribute("lang", lang)
    screenshot(page, f"banner-first-layer-{lang}")
    # Nothing optional before a choice: no cookie at all, blocked scripts still blocked.
    assert page.context.cookies() == []
    assert not window_flag(page, "analyticsRan")
    assert not window_flag(page, "adsRan")
    assert window_flag(page, "necessaryRan")  # strictly necessary scripts need no consent

    with choice_posted(page, beacon=True):
        button(page, "all").click()

    expect(dialog(page)).to_have_count(0)
    page.wait_for_function("window.analyticsRan === true && window.adsRan === true")
    assert ledger() == {
        "cookies:advertising": ("given", "banner_accept_all"),
        "cookies:analytics": ("given", "banner_accept_all"),
        "cookies:preferences": ("given", "banner_accept_all"),
    }
    assert set(ConsentEvent.objects.values_list("language", flat=True)) == {lang}
    # The one cookie: first-party on the shop's site, strictly necessary, about a year long.
    cookie = consent_cookie(page.context)
    assert cookie["domain"] == "127.0.0.1"
    assert cookie["sameSite"] == "Lax"
    assert cookie["httpOnly"] is False
    stored = stored_choice(page.context)
    assert stored["h"] == leman.content_hash
    assert stored["c"] == {"preferences": True, "analytics": True, "advertising": True}
    assert set(ConsentEvent.objects.values_list("visitor", flat=True)) == {visitor_key(stored["v"])}
    # P08: the beacon counted the page view, and only that.
    assert list(PageViewCount.objects.values_list("path", "count")) == [("/", 1)]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_reject_all_keeps_the_scripts_blocked_and_is_recorded(
    new_page: Callable[..., Page], shop: Callable[..., str], shop_site: ShopSite, lang: str
) -> None:
    page = new_page(locale=LOCALES[lang])
    urls = requested(page)
    open_shop(page, shop(lang=lang))
    with choice_posted(page):
        button(page, "none").click()
    expect(dialog(page)).to_have_count(0)
    assert ledger() == {
        "cookies:advertising": ("withdrawn", "banner_reject_all"),
        "cookies:analytics": ("withdrawn", "banner_reject_all"),
        "cookies:preferences": ("withdrawn", "banner_reject_all"),
    }
    assert stored_choice(page.context)["c"] == {
        "preferences": False,
        "analytics": False,
        "advertising": False,
    }
    assert not window_flag(page, "analyticsRan")
    assert not window_flag(page, "adsRan")
    # The choice holds on the next page view: no banner, still nothing run.
    page.reload()
    page.wait_for_function("window.pledgeConsent && window.pledgeConsent.choices.necessary")
    expect(dialog(page)).to_have_count(0)
    assert not window_flag(page, "analyticsRan")
    assert "/ads.js" not in shop_site.hits
    # P08: no page view is counted without consent to statistics.
    assert not [u for u in urls if "/consent/beacon" in u]
    assert not PageViewCount.objects.exists()


def test_accept_and_reject_have_equal_weight(
    new_page: Callable[..., Page], shop: Callable[..., str]
) -> None:
    page = new_page()
    open_shop(page, shop(lang="en"))
    accept, reject = button(page, "all"), button(page, "none")
    expect(accept).to_have_text("Accept all")
    expect(reject).to_have_text("Reject all")
    props = ["font-size", "font-weight", "color", "background-color", "border", "padding"]
    script = "(el, props) => props.map(p => getComputedStyle(el).getPropertyValue(p))"
    assert accept.evaluate(script, props) == reject.evaluate(script, props)
    assert accept.evaluate("el => el.tagName + el.className") == reject.evaluate(
        "el => el.tagName + el.className"
    )
    a, r = accept.bounding_box(), reject.bounding_box()
    assert a is not None and r is not None
    assert abs(a["width"] - r["width"]) < 1 and abs(a["height"] - r["height"]) < 1
    assert abs(a["y"] - r["y"]) < 1  # the same row: the same layer


def test_no_cookie_wall_and_small_on_a_phone(
    new_page: Callable[..., Page], shop: Callable[..., str], screenshot: Screenshot
) -> None:
    page = new_page(locale="vi-VN", viewport={"width": 360, "height": 740}, is_mobile=True)
    open_shop(page, shop(lang="vi"))
    screenshot(page, "banner-phone-vi")
    box = dialog(page).bounding_box()
    assert box is not None
    assert box["height"] <= 740 * 0.6
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    # The page stays usable while the banner waits: the shop's own button is not covered.
    page.locator("#buy").click(timeout=3000)
    assert page.context.cookies() == []


# -- the preferences layer -----------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_custom_choice_in_preferences(
    new_page: Callable[..., Page], shop: Callable[..., str], lang: str, screenshot: Screenshot
) -> None:
    page = new_page(locale=LOCALES[lang])
    open_shop(page, shop(lang=lang))
    button(page, "prefs").click()
    expect(switch(page, "analytics")).to_be_visible()
    # Strictly necessary: on and cannot be switched off. Nothing else is pre-ticked.
    expect(switch(page, "necessary")).to_be_checked()
    expect(switch(page, "necessary")).to_be_disabled()
    for category in ("preferences", "analytics", "advertising"):
        expect(switch(page, category)).not_to_be_checked()
    # The services of each category are listed, in the page's language.
    beacon_name = "Đèn hiệu web của Leman Jewelry" if lang == "vi" else "Leman Jewelry web beacon"
    expect(dialog(page).get_by_text(beacon_name)).to_be_visible()
    screenshot(page, f"banner-preferences-{lang}")
    switch(page, "analytics").check()
    with choice_posted(page, beacon=True):
        button(page, "save").click()
    page.wait_for_function("window.analyticsRan === true")
    assert ledger() == {
        "cookies:advertising": ("withdrawn", "banner_custom"),
        "cookies:analytics": ("given", "banner_custom"),
        "cookies:preferences": ("withdrawn", "banner_custom"),
    }
    assert not window_flag(page, "adsRan")
    assert page.context.cookies()[0]["name"] == "pledge_consent"


def test_keyboard_only(new_page: Callable[..., Page], shop: Callable[..., str]) -> None:
    page = new_page()
    open_shop(page, shop(lang="en"))
    focused = "() => document.activeElement"
    in_dialog = "() => !!document.activeElement.closest('[role=dialog]')"
    label = "() => document.activeElement.dataset.a || document.activeElement.dataset.c || ''"
    # The dialog is announced with its title and description, and focus is inside it.
    d = dialog(page)
    assert page.evaluate(in_dialog)
    expect(d).to_have_accessible_name("Cookies on Leman Jewelry")
    expect(d).to_have_accessible_description(re.compile(r"^We use strictly necessary cookies"))

    page.keyboard.press("Tab")  # the privacy policy link
    assert page.evaluate("() => document.activeElement.tagName") == "A"
    page.keyboard.press("Tab")
    assert page.evaluate(label) == "all"
    # Focus is visible.
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    page.keyboard.press("Tab")
    assert page.evaluate(label) == "none"
    page.keyboard.press("Tab")
    assert page.evaluate(label) == "prefs"
    page.keyboard.press("Enter")
    expect(button(page, "prefs")).to_have_attribute("aria-expanded", "true")
    assert page.evaluate(label) == "preferences"  # the first switch that can change
    expect(page.get_by_role("switch", name="Statistics")).to_be_visible()
    page.keyboard.press("Space")
    expect(switch(page, "preferences")).to_be_checked()

    # Escape closes the preferences layer, is not a choice, and gives focus back.
    page.keyboard.press("Escape")
    expect(switch(page, "preferences")).to_be_hidden()
    assert page.evaluate(label) == "prefs"
    expect(d).to_be_visible()
    assert page.context.cookies() == []

    page.keyboard.press("Enter")
    assert page.evaluate(label) == "preferences"
    page.keyboard.press("Tab")
    assert page.evaluate(label) == "analytics"
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert page.evaluate(label) == "advertising"
    page.keyboard.press("Tab")
    assert page.evaluate(label) == "save"
    with choice_posted(page, beacon=True):
        page.keyboard.press("Space")
    expect(d).to_have_count(0)
    assert stored_choice(page.context)["c"] == {
        "preferences": True,
        "analytics": True,
        "advertising": False,
    }
    assert page.evaluate(focused) is not None


def test_cookie_settings_link_reopens_and_later_consent_runs_scripts(
    new_page: Callable[..., Page], shop: Callable[..., str]
) -> None:
    page = new_page()
    open_shop(page, shop(lang="en"))
    with choice_posted(page):
        button(page, "none").click()
    events = page.evaluate_handle(
        "() => { const seen = []; window.addEventListener('pledge:consent', e => "
        "seen.push(e.detail.choices)); return seen; }"
    )
    # Re-open from the shop's "cookie settings" link, by keyboard.
    page.locator("#settings").focus()
    page.keyboard.press("Enter")
    expect(dialog(page)).to_be_visible()
    expect(switch(page, "preferences")).to_be_focused()  # the first switch that can change
    expect(switch(page, "analytics")).not_to_be_checked()  # shows the choice made
    # Escape twice: the preferences layer, then the banner; focus returns to the link.
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    expect(dialog(page)).to_have_count(0)
    expect(page.locator("#settings")).to_be_focused()
    assert not window_flag(page, "analyticsRan")

    page.evaluate("() => window.pledgeConsent.open()")
    switch(page, "analytics").check()
    with choice_posted(page, beacon=True):
        button(page, "save").click()
    # The same page view: the blocked script runs now.
    page.wait_for_function("window.analyticsRan === true")
    assert not window_flag(page, "adsRan")
    assert page.evaluate("() => window.pledgeConsent.choices.analytics") is True
    assert events.evaluate("seen => seen.map(c => c.analytics)") == [True]
    assert ledger()["cookies:analytics"] == ("given", "banner_custom")
    assert ConsentEvent.objects.count() == 4  # three refusals, then one change


def test_the_browser_language_is_used_when_the_page_has_none(
    new_page: Callable[..., Page], shop: Callable[..., str]
) -> None:
    page = new_page(locale="vi-VN")
    with page.expect_request(lambda r: "/consent/config.json" in r.url) as config:
        open_shop(page, shop(lang=None))
    assert config.value.url.endswith("config.json?lang=vi")
    expect(dialog(page)).to_have_attribute("lang", "vi")


# -- Global Privacy Control ----------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_gpc_refuses_advertising_and_an_explicit_choice_wins(
    new_page: Callable[..., Page],
    shop: Callable[..., str],
    lang: str,
    screenshot: Screenshot,
) -> None:
    page = new_page(locale=LOCALES[lang])
    page.add_init_script(GPC_ON)
    with choice_posted(page):
        open_shop(page, shop(lang=lang))
    assert ledger() == {"cookies:advertising": ("withdrawn", "gpc")}
    # The banner still asks about the rest, and says the signal was honoured.
    expect(dialog(page).locator(".pcb-gpc")).to_be_visible()
    screenshot(page, f"banner-gpc-{lang}")
    assert stored_choice(page.context)["c"] == {"advertising": False}
    assert not window_flag(page, "adsRan")

    # A second page view does not post the signal again; the banner still waits for a choice.
    urls = requested(page)
    page.reload()
    expect(dialog(page).locator(".pcb-gpc")).to_be_visible()
    assert not [u for u in urls if CHOICES.search(u)]
    assert ConsentEvent.objects.count() == 1

    button(page, "prefs").click()
    expect(switch(page, "advertising")).not_to_be_checked()
    switch(page, "analytics").check()
    with choice_posted(page, beacon=True):
        button(page, "save").click()
    page.wait_for_function("window.analyticsRan === true")
    assert not window_flag(page, "adsRan")
    assert ledger()["cookies:analytics"] == ("given", "banner_custom")

    # An explicit choice afterwards wins over the signal.
    page.evaluate("() => window.pledgeConsent.open()")
    switch(page, "advertising").check()
    with choice_posted(page):
        button(page, "save").click()
    page.wait_for_function("window.adsRan === true")
    assert ledger()["cookies:advertising"] == ("given", "banner_custom")


def test_a_sec_gpc_header_alone_is_honoured(
    new_page: Callable[..., Page], shop: Callable[..., str]
) -> None:
    page = new_page(extra_http_headers={"Sec-GPC": "1"})
    with choice_posted(page):
        open_shop(page, shop(lang="en"))
    assert ledger() == {"cookies:advertising": ("withdrawn", "gpc")}
    expect(dialog(page).locator(".pcb-gpc")).to_be_visible()


# -- a new policy version ------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_new_policy_version_asks_again(
    browser: Any, new_page: Callable[..., Page], shop: Callable[..., str], lang: str
) -> None:
    page = new_page(locale=LOCALES[lang])
    url = shop(lang=lang)
    open_shop(page, url)
    with choice_posted(page, beacon=True):
        button(page, "all").click()
    visitor = stored_choice(page.context)["v"]
    with page.expect_response(is_beacon):  # this page view is counted too
        page.reload()
    page.wait_for_function("window.analyticsRan === true")
    expect(dialog(page)).to_have_count(0)  # the choice holds for this version

    publish_second_version()
    # The visitor comes back (the browser keeps its cookie; its one-minute config cache is gone).
    later = new_page(locale=LOCALES[lang], storage_state=page.context.storage_state())
    open_shop(later, url)
    assert not window_flag(later, "analyticsRan")  # an old choice does not cover a new notice
    with choice_posted(later):
        button(later, "none").click()
    latest = ConsentEvent.objects.filter(policy_version="2")
    assert {e.purpose: e.action for e in latest} == {
        "cookies:advertising": "withdrawn",
        "cookies:analytics": "withdrawn",
        "cookies:preferences": "withdrawn",
    }
    # The same visitor, known by the same id.
    assert set(ConsentEvent.objects.values_list("visitor", flat=True)) == {visitor_key(visitor)}
    assert stored_choice(later.context)["v"] == visitor


def test_a_choice_made_on_an_outdated_banner_asks_again(
    new_page: Callable[..., Page], shop: Callable[..., str], leman: Any
) -> None:
    page = new_page()
    open_shop(page, shop(lang="en"))
    publish_second_version()
    with choice_posted(page, status=409, beacon=True):
        button(page, "all").click()
    assert not ConsentEvent.objects.exists()
    expect(dialog(page)).to_be_visible()  # shown again, with the new version's config
    with choice_posted(page):
        button(page, "all").click()
    assert set(ConsentEvent.objects.values_list("policy_version", flat=True)) == {"2"}
    assert stored_choice(page.context)["h"] != leman.content_hash


def test_an_async_snippet_works_too(
    new_page: Callable[..., Page], shop: Callable[..., str]
) -> None:
    page = new_page()
    open_shop(page, shop(lang="en", loading="async"))
    with choice_posted(page, beacon=True):
        button(page, "all").click()
    page.wait_for_function("window.analyticsRan === true && window.adsRan === true")
