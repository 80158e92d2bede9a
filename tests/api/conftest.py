"""The API under test: real keys, real services, Django's test client, preset B (Leman Jewelry)."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import struct
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client

from pledge.api.services import create_api_key
from pledge.audit.models import AuditEvent
from pledge.consent.models import ConsentEvent, ConsentState
from pledge.vault import services
from pledge.vault.access import Actor
from pledge.vault.documents import store_id_document
from pledge.vault.keystore import keystore
from pledge.vault.models import (
    BlindIndex,
    Customer,
    EncryptedValue,
    GuaranteeCard,
    IdDocument,
    Order,
    Payment,
    PaymentMethod,
)

# Every purpose of preset B a shop's backend would use (as the `shop_api` fixture).
ALL_PURPOSES = (
    "order_fulfilment",
    "payment",
    "guarantee",
    "customer_database",
    "service_notices",
    "transaction_confirmation",
)

NAME_A = "Nguyễn Thị Hồng Nhung"
EMAIL_A = "hong.nhung@example.vn"
PHONE_A = "0912 345 678"
ADDRESS_A = "12 Lý Thái Tổ, Hà Nội"
NAME_B = "Trần Văn Bình"
EMAIL_B = "binh.tran@example.vn"
PHONE_B = "0987 654 321"
GUARANTEE_A = "BH-2026-0001"
CUSTOMER_FIELDS = {"full_name": "Lê Thu Hà", "email": "thu.ha@example.vn"}

_names = itertools.count(1)


class Api:
    """Django's test client speaking JSON to /api/v1 with one key."""

    def __init__(self, token: str | None, *, header: str = "Authorization") -> None:
        headers = {}
        if token is not None:
            headers[header] = f"Bearer {token}" if header == "Authorization" else token
        self.client = Client(headers=headers)

    def get(self, path: str, **query: str) -> HttpResponse:
        return self.client.get(f"/api/v1{path}", query)  # type: ignore[return-value]

    def post(self, path: str, body: Any = None, **kwargs: Any) -> HttpResponse:
        return self.send("post", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> HttpResponse:
        return self.send("patch", path, body, **kwargs)

    def upload(self, path: str, form: dict[str, Any]) -> HttpResponse:
        """multipart/form-data, as a browser or `curl -F` sends it."""
        return self.client.post(f"/api/v1{path}", form)  # type: ignore[return-value]

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> HttpResponse:
        data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
        return self.client.generic(  # type: ignore[return-value]
            method.upper(), f"/api/v1{path}", data, content_type=content_type
        )


@pytest.fixture
def issue_key(leman: Any) -> Callable[..., str]:
    """issue_key("order_fulfilment", role="") -> a new key's token (all purposes when none)."""

    def make(*purposes: str, role: str = "") -> str:
        return create_api_key(
            actor="system:test",
            name=f"key-{next(_names)}",
            purposes=purposes or ALL_PURPOSES,
            role=role,
        ).token

    return make


@pytest.fixture
def api(issue_key: Callable[..., str]) -> Api:
    """A client holding a key for every purpose the shop's backend uses."""
    return Api(issue_key())


@dataclass
class World:
    """Two customers of the shop: A with an order, a guarantee card and a copy of an ID
    document; B with nothing else."""

    a: uuid.UUID
    b: uuid.UUID
    order_a: uuid.UUID
    guarantee_a: uuid.UUID
    document_a: uuid.UUID


@pytest.fixture
def world(leman: Any, shop_api: Actor) -> World:
    a = services.collect_customer(
        actor=shop_api,
        purpose="order_fulfilment",
        fields={"full_name": NAME_A, "email": EMAIL_A, "phone": PHONE_A, "address": ADDRESS_A},
    )
    b = services.collect_customer(
        actor=shop_api,
        purpose="order_fulfilment",
        fields={"full_name": NAME_B, "email": EMAIL_B, "phone": PHONE_B},
    )
    order_a = services.place_order(
        actor=shop_api,
        purpose="order_fulfilment",
        customer_id=a,
        number="LM-1001",
        items=[{"sku": "R-1", "name": "Nhẫn vàng 18K", "quantity": 1, "unit_price": "5200000"}],
        total="5200000",
        fields={"full_name": NAME_A, "address": ADDRESS_A},
    )
    guarantee_a = services.issue_guarantee(
        actor=shop_api,
        purpose="guarantee",
        customer_id=a,
        number=GUARANTEE_A,
        product="Nhẫn vàng 18K",
        issued_on=dt.date(2026, 3, 1),
        valid_until=dt.date(2027, 3, 1),
        order_id=order_a,
    )
    document_a = store_id_document(
        actor=shop_api,
        purpose="order_fulfilment",
        customer_id=a,
        content=png_bytes(),
        content_type="image/png",
    )
    return World(a, b, order_a, guarantee_a, document_a)


def png_bytes(padding: int = 0) -> bytes:
    """A real 1x1 PNG (the vault reads the type from the bytes), optionally padded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + (chunk(b"tEXt", b"pad\x00" + b"x" * padding) if padding else b"")
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def db_state() -> dict[str, Any]:
    """Everything a request could change in the vault, to compare before and after."""
    values = hashlib.sha256()
    for row in EncryptedValue.objects.order_by("record_id", "field").values_list(
        "record_id", "field", "ciphertext"
    ):
        values.update(f"{row[0]}:{row[1]}:".encode() + bytes(row[2]))
    return {
        "customers": Customer.objects.count(),
        "customer_versions": sorted(
            str(t) for t in Customer.objects.values_list("updated_at", flat=True)
        ),
        "data_keys": sum(
            1 for c in Customer.objects.values_list("id", flat=True) if keystore().get(c, 0)
        ),
        "values": EncryptedValue.objects.count(),
        "values_digest": values.hexdigest(),
        "indexes": BlindIndex.objects.count(),
        "orders": Order.objects.count(),
        "guarantees": GuaranteeCard.objects.count(),
        "consent_events": ConsentEvent.objects.count(),
        "consent_states": ConsentState.objects.count(),
        "payments": Payment.objects.count(),
        "cards": PaymentMethod.objects.count(),
        "id_documents": IdDocument.objects.count(),
        "files": sorted(p.name for p in Path(settings.PLEDGE_FILES_DIR).glob("*")),
    }


def last_event() -> AuditEvent:
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    return event


def assert_problem(
    response: HttpResponse, status: int, *, rule: str | None = None
) -> dict[str, Any]:
    """An RFC 9457 problem document with this status (and an error with this rule)."""
    assert response.status_code == status, response.content.decode()
    assert response["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = json.loads(response.content)
    assert set(body) == {"type", "title", "status", "detail", "errors"}
    assert body["status"] == status
    assert body["type"].startswith("tag:pledge,2026:problems/")
    assert body["title"] and body["detail"]
    for error in body["errors"]:
        assert set(error) == {"field", "rule", "message"}
    if rule is not None:
        assert rule in {e["rule"] for e in body["errors"]}, body
    assert "Traceback" not in response.content.decode()
    return body
