"""Data-subject requests from the privacy center in a real browser (issue 6), in Vietnamese and
English: a signed-in customer asks for a copy of their data and downloads the zip at once, then
asks for erasure, which waits for the shop's staff with its legal due date shown.

Screenshots go to tests/artifacts/requests-*.png.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from pledge.rights.models import DataSubjectRequest, RequestStatus
from pledge.vault.access import Actor
from tests.browser.test_privacy_center import PASSWORD, seed
from tests.smtp import Mailbox

pytestmark = pytest.mark.browser

Screenshot = Callable[[Page, str], Path]


@pytest.mark.parametrize(("locale", "lang"), [("vi-VN", "vi"), ("en-US", "en")])
def test_a_customer_downloads_a_copy_and_asks_for_erasure(
    live_server: LiveServer,
    leman: Any,
    shop_api: Actor,
    mailbox: Mailbox,
    new_page: Callable[..., Page],
    screenshot: Screenshot,
    locale: str,
    lang: str,
) -> None:
    from tests.portal.conftest import make_account

    email = f"ban.sao.{lang}@example.vn"
    name = "Trần Thị Bản Sao"
    customer_id = seed(shop_api, email, name)
    make_account(email, PASSWORD, language=lang)
    page = new_page(locale=locale)
    page.goto(f"{live_server.url}/me/login/")
    page.locator('input[name="email"]').fill(email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/me/")

    # A copy of my data: carried out at once, the package downloads from the answer.
    page.locator('nav.portal-nav a[href="/me/requests/"]').click()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    page.locator('a[href="/me/requests/new/"]').first.click()
    page.locator('input[name="kind"][value="portability"]').check()
    page.locator("main form.stack button[type=submit]").click()
    copy = DataSubjectRequest.objects.get(customer_id=customer_id, kind="portability")
    assert copy.status == RequestStatus.COMPLETE
    expect(page).to_have_url(f"{live_server.url}/me/requests/{copy.id}/")
    screenshot(page, f"requests-copy-{lang}")
    with page.expect_download() as download:
        page.locator(f'a[href^="/me/requests/{copy.id}/package.zip"]').click()
    data = Path(download.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        document = json.loads(package.read("data.json"))
        assert "index.html" in package.namelist()
    assert name in json.dumps(document, ensure_ascii=False)

    # Erasure: it waits for the shop's staff, with the due date the law sets.
    page.goto(f"{live_server.url}/me/requests/new/")
    page.locator('input[name="kind"][value="erasure"]').check()
    page.locator('input[name="confirm_erasure"]').check()
    page.locator("main form.stack button[type=submit]").click()
    erasure = DataSubjectRequest.objects.get(customer_id=customer_id, kind="erasure")
    assert erasure.status == RequestStatus.PENDING and erasure.due_at is not None
    expect(page).to_have_url(f"{live_server.url}/me/requests/{erasure.id}/")
    page.goto(f"{live_server.url}/me/requests/")
    rows = page.locator("main")
    expect(rows).to_contain_text(str(erasure.due_at.astimezone().year))
    expect(rows).to_contain_text("chờ xử lý" if lang == "vi" else "pending", ignore_case=True)
    screenshot(page, f"requests-list-{lang}")
