"""Appending to the audit log. Every personal-data read or write calls `record_event` inside the
transaction of the change it records, so the event and the change commit or roll back together.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from pledge.audit.chain import (
    GENESIS_HASH,
    SEP,
    at_text,
    canonical,
    chain_hash,
    checkpoint_message,
)
from pledge.audit.events import EventType, Outcome
from pledge.audit.models import AuditCheckpoint, AuditEvent
from pledge.keyring import load_keyring

# Any constant: the key of the PostgreSQL advisory lock that serialises appenders.
_PG_LOCK_KEY = 0x706C6564  # "pled"


class AuditValueInvalid(ValueError):
    """A column would break the canonical serialisation (holds the separator)."""


@dataclass(frozen=True)
class EventSpec:
    """One event to append. Field names and ids only: never a personal value."""

    type: EventType
    actor: str
    actor_role: str = ""
    customer_id: uuid.UUID | None = None
    record: str = ""
    purpose: str = ""
    fields: Sequence[str] = ()
    outcome: Outcome = Outcome.OK
    details: Mapping[str, object] = field(default_factory=dict)


def record_event(
    type: EventType,
    *,
    actor: str,
    actor_role: str = "",
    customer_id: uuid.UUID | None = None,
    record: str = "",
    purpose: str = "",
    fields: Iterable[str] = (),
    outcome: Outcome = Outcome.OK,
    details: Mapping[str, object] | None = None,
) -> AuditEvent:
    spec = EventSpec(
        type=type,
        actor=actor,
        actor_role=actor_role,
        customer_id=customer_id,
        record=record,
        purpose=purpose,
        fields=tuple(fields),
        outcome=outcome,
        details=details or {},
    )
    return record_events([spec])[-1]


def record_events(specs: Sequence[EventSpec]) -> list[AuditEvent]:
    """Append events in order; joins the caller's transaction or opens one."""
    if not specs:
        return []
    if connection.in_atomic_block:
        return _append(specs)
    with transaction.atomic():
        return _append(specs)


def _lock_chain_head() -> None:
    # SQLite: transactions start IMMEDIATE (settings.py), so this transaction already holds the
    # database's write lock. PostgreSQL: one advisory lock, released at commit or rollback.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_LOCK_KEY])


def _append(specs: Sequence[EventSpec]) -> list[AuditEvent]:
    _lock_chain_head()
    with connection.cursor() as cursor:
        # Raw SQL on the hot path: every personal-data access appends one event, and the ORM's
        # query building would cost more than the append itself (budget: ≤ 0.2 ms).
        cursor.execute(_HEAD_SQL)
        head = cursor.fetchone()
    seq, prev = (head[0], head[1]) if head is not None else (0, GENESIS_HASH)
    at = timezone.now()
    at_str = at_text(at)
    every = settings.PLEDGE_AUDIT_CHECKPOINT_EVERY
    events: list[AuditEvent] = []
    checkpoints: list[AuditCheckpoint] = []
    for spec in specs:
        seq += 1
        fields = ",".join(sorted(set(spec.fields)))
        details = (
            json.dumps(dict(spec.details), sort_keys=True, separators=(",", ":"))
            if spec.details
            else ""
        )
        columns = (spec.type.value, spec.actor, spec.actor_role, spec.record, spec.purpose, fields)
        if any(SEP in c for c in columns):
            raise AuditValueInvalid("an audit column contains the unit separator U+001F")
        text = canonical(
            seq,
            at_str,
            spec.type.value,
            spec.actor,
            spec.actor_role,
            spec.customer_id,
            spec.record,
            spec.purpose,
            fields,
            spec.outcome.value,
            details,
        )
        digest = chain_hash(prev, text)
        events.append(
            AuditEvent(
                seq=seq,
                at=at,
                type=spec.type.value,
                actor=spec.actor,
                actor_role=spec.actor_role,
                customer_id=spec.customer_id,
                record=spec.record,
                purpose=spec.purpose,
                fields=fields,
                outcome=spec.outcome.value,
                details=details,
                canonical=text,
                prev_hash=prev,
                hash=digest,
            )
        )
        if seq % every == 0:
            checkpoints.append(_checkpoint(seq, digest))
        prev = digest
    _insert(events)
    if checkpoints:
        AuditCheckpoint.objects.bulk_create(checkpoints)
    return events


_TABLE = AuditEvent._meta.db_table
_HEAD_SQL = f"SELECT seq, hash FROM {_TABLE} ORDER BY seq DESC LIMIT 1"  # noqa: S608
_COLUMNS = (
    "seq",
    "at",
    "type",
    "actor",
    "actor_role",
    "customer_id",
    "record",
    "purpose",
    "fields",
    "outcome",
    "details",
    "canonical",
    "prev_hash",
    "hash",
)
_INSERT_SQL = (
    f"INSERT INTO {_TABLE} ({', '.join(_COLUMNS)}) "  # noqa: S608 - constant identifiers
    f"VALUES ({', '.join(['%s'] * len(_COLUMNS))})"
)


def _insert(events: list[AuditEvent]) -> None:
    ops = connection.ops
    customer_field = AuditEvent._meta.get_field("customer_id")
    rows = [
        (
            e.seq,
            ops.adapt_datetimefield_value(e.at),
            e.type,
            e.actor,
            e.actor_role,
            customer_field.get_db_prep_value(e.customer_id, connection),
            e.record,
            e.purpose,
            e.fields,
            e.outcome,
            e.details,
            e.canonical,
            e.prev_hash,
            e.hash,
        )
        for e in events
    ]
    with connection.cursor() as cursor:
        if len(rows) == 1:
            cursor.execute(_INSERT_SQL, rows[0])
        else:
            cursor.executemany(_INSERT_SQL, rows)


def _checkpoint(seq: int, head_hash: str) -> AuditCheckpoint:
    keyring = load_keyring()
    signature = keyring.signing_key.sign(checkpoint_message(seq, head_hash))
    return AuditCheckpoint(
        seq=seq,
        hash=head_hash,
        at=timezone.now(),
        key_id=keyring.signing_key_id,
        signature=signature.hex(),
    )
