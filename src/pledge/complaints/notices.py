"""The emails of a complaint (issue 7; P21, P22): the acknowledgement to the customer, and the
escalation to the shop's owner(s) at 50 % and 80 % of the SLA.

Each is queued in the outbox inside the transaction of the change that causes it
(`pledge.notify.services.enqueue`), so it exists if and only if that change commits, rendered in
the recipient's language from one template under `complaints/email/`. The customer's address is
the one on file (`pledge.vault.contact.contact_email`, audited); the owners' are their staff
account addresses. Messages carry no personal value: a reference, dates, the channel; never the
complaint's text (it stays encrypted in the vault).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import translation

from pledge.accounts.emails import email_language
from pledge.complaints.models import Complaint, ComplaintChannel
from pledge.notify.rendering import shop_name
from pledge.notify.services import enqueue
from pledge.rights.notices import due_text
from pledge.vault.models import Customer

TEMPLATES = "complaints/email"
# The role told when a complaint runs late (seed B: "to the Management Board"; P21 escalation).
OWNER_ROLE = "owner"


def _language(customer_id: uuid.UUID) -> str:
    found = Customer.objects.filter(pk=customer_id).values_list("language", flat=True).first()
    return found if found in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def _context(complaint: Complaint, language: str) -> dict[str, Any]:
    with translation.override(language):
        return {
            "shop": shop_name(),
            "reference": str(complaint.id)[:8],
            "channel": str(ComplaintChannel(complaint.channel).label),
            "received": due_text(complaint.received_at, language),
            "due": due_text(complaint.due_at, language),
        }


def acknowledged(complaint: Complaint) -> bool:
    """Receipt confirmed with the answer time (P22; Consumer Protection Law Art 31, 57). False
    when the customer has no email on file (staff acknowledge by the channel it came from)."""
    from pledge.vault.contact import contact_email

    if complaint.customer_id is None:
        return False
    customer_id = uuid.UUID(str(complaint.customer_id))
    to = contact_email(customer_id=customer_id, reason="complaint_acknowledged")
    if not to:
        return False
    language = _language(customer_id)
    enqueue(
        to=to,
        template=f"{TEMPLATES}/acknowledged",
        language=language,
        context=_context(complaint, language),
        idempotency_key=f"complaints:{complaint.id}:acknowledged",
        customer_id=customer_id,
    )
    return True


def owners() -> list[User]:
    """Active staff whose role is the owner's, with an address to write to."""
    return list(
        User.objects.filter(
            is_active=True,
            staff__role=OWNER_ROLE,
            staff__disabled_at__isnull=True,
        )
        .exclude(email="")
        .select_related("staff")
        .order_by("id")
    )


def escalated(complaint: Complaint, level: int, recipients: list[User]) -> int:
    """Tell each owner that the complaint reached `level` % of its SLA unanswered; once per
    owner, complaint and level (the idempotency key), however often the job runs."""
    for user in recipients:
        language = email_language(user)
        context = _context(complaint, language)
        context["level"] = level
        enqueue(
            to=user.email,
            template=f"{TEMPLATES}/escalated",
            language=language,
            context=context,
            idempotency_key=f"complaints:{complaint.id}:escalated_{level}:{user.pk}",
        )
    return len(recipients)
