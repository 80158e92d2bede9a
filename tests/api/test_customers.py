"""What each endpoint does when the call is allowed, and what the vault refuses through it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from pledge.api.models import ApiKey
from pledge.vault.models import Customer, EncryptedValue, Order
from tests.api.conftest import (
    EMAIL_A,
    EMAIL_B,
    GUARANTEE_A,
    NAME_A,
    NAME_B,
    Api,
    World,
    assert_problem,
    db_state,
    last_event,
)

CUSTOMER = {
    "purpose": "order_fulfilment",
    "fields": {"full_name": "Lê Thu Hà", "email": "thu.ha@example.vn", "phone": "0903 123 456"},
}


# -- collect (P01, P02, P04) ----------------------------------------------------------------


def test_p01_collect_stores_the_declared_fields_encrypted(api: Api) -> None:
    response = api.post("/customers", {**CUSTOMER, "language": "en", "external_ref": "shop-7"})
    assert response.status_code == 201
    customer_id = uuid.UUID(response.json()["id"])
    customer = Customer.objects.get(pk=customer_id)
    assert (customer.language, customer.external_ref) == ("en", "shop-7")
    blobs = b"".join(
        bytes(b)
        for b in EncryptedValue.objects.filter(customer=customer).values_list(
            "ciphertext", flat=True
        )
    )
    assert EncryptedValue.objects.filter(customer=customer).count() == 3
    assert b"thu.ha@example.vn" not in blobs
    event = last_event()
    assert (event.type, event.purpose, event.fields) == (
        "vault:customer_created",
        "order_fulfilment",
        "email,full_name,phone",
    )
    key = ApiKey.objects.get()
    assert event.actor == f"api:{key.prefix}"


def test_p01_an_undeclared_field_is_refused_by_name_and_nothing_is_stored(api: Api) -> None:
    before = db_state()
    response = api.post(
        "/customers",
        {
            "purpose": "guarantee",
            "fields": {"full_name": NAME_A, "cookie_id": "c-1", "shoe_size": "38"},
        },
    )
    body = assert_problem(response, 422)
    rules = {e["field"]: e["rule"] for e in body["errors"]}
    assert rules == {"cookie_id": "not_declared_for_purpose", "shoe_size": "field_undeclared"}
    assert body["type"].endswith("/field-not-declared")
    assert db_state() == before
    assert (last_event().type, last_event().outcome) == ("vault:write_refused", "refused")


def test_p02_the_cvc_is_never_stored_nor_echoed(api: Api) -> None:
    before = db_state()
    response = api.post("/customers", {"purpose": "payment", "fields": {"card_cvc": "737"}})
    assert_problem(response, 422, rule="never_stored")
    assert b"737" not in response.content
    assert db_state() == before


def test_invalid_values_are_named_and_not_echoed(api: Api) -> None:
    before = db_state()
    response = api.post(
        "/customers",
        {"purpose": "order_fulfilment", "fields": {"email": "nhung-at-example", "phone": "12"}},
    )
    body = assert_problem(response, 422)
    assert {(e["field"], e["rule"]) for e in body["errors"]} == {
        ("email", "email_format"),
        ("phone", "phone_format"),
    }
    assert b"nhung-at-example" not in response.content
    assert db_state() == before


def test_a_bad_language_is_422(api: Api) -> None:
    body = assert_problem(api.post("/customers", {**CUSTOMER, "language": "fr"}), 422)
    assert body["errors"] == [
        {"field": "language", "rule": "literal_error", "message": "Input should be 'vi' or 'en'"}
    ]


def test_an_external_ref_is_unique(api: Api) -> None:
    assert api.post("/customers", {**CUSTOMER, "external_ref": "shop-1"}).status_code == 201
    before = db_state()
    second = {**CUSTOMER, "fields": {"full_name": NAME_B}, "external_ref": "shop-1"}
    assert_problem(api.post("/customers", second), 422, rule="unique")
    assert db_state() == before


def test_control_characters_never_reach_the_database(api: Api, world: World) -> None:
    # PostgreSQL refuses NUL in text: without this check, a 500.
    before = db_state()
    assert_problem(
        api.post("/customers", {**CUSTOMER, "external_ref": "a\x00b"}),
        422,
        rule="control_characters",
    )
    order = {"purpose": "order_fulfilment", "number": "LM\x00", "items": [], "total": "0"}
    assert_problem(api.post(f"/customers/{world.a}/orders", order), 422, rule="control_characters")
    consent = {**CUSTOMER, "consent": {"method": "x" * 40}}
    assert_problem(api.post("/customers", consent), 422, rule="string_pattern_mismatch")
    assert db_state() == before


def test_p04_a_consent_purpose_needs_consent_given_in_the_call(api: Api) -> None:
    body = {"purpose": "customer_database", "fields": {"full_name": NAME_A}}
    before = db_state()
    assert_problem(api.post("/customers", body), 403, rule="consent_required")
    assert db_state() == before
    response = api.post("/customers", {**body, "consent": {"method": "checkbox"}})
    assert response.status_code == 201
    assert last_event().type == "consent:given"


# -- read (P09) -----------------------------------------------------------------------------


def test_p09_a_read_masks_what_the_purpose_does_not_need(api: Api, world: World) -> None:
    response = api.get(f"/customers/{world.a}", purpose="order_fulfilment")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(world.a) and body["purpose"] == "order_fulfilment"
    assert body["fields"]["full_name"] == NAME_A
    assert body["fields"]["phone"] == "+84912345678"
    assert body["fields"]["email"] != EMAIL_A and body["masked"] == ["email"]
    assert last_event().type == "vault:read"


def test_p09_a_read_of_named_fields_returns_only_those(api: Api, world: World) -> None:
    response = api.get(f"/customers/{world.a}", purpose="order_fulfilment", fields="full_name")
    assert response.json()["fields"] == {"full_name": NAME_A}
    assert_problem(
        api.get(f"/customers/{world.a}", purpose="guarantee", fields="full_name,card"),
        403,
        rule="field_not_visible",
    )
    assert_problem(
        api.get(f"/customers/{world.a}", purpose="order_fulfilment", fields="full_name,,email"),
        422,
        rule="field_list",
    )


def test_p04_a_consent_purpose_is_not_read_without_consent(api: Api, world: World) -> None:
    assert_problem(
        api.get(f"/customers/{world.a}", purpose="customer_database"), 403, rule="consent_required"
    )


# -- update ---------------------------------------------------------------------------------


def test_patch_sets_a_field_and_null_removes_it(api: Api, world: World) -> None:
    path = f"/customers/{world.a}"
    new = "5 Hàng Bông, Hà Nội"
    patched = api.patch(path, {"purpose": "order_fulfilment", "fields": {"address": new}})
    assert patched.status_code == 204 and patched.content == b""
    assert api.get(path, purpose="order_fulfilment").json()["fields"]["address"] == new
    removed = api.patch(path, {"purpose": "order_fulfilment", "fields": {"address": None}})
    assert removed.status_code == 204
    assert "address" not in api.get(path, purpose="order_fulfilment").json()["fields"]


def test_p04_patch_with_consent_opens_a_consent_purpose(api: Api, world: World) -> None:
    path = f"/customers/{world.a}"
    body = {"purpose": "customer_database", "fields": {"address": "5 Hàng Bông"}}
    assert_problem(api.patch(path, body), 403, rule="consent_required")
    assert api.patch(path, {**body, "consent": {"method": "web_form"}}).status_code == 204
    assert api.get(path, purpose="customer_database").status_code == 200


def test_patch_with_no_fields_is_422(api: Api, world: World) -> None:
    assert_problem(
        api.patch(f"/customers/{world.a}", {"purpose": "order_fulfilment", "fields": {}}),
        422,
        rule="required",
    )


# -- lookups: one customer's data never answers for another ----------------------------------


def test_lookup_needs_exactly_one_of_email_phone_full_name(api: Api, world: World) -> None:
    assert_problem(
        api.get("/customers/lookup", purpose="order_fulfilment"), 422, rule="exactly_one"
    )
    assert_problem(
        api.get("/customers/lookup", purpose="order_fulfilment", email=EMAIL_A, full_name=NAME_A),
        422,
        rule="exactly_one",
    )


def test_lookups_never_mix_two_customers(api: Api, world: World) -> None:
    def lookup(**query: str) -> list[str]:
        response = api.get("/customers/lookup", purpose="order_fulfilment", **query)
        assert response.status_code == 200, response.content
        return list(response.json()["ids"])

    assert lookup(email=EMAIL_B) == [str(world.b)]
    assert lookup(email=EMAIL_A.upper()) == [str(world.a)]
    assert lookup(phone="+84 987-654-321") == [str(world.b)]
    assert lookup(full_name=NAME_A.lower()) == [str(world.a)]
    assert lookup(email="nobody@example.vn") == []
    # A's id with B's lookup data: reading A shows A, and B's orders are not A's.
    read_a = api.get(f"/customers/{world.a}", purpose="order_fulfilment").json()
    assert read_a["fields"]["full_name"] == NAME_A and NAME_B not in json.dumps(read_a)
    assert api.get(f"/customers/{world.b}/orders", purpose="order_fulfilment").json() == {
        "orders": []
    }


def test_p09_lookup_by_a_field_the_purpose_may_not_read_is_refused(
    issue_key: Callable[..., str], world: World
) -> None:
    # payment reads card and payment history only: finding someone by email is reading it.
    response = Api(issue_key("payment")).get("/customers/lookup", purpose="payment", email=EMAIL_A)
    assert_problem(response, 403, rule="field_not_visible")


# -- orders ---------------------------------------------------------------------------------


def test_an_order_is_placed_and_listed(api: Api, world: World) -> None:
    order = {
        "purpose": "order_fulfilment",
        "number": "LM-3003",
        "items": [{"sku": "D-3", "name": "Dây chuyền", "quantity": 1, "unit_price": 990000}],
        "total": 990000,
        "currency": "vnd",
        "fields": {"address": "7 Tràng Tiền, Hà Nội"},
        "placed_at": "2026-04-01T10:00:00+07:00",
    }
    response = api.post(f"/customers/{world.b}/orders", order)
    assert response.status_code == 201
    listed = api.get(f"/customers/{world.b}/orders", purpose="order_fulfilment").json()["orders"]
    assert len(listed) == 1
    (placed,) = listed
    assert placed["id"] == response.json()["id"]
    assert (placed["number"], placed["total"], placed["currency"]) == (
        "LM-3003",
        "990000.00",
        "VND",
    )
    assert placed["items"] == [
        {"sku": "D-3", "name": "Dây chuyền", "quantity": 1, "unit_price": "990000.00"}
    ]
    assert placed["fields"] == {"address": "7 Tràng Tiền, Hà Nội"} and placed["masked"] == []


def test_an_order_number_is_unique(api: Api, world: World) -> None:
    before = Order.objects.count()
    order = {"purpose": "order_fulfilment", "number": "LM-1001", "items": [], "total": "1"}
    assert_problem(api.post(f"/customers/{world.b}/orders", order), 422, rule="unique")
    assert Order.objects.count() == before


def test_p01_an_order_needs_a_purpose_that_records_purchases(api: Api, world: World) -> None:
    order = {"purpose": "service_notices", "number": "LM-4", "items": [], "total": "1"}
    body = assert_problem(api.post(f"/customers/{world.a}/orders", order), 422)
    assert {"purchase_history"} == {e["field"] for e in body["errors"]}


# -- guarantee cards (P03) ------------------------------------------------------------------


def test_p03_a_guarantee_card_is_found_by_its_number_however_written(
    api: Api, world: World
) -> None:
    response = api.get("/guarantees/lookup", purpose="guarantee", number="bh 2026 0001")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["customer_id"]) == (str(world.guarantee_a), str(world.a))
    assert (body["order_number"], body["product"]) == ("LM-1001", "Nhẫn vàng 18K")
    assert (body["issued_on"], body["valid_until"]) == ("2026-03-01", "2027-03-01")
    assert body["fields"]["guarantee_number"] == GUARANTEE_A
    assert body["fields"]["full_name"] == NAME_A
    assert "phone" in body["masked"] and "card" not in body["fields"]


def test_p03_an_unknown_guarantee_number_is_404(api: Api, world: World) -> None:
    assert_problem(
        api.get("/guarantees/lookup", purpose="guarantee", number="BH-9999"), 404, rule="not_found"
    )


def test_p03_a_guarantee_card_is_issued(api: Api, world: World) -> None:
    card = {
        "purpose": "guarantee",
        "number": "BH-2026-0100",
        "product": "Vòng tay vàng",
        "issued_on": "2026-05-01",
        "valid_until": "2028-05-01",
    }
    response = api.post(f"/customers/{world.b}/guarantees", card)
    assert response.status_code == 201
    found = api.get("/guarantees/lookup", purpose="guarantee", number="BH-2026-0100").json()
    assert (found["id"], found["customer_id"]) == (response.json()["id"], str(world.b))


def test_a_guarantee_refuses_bad_dates_a_taken_number_and_another_customers_order(
    api: Api, world: World
) -> None:
    card: dict[str, Any] = {
        "purpose": "guarantee",
        "number": "BH-2026-0200",
        "product": "Vòng tay vàng",
        "issued_on": "2026-05-01",
        "valid_until": "2026-04-01",
    }
    before = db_state()
    path = f"/customers/{world.b}/guarantees"
    assert_problem(api.post(path, card), 422, rule="date_order")
    card["valid_until"] = "2027-05-01"
    assert_problem(api.post(path, {**card, "number": "bh-2026-0001"}), 422, rule="unique")
    # A's order on B's card.
    assert_problem(api.post(path, {**card, "order_id": str(world.order_a)}), 404, rule="not_found")
    assert db_state() == before


def test_an_emoji_written_as_a_surrogate_pair_is_fine(api: Api) -> None:
    raw = b'{"purpose": "order_fulfilment", "fields": {"full_name": "Hoa \\ud83c\\udf38 Lan"}}'
    response = api.send("post", "/customers", raw=raw)
    assert response.status_code == 201, response.content
    read = api.get(f"/customers/{response.json()['id']}", purpose="order_fulfilment")
    assert read.json()["fields"]["full_name"] == "Hoa 🌸 Lan"
