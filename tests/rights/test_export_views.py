"""Delivering the data package (issue 6 item 3): the signed, expiring link sent with the answer
to a request, and the download in the privacy center. Real parts: the requests go through the
rights services, the answer through the outbox to a real SMTP server, the pages through Django's
test client; only the clock of `django.core.signing` is moved, to expire a link.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import time
import uuid
import zipfile
from typing import Any

import pytest
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import Client

from pledge.audit.models import AuditEvent
from pledge.consent.unsubscribe import make_token as unsubscribe_token
from pledge.rights.export_link import create_export_link, make_link_token
from pledge.rights.models import DataSubjectRequest, RequestStatus
from pledge.rights.services import (
    RequestConflict,
    RequestInvalid,
    approve_request,
    deny_request,
    file_from_privacy_center,
    file_request,
    process_request,
    verify_identity,
)
from pledge.vault.access import Actor
from pledge.vault.erasure import erase_customer
from pledge.vault.errors import AccessRefused, NotFound
from pledge.vault.rekey import rekey_customer
from tests.portal.conftest import customer_client, make_account
from tests.rights.test_export import (
    EMAIL,
    NAME,
    OTHER_EMAIL,
    OTHER_NAME,
    PHONE_E164,
    Person,
    seed,
)
from tests.smtp import Mailbox, deliver_outbox, link_in

STAFF = Actor(kind="staff", id="7", role="owner")
PUBLIC = "https://privacy.leman.example"


@pytest.fixture(autouse=True)
def public_address(settings: Any) -> None:
    settings.PLEDGE_PUBLIC_URL = PUBLIC
    # Argon2id at its cheapest for the few privacy-center accounts made here.
    settings.PASSWORD_HASHERS = ["tests.portal.conftest.QuickArgon2PasswordHasher"]


@pytest.fixture
def nhung(leman: Any, shop_api: Actor) -> Person:
    return Person(seed(shop_api))


@pytest.fixture
def bao(leman: Any, shop_api: Actor) -> Person:
    return Person(
        seed(
            shop_api,
            name=OTHER_NAME,
            email=OTHER_EMAIL,
            phone="0987 654 321",
            address="45 Nguyễn Huệ, TP. Hồ Chí Minh",
            order="LM-ORDER-2",
            everything=False,
        )
    )


def by_phone(person: Person, kind: str = "access") -> DataSubjectRequest:
    """A request received by phone: entered by staff, identity checked in person (pending)."""
    request = file_request(actor=STAFF, customer_id=person.id, kind=kind, channel="staff")
    return verify_identity(
        actor=STAFF, request_id=request.id, customer_id=person.id, method="in_person"
    )


def carried_out(person: Person, kind: str = "access") -> DataSubjectRequest:
    """Entered by staff, verified, approved and carried out: the answer holds a signed link."""
    request = by_phone(person, kind)
    approve_request(actor=STAFF, request_id=request.id)
    return process_request(actor=STAFF, request_id=request.id)


def path_of(url: str) -> str:
    assert url.startswith(f"{PUBLIC}/data-package/"), url
    return url.removeprefix(PUBLIC)


def link_path(request: DataSubjectRequest) -> str:
    return path_of(create_export_link(actor=STAFF, request_id=request.id))


def downloads(request_id: uuid.UUID) -> list[dict[str, Any]]:
    events = AuditEvent.objects.filter(
        type="rights:export_downloaded", record=f"request:{request_id}"
    ).order_by("seq")
    return [json.loads(e.details) for e in events]


def reason(response: HttpResponse) -> str:
    text = response.content.decode()
    start = text.index('data-reason="') + len('data-reason="')
    return text[start : text.index('"', start)]


def assert_private(response: HttpResponse) -> None:
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["X-Content-Type-Options"] == "nosniff"


def english() -> Client:
    return Client(headers={"accept-language": "en"})


# -- the signed link ---------------------------------------------------------------------------


def test_the_link_in_the_answer_opens_the_package(nhung: Person, mailbox: Mailbox) -> None:
    request = carried_out(nhung)
    assert request.status == RequestStatus.COMPLETE
    deliver_outbox()
    answer = mailbox.wait_for(2)[-1]  # acknowledgement, then the answer
    assert answer["To"] == EMAIL
    page = english().get(link_in(answer, "/data-package/"))
    assert page.status_code == 200
    html = page.content.decode()
    assert NAME in html and PHONE_E164 in html
    assert 'data-format="zip"' in html and 'data-format="html"' in html
    assert "This link works until" in html
    assert_private(page)
    # The email says how long the link works; the link is absolute, under PLEDGE_PUBLIC_URL.
    assert f"{PUBLIC}/data-package/" in answer.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_the_downloads_are_files_that_stay_private(nhung: Person) -> None:
    request = carried_out(nhung)
    page = link_path(request)
    client = english()
    archive = client.get(f"{page}package.zip")
    assert archive.status_code == 200
    assert archive["Content-Type"] == "application/zip"
    assert archive["Content-Disposition"].startswith('attachment; filename="data-package-')
    assert archive["Content-Disposition"].endswith('.zip"')
    assert_private(archive)
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        assert "data.json" in opened.namelist()
        assert json.loads(opened.read("data.json"))["profile"]["full_name"] == NAME
    readable = client.get(f"{page}package.html")
    assert readable.status_code == 200
    assert readable["Content-Type"] == "text/html; charset=utf-8"
    assert readable["Content-Disposition"].endswith('.html"')
    assert readable["Content-Disposition"].startswith("attachment;")
    assert_private(readable)
    assert NAME in readable.content.decode()


def test_creating_the_link_and_each_delivery_are_audited(nhung: Person, settings: Any) -> None:
    settings.PLEDGE_EXPORT_LINK_SECONDS = 3 * 86400
    request = carried_out(nhung)
    created = AuditEvent.objects.filter(
        type="rights:export_link_created", record=f"request:{request.id}"
    )
    # One link made by processing the request (sent in the answer).
    assert created.count() == 1
    event = created.get()
    assert event.actor == "staff:7" and event.customer_id == nhung.id
    expires = json.loads(event.details)["expires_at"]
    lifetime = dt.datetime.fromisoformat(expires) - event.at
    assert abs(lifetime.total_seconds() - 3 * 86400) < 5
    page = link_path(request)
    client = english()
    client.get(page)
    client.get(f"{page}package.zip")
    client.get(f"{page}package.html")
    assert downloads(request.id) == [
        {"format": "page", "via": "link"},
        {"format": "zip", "via": "link"},
        {"format": "html", "via": "link"},
    ]
    events = AuditEvent.objects.filter(type="rights:export_downloaded", customer_id=nhung.id)
    assert {e.actor for e in events} == {f"customer:{nhung.id}"}
    for e in events:
        assert NAME not in e.canonical and EMAIL not in e.canonical


def test_the_link_page_speaks_the_customers_language(leman: Any, shop_api: Actor) -> None:
    person = Person(seed(shop_api, language="vi"))
    page = link_path(carried_out(person))
    # The customer's language by default, whatever the browser says; ?lang= switches.
    vietnamese = english().get(page).content.decode()
    assert '<html lang="vi">' in vietnamese and ">Đơn hàng</h2>" in vietnamese
    assert 'href="?lang=en"' in vietnamese
    english_page = english().get(f"{page}?lang=en").content.decode()
    assert '<html lang="en">' in english_page and ">Orders</h2>" in english_page
    assert "package.zip?lang=en" in english_page


def test_a_link_expires(nhung: Person, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.PLEDGE_EXPORT_LINK_SECONDS = 86400
    page = link_path(carried_out(nhung))
    made = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: made + 86400 - 60)
    assert english().get(page).status_code == 200
    monkeypatch.setattr(signing.time, "time", lambda: made + 86400 + 60)
    before = AuditEvent.objects.filter(type="rights:export_downloaded").count()
    for path in (page, f"{page}package.zip", f"{page}package.html"):
        gone = english().get(path)
        assert gone.status_code == 410, path
        assert reason(gone) == "expired"
        assert "This link has expired" in gone.content.decode()
        assert_private(gone)
    vietnamese = Client(headers={"accept-language": "vi"}).get(page)
    assert vietnamese.status_code == 410 and '<html lang="vi">' in vietnamese.content.decode()
    assert AuditEvent.objects.filter(type="rights:export_downloaded").count() == before


def _tampered(path: str) -> str:
    token = path.split("/")[2]
    last = token[-1]
    changed = token[:-1] + ("A" if last != "A" else "B")
    return path.replace(token, changed)


def test_tampered_foreign_and_unknown_links_get_one_404(nhung: Person) -> None:
    page = link_path(carried_out(nhung))
    token = page.split("/")[2]
    payload, stamp, signature = token.split(":")
    forged_payload = signing.b64_encode(
        json.dumps({"r": uuid.uuid4().hex, "c": nhung.id.hex}).encode()
    ).decode()
    candidates = [
        _tampered(page),
        f"/data-package/{forged_payload}:{stamp}:{signature}/",
        f"/data-package/{unsubscribe_token(nhung.id, 'newsletter')}/",
        f"/data-package/{signing.dumps({'r': 1}, salt='other')}/",
        f"/data-package/{uuid.uuid4()}/",
        f"/data-package/{payload}/",
    ]
    answers = set()
    for path in candidates:
        response = english().get(path)
        assert response.status_code == 404, path
        assert_private(response)
        answers.add((reason(response), response["Content-Type"]))
    assert answers == {("invalid", "text/html; charset=utf-8")}
    assert not AuditEvent.objects.filter(type="rights:export_downloaded").exists()


@pytest.mark.parametrize("token", ["x", "a" * 5000, "%00", "..%2F..%2Fetc", "::", "a:b:c"])
def test_garbage_tokens_are_a_clear_404(leman: Any, token: str) -> None:
    for path in (f"/data-package/{token}/", f"/data-package/{token}/package.zip"):
        response = english().get(path)
        assert response.status_code == 404, path
        if "%2F" not in token:  # a slash is another path, which no route matches
            assert "This link is not valid" in response.content.decode()


def test_a_link_names_one_request_of_one_customer(nhung: Person, bao: Person) -> None:
    mine = carried_out(nhung)
    theirs = carried_out(bao)
    erasure = by_phone(nhung, "erasure")
    for request_id, customer_id in [
        (theirs.id, nhung.id),  # Bảo's request, in a link naming Nhung
        (mine.id, bao.id),  # Nhung's request, in a link naming Bảo
        (erasure.id, nhung.id),  # not an access or portability request
    ]:
        token = make_link_token(request_id, customer_id)
        response = english().get(f"/data-package/{token}/package.zip")
        assert response.status_code == 404
        assert reason(response) == "invalid"
        assert OTHER_NAME.encode() not in response.content and NAME.encode() not in response.content


def test_a_denied_request_has_no_package(nhung: Person) -> None:
    request = by_phone(nhung)
    deny_request(actor=STAFF, request_id=request.id, ground="manifestly_unfounded")
    response = english().get(f"/data-package/{make_link_token(request.id, nhung.id)}/")
    assert response.status_code == 410 and reason(response) == "closed"
    with pytest.raises(RequestConflict):
        create_export_link(actor=STAFF, request_id=request.id)


def test_after_erasure_the_link_is_gone(nhung: Person) -> None:
    request = carried_out(nhung)
    page = link_path(request)
    assert english().get(page).status_code == 200
    erase_customer(actor=STAFF, customer_id=nhung.id)
    for path in (page, f"{page}package.zip"):
        response = english().get(path)
        assert response.status_code == 410 and reason(response) == "erased"
        assert NAME not in response.content.decode()
    with pytest.raises(RequestConflict, match="erased"):
        create_export_link(actor=STAFF, request_id=request.id)


def test_re_keying_the_customer_revokes_the_links_sent_before(
    nhung: Person, django_capture_on_commit_callbacks: Any
) -> None:
    """P20: a customer re-secured after misuse is re-keyed; a bearer link sent earlier may have
    leaked with the rest, so it stops working. A link made after works."""
    request = carried_out(nhung)
    before = link_path(request)
    assert english().get(before).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        rekey_customer(actor=STAFF, customer_id=nhung.id)
    response = english().get(before)
    assert response.status_code == 410 and reason(response) == "expired"
    assert NAME not in response.content.decode()
    assert english().get(link_path(request)).status_code == 200


def test_an_unknown_format_is_a_404(nhung: Person) -> None:
    page = link_path(carried_out(nhung))
    for fmt in ("pdf", "json", "page", "ZIP"):
        response = english().get(f"{page}package.{fmt}")
        assert response.status_code == 404 and reason(response) == "unknown_format"
    assert downloads(DataSubjectRequest.objects.get(customer_id=nhung.id).id) == []


def test_the_link_only_answers_get(nhung: Person) -> None:
    page = link_path(carried_out(nhung))
    assert english().post(page).status_code == 405
    assert english().post(f"{page}package.zip").status_code == 405


def test_the_token_never_reaches_the_log(
    nhung: Person, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = link_path(carried_out(nhung))
    token = page.split("/")[2]
    later = time.time() + 8 * 86400
    monkeypatch.setattr(signing.time, "time", lambda: later)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert english().get(f"{page}package.zip").status_code == 410
    assert caplog.records, "the 410 answer is logged"
    assert all(token not in r.getMessage() for r in caplog.records)


# -- making the link ---------------------------------------------------------------------------


def test_only_staff_or_the_system_make_a_link_for_a_finished_access_request(
    nhung: Person,
) -> None:
    done = carried_out(nhung, "portability")
    before = AuditEvent.objects.filter(type="rights:export_link_created").count()
    with pytest.raises(AccessRefused):
        create_export_link(actor=Actor(kind="customer", id=str(nhung.id)), request_id=done.id)
    with pytest.raises(AccessRefused):
        create_export_link(actor=Actor(kind="api", id="backend"), request_id=done.id)
    with pytest.raises(RequestInvalid):
        create_export_link(actor=STAFF, request_id=by_phone(nhung, "erasure").id)
    with pytest.raises(RequestConflict):
        create_export_link(actor=STAFF, request_id=by_phone(nhung).id)  # pending
    with pytest.raises(NotFound):
        create_export_link(actor=STAFF, request_id=uuid.uuid4())
    with pytest.raises(RequestInvalid):
        create_export_link(actor=STAFF, request_id="not-a-uuid")  # type: ignore[arg-type]
    assert AuditEvent.objects.filter(type="rights:export_link_created").count() == before
    system = create_export_link(actor=Actor(kind="system", id="rights"), request_id=done.id)
    assert english().get(path_of(system)).status_code == 200


@pytest.mark.parametrize(
    "address", ["", "shop.example", "http://privacy.leman.example", "ftp://privacy.example"]
)
def test_a_link_needs_a_safe_public_address(nhung: Person, settings: Any, address: str) -> None:
    request = carried_out(nhung)
    settings.PLEDGE_PUBLIC_URL = address
    with pytest.raises(ImproperlyConfigured, match="PLEDGE_PUBLIC_URL"):
        create_export_link(actor=STAFF, request_id=request.id)


def test_plain_http_is_allowed_on_this_machine_only(nhung: Person, settings: Any) -> None:
    request = carried_out(nhung)
    settings.PLEDGE_PUBLIC_URL = "http://127.0.0.1:8000"
    link = create_export_link(actor=STAFF, request_id=request.id)
    assert link.startswith("http://127.0.0.1:8000/data-package/")


# -- the privacy center ------------------------------------------------------------------------


def signed_in(email: str) -> Client:
    return customer_client(make_account(email))


def test_the_signed_in_customer_downloads_their_own_package(nhung: Person) -> None:
    client = signed_in(EMAIL)
    request = file_from_privacy_center(
        actor=Actor(kind="customer", id=str(nhung.id)), customer_id=nhung.id, kind="portability"
    )
    assert request.status == RequestStatus.COMPLETE  # carried out at once
    archive = client.get(f"/me/requests/{request.id}/package.zip")
    assert archive.status_code == 200
    assert archive["Content-Disposition"].startswith("attachment;")
    assert_private(archive)
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        document = json.loads(opened.read("data.json"))
    assert document["profile"]["full_name"] == NAME
    # The sign-in email is held too, on the account record, with the account's facts.
    assert document["account"]["values"] == {"email": EMAIL}
    assert document["account"]["sessions"], "the current session is listed"
    readable = client.get(f"/me/requests/{request.id}/package.html")
    assert readable.status_code == 200 and NAME in readable.content.decode()
    assert downloads(request.id) == [
        {"format": "zip", "via": "privacy_center"},
        {"format": "html", "via": "privacy_center"},
    ]


def test_another_customers_request_is_a_404_in_the_privacy_center(
    nhung: Person, bao: Person
) -> None:
    theirs = file_from_privacy_center(
        actor=Actor(kind="customer", id=str(bao.id)), customer_id=bao.id, kind="access"
    )
    client = signed_in(EMAIL)
    for path in (
        f"/me/requests/{theirs.id}/package.zip",
        f"/me/requests/{uuid.uuid4()}/package.zip",
    ):
        response = client.get(path)
        assert response.status_code == 404
        assert reason(response) == "invalid"
        assert OTHER_NAME not in response.content.decode()
    assert downloads(theirs.id) == []
    assert client.get(f"/me/requests/{theirs.id}/package.pdf").status_code == 404
    # Not a UUID: no such page at all.
    assert client.get("/me/requests/12/package.zip").status_code == 404


def test_a_request_not_carried_out_yet_has_no_package(nhung: Person) -> None:
    client = signed_in(EMAIL)
    waiting = by_phone(nhung)  # verified, waiting for staff
    response = client.get(f"/me/requests/{waiting.id}/package.zip")
    assert response.status_code == 409 and reason(response) == "not_ready"
    assert downloads(waiting.id) == []


def test_an_anonymous_visitor_is_sent_to_sign_in(nhung: Person) -> None:
    request = carried_out(nhung)
    response = english().get(f"/me/requests/{request.id}/package.zip")
    assert response.status_code == 302
    assert response["Location"].startswith("/me/login/?next=")
