"""Evidence attachments (complaints/evidence.py): limits naming the rule with nothing written,
encryption under the customer's key, NotFound for another customer's ids, erasure deletes the
files, a re-key re-encrypts them, the orphan sweep."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from pledge.audit.models import AuditEvent
from pledge.complaints import services
from pledge.complaints.evidence import (
    EvidenceRefused,
    read_evidence,
    remove_orphan_files,
    store_evidence,
)
from pledge.complaints.models import Complaint, ComplaintEvidence
from pledge.jobs import JOBS
from pledge.vault import services as vault
from pledge.vault.access import Actor
from pledge.vault.crypto import DecryptionFailed
from pledge.vault.erasure import erase_customer
from pledge.vault.errors import AccessRefused, NotFound
from pledge.vault.rekey import rekey_customer
from pledge.vault.store import customer_key
from tests.complaints.conftest import TEXT, me
from tests.console.staffing import make_staff

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SYSTEM = Actor(kind="system", id="test")


@pytest.fixture(autouse=True)
def evidence_dir(settings: Any, tmp_path: Path) -> Path:
    settings.PLEDGE_EVIDENCE_DIR = tmp_path / "evidence"
    return Path(settings.PLEDGE_EVIDENCE_DIR)


@pytest.fixture
def complaint(customer: uuid.UUID) -> Complaint:
    return services.file_complaint(
        actor=me(customer), customer_id=customer, channel="privacy_center", text=TEXT
    )


@pytest.fixture
def other(leman: Any, shop_api: Actor) -> Complaint:
    cid: uuid.UUID = vault.collect_customer(
        actor=shop_api, purpose="order_fulfilment", fields={"full_name": "Trần Văn Bình"}
    )
    return services.file_complaint(
        actor=me(cid), customer_id=cid, channel="privacy_center", text=TEXT
    )


def store(complaint: Complaint, content: bytes = PNG, content_type: str = "image/png") -> Any:
    return store_evidence(
        actor=me(uuid.UUID(str(complaint.customer_id))),
        complaint_id=complaint.id,
        filename="ảnh-chụp Nguyễn Thị Hồng Nhung.png",
        content=content,
        content_type=content_type,
    )


def files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_evidence_is_encrypted_under_the_customer_key_and_read_back(
    complaint: Complaint, evidence_dir: Path
) -> None:
    row = store(complaint, PDF, "application/pdf")
    [path] = files(evidence_dir)
    assert path.name == row.storage_name and oct(path.stat().st_mode & 0o777) == "0o600"
    blob = path.read_bytes()
    assert PDF not in blob and b"%PDF" not in blob
    assert "Nguyễn" not in row.storage_name  # the original file name is not kept
    stored = json.loads(AuditEvent.objects.get(type="complaints:evidence_stored").details)
    assert stored == {
        "content_type": "application/pdf",
        "size": len(PDF),
        "channel": "privacy_center",
    }
    found, data = read_evidence(
        actor=me(uuid.UUID(str(complaint.customer_id))),
        complaint_id=complaint.id,
        evidence_id=row.id,
    )
    assert data == PDF and found.content_type == "application/pdf"
    read = AuditEvent.objects.get(type="complaints:evidence_read")
    assert json.loads(read.details) == {"evidence": str(row.id)}
    # Staff read it as the policy's roles allow (P09): customer service yes, marketing no.
    staff = Actor(kind="staff", id="7", role="customer_service")
    assert read_evidence(actor=staff, complaint_id=complaint.id, evidence_id=row.id)[1] == PDF
    with pytest.raises(AccessRefused):
        read_evidence(
            actor=Actor(kind="staff", id="8", role="marketing"),
            complaint_id=complaint.id,
            evidence_id=row.id,
        )


def test_plain_utf8_text_is_accepted(complaint: Complaint) -> None:
    row = store(complaint, "Hóa đơn số 12\n".encode(), "text/plain; charset=utf-8")
    assert row.content_type == "text/plain"


@pytest.mark.parametrize(
    ("content", "content_type", "rule", "status"),
    [
        (b"", "image/png", "required", 422),
        (b"\x89PNG" + b"\x00" * 2000, "image/png", "max_size", 413),
        (PNG, "image/jpeg", "content_type_mismatch", 422),
        (
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(range(256)),
            "application/pdf",
            "file_type",
            415,
        ),
        (b"\xff\xfe not utf-8 \x00\x01", "text/plain", "file_type", 415),
        ("not bytes", "text/plain", "type", 422),
    ],
)
def test_limits_name_the_rule_and_nothing_is_written(
    complaint: Complaint,
    evidence_dir: Path,
    settings: Any,
    content: Any,
    content_type: str,
    rule: str,
    status: int,
) -> None:
    settings.PLEDGE_EVIDENCE_MAX_BYTES = 1024
    with pytest.raises(EvidenceRefused) as caught:
        store(complaint, content, content_type)
    assert caught.value.rule == rule and caught.value.status == status
    assert caught.value.problems[0].rule == rule
    assert not ComplaintEvidence.objects.exists() and files(evidence_dir) == []
    assert not AuditEvent.objects.filter(type="complaints:evidence_stored").exists()


def test_at_most_max_files_per_complaint(
    complaint: Complaint, evidence_dir: Path, settings: Any
) -> None:
    settings.PLEDGE_EVIDENCE_MAX_FILES = 2
    store(complaint)
    store(complaint, PDF, "application/pdf")
    with pytest.raises(EvidenceRefused) as caught:
        store(complaint)
    assert caught.value.rule == "max_files" and "at most 2" in caught.value.message
    assert ComplaintEvidence.objects.count() == 2 and len(files(evidence_dir)) == 2


def test_a_role_that_sees_complaint_texts_masked_does_not_open_evidence(
    complaint: Complaint,
) -> None:
    from tests.complaints.conftest import publish_unmasked_complaints

    row = store(complaint)
    publish_unmasked_complaints([])  # complaint_details masked for every role
    user = make_staff("customer_service")
    staff = Actor(kind="staff", id=str(user.pk), role="customer_service")
    with pytest.raises(AccessRefused):
        read_evidence(actor=staff, complaint_id=complaint.id, evidence_id=row.id)
    assert AuditEvent.objects.filter(
        type="vault:access_refused", details__contains="masked_for_role"
    ).exists()
    assert not AuditEvent.objects.filter(type="complaints:evidence_read").exists()


def test_a_policy_that_takes_no_evidence_refuses_it(complaint: Complaint) -> None:
    from tests.complaints.test_complainants import publish_variant

    publish_variant(lambda data: data["complaints"].update(evidence_accepted=False))
    with pytest.raises(EvidenceRefused) as caught:
        store(complaint)
    assert caught.value.rule == "evidence_not_accepted"


def test_another_customers_ids_answer_not_found_like_unknown_ones(
    complaint: Complaint, other: Complaint, evidence_dir: Path
) -> None:
    mine = store(complaint)
    theirs = store(other)
    me_actor = me(uuid.UUID(str(complaint.customer_id)))
    unknown = uuid.uuid4()
    messages = set()
    for complaint_id, evidence_id in [
        (other.id, theirs.id),  # their complaint, their evidence
        (complaint.id, theirs.id),  # my complaint, their evidence
        (unknown, mine.id),
        (complaint.id, unknown),
        ("not-a-uuid", mine.id),
    ]:
        with pytest.raises(NotFound) as caught:
            read_evidence(actor=me_actor, complaint_id=complaint_id, evidence_id=evidence_id)  # type: ignore[arg-type]
        messages.add(caught.value.message)
    assert messages == {"no such complaint", "no such evidence for this complaint"}
    with pytest.raises(NotFound, match="no such complaint"):
        store_evidence(
            actor=me_actor,
            complaint_id=other.id,
            filename=None,
            content=PNG,
            content_type="image/png",
        )
    assert ComplaintEvidence.objects.count() == 2
    assert not AuditEvent.objects.filter(type="complaints:evidence_read").exists()


def test_erasure_deletes_the_evidence_rows_and_files(
    complaint: Complaint,
    other: Complaint,
    evidence_dir: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    store(complaint)
    kept = store(other)
    with django_capture_on_commit_callbacks(execute=True):
        erase_customer(actor=SYSTEM, customer_id=uuid.UUID(str(complaint.customer_id)))
    assert list(ComplaintEvidence.objects.values_list("id", flat=True)) == [kept.id]
    assert [p.name for p in files(evidence_dir)] == [kept.storage_name]


def test_a_rekey_re_encrypts_the_files_under_the_new_key(
    complaint: Complaint, evidence_dir: Path, django_capture_on_commit_callbacks: Any
) -> None:
    customer_id = uuid.UUID(str(complaint.customer_id))
    row = store(complaint)
    old_key = customer_key(customer_id)
    old_blob = (evidence_dir / row.storage_name).read_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        rekey_customer(actor=SYSTEM, customer_id=customer_id)
    row.refresh_from_db()
    [path] = files(evidence_dir)
    assert path.name == row.storage_name  # a new file; the old one is gone
    new_blob = path.read_bytes()
    assert new_blob != old_blob
    from pledge.complaints.evidence import evidence_aad

    aad = evidence_aad(customer_id, complaint.id, row.id, row.content_type)
    with pytest.raises(DecryptionFailed):
        old_key.decrypt_bytes(aad, new_blob)
    assert customer_key(customer_id).decrypt_bytes(aad, new_blob) == PNG
    assert (
        read_evidence(actor=me(customer_id), complaint_id=complaint.id, evidence_id=row.id)[1]
        == PNG
    )


def test_the_orphan_sweep_removes_old_files_no_row_names(
    complaint: Complaint, evidence_dir: Path
) -> None:
    assert "pledge.complaints.evidence.remove_orphan_files_job" in JOBS
    row = store(complaint)
    old = time.time() - 7200
    orphan = evidence_dir / f"{'ab' * 24}.evd"
    orphan.write_bytes(b"left by a rolled-back upload")
    stale_tmp = evidence_dir / f".{'cd' * 24}.evd.tmp"
    stale_tmp.write_bytes(b"x")
    young = evidence_dir / f"{'ef' * 24}.evd"
    young.write_bytes(b"an upload in progress")
    foreign = evidence_dir / "README"
    foreign.write_bytes(b"not ours")
    for path in (evidence_dir / row.storage_name, orphan, stale_tmp, foreign):
        os.utime(path, (old, old))
    assert remove_orphan_files() == 2
    assert {p.name for p in files(evidence_dir)} == {row.storage_name, young.name, "README"}
