"""Disclosures are allowed only as the policy declares them (P10, P11; issue 8 acceptance:
"A disclosure to an undeclared recipient, for an undeclared field, or without consent is refused
and audited; a state-agency request without a legal reference is refused")."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from pledge.audit.events import EventType
from pledge.disclosures.models import DisclosedCustomer, Disclosure
from pledge.disclosures.services import DisclosureInvalid, DisclosureRefused, disclose
from pledge.vault.access import Actor
from pledge.vault.errors import VaultError
from tests.disclosures.conftest import AGENCY, DECISION, EMAIL, MARKET, NAME, consent, details
from tests.disclosures.conftest import events as audit_events

OWNER = Actor(kind="staff", id="1", role="owner")
SERVICE = Actor(kind="staff", id="2", role="customer_service")


def refused(rule: str, call: Callable[[], Any], status: int = 403) -> VaultError:
    """The call is refused naming `rule`, audited as disclosures:refused, and nothing is given."""
    before = len(audit_events(EventType.DISCLOSURE_REFUSED))
    with pytest.raises(VaultError) as caught:
        call()
    assert caught.value.status == status
    assert caught.value.problems[0].rule == rule
    after = audit_events(EventType.DISCLOSURE_REFUSED)
    assert len(after) == before + 1
    assert details(after[-1])["rule"] == rule
    assert after[-1].outcome == "refused"
    assert not Disclosure.objects.exists()
    assert not DisclosedCustomer.objects.exists()
    assert not audit_events(EventType.DISCLOSURE_MADE)
    return caught.value


def test_p11_an_undeclared_recipient_is_refused_and_audited(customer: uuid.UUID) -> None:
    consent(customer)
    error = refused(
        "recipient_undeclared",
        lambda: disclose(
            actor=OWNER,
            recipient="data_broker",
            purpose="customer_database",
            customer_ids=[customer],
            fields=["email"],
        ),
    )
    assert isinstance(error, DisclosureRefused)
    assert details(audit_events(EventType.DISCLOSURE_REFUSED)[-1])["recipient"] == "data_broker"


def test_p11_a_purpose_not_declared_for_the_recipient_is_refused(customer: uuid.UUID) -> None:
    refused(
        "purpose_not_declared_for_recipient",
        lambda: disclose(
            actor=OWNER,
            recipient=MARKET,
            purpose="complaints",
            customer_ids=[customer],
            fields=["email"],
        ),
    )


@pytest.mark.parametrize(
    ("recipient", "purpose", "field", "rule"),
    [
        # market research is declared for name, email, phone and purchase history only
        (MARKET, "customer_database", "address", "field_not_declared_for_recipient"),
        (MARKET, "customer_database", "no_such_field", "field_not_declared_for_recipient"),
        # the board may receive complaint details, but only for complaints
        ("board_of_directors", "customer_database", "complaint_details", "field_not_for_purpose"),
    ],
)
def test_p11_an_undeclared_field_is_refused_and_audited(
    customer: uuid.UUID, recipient: str, purpose: str, field: str, rule: str
) -> None:
    consent(customer)
    refused(
        rule,
        lambda: disclose(
            actor=OWNER,
            recipient=recipient,
            purpose=purpose,
            customer_ids=[customer],
            fields=["full_name", field],
        ),
    )
    assert audit_events(EventType.DISCLOSURE_REFUSED)[-1].fields == field


def test_p02_card_cvc_is_never_disclosed(customer: uuid.UUID) -> None:
    accounting = Actor(kind="staff", id="3", role="accounting")
    refused(
        "never_stored",
        lambda: disclose(
            actor=accounting,
            recipient="integrated_services",
            purpose="payment",
            customer_ids=[customer],
            fields=["card_cvc"],
        ),
    )


def test_p10_without_consent_it_is_refused_and_with_consent_allowed(customer: uuid.UUID) -> None:
    def give() -> Disclosure:
        return disclose(
            actor=SERVICE,
            recipient=MARKET,
            purpose="customer_database",
            customer_ids=[customer],
            fields=["full_name", "email"],
        )

    refused("consent_required", give)
    refused_event = audit_events(EventType.DISCLOSURE_REFUSED)[-1]
    assert refused_event.customer_id == customer

    consent(customer)
    made = give()
    assert made.recipient == MARKET and made.basis == "consent"
    assert list(DisclosedCustomer.objects.values_list("customer_id", flat=True)) == [customer]
    [event] = audit_events(EventType.DISCLOSURE_MADE)
    assert event.customer_id == customer
    assert event.purpose == "customer_database"
    assert details(event) == {
        "recipient": MARKET,
        "purpose": "customer_database",
        "fields": ["full_name", "email"],
        "basis": "consent",
        "legal_reference": "",
    }
    # never a value in the audit log
    assert NAME not in event.details and EMAIL not in event.details


def test_p10_one_customer_without_consent_refuses_the_whole_list(
    new_customer: Callable[..., uuid.UUID],
) -> None:
    agreed = new_customer(email="a@example.vn")
    silent = new_customer(email="b@example.vn")
    consent(agreed)
    refused(
        "consent_required",
        lambda: disclose(
            actor=SERVICE,
            recipient=MARKET,
            purpose="customer_database",
            customer_ids=[agreed, silent],
            fields=["email"],
        ),
    )
    assert audit_events(EventType.DISCLOSURE_REFUSED)[-1].customer_id == silent


def test_p10_a_recipient_on_consent_needs_it_even_when_the_purpose_does_not(
    customer: uuid.UUID,
) -> None:
    # Advisers are declared on consent; transaction confirmation is a contract purpose.
    refused(
        "consent_required",
        lambda: disclose(
            actor=Actor(kind="staff", id="4", role="sales"),
            recipient="advisers",
            purpose="transaction_confirmation",
            customer_ids=[customer],
            fields=["full_name"],
        ),
    )


@pytest.mark.parametrize("reference", [None, "", "   "])
def test_p10_a_state_agency_request_without_legal_reference_is_refused(
    customer: uuid.UUID, reference: str | None
) -> None:
    refused(
        "legal_reference_required",
        lambda: disclose(
            actor=OWNER,
            recipient=AGENCY,
            purpose="state_requests",
            customer_ids=[customer],
            fields=["full_name", "phone"],
            legal_reference=reference,
        ),
    )


def test_p10_a_state_agency_request_with_its_legal_reference_is_recorded(
    customer: uuid.UUID,
) -> None:
    made = disclose(
        actor=OWNER,
        recipient=AGENCY,
        purpose="state_requests",
        customer_ids=[str(customer)],
        fields=["full_name", "phone"],
        legal_reference=f"  {DECISION} ",
    )
    made.refresh_from_db()
    assert made.legal_reference == DECISION
    assert made.basis == "legal_request"
    assert made.customer_count == 1
    assert made.recipient_name_en == "Competent state agency, at its request"
    [event] = audit_events(EventType.DISCLOSURE_MADE)
    assert details(event)["legal_reference"] == DECISION


def test_p06_a_role_without_the_purpose_is_refused_and_audited(customer: uuid.UUID) -> None:
    consent(customer)
    refused(
        "role_not_allowed",
        lambda: disclose(
            actor=Actor(kind="staff", id="5", role="sales"),
            recipient=MARKET,
            purpose="customer_database",
            customer_ids=[customer],
            fields=["email"],
        ),
    )


def test_a_customer_cannot_disclose(customer: uuid.UUID) -> None:
    refused(
        "staff_only",
        lambda: disclose(
            actor=Actor(kind="customer", id=str(customer)),
            recipient=MARKET,
            purpose="customer_database",
            customer_ids=[customer],
            fields=["email"],
        ),
    )


def test_an_unknown_customer_is_refused_naming_it(customer: uuid.UUID) -> None:
    consent(customer)
    stranger = uuid.uuid4()
    error = refused(
        "customer_unknown",
        lambda: disclose(
            actor=OWNER,
            recipient=MARKET,
            purpose="customer_database",
            customer_ids=[customer, stranger],
            fields=["email"],
        ),
        status=422,
    )
    assert stranger.hex[:8] in error.message


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"customer_ids": "not a list"}, "customers", "type"),
        ({"customer_ids": []}, "customers", "required"),
        ({"customer_ids": ["not-an-id"]}, "customers", "not_an_id"),
        ({"customer_ids": [42]}, "customers", "not_an_id"),
        ({"customer_ids": [str(uuid.uuid4())] * 1001}, "customers", "too_many"),
        ({"fields": "email"}, "fields", "type"),
        ({"fields": []}, "fields", "required"),
        ({"fields": [42]}, "fields", "type"),
        ({"legal_reference": "x" * 201}, "legal_reference", "too_long"),
        ({"legal_reference": "a\x00b"}, "legal_reference", "printable"),
        ({"legal_reference": 7}, "legal_reference", "type"),
    ],
)
def test_bad_input_is_a_422_naming_what_is_wrong_and_audited(
    customer: uuid.UUID, changes: dict[str, Any], field: str, rule: str
) -> None:
    consent(customer)
    before = len(audit_events(EventType.DISCLOSURE_REFUSED))
    arguments: dict[str, Any] = {
        "actor": OWNER,
        "recipient": MARKET,
        "purpose": "customer_database",
        "customer_ids": [customer],
        "fields": ["email"],
        **changes,
    }
    with pytest.raises(DisclosureInvalid) as caught:
        disclose(**arguments)
    assert caught.value.status == 422
    assert (caught.value.problems[0].field, caught.value.problems[0].rule) == (field, rule)
    assert not Disclosure.objects.exists()
    assert not audit_events(EventType.DISCLOSURE_MADE)
    # the refusal is in the audit log (its own transaction), naming the rule, not the input
    after = audit_events(EventType.DISCLOSURE_REFUSED)
    assert len(after) == before + 1
    assert after[-1].outcome == "refused"
    assert details(after[-1]) == {"recipient": MARKET, "rule": rule}


def test_p09_a_field_the_role_sees_masked_is_refused_and_audited(customer: uuid.UUID) -> None:
    # customer_database shows the phone masked (preset B): the recipient is declared to receive
    # it, but the file would hand it over whole, so it is refused.
    consent(customer)
    error = refused(
        "masked_for_role",
        lambda: disclose(
            actor=SERVICE,
            recipient=MARKET,
            purpose="customer_database",
            customer_ids=[customer],
            fields=["email", "phone"],
        ),
    )
    assert error.problems[0].field == "phone"
    assert "phone" in error.message and "customer_service" in error.message
    assert audit_events(EventType.DISCLOSURE_REFUSED)[-1].fields == "phone"


@pytest.mark.parametrize(
    ("match", "kinds"),
    [("0987 654 321", "phone"), ("khoa.tran@example.vn", "email"), ("079203001234", "id_number")],
)
def test_a_legal_reference_that_looks_personal_is_refused_without_repeating_it(
    customer: uuid.UUID, match: str, kinds: str
) -> None:
    """The reference is kept in the audit log, which is never erased: no personal data in it."""
    error = refused(
        "personal_data",
        lambda: disclose(
            actor=OWNER,
            recipient=AGENCY,
            purpose="state_requests",
            customer_ids=[customer],
            fields=["full_name"],
            legal_reference=f"Công văn 12/CV-CA về {match}",
        ),
        status=422,
    )
    assert isinstance(error, DisclosureInvalid)
    assert error.problems[0].field == "legal_reference"
    assert kinds in error.message
    assert match not in error.message and match not in str(error.problems[0].message)
    event = audit_events(EventType.DISCLOSURE_REFUSED)[-1]
    assert match not in event.details
    # a decision number with its date is not personal data
    made = disclose(
        actor=OWNER,
        recipient=AGENCY,
        purpose="state_requests",
        customer_ids=[customer],
        fields=["full_name"],
        legal_reference=DECISION,
    )
    assert made.legal_reference == DECISION
