"""Who may do what, for which purpose: the checks every vault service runs first (P06, P09).

Roles and their purposes come from the policy in force, so changing the policy changes access
without code. A refusal is written to the audit log in a transaction of its own, then raised: the
refused request changes nothing else, but the attempt stays on record.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NoReturn

from django.db import transaction

from pledge.audit.events import EventType, Outcome
from pledge.audit.services import record_event
from pledge.policy.enforcement import EnforcedPolicy, NoPolicyInForce, enforced_policy
from pledge.policy.schema import Purpose
from pledge.vault.errors import AccessRefused, PolicyNotInForce, Problem, VaultError

# The customer reading their own data (privacy center, access requests): every field, whole.
SUBJECT_ACCESS = "subject_access"

ActorKind = Literal["staff", "api", "customer", "system"]


@dataclass(frozen=True)
class Actor:
    """Who acts. `role` is a policy role key (staff; optional for API keys); `purposes` limits an
    API key to the purposes it was created for."""

    kind: ActorKind
    id: str
    role: str = ""
    purposes: frozenset[str] | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}"

    def is_subject(self, customer_id: uuid.UUID) -> bool:
        return self.kind == "customer" and self.id == str(customer_id)


def policy() -> EnforcedPolicy:
    try:
        return enforced_policy()
    except NoPolicyInForce as exc:
        raise PolicyNotInForce(str(exc)) from None


def refuse(
    error: VaultError,
    *,
    event: EventType,
    actor: Actor,
    purpose: str,
    customer_id: uuid.UUID | None = None,
    record: str = "",
    fields: Iterable[str] = (),
) -> NoReturn:
    """Record the refusal (P06: "refused and recorded"), then raise it."""
    # The purpose may be hostile input (control characters, NUL): record a printable copy.
    safe_purpose = "".join(c if c.isprintable() else "\ufffd" for c in str(purpose))[:63]
    with transaction.atomic():
        record_event(
            event,
            actor=actor.label,
            actor_role=actor.role,
            customer_id=customer_id,
            record=record,
            purpose=safe_purpose,
            fields=[f for f in fields if len(f) <= 63 and f.isidentifier()],
            outcome=Outcome.REFUSED,
            details={"rule": error.problems[0].rule if error.problems else error.code},
        )
    raise error


def authorize(
    enforced: EnforcedPolicy,
    actor: Actor,
    purpose_key: str,
    *,
    event: EventType,
    customer_id: uuid.UUID | None = None,
    fields: Iterable[str] = (),
) -> Purpose | None:
    """The purpose, if this actor may act for it; otherwise refuse (audited).

    Returns None for the built-in subject-access purpose, which the policy does not declare.
    """
    if purpose_key == SUBJECT_ACCESS:
        if customer_id is not None and actor.is_subject(customer_id):
            return None
        refuse(
            AccessRefused(
                "only the customer may use subject_access, and only for their own data",
                [Problem(None, "subject_access_self_only", "subject_access is the customer's own")],
            ),
            event=event,
            actor=actor,
            purpose=purpose_key,
            customer_id=customer_id,
            fields=fields,
        )
    purpose = enforced.purpose(purpose_key)
    if purpose is None:
        refuse(
            AccessRefused(
                f"the policy declares no purpose {purpose_key!r}",
                [
                    Problem(
                        "purpose", "purpose_undeclared", f"no purpose {purpose_key!r} in the policy"
                    )
                ],
            ),
            event=event,
            actor=actor,
            purpose=purpose_key,
            customer_id=customer_id,
            fields=fields,
        )
    if actor.kind == "customer":
        if customer_id is None or actor.is_subject(customer_id):
            return purpose
        refuse(
            AccessRefused(
                "a customer may act only on their own data",
                [Problem(None, "not_own_data", "this record belongs to someone else")],
            ),
            event=event,
            actor=actor,
            purpose=purpose_key,
            customer_id=customer_id,
            fields=fields,
        )
    if actor.purposes is not None and purpose_key not in actor.purposes:
        refuse(
            AccessRefused(
                f"this key is not allowed the purpose {purpose_key!r}",
                [
                    Problem(
                        "purpose",
                        "purpose_not_in_scope",
                        f"{purpose_key!r} is not in the key's purposes",
                    )
                ],
            ),
            event=event,
            actor=actor,
            purpose=purpose_key,
            customer_id=customer_id,
            fields=fields,
        )
    if actor.kind == "staff" and actor.role not in enforced.roles[purpose_key]:
        refuse(
            AccessRefused(
                f"role {actor.role!r} may not act for purpose {purpose_key!r}",
                [
                    Problem(
                        "purpose",
                        "role_not_allowed",
                        f"the policy gives {purpose_key!r} to other roles",
                    )
                ],
            ),
            event=event,
            actor=actor,
            purpose=purpose_key,
            customer_id=customer_id,
            fields=fields,
        )
    return purpose


def visible_fields(
    enforced: EnforcedPolicy, actor: Actor, purpose_key: str
) -> tuple[frozenset[str], frozenset[str]]:
    """(fields this actor may read for the purpose, the ones shown whole); P09."""
    if purpose_key == SUBJECT_ACCESS:
        every = frozenset(enforced.field_records)
        return every, every
    readable = enforced.reads[purpose_key]
    if actor.kind in ("staff", "api"):
        readable = frozenset(
            f
            for f in readable
            if enforced.field_roles.get(f) is None or actor.role in (enforced.field_roles[f] or ())
        )
    return readable, enforced.unmasked[purpose_key] & readable
