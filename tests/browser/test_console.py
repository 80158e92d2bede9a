"""The staff console in a real browser (issue 4 acceptance): an owner signs in with a TOTP code;
customer service searches a customer and reads a purpose-bound view with masked values; a field
the purpose does not allow is refused; an owner breaks the glass with a written reason, which
another owner sees on the dashboard; an auditor filters the audit log and verifies the chain.

Screenshots go to tests/artifacts/console-*.png.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from pledge.audit.models import AuditEvent
from pledge.vault import services
from pledge.vault.access import Actor
from tests.console.staffing import EMAIL, NAME, PASSWORD, make_staff, seed_customer

pytestmark = pytest.mark.browser

Screenshot = Callable[[Page, str], Path]

REASON = "The customer phoned about a stolen ring; the police asked for her phone number."


@pytest.fixture
def console(live_server: LiveServer, leman: Any) -> str:
    return f"{live_server.url}/console"


@pytest.fixture
def customer_id(leman: Any, shop_api: Actor) -> uuid.UUID:
    return seed_customer(shop_api)


def current_code(user: Any) -> str:
    """What the staff member's authenticator app shows now."""
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    code = totp(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{code:0{device.digits}d}"


def sign_in(page: Page, console: str, user: Any, *, start: str = "/") -> None:
    """Both steps of the sign-in, as a person types them; ends on `start`."""
    page.goto(f"{console}{start}")
    expect(page).to_have_url(re.compile(r"/console/login/"))
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/console/login/verify/"))
    page.get_by_label("Code").fill(current_code(user))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{console}{start}")
    expect(page.locator(".who")).to_contain_text(user.email)


# -- sign-in ------------------------------------------------------------------------------------


def test_owner_signs_in_with_a_totp_code(page: Page, console: str, screenshot: Screenshot) -> None:
    owner = make_staff("owner", "chau.owner@leman.test")
    page.goto(f"{console}/")
    expect(page).to_have_url(f"{console}/login/?next=/console/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to the staff console")
    page.get_by_label("Email address").fill(owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    screenshot(page, "console-login-password")
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    code = current_code(owner)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    page.get_by_label("Code").fill(wrong)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("That code is wrong or was already used.")).to_be_visible()
    screenshot(page, "console-login-wrong-code")

    # django-otp refuses any code for a second after a wrong one (its throttle doubles with each
    # failure): a person takes longer than that to type the code again.
    page.wait_for_timeout(1_100)
    page.get_by_label("Code").fill(current_code(owner))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{console}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.locator(".who")).to_contain_text("chau.owner@leman.test")
    expect(page.locator(".who")).to_contain_text("Management Board")
    nav = page.get_by_role("navigation", name="Console")
    for link in ("Dashboard", "Customers", "Audit log", "Staff", "My account"):
        expect(nav.get_by_role("link", name=link)).to_be_visible()
    screenshot(page, "console-dashboard-owner")
    assert AuditEvent.objects.filter(
        type="staff:login_succeeded", actor=f"staff:{owner.pk}"
    ).exists()
    # The failed step names the account in `record`: the actor is still anonymous then.
    assert AuditEvent.objects.filter(type="staff:login_failed", record=f"staff:{owner.pk}").exists()


# -- customers ----------------------------------------------------------------------------------


def test_customer_service_searches_and_sees_a_masked_purpose_bound_view(
    page: Page, console: str, customer_id: uuid.UUID, screenshot: Screenshot
) -> None:
    cs = make_staff("customer_service", "binh.cs@leman.test")
    sign_in(page, console, cs)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Customers").click()
    page.get_by_label("Purpose of this access").select_option("order_fulfilment")
    page.get_by_label("Search by").select_option("email")
    page.get_by_label("Value").fill(EMAIL.upper())
    page.get_by_role("button", name="Search").click()

    result = page.locator("ul.results li").first
    expect(result).to_contain_text(str(customer_id))
    expect(result.locator(".masked")).to_have_text("N••• T•• H••• N•••")
    expect(page.get_by_text(NAME)).to_have_count(0)
    screenshot(page, "console-customer-search")

    result.get_by_role("link").click()
    expect(page).to_have_url(f"{console}/customers/{customer_id}/?purpose=order_fulfilment")
    # order_fulfilment shows name, address and phone whole; the email only masked.
    expect(page.locator('dd[data-field="full_name"]')).to_have_text(NAME)
    email = page.locator('dd[data-field="email"]')
    expect(email.locator(".masked")).to_be_visible()
    expect(email).not_to_contain_text(EMAIL)
    expect(page.get_by_text("LM-ORDER-1")).to_be_visible()
    screenshot(page, "console-customer-view-order-fulfilment")

    # Another purpose of the role, another set of fields: the guarantee shows the name whole and
    # masks the phone.
    page.get_by_text("Look for another purpose").click()
    page.get_by_role("link", name="Guarantee", exact=False).first.click()
    expect(page).to_have_url(re.compile(r"purpose=guarantee"))
    expect(page.locator('dd[data-field="phone"] .masked')).to_be_visible()
    screenshot(page, "console-customer-view-guarantee")

    reads = AuditEvent.objects.filter(type="vault:read", actor=f"staff:{cs.pk}")
    assert {e.purpose for e in reads} >= {"order_fulfilment", "guarantee"}


def test_a_field_outside_the_purpose_is_refused(
    page: Page, console: str, customer_id: uuid.UUID, screenshot: Screenshot
) -> None:
    sales = make_staff("sales", "dung.sales@leman.test")
    sign_in(page, console, sales)
    page.goto(f"{console}/customers/{customer_id}/?purpose=order_fulfilment")
    hidden = page.get_by_role("region", name="Not shown for this purpose")
    expect(hidden).to_contain_text("payment card")
    expect(hidden.get_by_role("link", name="Break glass")).to_have_count(0)  # not for sales

    # Asking for it anyway, through the URL: refused, named, and recorded.
    page.goto(f"{console}/customers/{customer_id}/?purpose=order_fulfilment&fields=card")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Access refused by the privacy policy"
    )
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("payment card")
    expect(alert).to_contain_text("Your role may not see this field for this purpose.")
    expect(page.get_by_text("The attempt is recorded in the audit log.")).to_be_visible()
    screenshot(page, "console-customer-field-refused")
    refused = AuditEvent.objects.filter(type="vault:access_refused", actor=f"staff:{sales.pk}")
    assert refused.filter(customer_id=customer_id, fields__contains="card").exists()


def test_break_glass_with_a_reason_shows_on_the_owners_dashboard(
    new_page: Callable[..., Page], console: str, customer_id: uuid.UUID, screenshot: Screenshot
) -> None:
    minh = make_staff("owner", "minh.owner@leman.test")
    page = new_page()
    sign_in(page, console, minh)
    page.goto(f"{console}/customers/{customer_id}/?purpose=complaints")
    phone = page.locator('dd[data-field="phone"]')
    expect(phone.locator(".masked")).to_be_visible()
    phone.get_by_role("link", name="Break glass").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Break glass")
    expect(page.get_by_role("checkbox", name="Phone", exact=False)).to_be_checked()
    page.get_by_label("Why do you need these fields?", exact=False).fill(REASON)
    screenshot(page, "console-break-glass-form")
    page.get_by_role("button", name="Open these fields").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Opened with break-glass")
    expect(page.locator("dl")).to_contain_text("912")
    screenshot(page, "console-break-glass-opened")

    # Another member of the Management Board reviews it on the dashboard.
    chau = make_staff("owner", "chau.owner@leman.test")
    review = new_page()
    sign_in(review, console, chau)
    section = review.get_by_role("region", name="Recent break-glass accesses")
    row = section.locator("tbody tr").first
    expect(row).to_contain_text(REASON)
    expect(row).to_contain_text("minh.owner@leman.test")
    expect(row).to_contain_text("Flagged")
    expect(row.get_by_role("link", name=str(customer_id))).to_be_visible()
    screenshot(review, "console-dashboard-break-glass")
    event = AuditEvent.objects.filter(type="vault:break_glass").get()
    assert event.actor == f"staff:{minh.pk}"
    assert REASON not in event.canonical  # the reason is kept encrypted, never in the log


# -- the audit log ------------------------------------------------------------------------------


def test_the_auditor_filters_the_audit_log_and_verifies_the_chain(
    page: Page, console: str, customer_id: uuid.UUID, shop_api: Actor, screenshot: Screenshot
) -> None:
    other = services.collect_customer(
        actor=shop_api, purpose="order_fulfilment", fields={"full_name": "Trần Văn Bảy"}
    )
    auditor = make_staff("auditor", "an.auditor@leman.test")
    sign_in(page, console, auditor, start="/audit/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    rows = page.locator("table.audit-log tbody tr")
    expect(rows.first).to_be_visible()
    screenshot(page, "console-audit-log")

    page.get_by_label("Customer id").fill(str(customer_id))
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(rf"customer={customer_id}"))
    ours = AuditEvent.objects.filter(customer_id=customer_id).count()
    expect(rows).to_have_count(ours)
    expect(page.locator("table.audit-log")).not_to_contain_text(str(other)[:8])
    expect(page.locator("table.audit-log")).to_contain_text("vault:guarantee_issued")

    page.get_by_label("Event type").select_option("vault:order_placed")
    page.get_by_label("Customer id").press("Enter")  # the keyboard submits the form too
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("vault:order_placed")
    screenshot(page, "console-audit-log-filtered")

    page.get_by_role("button", name="Verify now").click()
    result = page.locator("#verify-result")
    expect(result).to_contain_text("The audit log is intact.")
    expect(result).to_contain_text(str(AuditEvent.objects.count() - 1))
    screenshot(page, "console-audit-verified")
    verified = AuditEvent.objects.order_by("-seq").first()
    assert verified is not None
    assert (verified.type, verified.actor) == ("audit:verified", f"staff:{auditor.pk}")


def test_the_audit_log_reads_on_a_phone_in_vietnamese(
    new_page: Callable[..., Page], console: str, customer_id: uuid.UUID, screenshot: Screenshot
) -> None:
    owner = make_staff("owner", "chau.owner@leman.test")
    page = new_page(locale="vi-VN", viewport={"width": 390, "height": 844})
    page.goto(f"{console}/audit/")
    page.locator('input[name="email"]').fill(owner.email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('form button[type="submit"]').click()
    page.locator('input[name="code"]').fill(current_code(owner))
    page.locator('form button[type="submit"]').click()
    expect(page).to_have_url(f"{console}/audit/")
    assert page.locator("html").get_attribute("lang") == "vi"
    expect(page.locator("table.audit-log tbody tr").first).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    screenshot(page, "console-audit-log-phone-vi")
