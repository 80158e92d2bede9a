"""Sending a marketing email, only where the customer's choices allow it (P04, P19; PDPL Art 28;
GDPR Art 21(3)).

`send_marketing_email` refuses — returns None, the refusal audited by the vault's check — when the
purpose is based on consent and there is no live consent, or when the customer objected to it
(unsubscribed) on any legal basis. Otherwise it reads the email address through the vault for that
purpose (audited like every read) and writes the message to the outbox in the same transaction,
with the List-Unsubscribe headers of RFC 2369 / RFC 8058 and the link in the body too (seed C:
"click on the unsubscribe link at the bottom of any of our email messages").

Misuse by the caller (a purpose that is not direct marketing, or a policy that masks the email
for it) raises `MarketingRefused`: that is a configuration to fix, not a customer's choice.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from pledge.consent.unsubscribe import list_unsubscribe_headers, unsubscribe_url
from pledge.notify.models import OutboxMessage
from pledge.notify.services import enqueue
from pledge.vault import services as vault
from pledge.vault.access import Actor, policy
from pledge.vault.errors import ConsentRequired

# The template shipped for shops without their own: a headline, a text, the unsubscribe link.
DEFAULT_TEMPLATE = "consent/email/marketing"


class MarketingRefused(Exception):
    """The call cannot send marketing as configured; the message says what to change."""


def send_marketing_email(
    *,
    customer_id: uuid.UUID,
    purpose: str,
    template: str,
    context: Mapping[str, Any],
    idempotency_key: str,
    actor: Actor,
) -> OutboxMessage | None:
    """Queue one marketing email to the customer, or None when their choices refuse it."""
    declared = policy().purpose(purpose)
    if declared is None or not declared.marketing:
        raise MarketingRefused(
            f"{purpose[:80]!r} is not a direct-marketing purpose of the policy in force "
            "(`marketing: true`)"
        )
    with transaction.atomic():
        try:
            # The vault's check refuses (and audits, rule consent_required or objection) before
            # anything is decrypted.
            view = vault.read_customer(
                actor=actor, purpose=purpose, customer_id=customer_id, fields=["email"]
            )
        except ConsentRequired:
            return None
        if "email" not in view.fields:
            return None  # no address on file: nothing to send
        if "email" in view.masked:
            raise MarketingRefused(
                f"the policy masks the email for {purpose!r}: list it under `unmasked` of that "
                "purpose, since sending needs the whole address (P09)"
            )
        return enqueue(
            to=str(view.fields["email"]),
            template=template,
            language=view.language,
            context={
                "purpose_name": declared.name.get(view.language),
                **context,
                "unsubscribe_url": unsubscribe_url(customer_id, purpose),
            },
            idempotency_key=idempotency_key,
            customer_id=customer_id,
            category=OutboxMessage.Category.MARKETING,
            headers=list_unsubscribe_headers(customer_id, purpose),
        )
