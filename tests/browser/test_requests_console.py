"""The staff request console in a real browser (issue 6 items 1-2): customer service records an
access request a customer made by phone, verifies the caller with the code Pledge emails to the
address on file (read from the real SMTP server, as the customer would read it out), sees the
request in the queue in due order with its marks, approves it and carries it out.

Screenshots go to tests/artifacts/requests-*.png.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from pledge.audit.events import EventType
from pledge.audit.models import AuditEvent
from pledge.rights import services
from pledge.rights.models import DataSubjectRequest, RequestStatus
from pledge.vault import services as vault
from pledge.vault.access import Actor
from tests.browser.test_console import sign_in
from tests.console.staffing import EMAIL, NAME, make_staff, seed_customer
from tests.smtp import Mailbox, body_of, deliver_outbox

pytestmark = pytest.mark.browser

Screenshot = Callable[[Page, str], Path]
OWNER = Actor(kind="staff", id="900", role="owner")


@pytest.fixture
def console(live_server: LiveServer, leman: Any, settings: Any) -> str:
    # The data package's link is built on the public address (http is accepted on localhost).
    settings.PLEDGE_PUBLIC_URL = live_server.url
    return f"{live_server.url}/console"


def the_code(mailbox: Mailbox) -> str:
    """The one-time code in the email that reached the address on file."""
    deliver_outbox()
    for message in mailbox.wait_for(1):
        found = re.search(r"\b(\d{6})\b", body_of(message))
        if found and message["To"] == EMAIL:
            return found.group(1)
    raise AssertionError("no code reached the address on file")


def test_staff_record_verify_approve_and_carry_out_a_phone_request(
    page: Page, console: str, shop_api: Actor, mailbox: Mailbox, screenshot: Screenshot
) -> None:
    customer_id = seed_customer(shop_api)
    other = vault.collect_customer(
        actor=shop_api, purpose="order_fulfilment", fields={"full_name": "Trần Văn Bình"}
    )
    now = timezone.now()
    # Already in the queue: one long overdue, one due in twenty days.
    late = services.file_request(
        actor=OWNER,
        customer_id=other,
        kind="erasure",
        channel="staff",
        received_at=now - dt.timedelta(days=60),
    )
    later = services.file_request(
        actor=OWNER, customer_id=other, kind="erasure", channel="staff", received_at=now
    )
    cs = make_staff("customer_service", "binh.cs@leman.test")
    sign_in(page, console, cs)
    page.goto(f"{console}/customers/{customer_id}/?purpose=complaints")

    # The phone call: record it from the customer's page.
    page.get_by_role("link", name="Record a request from this customer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Record a request")
    page.get_by_label("What the customer asks for").select_option("access")
    screenshot(page, "requests-record")
    page.get_by_role("button", name="Record the request").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Request: access to my data")
    expect(page.locator("[data-status]")).to_have_text("identity not verified")
    request = DataSubjectRequest.objects.get(customer_id=customer_id)
    assert request.channel == "staff"

    # Verify the caller: a code to the email on file, read back on the phone.
    page.get_by_role("button", name="Send the code").click()
    expect(page.locator(".messages")).to_contain_text("A code was sent")
    code = the_code(mailbox)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    page.get_by_label("Six-digit code").fill(wrong)
    page.get_by_role("button", name="Check the code").click()
    expect(page.locator("[data-refusal]")).to_contain_text("The code is wrong")
    page.get_by_label("Six-digit code").fill(code)
    page.get_by_role("button", name="Check the code").click()
    expect(page.locator("[data-status]")).to_have_text("pending")
    screenshot(page, "requests-verified")

    # The queue: due first on top, marks in words, the customer by reference only.
    page.get_by_role("link", name="All open requests").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Privacy requests")
    rows = page.locator("tr[data-request]")
    expect(rows).to_have_count(3)
    ids = [rows.nth(i).get_attribute("data-request") for i in range(3)]
    assert ids == [str(late.id), str(request.id), str(later.id)]
    expect(rows.nth(0)).to_contain_text("Overdue")
    expect(rows.nth(1)).to_contain_text(customer_id.hex[:8])
    expect(page.locator("main, body").first).not_to_contain_text(NAME)
    screenshot(page, "requests-queue")

    # Approve, then carry it out: the data package goes to the address on file.
    rows.nth(1).get_by_role("link").first.click()
    page.get_by_role("button", name="Approve the request").click()
    expect(page.locator("[data-status]")).to_have_text("approved")
    page.get_by_role("button", name="Carry it out now").click()
    expect(page.locator("[data-status]")).to_have_text("complete")
    timeline = page.locator("[data-timeline] li")
    expect(timeline.first).to_contain_text("a data-subject request filed")
    expect(timeline.last).to_contain_text("a data-subject request completed")
    screenshot(page, "requests-complete")

    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETE
    assert request.identity_method == "staff_email_code"
    types = set(
        AuditEvent.objects.filter(record=f"request:{request.id}").values_list("type", flat=True)
    )
    assert {
        EventType.RIGHTS_IDENTITY_CODE_SENT,
        EventType.RIGHTS_IDENTITY_FAILED,
        EventType.RIGHTS_IDENTITY_VERIFIED,
        EventType.RIGHTS_REQUEST_APPROVED,
        EventType.RIGHTS_REQUEST_COMPLETED,
    } <= types
    # The package link went to the address on file, never to anyone on the phone.
    deliver_outbox()
    links = [m for m in mailbox.wait_for(3) if "/data-package/" in body_of(m)]
    assert [m["To"] for m in links] == [EMAIL]
    # Closed: it left the queue.
    page.get_by_role("link", name="All open requests").click()
    expect(page.locator("tr[data-request]")).to_have_count(2)
    assert uuid.UUID(str(page.locator("tr[data-request]").first.get_attribute("data-request")))
