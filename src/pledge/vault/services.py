"""Every read and write of customer data: purpose-bound, policy-checked, encrypted, audited.

collect -> `access.authorize` (purpose and role, P06/P09) -> fields declared for the purpose
(P01) -> live consent where the basis is consent (P04) -> encrypt under the customer's data key
and index lookup fields -> audit event in the same transaction. Reads name a purpose and get only
the fields the actor may see for it, masked unless the purpose needs them whole (P09).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from pledge.audit.events import EventType
from pledge.audit.services import EventSpec, record_event, record_events
from pledge.consent.errors import ConsentError
from pledge.consent.services import give_consent, has_live_consent, objection_stands
from pledge.policy.enforcement import EnforcedPolicy
from pledge.vault.access import SUBJECT_ACCESS, Actor, authorize, policy, refuse, visible_fields
from pledge.vault.errors import (
    AccessRefused,
    ConsentRequired,
    FieldsRefused,
    NotFound,
    Problem,
    ValuesInvalid,
)
from pledge.vault.masking import mask_value
from pledge.vault.models import (
    Customer,
    EncryptedValue,
    GuaranteeCard,
    Order,
    RecordKind,
)
from pledge.vault.normalise import (
    ValueInvalid,
    clean_value,
    index_value,
    normalise_guarantee_number,
    plain_text,
)
from pledge.vault.restriction import check_restriction, usable_despite_restriction
from pledge.vault.store import (
    create_data_key,
    customer_key,
    customer_key_and_language,
    encrypted_rows,
    fast_insert,
    find_by_index,
    index_rows,
    read_values,
    upsert_values,
)

MAX_FIELDS_PER_CALL = 64


@dataclass(frozen=True)
class CustomerView:
    id: uuid.UUID
    purpose: str
    language: str
    fields: dict[str, Any]
    masked: frozenset[str]


@dataclass(frozen=True)
class OrderView:
    id: uuid.UUID
    number: str
    placed_at: dt.datetime
    status: str
    currency: str
    total: Decimal
    items: list[dict[str, Any]]
    fields: dict[str, Any]
    masked: frozenset[str]


@dataclass(frozen=True)
class GuaranteeView:
    id: uuid.UUID
    customer_id: uuid.UUID
    order_number: str | None
    product: str
    issued_on: dt.date
    valid_until: dt.date
    fields: dict[str, Any]
    masked: frozenset[str]


# -- checks ---------------------------------------------------------------------------------


def _field_label(key: object) -> str:
    text = str(key)
    return text if len(text) <= 63 else text[:60] + "…"


def _plain(field: str, value: Any, max_length: int, *, required: bool = True) -> str:
    try:
        return plain_text(field, value, max_length, required=required)
    except ValueInvalid as exc:
        raise ValuesInvalid(exc.message, [Problem(field, exc.rule, exc.message)]) from None


LANGUAGES = ("vi", "en")


def _record_meta(
    language: str, external_ref: str | None, consent_method: str | None
) -> tuple[str, str | None, str | None]:
    if language not in LANGUAGES:
        raise ValuesInvalid(
            "unknown language", [Problem("language", "choice", "language is one of vi, en")]
        )
    ref = _plain("external_ref", external_ref, 100) if external_ref is not None else None
    method = _plain("consent_method", consent_method, 32) if consent_method else None
    return language, ref, method


def check_collectable(
    enforced: EnforcedPolicy, purpose_key: str, values: Mapping[str, Any], record_kind: str
) -> list[Problem]:
    """P01: every field must be declared by the policy for this purpose and this kind of record."""
    problems: list[Problem] = []
    if len(values) > MAX_FIELDS_PER_CALL:
        return [Problem(None, "too_many_fields", f"at most {MAX_FIELDS_PER_CALL} fields per call")]
    allowed = enforced.collects.get(purpose_key, frozenset())
    for key in values:
        name = _field_label(key)
        if key in enforced.transient:
            problems.append(
                Problem(
                    name,
                    "never_stored",
                    f"{name} is never stored (PCI DSS 3.3.1); it may "
                    "only pass through the payment call",
                )
            )
        elif key not in enforced.field_records:
            problems.append(
                Problem(name, "field_undeclared", f"the policy declares no field {name!r}")
            )
        elif key not in allowed:
            problems.append(
                Problem(
                    name,
                    "not_declared_for_purpose",
                    f"{name} is not collected for the purpose {purpose_key!r} (P01)",
                )
            )
        elif enforced.field_records[key] and record_kind not in enforced.field_records[key]:
            problems.append(
                Problem(
                    name,
                    "not_held_on_record",
                    f"the policy does not keep {name} on {record_kind} records",
                )
            )
    return problems


def clean_values(values: Mapping[str, Any], region: str, *, allow_none: bool) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, value in values.items():
        if value is None and allow_none:
            cleaned[key] = None
            continue
        try:
            cleaned[key] = clean_value(key, value, region=region)
        except ValueInvalid as exc:
            problems.append(Problem(key, exc.rule, exc.message))
    if problems:
        raise ValuesInvalid("some values are invalid", problems)
    return cleaned


def refuse_fields(
    problems: list[Problem],
    *,
    actor: Actor,
    purpose: str,
    customer_id: uuid.UUID | None,
    record: str = "",
) -> None:
    if problems:
        refuse(
            FieldsRefused("fields not declared for this purpose", problems),
            event=EventType.WRITE_REFUSED,
            actor=actor,
            purpose=purpose,
            customer_id=customer_id,
            record=record,
            fields=[p.field or "" for p in problems],
        )


def require_consent(
    enforced: EnforcedPolicy,
    purpose_key: str,
    customer_id: uuid.UUID | None,
    *,
    actor: Actor,
    event: EventType,
    consent_method: str | None,
    fields: Iterable[str] = (),
) -> bool:
    """P04: a purpose based on consent needs a live one in the ledger; direct marketing is refused
    while an objection stands, whatever its basis (GDPR Art 21(3)). True when the call itself
    brings the customer's consent (the caller then records it with `record_consent`)."""
    purpose = enforced.purpose(purpose_key)
    if purpose is None:
        return False
    if customer_id is not None:
        # A restriction (GDPR Art 18) or an erasure's legal hold outranks any consent.
        check_restriction(
            enforced, purpose_key, customer_id, actor=actor, event=event, fields=fields
        )
    if consent_method:
        # A new opt-in also lifts a marketing objection: the customer's latest word counts.
        return purpose.basis == "consent" or purpose.marketing
    if purpose.marketing and customer_id is not None and objection_stands(customer_id, purpose_key):
        refuse(
            ConsentRequired(
                f"the customer objected to {purpose_key!r} (direct marketing)",
                [Problem("purpose", "objection", f"an objection to {purpose_key!r} stands")],
            ),
            event=event,
            actor=actor,
            purpose=purpose_key,
            customer_id=customer_id,
            fields=fields,
        )
    if purpose.basis != "consent":
        return False
    if customer_id is not None and has_live_consent(customer_id, purpose_key):
        return False
    refuse(
        ConsentRequired(
            f"the purpose {purpose_key!r} is based on consent and the customer has not given it",
            [Problem("purpose", "consent_required", f"no live consent for {purpose_key!r} (P04)")],
        ),
        event=event,
        actor=actor,
        purpose=purpose_key,
        customer_id=customer_id,
        fields=fields,
    )


def usable_for(
    enforced: EnforcedPolicy, purpose_key: str, customer_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """The customers among `customer_ids` whose data may be used for the purpose: a live consent
    where its basis is consent (P04), no standing objection where it is direct marketing (GDPR
    Art 21(3)). Used by lookups, where refusing one match must not hide the others."""
    wanted = set(customer_ids)
    purpose = enforced.purpose(purpose_key)
    if purpose is None or not wanted:
        return wanted
    wanted = usable_despite_restriction(enforced, purpose_key, wanted)
    if purpose.marketing:
        wanted = {c for c in wanted if not objection_stands(c, purpose_key)}
    if purpose.basis == "consent":
        wanted = {c for c in wanted if has_live_consent(c, purpose_key)}
    return wanted


# Where a consent given through a vault call comes from (ConsentEvent.channel).
CONSENT_CHANNELS = {
    "api": "api",
    "customer": "privacy_center",
    "staff": "staff",
    "system": "system",
}


def record_consent(
    *,
    actor: Actor,
    customer_id: uuid.UUID,
    purpose: str,
    method: str,
    language: str,
    notice: str | None = None,
) -> None:
    """Write the consent a vault call brought into the ledger, in the caller's transaction."""
    try:
        give_consent(
            customer_id=customer_id,
            purpose=purpose,
            method=method,
            actor=actor.label,
            channel=CONSENT_CHANNELS[actor.kind],
            language=language,
            notice_text=notice,
        )
    except ConsentError as exc:
        field = f"consent.{exc.field}" if exc.field else "consent"
        raise ValuesInvalid(exc.message, [Problem(field, exc.rule, exc.message)]) from None


def _present(
    values: Mapping[str, Any], unmasked: frozenset[str]
) -> tuple[dict[str, Any], frozenset[str]]:
    shown: dict[str, Any] = {}
    masked: set[str] = set()
    for field, value in values.items():
        if field in unmasked and field != "card":
            shown[field] = value
        else:
            shown[field] = mask_value(field, value)
            masked.add(field)
    return shown, frozenset(masked)


def authorize_read(
    actor: Actor, purpose: str, customer_id: uuid.UUID, field: str, *, record: str = ""
) -> tuple[frozenset[str], frozenset[str]]:
    """The checks of every read of one kind of data: the purpose and role (P06), the field
    visible to this role for the purpose (P09), a live consent where the basis is consent (P04).
    Returns the (readable, unmasked) fields; refusals are audited and raised."""
    enforced = policy()
    authorize(
        enforced,
        actor,
        purpose,
        event=EventType.ACCESS_REFUSED,
        customer_id=customer_id,
        fields=[field],
    )
    readable, unmasked = visible_fields(enforced, actor, purpose)
    if field not in readable:
        refuse(
            access_refused_error([field], purpose),
            event=EventType.ACCESS_REFUSED,
            actor=actor,
            purpose=purpose,
            customer_id=customer_id,
            record=record,
            fields=[field],
        )
    if purpose != SUBJECT_ACCESS:
        require_consent(
            enforced,
            purpose,
            customer_id,
            actor=actor,
            event=EventType.ACCESS_REFUSED,
            consent_method=None,
            fields=[field],
        )
    return readable, unmasked


# -- customers ------------------------------------------------------------------------------


def collect_customer(
    *,
    actor: Actor,
    purpose: str,
    fields: Mapping[str, Any],
    language: str = "vi",
    external_ref: str | None = None,
    consent_method: str | None = None,
    consent_notice: str | None = None,
) -> uuid.UUID:
    """Create a customer with the fields the purpose collects; returns the new id.

    `consent_method` (and optionally `consent_notice`, the exact text the customer was shown;
    by default the purpose's notice from the policy) records the customer's consent to the
    purpose in the same transaction."""
    enforced = policy()
    authorize(enforced, actor, purpose, event=EventType.WRITE_REFUSED, fields=list(fields))
    refuse_fields(
        check_collectable(enforced, purpose, fields, RecordKind.PROFILE),
        actor=actor,
        purpose=purpose,
        customer_id=None,
    )
    if not fields:
        raise ValuesInvalid(
            "no fields given", [Problem("fields", "required", "give at least one field")]
        )
    region = enforced.policy.phone_region
    cleaned = clean_values(fields, region, allow_none=False)
    language, external_ref, consent_method = _record_meta(language, external_ref, consent_method)
    consenting = require_consent(
        enforced,
        purpose,
        None,
        actor=actor,
        event=EventType.WRITE_REFUSED,
        consent_method=consent_method,
        fields=list(fields),
    )
    customer_id = uuid.uuid4()
    with transaction.atomic():
        customer = Customer(id=customer_id, language=language, external_ref=external_ref)
        try:
            if external_ref is None:
                fast_insert([customer])
            else:  # a savepoint only where a duplicate is possible
                with transaction.atomic():
                    fast_insert([customer])
        except IntegrityError:
            raise ValuesInvalid(
                "a customer with this external reference exists",
                [Problem("external_ref", "unique", "external_ref is already used")],
            ) from None
        key = create_data_key(customer_id)
        fast_insert(encrypted_rows(key, RecordKind.PROFILE, customer_id, cleaned))
        fast_insert(
            index_rows(customer_id, RecordKind.PROFILE, customer_id, cleaned, region=region)
        )
        record_event(
            EventType.CUSTOMER_CREATED,
            actor=actor.label,
            actor_role=actor.role,
            customer_id=customer_id,
            purpose=purpose,
            fields=cleaned,
        )
        if consenting:
            record_consent(
                actor=actor,
                customer_id=customer_id,
                purpose=purpose,
                method=consent_method or "",
                language=language,
                notice=consent_notice,
            )
    return customer_id


def update_customer(
    *,
    actor: Actor,
    purpose: str,
    customer_id: uuid.UUID,
    fields: Mapping[str, Any],
    consent_method: str | None = None,
    consent_notice: str | None = None,
) -> None:
    """Set (or, with None, remove) profile fields the purpose collects; `consent_method` and
    `consent_notice` as for `collect_customer`."""
    enforced = policy()
    authorize(
        enforced,
        actor,
        purpose,
        event=EventType.WRITE_REFUSED,
        customer_id=customer_id,
        fields=list(fields),
    )
    refuse_fields(
        check_collectable(enforced, purpose, fields, RecordKind.PROFILE),
        actor=actor,
        purpose=purpose,
        customer_id=customer_id,
    )
    if not fields:
        raise ValuesInvalid(
            "no fields given", [Problem("fields", "required", "give at least one field")]
        )
    region = enforced.policy.phone_region
    cleaned = clean_values(fields, region, allow_none=True)
    _, _, consent_method = _record_meta("vi", None, consent_method)
    key = customer_key(customer_id)
    consenting = require_consent(
        enforced,
        purpose,
        customer_id,
        actor=actor,
        event=EventType.WRITE_REFUSED,
        consent_method=consent_method,
        fields=list(fields),
    )
    with transaction.atomic():
        upsert_values(key, RecordKind.PROFILE, customer_id, cleaned, region=region)
        Customer.objects.filter(pk=customer_id).update(updated_at=timezone.now())
        record_event(
            EventType.CUSTOMER_UPDATED,
            actor=actor.label,
            actor_role=actor.role,
            customer_id=customer_id,
            purpose=purpose,
            fields=cleaned,
        )
        if consenting:
            language = Customer.objects.filter(pk=customer_id).values_list("language", flat=True)
            record_consent(
                actor=actor,
                customer_id=customer_id,
                purpose=purpose,
                method=consent_method or "",
                language=language.first() or "vi",
                notice=consent_notice,
            )


def read_customer(
    *,
    actor: Actor,
    purpose: str,
    customer_id: uuid.UUID,
    fields: Sequence[str] | None = None,
) -> CustomerView:
    """The profile fields this actor may see for this purpose (P09), masked where not needed."""
    enforced = policy()
    authorize(
        enforced,
        actor,
        purpose,
        event=EventType.ACCESS_REFUSED,
        customer_id=customer_id,
        fields=list(fields or ()),
    )
    readable, unmasked = visible_fields(enforced, actor, purpose)
    if fields is not None:
        denied = [f for f in fields if f not in readable]
        if denied:
            refuse(
                access_refused_error(denied, purpose),
                event=EventType.ACCESS_REFUSED,
                actor=actor,
                purpose=purpose,
                customer_id=customer_id,
                fields=denied,
            )
        wanted: Sequence[str] = fields
    else:
        wanted = sorted(readable)
    if purpose != SUBJECT_ACCESS:
        require_consent(
            enforced,
            purpose,
            customer_id,
            actor=actor,
            event=EventType.ACCESS_REFUSED,
            consent_method=None,
            fields=list(fields or ()),
        )
    key, language = customer_key_and_language(customer_id)
    values = read_values(key, RecordKind.PROFILE, [customer_id], wanted)[customer_id]
    shown, masked = _present(values, unmasked)
    record_event(
        EventType.CUSTOMER_READ,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        purpose=purpose,
        fields=shown,
    )
    return CustomerView(customer_id, purpose, language, shown, masked)


def access_refused_error(denied: Sequence[str], purpose: str) -> AccessRefused:
    return AccessRefused(
        "some fields are not available to you for this purpose",
        [
            Problem(
                _field_label(f),
                "field_not_visible",
                f"{_field_label(f)} is not available to this role for {purpose!r} (P09)",
            )
            for f in denied
        ],
    )


LOOKUP_FIELDS = ("email", "phone", "full_name")


def lookup_customers(*, actor: Actor, purpose: str, by: str, value: str) -> list[uuid.UUID]:
    """Customers whose email, phone or full name matches exactly (after normalisation)."""
    enforced = policy()
    authorize(enforced, actor, purpose, event=EventType.ACCESS_REFUSED, fields=[by])
    readable, _ = visible_fields(enforced, actor, purpose)
    if by not in LOOKUP_FIELDS:
        raise ValuesInvalid(
            f"lookup by {_field_label(by)!r} is not possible",
            [
                Problem(
                    _field_label(by),
                    "not_a_lookup_field",
                    f"look up by one of {', '.join(LOOKUP_FIELDS)}",
                )
            ],
        )
    if by not in readable:
        # Finding someone by a value is reading it: the purpose must be allowed that field.
        refuse(
            access_refused_error([by], purpose),
            event=EventType.ACCESS_REFUSED,
            actor=actor,
            purpose=purpose,
            fields=[by],
        )
    try:
        cleaned = clean_value(by, value, region=enforced.policy.phone_region)
    except ValueInvalid as exc:
        raise ValuesInvalid(
            "the lookup value is invalid", [Problem(by, exc.rule, exc.message)]
        ) from None
    found = [
        c for c, _ in find_by_index(by, index_value(by, cleaned, enforced.policy.phone_region))
    ]
    # P04: a customer who withdrew (or never gave) consent to this purpose, or objected to this
    # marketing, cannot be found through it: finding them would be using their data for it.
    usable = usable_for(enforced, purpose, found)
    matches = [c for c in found if c in usable]
    record_event(
        EventType.CUSTOMER_LOOKUP,
        actor=actor.label,
        actor_role=actor.role,
        purpose=purpose,
        fields=[by],
        details={"matches": len(matches), "withheld": len(found) - len(matches)},
    )
    return matches


# -- orders ---------------------------------------------------------------------------------


def _money(value: Any, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValuesInvalid(
            f"{field} is not an amount",
            [Problem(field, "amount", f"{field} must be a decimal amount")],
        ) from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
        raise ValuesInvalid(
            f"{field} is out of range",
            [Problem(field, "amount_range", f"{field} must be between 0 and 10^12")],
        )
    return amount.quantize(Decimal("0.01"))


def place_order(
    *,
    actor: Actor,
    purpose: str,
    customer_id: uuid.UUID,
    number: str,
    items: Sequence[Mapping[str, Any]],
    total: Any,
    currency: str = "VND",
    fields: Mapping[str, Any] | None = None,
    placed_at: dt.datetime | None = None,
) -> uuid.UUID:
    """Record an order. The purpose must record purchases (`purchase_history`); buyer fields on
    the order (name, address, phone…) must be declared for it like any other field (P01)."""
    enforced = policy()
    authorize(
        enforced,
        actor,
        purpose,
        event=EventType.WRITE_REFUSED,
        customer_id=customer_id,
        fields=[*(fields or {}), "purchase_history"],
    )
    buyer = dict(fields or {})
    problems = check_collectable(enforced, purpose, buyer, RecordKind.ORDER)
    if "purchase_history" not in enforced.collects.get(purpose, frozenset()):
        problems.append(
            Problem(
                "purchase_history",
                "not_declared_for_purpose",
                f"the purpose {purpose!r} does not record purchases (P01)",
            )
        )
    refuse_fields(problems, actor=actor, purpose=purpose, customer_id=customer_id)
    # P04: an order recorded for a purpose based on consent needs a live one (and direct
    # marketing no standing objection), like every other write.
    require_consent(
        enforced,
        purpose,
        customer_id,
        actor=actor,
        event=EventType.WRITE_REFUSED,
        consent_method=None,
        fields=[*buyer, "purchase_history"],
    )
    region = enforced.policy.phone_region
    cleaned = clean_values(buyer, region, allow_none=False)
    amount = _money(total, "total")
    number = _plain("number", number, 64)
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise ValuesInvalid(
            "bad currency",
            [Problem("currency", "currency", "currency must be a 3-letter ISO code")],
        )
    clean_items = _clean_items(items)
    key = customer_key(customer_id)
    order_id = uuid.uuid4()
    with transaction.atomic():
        try:
            with transaction.atomic():
                Order.objects.create(
                    id=order_id,
                    customer_id=customer_id,
                    number=number,
                    placed_at=placed_at or timezone.now(),
                    currency=currency.upper(),
                    total=amount,
                    items=clean_items,
                )
        except IntegrityError:
            raise ValuesInvalid(
                "order number exists",
                [Problem("number", "unique", "an order with this number exists")],
            ) from None
        EncryptedValue.objects.bulk_create(encrypted_rows(key, RecordKind.ORDER, order_id, cleaned))
        record_event(
            EventType.ORDER_PLACED,
            actor=actor.label,
            actor_role=actor.role,
            customer_id=customer_id,
            record=f"order:{order_id}",
            purpose=purpose,
            fields=[*cleaned, "purchase_history"],
        )
    return order_id


def _clean_items(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list | tuple) or len(items) > 500:
        raise ValuesInvalid(
            "bad items", [Problem("items", "items", "items must be a list of at most 500 products")]
        )
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValuesInvalid(
                "bad item", [Problem(f"items[{i}]", "item", "each item is an object")]
            )
        sku, name, qty = item.get("sku", ""), item.get("name", ""), item.get("quantity", 1)
        sku = _plain(f"items[{i}].sku", sku, 64, required=False)
        name = _plain(f"items[{i}].name", name, 200, required=False)
        if not isinstance(qty, int) or isinstance(qty, bool) or not 1 <= qty <= 100_000:
            raise ValuesInvalid(
                "bad item",
                [Problem(f"items[{i}].quantity", "quantity", "quantity is a whole number ≥ 1")],
            )
        out.append(
            {
                "sku": sku,
                "name": name,
                "quantity": qty,
                "unit_price": str(_money(item.get("unit_price", "0"), f"items[{i}].unit_price")),
            }
        )
    return out


def list_orders(*, actor: Actor, purpose: str, customer_id: uuid.UUID) -> list[OrderView]:
    readable, unmasked = authorize_read(actor, purpose, customer_id, "purchase_history")
    key = customer_key(customer_id)
    orders = list(Order.objects.filter(customer_id=customer_id).order_by("-placed_at"))
    values = read_values(key, RecordKind.ORDER, [o.id for o in orders], readable)
    views = []
    for o in orders:
        shown, masked = _present(values[o.id], unmasked)
        views.append(
            OrderView(
                o.id, o.number, o.placed_at, o.status, o.currency, o.total, o.items, shown, masked
            )
        )
    record_event(
        EventType.ORDERS_READ,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        purpose=purpose,
        fields={"purchase_history", *(f for v in values.values() for f in v)},
        details={"orders": len(orders)},
    )
    return views


# -- guarantee cards (P03) ------------------------------------------------------------------


def issue_guarantee(
    *,
    actor: Actor,
    purpose: str,
    customer_id: uuid.UUID,
    number: str,
    product: str,
    issued_on: dt.date,
    valid_until: dt.date,
    order_id: uuid.UUID | None = None,
) -> uuid.UUID:
    enforced = policy()
    authorize(
        enforced,
        actor,
        purpose,
        event=EventType.WRITE_REFUSED,
        customer_id=customer_id,
        fields=["guarantee_number"],
    )
    refuse_fields(
        check_collectable(enforced, purpose, {"guarantee_number": number}, RecordKind.GUARANTEE),
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
        fields=["guarantee_number"],
    )
    region = enforced.policy.phone_region
    cleaned = clean_values({"guarantee_number": number}, region, allow_none=False)
    product = _plain("product", product, 200)
    if valid_until < issued_on:
        raise ValuesInvalid(
            "bad dates", [Problem("valid_until", "date_order", "valid_until is before issued_on")]
        )
    if (
        order_id is not None
        and not Order.objects.filter(pk=order_id, customer_id=customer_id).exists()
    ):
        raise NotFound(
            "no such order for this customer",
            [Problem("order_id", "not_found", "no such order for this customer")],
        )
    if find_by_index(
        "guarantee_number",
        normalise_guarantee_number(cleaned["guarantee_number"]),
        RecordKind.GUARANTEE,
    ):
        raise ValuesInvalid(
            "guarantee number exists",
            [Problem("number", "unique", "a guarantee card with this number exists")],
        )
    key = customer_key(customer_id)
    card_id = uuid.uuid4()
    with transaction.atomic():
        GuaranteeCard.objects.create(
            id=card_id,
            customer_id=customer_id,
            order_id=order_id,
            product=product,
            issued_on=issued_on,
            valid_until=valid_until,
        )
        upsert_values(key, RecordKind.GUARANTEE, card_id, cleaned, region=region)
        record_event(
            EventType.GUARANTEE_ISSUED,
            actor=actor.label,
            actor_role=actor.role,
            customer_id=customer_id,
            record=f"guarantee:{card_id}",
            purpose=purpose,
            fields=["guarantee_number"],
        )
    return card_id


def lookup_guarantee(*, actor: Actor, purpose: str, number: str) -> GuaranteeView:
    """P03: find a guarantee card by its number; show the card and only the holder fields the
    purpose may see, masked unless it needs them whole."""
    enforced = policy()
    authorize(enforced, actor, purpose, event=EventType.ACCESS_REFUSED, fields=["guarantee_number"])
    readable, unmasked = visible_fields(enforced, actor, purpose)
    if "guarantee_number" not in readable:
        refuse(
            access_refused_error(["guarantee_number"], purpose),
            event=EventType.ACCESS_REFUSED,
            actor=actor,
            purpose=purpose,
            fields=["guarantee_number"],
        )
    if not isinstance(number, str) or not number.strip() or len(number) > 64:
        raise ValuesInvalid(
            "bad number", [Problem("number", "guarantee_format", "give a guarantee number")]
        )
    hits = find_by_index(
        "guarantee_number", normalise_guarantee_number(number), RecordKind.GUARANTEE
    )
    if not hits:
        record_event(
            EventType.GUARANTEE_LOOKUP,
            actor=actor.label,
            actor_role=actor.role,
            purpose=purpose,
            fields=["guarantee_number"],
            details={"matches": 0},
        )
        raise NotFound(
            "no guarantee card with this number",
            [Problem("number", "not_found", "no guarantee card with this number")],
        )
    customer_id, card_id = hits[0]
    # P04: the holder's data is read for this purpose, so it needs their live consent where the
    # basis is consent (and no objection for marketing); refused and audited otherwise.
    require_consent(
        enforced,
        purpose,
        customer_id,
        actor=actor,
        event=EventType.ACCESS_REFUSED,
        consent_method=None,
        fields=["guarantee_number"],
    )
    card = GuaranteeCard.objects.select_related("order").get(pk=card_id)
    key = customer_key(customer_id)
    holder_fields = sorted(readable - {"guarantee_number", "purchase_history", "payment_history"})
    holder = read_values(key, RecordKind.PROFILE, [customer_id], holder_fields)[customer_id]
    holder.update(read_values(key, RecordKind.GUARANTEE, [card_id], ["guarantee_number"])[card_id])
    shown, masked = _present(holder, unmasked)
    record_events(
        [
            EventSpec(
                EventType.GUARANTEE_LOOKUP,
                actor=actor.label,
                actor_role=actor.role,
                customer_id=customer_id,
                record=f"guarantee:{card_id}",
                purpose=purpose,
                fields=tuple(shown),
                details={"matches": 1},
            )
        ]
    )
    return GuaranteeView(
        card.id,
        customer_id,
        card.order.number if card.order else None,
        card.product,
        card.issued_on,
        card.valid_until,
        shown,
        masked,
    )
