"""Customers with known, distinctive personal values, written and read through the vault services.

Used in-process (PostgreSQL scan) and in a real `pledge shell` subprocess (SQLite scan):
`pledge shell -c "from tests.security.scenario import main; main()"` with the checkout on
PYTHONPATH. The policy in force must be preset B (leman-jewelry).
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from typing import Any

from tests.security.helpers import RESULT_MARK

NFD = "NFD"

# Customer 1 is collected in NFC, then updated (its old address and phone must be gone too).
C1 = {
    "full_name": "Nguyễn Thị Ngọc Quỳnh",
    "email": "ngoc.quynh.scan@ví-dụ.vn",
    "phone": "0983 417 265",
    "address": "Số 27 Ngõ Huyền Trân Công Chúa, Phường Đống Đa, Hà Nội",
}
C1_UPDATE = {
    "address": "Căn hộ 1204 Tòa Sen Hồng, Quận Ba Đình, Hà Nội",
    "phone": "0977 206 513",
}
# Customer 2 arrives in NFD (macOS keyboards) and with mixed case: stored NFC.
C2 = {
    "full_name": unicodedata.normalize(NFD, "Trần Đức Vượng Hoàng"),
    "email": "TranDucVuong.Scan@Example.VN",
    "phone": "+84 903 728 164",
    "address": unicodedata.normalize(NFD, "88 Đường Lê Thánh Tôn, Quận 1, TP Hồ Chí Minh"),
}
C3 = {
    "full_name": "Phạm Thị Yến Nhi Khuê",
    "email": "yen.nhi.khue.scan@example.com",
    "phone": "0356 192 847",
    "address": "Ấp Phước Lộc, Xã Hưng Thạnh, Huyện Tân Phước, Tiền Giang",
}
# Buyer fields held on order records (someone else receives the parcel).
ORDER_BUYER = {
    "full_name": "Lê Hoàng Thiên Ân Ngữ",
    "address": "Xóm Chùa Khánh Lâm, Xã Tân Ước, Huyện Thanh Oai",
    "phone": "0868 153 920",
}
GUARANTEE_NUMBER = "BH-QX7-20260412-8841"

# Control values: plain (non-encrypted) columns, which the scanner must find.
ORDER_NUMBERS = ("LM-SCANCTRL-5521", "LM-SCANCTRL-5522", "LM-SCANCTRL-5523")
PRODUCT = "Nhẫn kim cương Sao Khuê 18K"

SHOP_PURPOSES = frozenset(
    {"order_fulfilment", "guarantee", "customer_database", "transaction_confirmation"}
)


def personal_values() -> dict[str, str]:
    """label -> every personal value this scenario writes (for the scanner)."""
    values: dict[str, str] = {}
    for name, customer in (("c1", C1), ("c1_update", C1_UPDATE), ("c2", C2), ("c3", C3)):
        for field, value in customer.items():
            values[f"{name}.{field}"] = value
    for field, value in ORDER_BUYER.items():
        values[f"order.{field}"] = value
    values["guarantee_number"] = GUARANTEE_NUMBER
    values["guarantee_number.normalised"] = GUARANTEE_NUMBER.replace("-", "")
    return values


def phone_labels() -> set[str]:
    return {label for label in personal_values() if label.endswith(".phone")}


def create_and_read() -> dict[str, Any]:
    """Write the scenario through the services, then read every value back through them."""
    from pledge.vault import services
    from pledge.vault.access import SUBJECT_ACCESS, Actor

    shop = Actor(kind="api", id="scan-backend", purposes=SHOP_PURPOSES)
    ids = []
    for customer in (C1, C2, C3):
        ids.append(
            services.collect_customer(actor=shop, purpose="order_fulfilment", fields=customer)
        )
    order_ids = []
    for cid, number in zip(ids, ORDER_NUMBERS, strict=True):
        order_ids.append(
            services.place_order(
                actor=shop,
                purpose="order_fulfilment",
                customer_id=cid,
                number=number,
                items=[{"sku": "NKC-18K", "name": "Ring", "quantity": 1, "unit_price": "9900000"}],
                total="9900000",
                fields=ORDER_BUYER if cid == ids[1] else None,
            )
        )
    services.issue_guarantee(
        actor=shop,
        purpose="guarantee",
        customer_id=ids[2],
        number=GUARANTEE_NUMBER,
        product=PRODUCT,
        issued_on=dt.date(2026, 4, 12),
        valid_until=dt.date(2028, 4, 12),
        order_id=order_ids[2],
    )
    services.update_customer(
        actor=shop,
        purpose="customer_database",
        customer_id=ids[0],
        fields=C1_UPDATE,
        consent_method="checkbox",
    )

    out: dict[str, Any] = {"ids": [str(i) for i in ids], "customers": [], "lookups": {}}
    for cid in ids:
        me = Actor(kind="customer", id=str(cid))
        view = services.read_customer(actor=me, purpose=SUBJECT_ACCESS, customer_id=cid)
        orders = services.list_orders(actor=me, purpose=SUBJECT_ACCESS, customer_id=cid)
        out["customers"].append(
            {
                "profile": view.fields,
                "masked": sorted(view.masked),
                "orders": [{"number": o.number, "fields": o.fields} for o in orders],
            }
        )
    desk = Actor(kind="staff", id="scan-desk", role="customer_service")
    card = services.lookup_guarantee(actor=desk, purpose="guarantee", number="bh qx7 20260412 8841")
    out["guarantee"] = {"customer": str(card.customer_id), "fields": card.fields}
    for by, value in (
        ("phone", "0977206513"),
        ("email", unicodedata.normalize(NFD, C1["email"].upper())),
        ("full_name", unicodedata.normalize("NFC", C2["full_name"]).lower()),
    ):
        found = services.lookup_customers(
            actor=shop, purpose="order_fulfilment", by=by, value=value
        )
        out["lookups"][by] = [str(c) for c in found]
    return out


def main() -> None:
    print(RESULT_MARK + json.dumps(create_and_read(), ensure_ascii=True))
