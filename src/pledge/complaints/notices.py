"""The emails of a complaint (issue 7; P21, P22): the acknowledgement to the customer, and the
escalation to the shop's owner(s) at 50 % and 80 % of the SLA.

Each is queued in the outbox inside the transaction of the change that causes it
(`pledge.notify.services.enqueue`), so it exists if and only if that change commits, rendered in
the recipient's language from one template under `complaints/email/`. The customer's address is
the one the complaint came from, else the one on file (`complaints/intake.py`, audited); the
owners' are their staff account addresses. The owners' escalations carry a reference, dates
and the channel only. The customer's emails carry the shop's own words (a message, the answer and
its reason: P22 promises them in writing), never the customer's complaint text, which stays
encrypted in the vault.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import translation

from pledge.accounts.emails import email_language
from pledge.complaints.models import (
    Complaint,
    ComplaintChannel,
    ComplaintMessage,
    ComplaintOutcome,
)
from pledge.notify.rendering import shop_name
from pledge.notify.services import enqueue
from pledge.rights.notices import due_text, public_url
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


def _address(complaint: Complaint, reason: str) -> str | None:
    """Where the customer's emails about this complaint go (audited read): the address the
    complaint came from, else the customer's on file (complaints/intake.py)."""
    from pledge.complaints.intake import reply_address

    return reply_address(complaint, reason=reason)


def _link(complaint: Complaint) -> str:
    """Where the customer reads the thread: the privacy center for an account holder whose
    complaint is proven theirs, else the complaint's own status link (complaints/links.py)."""
    from pledge.accounts.models import CustomerAccount
    from pledge.complaints.links import make_token

    customer_id = complaint.customer_id
    if (
        complaint.sender_verified
        and customer_id is not None
        and CustomerAccount.objects.filter(customer_id=customer_id).exists()
    ):
        return public_url("portal:complaint", complaint.id)
    return public_url("complaint:status", make_token(complaint))


def _send(complaint: Complaint, template: str, key: str, extra: dict[str, Any]) -> bool:
    if complaint.customer_id is None:
        return False
    customer_id = uuid.UUID(str(complaint.customer_id))
    to = _address(complaint, reason=f"complaint_{template}")
    if not to:
        return False
    language = _language(customer_id)
    context = _context(complaint, language)
    context["link"] = _link(complaint)
    context.update(extra)
    enqueue(
        to=to,
        template=f"{TEMPLATES}/{template}",
        language=language,
        context=context,
        idempotency_key=f"complaints:{complaint.id}:{key}",
        customer_id=customer_id,
    )
    return True


def acknowledged(complaint: Complaint) -> bool:
    """Receipt confirmed with the answer time (P22; Consumer Protection Law Art 31, 57). False
    when the customer has no email on file (staff acknowledge by the channel it came from)."""
    return _send(complaint, "acknowledged", "acknowledged", {})


def staff_message(complaint: Complaint, message: ComplaintMessage, text: str) -> bool:
    """A message from staff, by email too (issue 7 item 4). It carries the shop's words, which
    the customer needs in writing; never the customer's own complaint text."""
    return _send(complaint, "message", f"message:{message.id}", {"text": text})


def answered(complaint: Complaint, message: ComplaintMessage, text: str, reason: str) -> bool:
    """The written answer with its reason (P22; Consumer Protection Law Art 57)."""
    return _send(
        complaint,
        "answered",
        f"answer:{message.id}",
        {
            "text": text,
            "reason": reason,
            "outcome": str(ComplaintOutcome(complaint.outcome).label) if complaint.outcome else "",
        },
    )


def reopened(complaint: Complaint) -> bool:
    """The reopened complaint's new answer time."""
    return _send(complaint, "reopened", f"reopened:{complaint.reopen_count}", {})


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
