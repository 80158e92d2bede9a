"""Giving and withdrawing consent (P04: withdrawal is as easy as giving)."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.consent.models import Consent


@transaction.atomic
def give_consent(
    *,
    customer_id: uuid.UUID,
    purpose: str,
    policy_version: str,
    method: str,
    actor: str,
) -> Consent:
    consent = Consent.objects.create(
        customer_id=customer_id,
        purpose=purpose,
        policy_version=policy_version,
        method=method,
        given_at=timezone.now(),
    )
    record_event(
        EventType.CONSENT_GIVEN,
        actor=actor,
        customer_id=customer_id,
        purpose=purpose,
        details={"method": method, "policy_version": policy_version},
    )
    return consent


@transaction.atomic
def withdraw_consent(*, customer_id: uuid.UUID, purpose: str, actor: str) -> int:
    count = Consent.objects.filter(
        customer_id=customer_id, purpose=purpose, withdrawn_at__isnull=True
    ).update(withdrawn_at=timezone.now())
    if count:
        record_event(
            EventType.CONSENT_WITHDRAWN, actor=actor, customer_id=customer_id, purpose=purpose
        )
    return count


def has_live_consent(customer_id: uuid.UUID, purpose: str) -> bool:
    return Consent.objects.filter(
        customer_id=customer_id, purpose=purpose, withdrawn_at__isnull=True
    ).exists()
