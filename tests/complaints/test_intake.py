"""Filing a complaint (issue 7; P21, P22): the text encrypted in the vault, the audit event, the
acknowledgement on the real SMTP server, and clear refusals of bad input with nothing stored."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.db import connection

from pledge.audit.models import AuditEvent
from pledge.complaints import services
from pledge.complaints.models import Complaint, ComplaintStatus
from pledge.notify.delivery import deliver_due
from pledge.notify.models import OutboxMessage
from pledge.vault.access import Actor
from pledge.vault.errors import AccessRefused, NotFound, VaultError
from pledge.vault.models import Customer, EncryptedValue, RecordKind
from pledge.vault.store import customer_key, read_values
from tests.complaints.conftest import EMAIL, TEXT, me
from tests.smtp import Mailbox, body_of


def file(customer: uuid.UUID, **kwargs: Any) -> Complaint:
    return services.file_complaint(
        actor=kwargs.pop("actor", me(customer)),
        customer_id=kwargs.pop("customer_id", customer),
        channel=kwargs.pop("channel", "privacy_center"),
        text=kwargs.pop("text", TEXT),
        **kwargs,
    )


def test_p22_filed_complaint_is_acknowledged_by_email(
    customer: uuid.UUID, mailbox: Mailbox
) -> None:
    Customer.objects.filter(pk=customer).update(language="en")
    complaint = file(customer)
    assert complaint.status == ComplaintStatus.ACKNOWLEDGED
    event = AuditEvent.objects.get(type="complaints:filed")
    details = json.loads(event.details)
    assert details["channel"] == "privacy_center"
    assert details["sla_hours"] == 24 and details["sla_clock"] == "working_hours"
    assert event.record == f"complaint:{complaint.id}"
    assert event.purpose == "complaints"
    assert TEXT not in event.details and EMAIL not in event.details
    deliver_due()
    message = mailbox.wait_for(1)[0]
    assert message["To"] == EMAIL
    assert "We have received your complaint" in message["Subject"]
    body = body_of(message)
    assert str(complaint.id)[:8] in body
    assert "in writing, with our reasons" in body
    assert TEXT not in body


def test_the_acknowledgement_is_in_the_customer_language(
    customer: uuid.UUID, mailbox: Mailbox
) -> None:
    file(customer)  # the fixture's customer reads Vietnamese (the default)
    deliver_due()
    message = mailbox.wait_for(1)[0]
    assert OutboxMessage.objects.get().language == "vi"
    assert message["To"] == EMAIL


def test_the_text_is_encrypted_in_the_vault(customer: uuid.UUID) -> None:
    complaint = file(customer)
    row = EncryptedValue.objects.get(record_kind=RecordKind.COMPLAINT, record_id=complaint.id)
    assert row.field == "complaint_details"
    assert row.customer_id == customer
    with connection.cursor() as cursor:
        cursor.execute("SELECT ciphertext FROM vault_encryptedvalue WHERE id = %s", [row.pk])
        stored = bytes(cursor.fetchone()[0])
    assert TEXT.encode() not in stored
    assert "quảng cáo".encode() not in stored
    # ... and the customer's key opens it.
    values = read_values(
        customer_key(customer), RecordKind.COMPLAINT, [complaint.id], ["complaint_details"]
    )
    assert values[complaint.id]["complaint_details"] == TEXT


def test_staff_record_a_phone_call(customer: uuid.UUID, staff: Any) -> None:
    complaint = file(customer, actor=staff("customer_service"), channel="staff_phone")
    assert complaint.channel == "staff_phone"
    assert AuditEvent.objects.get(type="complaints:filed").actor_role == "customer_service"


BAD = [
    ({"channel": "fax"}, "unknown channel 'fax'"),
    ({"channel": 7}, "unknown channel"),
    ({"channel": None}, "unknown channel"),
    ({"text": ""}, "complaint_details is empty"),
    ({"text": "   \n "}, "complaint_details is empty"),
    ({"text": "x" * 2001}, "longer than 2000 characters"),
    ({"text": 42}, "must be text, not int"),
    ({"text": ["a"]}, "must be text, not list"),
    ({"text": "bad\x00byte"}, "control characters"),
    ({"customer_id": "not-a-uuid"}, "customer_id must be a UUID, not str"),
    ({"received_at": "2027-02-05"}, "received_at must be a timezone-aware datetime"),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_input_is_refused_with_422_and_nothing_stored(
    customer: uuid.UUID, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(services.ComplaintInvalid) as refused:
        file(customer, **change)
    assert refused.value.status == 422
    assert message in str(refused.value)
    assert not Complaint.objects.exists()
    assert not EncryptedValue.objects.filter(record_kind=RecordKind.COMPLAINT).exists()
    assert not OutboxMessage.objects.exists()
    assert not AuditEvent.objects.filter(type="complaints:filed").exists()


def test_a_customer_cannot_file_about_another_customer(
    customer: uuid.UUID, shop_api: Actor
) -> None:
    from pledge.vault import services as vault

    other = vault.collect_customer(
        actor=shop_api, purpose="order_fulfilment", fields={"full_name": "Trần Văn B"}
    )
    with pytest.raises(AccessRefused, match="only about themselves"):
        file(other, actor=me(customer))
    assert not Complaint.objects.exists()


@pytest.mark.parametrize(
    ("actor", "channel"),
    [
        (Actor(kind="staff", id="3", role="owner"), "privacy_center"),
        (Actor(kind="customer", id="x"), "staff_phone"),
        (Actor(kind="api", id="shop"), "email"),
    ],
)
def test_each_channel_has_its_actor(customer: uuid.UUID, actor: Actor, channel: str) -> None:
    with pytest.raises(AccessRefused, match="cannot file a complaint through the channel"):
        file(customer, actor=actor, channel=channel)
    assert not Complaint.objects.exists()


def test_a_role_the_policy_does_not_give_complaints_is_refused(
    customer: uuid.UUID, staff: Any
) -> None:
    # Preset B gives the purpose `complaints` to owner and customer_service only (P09).
    with pytest.raises(AccessRefused) as refused:
        file(customer, actor=staff("marketing"), channel="staff_phone")
    assert refused.value.status == 403
    assert not Complaint.objects.exists()


def test_an_unknown_customer_is_404(leman: Any) -> None:
    ghost = uuid.uuid4()
    with pytest.raises(NotFound):
        file(ghost, actor=Actor(kind="staff", id="1", role="owner"), channel="staff_phone")
    assert not Complaint.objects.exists()


def test_errors_are_vault_errors_for_the_api(customer: uuid.UUID) -> None:
    """The API and console turn VaultError into an RFC 9457 problem (no traceback)."""
    with pytest.raises(VaultError) as refused:
        file(customer, channel="fax")
    assert refused.value.code == "complaint-invalid"
    assert refused.value.problems[0].field == "channel"
