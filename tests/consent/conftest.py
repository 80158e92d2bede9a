"""The consent ledger under test: real services, real keyring, preset B (Leman Jewelry) or preset B
with two direct-marketing purposes added (it has none of its own)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pledge.policy.enforcement import EnforcedPolicy, clear_policy_cache, enforced_policy
from pledge.policy.loader import LoadedPolicy, load_policy
from pledge.policy.schema import Policy
from pledge.policy.services import publish_policy
from pledge.vault import services
from pledge.vault.access import Actor

EMAIL = "hong.nhung@example.vn"
OTHER_EMAIL = "binh.tran@example.vn"

# A newsletter needs consent (PDPL Art 28); promotions rely on legitimate interest, so only an
# objection stops them (GDPR Art 21(3)). Both send email, so they need the address whole (P09).
MARKETING_PURPOSES: list[dict[str, Any]] = [
    {
        "key": "newsletter",
        "name": {"vi": "Bản tin khuyến mãi", "en": "Newsletter"},
        "description": {
            "vi": "Gửi bản tin về bộ sưu tập mới và khuyến mãi mỗi tháng một lần qua thư điện tử.",
            "en": "Send a monthly email newsletter about new collections and offers.",
        },
        "basis": "consent",
        "marketing": True,
        "fields": ["email"],
        "unmasked": ["email"],
        "roles": ["sales"],
    },
    {
        "key": "promotions",
        "name": {"vi": "Ưu đãi cho khách hàng", "en": "Offers for customers"},
        "description": {
            "vi": "Gửi ưu đãi cho khách hàng đã mua hàng.",
            "en": "Send offers to customers who bought from us.",
        },
        "basis": "legitimate_interest",
        "marketing": True,
        "fields": ["email"],
        "unmasked": ["email"],
        "roles": ["sales"],
    },
]


def variant_of_leman(version: str, **changes: Any) -> LoadedPolicy:
    """Preset B with `changes` applied to its top-level keys, as a policy file would say."""
    loaded = load_policy("leman-jewelry")
    data = loaded.policy.model_dump(mode="python", exclude_none=True)
    data.update(version=version, **changes)
    policy = Policy.model_validate(data)
    return LoadedPolicy(policy=policy, source="test", text=loaded.text, document=loaded.document)


def publish(loaded: LoadedPolicy, **kwargs: Any) -> None:
    clear_policy_cache()
    publish_policy(
        loaded,
        actor="test",
        effective_date=kwargs.pop("effective_date", loaded.policy.effective_date),
        **kwargs,
    )
    clear_policy_cache()


@pytest.fixture
def marketing(db: None) -> Iterator[EnforcedPolicy]:
    """Preset B plus the purposes `newsletter` (consent) and `promotions` (legitimate interest)."""
    base = load_policy("leman-jewelry").policy
    purposes = [p.model_dump(mode="python", exclude_none=True) for p in base.purposes]
    publish(variant_of_leman("test-marketing", purposes=purposes + MARKETING_PURPOSES))
    yield enforced_policy()
    clear_policy_cache()


@pytest.fixture
def new_customer(shop_api: Actor) -> Callable[..., uuid.UUID]:
    def make(email: str = EMAIL, language: str = "vi", **extra: Any) -> uuid.UUID:
        return services.collect_customer(
            actor=shop_api,
            purpose="order_fulfilment",
            fields={"full_name": "Nguyễn Thị Hồng Nhung", "email": email, **extra},
            language=language,
        )

    return make


@pytest.fixture
def customer(leman: Any, new_customer: Callable[..., uuid.UUID]) -> uuid.UUID:
    return new_customer()


@pytest.fixture
def marketer() -> Actor:
    """The shop's newsletter job."""
    return Actor(kind="system", id="newsletter")
