"""What the demo storefront sells and what its checkout asks, derived from the policy in force.

The checkout form is not hard-coded: it asks exactly for the fields the policy's order purpose
collects that a checkout needs (P01), shows the just-in-time notice generated from the same policy
beside it (P25), and offers one optional consent-based purpose with an unticked box (P04).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from pledge.policy.jit import JitNotice, just_in_time
from pledge.policy.render import field_label
from pledge.policy.schema import Policy, Purpose
from pledge.policy.vocabulary import STANDARD_FIELDS

# The purpose a checkout acts for: completing the order the customer asks for (basis contract).
ORDER_PURPOSE = "order_fulfilment"
# How the box is ticked, as the consent ledger records it (ConsentEvent.method).
CONSENT_METHOD = "checkbox"
MAX_QUANTITY = 5


@dataclass(frozen=True)
class Product:
    sku: str
    name: Promise
    tagline: Promise
    details: tuple[Promise, ...]
    price: Decimal
    currency: str


# One product is enough to show the whole path; its texts are translated like any page's.
PRODUCT = Product(
    sku="LM-R18-0001",
    name=_("Lotus ring, 18K gold with a diamond"),
    tagline=_("Hand-finished in Hanoi. A 3.6 mm natural diamond set in a lotus of 18K gold."),
    details=(
        _("18K yellow gold (75%), 2.1 g"),
        _("Natural diamond, 3.6 mm, VS clarity"),
        _("Guarantee Paper for exchange and warranty"),
        _("Free delivery in Vietnam"),
    ),
    price=Decimal("5200000"),
    currency="VND",
)


class CheckoutUnavailable(Exception):
    """The policy in force gives a checkout nothing to collect (no order purpose or no fields)."""


def _is_sensitive(policy: Policy, key: str) -> bool:
    declared = policy.field(key).sensitive
    if declared is not None:
        return declared
    standard = STANDARD_FIELDS.get(key)
    return bool(standard and standard.sensitive)


def checkout_fields(policy: Policy) -> tuple[str, ...]:
    """The order purpose's fields a checkout form asks for, in the policy's order.

    Given by the customer, stored on their profile record, and not sensitive: an ID document or
    card details are never asked on a checkout form (the policy's own payment and ID steps are
    separate), automatic data (cookie ids) is not typed in, derived data (purchase history) comes
    from placing the order.
    """
    try:
        purpose = policy.purpose(ORDER_PURPOSE)
    except KeyError:
        return ()
    keys = []
    for key in purpose.fields:
        field = policy.field(key)
        if field.source != "customer" or field.storage != "stored":
            continue
        if "profile" not in field.records or _is_sensitive(policy, key):
            continue
        keys.append(key)
    return tuple(keys)


def consent_purpose(policy: Policy, fields: tuple[str, ...]) -> Purpose | None:
    """The consent-based purpose offered at checkout: the first the policy declares that collects
    some of the checkout's fields (preset B: `customer_database`). None when there is none."""
    for purpose in policy.purposes:
        if purpose.basis == "consent" and set(purpose.fields) & set(fields):
            return purpose
    return None


@dataclass(frozen=True)
class Checkout:
    """The checkout of the policy in force, in one language."""

    language: str
    shop: str
    fields: tuple[str, ...]
    labels: dict[str, str]
    notice: JitNotice
    # The optional consent (None when the policy offers none at checkout).
    consent_purpose: str | None
    consent_fields: tuple[str, ...]
    consent_notice: JitNotice | None
    # Buyer fields the policy keeps on an order record, sent with the order.
    order_fields: tuple[str, ...]
    # Whether the order purpose records purchases: only then is an order placed.
    places_order: bool


def build_checkout(policy: Policy, language: str) -> Checkout:
    fields = checkout_fields(policy)
    if not fields:
        raise CheckoutUnavailable(
            f"the policy declares no purpose {ORDER_PURPOSE!r} with fields a checkout asks for"
        )
    order = policy.purpose(ORDER_PURPOSE)
    offered = consent_purpose(policy, fields)
    consent_fields = tuple(k for k in fields if offered and k in offered.fields)
    with translation.override(language):
        labels = {key: field_label(policy, key, language) for key in fields}
    return Checkout(
        language=language,
        shop=policy.controller.trade_name or policy.name,
        fields=fields,
        labels=labels,
        notice=just_in_time(policy, ORDER_PURPOSE, fields, language),
        consent_purpose=offered.key if offered else None,
        consent_fields=consent_fields,
        consent_notice=(
            just_in_time(policy, offered.key, consent_fields, language) if offered else None
        ),
        order_fields=tuple(k for k in fields if "order" in policy.field(k).records),
        places_order="purchase_history" in order.fields,
    )


def key_purposes(policy: Policy) -> list[str]:
    """What the storefront's API key must act for: the order purpose and the consent one."""
    offered = consent_purpose(policy, checkout_fields(policy))
    return [ORDER_PURPOSE] + ([offered.key] if offered else [])
