"""Shared by the key-store, erasure, restriction and re-key tests (tests/vault/test_keystore.py,
test_erasure.py, test_restriction.py, test_rekey.py).

- `own_keystore`: `keystore()` pointed at a file of the test's own. The session's key store
  outlives each test's rolled-back database, and `flush_shreds` destroys keys of customers the
  database does not know, so tests that shred must not share one.
- `leman_with_notes`: preset B plus staff notes (B declares none), so that one customer can have
  something in every place the vault keeps data; `james`: preset A, which keeps the buyer's name
  on invoices (a field under the Accounting Law's 10-year hold).
- `customer_with_everything`: profile, order, guarantee card, identity document (a real file),
  card, invoice, staff note, two live consents, through the real services.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.db import transaction
from django.utils import timezone

from pledge.notify.models import OutboxMessage
from pledge.notify.services import enqueue
from pledge.policy.enforcement import EnforcedPolicy, clear_policy_cache, enforced_policy
from pledge.policy.loader import load_policy, parse_policy
from pledge.policy.services import publish_policy
from pledge.vault import services
from pledge.vault.access import Actor
from pledge.vault.documents import store_id_document
from pledge.vault.invoices import issue_invoice
from pledge.vault.keystore import KeyStore, keystore
from pledge.vault.notes import add_staff_note
from pledge.vault.payments import CardInput, authorize_payment

PERSON = {
    "full_name": "Đặng Thị Thu Xoá",
    "email": "thu.xoa.erase@ví-dụ.vn",
    "phone": "0912 604 381",
    "address": "17 Hàng Khay, Hoàn Kiếm, Hà Nội",
}
BUYER = {"full_name": "Phan Văn Người Nhận", "phone": "0868 250 913"}
GUARANTEE_NUMBER = "LM-BH-2026-00417"
NOTE = "Khách muốn khắc tên lên nhẫn; gọi sau 17h."
SCAN_MARKER = b"ID-CARD-SCAN-OF-THU-XOA"


@pytest.fixture
def own_keystore(settings: Any, tmp_path: Path) -> Iterator[KeyStore]:
    settings.PLEDGE_KEYSTORE_PATH = tmp_path / "keys" / "keystore.sqlite3"
    yield keystore()
    keystore().close()


def publish(loaded: Any) -> EnforcedPolicy:
    clear_policy_cache()
    publish_policy(loaded, actor="test", effective_date=loaded.policy.effective_date)
    clear_policy_cache()
    return enforced_policy()


@pytest.fixture
def leman_with_notes(db: None) -> Iterator[EnforcedPolicy]:
    """Preset B plus `staff_notes`, written by customer service for `customer_care`."""
    data = yaml.safe_load(
        (resources.files("pledge.policy") / "presets" / "leman-jewelry.yaml").read_text("utf-8")
    )
    data["version"] = "1-staff-notes"
    data["fields"].append({"key": "staff_notes", "source": "staff", "records": ["staff_note"]})
    data["purposes"].append(
        {
            "key": "customer_care",
            "name": {"vi": "Chăm sóc khách hàng", "en": "Customer care"},
            "description": {
                "vi": "Ghi chú của nhân viên để phục vụ khách hàng tốt hơn.",
                "en": "Staff notes to serve the customer better.",
            },
            "basis": "legitimate_interest",
            "fields": ["staff_notes"],
            "unmasked": ["staff_notes"],
            "roles": ["customer_service"],
        }
    )
    yield publish(parse_policy(yaml.safe_dump(data, allow_unicode=True), source="test"))
    clear_policy_cache()


@pytest.fixture
def james(db: None) -> Iterator[EnforcedPolicy]:
    """Preset A (James Jewelry): the buyer's name is kept on invoices."""
    yield publish(load_policy("james-jewelry"))
    clear_policy_cache()


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    raw = b"".join(b"\x00" + bytes([10, 200, 30]) * 4 for _ in range(4))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
        + chunk(b"tEXt", b"Comment\x00" + SCAN_MARKER)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def luhn(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return partial + str((10 - total % 10) % 10)


def card() -> CardInput:
    return CardInput(
        number=luhn("491633805127941"),
        expiry_month=11,
        expiry_year=2031,
        holder="DANG THI THU XOA",
        cvc="318",
    )


def files_of(store: KeyStore) -> bytes:
    """Every byte of the key store on disk: the database file and its -wal (and -shm)."""
    return b"".join(p.read_bytes() for p in sorted(store.path.parent.glob(store.path.name + "*")))


def queue_mail(customer_id: uuid.UUID, to: str = PERSON["email"]) -> OutboxMessage:
    with transaction.atomic():
        return enqueue(
            to=to,
            template="accounts/email/password_reset",
            language="en",
            context={"shop": "Leman Jewelry", "url": "https://privacy.example/r/x/", "hours": 1},
            idempotency_key=f"test:{uuid.uuid4()}",
            customer_id=customer_id,
        )


_numbers = iter(range(1, 1_000_000))


@dataclass(frozen=True)
class Everything:
    customer_id: uuid.UUID
    order_id: uuid.UUID
    guarantee_id: uuid.UUID
    document_id: uuid.UUID
    invoice_id: uuid.UUID
    note_id: uuid.UUID | None
    guarantee_number: str


def customer_with_everything(
    shop: Actor, *, person: dict[str, str] = PERSON, notes: bool = False, guarantee: str = ""
) -> Everything:
    """A preset-B customer with data in every place the vault keeps some (staff notes only with
    `leman_with_notes`)."""
    n = next(_numbers)
    cid = services.collect_customer(actor=shop, purpose="order_fulfilment", fields=person)
    # Consent-based purposes: live consents for the erasure to withdraw.
    for purpose in ("customer_database", "service_notices"):
        services.update_customer(
            actor=shop,
            purpose=purpose,
            customer_id=cid,
            fields={"email": person["email"]},
            consent_method="checkbox",
        )
    oid = services.place_order(
        actor=shop,
        purpose="order_fulfilment",
        customer_id=cid,
        number=f"LM-ER-{n}",
        items=[{"sku": "R-1", "name": "Nhẫn vàng 18K", "quantity": 1, "unit_price": "5200000"}],
        total="5200000",
        fields=BUYER,
    )
    number = guarantee or f"{GUARANTEE_NUMBER}-{n}"
    gid = services.issue_guarantee(
        actor=shop,
        purpose="guarantee",
        customer_id=cid,
        number=number,
        product="Nhẫn vàng 18K",
        issued_on=timezone.localdate(),
        valid_until=timezone.localdate().replace(year=2030),
        order_id=oid,
    )
    doc = store_id_document(
        actor=shop,
        purpose="order_fulfilment",
        customer_id=cid,
        content=png(),
        content_type="image/png",
    )
    result = authorize_payment(
        actor=shop, purpose="payment", customer_id=cid, order_id=oid, card=card()
    )
    assert result.authorized
    inv = issue_invoice(
        actor=shop, purpose="payment", customer_id=cid, order_id=oid, number=f"INV-ER-{n}"
    )
    note = None
    if notes:
        note = add_staff_note(
            actor=Actor(kind="staff", id="7", role="customer_service"),
            purpose="customer_care",
            customer_id=cid,
            text=NOTE,
        )
    return Everything(cid, oid, gid, doc, inv, note, number)
