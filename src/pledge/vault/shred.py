"""Destroying data keys (crypto-shredding) safely across two stores: the database and the key store.

A key generation may be destroyed only once the database no longer uses it: the customer row is
gone, or `Customer.key_generation` has moved past it. The shred is queued in the key store before
the database transaction commits and carried out right after the commit; a crash in between leaves
the queue entry, which `flush_shreds` (a worker job) finishes. A rolled-back transaction leaves the
generation in use, so its queue entry is dropped without deleting anything.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from django.db import transaction

from pledge.vault.keystore import keystore
from pledge.vault.models import Customer

# A queue entry younger than this may belong to a transaction still running: leave it be.
_SETTLE = dt.timedelta(minutes=10)


def shred_after_commit(customer_id: uuid.UUID, generations: Iterable[int]) -> None:
    """Destroy these generations of the customer's key once the caller's transaction commits."""
    wanted = sorted(set(generations))
    store = keystore()
    for generation in wanted:
        store.queue_shred(customer_id, generation)
    # robust: the database has committed by then, so a key store that fails here must not turn
    # the caller's success into an error; the queue entry stays and `flush_shreds` finishes it.
    transaction.on_commit(lambda: destroy_unused(customer_id, wanted), robust=True)


def _unused(customer_id: uuid.UUID, generations: Iterable[int]) -> list[int]:
    current = (
        Customer.objects.filter(pk=customer_id).values_list("key_generation", flat=True).first()
    )
    return [g for g in generations if current is None or g != current]


def destroy_unused(customer_id: uuid.UUID, generations: Iterable[int]) -> int:
    """Destroy the generations the database no longer uses; returns how many were destroyed."""
    generations = list(generations)
    unused = _unused(customer_id, generations)
    store = keystore()
    destroyed = store.destroy(customer_id, unused) if unused else 0
    for generation in set(generations) - set(unused):
        # Still in use: the transaction that queued it rolled back. Nothing to destroy.
        store.drop_pending(customer_id, generation)
    return destroyed


def flush_shreds(limit: int = 1000, *, now: dt.datetime | None = None) -> int:
    """Finish shreds a crash interrupted (worker job). Returns how many keys were destroyed.

    An entry whose generation is still in use is left alone while the transaction that queued
    it may still be running (`_SETTLE`), then dropped: that transaction rolled back."""
    store = keystore()
    destroyed = 0
    cutoff = ((now or dt.datetime.now(dt.UTC)) - _SETTLE).astimezone(dt.UTC)
    cutoff_text = cutoff.isoformat(timespec="microseconds")
    for customer_id, generation, queued_at in store.pending_shreds_with_time(limit):
        if _unused(customer_id, [generation]):
            destroyed += store.destroy(customer_id, [generation])
        elif queued_at < cutoff_text:
            store.drop_pending(customer_id, generation)
    # A checkpoint a reader kept from finishing after an earlier shred left old WAL frames
    # (which may hold a destroyed key) on disk: fold them back now.
    store.checkpoint()
    return destroyed


def flush_shreds_job(now: dt.datetime) -> int:
    """Worker job: shreds interrupted by a crash between a commit and the key store."""
    return flush_shreds(now=now)
