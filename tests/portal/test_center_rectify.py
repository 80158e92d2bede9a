"""Correct my data (/me/data/edit/): a rectification through the vault, audited `vault:rectified`
(P18; GDPR Art 16). Invalid values are named per field and change nothing; equal values change
nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from pledge.audit.models import AuditEvent
from pledge.vault import services, subject
from pledge.vault.access import Actor
from pledge.vault.errors import AccessRefused, FieldsRefused, ValuesInvalid
from pledge.vault.models import EncryptedValue
from tests.portal import test_center_pages as center
from tests.portal.conftest import make_account
from tests.portal.test_center_pages import (
    ADDRESS,
    EMAIL,
    NAME,
    PHONE_E164,
    Customer,
)

FORM = {"full_name": NAME, "email": EMAIL, "phone": PHONE_E164, "address": ADDRESS}
EDIT = "/me/data/edit/"

# The shared personas and set-up (fixtures of test_center_pages).
quick_passwords = center.quick_passwords
nhung = center.nhung
bao = center.bao


def profile(customer: Customer) -> dict[str, Any]:
    """The profile as the vault holds it (the customer's own read: whole values)."""
    return subject.current_profile(actor=customer.actor, customer_id=customer.id)


def rectified() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(type="vault:rectified").order_by("seq"))


def snapshot(customer: Customer) -> list[tuple[str, bytes]]:
    return sorted(
        (f, bytes(c))
        for f, c in EncryptedValue.objects.filter(customer_id=customer.id).values_list(
            "field", "ciphertext"
        )
    )


def test_the_form_holds_the_fields_i_can_correct(nhung: Customer) -> None:
    html = nhung.client.get(EDIT).content.decode()
    for key, value in FORM.items():
        assert f'name="{key}"' in html
        assert value in html
    # Not derived data, not the card, not the document, not the guarantee number (staff's).
    for key in ["card", "id_document", "purchase_history", "guarantee_number", "cookie_id"]:
        assert f'name="{key}"' not in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_a_correction_changes_the_vault_and_is_audited(nhung: Customer, staff: Any) -> None:
    response = nhung.client.post(EDIT, {**FORM, "phone": "0903 111 222", "address": "1 Hàng Bạc"})
    assert response.status_code == 302 and response["Location"] == "/me/data/"
    values = profile(nhung)
    assert values["phone"] == "+84903111222"
    assert values["address"] == "1 Hàng Bạc"
    assert values["full_name"] == NAME
    [event] = rectified()
    assert event.actor == f"customer:{nhung.id}"
    assert event.customer_id == nhung.id
    assert event.purpose == "subject_access"
    assert event.fields == "address,phone"  # only what changed, never values
    assert "0903" not in event.canonical
    # The blind index follows: the shop finds her by the new number, not the old one.
    found = services.lookup_customers(
        actor=staff("owner"), purpose="customer_database", by="phone", value="0903111222"
    )
    assert found == [nhung.id]
    assert not services.lookup_customers(
        actor=staff("owner"), purpose="customer_database", by="phone", value=PHONE_E164
    )
    page = nhung.client.get("/me/data/").content.decode()
    assert "Corrected:" in page and "+84903111222" in page


def test_changing_nothing_changes_nothing(nhung: Customer) -> None:
    before = snapshot(nhung)
    # The same values, also spelt differently (spaces around, another phone format).
    response = nhung.client.post(EDIT, {**FORM, "full_name": f"  {NAME} ", "phone": "0912345678"})
    assert response.status_code == 302
    assert snapshot(nhung) == before
    assert rectified() == []
    assert "Nothing was changed" in nhung.client.get("/me/data/").content.decode()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone", "12", "This is not a phone number we can call."),
        ("phone", "call me maybe", "This is not a phone number we can call."),
        ("email", "not-an-email", "This is not an email address."),
        ("full_name", "Nhung\x07", "invisible control characters"),
        ("address", "x" * 501, "Ensure this value has at most 500 characters"),
        ("email", "a" * 250 + "@example.vn", "at most 254 characters"),
        ("full_name", "   ", "cannot be empty"),
        ("full_name", "Nhung\x00", "Null characters are not allowed"),
    ],
)
def test_an_invalid_value_is_named_next_to_its_field_and_nothing_changes(
    nhung: Customer, field: str, value: str, message: str
) -> None:
    before = snapshot(nhung)
    response = nhung.client.post(EDIT, {**FORM, "phone": "0903 111 222", field: value})
    assert response.status_code == 422
    html = response.content.decode()
    errors = html[html.index(f'id="id_{field}-errors"') :]
    assert message in errors[: errors.index("</ul>")]
    assert "Nothing was changed" in html
    assert snapshot(nhung) == before
    assert rectified() == []


def test_fields_that_are_not_in_the_form_are_ignored(nhung: Customer, staff: Any) -> None:
    before = snapshot(nhung)
    response = nhung.client.post(
        EDIT, {**FORM, "card": "4111111111111111", "guarantee_number": "X-1", "gender": "nam"}
    )
    assert response.status_code == 302
    assert snapshot(nhung) == before


def test_a_missing_field_is_named(nhung: Customer) -> None:
    response = nhung.client.post(EDIT, {"full_name": "Hồng Nhung"})
    assert response.status_code == 422
    assert 'id="id_phone-errors"' in response.content.decode()
    assert rectified() == []


def test_the_form_needs_the_csrf_token(nhung: Customer) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = nhung.client.cookies
    before = snapshot(nhung)
    assert strict.post(EDIT, {**FORM, "phone": "0903 111 222"}).status_code == 403
    assert snapshot(nhung) == before


# -- the service ---------------------------------------------------------------------------


def test_rectify_refuses_fields_the_customer_does_not_correct(nhung: Customer) -> None:
    with pytest.raises(FieldsRefused) as refused:
        subject.rectify(
            actor=nhung.actor,
            customer_id=nhung.id,
            changes={"guarantee_number": "X-1", "card": "4111"},
        )
    assert {p.rule for p in refused.value.problems} == {"not_rectifiable"}
    event = AuditEvent.objects.filter(type="vault:write_refused").latest("seq")
    assert event.customer_id == nhung.id and event.outcome == "refused"
    assert rectified() == []


def test_rectify_refuses_a_field_not_held(leman: Any) -> None:
    # Registered without ordering: only the sign-in email is held, no profile phone. Adding
    # data is a collection for a purpose, not a correction.
    account = make_account("only.email@example.vn")
    cid = uuid.UUID(str(account.customer_id))
    with pytest.raises(FieldsRefused) as refused:
        subject.rectify(
            actor=Actor(kind="customer", id=str(cid)),
            customer_id=cid,
            changes={"phone": "0903 111 222"},
        )
    assert refused.value.problems[0].rule == "not_held"
    assert rectified() == []


def test_rectify_refuses_another_customer(nhung: Customer, bao: Customer) -> None:
    with pytest.raises(AccessRefused):
        subject.rectify(actor=bao.actor, customer_id=nhung.id, changes={"full_name": "Bảo"})
    assert rectified() == []


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"phone": 912345678}, "type"),
        ({"full_name": ["Nhung"]}, "type"),
        ({}, "required"),
        ({f"field_{i}": "x" for i in range(65)}, "too_many_fields"),
    ],
)
def test_rectify_names_wrong_shapes(nhung: Customer, changes: dict[str, Any], rule: str) -> None:
    with pytest.raises(ValuesInvalid) as invalid:
        subject.rectify(actor=nhung.actor, customer_id=nhung.id, changes=changes)
    assert invalid.value.problems[0].rule == rule
    assert rectified() == []
