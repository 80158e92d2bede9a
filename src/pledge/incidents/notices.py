"""The emails of an incident (P23): deadline warnings to the owners, and the notice to each
affected customer in their own language.

Both are queued in the outbox inside the transaction of the step that causes them
(`pledge.notify.services.enqueue`), with an idempotency key per clock+level+owner and per
incident+customer, so a re-run job or batch never sends one twice. A customer's notice is sealed
under the customer's key (`customer_id`); the address is read from the vault here, audited as a
`vault:read` of `email` by `system:incidents` for the built-in purpose `breach_notification`
(the law's purpose, GDPR Art 34 and Decree 356/2025 Art 28, not one of the shop's policy).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import translation

from pledge.accounts.emails import email_language
from pledge.accounts.models import CustomerAccount
from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.complaints.notices import owners
from pledge.incidents.models import Incident, IncidentClock
from pledge.notify.rendering import shop_name
from pledge.notify.services import enqueue
from pledge.rights.notices import due_text, field_label, public_url
from pledge.vault.accounts import ACCOUNT_RECORD, EMAIL
from pledge.vault.errors import NotFound
from pledge.vault.models import RecordKind
from pledge.vault.store import KeyUnavailable, customer_key, read_values

TEMPLATES = "incidents/email"
BREACH_NOTIFICATION = "breach_notification"
SYSTEM_INCIDENTS = "system:incidents"

__all__ = ["customer_notice", "deadline_warning", "notice_address", "owners"]


def _language(value: str | None) -> str:
    return value if value in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def deadline_warning(clock: IncidentClock, level: str, recipients: list[User]) -> int:
    """Tell each owner that the clock reached `level` (half time, or the final two hours)."""
    incident = clock.incident
    for user in recipients:
        language = email_language(user)
        with translation.override(language):
            context = {
                "shop": shop_name(),
                "reference": incident.reference,
                "level": level,
                "hours": clock.hours,
                "article": clock.article.get(language) or clock.article.get("en", ""),
                "summary": clock.summary.get(language) or clock.summary.get("en", ""),
                "detected": due_text(incident.detected_at, language),
                "due": due_text(clock.due_at, language),
                "drill": incident.drill,
                "link": public_url("console:incident", incident.id),
            }
        enqueue(
            to=user.email,
            template=f"{TEMPLATES}/deadline_warning",
            language=language,
            context=context,
            idempotency_key=f"incidents:{clock.id}:{level}:{user.pk}",
        )
    return len(recipients)


def notice_address(customer_id: uuid.UUID, incident: Incident) -> str | None:
    """The customer's email on file (the account's login email, else the profile's), audited;
    None when there is none or it can no longer be read (erased)."""
    try:
        key = customer_key(customer_id)
    except (KeyUnavailable, NotFound):
        return None
    account = (
        CustomerAccount.objects.filter(customer_id=customer_id, disabled_at__isnull=True)
        .only("id")
        .first()
    )
    found: tuple[str, str] | None = None
    if account is not None:
        values = read_values(key, ACCOUNT_RECORD, [account.pk], [EMAIL])[account.pk]
        if values.get(EMAIL):
            found = (str(values[EMAIL]), f"account:{account.pk}")
    if found is None:
        profile = read_values(key, RecordKind.PROFILE, [customer_id], [EMAIL])[customer_id]
        if profile.get(EMAIL):
            found = (str(profile[EMAIL]), f"profile:{customer_id}")
    if found is None:
        return None
    record_event(
        EventType.CUSTOMER_READ,
        actor=SYSTEM_INCIDENTS,
        customer_id=customer_id,
        record=found[1],
        purpose=BREACH_NOTIFICATION,
        fields=[EMAIL],
        details={"incident": str(incident.id)},
    )
    return found[0]


def notice_context(incident: Incident, fields: list[str], language: str) -> dict[str, Any]:
    with translation.override(language):
        return {
            "shop": shop_name(),
            "reference": incident.reference,
            "occurred_from": due_text(incident.occurred_from, language),
            "occurred_to": due_text(incident.occurred_to, language),
            "detected": due_text(incident.detected_at, language),
            "nature": incident.nature,
            "measures": incident.measures,
            "advice": incident.advice,
            "fields": [field_label(f, language) for f in sorted(fields)],
            "link": public_url("portal:home"),
        }


def customer_notice(
    incident: Incident, customer_id: uuid.UUID, language: str | None, fields: list[str]
) -> bool:
    """Queue the notice to one affected customer; False when there is no address to write to
    (staff reach them otherwise: the page counts them)."""
    to = notice_address(customer_id, incident)
    if not to:
        return False
    lang = _language(language)
    enqueue(
        to=to,
        template=f"{TEMPLATES}/customer_notice",
        language=lang,
        context=notice_context(incident, fields, lang),
        idempotency_key=f"incidents:{incident.id}:notice:{customer_id}",
        customer_id=customer_id,
    )
    return True
