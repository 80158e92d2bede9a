"""A ciphertext is bound to its customer, record kind, record and field (AES-GCM associated data),
and a wrapped data key to its customer: someone with write access to the database who moves or
flips bytes gets a VaultError from the services, never the moved value (vault/crypto.py).

The tampering is raw SQL on the real rows, so no model code runs: the attacker has the database,
not the application.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from pledge.audit.models import AuditEvent
from pledge.vault import documents, services
from pledge.vault.access import SUBJECT_ACCESS, Actor
from pledge.vault.errors import NotFound, VaultError
from pledge.vault.keystore import StoredKey, keystore
from pledge.vault.models import EncryptedValue, IdDocument, RecordKind
from pledge.vault.store import KeyUnavailable

A = {
    "full_name": "Võ Thị Thanh Tuyền",
    "email": "thanh.tuyen.bind@example.vn",
    "phone": "0912 555 017",
    "address": "19 Phố Hàng Gai, Hoàn Kiếm, Hà Nội",
}
B = {
    "full_name": "Đặng Quốc Bảo Long",
    "email": "quoc.bao.bind@example.vn",
    "phone": "0903 111 249",
    "address": "7 Đường Nguyễn Huệ, Quận 1, TP Hồ Chí Minh",
}
A_ORDER_NAMES = ("Võ Thanh Tuyền (nhận hộ)", "Trịnh Minh Khôi (người nhận)")
GUARANTEE = "BH-BIND-0001"

# A tiny PNG: the document check reads the type from the bytes.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


class Shop:
    """Two customers, A (two orders, a guarantee card) and B (one order), written through the
    services; ids kept for the tampering."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self.a = services.collect_customer(actor=actor, purpose="order_fulfilment", fields=A)
        self.b = services.collect_customer(actor=actor, purpose="order_fulfilment", fields=B)
        self.a_orders = [
            services.place_order(
                actor=actor,
                purpose="order_fulfilment",
                customer_id=self.a,
                number=f"LM-BIND-A{i}",
                items=[{"sku": "R", "name": "Ring", "quantity": 1, "unit_price": "100"}],
                total="100",
                fields={"full_name": name, "address": A["address"]},
            )
            for i, name in enumerate(A_ORDER_NAMES)
        ]
        self.b_order = services.place_order(
            actor=actor,
            purpose="order_fulfilment",
            customer_id=self.b,
            number="LM-BIND-B0",
            items=[{"sku": "R", "name": "Ring", "quantity": 1, "unit_price": "100"}],
            total="100",
            fields={"full_name": B["full_name"]},
        )
        self.a_card = services.issue_guarantee(
            actor=actor,
            purpose="guarantee",
            customer_id=self.a,
            number=GUARANTEE,
            product="Nhẫn bạc",
            issued_on=dt.date(2026, 1, 5),
            valid_until=dt.date(2027, 1, 5),
        )

    def read_all(self, customer_id: uuid.UUID) -> dict[str, Any]:
        """Everything the customer's own access shows: profile and orders, whole."""
        me = Actor(kind="customer", id=str(customer_id))
        profile = services.read_customer(actor=me, purpose=SUBJECT_ACCESS, customer_id=customer_id)
        orders = services.list_orders(actor=me, purpose=SUBJECT_ACCESS, customer_id=customer_id)
        return {"profile": profile.fields, "orders": [o.fields for o in orders]}


@pytest.fixture
def shop(leman: Any, shop_api: Actor) -> Shop:
    return Shop(shop_api)


def value_pk(customer_id: uuid.UUID, kind: str, record_id: uuid.UUID, field: str) -> int:
    return EncryptedValue.objects.values_list("pk", flat=True).get(
        customer_id=customer_id, record_kind=kind, record_id=record_id, field=field
    )


def ciphertext(pk: int) -> bytes:
    table = connection.ops.quote_name(EncryptedValue._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ciphertext FROM {table} WHERE id = %s", [pk])
        (blob,) = cursor.fetchone()
    return bytes(blob)


def write_ciphertext(pk: int, blob: bytes) -> None:
    table = connection.ops.quote_name(EncryptedValue._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET ciphertext = %s WHERE id = %s", [blob, pk])
        assert cursor.rowcount == 1


def wrapped_key(customer_id: uuid.UUID) -> tuple[int, bytes]:
    found = keystore().get(customer_id, 0)
    assert found is not None
    return found


def write_wrapped_key(customer_id: uuid.UUID, version: int, blob: bytes) -> None:
    keystore().rewrap([StoredKey(customer_id, 0, version, blob)])
    assert keystore().get(customer_id, 0) == (version, blob)


def _uuid_param(value: uuid.UUID) -> object:
    # Django keeps UUIDs as 32 hex digits on SQLite and as uuid on PostgreSQL.
    return value if connection.vendor == "postgresql" else value.hex


def flip(blob: bytes, index: int) -> bytes:
    data = bytearray(blob)
    data[index] ^= 0x01
    return bytes(data)


def assert_refused_without_leaking(read: Callable[[], object], *secrets: str) -> VaultError:
    """The read raises a VaultError (not NotFound) that names none of the values."""
    with pytest.raises(VaultError) as err:
        read()
    assert not isinstance(err.value, NotFound)
    text = f"{err.value} {err.value.message} {[p.as_dict() for p in err.value.problems]}"
    for secret in secrets:
        assert secret not in text
    return err.value


def test_untampered_values_decrypt(shop: Shop) -> None:
    a = shop.read_all(shop.a)
    assert a["profile"]["full_name"] == A["full_name"]
    assert sorted(o["full_name"] for o in a["orders"]) == sorted(A_ORDER_NAMES)
    assert shop.read_all(shop.b)["profile"]["full_name"] == B["full_name"]


# -- moved ciphertexts -----------------------------------------------------------------------


def test_ciphertext_copied_onto_another_customers_row_does_not_decrypt(shop: Shop) -> None:
    src = value_pk(shop.a, RecordKind.PROFILE, shop.a, "full_name")
    dst = value_pk(shop.b, RecordKind.PROFILE, shop.b, "full_name")
    write_ciphertext(dst, ciphertext(src))
    assert_refused_without_leaking(lambda: shop.read_all(shop.b), A["full_name"])
    staff = Actor(kind="staff", id="7", role="sales")
    assert_refused_without_leaking(
        lambda: services.read_customer(actor=staff, purpose="order_fulfilment", customer_id=shop.b),
        A["full_name"],
    )
    # The source is untouched and still opens.
    assert shop.read_all(shop.a)["profile"]["full_name"] == A["full_name"]


def test_row_reassigned_to_another_customer_does_not_decrypt(shop: Shop) -> None:
    """The whole row moved: customer and record id rewritten to B's (B's own row removed)."""
    table = connection.ops.quote_name(EncryptedValue._meta.db_table)
    src = value_pk(shop.a, RecordKind.PROFILE, shop.a, "email")
    dst = value_pk(shop.b, RecordKind.PROFILE, shop.b, "email")
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [dst])
        cursor.execute(
            f"UPDATE {table} SET customer_id = %s, record_id = %s WHERE id = %s",
            [_uuid_param(shop.b), _uuid_param(shop.b), src],
        )
    assert EncryptedValue.objects.get(pk=src).customer_id == shop.b
    assert_refused_without_leaking(lambda: shop.read_all(shop.b), A["email"])


def test_ciphertext_copied_onto_another_field_of_the_same_record_does_not_decrypt(
    shop: Shop,
) -> None:
    src = value_pk(shop.a, RecordKind.PROFILE, shop.a, "email")
    dst = value_pk(shop.a, RecordKind.PROFILE, shop.a, "full_name")
    write_ciphertext(dst, ciphertext(src))
    assert_refused_without_leaking(lambda: shop.read_all(shop.a), A["email"])


def test_ciphertext_copied_onto_another_record_kind_does_not_decrypt(shop: Shop) -> None:
    """An order's buyer name moved onto the same customer's profile (same data key)."""
    src = value_pk(shop.a, RecordKind.ORDER, shop.a_orders[1], "full_name")
    dst = value_pk(shop.a, RecordKind.PROFILE, shop.a, "full_name")
    write_ciphertext(dst, ciphertext(src))
    assert_refused_without_leaking(lambda: shop.read_all(shop.a), A_ORDER_NAMES[1])


def test_profile_value_copied_onto_a_guarantee_card_does_not_decrypt(shop: Shop) -> None:
    src = value_pk(shop.a, RecordKind.PROFILE, shop.a, "address")
    dst = value_pk(shop.a, RecordKind.GUARANTEE, shop.a_card, "guarantee_number")
    write_ciphertext(dst, ciphertext(src))
    desk = Actor(kind="staff", id="3", role="customer_service")
    assert_refused_without_leaking(
        lambda: services.lookup_guarantee(actor=desk, purpose="guarantee", number=GUARANTEE),
        A["address"],
    )


def test_ciphertext_copied_onto_another_record_of_the_same_kind_does_not_decrypt(
    shop: Shop,
) -> None:
    src = value_pk(shop.a, RecordKind.ORDER, shop.a_orders[1], "full_name")
    dst = value_pk(shop.a, RecordKind.ORDER, shop.a_orders[0], "full_name")
    write_ciphertext(dst, ciphertext(src))
    me = Actor(kind="customer", id=str(shop.a))
    assert_refused_without_leaking(
        lambda: services.list_orders(actor=me, purpose=SUBJECT_ACCESS, customer_id=shop.a),
        A_ORDER_NAMES[1],
    )


def test_order_value_copied_onto_another_customers_order_does_not_decrypt(shop: Shop) -> None:
    src = value_pk(shop.a, RecordKind.ORDER, shop.a_orders[0], "full_name")
    dst = value_pk(shop.b, RecordKind.ORDER, shop.b_order, "full_name")
    write_ciphertext(dst, ciphertext(src))
    assert_refused_without_leaking(lambda: shop.read_all(shop.b), A_ORDER_NAMES[0])


# -- flipped and cut bytes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    ["version byte", "nonce", "body", "tag (last byte)", "truncated", "emptied"],
)
def test_tampered_ciphertext_does_not_decrypt(shop: Shop, where: str) -> None:
    pk = value_pk(shop.a, RecordKind.PROFILE, shop.a, "full_name")
    blob = ciphertext(pk)
    tampered = {
        "version byte": lambda: flip(blob, 0),
        "nonce": lambda: flip(blob, 5),
        "body": lambda: flip(blob, 13 + 2),
        "tag (last byte)": lambda: flip(blob, len(blob) - 1),
        "truncated": lambda: blob[:-16],
        "emptied": lambda: b"",
    }[where]()
    write_ciphertext(pk, tampered)
    assert_refused_without_leaking(lambda: shop.read_all(shop.a), A["full_name"])


# -- data keys -------------------------------------------------------------------------------


def test_wrapped_data_key_copied_to_another_customer_does_not_unwrap(shop: Shop) -> None:
    version, blob = wrapped_key(shop.a)
    write_wrapped_key(shop.b, version, blob)
    error = assert_refused_without_leaking(lambda: shop.read_all(shop.b), *A.values(), *B.values())
    assert isinstance(error, KeyUnavailable)
    assert shop.read_all(shop.a)["profile"] == {**A, "phone": "+84912555017"}


def test_whole_customer_transplant_does_not_decrypt(shop: Shop) -> None:
    """A's data key and A's name ciphertext both copied onto B: still nothing opens."""
    version, blob = wrapped_key(shop.a)
    write_wrapped_key(shop.b, version, blob)
    src = value_pk(shop.a, RecordKind.PROFILE, shop.a, "full_name")
    write_ciphertext(value_pk(shop.b, RecordKind.PROFILE, shop.b, "full_name"), ciphertext(src))
    assert_refused_without_leaking(lambda: shop.read_all(shop.b), A["full_name"])


@pytest.mark.parametrize("where", ["nonce", "body", "tag (last byte)", "truncated"])
def test_tampered_wrapped_data_key_does_not_unwrap(shop: Shop, where: str) -> None:
    version, blob = wrapped_key(shop.a)
    tampered = {
        "nonce": lambda: flip(blob, 0),
        "body": lambda: flip(blob, 20),
        "tag (last byte)": lambda: flip(blob, len(blob) - 1),
        "truncated": lambda: blob[:12],
    }[where]()
    write_wrapped_key(shop.a, version, tampered)
    error = assert_refused_without_leaking(lambda: shop.read_all(shop.a), *A.values())
    assert isinstance(error, KeyUnavailable)


def test_data_key_claiming_an_unknown_master_version_does_not_unwrap(shop: Shop) -> None:
    _, blob = wrapped_key(shop.a)
    write_wrapped_key(shop.a, 99, blob)
    error = assert_refused_without_leaking(lambda: shop.read_all(shop.a), *A.values())
    assert isinstance(error, KeyUnavailable)


# -- encrypted files (identity documents) ----------------------------------------------------


@pytest.fixture
def documents_dir(settings: Any, tmp_path: Any) -> Any:
    settings.PLEDGE_FILES_DIR = tmp_path / "files"
    return settings.PLEDGE_FILES_DIR


def test_document_file_swapped_between_customers_does_not_decrypt(
    shop: Shop, documents_dir: Any
) -> None:
    a_png = PNG + b"customer-a"
    doc_a = documents.store_id_document(
        actor=shop.actor,
        purpose="order_fulfilment",
        customer_id=shop.a,
        content=a_png,
        content_type="image/png",
    )
    doc_b = documents.store_id_document(
        actor=shop.actor,
        purpose="order_fulfilment",
        customer_id=shop.b,
        content=PNG + b"customer-b",
        content_type="image/png",
    )
    name_a = IdDocument.objects.get(pk=doc_a).storage_name
    # The attacker points B's document row at A's file (same size, so only the AAD can tell).
    table = connection.ops.quote_name(IdDocument._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET storage_name = %s WHERE id = %s",
            [name_a + ".x", _uuid_param(doc_a)],
        )
        cursor.execute(
            f"UPDATE {table} SET storage_name = %s WHERE id = %s", [name_a, _uuid_param(doc_b)]
        )
    me_b = Actor(kind="customer", id=str(shop.b))
    error = assert_refused_without_leaking(
        lambda: documents.read_id_document(
            actor=me_b, purpose=SUBJECT_ACCESS, customer_id=shop.b, document_id=doc_b
        )
    )
    assert isinstance(error, documents.DocumentUnreadable)
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    assert (event.type, event.outcome) == ("vault:id_document_read", "failed")
