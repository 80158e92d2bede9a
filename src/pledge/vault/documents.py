"""Copies of identity documents (ID card, passport): sensitive data kept as encrypted files (P02).

store -> `access.authorize` (purpose and role, P06/P09) -> the purpose collects `id_document`
(P01) -> live consent where the basis is consent (P04) -> size and type checks (the type is read
from the bytes; the declared type must agree) -> the bytes are encrypted with the customer's data
key (AES-256-GCM; associated data names the record kind, the document id, the field, the customer
and the content type, so a file copied onto another document or customer does not decrypt) ->
written atomically (temporary file, fsync, rename, mode 0600) under `PLEDGE_FILES_DIR` with a
random name -> the `IdDocument` row and the audit event in one transaction; if that transaction
fails, the file is removed.

A file never holds a customer id or a name, and its name says nothing. Erasing the customer (their
data key destroyed) makes every document file unreadable, in place and in every backup.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import filetype
from django.conf import settings
from django.db import transaction

from pledge.audit.events import EventType, Outcome
from pledge.audit.services import record_event
from pledge.vault.access import Actor, authorize, policy
from pledge.vault.crypto import CustomerKey, DecryptionFailed, field_aad
from pledge.vault.errors import NotFound, Problem, ValuesInvalid, VaultError
from pledge.vault.models import IdDocument, RecordKind
from pledge.vault.services import (
    authorize_read,
    check_collectable,
    refuse_fields,
    require_consent,
)
from pledge.vault.store import customer_key

logger = logging.getLogger(__name__)

FIELD = "id_document"

# What an identity-document copy may be: photos and scans.
ALLOWED_TYPES = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
    "application/pdf": "PDF",
}
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
_SUFFIX = ".enc"
_TMP_SUFFIX = ".tmp"


class FileTooLarge(ValuesInvalid):
    status = 413
    code = "file-too-large"
    title = "File too large"


class DocumentUnreadable(VaultError):
    """The file is missing, or does not decrypt for this document (moved or tampered with)."""

    status = 500
    code = "document-unreadable"
    title = "The document cannot be read"


def files_dir() -> Path:
    return Path(settings.PLEDGE_FILES_DIR)


def document_aad(customer_id: uuid.UUID, document_id: uuid.UUID, content_type: str) -> bytes:
    """Associated data of a document file: the document, the field, the customer, the type."""
    return (
        field_aad(RecordKind.ID_DOCUMENT, document_id, FIELD, customer_id)
        + b"|"
        + content_type.encode("ascii")
    )


def _normalise_type(content_type: object) -> str:
    if not isinstance(content_type, str) or len(content_type) > 100:
        return ""
    base = content_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def check_document(content: object, content_type: object) -> str:
    """The document's content type, detected from its bytes, or an error naming the rule."""
    allowed = ", ".join(ALLOWED_TYPES.values())
    if not isinstance(content, bytes | bytearray | memoryview):
        raise ValuesInvalid(
            "the document must be a file", [Problem("content", "type", "send the file's bytes")]
        )
    size = len(content)
    limit = int(settings.PLEDGE_ID_DOCUMENT_MAX_BYTES)
    if size == 0:
        raise ValuesInvalid(
            "the document is empty", [Problem("content", "required", "the file is empty")]
        )
    if size > limit:
        raise FileTooLarge(
            "the document is too large",
            [Problem("content", "max_size", f"the file is larger than {limit} bytes")],
        )
    kind = filetype.guess(bytes(content[:8192]))
    detected = kind.mime if kind is not None else ""
    if detected not in ALLOWED_TYPES:
        raise ValuesInvalid(
            "this kind of file is not accepted",
            [
                Problem(
                    "content",
                    "file_type",
                    f"an identity document must be one of {allowed} "
                    f"(this file is {detected or 'of an unknown type'})",
                )
            ],
        )
    declared = _normalise_type(content_type)
    if declared != detected:
        raise ValuesInvalid(
            "the declared content type does not match the file",
            [
                Problem(
                    "content_type",
                    "content_type_mismatch",
                    f"the file is {detected}, not the declared type",
                )
            ],
        )
    return detected


def _fsync_dir(path: Path) -> None:
    with suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_atomically(path: Path, data: bytes) -> None:
    """temp file (0600) + fsync + rename + fsync of the directory: all of the file or none."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}{_TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with suppress(OSError):
            tmp.unlink()
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _remove(path: Path) -> None:
    with suppress(FileNotFoundError):
        path.unlink()
    _fsync_dir(path.parent)


def open_sealed_file(
    key: CustomerKey, aad: bytes, locate: Callable[[], Path], size: int, noun: str
) -> tuple[bytes | None, str]:
    """The plaintext of an encrypted file Pledge wrote (identity documents, complaint evidence),
    or None and what is wrong with it: missing, not decrypting under this key and associated
    data (moved or tampered), a name Pledge never wrote (`locate` raises a `VaultError`), or a
    length other than the one stored. The caller audits and raises."""
    try:
        data = key.decrypt_bytes(aad, locate().read_bytes())
    except FileNotFoundError:
        return None, f"the {noun} file is missing"
    except DecryptionFailed:
        return None, f"the {noun} file does not decrypt for this {noun} (moved or tampered)"
    except VaultError as exc:
        return None, exc.message
    if len(data) != size:
        return None, f"the {noun} file has another size than the one stored"
    return data, ""


def _path_of(storage_name: str) -> Path:
    # The name comes from our own row, but a tampered row must not point outside the directory.
    if (
        not storage_name
        or Path(storage_name).name != storage_name
        or storage_name.startswith(".")
        or not storage_name.endswith(_SUFFIX)
    ):
        raise DocumentUnreadable("the document's file name is not one Pledge wrote")
    return files_dir() / storage_name


def store_id_document(
    *,
    actor: Actor,
    purpose: str,
    customer_id: uuid.UUID,
    content: bytes,
    content_type: str,
) -> uuid.UUID:
    """Keep a copy of an identity document, encrypted; returns the document id.

    Raises `FieldsRefused`/`AccessRefused`/`ConsentRequired` (audited), `FileTooLarge` (413) or
    `ValuesInvalid` (empty, not JPEG/PNG/WebP/PDF, or not the declared type): nothing is written.
    """
    enforced = policy()
    authorize(
        enforced,
        actor,
        purpose,
        event=EventType.WRITE_REFUSED,
        customer_id=customer_id,
        fields=[FIELD],
    )
    refuse_fields(
        check_collectable(enforced, purpose, {FIELD: None}, RecordKind.ID_DOCUMENT),
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
    )
    detected = check_document(content, content_type)
    data = bytes(content)
    key = customer_key(customer_id)
    document_id = uuid.uuid4()
    storage_name = f"{secrets.token_hex(24)}{_SUFFIX}"
    blob = key.encrypt_bytes(document_aad(customer_id, document_id, detected), data)
    path = files_dir() / storage_name
    _write_atomically(path, blob)
    try:
        with transaction.atomic():
            IdDocument.objects.create(
                id=document_id,
                customer_id=customer_id,
                content_type=detected,
                size=len(data),
                storage_name=storage_name,
            )
            record_event(
                EventType.ID_DOCUMENT_STORED,
                actor=actor.label,
                actor_role=actor.role,
                customer_id=customer_id,
                record=f"id_document:{document_id}",
                purpose=purpose,
                fields=[FIELD],
                details={"content_type": detected, "size": len(data)},
            )
    except BaseException:
        _remove(path)
        raise
    return document_id


def _document(customer_id: uuid.UUID, document_id: uuid.UUID) -> IdDocument:
    doc = IdDocument.objects.filter(pk=document_id, customer_id=customer_id).first()
    if doc is None:
        raise NotFound(
            "no such document for this customer",
            [Problem("document_id", "not_found", "no such document for this customer")],
        )
    return doc


def read_id_document(
    *,
    actor: Actor,
    purpose: str,
    customer_id: uuid.UUID,
    document_id: uuid.UUID,
) -> tuple[bytes, str]:
    """The document's bytes and content type, for a purpose that may read `id_document` and an
    actor whose role may see it (P09). An image cannot be masked: it is shown whole or not at all.
    """
    authorize_read(actor, purpose, customer_id, FIELD, record=f"id_document:{document_id}")
    key = customer_key(customer_id)
    doc = _document(customer_id, document_id)
    aad = document_aad(customer_id, doc.id, doc.content_type)
    data, problem = open_sealed_file(
        key, aad, lambda: _path_of(doc.storage_name), doc.size, "document"
    )
    if data is None:
        record_event(
            EventType.ID_DOCUMENT_READ,
            actor=actor.label,
            actor_role=actor.role,
            customer_id=customer_id,
            record=f"id_document:{doc.id}",
            purpose=purpose,
            fields=[FIELD],
            outcome=Outcome.FAILED,
            details={"problem": problem},
        )
        logger.error("id document %s unreadable: %s", doc.id, problem)
        raise DocumentUnreadable(problem, [Problem(FIELD, "document_unreadable", problem)])
    record_event(
        EventType.ID_DOCUMENT_READ,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        record=f"id_document:{doc.id}",
        purpose=purpose,
        fields=[FIELD],
    )
    return data, doc.content_type


def delete_id_document(
    *,
    actor: Actor,
    purpose: str,
    customer_id: uuid.UUID,
    document_id: uuid.UUID,
) -> None:
    """Delete a document (row and file). The purpose must be one that collects `id_document`.

    The file is removed once the deletion commits (`transaction.on_commit`), so a rolled-back
    deletion keeps its file.
    """
    enforced = policy()
    authorize(
        enforced,
        actor,
        purpose,
        event=EventType.WRITE_REFUSED,
        customer_id=customer_id,
        fields=[FIELD],
    )
    refuse_fields(
        check_collectable(enforced, purpose, {FIELD: None}, RecordKind.ID_DOCUMENT),
        actor=actor,
        purpose=purpose,
        customer_id=customer_id,
        record=f"id_document:{document_id}",
    )
    doc = _document(customer_id, document_id)
    try:
        path: Path | None = _path_of(doc.storage_name)
    except DocumentUnreadable:
        path = None  # a name Pledge never wrote: delete the row, touch no file
    with transaction.atomic():
        IdDocument.objects.filter(pk=doc.id).delete()
        record_event(
            EventType.ID_DOCUMENT_DELETED,
            actor=actor.label,
            actor_role=actor.role,
            customer_id=customer_id,
            record=f"id_document:{doc.id}",
            purpose=purpose,
            fields=[FIELD],
        )
        if path is not None:
            gone = path
            transaction.on_commit(lambda: _remove(gone))


def remove_orphan_files(older_than: dt.timedelta = dt.timedelta(hours=1)) -> int:
    """Remove files no `IdDocument` row names (left by a transaction rolled back after the file
    was written, e.g. inside a caller's own transaction) and stale temporary files, older than
    `older_than` so an upload in progress is left alone. Returns how many were removed."""
    folder = files_dir()
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than.total_seconds()
    candidates: dict[str, Path] = {}
    for entry in folder.iterdir():
        try:
            if not entry.is_file() or entry.stat().st_mtime > cutoff:
                continue
        except OSError:
            continue
        candidates[entry.name] = entry
    if not candidates:
        return 0
    names = list(candidates)
    known: set[str] = set()
    for start in range(0, len(names), 500):
        known.update(
            IdDocument.objects.filter(storage_name__in=names[start : start + 500]).values_list(
                "storage_name", flat=True
            )
        )
    removed = 0
    for name, entry in candidates.items():
        if name in known:
            continue
        if name.endswith(_SUFFIX) or name.endswith(_TMP_SUFFIX):
            with suppress(FileNotFoundError):
                entry.unlink()
                removed += 1
    return removed


def remove_orphan_files_job(now: dt.datetime) -> int:
    """Worker job: encrypted files no row names any more (a rolled-back upload or re-key, or a
    removal after commit that failed), older than an hour."""
    return remove_orphan_files()
