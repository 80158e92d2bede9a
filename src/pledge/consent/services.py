"""State changes of the consent ledger (P04: withdrawal is as easy as giving).

Every change appends a `ConsentEvent`, updates the derived `ConsentState` and writes an audit
event, in one transaction. (Issue 5 skeleton: the helper that owns consent/ grows this module.)
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.consent.models import ConsentEvent, ConsentState


@transaction.atomic
def give_consent(
    *,
    customer_id: uuid.UUID,
    purpose: str,
    method: str,
    actor: str,
    channel: str = "api",
    language: str = "vi",
    policy_version: str = "",
    data_types: list[str] | None = None,
) -> ConsentEvent:
    now = timezone.now()
    event = ConsentEvent.objects.create(
        customer_id=customer_id,
        purpose=purpose,
        action=ConsentEvent.Action.GIVEN,
        policy_version=policy_version,
        method=method,
        channel=channel,
        language=language,
        data_types=data_types or [],
        at=now,
        actor=actor,
    )
    ConsentState.objects.update_or_create(
        customer_id=customer_id,
        purpose=purpose,
        defaults={"live": True, "event": event, "updated_at": now},
    )
    record_event(
        EventType.CONSENT_GIVEN,
        actor=actor,
        customer_id=customer_id,
        purpose=purpose,
        details={"method": method, "policy_version": policy_version},
    )
    return event


def has_live_consent(customer_id: uuid.UUID, purpose: str) -> bool:
    return ConsentState.objects.filter(customer_id=customer_id, purpose=purpose, live=True).exists()
