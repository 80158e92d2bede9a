"""Card payments: the card passes through to the vault and the gateway, and nowhere else.

The CVC and the full number are in the request body only: never in a response, a problem
document (validation messages of this operation never quote input, problems.py), a log line or
an audit event (the vault's promise, vault/payments.py). An unexpected error here is logged
with its stack only, without its message (problems.handle_unexpected); no local variable is ever
logged. (Django's `sensitive_variables` cannot wrap the view: ninja reads the view's signature.)
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from pledge.api.auth import request_actor
from pledge.api.customers import ERRORS
from pledge.api.schemas import PaymentIn, PaymentOut, ProblemOut
from pledge.vault.payments import CardInput, authorize_payment

router = Router(tags=["payments"])

# A gateway that does not answer is 502 (vault.payments.GatewayFailed).
PAYMENT_ERRORS: dict[Any, type[ProblemOut]] = {**ERRORS, 502: ProblemOut}


@router.post(
    "/customers/{customer_id}/orders/{order_id}/payments",
    response={201: PaymentOut, **PAYMENT_ERRORS},
    url_name="authorize_payment",  # problems.SENSITIVE_OPERATIONS
)
def pay_order(
    request: HttpRequest, customer_id: uuid.UUID, order_id: uuid.UUID, body: PaymentIn
) -> Status[PaymentOut]:
    """Authorise the order's amount on a card (P02, P15). A decline is recorded too: the answer
    is 201 with `status: declined` and the gateway's reason."""
    card = CardInput(
        number=body.card.number,
        expiry_month=body.card.expiry_month,
        expiry_year=body.card.expiry_year,
        holder=body.card.holder,
        cvc=body.card.cvc,
    )
    result = authorize_payment(
        actor=request_actor(request),
        purpose=body.purpose,
        customer_id=customer_id,
        order_id=order_id,
        card=card,
        save_card=body.save_card,
    )
    return Status(
        201,
        PaymentOut(
            id=result.id,
            order_id=result.order_id,
            status=result.status,
            amount=str(result.amount),
            currency=result.currency,
            card=result.card,
            gateway=result.gateway,
            gateway_reference=result.gateway_reference,
            decline_reason=result.decline_reason,
        ),
    )
