"""The whole path in a real browser, in Vietnamese and English: the product page with the banner
and a blocked analytics script, the just-in-time notice beside the form (P25), the checkout sent
through the API over HTTP, and the confirmation with the link to the privacy center."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page

from pledge.consent.models import ConsentEvent
from pledge.vault.models import Customer, Order
from tests.demoshop.conftest import ADDRESS, EMAIL, NAME, PHONE, Storefront

pytestmark = pytest.mark.browser

Screenshot = Callable[[Page, str], Path]

CASES = {
    # locale, the purpose's name in that language, whether the box is ticked, viewport
    "vi": ("vi-VN", "Cung cấp dịch vụ và hoàn tất đơn hàng", True, {"width": 390, "height": 844}),
    "en": ("en-US", "Providing services and completing orders", False, None),
}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_visitor_reads_the_notice_orders_and_sees_what_was_sent(
    storefront: Storefront,
    new_page: Callable[..., Page],
    screenshot: Screenshot,
    lang: str,
) -> None:
    locale, purpose_name, tick, viewport = CASES[lang]
    page = new_page(locale=locale, **({"viewport": viewport} if viewport else {}))
    csp_violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            csp_violations.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    response = page.goto(f"{storefront.url}/demo-shop/")
    assert response is not None and response.status == 200
    assert page.locator("html").get_attribute("lang") == lang

    # The blocked statistics script has not run: no choice was made (P07).
    assert page.evaluate("typeof window.demoAnalyticsRan") == "undefined"

    # The just-in-time notice beside the form, from the policy, in the page's language (P25).
    notice = page.locator('aside [data-jit="order_fulfilment"]')
    assert notice.is_visible()
    assert purpose_name in notice.inner_text()
    link = notice.locator("a", has_text=re.compile(".+"))
    assert link.get_attribute("href") == f"/privacy/?lang={lang}#purpose-order_fulfilment"
    screenshot(page, f"demo-shop-{lang}")

    page.fill("#id_full_name", NAME)
    page.fill("#id_address", ADDRESS)
    page.fill("#id_email", EMAIL)
    page.fill("#id_phone", PHONE)
    consent_box = page.locator("#id_consent")
    assert not consent_box.is_checked()
    if tick:
        # Dispatched to the box itself: whatever the banner draws over the page.
        consent_box.dispatch_event("click")
        assert consent_box.is_checked()
    with page.expect_navigation():
        page.locator("form.checkout-form").evaluate("form => form.requestSubmit()")

    assert page.locator("h1#thanks").is_visible()
    assert page.locator("html").get_attribute("lang") == lang
    order_line = page.locator(".order-line").inner_text()
    assert re.search(r"DEMO-[0-9A-F]{10}", order_line)
    sent = page.locator("table.sent").inner_text()
    assert NAME in sent and EMAIL in sent
    assert page.locator('a[href="/me/register/"]').first.is_visible()
    screenshot(page, f"demo-shop-confirmation-{lang}")
    assert page.evaluate("typeof window.demoAnalyticsRan") == "undefined"
    assert csp_violations == []

    customer = Customer.objects.get()
    assert customer.language == lang
    assert Order.objects.filter(customer=customer).count() == 1
    given = ConsentEvent.objects.filter(customer_id=customer.id, purpose="customer_database")
    assert given.exists() is tick


def test_the_language_switch_changes_the_notice(
    storefront: Storefront, new_page: Callable[..., Page]
) -> None:
    page = new_page(locale="en-US")
    page.goto(f"{storefront.url}/demo-shop/")
    assert "Providing services and completing orders" in page.locator("aside").inner_text()
    page.locator('.shop-lang a[hreflang="vi"]').click()
    page.wait_for_url(re.compile(r"lang=vi"))
    assert "Cung cấp dịch vụ và hoàn tất đơn hàng" in page.locator("aside").inner_text()
    # The choice is remembered for the next page, as on the policy page.
    page.goto(f"{storefront.url}/demo-shop/")
    assert page.locator("html").get_attribute("lang") == "vi"
