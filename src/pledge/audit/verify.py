"""Verification of the audit chain: every change, deletion, insertion, reordering, or truncation
behind a signed checkpoint is found, and the first bad event is named.

Rows are read through a raw cursor in large batches: the budget is 500,000 events/s
(ARCHITECTURE.md), which the ORM's per-row model instances could not approach.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from django.db import connection

from pledge.audit.chain import (
    CANONICAL_FORMAT,
    GENESIS_HASH,
    SEP,
    at_text,
    checkpoint_message,
    customer_hex,
)
from pledge.audit.models import AuditCheckpoint, AuditEvent
from pledge.keyring import load_keyring

BATCH = 20_000


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    checkpoints: int
    last_seq: int
    head_hash: str
    bad_seq: int | None = None
    problem: str = ""


def verify_chain() -> VerifyResult:
    table = AuditEvent._meta.db_table
    # On SQLite, the text as stored: cheaper to respell than a datetime the driver builds.
    at_col = "CAST(at AS TEXT)" if connection.vendor == "sqlite" else "at"
    cols = (
        f"seq, {at_col}, type, actor, actor_role, customer_id, record, purpose, fields, outcome, "
        "details, canonical, prev_hash, hash"
    )
    expected = 1
    prev = GENESIS_HASH
    sha256 = hashlib.sha256
    fromhex = bytes.fromhex
    checked = 0

    def bad(seq: int, problem: str) -> VerifyResult:
        cps = AuditCheckpoint.objects.count()
        return VerifyResult(False, checked, cps, expected - 1, prev, seq, problem)

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {cols} FROM {table} ORDER BY seq")  # noqa: S608 - our table name
        while True:
            rows = cursor.fetchmany(BATCH)
            if not rows:
                break
            for row in rows:
                (seq, at, type_, actor, role, cust, record, purpose, fields, outcome) = row[:10]
                details, text, prev_hash, digest = row[10:]
                if seq != expected:
                    if seq > expected:
                        return bad(
                            expected,
                            f"event {expected} is missing (deleted, or the events after it "
                            f"were renumbered); the next event is {seq}",
                        )
                    return bad(seq, f"event {seq} appears twice or out of order")
                rebuilt = SEP.join(
                    (
                        CANONICAL_FORMAT,
                        str(seq),
                        at_text(at),
                        type_,
                        actor,
                        role,
                        customer_hex(cust),
                        record,
                        purpose,
                        fields,
                        outcome,
                        details,
                    )
                )
                if rebuilt != text:
                    return bad(
                        seq, f"event {seq} was changed: its columns no longer match its record"
                    )
                if prev_hash != prev:
                    return bad(
                        seq,
                        f"event {seq} does not follow event {seq - 1} (an event was inserted, "
                        "deleted or reordered)",
                    )
                if sha256(fromhex(prev) + text.encode()).hexdigest() != digest:
                    return bad(seq, f"event {seq} was changed: its hash does not match its content")
                prev = digest
                expected += 1
                checked += 1
    last_seq = expected - 1
    return _verify_checkpoints(checked, last_seq, prev)


def _verify_checkpoints(events: int, last_seq: int, head: str) -> VerifyResult:
    keyring = load_keyring()
    verify_key = keyring.verify_key
    hashes: dict[int, str] = {}
    checkpoints = list(AuditCheckpoint.objects.order_by("seq"))
    if checkpoints:
        wanted = [cp.seq for cp in checkpoints if cp.seq <= last_seq]
        hashes = dict(AuditEvent.objects.filter(seq__in=wanted).values_list("seq", "hash"))
    for cp in checkpoints:
        try:
            verify_key.verify(bytes.fromhex(cp.signature), checkpoint_message(cp.seq, cp.hash))
        except (InvalidSignature, ValueError):
            return VerifyResult(
                False,
                events,
                len(checkpoints),
                last_seq,
                head,
                cp.seq,
                f"the checkpoint at event {cp.seq} has an invalid signature",
            )
        if cp.seq > last_seq:
            return VerifyResult(
                False,
                events,
                len(checkpoints),
                last_seq,
                head,
                last_seq + 1,
                f"the log was truncated: a signed checkpoint covers event {cp.seq} but the log "
                f"ends at event {last_seq}",
            )
        if hashes.get(cp.seq) != cp.hash:
            return VerifyResult(
                False,
                events,
                len(checkpoints),
                last_seq,
                head,
                cp.seq,
                f"event {cp.seq} differs from the signed checkpoint of the chain at that point",
            )
    return VerifyResult(True, events, len(checkpoints), last_seq, head)
