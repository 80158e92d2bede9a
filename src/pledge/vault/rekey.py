"""Re-keying one customer (P20, "re-secure" after misuse): every value and file of theirs is
re-encrypted under a new generation of their data key, and the old generation is destroyed once
the transaction commits. Whoever copied the old key, or ciphertexts with it, holds nothing that
opens the customer's data from then on.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.notify.models import OutboxMessage
from pledge.notify.sealing import CUSTOMER_WRAPPED, key_aad
from pledge.vault.access import Actor
from pledge.vault.crypto import CustomerKey, DecryptionFailed
from pledge.vault.documents import (
    _SUFFIX,
    DocumentUnreadable,
    _path_of,
    _remove,
    _write_atomically,
    document_aad,
    files_dir,
)
from pledge.vault.errors import AccessRefused, NotFound
from pledge.vault.keystore import keystore
from pledge.vault.models import Customer, EncryptedValue, IdDocument
from pledge.vault.shred import shred_after_commit
from pledge.vault.store import KeyUnavailable, create_data_key, generation_key


@dataclass(frozen=True)
class RekeyReport:
    values: int
    files: int


# Other apps' encrypted data under the customer's key (complaint evidence files): each hook
# re-encrypts its own inside the re-key's transaction, under `new_key`; the old key is destroyed
# after commit. A hook removes what it wrote if it fails itself; files it wrote before a later
# failure are orphans its own sweeper removes.
REKEY_HOOKS: list[Callable[[uuid.UUID, CustomerKey, CustomerKey], None]] = []


def _rewrap_outbox(customer_id: uuid.UUID, old_key: CustomerKey, new_key: CustomerKey) -> None:
    """Queued messages to the customer are sealed under their data key (notify/sealing.py): move
    them to the new one, or they could not be sent once the old key is destroyed."""
    rows = OutboxMessage.objects.filter(
        customer_id=customer_id, key_version=CUSTOMER_WRAPPED, wrapped_key__isnull=False
    ).only("pk", "wrapped_key")
    for row in rows:
        aad = key_aad(row.pk)
        try:
            message_key = old_key.decrypt_bytes(aad, bytes(row.wrapped_key or b""))
        except DecryptionFailed:
            continue  # not under this key (tampered): delivery will refuse it as before
        OutboxMessage.objects.filter(pk=row.pk).update(
            wrapped_key=new_key.encrypt_bytes(aad, message_key)
        )


@transaction.atomic
def rekey_customer(*, actor: Actor, customer_id: uuid.UUID) -> RekeyReport:
    if actor.kind not in ("staff", "system"):
        raise AccessRefused("only staff or the system re-key a customer's data")
    if not isinstance(customer_id, uuid.UUID):
        raise NotFound(f"no customer {str(customer_id)[:40]!r}")
    try:
        customer = Customer.objects.select_for_update().get(pk=customer_id)
    except Customer.DoesNotExist:
        raise NotFound(f"no customer {customer_id}") from None
    if customer.erased_at is not None:
        raise KeyUnavailable("this customer was erased; there is nothing to re-key")
    old_generation = customer.key_generation
    old_key = generation_key(customer_id, old_generation)
    new_generation = keystore().next_generation(customer_id, old_generation)
    new_key = create_data_key(customer_id, new_generation)

    rows = list(EncryptedValue.objects.filter(customer=customer))
    for row in rows:
        value = old_key.decrypt(row.record_kind, row.record_id, row.field, bytes(row.ciphertext))
        row.ciphertext = new_key.encrypt(row.record_kind, row.record_id, row.field, value)
    EncryptedValue.objects.bulk_update(rows, ["ciphertext"], batch_size=500)

    written: list[Path] = []
    old_files: list[Path] = []
    try:
        for doc in IdDocument.objects.filter(customer=customer):
            try:
                old_path = _path_of(doc.storage_name)
                aad = document_aad(customer_id, doc.id, doc.content_type)
                data = old_key.decrypt_bytes(aad, old_path.read_bytes())
            except (DocumentUnreadable, OSError):
                continue  # a file already missing or not ours: nothing to re-encrypt
            name = f"{secrets.token_hex(24)}{_SUFFIX}"
            path = files_dir() / name
            _write_atomically(path, new_key.encrypt_bytes(aad, data))
            written.append(path)
            old_files.append(old_path)
            IdDocument.objects.filter(pk=doc.pk).update(storage_name=name)
    except BaseException:
        for path in written:  # the transaction rolls back: its new files must not stay
            _remove(path)
        raise

    _rewrap_outbox(customer_id, old_key, new_key)
    for hook in REKEY_HOOKS:
        hook(customer_id, old_key, new_key)
    Customer.objects.filter(pk=customer_id).update(key_generation=new_generation)
    shred_after_commit(
        customer_id, [g for g in keystore().generations(customer_id) if g != new_generation]
    )
    for path in old_files:
        # robust: the re-key has committed; a file left behind is an orphan that
        # `remove_orphan_files` deletes, and its key is destroyed anyway.
        transaction.on_commit(lambda gone=path: _remove(gone), robust=True)  # type: ignore[misc]
    record_event(
        EventType.CUSTOMER_REKEYED,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        details={"values": len(rows), "files": len(written)},
    )
    return RekeyReport(values=len(rows), files=len(written))
