"""Master-key rotation: a new master-key version, then every data key re-wrapped in batches.

Nothing becomes unreadable on the way: old versions stay in the keyring, each data key records
the version that wraps it, and each batch commits on its own, so an interrupted rotation is
finished by `pledge keys rewrap`. Field ciphertexts are untouched: they are encrypted under the
customers' data keys, which do not change (re-keying one customer is the re-secure step, P20).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.keyring import add_master_key_version, load_keyring
from pledge.vault.crypto import data_key_aad
from pledge.vault.keystore import StoredKey, keystore


@dataclass(frozen=True)
class RotationReport:
    version: int
    rewrapped: int


def key_status() -> dict[int, int]:
    """How many data keys each master-key version wraps."""
    return keystore().count_by_version()


def rotate_master_key(
    *, actor: str, batch: int = 500, progress: Callable[[int], None] | None = None
) -> RotationReport:
    old = load_keyring().master.current_version()
    version = add_master_key_version()
    with transaction.atomic():
        record_event(
            EventType.MASTER_KEY_ROTATED,
            actor=actor,
            details={"from_version": old, "to_version": version},
        )
    return RotationReport(version, rewrap_data_keys(actor=actor, batch=batch, progress=progress))


def rewrap_data_keys(
    *, actor: str, batch: int = 500, progress: Callable[[int], None] | None = None
) -> int:
    """Re-wrap every data key not yet under the current master key; returns how many."""
    master = load_keyring().master
    current = master.current_version()
    store = keystore()
    done = 0
    while True:
        rows = store.not_at_version(current, batch)
        if not rows:
            break
        rewrapped = []
        for row in rows:
            aad = data_key_aad(row.customer_id)
            raw = master.unwrap(row.master_version, row.wrapped, aad=aad)
            version, wrapped = master.wrap(raw, aad=aad)
            rewrapped.append(StoredKey(row.customer_id, row.generation, version, wrapped))
        # Each batch commits on its own in the key store, so an interrupted rotation resumes.
        store.rewrap(rewrapped)
        with transaction.atomic():
            record_event(
                EventType.DATA_KEYS_REWRAPPED,
                actor=actor,
                details={"count": len(rows), "to_version": current},
            )
        done += len(rows)
        if progress is not None:
            progress(len(rows))
    return done
