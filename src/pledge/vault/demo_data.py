"""Synthetic customers for `pledge demo` and the benchmarks (bench/datagen.py).

Vietnamese (Faker `vi_VN`) and English (`en_US`) names with their diacritics, addresses, valid
Vietnamese mobile numbers written the ways people write them, emails under reserved example
domains (RFC 2606), and jewellery orders with items. The same seed gives the same people.

`seed_demo_customers` writes them through the vault services, so every value is checked against
the policy in force, encrypted and audited exactly as a shop's own customers would be. Faker is an
optional dependency (`pip install -e '.[demo]'`), imported only when synthetic data is asked for.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from pledge.consent.services import give_consent
from pledge.policy.enforcement import EnforcedPolicy
from pledge.vault import services
from pledge.vault.access import Actor, policy
from pledge.vault.models import Customer, RecordKind

DEMO_REF_PREFIX = "demo-"
DEMO_ACTOR = Actor(kind="system", id="demo")
DEFAULT_SEED = 2026
# Fields this generator can make up, and the customer attribute each comes from.
SYNTHETIC_FIELDS = {
    "full_name": "full_name",
    "email": "email",
    "phone": "phone",
    "address": "address",
    "delivery_address": "address",
}
# Vietnamese mobile prefixes (after the 2018 renumbering) under which every 7-digit subscriber
# number is valid in libphonenumber's metadata (so `normalise_phone` accepts it; 089 and 099 are
# only partly allocated and left out): 03x, 05x, 07x, 08x, 09x.
MOBILE_PREFIXES = (
    *("32", "33", "34", "35", "36", "37", "38", "39"),
    *("56", "58", "59"),
    *("70", "76", "77", "78", "79"),
    *("81", "82", "83", "84", "85", "86", "88"),
    *("90", "91", "93", "94", "96", "97", "98"),
)
# Reserved for examples: no synthetic address can reach a real mailbox.
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
# (sku, name, unit price in VND)
PRODUCTS = (
    ("RG-18K-01", "Nhẫn vàng 18K", 5_200_000),
    ("RG-PT-02", "Nhẫn cưới bạch kim", 12_800_000),
    ("NK-AG-03", "Dây chuyền bạc 925", 1_450_000),
    ("ER-DM-04", "Bông tai kim cương", 18_500_000),
    ("BR-WG-05", "Lắc tay vàng trắng", 9_900_000),
    ("PD-PL-06", "Mặt dây chuyền ngọc trai", 3_200_000),
    ("BG-JD-07", "Vòng tay cẩm thạch", 6_750_000),
    ("WT-LD-08", "Đồng hồ nữ dây da", 4_300_000),
    ("RG-RB-09", "Nhẫn đá ruby", 7_600_000),
    ("NK-GD-10", "Kiềng vàng 24K", 21_000_000),
)


class DemoDataUnavailable(RuntimeError):
    """Faker, an optional dependency, is not installed."""


def _faker(locale: str, seed: int) -> Any:
    try:
        from faker import Faker
    except ImportError:
        raise DemoDataUnavailable(
            "synthetic demo customers need Faker, an optional dependency: "
            "pip install -e '.[demo]' (or make demo)"
        ) from None
    fake = Faker(locale)
    fake.seed_instance(seed)
    return fake


@dataclass(frozen=True)
class SyntheticOrder:
    number: str
    placed_at: dt.datetime
    items: list[dict[str, Any]]
    total: Decimal
    currency: str = "VND"


@dataclass(frozen=True)
class SyntheticCustomer:
    ref: str
    language: str
    full_name: str
    email: str
    phone: str
    address: str
    orders: tuple[SyntheticOrder, ...]

    def values(self, fields: frozenset[str] | set[str]) -> dict[str, str]:
        """The values of those `fields` this generator can make up."""
        return {f: getattr(self, a) for f, a in SYNTHETIC_FIELDS.items() if f in fields}


def ascii_slug(text: str) -> str:
    """ "Nguyễn Thị Đào" -> "nguyen.thi.dao": for synthetic email addresses."""
    stripped = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    letters = "".join(c for c in stripped if not unicodedata.combining(c))
    words = ["".join(ch for ch in w if ch.isascii() and ch.isalnum()) for w in letters.split()]
    return ".".join(w for w in words if w).lower() or "customer"


class SyntheticCustomers:
    """Deterministic synthetic customers: `customer(i)` in order gives the same people per seed.

    `english_share` of them get en_US names and addresses (and the `en` language); the rest are
    Vietnamese. Every one has a Vietnamese mobile number: the shops are Vietnamese.
    """

    def __init__(
        self,
        seed: int = DEFAULT_SEED,
        *,
        english_share: float = 0.2,
        max_orders: int = 3,
        now: dt.datetime | None = None,
    ) -> None:
        self._vi = _faker("vi_VN", seed)
        self._en = _faker("en_US", seed + 1)
        self._rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, no secret
        self._english_share = english_share
        self._max_orders = max_orders
        self._now = (now or timezone.now()).replace(minute=0, second=0, microsecond=0)

    def phone(self) -> str:
        """A valid Vietnamese mobile number, spelt one of the ways customers type them."""
        prefix = self._rng.choice(MOBILE_PREFIXES)
        digits = f"{self._rng.randrange(10_000_000):07d}"
        national = f"0{prefix}{digits}"
        style = self._rng.randrange(4)
        if style == 0:
            return f"{national[:4]} {national[4:7]} {national[7:]}"
        if style == 1:
            return f"+84 {prefix} {digits[:3]} {digits[3:]}"
        if style == 2:
            return f"+84{prefix}{digits}"
        return national

    def order(self, number: str) -> SyntheticOrder:
        rng = self._rng
        items: list[dict[str, Any]] = []
        total = Decimal(0)
        for sku, name, price in rng.sample(PRODUCTS, rng.randint(1, 3)):
            quantity = rng.randint(1, 2)
            items.append({"sku": sku, "name": name, "quantity": quantity, "unit_price": str(price)})
            total += Decimal(price) * quantity
        placed_at = self._now - dt.timedelta(hours=rng.randrange(24 * 540))
        return SyntheticOrder(number=number, placed_at=placed_at, items=items, total=total)

    def customer(self, index: int, *, ref_prefix: str = DEMO_REF_PREFIX) -> SyntheticCustomer:
        english = self._rng.random() < self._english_share
        fake = self._en if english else self._vi
        name = fake.name()
        address = ", ".join(line.strip() for line in fake.address().splitlines())
        domain = self._rng.choice(EMAIL_DOMAINS)
        orders = tuple(
            self.order(f"{ref_prefix.upper()}{index:06d}-{k + 1}")
            for k in range(self._rng.randint(0, self._max_orders))
        )
        return SyntheticCustomer(
            ref=f"{ref_prefix}{index:06d}",
            language="en" if english else "vi",
            full_name=name,
            email=f"{ascii_slug(name)}.{index}@{domain}",
            phone=self.phone(),
            address=address,
            orders=orders,
        )


# -- seeding the demo shop ------------------------------------------------------------------


@dataclass(frozen=True)
class _DemoPlan:
    """Which purposes of the policy in force the demo writes through."""

    profile_purpose: str
    profile_fields: frozenset[str]
    order_purpose: str | None
    order_fields: frozenset[str]
    guarantee_purpose: str | None
    consent_purposes: tuple[str, ...]


def _held_on(enforced: EnforcedPolicy, field: str, record_kind: str) -> bool:
    records = enforced.field_records.get(field, frozenset())
    return not records or record_kind in records


def _fakeable(enforced: EnforcedPolicy, purpose: str, record_kind: str) -> frozenset[str]:
    return frozenset(
        f
        for f in enforced.collects.get(purpose, frozenset())
        if f in SYNTHETIC_FIELDS and _held_on(enforced, f, record_kind)
    )


def _demo_plan(enforced: EnforcedPolicy) -> _DemoPlan | None:
    contract = [p.key for p in enforced.policy.purposes if p.basis == "contract"]
    ordering = [p for p in contract if "purchase_history" in enforced.collects.get(p, frozenset())]
    candidates = ordering + [p for p in contract if p not in ordering]
    profile = max(
        candidates,
        key=lambda p: len(_fakeable(enforced, p, RecordKind.PROFILE)),
        default=None,
    )
    if profile is None or not _fakeable(enforced, profile, RecordKind.PROFILE):
        return None
    order = ordering[0] if ordering else None
    guarantee = next(
        (
            p.key
            for p in enforced.policy.purposes
            if "guarantee_number" in enforced.collects.get(p.key, frozenset())
            and _held_on(enforced, "guarantee_number", RecordKind.GUARANTEE)
        ),
        None,
    )
    return _DemoPlan(
        profile_purpose=profile,
        profile_fields=_fakeable(enforced, profile, RecordKind.PROFILE),
        order_purpose=order,
        order_fields=_fakeable(enforced, order, RecordKind.ORDER) if order else frozenset(),
        guarantee_purpose=guarantee,
        consent_purposes=tuple(p.key for p in enforced.policy.purposes if p.basis == "consent"),
    )


def demo_customers_exist() -> bool:
    return Customer.objects.filter(external_ref__startswith=DEMO_REF_PREFIX).exists()


def seed_demo_customers(
    count: int = 300, *, seed: int = DEFAULT_SEED, consent_share: float = 0.4
) -> int:
    """Create `count` synthetic customers with orders, guarantee cards (where a purpose of the
    policy in force issues them) and consents (for `consent_share` of them, per purpose based on
    consent), through the vault services. Returns how many were created: 0 when demo customers
    (external_ref "demo-…") exist already. All or nothing: one transaction.
    """
    if count <= 0 or demo_customers_exist():
        return 0
    enforced = policy()
    plan = _demo_plan(enforced)
    if plan is None:
        return 0
    people = SyntheticCustomers(seed)
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, no secret
    actor = DEMO_ACTOR
    with transaction.atomic():
        for index in range(1, count + 1):
            person = people.customer(index)
            customer_id = services.collect_customer(
                actor=actor,
                purpose=plan.profile_purpose,
                fields=person.values(plan.profile_fields),
                language=person.language,
                external_ref=person.ref,
            )
            if plan.order_purpose is not None:
                for number, order in enumerate(person.orders, start=1):
                    order_id = services.place_order(
                        actor=actor,
                        purpose=plan.order_purpose,
                        customer_id=customer_id,
                        number=order.number,
                        items=order.items,
                        total=order.total,
                        currency=order.currency,
                        fields=person.values(plan.order_fields),
                        placed_at=order.placed_at,
                    )
                    if plan.guarantee_purpose is not None:
                        issued_on = timezone.localdate(order.placed_at)
                        services.issue_guarantee(
                            actor=actor,
                            purpose=plan.guarantee_purpose,
                            customer_id=customer_id,
                            number=f"BH-{person.ref.upper()}-{number}",
                            product=order.items[0]["name"],
                            issued_on=issued_on,
                            valid_until=issued_on + dt.timedelta(days=365),
                            order_id=order_id,
                        )
            for purpose in plan.consent_purposes:
                if rng.random() < consent_share:
                    give_consent(
                        customer_id=customer_id,
                        purpose=purpose,
                        method="demo",
                        actor=actor.label,
                        channel="system",
                        language=person.language,
                    )
    return count
