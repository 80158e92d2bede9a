"""Fixtures of the complaints tests: preset B (leman), a customer with an email on file, the
shop's owner(s) as real staff accounts."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import LoadedPolicy, load_policy
from pledge.policy.schema import Policy
from pledge.policy.services import publish_policy
from pledge.vault import services as vault
from pledge.vault.access import Actor

EMAIL = "hong.nhung@example.vn"
TEXT = "Tôi nhận được email quảng cáo dù đã từ chối; xin giải thích."


@pytest.fixture
def customer(leman: Any, shop_api: Actor) -> uuid.UUID:
    cid: uuid.UUID = vault.collect_customer(
        actor=shop_api,
        purpose="order_fulfilment",
        fields={"full_name": "Nguyễn Thị Hồng Nhung", "email": EMAIL},
    )
    return cid


def me(customer_id: uuid.UUID) -> Actor:
    return Actor(kind="customer", id=str(customer_id))


def publish_response(hours: int, clock: str) -> None:
    """Preset B with another promised answer time (preset B: 24 working hours)."""
    loaded = load_policy("leman-jewelry")
    data = loaded.policy.model_dump(mode="python", exclude_none=True)
    data["complaints"]["response"] = {"hours": hours, "clock": clock}
    data["version"] = f"test-{hours}-{clock}"
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


def publish_unmasked_complaints(unmasked: list[str]) -> None:
    """Preset B with the `complaints` purpose showing only `unmasked` fields whole (P09)."""
    loaded = load_policy("leman-jewelry")
    data = loaded.policy.model_dump(mode="python", exclude_none=True)
    for purpose in data["purposes"]:
        if purpose["key"] == "complaints":
            purpose["unmasked"] = unmasked
    data["version"] = "test-masked-complaints"
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
