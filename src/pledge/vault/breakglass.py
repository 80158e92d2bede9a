"""Break-glass: a staff member opens fields outside their purposes, with a written reason (P09).

Who: only a role whose console capabilities include `break_glass` (the policy's `roles[].console`).
What: any stored field of the customer whose values are encrypted values (profile, order, guarantee,
payment, staff-note records), shown whole for this one view. Never:
- a field whose `access_roles` leaves the role out (Decree 356 Art 4: the roles a policy names for
  sensitive data are absolute, even in an emergency): refused and recorded;
- the CVC (never stored), records that are not values (`purchase_history`, `payment_history`) or
  encrypted files (`id_document`: the documents service reads those, with their own audit).
How: the reason (at least `MIN_REASON_LENGTH` characters) is encrypted under the customer's data
key; a `BreakGlassAccess` row and a `vault:break_glass` audit event (field names, never the reason)
commit together. The access stays flagged on the owner's dashboard until someone with
`manage_staff` acknowledges it.

The reason's ciphertext is `CustomerKey.encrypt(REASON_RECORD_KIND, access.id, REASON_FIELD, text)`,
so its associated data is `pledge/v1|break_glass|<access id>|reason|<customer id>`: a reason copied
onto another access or another customer does not decrypt, and erasing the customer's data key
makes every reason about them unreadable with the rest of their data.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from pledge.audit.events import EventType, Outcome
from pledge.audit.services import record_event
from pledge.policy.enforcement import EnforcedPolicy
from pledge.vault.access import Actor, policy, refuse
from pledge.vault.crypto import CustomerKey, DecryptionFailed
from pledge.vault.errors import (
    AccessRefused,
    NotFound,
    Problem,
    ProcessingRestricted,
    ValuesInvalid,
)
from pledge.vault.masking import card_display
from pledge.vault.models import EncryptedValue, Order, RecordKind
from pledge.vault.models_breakglass import BreakGlassAccess
from pledge.vault.normalise import ValueInvalid, clean_text
from pledge.vault.restriction import is_restricted
from pledge.vault.store import KeyUnavailable, customer_key, read_values

CAPABILITY = "break_glass"
REVIEW_CAPABILITIES = frozenset({"manage_staff", "view_audit"})
ACKNOWLEDGE_CAPABILITY = "manage_staff"
REASON_RECORD_KIND = "break_glass"
REASON_FIELD = "reason"
MIN_REASON_LENGTH = 20
MAX_REASON_LENGTH = 2_000
MAX_FIELDS = 32
# Fields that are records or files rather than encrypted values: they have views of their own.
NOT_OPENABLE = frozenset({"purchase_history", "payment_history", "id_document"})


@dataclass(frozen=True)
class OpenedValue:
    record_kind: str
    record_id: uuid.UUID
    # A short, non-personal name of the record: "profile", an order number…
    record_label: str
    value: Any


@dataclass(frozen=True)
class BreakGlassResult:
    access_id: uuid.UUID | None
    customer_id: uuid.UUID
    # field -> its values on the customer's records (empty: nothing recorded), whole
    opened: dict[str, list[OpenedValue]]
    # fields the policy keeps from this role whatever happens (access_roles), with the rule
    refused: list[Problem]


@dataclass(frozen=True)
class BreakGlassView:
    """One access as the dashboard lists it; `reason` is None when it no longer decrypts (the
    customer's data key was destroyed by an erasure)."""

    id: uuid.UUID
    customer_id: uuid.UUID
    actor: str
    role: str
    fields: list[str]
    reason: str | None
    at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str

    @property
    def flagged(self) -> bool:
        return self.acknowledged_at is None


# -- what may be opened -----------------------------------------------------------------------


def openable_fields(enforced: EnforcedPolicy) -> list[str]:
    """The policy's fields that break-glass can open, in policy order (access_roles aside)."""
    return [
        f.key
        for f in enforced.policy.fields
        if f.key not in enforced.transient and f.key not in NOT_OPENABLE
    ]


def restricted_from(enforced: EnforcedPolicy, role: str, field: str) -> bool:
    """Decree 356 Art 4: the field names its only roles, and this role is not one of them."""
    only = enforced.field_roles.get(field)
    return only is not None and role not in only


def has_capability(enforced: EnforcedPolicy, role: str, capabilities: frozenset[str]) -> bool:
    try:
        declared = enforced.policy.role(role)
    except KeyError:
        return False
    return bool(capabilities & set(declared.console))


def clean_reason(reason: object) -> str:
    try:
        text = clean_text(REASON_FIELD, reason)
    except ValueInvalid as exc:
        raise ValuesInvalid(
            "the reason is invalid", [Problem(REASON_FIELD, exc.rule, exc.message)]
        ) from None
    if len(text) < MIN_REASON_LENGTH:
        raise ValuesInvalid(
            "the reason is too short",
            [
                Problem(
                    REASON_FIELD,
                    "reason_too_short",
                    f"write a reason of at least {MIN_REASON_LENGTH} characters",
                )
            ],
        )
    if len(text) > MAX_REASON_LENGTH:
        raise ValuesInvalid(
            "the reason is too long",
            [
                Problem(
                    REASON_FIELD,
                    "max_length",
                    f"the reason is longer than {MAX_REASON_LENGTH} characters",
                )
            ],
        )
    return text


def _refusal_problem(field: str, enforced: EnforcedPolicy) -> Problem:
    roles = ", ".join(sorted(enforced.field_roles.get(field) or ()))
    return Problem(
        field,
        "field_roles_only",
        f"the policy lets only the roles {roles} see {field} (Decree 356 Art 4)",
    )


# -- opening --------------------------------------------------------------------------------


def break_glass_read(
    *, actor: Actor, customer_id: uuid.UUID, fields: Sequence[str], reason: str
) -> BreakGlassResult:
    """Open `fields` of the customer outside any purpose, with a written reason; recorded and
    flagged. Fields a policy's `access_roles` keeps from the role stay refused (and recorded)."""
    enforced = policy()
    wanted = list(dict.fromkeys(fields))
    safe_fields = [f for f in wanted if isinstance(f, str)]
    if actor.kind != "staff" or not has_capability(enforced, actor.role, frozenset({CAPABILITY})):
        refuse(
            AccessRefused(
                "only a role with the break_glass capability may open fields outside its purposes",
                [Problem(None, "break_glass_not_allowed", "the role lacks break_glass")],
            ),
            event=EventType.ACCESS_REFUSED,
            actor=actor,
            purpose="",
            customer_id=customer_id,
            fields=safe_fields,
        )
    if not wanted or len(wanted) > MAX_FIELDS:
        raise ValuesInvalid(
            "choose the fields to open",
            [Problem("fields", "required", f"choose between 1 and {MAX_FIELDS} fields")],
        )
    openable = set(openable_fields(enforced))
    unknown = [f for f in wanted if f not in openable]
    if unknown:
        raise ValuesInvalid(
            "some fields cannot be opened",
            [
                Problem(
                    str(f)[:63],
                    "not_openable",
                    f"{str(f)[:63]!r} is not a stored field that break-glass can open",
                )
                for f in unknown
            ],
        )
    text = clean_reason(reason)
    refused = [f for f in wanted if restricted_from(enforced, actor.role, f)]
    allowed = [f for f in wanted if f not in refused]
    problems = [_refusal_problem(f, enforced) for f in refused]
    if not allowed:
        refuse(
            AccessRefused("the policy keeps these fields from your role", problems),
            event=EventType.ACCESS_REFUSED,
            actor=actor,
            purpose="",
            customer_id=customer_id,
            fields=refused,
        )
    if is_restricted(customer_id):
        # A restriction (GDPR Art 18) or an erasure's hold binds break-glass too: it opens fields
        # outside purposes, and a restricted customer's data may serve no purpose but the law's.
        message = "processing of this customer's data is restricted; break-glass cannot open it"
        refuse(
            ProcessingRestricted(message, [Problem(None, "restricted", message)]),
            event=EventType.ACCESS_REFUSED,
            actor=actor,
            purpose="",
            customer_id=customer_id,
            fields=allowed,
        )
    key = customer_key(customer_id)  # NotFound / KeyUnavailable before anything is written
    opened = _open(key, customer_id, allowed)
    access_id = uuid.uuid4()
    with transaction.atomic():
        BreakGlassAccess.objects.create(
            id=access_id,
            customer_id=customer_id,
            actor=actor.label[:120],
            role=actor.role,
            fields=sorted(allowed),
            reason=key.encrypt(REASON_RECORD_KIND, access_id, REASON_FIELD, text),
            at=timezone.now(),
        )
        if refused:
            record_event(
                EventType.ACCESS_REFUSED,
                actor=actor.label,
                actor_role=actor.role,
                customer_id=customer_id,
                record=f"break_glass:{access_id}",
                fields=refused,
                outcome=Outcome.REFUSED,
                details={"rule": "field_roles_only"},
            )
        # The reason stays out of the event: the log is never personal data (docs/audit.md).
        record_event(
            EventType.BREAK_GLASS,
            actor=actor.label,
            actor_role=actor.role,
            customer_id=customer_id,
            record=f"break_glass:{access_id}",
            fields=allowed,
            details={"values": sum(len(v) for v in opened.values())},
        )
    return BreakGlassResult(access_id, customer_id, opened, problems)


def _open(
    key: CustomerKey, customer_id: uuid.UUID, fields: list[str]
) -> dict[str, list[OpenedValue]]:
    """Every value of `fields` on the customer's records, decrypted by the vault store."""
    located = (
        EncryptedValue.objects.filter(customer_id=customer_id, field__in=fields)
        .order_by("record_kind", "record_id")
        .values_list("record_kind", "record_id")
        .distinct()
    )
    by_kind: dict[str, list[uuid.UUID]] = defaultdict(list)
    for kind, record_id in located:
        by_kind[kind].append(record_id)
    order_numbers = dict(
        Order.objects.filter(pk__in=by_kind.get(RecordKind.ORDER, ())).values_list("id", "number")
    )
    opened: dict[str, list[OpenedValue]] = {f: [] for f in fields}
    for kind in sorted(by_kind, key=lambda k: (k != RecordKind.PROFILE, k)):
        values = read_values(key, kind, by_kind[kind], fields)
        for record_id in by_kind[kind]:
            for field, value in values[record_id].items():
                shown = card_display(value, whole=True) if field == "card" else value
                label = order_numbers.get(record_id, "") if kind == RecordKind.ORDER else ""
                opened[field].append(OpenedValue(kind, record_id, label, shown))
    return opened


# -- review ---------------------------------------------------------------------------------


def recent_accesses(*, actor: Actor, limit: int = 20) -> list[BreakGlassView]:
    """The flagged (unacknowledged) accesses, then the latest acknowledged ones, newest first,
    with their reasons decrypted: for roles that review staff (`manage_staff`, `view_audit`)."""
    enforced = policy()
    if actor.kind != "staff" or not has_capability(enforced, actor.role, REVIEW_CAPABILITIES):
        raise AccessRefused(
            "only roles that manage staff or read the audit log review break-glass accesses",
            [Problem(None, "review_not_allowed", "the role may not review break-glass")],
        )
    flagged = list(BreakGlassAccess.objects.filter(acknowledged_at=None).order_by("-at")[:limit])
    rest = limit - len(flagged)
    seen = (
        list(BreakGlassAccess.objects.filter(acknowledged_at__isnull=False).order_by("-at")[:rest])
        if rest > 0
        else []
    )
    keys: dict[uuid.UUID, CustomerKey | None] = {}
    views = []
    for row in [*flagged, *seen]:
        views.append(
            BreakGlassView(
                id=row.id,
                customer_id=row.customer_id,
                actor=row.actor,
                role=row.role,
                fields=list(row.fields),
                reason=_reason(row, keys),
                at=row.at,
                acknowledged_at=row.acknowledged_at,
                acknowledged_by=row.acknowledged_by,
            )
        )
    return views


def _reason(row: BreakGlassAccess, keys: dict[uuid.UUID, CustomerKey | None]) -> str | None:
    key = keys.get(row.customer_id)
    if key is None and row.customer_id not in keys:
        try:
            key = customer_key(row.customer_id)
        except (KeyUnavailable, NotFound):
            key = None
        keys[row.customer_id] = key
    if key is None:
        return None
    try:
        text = key.decrypt(REASON_RECORD_KIND, row.id, REASON_FIELD, bytes(row.reason))
    except DecryptionFailed:
        return None
    return str(text)


def flagged_count() -> int:
    return BreakGlassAccess.objects.filter(acknowledged_at=None).count()


def acknowledge_break_glass(*, actor: Actor, access_id: uuid.UUID) -> bool:
    """Clear the flag of one access (compare-and-set: True when this call cleared it)."""
    enforced = policy()
    if actor.kind != "staff" or not has_capability(
        enforced, actor.role, frozenset({ACKNOWLEDGE_CAPABILITY})
    ):
        raise AccessRefused(
            "only a role that manages staff acknowledges break-glass accesses",
            [Problem(None, "acknowledge_not_allowed", "the role lacks manage_staff")],
        )
    with transaction.atomic():
        updated = BreakGlassAccess.objects.filter(pk=access_id, acknowledged_at=None).update(
            acknowledged_at=timezone.now(), acknowledged_by=actor.label[:120]
        )
        if not updated:
            access = BreakGlassAccess.objects.filter(pk=access_id).first()
            if access is None:
                raise NotFound("no such break-glass access")
            return False
        access = BreakGlassAccess.objects.get(pk=access_id)
        record_event(
            EventType.BREAK_GLASS_ACKNOWLEDGED,
            actor=actor.label,
            actor_role=actor.role,
            customer_id=access.customer_id,
            record=f"break_glass:{access_id}",
        )
    return True
