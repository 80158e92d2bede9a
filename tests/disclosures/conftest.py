"""Helpers of the disclosures tests: preset B's customers, consents and audit records."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from pledge.audit.models import AuditEvent
from pledge.consent.services import give_consent
from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import LoadedPolicy, load_policy
from pledge.policy.schema import Policy
from pledge.policy.services import publish_policy
from pledge.vault import services as vault

NAME = "Trần Minh Khoa"
EMAIL = "minh.khoa@example.vn"
PHONE = "0987 654 321"
ADDRESS = "45 Hai Bà Trưng, Quận 1, TP Hồ Chí Minh"
AGENCY = "state_agency_request"
MARKET = "market_research"
DECISION = "Quyết định 123/QĐ-CA ngày 2/3/2026"


def events(type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(type=type).order_by("seq"))


def details(event: AuditEvent) -> dict[str, Any]:
    return json.loads(event.details) if event.details else {}


def consent(customer_id: uuid.UUID, purpose: str = "customer_database") -> None:
    give_consent(customer_id=customer_id, purpose=purpose, method="checkbox", actor="test")


# P09: only a field shown whole for the purpose may be disclosed. Preset B shows nothing whole for
# customer_database, state_requests or transaction_confirmation, so under it none of their fields
# could be given. The tests' policy is preset B with these shown whole, except the phone for
# customer_database, which stays masked (preset B's own rule) to test the masking rule.
SHOWN_WHOLE = {
    "customer_database": ["full_name", "email", "address", "purchase_history"],
    "state_requests": [
        "full_name",
        "address",
        "email",
        "phone",
        "id_document",
        "purchase_history",
        "payment_history",
        "guarantee_number",
    ],
    "transaction_confirmation": ["full_name", "purchase_history", "payment_history"],
}


def shown_whole(data: dict[str, Any]) -> None:
    for purpose in data["purposes"]:
        extra = SHOWN_WHOLE.get(purpose["key"], [])
        purpose["unmasked"] = list(dict.fromkeys([*purpose.get("unmasked", []), *extra]))


def publish_variant(change: Callable[[dict[str, Any]], object] = lambda data: None) -> None:
    """The tests' policy (preset B with SHOWN_WHOLE) changed by `change`, published, in force."""
    loaded = load_policy("leman-jewelry")
    data = loaded.policy.model_dump(mode="python", exclude_none=True)
    shown_whole(data)
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


def with_contact(key: str, email: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        for recipient in data["recipients"]:
            if recipient["key"] == key:
                recipient["contact"] = {"email": email}

    return change


@pytest.fixture
def disclosable(leman: Any) -> None:
    """The tests' policy in force: preset B with SHOWN_WHOLE."""
    publish_variant()


@pytest.fixture
def new_customer(disclosable: None, shop_api: Any) -> Callable[..., uuid.UUID]:
    """new_customer() -> a customer of preset B with name, email, phone and address on file."""

    def make(
        name: str = NAME, email: str = EMAIL, phone: str = PHONE, address: str = ADDRESS
    ) -> uuid.UUID:
        return vault.collect_customer(
            actor=shop_api,
            purpose="order_fulfilment",
            fields={"full_name": name, "email": email, "phone": phone, "address": address},
        )

    return make


@pytest.fixture
def customer(new_customer: Callable[..., uuid.UUID]) -> uuid.UUID:
    return new_customer()
