"""The privacy center in a real browser (issue 5 acceptance), in Vietnamese and English:
register → verify (the link read from a real SMTP server) → see my data → correct it → withdraw a
consent → the vault refuses that purpose. Also: the pages fit a 360 px wide phone screen.

The customer ordered before registering: the shop's backend collected her for the customer
database with a ticked checkbox (a live consent) and recorded an order. Registering with the same
email links the account to that record when the email is verified.

Screenshots go to tests/artifacts/privacy-center-*.png.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from pledge.accounts.models import CustomerAccount
from pledge.consent.models import ConsentEvent
from pledge.notify.delivery import deliver_due
from pledge.vault import services
from pledge.vault.access import Actor
from pledge.vault.errors import ConsentRequired
from tests.smtp import Mailbox, link_in

pytestmark = pytest.mark.browser

Screenshot = Callable[[Page, str], Path]
PASSWORD = "lantern harbour pepper 42"
PHONE_NEW = "0903 111 222"
PHONE_NEW_E164 = "+84903111222"


def seed(shop_api: Actor, email: str, name: str) -> uuid.UUID:
    cid: uuid.UUID = services.collect_customer(
        actor=shop_api,
        purpose="customer_database",
        fields={"full_name": name, "email": email, "phone": "0912 345 678", "address": "Hà Nội"},
        consent_method="checkbox",
    )
    services.place_order(
        actor=shop_api,
        purpose="order_fulfilment",
        customer_id=cid,
        number=f"LM-{uuid.uuid4().hex[:8].upper()}",
        items=[{"sku": "RG-18K-01", "name": "Nhẫn vàng 18K", "quantity": 1}],
        total="5200000",
    )
    return cid


def submit(page: Page) -> None:
    page.locator("main form.stack button[type=submit]").click()


@pytest.mark.parametrize(("locale", "lang"), [("vi-VN", "vi"), ("en-US", "en")])
def test_register_verify_see_correct_and_withdraw(
    live_server: LiveServer,
    leman: Any,
    shop_api: Actor,
    staff: Callable[..., Actor],
    mailbox: Mailbox,
    new_page: Callable[..., Page],
    screenshot: Screenshot,
    locale: str,
    lang: str,
) -> None:
    email = f"hong.nhung.{lang}@example.vn"
    name = "Nguyễn Thị Hồng Nhung"
    cid = seed(shop_api, email, name)
    page = new_page(locale=locale)

    # Register (the form's labels are in the page's language: fields are found by name).
    page.goto(f"{live_server.url}/me/register/")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    page.locator('input[name="email"]').fill(email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('input[name="accept_policy"]').check()
    page.locator("main form button[type=submit]").click()
    expect(page.locator("main h1")).to_be_visible()

    # Verify: the link comes from the email the real SMTP server received.
    assert deliver_due() >= 1
    [message] = mailbox.wait_for(1)
    assert message["To"] == email
    page.goto(f"{live_server.url}{link_in(message, '/me/verify/')}")
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/me/")
    account = CustomerAccount.objects.get(customer_id=cid)  # linked to her earlier record
    assert account.verified_at is not None

    # See my data: the record collected at checkout, grouped, with its uses.
    page.locator('nav.portal-nav a[href="/me/data/"]').click()
    expect(page).to_have_url(f"{live_server.url}/me/data/")
    expect(page.locator('[data-field="full_name"] .value').first).to_have_text(name)
    expect(page.locator('[data-field="email"]')).to_contain_text(email)
    expect(page.locator('[data-field="purchase_history"] table')).to_be_visible()
    screenshot(page, f"privacy-center-data-{lang}")

    # Correct it: a new phone number, normalised and shown.
    page.locator('a[href="/me/data/edit/"]').first.click()
    phone = page.locator('input[name="phone"]')
    expect(phone).to_have_value("+84912345678")
    phone.fill(PHONE_NEW)
    submit(page)
    expect(page).to_have_url(f"{live_server.url}/me/data/")
    expect(page.locator('[data-field="phone"] .value').first).to_have_text(PHONE_NEW_E164)
    expect(page.locator(".msg")).to_be_visible()

    # Withdraw the consent to the customer database: one click.
    page.locator('nav.portal-nav a[href="/me/consents/"]').click()
    database = page.locator('article[data-purpose="customer_database"]')
    expect(database.locator(".state")).to_have_class(re.compile(r"\bon\b"))
    screenshot(page, f"privacy-center-consents-{lang}")
    database.locator("button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/me/consents/")
    database = page.locator('article[data-purpose="customer_database"]')
    expect(database.locator(".state")).to_have_class(re.compile(r"\boff\b"))
    expect(database.locator('input[name="decision"]')).to_have_value("give")

    # The ledger has the withdrawal, and the vault now refuses the purpose (P04).
    last = ConsentEvent.objects.filter(customer_id=cid, purpose="customer_database").latest("at")
    assert (last.action, last.channel, last.language) == ("withdrawn", "privacy_center", lang)
    with pytest.raises(ConsentRequired):
        services.read_customer(
            actor=staff("customer_service"), purpose="customer_database", customer_id=cid
        )
    # The correction went through the vault: the shop's own purposes see the new number.
    view = services.read_customer(actor=staff("sales"), purpose="order_fulfilment", customer_id=cid)
    assert view.fields["phone"] == PHONE_NEW_E164


def test_the_pages_fit_a_phone_screen(
    live_server: LiveServer,
    leman: Any,
    shop_api: Actor,
    mailbox: Mailbox,
    new_page: Callable[..., Page],
    screenshot: Screenshot,
) -> None:
    from tests.portal.conftest import make_account

    email = "small.screen@example.vn"
    seed(shop_api, email, "Lê Văn Một Cái Tên Rất Dài Để Thử Màn Hình Nhỏ")
    make_account(email, PASSWORD, language="vi")
    page = new_page(locale="vi-VN", viewport={"width": 360, "height": 740})
    page.goto(f"{live_server.url}/me/login/")
    page.locator('input[name="email"]').fill(email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/me/")
    for path in ["/me/", "/me/data/", "/me/data/edit/", "/me/consents/", "/me/access-log/"]:
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("main h1")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} is {width} px wide on a 360 px screen"
        name = path.strip("/").replace("/", "-") or "home"
        screenshot(page, f"privacy-center-phone-{name}")
