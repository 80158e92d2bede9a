"""The file for a recipient holds exactly the declared fields; the customer sees each disclosure
in "Who received my data" and in the data package; another customer does not (P10, P11)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from pledge.audit.events import EventType
from pledge.consent.services import withdraw_consent
from pledge.disclosures.export import export_disclosure
from pledge.disclosures.services import DisclosureInvalid, DisclosureRefused, disclose
from pledge.rights.export import build_package
from pledge.vault.access import Actor
from pledge.vault.errors import AccessRefused, NotFound
from tests.disclosures.conftest import (
    ADDRESS,
    AGENCY,
    DECISION,
    EMAIL,
    MARKET,
    NAME,
    PHONE,
    consent,
    details,
    events,
    publish_variant,
)
from tests.portal.conftest import customer_client, make_account

OWNER = Actor(kind="staff", id="1", role="owner")
SERVICE = Actor(kind="staff", id="2", role="customer_service")


def _to_market(customers: list[uuid.UUID]) -> Any:
    return disclose(
        actor=SERVICE,
        recipient=MARKET,
        purpose="customer_database",
        customer_ids=customers,
        fields=["full_name", "email"],
    )


def test_p11_the_csv_holds_exactly_the_declared_fields(customer: uuid.UUID) -> None:
    consent(customer)
    made = _to_market([customer])
    file = export_disclosure(actor=SERVICE, disclosure_id=made.id, fmt="csv")
    assert file.content_type.startswith("text/csv")
    text = file.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["customer_reference", "full_name", "email"], [str(customer), NAME, EMAIL]]
    # what was not declared for this disclosure is nowhere in the file
    assert "0987" not in text and "Hai Bà Trưng" not in text
    # the values were read through the vault for the purpose, audited per customer
    [read] = [e for e in events(EventType.CUSTOMER_READ) if e.record == f"disclosure:{made.id}"]
    assert read.customer_id == customer and read.purpose == "customer_database"
    assert read.fields == "email,full_name"


def test_p11_the_json_holds_exactly_the_declared_fields(customer: uuid.UUID) -> None:
    made = disclose(
        actor=OWNER,
        recipient=AGENCY,
        purpose="state_requests",
        customer_ids=[customer],
        fields=["phone", "address"],
        legal_reference=DECISION,
    )
    file = export_disclosure(actor=OWNER, disclosure_id=made.id, fmt="json")
    document = json.loads(file.content)
    assert document["legal_reference"] == DECISION
    assert document["fields"] == ["phone", "address"]
    [row] = document["customers"]
    assert set(row) == {"customer_reference", "phone", "address"}
    assert row["address"] == ADDRESS
    assert row["phone"].replace(" ", "").endswith(PHONE.replace(" ", "")[1:])
    assert NAME not in file.content.decode() and EMAIL not in file.content.decode()


def test_p09_the_export_refuses_a_field_the_role_now_sees_masked(customer: uuid.UUID) -> None:
    made = disclose(
        actor=OWNER,
        recipient=AGENCY,
        purpose="state_requests",
        customer_ids=[customer],
        fields=["full_name", "phone"],
        legal_reference=DECISION,
    )

    def phone_masked(data: dict[str, Any]) -> None:
        for purpose in data["purposes"]:
            if purpose["key"] == "state_requests":
                purpose["unmasked"] = [f for f in purpose["unmasked"] if f != "phone"]

    publish_variant(phone_masked)
    with pytest.raises(DisclosureRefused) as caught:
        export_disclosure(actor=OWNER, disclosure_id=made.id, fmt="csv")
    assert caught.value.status == 403
    assert (caught.value.problems[0].field, caught.value.problems[0].rule) == (
        "phone",
        "masked_for_role",
    )
    refusal = events(EventType.DISCLOSURE_REFUSED)[-1]
    assert refusal.outcome == "refused" and refusal.fields == "phone"
    assert details(refusal) == {"recipient": AGENCY, "rule": "masked_for_role"}
    # nothing was read or handed over
    assert not [e for e in events(EventType.CUSTOMER_READ) if e.record == f"disclosure:{made.id}"]
    made.refresh_from_db()
    assert made.exported_at is None


def test_p04_a_customer_who_withdrew_is_left_out_of_a_later_export(
    new_customer: Callable[..., uuid.UUID],
) -> None:
    stays, leaves = new_customer(email="a@example.vn"), new_customer(email="b@example.vn")
    consent(stays)
    consent(leaves)
    made = _to_market([stays, leaves])
    withdraw_consent(
        customer_id=leaves, purpose="customer_database", method="checkbox", actor="test"
    )
    file = export_disclosure(actor=SERVICE, disclosure_id=made.id, fmt="json")
    assert [r["customer_reference"] for r in json.loads(file.content)["customers"]] == [str(stays)]
    assert file.left_out == 1


def test_p06_a_role_without_the_purpose_cannot_export(customer: uuid.UUID) -> None:
    consent(customer)
    made = _to_market([customer])
    with pytest.raises(AccessRefused):
        export_disclosure(
            actor=Actor(kind="staff", id="9", role="sales"), disclosure_id=made.id, fmt="csv"
        )
    assert events(EventType.ACCESS_REFUSED)[-1].purpose == "customer_database"
    with pytest.raises(DisclosureInvalid):
        export_disclosure(actor=SERVICE, disclosure_id=made.id, fmt="xlsx")
    with pytest.raises(NotFound):
        export_disclosure(actor=SERVICE, disclosure_id=uuid.uuid4(), fmt="csv")


def test_p11_the_customer_sees_it_and_another_customer_does_not(disclosable: None) -> None:
    mine = make_account("khoa@example.vn", language="en")
    other = make_account("lan@example.vn", language="en")
    disclose(
        actor=OWNER,
        recipient=AGENCY,
        purpose="state_requests",
        customer_ids=[uuid.UUID(str(mine.customer_id))],
        fields=["email", "phone"],
        legal_reference=DECISION,
    )
    page = customer_client(mine).get("/me/disclosures/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Competent state agency, at its request" in text
    assert "Requests of state agencies" in text
    assert DECISION in text
    assert text.count("data-disclosure>") == 1

    theirs = customer_client(other).get("/me/disclosures/")
    assert theirs.status_code == 200
    assert DECISION not in theirs.content.decode()
    assert "Competent state agency, at its request" not in theirs.content.decode()
    assert "has not been given to any recipient" in theirs.content.decode()


def test_the_page_needs_a_signed_in_customer(leman: Any, client: Any) -> None:
    response = client.get("/me/disclosures/")
    assert response.status_code == 302 and "/me/login/" in response["Location"]


def test_p11_the_data_package_lists_the_customers_disclosures_only(
    new_customer: Callable[..., uuid.UUID],
) -> None:
    mine, other = new_customer(email="a@example.vn"), new_customer(email="b@example.vn")
    made = disclose(
        actor=OWNER,
        recipient=AGENCY,
        purpose="state_requests",
        customer_ids=[mine],
        fields=["full_name"],
        legal_reference=DECISION,
    )
    package = build_package(
        actor=Actor(kind="customer", id=str(mine)), customer_id=mine, language="en"
    )
    [row] = package.document["disclosures"]
    assert row["id"] == str(made.id)
    assert row["recipient"] == AGENCY
    assert row["recipient_name"] == "Competent state agency, at its request"
    assert row["legal_reference"] == DECISION
    assert row["fields"] == "full_name"
    others = build_package(
        actor=Actor(kind="customer", id=str(other)), customer_id=other, language="en"
    )
    assert others.document["disclosures"] == []
    assert PHONE not in json.dumps(package.document["disclosures"])
