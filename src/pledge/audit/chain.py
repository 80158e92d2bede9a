"""The canonical serialisation of an event and the hash chain over it.

canonical = the event's columns joined by U+001F (unit separator), prefixed by the format name.
hash(n)  = SHA-256(hash(n-1) || canonical(n)), with 32 zero bytes before event 1.

A separator that no column may contain makes the serialisation unambiguous without escaping, and
lets verification rebuild it from the columns with one string join (ARCHITECTURE.md budget:
verify ≥ 500,000 events/s).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

CANONICAL_FORMAT = "pledge-audit/1"
CHECKPOINT_FORMAT = "pledge-audit-checkpoint/1"
SEP = "\x1f"
GENESIS_HASH = "0" * 64


def at_text(at: dt.datetime | str) -> str:
    """UTC, microseconds, ISO 8601: one spelling whatever the database returns."""
    if isinstance(at, str):  # raw SQLite rows: "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC
        # String surgery instead of parsing: verification runs this once per event.
        if len(at) == 26 and at[10] == " ":
            return f"{at[:10]}T{at[11:]}+00:00"
        if len(at) == 19 and at[10] == " ":
            return f"{at[:10]}T{at[11:]}.000000+00:00"
        at = dt.datetime.fromisoformat(at)
    if at.tzinfo is dt.UTC:
        return at.isoformat(timespec="microseconds")
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical(
    seq: int,
    at: str,
    type_: str,
    actor: str,
    actor_role: str,
    customer_id: uuid.UUID | str | None,
    record: str,
    purpose: str,
    fields: str,
    outcome: str,
    details: str,
) -> str:
    return SEP.join(
        (
            CANONICAL_FORMAT,
            str(seq),
            at,
            type_,
            actor,
            actor_role,
            customer_hex(customer_id),
            record,
            purpose,
            fields,
            outcome,
            details,
        )
    )


def customer_hex(customer_id: uuid.UUID | str | None) -> str:
    # 32 hex digits: how SQLite stores a UUID, and one spelling on every database.
    if not customer_id:
        return ""
    if isinstance(customer_id, uuid.UUID):
        return customer_id.hex
    return customer_id.replace("-", "")


def chain_hash(prev_hash: str, canonical_text: str) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical_text.encode()).hexdigest()


def checkpoint_message(seq: int, head_hash: str) -> bytes:
    return f"{CHECKPOINT_FORMAT}{SEP}{seq}{SEP}{head_hash}".encode()
