"""Writing to the outbox: `enqueue` inside the transaction of the change that causes the message.

The message exists if and only if that change commits (no email about a rolled-back change, no
change whose email was forgotten), and the delivery worker sends it later with retries
(`delivery.py`). `notify` knows nothing of the domain: callers pass a recipient, a template, a
language and a context; the outbox seals what it renders (`sealing.py`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from pledge.notify.models import OutboxMessage
from pledge.notify.rendering import RenderingRefused, checked_headers, message_id, render
from pledge.notify.sealing import Letter, seal

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY_MAX = 200  # the column's length
MAX_SEALED_BYTES = 1_000_000  # an email larger than this is a bug of the caller, not a message
ONE_CLICK = "List-Unsubscribe=One-Click"


class OutboxError(ValueError):
    """The outbox refuses to enqueue this message; the text says which argument is wrong."""


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        # An outbox row written on its own could be sent for a change that then rolls back, or
        # be lost when the change commits without it: the point of a transactional outbox.
        raise OutboxError(
            "enqueue() must be called inside the transaction of the change that causes the "
            "message (transaction.atomic)"
        )


def _check_marketing_headers(headers: Mapping[str, str]) -> None:
    """P19, RFC 8058: a marketing email carries a one-click unsubscribe the mailbox can use."""
    lowered = {name.lower(): value for name, value in headers.items()}
    unsubscribe = lowered.get("list-unsubscribe", "")
    if "<https://" not in unsubscribe:
        raise OutboxError(
            "a marketing message needs a List-Unsubscribe header with an <https://…> link "
            "(P19, RFC 8058 §3.1)"
        )
    if lowered.get("list-unsubscribe-post", "").strip() != ONE_CLICK:
        raise OutboxError(
            f"a marketing message needs the header List-Unsubscribe-Post: {ONE_CLICK} "
            "(P19, RFC 8058 §3.1)"
        )


def _check_arguments(
    *, to: str, template: str, language: str, idempotency_key: str, category: str
) -> None:
    if not isinstance(to, str) or "\n" in to or "\r" in to:
        raise OutboxError("to: one email address")
    try:
        validate_email(to)
    except ValidationError:
        raise OutboxError("to: not a valid email address") from None
    if language not in dict(settings.LANGUAGES):
        raise OutboxError(
            f"language {language!r}: use one of {', '.join(dict(settings.LANGUAGES))}"
        )
    if not idempotency_key or len(idempotency_key) > IDEMPOTENCY_KEY_MAX:
        raise OutboxError(f"idempotency_key: 1 to {IDEMPOTENCY_KEY_MAX} characters")
    if category not in OutboxMessage.Category.values:
        raise OutboxError(
            f"category {category!r}: use one of {', '.join(OutboxMessage.Category.values)}"
        )
    if len(template) > OutboxMessage._meta.get_field("template").max_length:  # type: ignore[operator]
        raise OutboxError("template: the name is too long")


def enqueue(
    *,
    to: str,
    template: str,
    language: str,
    context: Mapping[str, Any],
    idempotency_key: str,
    customer_id: uuid.UUID | None = None,
    category: str = "transactional",
    headers: Mapping[str, str] | None = None,
) -> OutboxMessage:
    """Queue one email, sealed, to be sent after the caller's transaction commits.

    A second call with the same `idempotency_key` (a retried request, a re-run job) returns the
    message already queued and changes nothing.
    """
    _require_transaction()
    _check_arguments(
        to=to,
        template=template,
        language=language,
        idempotency_key=idempotency_key,
        category=category,
    )
    existing = OutboxMessage.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    try:
        extra = checked_headers(headers)
    except RenderingRefused as exc:
        raise OutboxError(str(exc)) from None
    if category == OutboxMessage.Category.MARKETING:
        _check_marketing_headers(extra)
    try:
        subject, text, html = render(template, language, context)
    except RenderingRefused as exc:
        raise OutboxError(str(exc)) from None
    letter = Letter(
        to=to,
        subject=subject,
        text=text,
        html=html,
        headers={
            # RFC 3834 §5: an automatic message, so auto-responders stay quiet.
            "Auto-Submitted": "auto-generated",
            "Content-Language": language,
            "Message-ID": message_id(idempotency_key),
            **extra,
        },
    )
    now = timezone.now()
    message = OutboxMessage(
        idempotency_key=idempotency_key,
        template=template,
        category=category,
        language=language,
        customer_id=customer_id,
        created_at=now,
        next_attempt_at=now,
    )
    sealed = seal(message.id, letter, customer_id)
    if len(sealed.sealed) > MAX_SEALED_BYTES:
        raise OutboxError(f"the rendered message is larger than {MAX_SEALED_BYTES} bytes")
    message.key_version = sealed.key_version
    message.wrapped_key = sealed.wrapped_key
    message.sealed = sealed.sealed
    try:
        # A savepoint: a concurrent enqueue of the same key must not break the caller's
        # transaction (PostgreSQL aborts a transaction on an error otherwise).
        with transaction.atomic():
            message.save(force_insert=True)
    except IntegrityError:
        existing = OutboxMessage.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing
    log.info("outbox %s (%s) queued", message.id, template)
    return message


@transaction.atomic
def discard_for_customer(customer_id: uuid.UUID) -> int:
    """Forget the unsent messages of a customer (erasure): their sealed text is wiped and they
    are never sent. A message already handed to the mail server cannot be called back."""
    discarded = OutboxMessage.objects.filter(
        customer_id=customer_id,
        status__in=[OutboxMessage.Status.QUEUED, OutboxMessage.Status.SENDING],
    ).update(
        status=OutboxMessage.Status.FAILED,
        sealed=None,
        wrapped_key=None,
        lease_until=None,
        last_error="discarded",
    )
    if discarded:
        log.info("outbox: %d unsent message(s) of a customer discarded", discarded)
    return discarded
