"""Card payments (P02, P15; PCI DSS v4.0.1 Req 3.3.1, 3.4.1, 3.5.1).

collect -> `access.authorize` (purpose and role, P06/P09) -> the purpose collects `card` and
`payment_history`, and declares `card_cvc` as `storage: transient` (P01, PCI DSS 3.3.1) -> live
consent where the basis is consent (P04) -> the card is checked (Luhn, length, expiry, network) ->
the order belongs to the customer -> the gateway authorises the amount of the order -> one
transaction: the card kept truncated and encrypted, the payment, the order paid, the audit event.

What happens to each part of the card:

- the **CVC** goes to the gateway and nowhere else: not into the database, not into a log, not
  into an exception, not into an audit event (PCI DSS 3.3.1);
- the **full number** goes to the gateway only. Pledge keeps a `PaymentMethod` row (the brand, in
  clear) and one encrypted value `card` on the record kind "payment" holding only the brand, the
  BIN (first 6 digits; fewer for numbers shorter than 15 digits, so that at least 6 digits always
  stay unknown), the last 4, the expiry and the holder. What is never stored cannot leak (3.5.1);
- a card is **displayed** as brand + last 4, or at most BIN + last 4 when the purpose shows the
  card whole (3.4.1, `masking.card_display`).

`CardInput` never shows the number, the CVC or the holder in its `repr`/`str`, refuses to be
pickled or copied, and its checks name the field that is wrong, never the value. Nothing in this
module logs a card.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NoReturn, Protocol

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.views.decorators.debug import sensitive_variables

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.policy.enforcement import EnforcedPolicy
from pledge.vault.access import (
    Actor,
    authorize,
    policy,
)
from pledge.vault.errors import NotFound, Problem, ValuesInvalid, VaultError
from pledge.vault.masking import card_display
from pledge.vault.models import EncryptedValue, Order, Payment, PaymentMethod, RecordKind
from pledge.vault.services import (
    authorize_read,
    check_collectable,
    refuse_fields,
    require_consent,
)
from pledge.vault.store import customer_key, encrypted_rows, read_values

# The fields a payment touches: the card (kept truncated), the transaction (payment history) and
# the CVC (transient: it passes through to the gateway and is never stored).
CARD_FIELD = "card"
CVC_FIELD = "card_cvc"
HISTORY_FIELD = "payment_history"

MAX_HOLDER = 100
MAX_YEARS_AHEAD = 25
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SEPARATORS = re.compile(r"[ \-]")

DEFAULT_GATEWAY = "pledge.vault.payments.OfflineTestGateway"


# -- card networks --------------------------------------------------------------------------


def _prefix_in(digits: str, low: int, high: int) -> bool:
    width = len(str(low))
    return digits[:width].isdigit() and low <= int(digits[:width]) <= high


# (brand, IIN test, allowed lengths). First match wins, so the narrower ranges come first.
_NETWORKS: tuple[tuple[str, Any, frozenset[int]], ...] = (
    # NAPAS, the Vietnamese domestic switch: 9704 + bank code.
    ("napas", lambda d: d.startswith("9704"), frozenset({16, 19})),
    ("amex", lambda d: d[:2] in ("34", "37"), frozenset({15})),
    ("visa", lambda d: d.startswith("4"), frozenset({13, 16, 19})),
    (
        "mastercard",
        lambda d: _prefix_in(d, 51, 55) or _prefix_in(d, 2221, 2720),
        frozenset({16}),
    ),
    ("jcb", lambda d: _prefix_in(d, 3528, 3589), frozenset(range(16, 20))),
    (
        "discover",
        lambda d: d.startswith(("6011", "65")) or _prefix_in(d, 644, 649),
        frozenset(range(16, 20)),
    ),
    ("unionpay", lambda d: d.startswith(("62", "81")), frozenset(range(16, 20))),
    (
        "diners",
        lambda d: _prefix_in(d, 300, 305) or d.startswith(("36", "38", "39")),
        frozenset(range(14, 20)),
    ),
)
BRANDS = tuple(name for name, _, _ in _NETWORKS)


def detect_brand(digits: str) -> str:
    """The card network of a number (digits only) by its IIN range; "" when none matches."""
    for name, matches, _ in _NETWORKS:
        if matches(digits):
            return str(name)
    return ""


def _lengths(brand: str) -> frozenset[int]:
    for name, _, lengths in _NETWORKS:
        if name == brand:
            return lengths
    return frozenset(range(12, 20))


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def bin_length(length: int) -> int:
    """How many leading digits may be kept: 6 (PCI DSS 3.4.1), but never so many that fewer than
    6 digits (5 for a 15-digit card, the format the card networks accept) stay unknown."""
    return 6 if length >= 15 else max(0, length - 10)


# -- the card as it arrives -----------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False, slots=True)
class CardInput:
    """A card as the customer typed it, for one payment call. Never persisted, never printed.

    `number` may contain spaces or hyphens between digit groups; `expiry_year` may have 2 or 4
    digits; `cvc` is 3 digits (4 for American Express; NAPAS domestic cards may have none).
    """

    number: str
    expiry_month: int
    expiry_year: int
    holder: str
    cvc: str

    def __repr__(self) -> str:
        return "CardInput(number=<hidden>, cvc=<hidden>, holder=<hidden>)"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        # pickle, copy and every cache or queue built on them: a card never leaves the call.
        raise TypeError("a CardInput is never serialised or copied (PCI DSS 3.3.1)")

    def __reduce__(self) -> NoReturn:
        raise TypeError("a CardInput is never serialised or copied (PCI DSS 3.3.1)")

    def __getstate__(self) -> NoReturn:
        raise TypeError("a CardInput is never serialised or copied (PCI DSS 3.3.1)")

    @property
    def digits(self) -> str:
        """The number without separators (only meaningful on a checked card)."""
        return _SEPARATORS.sub("", self.number) if isinstance(self.number, str) else ""

    @property
    def brand(self) -> str:
        return detect_brand(self.digits)

    @property
    def last4(self) -> str:
        return self.digits[-4:]

    @property
    def bin(self) -> str:
        digits = self.digits
        return digits[: bin_length(len(digits))]

    @property
    def expiry(self) -> str:
        return f"{self.expiry_month:02d}/{self.expiry_year:04d}"

    @sensitive_variables()
    def checked(self, today: dt.date | None = None) -> CardInput:
        """The card normalised (digits only, 4-digit year, NFC holder), or ValuesInvalid naming
        every field that is wrong. Messages never contain a value."""
        problems: list[Problem] = []

        def bad(name: str, rule: str, message: str) -> None:
            problems.append(Problem(f"card.{name}", rule, message))

        digits = ""
        brand = ""
        if not isinstance(self.number, str):
            bad("number", "type", "the card number must be text")
        else:
            digits = _SEPARATORS.sub("", self.number)
            if not (digits.isascii() and digits.isdigit()):
                bad("number", "card_format", "the card number must be digits only")
            elif not 12 <= len(digits) <= 19:
                bad("number", "card_length", "the card number must have 12 to 19 digits")
            elif not luhn_valid(digits):
                bad("number", "card_checksum", "the card number fails the Luhn check digit")
            else:
                brand = detect_brand(digits)
                if not brand:
                    bad(
                        "number",
                        "card_brand_unknown",
                        f"the card number belongs to no known card network ({', '.join(BRANDS)})",
                    )
                elif len(digits) not in _lengths(brand):
                    bad("number", "card_length", f"a {brand} card number has another length")

        month, year = self.expiry_month, self.expiry_year
        month_ok = isinstance(month, int) and not isinstance(month, bool) and 1 <= month <= 12
        if not month_ok:
            bad("expiry_month", "expiry_month", "expiry_month must be a whole number 1-12")
        year_ok = isinstance(year, int) and not isinstance(year, bool) and 0 <= year <= 9999
        if year_ok and year < 100:
            year += 2000
        day = today or timezone.localdate()
        if not year_ok or not 2000 <= year <= day.year + MAX_YEARS_AHEAD:
            bad(
                "expiry_year",
                "expiry_year",
                f"expiry_year must be a year (YY or YYYY) up to {MAX_YEARS_AHEAD} years ahead",
            )
        elif month_ok and (year, month) < (day.year, day.month):
            bad("expiry_year", "card_expired", "the card has expired")

        holder = ""
        if not isinstance(self.holder, str):
            bad("holder", "type", "holder must be text")
        else:
            holder = " ".join(unicodedata.normalize("NFC", self.holder).split())
            if not holder:
                bad("holder", "required", "holder (the name on the card) is empty")
            elif len(holder) > MAX_HOLDER:
                bad("holder", "max_length", f"holder is longer than {MAX_HOLDER} characters")
            elif _CONTROL.search(holder):
                bad("holder", "control_characters", "holder contains control characters")

        cvc = self.cvc
        if not isinstance(cvc, str):
            bad("cvc", "type", "cvc must be text (a number would lose leading zeros)")
            cvc = ""
        elif brand == "napas" and cvc == "":
            pass  # NAPAS domestic cards have no security code
        else:
            wanted = 4 if brand == "amex" else 3
            if not (cvc.isascii() and cvc.isdigit() and len(cvc) == wanted):
                bad("cvc", "cvc_format", f"cvc must be {wanted} digits for this card")

        if problems:
            raise ValuesInvalid("the card is invalid", problems)
        return CardInput(digits, month, year, holder, cvc)

    def stored_summary(self) -> dict[str, str]:
        """What Pledge keeps of a checked card (encrypted): never the full number, never the
        CVC."""
        return {
            "brand": self.brand,
            "bin": self.bin,
            "last4": self.last4,
            "expiry": self.expiry,
            "holder": self.holder,
        }


# -- gateways -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayResult:
    """The gateway's answer. `reference` and `decline_reason` are stored: they must never hold
    card data (a result that does is stored without them)."""

    approved: bool
    reference: str = ""
    decline_reason: str = ""


class PaymentGateway(Protocol):
    """A payment service provider (PSP). `name` is recorded with each payment.

    Real PSP adapters (VNPay, OnePay, MoMo, Stripe…) are per shop and out of Pledge's scope: a shop
    writes one against this protocol and names it in the `PLEDGE_PAYMENT_GATEWAY` setting.
    """

    name: str

    def authorize(
        self, *, card: CardInput, amount: Decimal, currency: str, reference: str
    ) -> GatewayResult: ...


class OfflineTestGateway:
    """The test and demo gateway, like a PSP's test mode: it moves no money.

    It approves every valid card except these documented test numbers, which it declines with
    the given reason (the same numbers Stripe's test mode uses):

    ================  ====================
    4000000000000002  ``card_declined``
    4000000000009995  ``insufficient_funds``
    4000000000000069  ``expired_card``
    4000000000000127  ``incorrect_cvc``
    ================  ====================

    A zero amount is declined (``invalid_amount``). Real PSP adapters are per shop and out of
    scope; each payment records the gateway's name, so test payments stay recognisable.
    """

    name = "offline-test"

    DECLINED: Mapping[str, str] = {
        "4000000000000002": "card_declined",
        "4000000000009995": "insufficient_funds",
        "4000000000000069": "expired_card",
        "4000000000000127": "incorrect_cvc",
    }

    @sensitive_variables()
    def authorize(
        self, *, card: CardInput, amount: Decimal, currency: str, reference: str
    ) -> GatewayResult:
        ref = f"test_{secrets.token_hex(10)}"
        reason = self.DECLINED.get(card.digits)
        if reason is None and amount <= 0:
            reason = "invalid_amount"
        if reason is not None:
            return GatewayResult(approved=False, reference=ref, decline_reason=reason)
        return GatewayResult(approved=True, reference=ref)


def default_gateway() -> PaymentGateway:
    """The gateway named by the `PLEDGE_PAYMENT_GATEWAY` setting (a dotted path to a class),
    else the offline test gateway."""
    path = getattr(settings, "PLEDGE_PAYMENT_GATEWAY", "") or DEFAULT_GATEWAY
    gateway: PaymentGateway = import_string(path)()
    return gateway


class GatewayFailed(VaultError):
    """The gateway did not answer (or failed): nothing was recorded; the payment may be retried."""

    status = 502
    code = "payment-gateway-failed"
    title = "The payment gateway did not answer"


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentResult:
    id: uuid.UUID
    order_id: uuid.UUID
    status: str  # Payment.Status: "authorized" | "declined"
    amount: Decimal
    currency: str
    # Brand + last 4 ("VISA •••• 4242"), or None when the card was not kept.
    card: str | None
    gateway: str
    gateway_reference: str
    decline_reason: str

    @property
    def authorized(self) -> bool:
        return self.status == Payment.Status.AUTHORIZED


@dataclass(frozen=True)
class PaymentView:
    """One transaction in a customer's payment history (P15)."""

    id: uuid.UUID
    order_id: uuid.UUID
    order_number: str
    at: dt.datetime
    status: str
    amount: Decimal
    currency: str
    # At most BIN + last 4 (PCI DSS 3.4.1); None when the card was not kept or is not visible.
    card: str | None
    card_masked: bool
    decline_reason: str


# -- services -------------------------------------------------------------------------------


def _payment_problems(enforced: EnforcedPolicy, purpose: str) -> list[Problem]:
    """P01 for a payment: the purpose collects the card and records the transaction; the CVC is
    declared for it and declared transient (PCI DSS 3.3.1)."""
    problems = check_collectable(
        enforced, purpose, {CARD_FIELD: None, HISTORY_FIELD: None}, RecordKind.PAYMENT
    )
    collects = enforced.collects.get(purpose, frozenset())
    if CVC_FIELD not in enforced.field_records:
        problems.append(
            Problem(CVC_FIELD, "field_undeclared", f"the policy declares no field {CVC_FIELD!r}")
        )
    elif CVC_FIELD not in enforced.transient:
        problems.append(
            Problem(
                CVC_FIELD,
                "cvc_not_transient",
                f"{CVC_FIELD} must be declared `storage: transient`: it is never stored "
                "(PCI DSS 3.3.1)",
            )
        )
    elif CVC_FIELD not in collects:
        problems.append(
            Problem(
                CVC_FIELD,
                "not_declared_for_purpose",
                f"{CVC_FIELD} is not collected for the purpose {purpose!r} (P01)",
            )
        )
    return problems


def _clean_gateway_text(text: object, card: CardInput, limit: int) -> str:
    """A gateway's reference or reason, stored only if it carries no card data: neither the
    digits between the BIN and the last 4 (nor so the whole number) nor the CVC."""
    if not isinstance(text, str):
        return ""
    hidden = card.digits[len(card.bin) : -4]
    if (hidden and hidden in re.sub(r"\D", "", text)) or (
        card.cvc and re.search(rf"(?<![0-9A-Za-z]){re.escape(card.cvc)}(?![0-9A-Za-z])", text)
    ):
        return "[removed: held card data]"
    return text[:limit]


@sensitive_variables()
def authorize_payment(
    *,
    actor: Actor,
    purpose: str,
    customer_id: uuid.UUID,
    order_id: uuid.UUID,
    card: CardInput,
    gateway: PaymentGateway | None = None,
    save_card: bool = True,
) -> PaymentResult:
    """Authorise the amount of an order on a card (P02, P15).

    Returns the payment whether it was authorised or declined (a decline is not an error: it is
    recorded, and the customer sees it in their history). `save_card=False` keeps no trace of the
    card at all (not even brand and last 4). Raises `FieldsRefused`/`AccessRefused`/
    `ConsentRequired` (audited), `ValuesInvalid` (the card, or an order that cannot be paid),
    `NotFound` (no such order for this customer) or `GatewayFailed`.

    The gateway is called outside the database transaction, so a slow PSP holds no lock. If the
    database then fails, the authorisation exists at the PSP without a record here: the shop voids
    it there (the gateway reference is the payment id, passed as `reference`).
    """
    enforced = policy()
    authorize(
        enforced,
        actor,
        purpose,
        event=EventType.WRITE_REFUSED,
        customer_id=customer_id,
        fields=[CARD_FIELD, CVC_FIELD, HISTORY_FIELD],
    )
    refuse_fields(
        _payment_problems(enforced, purpose),
        actor=actor,
        purpose=purpose,
        customer_id=customer_id,
    )
    require_consent(
        enforced,
        purpose,
        customer_id,
        actor=actor,
        event=EventType.WRITE_REFUSED,
        consent_method=None,
    )
    if not isinstance(card, CardInput):
        raise ValuesInvalid("no card given", [Problem("card", "type", "card must be a CardInput")])
    checked = card.checked()
    order = Order.objects.filter(pk=order_id, customer_id=customer_id).first()
    if order is None:
        raise NotFound(
            "no such order for this customer",
            [Problem("order_id", "not_found", "no such order for this customer")],
        )
    if order.status != Order.Status.PLACED:
        raise ValuesInvalid(
            "this order cannot be paid",
            [
                Problem(
                    "order_id",
                    "order_not_payable",
                    f"the order is {order.status}; only a placed order can be paid",
                )
            ],
        )
    key = customer_key(customer_id)
    chosen = gateway if gateway is not None else default_gateway()
    gateway_name = str(getattr(chosen, "name", "") or type(chosen).__name__)[:40]
    payment_id = uuid.uuid4()

    failed = False
    answer: GatewayResult | None = None
    try:
        answer = chosen.authorize(
            card=checked, amount=order.total, currency=order.currency, reference=str(payment_id)
        )
    except Exception:
        # Whatever the PSP library put in its exception (a request body with the card?) stays
        # here: the error raised below is built outside this block, with no context attached.
        failed = True
    if failed or not isinstance(answer, GatewayResult):
        raise GatewayFailed(
            "the payment gateway failed; nothing was recorded",
            [Problem(None, "gateway_failed", f"gateway {gateway_name!r} gave no answer")],
        )

    approved = answer.approved is True
    reference = _clean_gateway_text(answer.reference, checked, 100)
    reason = "" if approved else _clean_gateway_text(answer.decline_reason, checked, 100)
    status = Payment.Status.AUTHORIZED if approved else Payment.Status.DECLINED
    summary = checked.stored_summary() if save_card else None
    with transaction.atomic():
        method_id: uuid.UUID | None = None
        if summary is not None:
            method_id = uuid.uuid4()
            PaymentMethod.objects.create(id=method_id, customer_id=customer_id, brand=checked.brand)
            EncryptedValue.objects.bulk_create(
                encrypted_rows(key, RecordKind.PAYMENT, method_id, {CARD_FIELD: summary})
            )
        Payment.objects.create(
            id=payment_id,
            customer_id=customer_id,
            order_id=order.id,
            method_id=method_id,
            amount=order.total,
            currency=order.currency,
            status=status,
            at=timezone.now(),
            gateway=gateway_name,
            gateway_reference=reference,
            decline_reason=reason,
        )
        if approved:
            Order.objects.filter(pk=order.id).update(status=Order.Status.PAID)
        record_event(
            EventType.PAYMENT_AUTHORIZED if approved else EventType.PAYMENT_DECLINED,
            actor=actor.label,
            actor_role=actor.role,
            customer_id=customer_id,
            record=f"payment:{payment_id}",
            purpose=purpose,
            fields=[HISTORY_FIELD, CVC_FIELD, *([CARD_FIELD] if save_card else [])],
            details={"order": str(order.id), "gateway": gateway_name},
        )
    return PaymentResult(
        id=payment_id,
        order_id=order.id,
        status=str(status),
        amount=order.total,
        currency=order.currency,
        card=card_display(summary, whole=False) if summary is not None else None,
        gateway=gateway_name,
        gateway_reference=reference,
        decline_reason=reason,
    )


def list_payments(*, actor: Actor, purpose: str, customer_id: uuid.UUID) -> list[PaymentView]:
    """The customer's payment transactions, newest first (P15).

    Needs `payment_history` readable for the purpose; the card is shown only when `card` is
    readable too: brand + last 4, or BIN + last 4 when the purpose shows it whole (the customer's
    own `subject_access` does), never more (PCI DSS 3.4.1).
    """
    readable, unmasked = authorize_read(actor, purpose, customer_id, HISTORY_FIELD)
    key = customer_key(customer_id)
    payments = list(
        Payment.objects.filter(customer_id=customer_id)
        .select_related("order")
        .order_by("-at", "-id")
    )
    show_card = CARD_FIELD in readable
    whole = CARD_FIELD in unmasked
    cards: dict[uuid.UUID, dict[str, Any]] = {}
    if show_card:
        method_ids = [p.method_id for p in payments if p.method_id is not None]
        cards = read_values(key, RecordKind.PAYMENT, method_ids, [CARD_FIELD])
    views = []
    for p in payments:
        summary = cards.get(p.method_id, {}).get(CARD_FIELD) if p.method_id else None
        views.append(
            PaymentView(
                id=p.id,
                order_id=p.order_id,
                order_number=p.order.number,
                at=p.at,
                status=p.status,
                amount=p.amount,
                currency=p.currency,
                card=card_display(summary, whole=whole) if isinstance(summary, dict) else None,
                card_masked=not whole,
                decline_reason=p.decline_reason,
            )
        )
    shown = [HISTORY_FIELD, *([CARD_FIELD] if any(v.card for v in views) else [])]
    record_event(
        EventType.PAYMENTS_READ,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        purpose=purpose,
        fields=shown,
        details={"payments": len(payments)},
    )
    return views
