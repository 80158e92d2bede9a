"""My data (/me/data/): everything held, grouped by category, with purposes, legal basis,
retention and recipients; read through vault.subject as one audited subject access (P09, P18)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pledge.audit.models import AuditEvent
from pledge.vault import subject
from pledge.vault.access import Actor
from pledge.vault.errors import AccessRefused
from pledge.vault.models import EncryptedValue, RecordKind, StaffNote
from pledge.vault.store import customer_key, encrypted_rows
from tests.portal import test_center_pages as center
from tests.portal.test_center_pages import (
    ADDRESS,
    EMAIL,
    GUARANTEE,
    INVOICE,
    NAME,
    ORDER,
    OTHER_ADDRESS,
    OTHER_EMAIL,
    OTHER_NAME,
    OTHER_PHONE,
    PHONE_E164,
    Customer,
)

# The shared personas and set-up (fixtures of test_center_pages).
quick_passwords = center.quick_passwords
nhung = center.nhung
bao = center.bao


def section(html: str, key: str) -> str:
    """The HTML of one field's card on the page."""
    start = html.index(f'data-field="{key}"')
    return html[start : html.index("</article>", start)]


def test_it_shows_every_value_held_with_the_sign_in_email(nhung: Customer) -> None:
    html = nhung.client.get("/me/data/").content.decode()
    for value in [NAME, ADDRESS, EMAIL, PHONE_E164, ORDER, GUARANTEE, INVOICE]:
        assert value in html, value
    # The email is held twice: on the profile and as the privacy-center sign-in.
    email = section(html, "email")
    assert "customer profile" in email and "privacy-center account" in email
    # The order's own copy of the name is shown where it is held.
    assert f"order {ORDER}" in section(html, "full_name")


def test_it_groups_the_data_by_category(nhung: Customer) -> None:
    html = nhung.client.get("/me/data/").content.decode()
    headings = [
        "Who you are",
        "How to reach you",
        "Your purchases",
        "Guarantee cards",
        "Payments and invoices",
        "Identity documents (sensitive data)",
    ]
    positions = [html.index(f">{h}</h2>") for h in headings]
    assert positions == sorted(positions)
    who = html[positions[0] : positions[1]]
    assert 'data-field="full_name"' in who and 'data-field="email"' not in who
    contact = html[positions[1] : positions[2]]
    assert all(f'data-field="{k}"' in contact for k in ("address", "email", "phone"))


def test_each_field_says_why_on_what_ground_how_long_and_to_whom(nhung: Customer) -> None:
    phone = section(nhung.client.get("/me/data/").content.decode(), "phone")
    # Purposes using the phone (preset B) and their legal basis in plain words.
    assert "Providing services and completing orders" in phone
    assert "performing our contract with you (your order)" in phone
    assert "Managing the customer database" in phone and "your consent" in phone
    # Retention from the policy's rule for profile records.
    assert "Until you ask us to cancel it" in phone
    # Recipients that receive the phone, and one that does not.
    assert "Board of Directors" in phone and "Market research company" in phone
    assert "Financial advisor" not in phone


def test_a_consent_purpose_without_consent_is_marked_as_not_used(nhung: Customer) -> None:
    email = section(nhung.client.get("/me/data/").content.decode(), "email")
    # Nhung consented to the customer database (checkbox), never to notices.
    notices = email[email.index("Sending notices") :]
    assert "not used now" in notices[: notices.index("</li>")]
    database = email[email.index("Managing the customer database") :]
    assert "not used now" not in database[: database.index("</li>")]


def test_the_card_is_masked_and_the_document_image_is_not_shown(nhung: Customer) -> None:
    html = nhung.client.get("/me/data/").content.decode()
    card = section(html, "card")
    assert "VISA •••• 1111" in card and "12/2030" in card
    assert "4111111111111111" not in html and "411111" not in html
    document = section(html, "id_document")
    assert "image/png" in document
    assert "<img" not in html and "base64" not in html


def test_reading_my_data_is_one_audited_subject_access(nhung: Customer) -> None:
    before = AuditEvent.objects.order_by("-seq").first()
    assert before is not None
    nhung.client.get("/me/data/")
    new = list(AuditEvent.objects.filter(seq__gt=before.seq).order_by("seq"))
    reads = [e for e in new if e.type == "vault:read"]
    assert len(reads) == 1
    read = reads[0]
    assert read.actor == f"customer:{nhung.id}"
    assert read.customer_id == nhung.id
    assert read.purpose == "subject_access"
    fields = set(read.fields.split(","))
    assert {"full_name", "email", "phone", "address", "purchase_history", "card"} <= fields
    # Audit events hold field names, never values.
    assert NAME not in read.canonical and EMAIL not in read.canonical


def test_another_customers_data_is_never_shown(nhung: Customer, bao: Customer) -> None:
    html = nhung.client.get("/me/data/").content.decode()
    for value in [OTHER_NAME, OTHER_EMAIL, OTHER_ADDRESS, "LM-ORDER-2", "+84987654321"]:
        assert value not in html
    other = bao.client.get("/me/data/").content.decode()
    assert OTHER_NAME in other and NAME not in other and ORDER not in other
    assert OTHER_PHONE not in other  # stored normalised (E.164)


def test_subject_access_is_refused_to_anyone_but_the_customer(
    nhung: Customer, bao: Customer, staff: Any
) -> None:
    for actor in [bao.actor, staff("owner"), Actor(kind="api", id="backend")]:
        with pytest.raises(AccessRefused):
            subject.read_subject(actor=actor, customer_id=nhung.id)
    refusals = AuditEvent.objects.filter(type="vault:access_refused", customer_id=nhung.id)
    assert refusals.count() == 3
    assert all(e.purpose == "subject_access" for e in refusals)


def test_staff_notes_are_shown_without_their_author(nhung: Customer) -> None:
    # Preset B declares no purpose that writes staff notes, so the row is made with the vault's
    # own storage, as a policy that does would (GDPR Art 15: notes about a person are theirs).
    note_id = uuid.uuid4()
    StaffNote.objects.create(id=note_id, customer_id=nhung.id, author="staff:77")
    EncryptedValue.objects.bulk_create(
        encrypted_rows(
            customer_key(nhung.id),
            RecordKind.STAFF_NOTE,
            note_id,
            {"staff_notes": "Khách muốn nhận hàng buổi chiều."},
        )
    )
    html = nhung.client.get("/me/data/").content.decode()
    notes = section(html, "staff_notes")
    assert "Khách muốn nhận hàng buổi chiều." in notes
    assert "staff:77" not in html and "77" not in notes


def test_a_value_the_policy_no_longer_declares_is_still_shown(nhung: Customer) -> None:
    # Held under an older policy (here: a field preset B does not declare): Art 15 covers
    # what is held, so it is shown, and said to be undeclared.
    EncryptedValue.objects.bulk_create(
        encrypted_rows(customer_key(nhung.id), RecordKind.PROFILE, nhung.id, {"gender": "nữ"})
    )
    gender = section(nhung.client.get("/me/data/").content.decode(), "gender")
    assert "nữ" in gender
    assert "no longer lists this data" in gender


def test_a_customer_without_records_sees_only_the_sign_in_email(leman: Any) -> None:
    from tests.portal.conftest import customer_client, make_account

    client = customer_client(make_account("new.person@example.vn"))
    html = client.get("/me/data/").content.decode()
    assert "new.person@example.vn" in html
    assert 'data-field="full_name"' not in html
    assert "Not held about you" in html
