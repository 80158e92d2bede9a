"""The console register: list and filter, a new disclosure (refusals audited), the file for the
recipient, the pending recipient notices; who may see what (P09, P10, P11)."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
from django.test import Client

from pledge.audit.events import EventType
from pledge.disclosures.models import Disclosure, NoticeStatus, RecipientNotice
from pledge.disclosures.services import disclose
from pledge.vault.access import Actor
from pledge.vault.erasure import erase_customer
from tests.console.staffing import login_staff, make_staff
from tests.disclosures.conftest import AGENCY, DECISION, EMAIL, MARKET, NAME, consent, events

REGISTER = "/console/disclosures/"
NEW = "/console/disclosures/new/"


def staff_client(role: str) -> Client:
    return login_staff(Client(HTTP_ACCEPT_LANGUAGE="en"), make_staff(role))


def _form(customer: uuid.UUID, **changes: Any) -> dict[str, Any]:
    return {
        "recipient": MARKET,
        "purpose": "customer_database",
        "given_fields": ["full_name", "email"],
        "customers": str(customer),
        "legal_reference": "",
        **changes,
    }


def test_p10_a_disclosure_without_consent_is_refused_on_the_page(customer: uuid.UUID) -> None:
    client = staff_client("customer_service")
    response = client.post(NEW, _form(customer))
    assert response.status_code == 403
    assert 'data-refusal="consent_required"' in response.content.decode()
    assert not Disclosure.objects.exists()
    assert events(EventType.DISCLOSURE_REFUSED)


def test_p10_with_consent_it_is_recorded_and_the_file_downloads(customer: uuid.UUID) -> None:
    consent(customer)
    client = staff_client("customer_service")
    response = client.post(NEW, _form(customer))
    assert response.status_code == 302, response.content.decode()[:3000]
    made = Disclosure.objects.get()
    page = client.get(REGISTER, {"recipient": MARKET})
    assert page.status_code == 200
    assert f'data-disclosure="{made.id}"' in page.content.decode()
    # the register names no customer
    assert NAME not in page.content.decode() and EMAIL not in page.content.decode()

    download = client.get(f"{REGISTER}{made.id}/export.csv")
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0] == ["customer_reference", "full_name", "email"]
    assert client.get(f"{REGISTER}{made.id}/export.xml").status_code == 400
    assert client.get(f"{REGISTER}{uuid.uuid4()}/export.csv").status_code == 404


def test_a_state_agency_request_needs_its_reference_on_the_page(customer: uuid.UUID) -> None:
    client = staff_client("owner")
    form = _form(customer, recipient=AGENCY, purpose="state_requests", given_fields=["full_name"])
    response = client.post(NEW, form)
    assert response.status_code == 403
    assert 'data-refusal="legal_reference_required"' in response.content.decode()
    assert client.post(NEW, {**form, "legal_reference": DECISION}).status_code == 302
    assert Disclosure.objects.get().legal_reference == DECISION


def test_the_confirmation_counts_customers_in_the_staff_language(customer: uuid.UUID) -> None:
    consent(customer)
    client = staff_client("customer_service")
    page = client.post(NEW, _form(customer), follow=True).content.decode()
    assert "recorded for 1 customer. Download" in page
    assert "customer(s)" not in page


def test_a_legal_reference_that_looks_personal_is_a_422_and_not_repeated(
    customer: uuid.UUID,
) -> None:
    client = staff_client("owner")
    form = _form(
        customer,
        recipient=AGENCY,
        purpose="state_requests",
        given_fields=["full_name"],
        legal_reference="Yêu cầu về số 0987654321",
    )
    response = client.post(NEW, form)
    assert response.status_code == 422
    page = response.content.decode()
    assert 'data-refusal="personal_data"' in page and "phone" in page
    assert "0987654321" not in page
    assert not Disclosure.objects.exists()
    assert events(EventType.DISCLOSURE_REFUSED)


@pytest.mark.parametrize(
    "changes",
    [
        {"customers": "not-an-id"},
        {"customers": ""},
        {"given_fields": ["NOT A KEY"]},
        {"recipient": "x" * 100},
        {"legal_reference": "x" * 201},
    ],
)
def test_a_malformed_form_is_a_400_and_changes_nothing(
    customer: uuid.UUID, changes: dict[str, Any]
) -> None:
    consent(customer)
    response = staff_client("customer_service").post(NEW, _form(customer, **changes))
    assert response.status_code == 400
    assert not Disclosure.objects.exists()


def test_roles_see_the_register_by_their_purposes(customer: uuid.UUID, client: Client) -> None:
    consent(customer)
    disclose(
        actor=Actor(kind="staff", id="2", role="customer_service"),
        recipient=MARKET,
        purpose="customer_database",
        customer_ids=[customer],
        fields=["email"],
    )
    assert client.get(REGISTER).status_code == 302  # anonymous: to the sign-in
    assert staff_client("auditor").get(REGISTER).status_code == 403
    owner_page = staff_client("owner").get(REGISTER).content.decode()
    assert "data-disclosure=" in owner_page
    # sales holds none of customer_database: the register shows it nothing of it
    sales = staff_client("sales").get(REGISTER)
    assert sales.status_code == 200 and "data-disclosure=" not in sales.content.decode()
    assert staff_client("auditor").get(NEW).status_code == 403
    assert staff_client("customer_service").get(NEW).status_code == 200


def test_a_pending_recipient_notice_is_shown_and_marked_done(customer: uuid.UUID) -> None:
    owner = Actor(kind="staff", id="1", role="owner")
    disclose(
        actor=owner,
        recipient=AGENCY,
        purpose="state_requests",
        customer_ids=[customer],
        fields=["full_name"],
        legal_reference=DECISION,
    )
    erase_customer(actor=owner, customer_id=customer)
    notice = RecipientNotice.objects.get()
    client = staff_client("owner")
    page = client.get(REGISTER).content.decode()
    assert f'data-notice="{notice.id}"' in page and str(customer) in page
    assert client.post(REGISTER, {"notice": "junk"}).status_code == 400
    assert client.post(REGISTER, {"notice": str(uuid.uuid4())}).status_code == 404
    assert client.post(REGISTER, {"notice": str(notice.id)}).status_code == 302
    notice.refresh_from_db()
    assert notice.status == NoticeStatus.DONE
    assert f'data-notice="{notice.id}"' not in client.get(REGISTER).content.decode()
