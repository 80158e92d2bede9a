"""The emails of a data-subject request (issue 6; P18, P22): acknowledgement with the due date,
extension with its reason, denial with its legal ground, the answer when it is carried out, and
the one-time identity code.

Each is queued in the outbox inside the transaction of the change that causes it
(`pledge.notify.services.enqueue`), rendered in the customer's language (`Customer.language`) from
one template per message under `rights/email/`. The recipient is always the email on file
(`pledge.vault.contact.contact_email`, audited), never an address a requester typed; a customer
without an email on file gets no email (staff answer by the channel the request came from).
Messages carry no personal value: kinds, dates, counts, field names, legal articles.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from pledge.notify.rendering import shop_name
from pledge.notify.services import enqueue
from pledge.policy.render import localized_date
from pledge.policy.vocabulary import RECORD_KINDS, STANDARD_FIELDS
from pledge.rights.models import DataSubjectRequest, RequestChannel, RequestKind
from pledge.vault.access import policy
from pledge.vault.contact import contact_email
from pledge.vault.errors import VaultError
from pledge.vault.models import Customer

TEMPLATES = "rights/email"


# -- texts -----------------------------------------------------------------------------------


def _language(customer_id: uuid.UUID | None) -> str:
    found = (
        Customer.objects.filter(pk=customer_id).values_list("language", flat=True).first()
        if customer_id is not None
        else None
    )
    return found if found in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def _shop_zone() -> ZoneInfo:
    try:
        return ZoneInfo(policy().policy.timezone)
    except (VaultError, ZoneInfoNotFoundError, ValueError):  # no policy: the server's zone
        return ZoneInfo(settings.TIME_ZONE)


def due_text(at: dt.datetime | None, language: str) -> str:
    """A due time as a customer reads it, in the shop's time zone: a period that ends at 24:00
    is "15/02/2027" (its last day), any other end also gives the hour. "" without a fixed time."""
    if at is None:
        return ""
    local = at.astimezone(_shop_zone())
    if local.time() == dt.time(0, 0):
        return localized_date((local - dt.timedelta(microseconds=1)).date(), language)
    return f"{localized_date(local.date(), language)} {local:%H:%M}"


def date_text(at: dt.datetime, language: str) -> str:
    """The day of a moment, in the shop's time zone."""
    return localized_date(at.astimezone(_shop_zone()).date(), language)


def field_label(key: str, language: str) -> str:
    """The policy's label of a field, the standard one, or the key in words."""
    try:
        declared = policy().policy.field(key)
    except KeyError:  # a field the policy no longer declares
        declared = None
    if declared is not None and declared.label is not None:
        return declared.label.get(language)
    standard = STANDARD_FIELDS.get(key)
    return str(standard.label) if standard else key.replace("_", " ")


def purpose_label(key: str, language: str) -> str:
    try:
        return policy().policy.purpose(key).name.get(language)
    except KeyError:  # a purpose the policy no longer declares
        return key.replace("_", " ")


def public_url(name: str, *args: Any) -> str:
    """An absolute link into Pledge for an email, or "" when PLEDGE_PUBLIC_URL is not set (the
    email then says where to go in words)."""
    base = str(settings.PLEDGE_PUBLIC_URL or "").rstrip("/")
    return f"{base}{reverse(name, args=args)}" if base else ""


# What an erasure deletes (vault.erasure's report categories), in the customer's words.
ERASED_CATEGORIES: dict[str, Any] = {
    "lookup indexes": _("lookup indexes (the digests used to find your records)"),
    "identity documents": _("copies of identity documents"),
    "staff notes": _("staff notes"),
    "guarantee cards": _("guarantee cards"),
    "payment cards": _("saved payment cards"),
    "privacy-center account": _("your privacy-center account and its sign-ins"),
    "consents (withdrawn; the ledger keeps the proof)": _(
        "consents (withdrawn; the ledger keeps the proof of what you had agreed to)"
    ),
    "unsent emails": _("emails not yet sent to you"),
}


def erased_label(category: str) -> str:
    """A category of the erasure report as a customer reads it ("order fields": the personal
    details on orders); an unknown one as it is."""
    if category in ERASED_CATEGORIES:
        return str(ERASED_CATEGORIES[category])
    kind, _space, rest = category.partition(" ")
    if rest == "fields" and kind in RECORD_KINDS:
        return str(_("personal details on: %(records)s") % {"records": RECORD_KINDS[kind]})
    return category


def pick(text: Any, language: str) -> str:
    """A {"vi": …, "en": …} text of the erasure report in the customer's language."""
    if isinstance(text, dict):
        return str(text.get(language) or text.get("en") or text.get("vi") or "")
    return str(text or "")


def _base(request: DataSubjectRequest, language: str) -> dict[str, Any]:
    return {
        "shop": shop_name(),
        "kind": RequestKind(request.kind).label,  # lazy: rendered in the message's language
        "kind_key": request.kind,
        "reference": str(request.id)[:8],
        "received": date_text(request.received_at, language),
        "due": due_text(request.effective_due_at, language),
        "purposes": [purpose_label(k, language) for k in request.purposes or []],
        "center_url": public_url("portal:request_detail", request.id)
        if request.channel == RequestChannel.PRIVACY_CENTER
        else "",
    }


# -- sending ---------------------------------------------------------------------------------


def _send(
    request: DataSubjectRequest,
    name: str,
    context: dict[str, Any],
    *,
    to: str | None = None,
    language: str | None = None,
) -> bool:
    """Queue `rights/email/<name>` to the customer's email on file; False when there is none."""
    if request.customer_id is None:
        return False
    customer_id = uuid.UUID(str(request.customer_id))
    recipient = to or contact_email(customer_id=customer_id, reason=f"rights_{name}")
    if not recipient:
        return False
    lang = language or _language(customer_id)
    with translation.override(lang):
        full = {**_base(request, lang), **context}
    enqueue(
        to=recipient,
        template=f"{TEMPLATES}/{name}",
        language=lang,
        context=full,
        # One message per request and step: a retried step never writes twice.
        idempotency_key=f"rights:{request.id}:{name}",
        customer_id=customer_id,
    )
    return True


def acknowledged(request: DataSubjectRequest) -> bool:
    """Receipt acknowledged, with the due date (Decree 356/2025 Art 5: within 2 working days)."""
    return _send(request, "acknowledged", {})


def extended(request: DataSubjectRequest) -> bool:
    """The one extension, with its reason (Decree 356/2025 Art 5; GDPR Art 12(3))."""
    return _send(request, "extended", {"reason": request.extension_reason})


def denied(request: DataSubjectRequest) -> bool:
    """The refusal with its legal ground and article (PDPL Art 14(2); GDPR Art 12(4))."""
    from pledge.rights.services import DENIAL_GROUNDS

    label, article = DENIAL_GROUNDS[request.denial_ground]
    return _send(
        request,
        "denied",
        {"ground": label, "article": article, "explanation": request.denial_explanation},
    )


def completed(
    request: DataSubjectRequest,
    *,
    link: str | None = None,
    to: str | None = None,
    language: str | None = None,
    report: Any = None,
) -> bool:
    """The answer: what was done, per kind. Erasure passes the address and language it read
    before erasing (nothing of them remains afterwards) and the erasure report."""
    if request.kind == RequestKind.ERASURE and to is None:
        return False  # no address on file before the erasure, or erased already
    lang = language or _language(request.customer_id)
    outcome = dict(request.outcome or {})
    context: dict[str, Any] = {"outcome": outcome, "note": request.completion_note}
    if link:
        context["link"] = link
        context["link_days"] = max(1, int(settings.PLEDGE_EXPORT_LINK_SECONDS) // 86400)
    if report is not None:
        with translation.override(lang):
            context["deleted"] = [
                {"category": erased_label(item.category), "count": item.count}
                for item in report.deleted
            ]
            context["kept"] = [
                {
                    "field": field_label(item.field, lang),
                    "record": str(RECORD_KINDS.get(item.record_kind, item.record_kind)),
                    "count": item.count,
                    "reason": pick(item.reason, lang),
                    "article": pick(item.article, lang),
                    "until": localized_date(item.until, lang),
                }
                for item in report.kept
            ]
    return _send(request, "completed", context, to=to, language=lang)


def identity_code(
    *,
    request: DataSubjectRequest,
    challenge_id: uuid.UUID,
    to: str,
    language: str,
    code: str,
    customer_id: uuid.UUID | None,
) -> None:
    """The one-time code: to the address on file (the public form: the address typed, which the
    blind index matched to exactly one customer; staff entry: the address on file)."""
    _code_message(
        "identity_code",
        request=request,
        challenge_id=challenge_id,
        to=to,
        language=language,
        customer_id=customer_id,
        extra={"code": code},
    )


def no_data(
    *, request: DataSubjectRequest, challenge_id: uuid.UUID, to: str, language: str
) -> None:
    """The public form's answer to an address that is not on file: one short email, so that an
    address on file and one not on file cost the same work (docs/rights.md)."""
    _code_message(
        "no_data",
        request=request,
        challenge_id=challenge_id,
        to=to,
        language=language,
        customer_id=None,
        extra={},
    )


def _code_message(
    name: str,
    *,
    request: DataSubjectRequest,
    challenge_id: uuid.UUID,
    to: str,
    language: str,
    customer_id: uuid.UUID | None,
    extra: dict[str, Any],
) -> None:
    lang = language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
    minutes = max(1, int(settings.PLEDGE_IDENTITY_CODE_SECONDS) // 60)
    with translation.override(lang):
        context = {
            "shop": shop_name(),
            "kind": RequestKind(request.kind).label,
            "minutes": minutes,
            "form_url": public_url("rights:start"),
            **extra,
        }
    enqueue(
        to=to,
        template=f"{TEMPLATES}/{name}",
        language=lang,
        context=context,
        idempotency_key=f"rights:{request.id}:{name}:{challenge_id}",
        customer_id=customer_id,
    )
