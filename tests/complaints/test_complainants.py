"""Who a complaint belongs to without a signed-in customer (complaints/intake.py): a verified
mail sender is linked to the one customer on file; anything unverified never is; the complainant's
address is kept only where the policy keeps `email` on complaint records (P01)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from pledge.audit.models import AuditEvent
from pledge.complaints import services
from pledge.complaints.intake import complainant_for, reply_address
from pledge.complaints.services import SYSTEM_COMPLAINTS, ComplaintInvalid
from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import LoadedPolicy, load_policy
from pledge.policy.schema import Policy
from pledge.policy.services import publish_policy
from pledge.vault.models import BlindIndex, Customer, EncryptedValue, RecordKind
from pledge.vault.store import customer_key, read_values
from tests.complaints.conftest import EMAIL, TEXT

STRANGER = "khach.la@example.vn"


def file_email(customer_id: uuid.UUID, verified: bool) -> Any:
    return services.file_complaint(
        actor=SYSTEM_COMPLAINTS,
        customer_id=customer_id,
        channel="email",
        text=TEXT,
        sender_verified=verified,
    )


def test_a_verified_sender_on_file_is_linked_to_their_customer(customer: uuid.UUID) -> None:
    assert complainant_for(email=EMAIL.upper(), language="vi", verified=True) == customer
    assert Customer.objects.count() == 1  # nobody new


def test_an_unverified_sender_is_never_linked_even_with_a_known_address(
    customer: uuid.UUID,
) -> None:
    found = complainant_for(email=EMAIL, language="en", verified=False)
    assert found != customer
    new = Customer.objects.get(pk=found)
    assert new.language == "en"
    # The address it wrote from is kept (encrypted, indexed) on its own complaint record.
    values = read_values(customer_key(found), RecordKind.COMPLAINT, [found], ["email"])[found]
    assert values == {"email": EMAIL}
    assert BlindIndex.objects.filter(customer_id=found, record_kind="complaint").count() == 1
    assert not EncryptedValue.objects.filter(ciphertext__contains=EMAIL.encode()).exists()
    event = AuditEvent.objects.get(type="vault:customer_created", customer_id=found)
    assert EMAIL not in event.details and json.loads(event.details)["verified"] is False


def test_a_verified_sender_not_on_file_becomes_a_new_complainant(leman: Any) -> None:
    found = complainant_for(email=STRANGER, language="vi", verified=True)
    complaint = file_email(found, verified=True)
    assert reply_address(complaint, reason="complaint_answered") == STRANGER
    read = AuditEvent.objects.filter(type="vault:read", customer_id=found).last()
    assert read is not None and read.record == f"complaint:{complaint.id}"
    assert json.loads(read.details) == {"reason": "complaint_answered"}


def test_the_public_form_without_an_email_creates_a_complainant_without_one(leman: Any) -> None:
    found = complainant_for(email=None, language="xx", verified=False)
    assert Customer.objects.get(pk=found).language == "vi"  # an unknown language: the default
    assert not EncryptedValue.objects.filter(customer_id=found).exists()
    assert reply_address(file_email(found, verified=False), reason="test") is None


def test_the_reply_of_a_linked_complaint_goes_to_the_address_on_file(customer: uuid.UUID) -> None:
    complaint = file_email(complainant_for(email=EMAIL, language="vi", verified=True), True)
    assert complaint.customer_id == customer
    assert reply_address(complaint, reason="complaint_answered") == EMAIL


@pytest.mark.parametrize("bad", ["not-an-address", "a@", 42, "x" * 300 + "@example.vn"])
def test_an_invalid_address_is_refused_naming_the_field(leman: Any, bad: Any) -> None:
    with pytest.raises(ComplaintInvalid) as caught:
        complainant_for(email=bad, language="vi", verified=False)
    assert caught.value.problems[0].field == "email"
    assert caught.value.status == 422
    assert str(bad) not in caught.value.message
    assert not Customer.objects.exists()


def publish_variant(change: Callable[[dict[str, Any]], object]) -> None:
    """Preset B changed by `change` (on its data), published and in force."""
    loaded = load_policy("leman-jewelry")
    data = loaded.policy.model_dump(mode="python", exclude_none=True)
    change(data)
    data["version"] = f"test-{uuid.uuid4().hex[:8]}"
    clear_policy_cache()
    publish_policy(
        LoadedPolicy(
            policy=Policy.model_validate(data),
            source="test",
            text=loaded.text,
            document=loaded.document,
        ),
        actor="test",
        effective_date=loaded.policy.effective_date,
    )
    clear_policy_cache()


def test_p01_no_email_is_kept_when_the_policy_keeps_none_on_complaints(leman: Any) -> None:
    def without_complaint_email(data: dict[str, Any]) -> None:
        for spec in data["fields"]:
            if spec["key"] == "email":
                spec["records"] = [r for r in spec["records"] if r != "complaint"]

    publish_variant(without_complaint_email)
    found = complainant_for(email=STRANGER, language="vi", verified=False)
    assert not EncryptedValue.objects.filter(customer_id=found).exists()
    assert not BlindIndex.objects.filter(customer_id=found).exists()
    event = AuditEvent.objects.get(type="vault:customer_created", customer_id=found)
    assert "email" not in str(event.fields)


def test_one_address_one_complainant_and_its_rights_reach_the_complaints(
    leman: Any, mailbox: Any
) -> None:
    """Security review: someone who only complained by the public form must find their data
    with a request from the same address (access, erasure), not a "we hold nothing" answer."""
    from pledge.notify.delivery import deliver_due
    from pledge.rights.identity import file_public_request, on_file
    from pledge.vault.contact import contact_email

    first = complainant_for(email=STRANGER, language="vi", verified=False)
    file_email(first, verified=False)
    again = complainant_for(email=STRANGER.upper(), language="vi", verified=False)
    assert again == first  # the same complainant, not one customer per complaint
    assert on_file(STRANGER) == first
    assert contact_email(customer_id=first, reason="test") == STRANGER
    request = file_public_request(
        email=STRANGER, kind="access", address="203.0.113.9", language="vi"
    )
    assert request is not None
    challenge = request.challenges.get()  # type: ignore[attr-defined]
    assert challenge.customer_id == first  # a code, not the "no data" note
    deliver_due()
    subjects = [m["Subject"] for m in mailbox.wait_for(2)]
    assert len(subjects) == 2


def test_a_complainant_who_became_a_customer_is_not_reused(customer: uuid.UUID) -> None:
    # The profile customer's address typed on the form: a new complainant (unverified) …
    found = complainant_for(email=EMAIL, language="vi", verified=False)
    assert found != customer
    # … reused for the next unverified complaint from that address, never the profile customer
    assert complainant_for(email=EMAIL, language="vi", verified=False) == found
    # and a request from that address goes to the customer on file, not the complainant
    from pledge.rights.identity import on_file

    assert on_file(EMAIL) == customer
