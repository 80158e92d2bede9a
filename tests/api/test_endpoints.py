"""Every endpoint against every way a request can go wrong: each answers a clear 4xx problem
document and changes nothing (ARCHITECTURE.md: "Every endpoint is tested for each role and for
access to another customer's data"; "Bad input … gets a clear 4xx error and changes nothing").

API keys are shop-wide (no customer owns a key), so "another customer's data" means: an id that
is no customer (404), a record of customer A named under customer B (404), and a key without the
purpose (403), whatever the customer.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse

from pledge.api.body import API_JSON_MAX_BYTES
from pledge.api.models import ApiKey
from pledge.api.services import revoke_api_key
from tests.api.conftest import (
    ALL_PURPOSES,
    EMAIL_A,
    GUARANTEE_A,
    NAME_A,
    Api,
    World,
    assert_problem,
    db_state,
    last_event,
    png_bytes,
)

CARD = {
    "number": "4242 4242 4242 4242",
    "expiry_month": 12,
    "expiry_year": 2030,
    "holder": "NGUYEN THI HONG NHUNG",
    "cvc": "737",
}


def id_document_form(purpose: str = "order_fulfilment") -> dict[str, Any]:
    return {"purpose": purpose, "file": SimpleUploadedFile("id.png", png_bytes(), "image/png")}


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    # "{customer}", "{order}", "{document}": ids from the world (the customer may be replaced).
    path: str
    purpose: str
    status: int  # on success
    kind: Literal["json", "query", "multipart"]
    # The request's data: a JSON body, a query string, or a multipart form (made fresh each call).
    data: dict[str, Any] | Callable[[], dict[str, Any]]
    wrong: dict[str, Any] = field(default_factory=dict)  # with wrong types
    wrong_fields: frozenset[str] = frozenset()  # what the 422 must name

    def url(self, world: World, customer: object = None) -> str:
        return self.path.format(
            customer=world.a if customer is None else customer,
            order=world.order_a,
            document=world.document_a,
        )

    def valid(self) -> dict[str, Any]:
        return self.data() if callable(self.data) else dict(self.data)

    def call(
        self,
        api: Api,
        world: World,
        *,
        customer: object = None,
        data: dict[str, Any] | None = None,
        raw: bytes | None = None,
        content_type: str | None = None,
    ) -> HttpResponse:
        url = self.url(world, customer)
        payload = self.valid() if data is None else data
        if raw is not None:
            return api.send(
                self.method, url, raw=raw, content_type=content_type or "application/json"
            )
        if self.kind == "json":
            return api.send(self.method, url, payload)
        if self.kind == "multipart":
            return api.upload(url, payload)
        return api.get(url, **payload)


ENDPOINTS = [
    Endpoint(
        "collect_customer",
        "post",
        "/customers",
        "order_fulfilment",
        201,
        "json",
        {
            "purpose": "order_fulfilment",
            "fields": {"full_name": "Lê Thu Hà", "email": "thu.ha@example.vn"},
            "language": "vi",
            "external_ref": "shop-42",
        },
        wrong={"purpose": 7, "fields": ["full_name"], "language": "fr", "external_ref": 5},
        wrong_fields=frozenset({"purpose", "fields", "language", "external_ref"}),
    ),
    Endpoint(
        "lookup_customers",
        "get",
        "/customers/lookup",
        "order_fulfilment",
        200,
        "query",
        {"purpose": "order_fulfilment", "email": EMAIL_A},
        wrong={"purpose": "Order Fulfilment!", "email": EMAIL_A},
        wrong_fields=frozenset({"purpose"}),
    ),
    Endpoint(
        "read_customer",
        "get",
        "/customers/{customer}",
        "order_fulfilment",
        200,
        "query",
        {"purpose": "order_fulfilment"},
        wrong={"purpose": "order-fulfilment"},
        wrong_fields=frozenset({"purpose"}),
    ),
    Endpoint(
        "update_customer",
        "patch",
        "/customers/{customer}",
        "order_fulfilment",
        204,
        "json",
        {"purpose": "order_fulfilment", "fields": {"address": "5 Hàng Bông, Hà Nội"}},
        wrong={"purpose": None, "fields": "address", "consent": {"method": 3}},
        wrong_fields=frozenset({"purpose", "fields", "consent.method"}),
    ),
    Endpoint(
        "place_order",
        "post",
        "/customers/{customer}/orders",
        "order_fulfilment",
        201,
        "json",
        {
            "purpose": "order_fulfilment",
            "number": "LM-2002",
            "items": [{"sku": "B-2", "name": "Vòng tay", "quantity": 2, "unit_price": "1500000"}],
            "total": "3000000",
            "fields": {"full_name": NAME_A},
        },
        wrong={
            "purpose": "order_fulfilment",
            "number": 12,
            "items": {"sku": "B-2"},
            "total": "a lot",
            "currency": "dong",
        },
        wrong_fields=frozenset({"number", "items", "total", "currency"}),
    ),
    Endpoint(
        "list_orders",
        "get",
        "/customers/{customer}/orders",
        "order_fulfilment",
        200,
        "query",
        {"purpose": "order_fulfilment"},
        wrong={"purpose": ""},
        wrong_fields=frozenset({"purpose"}),
    ),
    Endpoint(
        "issue_guarantee",
        "post",
        "/customers/{customer}/guarantees",
        "guarantee",
        201,
        "json",
        {
            "purpose": "guarantee",
            "number": "BH-2026-0002",
            "product": "Vòng tay vàng",
            "issued_on": "2026-03-02",
            "valid_until": "2027-03-02",
        },
        wrong={
            "purpose": "guarantee",
            "number": "BH-2026-0003",
            "product": "",
            "issued_on": "yesterday",
            "valid_until": "2027-02-30",
            "order_id": "not-a-uuid",
        },
        wrong_fields=frozenset({"product", "issued_on", "valid_until", "order_id"}),
    ),
    Endpoint(
        "lookup_guarantee",
        "get",
        "/guarantees/lookup",
        "guarantee",
        200,
        "query",
        {"purpose": "guarantee", "number": GUARANTEE_A},
        wrong={"purpose": "guarantee"},
        wrong_fields=frozenset({"number"}),
    ),
    Endpoint(
        "authorize_payment",
        "post",
        "/customers/{customer}/orders/{order}/payments",
        "payment",
        201,
        "json",
        {"purpose": "payment", "card": CARD},
        wrong={
            "purpose": "payment",
            "card": {**CARD, "number": 4242424242424242, "expiry_month": "Dec", "cvc": 737},
            "save_card": "maybe",
        },
        wrong_fields=frozenset({"card.number", "card.expiry_month", "card.cvc", "save_card"}),
    ),
    Endpoint(
        "store_id_document",
        "post",
        "/customers/{customer}/id-documents",
        "order_fulfilment",
        201,
        "multipart",
        id_document_form,
        wrong={"purpose": "Order Fulfilment"},
        wrong_fields=frozenset({"purpose", "file"}),
    ),
    Endpoint(
        "read_id_document",
        "get",
        "/customers/{customer}/id-documents/{document}",
        "order_fulfilment",
        200,
        "query",
        {"purpose": "order_fulfilment"},
        wrong={"purpose": "0rder"},
        wrong_fields=frozenset({"purpose"}),
    ),
]
JSON_BODIES = [e for e in ENDPOINTS if e.kind == "json"]
WITH_BODY = [e for e in ENDPOINTS if e.kind != "query"]
PER_CUSTOMER = [e for e in ENDPOINTS if "{customer}" in e.path]


def endpoints(selection: list[Endpoint]) -> Any:
    return pytest.mark.parametrize("endpoint", selection, ids=[e.name for e in selection])


@endpoints(ENDPOINTS)
def test_it_works_with_a_key_for_the_purpose(
    endpoint: Endpoint, world: World, issue_key: Callable[..., str]
) -> None:
    response = endpoint.call(Api(issue_key(endpoint.purpose)), world)
    assert response.status_code == endpoint.status, response.content.decode()
    event = last_event()
    assert event.outcome == "ok" and event.actor.startswith("api:")
    assert event.purpose == endpoint.purpose


# -- authentication (401) -------------------------------------------------------------------


@endpoints(ENDPOINTS)
def test_a_request_without_a_key_is_refused_and_recorded(endpoint: Endpoint, world: World) -> None:
    before = db_state()
    assert_problem(endpoint.call(Api(None), world), 401, rule="api_key_missing")
    assert db_state() == before
    event = last_event()
    assert (event.type, event.outcome) == ("api:auth_refused", "refused")
    assert json.loads(event.details) == {"reason": "missing"}


@endpoints(ENDPOINTS)
def test_a_wrong_key_is_refused_and_never_recorded_or_echoed(
    endpoint: Endpoint, world: World, issue_key: Callable[..., str]
) -> None:
    real = issue_key(endpoint.purpose)
    # The real key's prefix with another secret, a key that never existed, and garbage.
    wrong_secret = real[:-8] + "0badc0de"
    never = "pledge_0123456789ab_" + "f" * 64
    cases = ((wrong_secret, "wrong_secret"), (never, "unknown"), ("hunter2", "malformed"))
    for token, reason in cases:
        before = db_state()
        response = endpoint.call(Api(token), world)
        assert_problem(response, 401, rule="api_key_invalid")
        assert token.encode() not in response.content
        assert db_state() == before
        event = last_event()
        assert (event.type, json.loads(event.details)) == ("api:auth_refused", {"reason": reason})
        assert token not in event.canonical


@endpoints(ENDPOINTS)
def test_a_revoked_key_is_refused(
    endpoint: Endpoint, world: World, issue_key: Callable[..., str]
) -> None:
    token = issue_key(endpoint.purpose)
    key = ApiKey.objects.get(prefix=token.split("_")[1])
    revoke_api_key(actor="system:test", name=key.name)
    before = db_state()
    assert_problem(endpoint.call(Api(token), world), 401, rule="api_key_invalid")
    assert db_state() == before
    event = last_event()
    assert (event.actor, json.loads(event.details)) == (f"api:{key.prefix}", {"reason": "revoked"})


# -- purpose scope (403, P06) ---------------------------------------------------------------


@endpoints(ENDPOINTS)
def test_p06_a_key_without_the_purpose_is_refused_and_the_vault_records_it(
    endpoint: Endpoint, world: World, issue_key: Callable[..., str]
) -> None:
    others = [p for p in ALL_PURPOSES if p != endpoint.purpose]
    before = db_state()
    response = endpoint.call(Api(issue_key(*others)), world)
    assert_problem(response, 403, rule="purpose_not_in_scope")
    assert db_state() == before
    event = last_event()
    assert event.type in ("vault:access_refused", "vault:write_refused")
    assert (event.outcome, event.purpose) == ("refused", endpoint.purpose)


@endpoints(ENDPOINTS)
def test_p06_a_purpose_the_policy_does_not_declare_is_refused(
    endpoint: Endpoint, world: World, api: Api
) -> None:
    before = db_state()
    response = endpoint.call(api, world, data={**endpoint.valid(), "purpose": "marketing"})
    assert_problem(response, 403, rule="purpose_undeclared")
    assert db_state() == before


# -- another customer's id (404) ------------------------------------------------------------


@endpoints(PER_CUSTOMER)
def test_an_id_that_is_no_customer_is_not_found(endpoint: Endpoint, world: World, api: Api) -> None:
    before = db_state()
    assert_problem(endpoint.call(api, world, customer=uuid.uuid4()), 404)
    assert db_state() == before


@endpoints([e for e in PER_CUSTOMER if "{order}" in e.path or "{document}" in e.path])
def test_a_record_of_customer_a_is_not_found_under_customer_b(
    endpoint: Endpoint, world: World, api: Api
) -> None:
    before = db_state()
    assert_problem(endpoint.call(api, world, customer=world.b), 404, rule="not_found")
    assert db_state() == before


@endpoints(PER_CUSTOMER)
def test_an_invalid_id_is_a_named_422_not_a_500(endpoint: Endpoint, world: World, api: Api) -> None:
    before = db_state()
    for bad in ("not-a-uuid", "1", "%00", "' OR 1=1 --"):
        body = assert_problem(endpoint.call(api, world, customer=bad), 422)
        # The payment call's messages never say more than the rule (problems.py).
        message = (
            "invalid value (uuid_parsing)"
            if endpoint.name == "authorize_payment"
            else "must be a UUID"
        )
        assert [(e["field"], e["message"]) for e in body["errors"]] == [("customer_id", message)]
    assert db_state() == before


# -- bad input (400, 413, 422) --------------------------------------------------------------


@endpoints(ENDPOINTS)
def test_wrong_types_are_422_naming_each_field(endpoint: Endpoint, world: World, api: Api) -> None:
    before = db_state()
    body = assert_problem(endpoint.call(api, world, data=endpoint.wrong), 422)
    assert {e["field"] for e in body["errors"]} == endpoint.wrong_fields
    assert db_state() == before


@endpoints(JSON_BODIES)
@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        (b'{"purpose": "order_fulfilment",', "json"),
        (b"\xff\xfe{}", "json"),
        (b'{"purpose": "a", "purpose": "b"}', "json"),
        (b'{"purpose": "order_fulfilment", "total": NaN}', "json"),
        (b"[" * 5000 + b"]" * 5000, "json"),
        (b'{"purpose": "order_fulfilment", "fields": {"full_name": "\\ud800"}}', "json"),
        (b'{"purpose": "order_fulfilment", "fields": {"\\udfff": "x"}}', "json"),
        (b'{"purpose": "order_fulfilment", "total": ' + b"9" * 5000 + b"}", "json"),
    ],
    ids=[
        "truncated",
        "not-utf8",
        "duplicate-key",
        "nan",
        "deep-nesting",
        "lone-surrogate-value",
        "lone-surrogate-key",
        "5000-digit-number",
    ],
)
def test_malformed_json_is_400(
    endpoint: Endpoint, raw: bytes, rule: str, world: World, api: Api
) -> None:
    before = db_state()
    assert_problem(endpoint.call(api, world, raw=raw), 400, rule=rule)
    assert db_state() == before


@endpoints(JSON_BODIES)
def test_a_body_that_is_not_an_object_or_is_empty_is_422(
    endpoint: Endpoint, world: World, api: Api
) -> None:
    before = db_state()
    for raw in (b"[]", b'"purpose"', b"42", b"null", b"{}", b""):
        assert_problem(endpoint.call(api, world, raw=raw), 422)
    assert db_state() == before


CONTENT_TYPES = {
    "json": "application/json",
    "form": "application/x-www-form-urlencoded",
    "text": "text/plain",
    "multipart": "multipart/form-data; boundary=x",
}
OTHER_CONTENT_TYPES = [
    pytest.param(e, content_type, id=f"{e.name}-{name}")
    for e in WITH_BODY
    for name, content_type in CONTENT_TYPES.items()
    if name != e.kind
]


@pytest.mark.parametrize(("endpoint", "content_type"), OTHER_CONTENT_TYPES)
def test_a_body_of_another_content_type_is_400(
    endpoint: Endpoint, content_type: str, world: World, api: Api
) -> None:
    before = db_state()
    raw = json.dumps({"purpose": endpoint.purpose}).encode()
    assert_problem(
        endpoint.call(api, world, raw=raw, content_type=content_type), 400, rule="content_type"
    )
    assert db_state() == before


@endpoints(JSON_BODIES)
def test_an_oversized_json_body_is_413(endpoint: Endpoint, world: World, api: Api) -> None:
    before = db_state()
    padded = {**endpoint.valid(), "fields": {"address": "x" * (API_JSON_MAX_BYTES + 1)}}
    assert_problem(endpoint.call(api, world, data=padded), 413, rule="max_body_size")
    # Over Django's own limit (DATA_UPLOAD_MAX_MEMORY_SIZE) too.
    huge = b'{"purpose": "' + b"x" * 3_000_000 + b'"}'
    assert_problem(endpoint.call(api, world, raw=huge), 413)
    assert db_state() == before


@endpoints(ENDPOINTS)
def test_an_oversized_body_is_refused_before_authentication(
    endpoint: Endpoint, world: World
) -> None:
    before = db_state()
    size = 8 * 1024 * 1024  # over the JSON limit and the ID-document limit alike
    content_type = (
        "multipart/form-data; boundary=x" if endpoint.kind == "multipart" else "application/json"
    )
    raw = b"{" + b" " * size + b"}"
    response = Api(None).send(
        endpoint.method, endpoint.url(world), raw=raw, content_type=content_type
    )
    assert_problem(response, 413, rule="max_body_size")
    assert db_state() == before
