"""Evidence attachments of a complaint (issue 7; seed A: "provide evidence related to the case").

The bytes are a file under `PLEDGE_EVIDENCE_DIR`, never in the database, encrypted with the
customer's data key (AES-256-GCM). The associated data names the record kind
`complaint_evidence`, the evidence id, the complaint, the customer and the content type, so a file
copied onto another evidence row, complaint or customer does not decrypt. Written atomically
(temporary file, fsync, rename, mode 0600) with a random name, like identity documents
(`pledge.vault.documents`), but in a directory of its own: the vault's orphan sweep deletes every
file of `PLEDGE_FILES_DIR` no identity document names.

Limits (refused with `EvidenceRefused`, naming the rule; nothing is written): the policy accepts
evidence (`complaints.evidence_accepted`), at most `PLEDGE_EVIDENCE_MAX_BYTES` per file and
`PLEDGE_EVIDENCE_MAX_FILES` per complaint, a type read from the bytes in JPEG, PNG, WebP, PDF or
UTF-8 plain text, and the declared type agrees. The original file name is not kept: it may name a
person, and nothing needs it (a download is named after the evidence id).

Erasure (`erase_evidence`, an erasure hook) deletes the rows and, after commit, the files; the
key is destroyed anyway. A re-key (`rekey_evidence`, a re-key hook) re-encrypts every file under
the new key generation. `remove_orphan_files_job` sweeps files no row names.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import time
import uuid
from contextlib import suppress
from pathlib import Path

import filetype
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pledge.audit.events import EventType, Outcome
from pledge.audit.services import record_event
from pledge.complaints.models import Complaint, ComplaintEvidence, ComplaintMessage
from pledge.complaints.services import FIELD, PURPOSE, ComplaintInvalid
from pledge.vault.access import Actor, authorize, policy, refuse
from pledge.vault.crypto import CustomerKey, DecryptionFailed, field_aad
from pledge.vault.documents import _remove, _write_atomically, open_sealed_file
from pledge.vault.errors import AccessRefused, NotFound, Problem, VaultError
from pledge.vault.services import authorize_read
from pledge.vault.store import customer_key

log = logging.getLogger(__name__)

RECORD_KIND = "complaint_evidence"
ALLOWED_TYPES = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
    "application/pdf": "PDF",
    "text/plain": "plain text (UTF-8)",
}
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
# Plain text may hold tabs and line ends, never other control characters (nor NUL).
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SUFFIX = ".evd"
_TMP_SUFFIX = ".tmp"
_NAME = re.compile(r"[0-9a-f]{48}\.evd")


class EvidenceRefused(ComplaintInvalid):
    """An attachment the desk does not take: the message and problem name the rule."""

    code = "evidence-refused"
    title = "Evidence refused"

    def __init__(self, message: str, rule: str, *, field: str = "content", status: int = 422):
        super().__init__(message, [Problem(field, rule, message)])
        self.rule = rule
        self.status = status


class EvidenceUnreadable(VaultError):
    """The file is missing, or does not decrypt for this evidence (moved or tampered with)."""

    status = 500
    code = "evidence-unreadable"
    title = "The evidence cannot be read"


def evidence_dir() -> Path:
    return Path(settings.PLEDGE_EVIDENCE_DIR)


def evidence_aad(
    customer_id: uuid.UUID, complaint_id: uuid.UUID, evidence_id: uuid.UUID, content_type: str
) -> bytes:
    return (
        field_aad(RECORD_KIND, evidence_id, str(complaint_id), customer_id)
        + b"|"
        + content_type.encode("ascii")
    )


def _path_of(storage_name: str) -> Path:
    # The name comes from our own row, but a tampered row must not point outside the directory.
    if not _NAME.fullmatch(storage_name or ""):
        raise EvidenceUnreadable("the evidence's file name is not one Pledge wrote")
    return evidence_dir() / storage_name


def _new_name() -> str:
    return f"{secrets.token_hex(24)}{_SUFFIX}"


# -- checks ----------------------------------------------------------------------------------


def _declared(content_type: object) -> str:
    if not isinstance(content_type, str) or len(content_type) > 200:
        return ""
    base = content_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not _TEXT_CONTROL.search(text)


def check_evidence(content: object, content_type: object) -> str:
    """The evidence's content type, detected from its bytes; `EvidenceRefused` naming the rule."""
    if not isinstance(content, bytes | bytearray | memoryview):
        raise EvidenceRefused("the evidence must be a file", "type")
    data = bytes(content)
    limit = int(settings.PLEDGE_EVIDENCE_MAX_BYTES)
    if not data:
        raise EvidenceRefused("the evidence file is empty", "required")
    if len(data) > limit:
        raise EvidenceRefused(
            f"the evidence file is larger than {limit} bytes", "max_size", status=413
        )
    declared = _declared(content_type)
    kind = filetype.guess(data[:8192])
    detected = kind.mime if kind is not None else ""
    if not detected and _is_text(data):
        detected = "text/plain"
    if detected not in ALLOWED_TYPES:
        raise EvidenceRefused(
            f"evidence must be one of {', '.join(ALLOWED_TYPES.values())} "
            f"(this file is {detected or 'of an unknown type'})",
            "file_type",
            status=415,
        )
    if declared != detected:
        raise EvidenceRefused(
            f"the file is {detected}, not the declared type",
            "content_type_mismatch",
            field="content_type",
        )
    return detected


def _accepts_evidence() -> None:
    complaints = policy().policy.complaints
    if complaints is None or not complaints.evidence_accepted:
        raise EvidenceRefused(
            "the shop's policy does not accept evidence attachments", "evidence_not_accepted"
        )


def _complaint_for(actor: Actor, complaint_id: object) -> Complaint:
    """The complaint, or NotFound — the same for an unknown id and another customer's."""
    unknown = NotFound(
        "no such complaint", [Problem("complaint_id", "not_found", "no such complaint")]
    )
    if not isinstance(complaint_id, uuid.UUID):
        raise unknown
    complaint = Complaint.objects.filter(pk=complaint_id, customer__isnull=False).first()
    if complaint is None:
        raise unknown
    if actor.kind == "customer" and not actor.is_subject(uuid.UUID(str(complaint.customer_id))):
        raise unknown
    return complaint


# -- store and read --------------------------------------------------------------------------


def store_evidence(
    *,
    actor: Actor,
    complaint_id: uuid.UUID,
    filename: str | None,
    content: bytes,
    content_type: str,
    message_id: uuid.UUID | None = None,
) -> ComplaintEvidence:
    """Keep an evidence file of a complaint, encrypted under its customer's key.

    `filename` is accepted and deliberately not stored (it may name a person). Raises
    `NotFound` (unknown complaint, or another customer's), `AccessRefused` (audited),
    `EvidenceRefused` (422/413/415, naming the rule): nothing is written then."""
    del filename  # never stored: see the module's docstring
    complaint = _complaint_for(actor, complaint_id)
    customer_id = uuid.UUID(str(complaint.customer_id))
    # P06/P09: the purpose and the actor's role come from the policy (audited refusal).
    authorize(
        policy(),
        actor,
        PURPOSE,
        event=EventType.WRITE_REFUSED,
        customer_id=customer_id,
        fields=[FIELD],
    )
    _accepts_evidence()
    if message_id is not None and not (
        isinstance(message_id, uuid.UUID)
        and ComplaintMessage.objects.filter(pk=message_id, complaint=complaint).exists()
    ):
        raise EvidenceRefused(
            "no such message in this complaint's thread", "not_found", field="message_id"
        )
    detected = check_evidence(content, content_type)
    limit = int(settings.PLEDGE_EVIDENCE_MAX_FILES)
    # Checked before the file is written (and again under the lock below), so a complaint that
    # is full costs no encryption and no disk write.
    if ComplaintEvidence.objects.filter(complaint=complaint).count() >= limit:
        raise EvidenceRefused(f"a complaint holds at most {limit} evidence files", "max_files")
    data = bytes(content)
    key = customer_key(customer_id)
    evidence_id = uuid.uuid4()
    storage_name = _new_name()
    path = evidence_dir() / storage_name
    aad = evidence_aad(customer_id, complaint.id, evidence_id, detected)
    _write_atomically(path, key.encrypt_bytes(aad, data))
    try:
        with transaction.atomic():
            # Locked, so two uploads at once cannot both pass the count.
            Complaint.objects.select_for_update().filter(pk=complaint.pk).first()
            if ComplaintEvidence.objects.filter(complaint=complaint).count() >= limit:
                raise EvidenceRefused(
                    f"a complaint holds at most {limit} evidence files", "max_files"
                )
            evidence = ComplaintEvidence.objects.create(
                id=evidence_id,
                complaint=complaint,
                message_id=message_id,
                content_type=detected,
                size=len(data),
                storage_name=storage_name,
                created_at=timezone.now(),
            )
            record_event(
                EventType.COMPLAINT_EVIDENCE_STORED,
                actor=actor.label,
                actor_role=actor.role,
                customer_id=customer_id,
                record=f"complaint:{complaint.id}",
                purpose=PURPOSE,
                fields=[FIELD],
                details={
                    "content_type": detected,
                    "size": len(data),
                    "channel": complaint.channel,
                },
            )
    except BaseException:
        _remove(path)
        raise
    return evidence


def read_evidence(
    *, actor: Actor, complaint_id: uuid.UUID, evidence_id: uuid.UUID
) -> tuple[ComplaintEvidence, bytes]:
    """The evidence row and its bytes. A customer reads only their own complaint's; staff as the
    policy's roles allow (`complaint_details` for `complaints`, P09); the system for the public
    status link (its caller checked the link). Another customer's ids answer `NotFound`, exactly
    like unknown ones."""
    complaint = _complaint_for(actor, complaint_id)
    customer_id = uuid.UUID(str(complaint.customer_id))
    row = (
        ComplaintEvidence.objects.filter(pk=evidence_id, complaint=complaint).first()
        if isinstance(evidence_id, uuid.UUID)
        else None
    )
    if row is None:
        raise NotFound(
            "no such evidence for this complaint",
            [Problem("evidence_id", "not_found", "no such evidence for this complaint")],
        )
    record = f"complaint:{complaint.id}"
    _, unmasked = authorize_read(actor, PURPOSE, customer_id, FIELD, record=record)
    if actor.kind == "staff" and FIELD not in unmasked:
        # A file cannot be shown masked: a role that sees complaint texts masked (P09) does not
        # open the evidence either (security review).
        refuse(
            AccessRefused(
                "the policy shows this role complaint details masked; evidence is not opened",
                [Problem(FIELD, "masked_for_role", "complaint details are masked for this role")],
            ),
            event=EventType.ACCESS_REFUSED,
            actor=actor,
            purpose=PURPOSE,
            customer_id=customer_id,
            record=record,
            fields=[FIELD],
        )
    key = customer_key(customer_id)
    aad = evidence_aad(customer_id, complaint.id, row.id, row.content_type)
    data, problem = open_sealed_file(
        key, aad, lambda: _path_of(row.storage_name), row.size, "evidence"
    )
    if data is None:
        record_event(
            EventType.COMPLAINT_EVIDENCE_READ,
            actor=actor.label,
            actor_role=actor.role,
            customer_id=customer_id,
            record=record,
            purpose=PURPOSE,
            fields=[FIELD],
            outcome=Outcome.FAILED,
            details={"evidence": str(row.id), "problem": problem},
        )
        log.error("evidence %s unreadable: %s", row.id, problem)
        raise EvidenceUnreadable(problem, [Problem("evidence_id", "evidence_unreadable", problem)])
    record_event(
        EventType.COMPLAINT_EVIDENCE_READ,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        record=record,
        purpose=PURPOSE,
        fields=[FIELD],
        details={"evidence": str(row.id)},
    )
    return row, data


# -- erasure, re-key, orphans ----------------------------------------------------------------


def erase_evidence(customer_id: uuid.UUID, report: object = None) -> None:
    """Erasure hook (vault/erasure.py ERASURE_HOOKS): delete the customer's evidence rows in the
    erasure's transaction and their files once it commits (P18). Unreadable already: the key is
    destroyed after commit."""
    rows = ComplaintEvidence.objects.filter(complaint__customer_id=customer_id)
    paths: list[Path] = []
    for name in rows.values_list("storage_name", flat=True):
        with suppress(EvidenceUnreadable):  # a name Pledge never wrote: touch no file
            paths.append(_path_of(name))
    rows.delete()
    for path in paths:
        # robust: the erasure has committed; a file left behind is an orphan the sweep removes.
        transaction.on_commit(lambda gone=path: _remove(gone), robust=True)  # type: ignore[misc]


def rekey_evidence(customer_id: uuid.UUID, old_key: CustomerKey, new_key: CustomerKey) -> None:
    """Re-key hook (vault/rekey.py REKEY_HOOKS; P20): every evidence file of the customer is
    re-encrypted under the new key generation into a new file, in the re-key's transaction; the
    old files go after commit. If this hook fails, the files it wrote are removed."""
    written: list[Path] = []
    old_files: list[Path] = []
    try:
        for row in ComplaintEvidence.objects.filter(complaint__customer_id=customer_id):
            aad = evidence_aad(customer_id, row.complaint_id, row.id, row.content_type)
            try:
                old_path = _path_of(row.storage_name)
                data = old_key.decrypt_bytes(aad, old_path.read_bytes())
            except (EvidenceUnreadable, DecryptionFailed, OSError):
                # Missing or not ours: nothing to carry over (reading it reports the problem).
                log.warning("evidence %s not re-keyed: its file is unreadable", row.id)
                continue
            name = _new_name()
            path = evidence_dir() / name
            _write_atomically(path, new_key.encrypt_bytes(aad, data))
            written.append(path)
            old_files.append(old_path)
            ComplaintEvidence.objects.filter(pk=row.pk).update(storage_name=name)
    except BaseException:
        for path in written:
            _remove(path)
        raise
    for path in old_files:
        transaction.on_commit(lambda gone=path: _remove(gone), robust=True)  # type: ignore[misc]


def remove_orphan_files(older_than: dt.timedelta = dt.timedelta(hours=1)) -> int:
    """Remove files of the evidence directory no row names (an upload or re-key rolled back after
    the file was written, a removal after commit that failed) and stale temporary files, older
    than `older_than` so an upload in progress is left alone. Returns how many were removed."""
    folder = evidence_dir()
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
        if entry.name.endswith((_SUFFIX, _TMP_SUFFIX)):
            candidates[entry.name] = entry
    names = list(candidates)
    known: set[str] = set()
    for start in range(0, len(names), 500):
        known.update(
            ComplaintEvidence.objects.filter(
                storage_name__in=names[start : start + 500]
            ).values_list("storage_name", flat=True)
        )
    removed = 0
    for name, entry in candidates.items():
        if name not in known:
            with suppress(FileNotFoundError):
                entry.unlink()
                removed += 1
    return removed


def remove_orphan_files_job(now: dt.datetime) -> int:
    """Worker job: evidence files no row names any more, older than an hour."""
    return remove_orphan_files()
