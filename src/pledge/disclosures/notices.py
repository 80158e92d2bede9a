"""Telling recipients that a customer whose data they received erased it or withdrew consent.

GDPR Art 19 (the controller communicates an erasure to each recipient the data was disclosed
to) and LAW.md "Consent" (withdrawal: processors and recipients must stop too). Two hooks:

- `tell_recipients_of_erasure`, in `vault.erasure.ERASURE_HOOKS`: every recipient that ever
  received the customer's data;
- `tell_recipients_of_withdrawal`, in `consent.services.WITHDRAWAL_HOOKS`: the recipients that
  received it for the purpose whose consent was withdrawn. A withdrawal made by an erasure is
  left to the erasure hook, so a recipient gets one notice, not one per purpose.

Each recipient is told once per customer, reason, purpose and latest disclosure: a re-run hook
tells no one twice, but after a new consent and a new disclosure a second withdrawal (or an
erasure) is passed on again (`RecipientNotice` is unique on them, `last_disclosure` being the
latest disclosure of that customer to that recipient, for the purpose on a withdrawal).

When the policy gives the recipient a contact email, the notice goes through the outbox in the
caller's transaction (`disclosures:recipient_notified`, via email); otherwise it waits in the
console register as a task staff carry out and mark done (audited then).

A notice names the customer only by the reference the recipient already holds (the pseudonymous
customer id at the head of each row of the file it received) and the disclosures' references and
dates: never a name, an address or any other value. The outbox message is not tied to the
customer (`customer_id=None`): it must survive the erasure that caused it (an erasure discards
the customer's unsent mail and destroys their key).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import formats, timezone, translation

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.disclosures.models import (
    DisclosedCustomer,
    Disclosure,
    NoticeReason,
    NoticeStatus,
    RecipientNotice,
)
from pledge.disclosures.services import declared_recipient
from pledge.notify.rendering import shop_name
from pledge.notify.services import enqueue
from pledge.policy.enforcement import EnforcedPolicy, NoPolicyInForce, enforced_policy
from pledge.vault.access import Actor
from pledge.vault.errors import NotFound, VaultError

TEMPLATE = "disclosures/email/recipient_notice"


class NoticeConflict(VaultError):
    status = 409
    code = "notice-conflict"
    title = "This notice is not waiting to be done"


def _enforced() -> EnforcedPolicy | None:
    try:
        return enforced_policy()
    except NoPolicyInForce:
        return None


def _latest_by_recipient(rows: list[Disclosure]) -> dict[str, list[Disclosure]]:
    by_recipient: dict[str, list[Disclosure]] = {}
    for d in rows:
        by_recipient.setdefault(d.recipient, []).append(d)
    return by_recipient


def _email(
    enforced: EnforcedPolicy | None,
    notice: RecipientNotice,
    disclosures: list[Disclosure],
    address: str,
) -> None:
    language = enforced.policy.default_language if enforced is not None else "vi"
    purpose_name = notice.purpose
    if enforced is not None and notice.purpose:
        declared = enforced.purpose(notice.purpose)
        if declared is not None:
            purpose_name = declared.name.get(language)
    with translation.override(language):
        context: dict[str, Any] = {
            "shop": shop_name(),
            "recipient": notice.recipient_name(language),
            "reason": notice.reason,
            "purpose": purpose_name,
            "customer_reference": str(notice.customer_id),
            "disclosures": [
                {
                    "reference": d.reference,
                    "date": formats.date_format(timezone.localtime(d.disclosed_at), "DATE_FORMAT"),
                }
                for d in disclosures
            ],
            "notice_reference": notice.reference,
        }
    enqueue(
        to=address,
        template=TEMPLATE,
        language=language,
        context=context,
        idempotency_key=f"disclosures:notice:{notice.id}",
    )


def _tell(
    customer_id: uuid.UUID,
    disclosures: list[Disclosure],
    reason: str,
    purpose: str,
) -> int:
    """One notice per recipient among these disclosures; emailed where an address is declared."""
    enforced = _enforced()
    told = 0
    now = timezone.now()
    for recipient_key, given in _latest_by_recipient(disclosures).items():
        last = given[0]
        try:
            with transaction.atomic():
                notice = RecipientNotice.objects.create(
                    recipient=recipient_key,
                    recipient_name_vi=last.recipient_name_vi,
                    recipient_name_en=last.recipient_name_en,
                    customer_id=customer_id,
                    reason=reason,
                    purpose=purpose,
                    last_disclosure=last,
                    created_at=now,
                )
        except IntegrityError:
            continue  # told already of this data (a re-run hook, a retried job)
        declared = declared_recipient(enforced, recipient_key) if enforced else None
        address = declared.contact.email if declared and declared.contact else None
        if address:
            _email(enforced, notice, given, address)
            notice.status = NoticeStatus.EMAILED
            notice.done_at = now
            notice.done_by = "system:outbox"
            notice.save(update_fields=["status", "done_at", "done_by"])
            record_event(
                EventType.DISCLOSURE_RECIPIENT_NOTIFIED,
                actor="system:disclosures",
                customer_id=customer_id,
                record=f"recipient_notice:{notice.id}",
                purpose=purpose,
                details={"recipient": recipient_key, "reason": reason, "via": "email"},
            )
        told += 1
    return told


def _received(customer_id: uuid.UUID, purpose: str | None = None) -> list[Disclosure]:
    rows = Disclosure.objects.filter(
        pk__in=DisclosedCustomer.objects.filter(customer_id=customer_id).values("disclosure_id")
    )
    if purpose is not None:
        rows = rows.filter(purpose=purpose)
    return list(rows.order_by("-disclosed_at", "id"))


def tell_recipients_of_erasure(customer_id: uuid.UUID, report: object) -> None:
    """ERASURE_HOOKS: runs inside the erasure's transaction (GDPR Art 19)."""
    _tell(customer_id, _received(customer_id), NoticeReason.ERASURE, "")


def tell_recipients_of_withdrawal(customer_id: uuid.UUID, purpose: str, method: str) -> None:
    """WITHDRAWAL_HOOKS: runs inside the withdrawal's transaction (recipients must stop too)."""
    if method == "erasure":
        return  # the erasure hook tells every recipient once
    _tell(customer_id, _received(customer_id, purpose), NoticeReason.WITHDRAWAL, purpose)


def pending_notices(recipients: set[str] | None = None) -> list[RecipientNotice]:
    rows = RecipientNotice.objects.filter(status=NoticeStatus.PENDING)
    if recipients is not None:
        rows = rows.filter(recipient__in=recipients)
    return list(rows.order_by("created_at", "id")[:500])


@transaction.atomic
def mark_told(*, actor: Actor, notice_id: uuid.UUID) -> RecipientNotice:
    """Staff told the recipient (by phone, letter or their own email): the task is done."""
    notice = RecipientNotice.objects.select_for_update().filter(pk=notice_id).first()
    if notice is None:
        raise NotFound("no such notice")
    if notice.status != NoticeStatus.PENDING:
        raise NoticeConflict("this notice was already done")
    notice.status = NoticeStatus.DONE
    notice.done_at = timezone.now()
    notice.done_by = actor.label[:120]
    notice.save(update_fields=["status", "done_at", "done_by"])
    record_event(
        EventType.DISCLOSURE_RECIPIENT_NOTIFIED,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=uuid.UUID(str(notice.customer_id)),
        record=f"recipient_notice:{notice.id}",
        purpose=notice.purpose,
        details={"recipient": notice.recipient, "reason": notice.reason, "via": "staff"},
    )
    return notice
