"""Restriction of processing (GDPR Art 18; Decree 356/2025 Art 5; P18) and what an erasure keeps.

While a customer's data is restricted, the vault refuses every use of it except:
- purposes whose legal basis is a legal obligation (the law still needs it: GDPR Art 18(2));
- the customer seeing their own data (subject access is not processing for the shop's ends);
- for a customer erased under a legal hold, the purposes on contract that read the held records
  (invoices kept for the Accounting Law, read by the roles the policy gives those purposes), and
  only those: never a purpose on consent or legitimate interest.

The check sits in `services.require_consent` and `services.usable_for`, which every read, write
and lookup path already runs, so no path can forget it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.policy.enforcement import EnforcedPolicy
from pledge.policy.jurisdictions import load_profile
from pledge.vault.access import Actor, refuse
from pledge.vault.errors import (
    AccessRefused,
    NotFound,
    Problem,
    ProcessingRestricted,
    ValuesInvalid,
)
from pledge.vault.models import Customer
from pledge.vault.store import uuid_param

# Why a customer's processing is restricted. "erasure" is set by `erasure.erase_customer` only:
# it lets the held records be read for their hold, which a request or objection never does.
REASONS = ("request", "objection")
ERASURE_REASON = "erasure"


def held_record_kinds(enforced: EnforcedPolicy) -> frozenset[str]:
    """Record kinds a legal hold keeps after erasure: the jurisdictions' statutory holds (e.g.
    invoices, Accounting Law 88/2015 Art 41) and the policy's own retention rules with a hold."""
    kinds: set[str] = set()
    for key in enforced.policy.jurisdictions:
        for hold in load_profile(key).retention_holds:
            kinds.update(hold.records)
    for rule in enforced.policy.retention:
        if rule.legal_hold is not None:
            kinds.update(rule.records)
    return frozenset(kinds)


# The legal bases under which what a hold keeps may still be used: the law itself, and the sale
# the held record documents (the invoice is read by the purpose that records the transaction).
# Never consent (the erasure withdrew it) nor legitimate interest (GDPR Art 17(1)(c), 18(2)).
_HOLD_BASES = frozenset({"contract", "legal_obligation"})


def _hold_purposes(enforced: EnforcedPolicy) -> frozenset[str]:
    """Purposes on a hold basis that read a field stored on a held record kind (leman:
    `payment`, accounting's; james: `order_fulfilment`, which sales and accounting hold)."""
    held = held_record_kinds(enforced)
    return frozenset(
        purpose
        for purpose, fields in enforced.reads.items()
        if (declared := enforced.purpose(purpose)) is not None
        and declared.basis in _HOLD_BASES
        and any(enforced.field_records.get(f, frozenset()) & held for f in fields)
    )


_STATE_SQL = (
    f"SELECT restricted_at IS NOT NULL, restriction_reason FROM {Customer._meta.db_table} "  # noqa: S608
    "WHERE id = %s"
)


def _state(customer_id: uuid.UUID) -> tuple[bool, str]:
    # Raw SQL: this runs on every read and write of personal data (the ORM's query building
    # cost more than the query itself; see docs/benchmarks.md).
    with connection.cursor() as cursor:
        cursor.execute(_STATE_SQL, [uuid_param(customer_id)])
        row = cursor.fetchone()
    if row is None or not row[0]:
        return False, ""
    return True, row[1]


def is_restricted(customer_id: uuid.UUID) -> bool:
    return _state(customer_id)[0]


def allowed_while_restricted(enforced: EnforcedPolicy, purpose_key: str, reason: str) -> bool:
    purpose = enforced.purpose(purpose_key)
    if purpose is None:
        return False
    if purpose.basis == "legal_obligation":
        return True
    return reason == ERASURE_REASON and purpose_key in _hold_purposes(enforced)


def check_restriction(
    enforced: EnforcedPolicy,
    purpose_key: str,
    customer_id: uuid.UUID,
    *,
    actor: Actor,
    event: EventType,
    fields: Iterable[str] = (),
) -> None:
    """Refuse (audited) a use of a restricted customer's data for a purpose the restriction
    does not allow."""
    restricted, reason = _state(customer_id)
    if not restricted:
        return
    # An erased customer receives nothing new, for any purpose: what a hold keeps may be read,
    # never added to (new values would tie the kept invoices to a person again).
    writing = event != EventType.ACCESS_REFUSED
    if not (reason == ERASURE_REASON and writing) and allowed_while_restricted(
        enforced, purpose_key, reason
    ):
        return
    message = (
        "this customer was erased; only what a legal hold keeps may be used, for that hold"
        if reason == ERASURE_REASON
        else "processing of this customer's data is restricted at their request"
    )
    refuse(
        ProcessingRestricted(message, [Problem("purpose", "restricted", message)]),
        event=event,
        actor=actor,
        purpose=purpose_key,
        customer_id=customer_id,
        fields=fields,
    )


def usable_despite_restriction(
    enforced: EnforcedPolicy, purpose_key: str, customer_ids: set[uuid.UUID]
) -> set[uuid.UUID]:
    """The customers among `customer_ids` whose restriction (if any) allows this purpose.
    An erased customer is never found by a value: that would identify them again."""
    if not customer_ids:
        return customer_ids
    rows = Customer.objects.filter(pk__in=customer_ids, restricted_at__isnull=False).values_list(
        "pk", "restriction_reason"
    )
    blocked = {
        pk
        for pk, reason in rows
        if reason == ERASURE_REASON or not allowed_while_restricted(enforced, purpose_key, reason)
    }
    return customer_ids - blocked


def _check_actor(actor: Actor, customer_id: object) -> None:
    if actor.kind not in ("staff", "system"):
        raise AccessRefused("only staff or the system restrict processing (through a request)")
    if not isinstance(customer_id, uuid.UUID):
        raise NotFound(f"no customer {str(customer_id)[:40]!r}")


@transaction.atomic
def restrict_processing(*, actor: Actor, customer_id: uuid.UUID, reason: str = "request") -> None:
    _check_actor(actor, customer_id)
    if reason not in REASONS:
        message = f"the reason is one of {', '.join(REASONS)}"
        raise ValuesInvalid(message, [Problem("reason", "choice", message)])
    updated = Customer.objects.filter(pk=customer_id, erased_at__isnull=True).update(
        restricted_at=timezone.now(), restriction_reason=reason
    )
    if not updated:
        if not Customer.objects.filter(pk=customer_id).exists():
            raise NotFound(f"no customer {customer_id}")
        return  # erased: already restricted to what the hold keeps
    record_event(
        EventType.CUSTOMER_RESTRICTED,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        details={"reason": reason},
    )


@transaction.atomic
def lift_restriction(*, actor: Actor, customer_id: uuid.UUID) -> None:
    _check_actor(actor, customer_id)
    updated = Customer.objects.filter(
        pk=customer_id, erased_at__isnull=True, restricted_at__isnull=False
    ).update(restricted_at=None, restriction_reason="")
    if not updated:
        if not Customer.objects.filter(pk=customer_id).exists():
            raise NotFound(f"no customer {customer_id}")
        return
    record_event(
        EventType.CUSTOMER_RESTRICTION_LIFTED,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
    )
