"""A complaint end to end in real browsers (issue 7, acceptance "browser test"): a customer files
a complaint in Vietnamese in the privacy center with a photo as evidence, customer service
answers it in the console with its reason (P22), the customer reads the answer and the reason in
the privacy center, and the answer email reaches the test SMTP server in Vietnamese.

Screenshots go to tests/artifacts/complaints-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from pledge.complaints.models import Complaint, ComplaintEvidence
from pledge.vault.access import Actor
from tests.browser.test_console import sign_in
from tests.browser.test_privacy_center import PASSWORD, seed
from tests.console.staffing import make_staff
from tests.smtp import Mailbox, body_of, deliver_outbox

pytestmark = pytest.mark.browser

Screenshot = Callable[[Page, str], Path]
EMAIL = "khieu.nai@example.vn"
COMPLAINT = "Tôi đã từ chối nhận quảng cáo nhưng vẫn nhận tin nhắn mỗi tối."
ANSWER = "Chúng tôi đã gỡ số điện thoại của bạn khỏi danh sách gửi tin."
REASON = "Danh sách từ chối chưa được đồng bộ sang hệ thống gửi tin nhắn."
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def shop(live_server: LiveServer, leman: Any, settings: Any, tmp_path: Path) -> str:
    # Emails link to the public address; evidence is written where the test can look.
    settings.PLEDGE_PUBLIC_URL = live_server.url
    settings.PLEDGE_EVIDENCE_DIR = tmp_path / "evidence"
    return str(live_server.url)


def test_a_customer_complains_in_vietnamese_and_reads_the_staff_answer(
    shop: str,
    shop_api: Actor,
    mailbox: Mailbox,
    new_page: Callable[..., Page],
    screenshot: Screenshot,
) -> None:
    from tests.portal.conftest import make_account

    customer_id = seed(shop_api, EMAIL, "Lê Thị Khiếu Nại")
    make_account(EMAIL, PASSWORD, language="vi")

    # The customer, in Vietnamese: sign in, open Complaints, file one with a photo.
    page = new_page(locale="vi-VN")
    page.goto(f"{shop}/me/login/")
    page.locator('input[name="email"]').fill(EMAIL)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(f"{shop}/me/")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    page.locator('nav.portal-nav a[href="/me/complaints/"]').click()
    page.locator('main a[href="/me/complaints/new/"]').first.click()
    form = page.locator("#complaint-form")
    form.locator('textarea[name="text"]').fill(COMPLAINT)
    form.locator('input[type="file"][name="evidence"]').set_input_files(
        {"name": "tin-nhan.png", "mimeType": "image/png", "buffer": PNG}
    )
    screenshot(page, "complaints-new-vi")
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/me/complaints/[0-9a-f-]{36}/$"))
    complaint = Complaint.objects.get(customer_id=customer_id)
    assert complaint.channel == "privacy_center"
    assert ComplaintEvidence.objects.filter(complaint=complaint).count() == 1
    expect(page).to_have_url(f"{shop}/me/complaints/{complaint.id}/")
    expect(page.locator("main")).to_contain_text(COMPLAINT)

    # Customer service answers in the console, with the reason.
    staff_page = new_page(locale="en-US")
    cs = make_staff("customer_service", "an.cs@leman.test")
    sign_in(staff_page, f"{shop}/console", cs, start=f"/complaints/{complaint.id}/")
    expect(staff_page.locator("main")).to_contain_text(COMPLAINT)
    answer = staff_page.locator("#answer-form")
    answer.locator('textarea[name="text"]').fill(ANSWER)
    answer.locator('textarea[name="reason"]').fill(REASON)
    answer.locator('select[name="outcome"]').select_option("upheld")
    answer.locator("button[type=submit]").click()
    expect(staff_page.locator("[data-status]")).to_contain_text("answered")
    screenshot(staff_page, "complaints-answered-console")
    complaint.refresh_from_db()
    assert complaint.status == "answered"

    # The customer sees the answer and its reason, in Vietnamese.
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.locator('[data-kind="answer"] [data-text]')).to_have_text(ANSWER)
    expect(page.locator('[data-kind="answer"] [data-reason]')).to_have_text(REASON)
    expect(page.locator("#reopen-form")).to_be_visible()
    screenshot(page, "complaints-answer-vi")

    # The answer email reached the customer's address, in Vietnamese.
    deliver_outbox()
    messages = mailbox.wait_for(2)
    answered = [m for m in messages if m["To"] == EMAIL and ANSWER in body_of(m)]
    assert len(answered) == 1
    body = body_of(answered[0])
    assert REASON in body
    assert f"{shop}/me/complaints/{complaint.id}/" in body
    with translation.override("vi"):
        why = translation.gettext("Why:")
    # The catalog holds the Vietnamese (a missing translation would leave the English here).
    assert why != "Why:"
    assert why in body
    assert "Why:" not in body
