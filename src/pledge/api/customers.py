"""Customers, their orders and guarantee cards: parse, call the vault, shape the answer.

Every check that matters (purpose, scope of the key, declared fields, consent, values) is the
vault's (pledge.vault.services); a refusal comes back as a VaultError and leaves as a problem
document (problems.py). API keys are shop-wide: any customer id may be named, and what comes back
is bounded by the key's purposes, never by who the customer is.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from pledge.api.auth import request_actor
from pledge.api.problems import ApiProblem, ErrorItem
from pledge.api.schemas import (
    Created,
    CustomerIds,
    CustomerIn,
    CustomerOut,
    CustomerPatch,
    GuaranteeIn,
    GuaranteeOut,
    OrderIn,
    OrderOut,
    OrdersOut,
    ProblemOut,
    PurposeKey,
)
from pledge.vault import services
from pledge.vault.services import LOOKUP_FIELDS, MAX_FIELDS_PER_CALL

router = Router()

# Documented on every operation; the bodies are application/problem+json (v1.py).
ERRORS: dict[Any, type[ProblemOut]] = {(400, 401, 403, 404, 410, 413, 422, 500, 503): ProblemOut}


def _invalid(field: str | None, rule: str, message: str) -> ApiProblem:
    return ApiProblem(
        422, "invalid-request", "The request is invalid", message, [ErrorItem(field, rule, message)]
    )


def _field_list(raw: str | None) -> list[str] | None:
    """`fields=a,b` -> ["a", "b"]; names are checked by the vault (P09)."""
    if raw is None:
        return None
    names = [name.strip() for name in raw.split(",")]
    if not all(names) or len(names) > MAX_FIELDS_PER_CALL:
        raise _invalid(
            "fields",
            "field_list",
            f"fields is a comma-separated list of at most {MAX_FIELDS_PER_CALL} field keys",
        )
    return names


# -- customers ------------------------------------------------------------------------------


@router.post("/customers", response={201: Created, **ERRORS}, tags=["customers"])
def collect_customer(request: HttpRequest, body: CustomerIn) -> Status[Created]:
    """Create a customer with the fields a purpose collects (P01); consent may be given here."""
    extra = {"language": body.language} if body.language is not None else {}
    customer_id = services.collect_customer(
        actor=request_actor(request),
        purpose=body.purpose,
        fields=body.fields,
        external_ref=body.external_ref,
        consent_method=body.consent.method if body.consent else None,
        consent_notice=body.consent.notice if body.consent else None,
        **extra,
    )
    return Status(201, Created(id=customer_id))


# Before /customers/{customer_id}, which would take "lookup" for an id.
@router.get("/customers/lookup", response={200: CustomerIds, **ERRORS}, tags=["customers"])
def lookup_customers(
    request: HttpRequest,
    purpose: PurposeKey,
    email: str | None = None,
    phone: str | None = None,
    full_name: str | None = None,
) -> CustomerIds:
    """Customers whose email, phone or full name matches exactly (give exactly one)."""
    given = {
        key: value
        for key, value in zip(LOOKUP_FIELDS, (email, phone, full_name), strict=True)
        if value is not None
    }
    if len(given) != 1:
        raise _invalid(None, "exactly_one", "give exactly one of email, phone, full_name")
    ((by, value),) = given.items()
    ids = services.lookup_customers(
        actor=request_actor(request), purpose=purpose, by=by, value=value
    )
    return CustomerIds(ids=ids)


@router.get("/customers/{customer_id}", response={200: CustomerOut, **ERRORS}, tags=["customers"])
def read_customer(
    request: HttpRequest,
    customer_id: uuid.UUID,
    purpose: PurposeKey,
    fields: str | None = None,
) -> CustomerOut:
    """The profile fields the key may read for the purpose, masked unless it needs them (P09)."""
    view = services.read_customer(
        actor=request_actor(request),
        purpose=purpose,
        customer_id=customer_id,
        fields=_field_list(fields),
    )
    return CustomerOut(
        id=view.id,
        purpose=view.purpose,
        language=view.language,
        fields=view.fields,
        masked=sorted(view.masked),
    )


@router.patch("/customers/{customer_id}", response={204: None, **ERRORS}, tags=["customers"])
def update_customer(
    request: HttpRequest, customer_id: uuid.UUID, body: CustomerPatch
) -> Status[None]:
    """Set profile fields the purpose collects; `null` removes a field."""
    services.update_customer(
        actor=request_actor(request),
        purpose=body.purpose,
        customer_id=customer_id,
        fields=body.fields,
        consent_method=body.consent.method if body.consent else None,
        consent_notice=body.consent.notice if body.consent else None,
    )
    return Status(204, None)


# -- orders ---------------------------------------------------------------------------------


@router.post("/customers/{customer_id}/orders", response={201: Created, **ERRORS}, tags=["orders"])
def place_order(request: HttpRequest, customer_id: uuid.UUID, body: OrderIn) -> Status[Created]:
    """Record an order; the purpose must record purchases (`purchase_history`)."""
    order_id = services.place_order(
        actor=request_actor(request),
        purpose=body.purpose,
        customer_id=customer_id,
        number=body.number,
        items=[item.model_dump() for item in body.items],
        total=body.total,
        currency=body.currency,
        fields=body.fields,
        placed_at=body.placed_at,
    )
    return Status(201, Created(id=order_id))


@router.get("/customers/{customer_id}/orders", response={200: OrdersOut, **ERRORS}, tags=["orders"])
def list_orders(request: HttpRequest, customer_id: uuid.UUID, purpose: PurposeKey) -> OrdersOut:
    """The customer's orders, newest first, with the buyer fields the purpose may read."""
    views = services.list_orders(
        actor=request_actor(request), purpose=purpose, customer_id=customer_id
    )
    return OrdersOut(
        orders=[
            OrderOut(
                id=o.id,
                number=o.number,
                placed_at=o.placed_at,
                status=o.status,
                currency=o.currency,
                total=str(o.total),
                items=o.items,
                fields=o.fields,
                masked=sorted(o.masked),
            )
            for o in views
        ]
    )


# -- guarantee cards (P03) ------------------------------------------------------------------


@router.post(
    "/customers/{customer_id}/guarantees",
    response={201: Created, **ERRORS},
    tags=["guarantees"],
)
def issue_guarantee(
    request: HttpRequest, customer_id: uuid.UUID, body: GuaranteeIn
) -> Status[Created]:
    """Issue a guarantee card; its number is encrypted and indexed for lookup."""
    card_id = services.issue_guarantee(
        actor=request_actor(request),
        purpose=body.purpose,
        customer_id=customer_id,
        number=body.number,
        product=body.product,
        issued_on=body.issued_on,
        valid_until=body.valid_until,
        order_id=body.order_id,
    )
    return Status(201, Created(id=card_id))


@router.get("/guarantees/lookup", response={200: GuaranteeOut, **ERRORS}, tags=["guarantees"])
def lookup_guarantee(request: HttpRequest, purpose: PurposeKey, number: str) -> GuaranteeOut:
    """A guarantee card by its number (spaces, dashes and case do not matter), with the holder
    fields the purpose may read (P03)."""
    view = services.lookup_guarantee(actor=request_actor(request), purpose=purpose, number=number)
    return GuaranteeOut(
        id=view.id,
        customer_id=view.customer_id,
        order_number=view.order_number,
        product=view.product,
        issued_on=view.issued_on,
        valid_until=view.valid_until,
        fields=view.fields,
        masked=sorted(view.masked),
    )
