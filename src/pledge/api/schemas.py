"""Request and response bodies of the API (pydantic, through ninja's Schema).

Bodies refuse unknown keys, so a typo ("purpsoe") is a 422 naming it rather than silently ignored.
The vault validates every personal value; the types here only make sure what reaches it has the
right shape, and that free text stored outside the encrypted values (order numbers, product
names, references) holds no control characters, which PostgreSQL would refuse with a 500.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import AfterValidator, AwareDatetime, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _no_control_characters(text: str) -> str:
    if _CONTROL.search(text):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return text


NoControl = AfterValidator(_no_control_characters)
# Text kept in clear outside the encrypted values: bounded lines without control characters.
ExternalRef = Annotated[str, StringConstraints(min_length=1, max_length=100), NoControl]
OrderNumber = Annotated[str, StringConstraints(min_length=1, max_length=64), NoControl]
GuaranteeNumber = Annotated[str, StringConstraints(min_length=1, max_length=64), NoControl]
ProductName = Annotated[str, StringConstraints(min_length=1, max_length=200), NoControl]
Sku = Annotated[str, StringConstraints(max_length=64), NoControl]
ItemName = Annotated[str, StringConstraints(max_length=200), NoControl]

# Policy keys (purposes, fields, roles): the policy schema's own pattern.
PurposeKey = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$"),
    Field(description="a purpose declared by the policy in force", examples=["order_fulfilment"]),
]
Language = Literal["vi", "en"]


class Body(Schema):
    model_config = ConfigDict(extra="forbid")


class ConsentIn(Body):
    """The customer gives consent in this call (P04), e.g. a ticked box at checkout."""

    method: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")] = Field(
        description="how consent was given: checkbox, web_form, in_store…", examples=["checkbox"]
    )
    notice: Annotated[str, StringConstraints(min_length=1, max_length=20_000)] | None = Field(
        None,
        description=(
            "the exact text the customer was shown, kept in the consent ledger (LAW.md, "
            "Consent); by default the purpose's notice generated from the policy in force"
        ),
    )


class CustomerIn(Body):
    purpose: PurposeKey
    fields: dict[str, Any] = Field(
        description="field key -> value, as the policy declares them",
        examples=[{"full_name": "Nguyễn Thị Hồng Nhung", "email": "nhung@example.vn"}],
    )
    language: Language | None = None
    external_ref: ExternalRef | None = Field(
        None, description="the shop's own id for this customer (unique)"
    )
    consent: ConsentIn | None = None


class CustomerPatch(Body):
    purpose: PurposeKey
    fields: dict[str, Any] = Field(description="field key -> new value, or null to remove it")
    consent: ConsentIn | None = None


class Created(Schema):
    id: uuid.UUID


class CustomerOut(Schema):
    id: uuid.UUID
    purpose: str
    language: str
    fields: dict[str, Any]
    masked: list[str] = Field(description="fields shown masked: the purpose does not need them")


class CustomerIds(Schema):
    ids: list[uuid.UUID]


class ItemIn(Body):
    sku: Sku = ""
    name: ItemName = ""
    quantity: int = Field(1, ge=1, le=100_000)
    unit_price: Decimal = Field(Decimal("0"), ge=0, allow_inf_nan=False)


class OrderIn(Body):
    purpose: PurposeKey
    number: OrderNumber
    items: list[ItemIn] = Field(max_length=500)
    total: Decimal = Field(ge=0, allow_inf_nan=False)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] = "VND"
    fields: dict[str, Any] = Field(
        default_factory=dict, description="buyer fields kept on the order (name, address…)"
    )
    placed_at: AwareDatetime | None = None


class OrderOut(Schema):
    id: uuid.UUID
    number: str
    placed_at: dt.datetime
    status: str
    currency: str
    total: str
    items: list[dict[str, Any]]
    fields: dict[str, Any]
    masked: list[str]


class OrdersOut(Schema):
    orders: list[OrderOut]


class GuaranteeIn(Body):
    purpose: PurposeKey
    number: GuaranteeNumber
    product: ProductName
    issued_on: dt.date
    valid_until: dt.date
    order_id: uuid.UUID | None = None


class GuaranteeOut(Schema):
    id: uuid.UUID
    customer_id: uuid.UUID
    order_number: str | None
    product: str
    issued_on: dt.date
    valid_until: dt.date
    fields: dict[str, Any]
    masked: list[str]


class ErrorOut(Schema):
    field: str | None
    rule: str
    message: str


class ProblemOut(Schema):
    """RFC 9457 problem document (`application/problem+json`)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ErrorOut]


# -- payments (P02, PCI DSS 3.3.1) ----------------------------------------------------------
# Validation errors of the payment call never quote the input (problems.SENSITIVE_OPERATIONS);
# the card's own checks are the vault's (payments.CardInput.checked), which name fields only.


class CardIn(Body):
    number: Annotated[str, StringConstraints(max_length=32)] = Field(
        description="the card number; spaces or hyphens between groups are fine",
        examples=["4242 4242 4242 4242"],
    )
    expiry_month: int = Field(description="1-12", examples=[12])
    expiry_year: int = Field(description="YY or YYYY", examples=[2030])
    holder: Annotated[str, StringConstraints(max_length=200)] = Field(
        description="the name on the card", examples=["NGUYEN THI HONG NHUNG"]
    )
    cvc: Annotated[str, StringConstraints(max_length=4)] = Field(
        description="3 digits (4 for American Express); passed to the gateway, never stored",
        examples=["123"],
    )


class PaymentIn(Body):
    purpose: PurposeKey
    card: CardIn
    save_card: bool = Field(
        True, description="keep brand, BIN, last 4, expiry and holder (encrypted) for history"
    )


class PaymentOut(Schema):
    id: uuid.UUID
    order_id: uuid.UUID
    status: str = Field(description="authorized or declined")
    amount: str
    currency: str
    card: str | None = Field(description="brand and last 4, e.g. VISA •••• 4242")
    gateway: str
    gateway_reference: str
    decline_reason: str
