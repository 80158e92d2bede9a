"""Erasure and consent withdrawal tell the recipients that received the data (GDPR Art 19;
recipients must stop too): by email through the outbox when the policy gives the recipient an
address, else as a task in the console register that staff mark done."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from pledge.audit.events import EventType
from pledge.consent.services import withdraw_consent
from pledge.disclosures import notices
from pledge.disclosures.models import NoticeStatus, RecipientNotice
from pledge.disclosures.services import disclose
from pledge.notify.models import OutboxMessage
from pledge.vault.access import Actor
from pledge.vault.erasure import erase_customer
from tests.disclosures.conftest import (
    AGENCY,
    DECISION,
    EMAIL,
    MARKET,
    NAME,
    consent,
    details,
    events,
    publish_variant,
    with_contact,
)
from tests.smtp import body_of, deliver_outbox

OWNER = Actor(kind="staff", id="1", role="owner")
SERVICE = Actor(kind="staff", id="2", role="customer_service")
AGENCY_DESK = "privacy-desk@agency.example.vn"


def _to_agency(customer: uuid.UUID) -> Any:
    return disclose(
        actor=OWNER,
        recipient=AGENCY,
        purpose="state_requests",
        customer_ids=[customer],
        fields=["full_name", "email"],
        legal_reference=DECISION,
    )


def test_gdpr19_erasure_emails_a_recipient_with_a_contact(
    customer: uuid.UUID, mailbox: Any
) -> None:
    publish_variant(with_contact(AGENCY, AGENCY_DESK))
    made = _to_agency(customer)
    erase_customer(actor=OWNER, customer_id=customer)
    [notice] = RecipientNotice.objects.all()
    assert notice.status == NoticeStatus.EMAILED and notice.reason == "erasure"
    assert deliver_outbox() == 1
    [message] = mailbox.wait_for(1)
    assert message["To"] == AGENCY_DESK
    body = body_of(message)
    assert str(customer) in body and made.reference in body
    # nothing of the customer beyond the reference the recipient already holds
    assert NAME not in body and EMAIL not in body
    [event] = events(EventType.DISCLOSURE_RECIPIENT_NOTIFIED)
    assert details(event) == {"recipient": AGENCY, "reason": "erasure", "via": "email"}
    assert event.customer_id == customer


def test_gdpr19_without_a_contact_erasure_leaves_a_task_staff_mark_done(
    customer: uuid.UUID,
) -> None:
    _to_agency(customer)
    erase_customer(actor=OWNER, customer_id=customer)
    [notice] = notices.pending_notices()
    assert notice.recipient == AGENCY and notice.customer_id == customer
    assert not OutboxMessage.objects.filter(template__startswith="disclosures/").exists()
    assert not events(EventType.DISCLOSURE_RECIPIENT_NOTIFIED)

    notices.mark_told(actor=OWNER, notice_id=notice.id)
    notice.refresh_from_db()
    assert notice.status == NoticeStatus.DONE and notice.done_by == "staff:1"
    [event] = events(EventType.DISCLOSURE_RECIPIENT_NOTIFIED)
    assert details(event)["via"] == "staff"
    assert notices.pending_notices() == []
    with pytest.raises(notices.NoticeConflict):
        notices.mark_told(actor=OWNER, notice_id=notice.id)


def test_a_customer_never_disclosed_tells_nobody(customer: uuid.UUID) -> None:
    erase_customer(actor=OWNER, customer_id=customer)
    assert not RecipientNotice.objects.exists()


def test_withdrawal_tells_the_recipients_of_that_purpose_once(
    new_customer: Callable[..., uuid.UUID],
) -> None:
    customer = new_customer()
    consent(customer)
    disclose(
        actor=SERVICE,
        recipient=MARKET,
        purpose="customer_database",
        customer_ids=[customer],
        fields=["email"],
    )
    _to_agency(customer)
    withdraw_consent(
        customer_id=customer, purpose="customer_database", method="checkbox", actor="test"
    )
    [notice] = RecipientNotice.objects.all()
    assert (notice.recipient, notice.reason, notice.purpose) == (
        MARKET,
        "withdrawal",
        "customer_database",
    )
    # the hook run again (a retried job) tells no one twice
    notices.tell_recipients_of_withdrawal(customer, "customer_database", "checkbox")
    assert RecipientNotice.objects.count() == 1

    # then an erasure: every recipient, once each, and no second withdrawal notice
    erase_customer(actor=OWNER, customer_id=customer)
    reasons = sorted(RecipientNotice.objects.values_list("recipient", "reason"))
    assert reasons == [(MARKET, "erasure"), (MARKET, "withdrawal"), (AGENCY, "erasure")]


def test_gdpr19_a_second_withdrawal_after_new_consent_and_disclosure_is_passed_on(
    customer: uuid.UUID,
) -> None:
    def give() -> Any:
        return disclose(
            actor=SERVICE,
            recipient=MARKET,
            purpose="customer_database",
            customer_ids=[customer],
            fields=["email"],
        )

    def withdraw() -> None:
        withdraw_consent(
            customer_id=customer, purpose="customer_database", method="checkbox", actor="test"
        )

    consent(customer)
    first = give()
    withdraw()
    # the customer consents again and the recipient receives the data again
    consent(customer)
    second = give()
    withdraw()
    told = list(RecipientNotice.objects.order_by("created_at", "id"))
    assert [n.last_disclosure_id for n in told] == [first.id, second.id]
    assert {(n.recipient, n.reason, n.status) for n in told} == {
        (MARKET, "withdrawal", NoticeStatus.PENDING)
    }
    # a retried hook still tells no one twice about the same data
    notices.tell_recipients_of_withdrawal(customer, "customer_database", "checkbox")
    assert RecipientNotice.objects.count() == 2


def test_the_withdrawal_email_names_the_purpose_and_the_law(
    customer: uuid.UUID, mailbox: Any
) -> None:
    def english_with_contact(data: dict[str, Any]) -> None:
        with_contact(MARKET, "panel@research.example.vn")(data)
        data["default_language"] = "en"

    publish_variant(english_with_contact)
    consent(customer)
    disclose(
        actor=SERVICE,
        recipient=MARKET,
        purpose="customer_database",
        customer_ids=[customer],
        fields=["email"],
    )
    withdraw_consent(
        customer_id=customer, purpose="customer_database", method="checkbox", actor="test"
    )
    assert deliver_outbox() == 1
    [message] = mailbox.wait_for(1)
    body = " ".join(body_of(message).split())
    assert "withdrew their consent to “" in body and '"' not in body
    assert "please stop using that data for this purpose" in body
    assert "Decree 356/2025/ND-CP Art 5" in body
    assert str(customer) in body and EMAIL not in body and NAME not in body
