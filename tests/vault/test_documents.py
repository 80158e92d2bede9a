"""Identity-document copies (P02: sensitive, encrypted files) on preset B: real database, files."""

from __future__ import annotations

import os
import shutil
import stat
import struct
import time
import uuid
import zlib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from pledge.audit.models import AuditEvent
from pledge.audit.services import AuditValueInvalid
from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import parse_policy
from pledge.policy.services import publish_policy
from pledge.vault import services
from pledge.vault.access import SUBJECT_ACCESS, Actor
from pledge.vault.documents import (
    DocumentUnreadable,
    FileTooLarge,
    delete_id_document,
    read_id_document,
    remove_orphan_files,
    store_id_document,
)
from pledge.vault.errors import AccessRefused, FieldsRefused, NotFound, ValuesInvalid
from pledge.vault.models import IdDocument

MARKER = b"PLEDGE-ID-CARD-PLAINTEXT-0123456789"


def png(extra: bytes = b"") -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + bytes([200, 30, 30]) * 4 for _ in range(4))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
        + chunk(b"tEXt", b"Comment\x00" + MARKER + extra)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    comment = MARKER + b" jpeg"
    return (
        b"\xff\xd8\xff\xe0"
        + struct.pack(">H", len(app0) + 2)
        + app0
        + b"\xff\xfe"
        + struct.pack(">H", len(comment) + 2)
        + comment
        + b"\xff\xd9"
    )


def webp() -> bytes:
    body = b"WEBPVP8 " + struct.pack("<I", len(MARKER)) + MARKER
    return b"RIFF" + struct.pack("<I", len(body)) + body


def pdf() -> bytes:
    return b"%PDF-1.4\n%" + MARKER + b"\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture(autouse=True)
def files_dir(settings: Any, tmp_path: Path) -> Path:
    folder = tmp_path / "files"
    settings.PLEDGE_FILES_DIR = folder
    return folder


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


def new_customer(actor: Actor, email: str = "hong.nhung@example.vn") -> uuid.UUID:
    return services.collect_customer(
        actor=actor,
        purpose="order_fulfilment",
        fields={"full_name": "Nguyễn Thị Hồng Nhung", "email": email},
    )


def store(
    actor: Actor, customer_id: uuid.UUID, content: bytes | None = None, ct: str = "image/png"
) -> uuid.UUID:
    return store_id_document(
        actor=actor,
        purpose="order_fulfilment",
        customer_id=customer_id,
        content=png() if content is None else content,
        content_type=ct,
    )


def last_event() -> AuditEvent:
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    return event


def test_a_document_is_stored_encrypted_and_read_back(
    leman: Any, shop_api: Actor, staff: Any, files_dir: Path
) -> None:
    cid = new_customer(shop_api)
    image = png()
    doc_id = store(shop_api, cid, image)
    doc = IdDocument.objects.get(pk=doc_id)
    assert (doc.customer_id, doc.content_type, doc.size) == (cid, "image/png", len(image))
    assert listing(files_dir) == [doc.storage_name]
    assert str(cid) not in doc.storage_name and cid.hex not in doc.storage_name
    assert str(doc_id) not in doc.storage_name and doc_id.hex not in doc.storage_name
    path = files_dir / doc.storage_name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    blob = path.read_bytes()
    # Nothing of the image is in the file: not the marker, not the PNG signature, no 16 bytes.
    assert MARKER not in blob and b"PNG" not in blob and b"IHDR" not in blob
    assert not any(image[i : i + 16] in blob for i in range(len(image) - 16))
    event = last_event()
    assert (event.type, event.fields, event.record) == (
        "vault:id_document_stored",
        "id_document",
        f"id_document:{doc_id}",
    )

    content, ct = read_id_document(
        actor=staff("sales"), purpose="order_fulfilment", customer_id=cid, document_id=doc_id
    )
    assert (content, ct) == (image, "image/png")
    event = last_event()
    assert (event.type, event.outcome, event.actor_role) == (
        "vault:id_document_read",
        "ok",
        "sales",
    )

    me = Actor(kind="customer", id=str(cid))
    assert read_id_document(
        actor=me, purpose=SUBJECT_ACCESS, customer_id=cid, document_id=doc_id
    ) == (image, "image/png")


@pytest.mark.parametrize(
    ("make", "declared", "kept"),
    [
        (jpeg, "image/jpeg", "image/jpeg"),
        (jpeg, "image/jpg", "image/jpeg"),
        (png, "IMAGE/PNG; charset=binary", "image/png"),
        (webp, "image/webp", "image/webp"),
        (pdf, "application/pdf", "application/pdf"),
    ],
)
def test_jpeg_png_webp_and_pdf_are_accepted(
    leman: Any, shop_api: Actor, make: Any, declared: str, kept: str
) -> None:
    cid = new_customer(shop_api)
    doc_id = store(shop_api, cid, make(), declared)
    content, ct = read_id_document(
        actor=shop_api, purpose="order_fulfilment", customer_id=cid, document_id=doc_id
    )
    assert (content, ct) == (make(), kept)


def _nothing_written(files_dir: Path, events_before: int) -> None:
    assert listing(files_dir) == []
    assert not IdDocument.objects.exists()
    assert AuditEvent.objects.count() == events_before


def test_an_upload_over_the_limit_is_refused_and_nothing_written(
    leman: Any, shop_api: Actor, settings: Any, files_dir: Path
) -> None:
    settings.PLEDGE_ID_DOCUMENT_MAX_BYTES = 2048
    cid = new_customer(shop_api)
    store(shop_api, cid, png(b"x" * 1000))  # under the limit: fine
    IdDocument.objects.all().delete()
    for name in listing(files_dir):
        (files_dir / name).unlink()
    before = AuditEvent.objects.count()
    with pytest.raises(FileTooLarge) as err:
        store(shop_api, cid, png(b"x" * 2048))
    assert err.value.status == 413
    assert (err.value.problems[0].field, err.value.problems[0].rule) == ("content", "max_size")
    _nothing_written(files_dir, before)


@pytest.mark.parametrize(
    ("content", "declared", "rule"),
    [
        (b"GIF89a" + MARKER, "image/gif", "file_type"),
        (b"<html><script>alert(1)</script></html>", "image/png", "file_type"),
        (b"MZ\x90\x00" + b"\x00" * 60, "application/pdf", "file_type"),
        (b"", "image/png", "required"),
        (png(), "image/jpeg", "content_type_mismatch"),
        (pdf(), "image/png", "content_type_mismatch"),
        (jpeg(), "", "content_type_mismatch"),
    ],
)
def test_wrong_or_mismatched_types_are_refused_and_nothing_written(
    leman: Any, shop_api: Actor, files_dir: Path, content: bytes, declared: str, rule: str
) -> None:
    cid = new_customer(shop_api)
    before = AuditEvent.objects.count()
    with pytest.raises(ValuesInvalid) as err:
        store(shop_api, cid, content, declared)
    assert err.value.problems[0].rule == rule
    assert MARKER.decode() not in err.value.problems[0].message
    _nothing_written(files_dir, before)


def test_a_purpose_that_does_not_collect_id_documents_is_refused_and_audited(
    leman: Any, shop_api: Actor, files_dir: Path
) -> None:
    cid = new_customer(shop_api)
    with pytest.raises(FieldsRefused) as err:
        store_id_document(
            actor=shop_api,
            purpose="guarantee",
            customer_id=cid,
            content=png(),
            content_type="image/png",
        )
    assert (err.value.problems[0].field, err.value.problems[0].rule) == (
        "id_document",
        "not_declared_for_purpose",
    )
    event = last_event()
    assert (event.type, event.outcome, event.fields) == (
        "vault:write_refused",
        "refused",
        "id_document",
    )
    assert listing(files_dir) == [] and not IdDocument.objects.exists()


def test_reading_without_the_field_is_refused_and_audited(
    leman: Any, shop_api: Actor, staff: Any
) -> None:
    cid = new_customer(shop_api)
    doc_id = store(shop_api, cid)
    # Accounting confirms transactions: that purpose does not read identity documents.
    with pytest.raises(AccessRefused) as err:
        read_id_document(
            actor=staff("accounting"),
            purpose="transaction_confirmation",
            customer_id=cid,
            document_id=doc_id,
        )
    assert err.value.problems[0].rule == "field_not_visible"
    event = last_event()
    assert (event.type, event.outcome, event.fields, event.record) == (
        "vault:access_refused",
        "refused",
        "id_document",
        f"id_document:{doc_id}",
    )
    # …and accounting may not use the purpose that does.
    with pytest.raises(AccessRefused) as err:
        read_id_document(
            actor=staff("accounting"),
            purpose="order_fulfilment",
            customer_id=cid,
            document_id=doc_id,
        )
    assert err.value.problems[0].rule == "role_not_allowed"
    assert last_event().outcome == "refused"
    # Another customer is refused their neighbour's documents.
    other = Actor(kind="customer", id=str(new_customer(shop_api, "other@example.vn")))
    with pytest.raises(AccessRefused):
        read_id_document(actor=other, purpose=SUBJECT_ACCESS, customer_id=cid, document_id=doc_id)
    assert last_event().outcome == "refused"


def test_access_roles_of_a_sensitive_field_limit_who_reads_it(db: None, staff: Any) -> None:
    """Decree 356 Art 4: a policy may give ID documents to named roles only (P09)."""
    data = yaml.safe_load(
        (resources.files("pledge.policy") / "presets" / "leman-jewelry.yaml").read_text("utf-8")
    )
    data["version"] = "1-id-owner-only"
    for field in data["fields"]:
        if field["key"] == "id_document":
            field["access_roles"] = ["owner"]
    clear_policy_cache()
    loaded = parse_policy(yaml.safe_dump(data, allow_unicode=True), source="test")
    publish_policy(loaded, actor="test", effective_date=loaded.policy.effective_date)
    clear_policy_cache()
    try:
        shop = Actor(kind="api", id="backend")
        cid = new_customer(shop)
        doc_id = store(shop, cid)
        with pytest.raises(AccessRefused) as err:
            read_id_document(
                actor=staff("sales"),
                purpose="order_fulfilment",
                customer_id=cid,
                document_id=doc_id,
            )
        assert err.value.problems[0].rule == "field_not_visible"
        assert last_event().type == "vault:access_refused"
        content, _ = read_id_document(
            actor=staff("owner"), purpose="state_requests", customer_id=cid, document_id=doc_id
        )
        assert content == png()
    finally:
        clear_policy_cache()


def test_a_file_moved_to_another_document_or_customer_does_not_decrypt(
    leman: Any, shop_api: Actor, files_dir: Path
) -> None:
    cid = new_customer(shop_api)
    other = new_customer(shop_api, "other@example.vn")
    first, second = store(shop_api, cid, png()), store(shop_api, cid, png(b"-2"))
    theirs = store(shop_api, other, png(b"-3"))
    name = dict(IdDocument.objects.values_list("id", "storage_name"))
    original = (files_dir / name[first]).read_bytes()

    for victim, owner in ((second, cid), (theirs, other)):
        shutil.copyfile(files_dir / name[first], files_dir / name[victim])
        with pytest.raises(DocumentUnreadable):
            read_id_document(
                actor=shop_api, purpose="order_fulfilment", customer_id=owner, document_id=victim
            )
        event = last_event()
        assert (event.type, event.outcome, event.record) == (
            "vault:id_document_read",
            "failed",
            f"id_document:{victim}",
        )

    # The untouched original still reads; relabelled as a PDF it does not (the type is bound).
    assert (files_dir / name[first]).read_bytes() == original
    assert read_id_document(
        actor=shop_api, purpose="order_fulfilment", customer_id=cid, document_id=first
    ) == (png(), "image/png")
    IdDocument.objects.filter(pk=first).update(content_type="application/pdf")
    with pytest.raises(DocumentUnreadable):
        read_id_document(
            actor=shop_api, purpose="order_fulfilment", customer_id=cid, document_id=first
        )
    # A file name Pledge never wrote is not followed out of the directory.
    IdDocument.objects.filter(pk=first).update(content_type="image/png", storage_name="../x.enc")
    with pytest.raises(DocumentUnreadable):
        read_id_document(
            actor=shop_api, purpose="order_fulfilment", customer_id=cid, document_id=first
        )


def test_a_failed_transaction_removes_the_file(leman: Any, files_dir: Path) -> None:
    # The audit log refuses an actor holding its column separator: the transaction that would
    # create the row rolls back after the file was written, and the file must go with it.
    good = Actor(kind="api", id="backend")
    cid = new_customer(good)
    bad = Actor(kind="api", id="backend\x1fx")
    with pytest.raises(AuditValueInvalid):
        store(bad, cid)
    assert listing(files_dir) == []
    assert not IdDocument.objects.exists()


def test_documents_are_found_only_under_their_customer(leman: Any, shop_api: Actor) -> None:
    cid = new_customer(shop_api)
    other = new_customer(shop_api, "other@example.vn")
    doc_id = store(shop_api, cid)
    with pytest.raises(NotFound):
        read_id_document(
            actor=shop_api, purpose="order_fulfilment", customer_id=other, document_id=doc_id
        )
    with pytest.raises(NotFound):
        read_id_document(
            actor=shop_api, purpose="order_fulfilment", customer_id=cid, document_id=uuid.uuid4()
        )


def test_deleting_a_document_removes_row_and_file(
    leman: Any,
    shop_api: Actor,
    files_dir: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    cid = new_customer(shop_api)
    doc_id = store(shop_api, cid)
    kept = store(shop_api, cid, jpeg(), "image/jpeg")
    with django_capture_on_commit_callbacks(execute=True):
        delete_id_document(
            actor=shop_api, purpose="order_fulfilment", customer_id=cid, document_id=doc_id
        )
    assert list(IdDocument.objects.values_list("id", flat=True)) == [kept]
    assert listing(files_dir) == [IdDocument.objects.get(pk=kept).storage_name]
    event = last_event()
    assert (event.type, event.record, event.fields) == (
        "vault:id_document_deleted",
        f"id_document:{doc_id}",
        "id_document",
    )
    with pytest.raises(NotFound):
        read_id_document(
            actor=shop_api, purpose="order_fulfilment", customer_id=cid, document_id=doc_id
        )
    with pytest.raises(FieldsRefused):
        delete_id_document(actor=shop_api, purpose="guarantee", customer_id=cid, document_id=kept)
    assert last_event().outcome == "refused"


def test_orphan_files_are_swept(leman: Any, shop_api: Actor, files_dir: Path) -> None:
    cid = new_customer(shop_api)
    doc_id = store(shop_api, cid)
    orphan = files_dir / f"{'ab' * 24}.enc"
    stale_tmp = files_dir / f".{'cd' * 24}.enc.tmp"
    fresh = files_dir / f"{'ef' * 24}.enc"
    for path in (orphan, stale_tmp, fresh):
        path.write_bytes(b"\x01" + os.urandom(40))
    an_hour_ago = time.time() - 7200
    for path in (orphan, stale_tmp, files_dir / IdDocument.objects.get(pk=doc_id).storage_name):
        os.utime(path, (an_hour_ago, an_hour_ago))
    assert remove_orphan_files() == 2
    assert sorted(listing(files_dir)) == sorted(
        [fresh.name, IdDocument.objects.get(pk=doc_id).storage_name]
    )
