"""The purpose-bound vault services (P01, P03, P04, P06, P09) on preset B (Leman Jewelry)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

import pytest

from pledge.audit.models import AuditEvent
from pledge.consent.services import withdraw_consent
from pledge.vault import services
from pledge.vault.access import SUBJECT_ACCESS, Actor
from pledge.vault.errors import AccessRefused, ConsentRequired, FieldsRefused, ValuesInvalid
from pledge.vault.models import Customer, EncryptedValue

NAME = "Nguyễn Thị Hồng Nhung"
EMAIL = "hong.nhung@example.vn"
PHONE = "0912 345 678"


def new_customer(actor: Actor, **extra: Any) -> Any:
    return services.collect_customer(
        actor=actor,
        purpose="order_fulfilment",
        fields={
            "full_name": NAME,
            "email": EMAIL,
            "phone": PHONE,
            "address": "12 Lý Thái Tổ, Hà Nội",
            **extra,
        },
    )


def last_event() -> AuditEvent:
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    return event


def test_p01_collect_stores_declared_fields_encrypted_and_audits(
    leman: Any, shop_api: Actor
) -> None:
    cid = new_customer(shop_api)
    assert Customer.objects.filter(pk=cid).exists()
    assert EncryptedValue.objects.filter(customer_id=cid).count() == 4
    event = last_event()
    assert event.type == "vault:customer_created"
    assert event.fields == "address,email,full_name,phone"
    assert NAME not in event.canonical and EMAIL not in event.canonical


def test_p01_undeclared_field_is_refused_audited_and_nothing_stored(
    leman: Any, shop_api: Actor
) -> None:
    with pytest.raises(FieldsRefused) as err:
        services.collect_customer(
            actor=shop_api,
            purpose="guarantee",
            fields={"full_name": NAME, "cookie_id": "c-1"},
        )
    assert err.value.problems[0].field == "cookie_id"
    assert err.value.problems[0].rule == "not_declared_for_purpose"
    assert Customer.objects.count() == 0
    event = last_event()
    assert (event.type, event.outcome, event.fields) == (
        "vault:write_refused",
        "refused",
        "cookie_id",
    )


def test_p02_cvc_is_never_collected(leman: Any, shop_api: Actor) -> None:
    with pytest.raises(FieldsRefused) as err:
        services.collect_customer(actor=shop_api, purpose="payment", fields={"card_cvc": "123"})
    assert err.value.problems[0].rule == "never_stored"


def test_p09_read_masks_what_the_purpose_does_not_need(
    leman: Any, shop_api: Actor, staff: Any
) -> None:
    cid = new_customer(shop_api)
    view = services.read_customer(actor=staff("sales"), purpose="order_fulfilment", customer_id=cid)
    assert view.fields["full_name"] == NAME
    assert view.fields["phone"] == "+84912345678"
    assert view.fields["email"] != EMAIL and view.fields["email"].endswith(".vn")
    assert view.masked == frozenset({"email"})
    assert last_event().type == "vault:read"


def test_p09_other_roles_and_fields_are_refused_and_audited(
    leman: Any, shop_api: Actor, staff: Any
) -> None:
    cid = new_customer(shop_api)
    with pytest.raises(AccessRefused):
        services.read_customer(
            actor=staff("accounting"), purpose="order_fulfilment", customer_id=cid
        )
    assert (last_event().type, last_event().outcome) == ("vault:access_refused", "refused")
    with pytest.raises(AccessRefused) as err:
        services.read_customer(
            actor=staff("sales"), purpose="guarantee", customer_id=cid, fields=["card"]
        )
    assert err.value.problems[0].rule == "field_not_visible"
    assert last_event().fields == "card"


def test_p04_consent_purpose_needs_a_live_consent(leman: Any, shop_api: Actor, staff: Any) -> None:
    cid = new_customer(shop_api)
    with pytest.raises(ConsentRequired):
        services.read_customer(actor=staff("owner"), purpose="customer_database", customer_id=cid)
    services.update_customer(
        actor=shop_api,
        purpose="customer_database",
        customer_id=cid,
        fields={"address": "5 Hàng Bông, Hà Nội"},
        consent_method="checkbox",
    )
    view = services.read_customer(
        actor=staff("owner"), purpose="customer_database", customer_id=cid
    )
    assert "address" in view.fields
    withdraw_consent(
        customer_id=cid, purpose="customer_database", method="button", actor="customer:x"
    )
    with pytest.raises(ConsentRequired):
        services.read_customer(actor=staff("owner"), purpose="customer_database", customer_id=cid)


def test_nfc_and_nfd_find_the_same_customer(leman: Any, shop_api: Actor) -> None:
    email = "hong.an@ví-dụ.vn"
    cid = services.collect_customer(
        actor=shop_api,
        purpose="order_fulfilment",
        fields={
            "full_name": unicodedata.normalize("NFD", NAME),
            "email": unicodedata.normalize("NFC", email),
        },
    )
    by_name = services.lookup_customers(
        actor=shop_api,
        purpose="order_fulfilment",
        by="full_name",
        value=unicodedata.normalize("NFC", NAME.upper()),
    )
    by_email = services.lookup_customers(
        actor=shop_api,
        purpose="order_fulfilment",
        by="email",
        value=unicodedata.normalize("NFD", email.upper()),
    )
    assert by_name == [cid] and by_email == [cid]


def test_phone_lookup_uses_e164(leman: Any, shop_api: Actor) -> None:
    cid = new_customer(shop_api)
    assert services.lookup_customers(
        actor=shop_api, purpose="order_fulfilment", by="phone", value="+84 912-345-678"
    ) == [cid]


def test_invalid_values_are_named(leman: Any, shop_api: Actor) -> None:
    with pytest.raises(ValuesInvalid) as err:
        services.collect_customer(
            actor=shop_api,
            purpose="order_fulfilment",
            fields={"email": "not-an-email", "phone": "12"},
        )
    assert {p.field for p in err.value.problems} == {"email", "phone"}
    assert Customer.objects.count() == 0


def test_p03_guarantee_lookup_reveals_only_what_the_purpose_needs(
    leman: Any, shop_api: Actor, staff: Any
) -> None:
    cid = new_customer(shop_api)
    order = services.place_order(
        actor=shop_api,
        purpose="order_fulfilment",
        customer_id=cid,
        number="LM-1001",
        items=[{"sku": "R-1", "name": "Nhẫn vàng 18K", "quantity": 1, "unit_price": "5200000"}],
        total="5200000",
        fields={"full_name": NAME, "address": "12 Lý Thái Tổ, Hà Nội"},
    )
    services.issue_guarantee(
        actor=shop_api,
        purpose="guarantee",
        customer_id=cid,
        number="BH-2026-0001",
        product="Nhẫn vàng 18K",
        issued_on=dt.date(2026, 3, 1),
        valid_until=dt.date(2027, 3, 1),
        order_id=order,
    )
    view = services.lookup_guarantee(
        actor=staff("customer_service"), purpose="guarantee", number="bh 2026 0001"
    )
    assert view.customer_id == cid and view.order_number == "LM-1001"
    assert view.fields["guarantee_number"] == "BH-2026-0001"
    assert view.fields["full_name"] == NAME
    assert "phone" in view.masked and "card" not in view.fields


def test_subject_access_is_the_customers_own(leman: Any, shop_api: Actor) -> None:
    cid = new_customer(shop_api)
    me = Actor(kind="customer", id=str(cid))
    assert (
        services.read_customer(actor=me, purpose=SUBJECT_ACCESS, customer_id=cid).fields["email"]
        == EMAIL
    )
    other = new_customer(shop_api, email="other@example.vn")
    with pytest.raises(AccessRefused):
        services.read_customer(actor=me, purpose=SUBJECT_ACCESS, customer_id=other)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"fields": {"full_name": "An\ud800"}}, "full_name"),
        ({"fields": {"full_name": "An"}, "language": "fr"}, "language"),
        ({"fields": {"full_name": "An"}, "external_ref": "x" * 101}, "external_ref"),
        ({"fields": {"full_name": "An"}, "external_ref": "a\x00b"}, "external_ref"),
    ],
)
def test_hostile_values_are_refused_before_anything_is_stored(
    leman: Any, shop_api: Actor, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValuesInvalid) as err:
        services.collect_customer(actor=shop_api, purpose="order_fulfilment", **kwargs)
    assert err.value.problems[0].field == field
    assert Customer.objects.count() == 0


def test_control_characters_in_plain_order_columns_are_refused(leman: Any, shop_api: Actor) -> None:
    cid = new_customer(shop_api)
    for number, items in (
        ("LM\x00-1", []),
        ("LM-2", [{"sku": "R-1", "name": "Nhẫn\x00", "quantity": 1, "unit_price": "1"}]),
    ):
        with pytest.raises(ValuesInvalid):
            services.place_order(
                actor=shop_api,
                purpose="order_fulfilment",
                customer_id=cid,
                number=number,
                items=items,
                total="1",
            )
    from pledge.vault.models import Order

    assert Order.objects.count() == 0
