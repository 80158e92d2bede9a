"""A customer with known values, and a control customer, on preset A (James Jewelry, which keeps
the buyer's name on invoices: a field under the Accounting Law's 10-year hold), then the erasure.

Used in-process (PostgreSQL) and in real `pledge shell` subprocesses (SQLite):
`pledge shell -c "from tests.security.erasure_scenario import main; main('create')"`.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

from tests.security.helpers import RESULT_MARK

TARGET = {
    "full_name": "Đoàn Thị Hương Giang Xóa",
    "phone": "0912 738 465",
    "email": "huong.giang.xoa@ví-dụ.vn",
}
TARGET_ORDER = {"full_name": "Vũ Minh Khôi Nhận Hàng", "phone": "0868 501 239"}
CONTROL = {
    "full_name": "Hồ Văn Kiểm Soát",
    "phone": "0903 111 472",
    "email": "kiem.soat.control@example.vn",
}
# The only value that survives: the buyer's name on the invoice, held for 10 years from the end
# of the fiscal year (Accounting Law 88/2015 Art 41), restricted to the invoice's purpose.
HELD = {("invoice", "full_name"): TARGET["full_name"]}


def erased_values() -> dict[str, str]:
    """Every value of the target that must be unrecoverable after erasure (label -> value)."""
    out = {f"profile.{k}": v for k, v in TARGET.items() if k != "full_name"}
    out.update({f"order.{k}": v for k, v in TARGET_ORDER.items()})
    return out


def create() -> dict[str, Any]:
    from pledge.vault import services
    from pledge.vault.access import Actor
    from pledge.vault.invoices import issue_invoice

    shop = Actor(
        kind="api", id="erasure-test", purposes=frozenset({"order_fulfilment", "customer_database"})
    )
    ids = {}
    for label, person, number in (("target", TARGET, "JE-1"), ("control", CONTROL, "JE-2")):
        cid = services.collect_customer(actor=shop, purpose="order_fulfilment", fields=person)
        # A consent-based purpose, so the erasure has a live consent to withdraw.
        services.update_customer(
            actor=shop,
            purpose="customer_database",
            customer_id=cid,
            fields={"full_name": person["full_name"]},
            consent_method="checkbox",
        )
        oid = services.place_order(
            actor=shop,
            purpose="order_fulfilment",
            customer_id=cid,
            number=number,
            items=[{"sku": "NH-1", "name": "Nhẫn", "quantity": 1, "unit_price": "2500000"}],
            total="2500000",
            fields=TARGET_ORDER if label == "target" else None,
        )
        issue_invoice(
            actor=shop,
            purpose="order_fulfilment",
            customer_id=cid,
            order_id=oid,
            number=f"INV-{number}",
            fields={"full_name": person["full_name"]},
        )
        ids[label] = str(cid)
    # A request received by phone and verified in person: its acknowledgement email to the
    # target waits in the outbox (no worker runs here), so the backup holds a queued message.
    from pledge.rights.services import file_request, verify_identity

    staff = Actor(kind="staff", id="1", role="owner")
    target = uuid.UUID(ids["target"])
    request = file_request(actor=staff, customer_id=target, kind="access", channel="staff")
    verify_identity(actor=staff, request_id=request.id, customer_id=target, method="in_person")
    return ids


def erase(customer_id: str) -> dict[str, Any]:
    from pledge.vault.access import Actor
    from pledge.vault.erasure import erase_customer

    report = erase_customer(
        actor=Actor(kind="staff", id="1", role="owner"), customer_id=uuid.UUID(customer_id)
    )
    return report.as_dict()


def main(step: str, *args: str) -> None:
    result: Any = create() if step == "create" else erase(*args)
    print(RESULT_MARK + json.dumps(result, ensure_ascii=True))
    sys.stdout.flush()
