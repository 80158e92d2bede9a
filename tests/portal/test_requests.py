"""The customer's requests in the privacy center, /me/requests/ (issue 6; P18): list, new, detail
with the timeline and the legal due date, cancel; only ever the customer's own requests.

Signed in through the real login page (tests/portal/conftest.py), preset B (vn-pdpl-2026).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from pledge.accounts.models import CustomerAccount
from pledge.audit.models import AuditEvent
from pledge.rights import services
from pledge.rights.models import DataSubjectRequest, RequestStatus
from pledge.vault.access import Actor
from tests.portal.conftest import customer_client, english, make_account

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
# Lunar New Year's Eve 2027, a Friday evening (docs/deadlines.md).
TET_EVE = dt.datetime(2027, 2, 5, 19, 30, tzinfo=HCM)
STAFF = Actor(kind="staff", id="7", role="owner")
LIST = "/me/requests/"
NEW = "/me/requests/new/"


def customer_of(account: CustomerAccount) -> uuid.UUID:
    return uuid.UUID(str(account.customer_id))


def me(account: CustomerAccount) -> Actor:
    return Actor(kind="customer", id=str(account.customer_id))


def filed(account: CustomerAccount, kind: str, **kwargs: Any) -> DataSubjectRequest:
    """A request the customer filed in the privacy center on Tết eve (a fixed clock)."""
    return services.file_request(
        actor=me(account),
        customer_id=customer_of(account),
        kind=kind,
        channel="privacy_center",
        received_at=kwargs.pop("received_at", TET_EVE),
        **kwargs,
    )


def text_of(response: Any) -> str:
    """The page's text without tags and with spaces collapsed, for phrase assertions."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


@pytest.fixture
def account(leman: Any) -> CustomerAccount:
    return make_account("an@example.com")


@pytest.fixture
def client(account: CustomerAccount) -> Client:
    return customer_client(account)


# -- list and detail ---------------------------------------------------------------------------


def test_the_list_shows_each_request_with_its_status_and_legal_due_date(
    account: CustomerAccount, client: Client
) -> None:
    erasure = filed(account, "erasure")
    filed(account, "access")
    response = client.get(LIST)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    text = text_of(response)
    # Decree 356 Art 5 counted from Tết eve: erasure 20 working days (25 February), access 10
    # (15 February); the list is newest first.
    assert "Erasure of my data 5 February 2027 Pending 25 February 2027" in text
    assert "Access to my data 5 February 2027 Pending 15 February 2027" in text
    assert f'href="/me/requests/{erasure.id}/"' in response.content.decode()


def test_the_detail_shows_the_timeline_the_extension_and_its_reason(
    account: CustomerAccount, client: Client
) -> None:
    request = filed(account, "erasure")
    services.extend_request(
        actor=STAFF, request_id=request.id, reason="The order archive is being restored."
    )
    response = client.get(f"/me/requests/{request.id}/")
    assert response.status_code == 200
    text = text_of(response)
    # The one extension, 20 more days from the nominal last day (25 February): 17 March.
    assert "Answer due by 17 March 2027 (extended; first due by 25 February 2027)" in text
    assert "Why the shop needs more time The order archive is being restored." in text
    assert "Received here, in the privacy center" in text
    assert "The answer date was extended to 17 March 2027" in text
    assert "Cancel this request" in text


def test_a_denial_shows_its_ground_article_and_explanation(
    account: CustomerAccount, client: Client
) -> None:
    request = filed(account, "erasure")
    services.deny_request(
        actor=STAFF,
        request_id=request.id,
        ground="legal_obligation",
        explanation="Your last order is still being paid.",
    )
    text = text_of(client.get(f"/me/requests/{request.id}/"))
    assert "Why the request was refused" in text
    assert "The law requires the shop to keep this data" in text
    assert "Legal ground: PDPL 91/2025/QH15 Art 14(2); GDPR Art 17(3)(b)." in text
    assert "Your last order is still being paid." in text
    assert "Cancel this request" not in text
    assert "Answer due by" not in text


def test_an_erasure_answer_is_shown_with_what_is_kept_why_and_until_when(
    account: CustomerAccount, client: Client
) -> None:
    """The report as the vault gives it (pledge.vault.erasure.ErasureReport.as_dict)."""
    request = filed(account, "erasure")
    DataSubjectRequest.objects.filter(pk=request.id).update(
        status=RequestStatus.COMPLETE,
        outcome={
            "deleted": [{"category": "profile fields", "count": 3}],
            "kept": [
                {
                    "record_kind": "invoice",
                    "field": "full_name",
                    "count": 1,
                    "hold": "invoices-10-years",
                    "reason": {"vi": "Lưu chứng từ kế toán.", "en": "Accounting records."},
                    "article": {"vi": "Điều 41", "en": "Accounting Law 88/2015/QH13 Art 41"},
                    "until": "2036-12-31",
                }
            ],
        },
    )
    text = text_of(client.get(f"/me/requests/{request.id}/"))
    assert "What was deleted Personal details on: customer profile: 3" in text
    assert "Full name (invoices and accounting documents, 1)" in text
    assert "Accounting records. (Accounting Law 88/2015/QH13 Art 41) 31 December 2036" in text


# -- new requests ----------------------------------------------------------------------------


def test_access_is_done_at_once_and_offers_the_package(
    account: CustomerAccount, client: Client
) -> None:
    response = client.post(NEW, {"kind": "access"})
    assert response.status_code == 302
    request = DataSubjectRequest.objects.get()
    assert response["Location"] == f"/me/requests/{request.id}/"
    assert request.status == RequestStatus.COMPLETE
    page = client.get(response["Location"])
    html = page.content.decode()
    assert "Done: your request was carried out." in html
    assert f"/me/requests/{request.id}/package.zip" in html
    assert f"/me/requests/{request.id}/package.html" in html


def test_erasure_needs_the_confirmation_box_then_waits_for_staff(
    account: CustomerAccount, client: Client
) -> None:
    refused = client.post(NEW, {"kind": "erasure"})
    assert refused.status_code == 400
    assert 'id="id_confirm_erasure_errors"' in refused.content.decode()
    assert not DataSubjectRequest.objects.exists()
    accepted = client.post(NEW, {"kind": "erasure", "confirm_erasure": "on"})
    assert accepted.status_code == 302
    request = DataSubjectRequest.objects.get()
    assert request.status == RequestStatus.PENDING
    assert (
        "Your request was received. The shop will answer by"
        in client.get(accepted["Location"]).content.decode()
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "kind"),
        ({"kind": "delete_everything"}, "kind"),
        ({"kind": "objection"}, "object_to"),
        ({"kind": "objection", "object_to": "customer_database"}, "object_to"),
        ({"kind": "withdraw_consent", "withdraw": "fraud_prevention"}, "withdraw"),
    ],
)
def test_a_bad_new_request_is_a_400_naming_the_field(
    account: CustomerAccount, client: Client, data: dict[str, str], field: str
) -> None:
    response = client.post(NEW, data)
    assert response.status_code == 400
    assert f'id="id_{field}_errors"' in response.content.decode()
    assert not DataSubjectRequest.objects.exists()


def test_the_form_offers_every_right_and_the_policys_purposes(
    account: CustomerAccount, client: Client
) -> None:
    html = client.get(f"{NEW}?kind=erasure").content.decode()
    for kind in ("access", "portability", "rectification", "erasure", "restriction"):
        assert f'value="{kind}"' in html
    assert re.search(r'value="erasure"[^>]*checked', html)
    assert 'value="fraud_prevention"' in html  # objectable: legitimate interest
    assert 'value="service_notices"' in html  # withdrawable: consent


def test_an_objection_to_legitimate_interest_is_received_for_staff(
    account: CustomerAccount, client: Client
) -> None:
    response = client.post(NEW, {"kind": "objection", "object_to": "fraud_prevention"})
    assert response.status_code == 302
    request = DataSubjectRequest.objects.get()
    assert request.status == RequestStatus.PENDING
    assert request.purposes == ["fraud_prevention"]
    assert "Uses of your data concerned Fraud prevention" in text_of(
        client.get(response["Location"])
    )


# -- cancel ----------------------------------------------------------------------------------


def test_the_customer_cancels_an_open_request_once(
    account: CustomerAccount, client: Client
) -> None:
    request = filed(account, "erasure")
    response = client.post(f"/me/requests/{request.id}/cancel/")
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.CANCELED
    again = client.post(f"/me/requests/{request.id}/cancel/")
    assert again.status_code == 409
    assert "already closed" in again.content.decode()
    assert AuditEvent.objects.filter(type="rights:request_canceled").count() == 1
    assert client.get(f"/me/requests/{request.id}/cancel/").status_code == 405


# -- someone else's requests ---------------------------------------------------------------------


def test_another_customers_request_is_not_found(account: CustomerAccount, client: Client) -> None:
    other = make_account("bo@example.com")
    theirs = filed(other, "erasure")
    for path in (f"/me/requests/{theirs.id}/", f"/me/requests/{uuid.uuid4()}/"):
        assert client.get(path).status_code == 404
    assert client.post(f"/me/requests/{theirs.id}/cancel/").status_code == 404
    assert client.post(f"/me/requests/{uuid.uuid4()}/cancel/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == RequestStatus.PENDING
    assert f"/me/requests/{theirs.id}/" not in client.get(LIST).content.decode()
    assert client.get("/me/requests/not-a-uuid/").status_code == 404


def test_the_pages_need_a_signed_in_customer(account: CustomerAccount) -> None:
    request = filed(account, "access")
    anonymous = english()
    for path in (LIST, NEW, f"/me/requests/{request.id}/"):
        response = anonymous.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/me/login/?next=")
    assert anonymous.post(f"/me/requests/{request.id}/cancel/").status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING


def test_the_pages_speak_vietnamese(account: CustomerAccount, client: Client) -> None:
    request = filed(account, "access")
    page = client.get(f"/me/requests/{request.id}/", headers={"accept-language": "vi"})
    html = page.content.decode()
    assert '<html lang="vi">' in html
    assert "15/02/2027" in html  # due date, day/month/year


def test_the_privacy_center_links_to_the_requests(account: CustomerAccount, client: Client) -> None:
    html = client.get("/me/").content.decode()
    assert 'href="/me/requests/"' in html and 'href="/me/requests/new/"' in html
