"""Handling a complaint (issue 7 item 3; P20, P21, P22): the thread, assignment, internal notes,
messages to the customer, the written answer with its reason, compensation, closing, and the
customer writing again or reopening it.

    acknowledged ──message──▶ in_progress ──answer──▶ answered ──close──▶ closed
         │                                               │  ▲              │
         └──────────────answer───────────────────────────┘  └──reopen (customer, within window)
                                                            reopened ──answer──▶ answered

Every text (the customer's messages, staff messages, the answer and its reason, internal notes,
compensation reasons) is stored in the vault under the customer's data key (record kind
"complaint", field `complaint_details`, record id = the message's id), so an erasure reaches it;
rows here hold ids, kinds and times only. Reads go through `authorize_read` (the policy's roles
for the `complaints` purpose, masking, restriction) and are audited (`complaints:read`).

A customer reaches a complaint as `Actor(kind="customer", id=<customer id>)`: signed in to the
privacy center, or holding the complaint's status link (complaints/links.py), which the view turns
into that actor for that one complaint. Another customer's complaint answers `NotFound`, exactly
like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from pledge.accounts.models import StaffProfile
from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.complaints import notices
from pledge.complaints.models import (
    CUSTOMER_VISIBLE,
    OPEN_STATUSES,
    Compensation,
    Complaint,
    ComplaintChannel,
    ComplaintEvidence,
    ComplaintMessage,
    ComplaintOutcome,
    ComplaintStatus,
    MessageKind,
)
from pledge.complaints.pii import personal_data_hints
from pledge.complaints.selectors import handler_roles
from pledge.complaints.services import FIELD, PURPOSE, ComplaintInvalid, clean_complaint_text
from pledge.complaints.sla import clocks_for
from pledge.policy.clock import ClockError
from pledge.vault.access import Actor, authorize, policy
from pledge.vault.errors import AccessRefused, NotFound, Problem, VaultError
from pledge.vault.masking import mask_value
from pledge.vault.models import Customer, EncryptedValue, RecordKind
from pledge.vault.restriction import check_restriction
from pledge.vault.services import authorize_read
from pledge.vault.store import customer_key, encrypted_rows, read_values

# Compensation: VND has no minor unit in practice, but other shops' currencies do.
MAX_AMOUNT = decimal.Decimal("1000000000000")
_CURRENCY = re.compile(r"[A-Z]{3}")


class ComplaintConflict(VaultError):
    status = 409
    code = "complaint-conflict"
    title = "Not possible in the complaint's current state"


class NoteLooksPersonal(ComplaintInvalid):
    """A note that looks like it holds personal data, not confirmed: nothing saved."""

    code = "note-looks-personal"
    title = "The note looks like it holds personal data"

    def __init__(self, hints: list[str]) -> None:
        self.hints = hints
        super().__init__(
            "the note looks like it holds personal data ("
            + ", ".join(hints)
            + "); write what happened without it, or confirm that it is needed",
            [Problem("text", "looks_personal", kind) for kind in hints],
        )


# -- views of a thread ----------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceView:
    id: uuid.UUID
    content_type: str
    size: int
    created_at: dt.datetime


@dataclass(frozen=True)
class Entry:
    id: uuid.UUID
    kind: str  # MessageKind, or "complaint" for the complaint's own first text
    author_id: int | None
    created_at: dt.datetime
    text: str
    reason: str  # the answer's reason (P22); "" for other kinds
    flagged_personal: bool
    evidence: tuple[EvidenceView, ...]


@dataclass(frozen=True)
class CompensationView:
    id: uuid.UUID
    amount: decimal.Decimal
    currency: str
    reason: str
    recorded_at: dt.datetime


@dataclass(frozen=True)
class Thread:
    complaint: Complaint
    entries: tuple[Entry, ...]  # oldest first; the complaint's text is the first
    compensations: tuple[CompensationView, ...]
    masked: bool  # the role sees the texts masked (P09)
    unavailable: bool  # the customer was erased: no text remains to show
    reopen_until: dt.datetime | None  # the customer may reopen until then (None: not now)


# -- shared checks --------------------------------------------------------------------------


def _complaint(complaint_id: object, *, lock: bool = False) -> Complaint:
    if not isinstance(complaint_id, uuid.UUID):
        raise NotFound(f"no complaint {str(complaint_id)[:40]!r}")
    rows = Complaint.objects.select_for_update() if lock else Complaint.objects
    found = rows.filter(pk=complaint_id).first()
    if found is None or found.customer_id is None:
        raise NotFound(f"no complaint {complaint_id}")
    return found


def _customer(complaint: Complaint) -> uuid.UUID:
    return uuid.UUID(str(complaint.customer_id))


def _check_customer(actor: Actor, complaint: Complaint) -> None:
    """A customer reaches only their own complaints; another's looks like none at all."""
    if not actor.is_subject(_customer(complaint)):
        raise NotFound(f"no complaint {complaint.id}")


def _check_staff_write(
    actor: Actor, complaint: Complaint, fields: Iterable[str] = (FIELD,)
) -> None:
    """Staff acting on a complaint: the policy's roles for `complaints` (P06, P09), not an erased
    or restricted-for-this-purpose customer (audited refusals)."""
    if actor.kind != "staff":
        raise AccessRefused(
            "only staff handle complaints",
            [Problem(None, "staff_only", "not a staff member")],
        )
    enforced = policy()
    customer_id = _customer(complaint)
    authorize(
        enforced,
        actor,
        PURPOSE,
        event=EventType.WRITE_REFUSED,
        customer_id=customer_id,
        fields=list(fields),
    )
    check_restriction(
        enforced,
        PURPOSE,
        customer_id,
        actor=actor,
        event=EventType.WRITE_REFUSED,
        fields=list(fields),
    )


def _store_text(complaint: Complaint, record_id: uuid.UUID, text: str) -> None:
    EncryptedValue.objects.bulk_create(
        encrypted_rows(
            customer_key(_customer(complaint)), RecordKind.COMPLAINT, record_id, {FIELD: text}
        )
    )


def _record(
    event: EventType, actor: Actor, complaint: Complaint, *, fields: bool = True, **details: object
) -> None:
    record_event(
        event,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=complaint.customer_id,
        record=f"complaint:{complaint.id}",
        purpose=PURPOSE,
        fields=[FIELD] if fields else [],
        details=dict(details),
    )


def _message(
    complaint: Complaint,
    kind: MessageKind,
    text: str,
    *,
    author_id: int | None,
    reason: str | None = None,
    flagged_personal: bool = False,
) -> ComplaintMessage:
    message = ComplaintMessage.objects.create(
        complaint=complaint,
        kind=kind,
        author_id=author_id,
        reason_id=uuid.uuid4() if reason is not None else None,
        flagged_personal=flagged_personal,
        created_at=timezone.now(),
    )
    _store_text(complaint, message.id, text)
    if reason is not None and message.reason_id is not None:
        _store_text(complaint, message.reason_id, reason)
    return message


def _staff_id(actor: Actor) -> int | None:
    return int(actor.id) if actor.kind == "staff" and actor.id.isdigit() else None


def reopen_until(complaint: Complaint) -> dt.datetime | None:
    """Until when the customer may reopen: `PLEDGE_COMPLAINT_REOPEN_DAYS` after the latest
    answer, while it is answered or closed."""
    if complaint.status not in (ComplaintStatus.ANSWERED, ComplaintStatus.CLOSED):
        return None
    if complaint.answered_at is None:
        return None
    return complaint.answered_at + dt.timedelta(days=int(settings.PLEDGE_COMPLAINT_REOPEN_DAYS))


# -- reading --------------------------------------------------------------------------------


def thread(*, actor: Actor, complaint_id: uuid.UUID) -> Thread:
    """The complaint's thread, decrypted for this actor, audited. Customers see what was said
    to and by them, never internal notes; staff see everything their role may (masked where
    the policy masks `complaint_details` for the role)."""
    complaint = _complaint(complaint_id)
    customer_id = _customer(complaint)
    if actor.kind == "customer":
        _check_customer(actor, complaint)
    elif actor.kind != "staff":
        raise AccessRefused("only the customer and staff read a complaint")
    messages = list(complaint.messages.order_by("created_at", "id"))
    if actor.kind == "customer":
        messages = [m for m in messages if m.kind in CUSTOMER_VISIBLE]
    compensations = list(complaint.compensations.order_by("recorded_at", "id"))
    evidence = list(complaint.evidence.order_by("created_at", "id"))
    erased = Customer.objects.filter(pk=customer_id, erased_at__isnull=False).exists()
    if erased:
        # Nothing remains to decrypt (the key is destroyed); times and kinds still tell the
        # history, and no read happened to audit.
        return Thread(
            complaint=complaint,
            entries=tuple(
                Entry(m.id, m.kind, m.author_id, m.created_at, "", "", m.flagged_personal, ())
                for m in messages
            ),
            compensations=(),
            masked=False,
            unavailable=True,
            reopen_until=None,
        )
    whole = True
    if actor.kind == "staff":
        _, unmasked = authorize_read(actor, PURPOSE, customer_id, FIELD)
        whole = FIELD in unmasked
    ids = [complaint.id, *(m.id for m in messages), *(c.id for c in compensations)]
    ids += [m.reason_id for m in messages if m.reason_id is not None]
    values = read_values(customer_key(customer_id), RecordKind.COMPLAINT, ids, [FIELD])

    def text(record_id: uuid.UUID | None) -> str:
        if record_id is None:
            return ""
        value = str(values.get(record_id, {}).get(FIELD, ""))
        return value if whole else str(mask_value(FIELD, value))

    def attached(message_id: uuid.UUID | None) -> tuple[EvidenceView, ...]:
        return tuple(
            EvidenceView(e.id, e.content_type, e.size, e.created_at)
            for e in evidence
            if e.message_id == message_id
        )

    entries = [
        Entry(
            complaint.id,
            "complaint",
            None,
            complaint.received_at,
            text(complaint.id),
            "",
            False,
            attached(None),
        )
    ]
    entries += [
        Entry(
            m.id,
            m.kind,
            m.author_id,
            m.created_at,
            text(m.id),
            text(m.reason_id),
            m.flagged_personal,
            attached(m.id),
        )
        for m in messages
    ]
    _record(EventType.COMPLAINT_READ, actor, complaint, messages=len(entries))
    until = reopen_until(complaint)
    return Thread(
        complaint=complaint,
        entries=tuple(entries),
        compensations=tuple(
            CompensationView(c.id, c.amount, c.currency, text(c.id), c.recorded_at)
            for c in compensations
        ),
        masked=not whole,
        unavailable=False,
        reopen_until=until if until is not None and timezone.now() < until else None,
    )


# -- staff ----------------------------------------------------------------------------------


def assignable(enforced_roles: frozenset[str] | None = None) -> list[User]:
    """Active staff whose role handles complaints (the policy's roles for `complaints`)."""
    roles = enforced_roles if enforced_roles is not None else handler_roles(policy())
    return list(
        User.objects.filter(
            is_active=True, staff__role__in=sorted(roles), staff__disabled_at__isnull=True
        ).order_by("id")
    )


def assign(*, actor: Actor, complaint_id: uuid.UUID, assignee: int | None) -> Complaint:
    """Give the complaint to a staff member whose role handles complaints, or to nobody."""
    complaint = _complaint(complaint_id)
    _check_staff_write(actor, complaint, fields=())
    with transaction.atomic():
        complaint = _complaint(complaint_id, lock=True)
        if assignee is not None:
            if not isinstance(assignee, int) or isinstance(assignee, bool):
                raise ComplaintInvalid(
                    "assignee must be a staff user id",
                    [Problem("assignee", "type", "not a user id")],
                )
            role = (
                StaffProfile.objects.filter(
                    user_id=assignee, user__is_active=True, disabled_at__isnull=True
                )
                .values_list("role", flat=True)
                .first()
            )
            if role is None or role not in handler_roles(policy()):
                raise ComplaintInvalid(
                    "the assignee is not an active staff member whose role handles complaints",
                    [Problem("assignee", "not_a_handler", "the policy does not give this role")],
                )
        complaint.assigned_to = assignee
        complaint.save(update_fields=["assigned_to", "updated_at"])
        _record(EventType.COMPLAINT_ASSIGNED, actor, complaint, fields=False, assignee=assignee)
        return complaint


def add_note(
    *, actor: Actor, complaint_id: uuid.UUID, text: str, confirm_personal: bool = False
) -> ComplaintMessage:
    """An internal note (never shown or sent to the customer). A note that looks like it holds
    a phone, email, card or ID number is refused with `NoteLooksPersonal` unless confirmed."""
    complaint = _complaint(complaint_id)
    cleaned = clean_complaint_text(text)
    _check_staff_write(actor, complaint)
    with transaction.atomic():
        complaint = _complaint(complaint_id, lock=True)
        hints = personal_data_hints(cleaned)
        if hints and not confirm_personal:
            raise NoteLooksPersonal(hints)
        message = _message(
            complaint,
            MessageKind.NOTE,
            cleaned,
            author_id=_staff_id(actor),
            flagged_personal=bool(hints),
        )
        _record(EventType.COMPLAINT_NOTE_ADDED, actor, complaint, flagged_personal=bool(hints))
        return message


def _start_work(complaint: Complaint) -> None:
    if complaint.status in (ComplaintStatus.RECEIVED, ComplaintStatus.ACKNOWLEDGED):
        complaint.status = ComplaintStatus.IN_PROGRESS
        complaint.save(update_fields=["status", "updated_at"])


def _require_open(complaint: Complaint, doing: str) -> None:
    if complaint.status not in OPEN_STATUSES:
        raise ComplaintConflict(
            f"cannot {doing}: the complaint is {complaint.status}",
            [Problem("status", "not_open", f"the complaint is {complaint.status}")],
        )


def send_message(*, actor: Actor, complaint_id: uuid.UUID, text: str) -> ComplaintMessage:
    """Write to the customer before answering ("we are looking into it"); emailed."""
    complaint = _complaint(complaint_id)
    cleaned = clean_complaint_text(text)
    _check_staff_write(actor, complaint)
    with transaction.atomic():
        complaint = _complaint(complaint_id, lock=True)
        _require_open(complaint, "write to the customer")
        message = _message(complaint, MessageKind.STAFF, cleaned, author_id=_staff_id(actor))
        _start_work(complaint)
        _record(EventType.COMPLAINT_MESSAGE_SENT, actor, complaint, message=str(message.id))
        notices.staff_message(complaint, message, cleaned)
        return message


def _outcome(value: object) -> ComplaintOutcome:
    if not isinstance(value, str) or value not in ComplaintOutcome.values:
        raise ComplaintInvalid(
            f"outcome must be one of: {', '.join(ComplaintOutcome.values)}",
            [Problem("outcome", "unknown_outcome", "not an outcome")],
        )
    return ComplaintOutcome(value)


def _reason(reason: object) -> str:
    try:
        return clean_complaint_text(reason)
    except ComplaintInvalid as exc:
        raise ComplaintInvalid(
            f"the answer's reason is invalid: {exc}",
            [Problem("reason", p.rule, p.message) for p in exc.problems],
        ) from None


def answer(
    *, actor: Actor, complaint_id: uuid.UUID, text: str, reason: str, outcome: str
) -> ComplaintMessage:
    """The written answer with its reason (P22; Consumer Protection Law Art 57): what the shop
    decided and why. Emailed; the first answer decides whether the promise was kept (P21)."""
    complaint = _complaint(complaint_id)
    cleaned = clean_complaint_text(text)
    why = _reason(reason)
    verdict = _outcome(outcome)
    _check_staff_write(actor, complaint)
    with transaction.atomic():
        complaint = _complaint(complaint_id, lock=True)
        _require_open(complaint, "answer")
        now = timezone.now()
        message = _message(
            complaint, MessageKind.ANSWER, cleaned, author_id=_staff_id(actor), reason=why
        )
        first = complaint.first_answered_at is None
        # P21: a late answer is a breach even when the worker has not run since the due time
        # (security review), and a reopened round answered late is its own breach; recorded
        # once per round, never cleared (`breached_at` keeps the first).
        in_time = now < complaint.due_at
        round_start = complaint.reopened_at or complaint.received_at
        round_breached = complaint.breached_at is not None and complaint.breached_at >= round_start
        if not in_time and not round_breached:
            if complaint.breached_at is None:
                complaint.breached_at = now
            record_event(
                EventType.COMPLAINT_SLA_BREACHED,
                actor=actor.label,
                actor_role=actor.role,
                customer_id=complaint.customer_id,
                record=f"complaint:{complaint.id}",
                details={"due_at": complaint.due_at.isoformat(), "round": complaint.reopen_count},
            )
        complaint.status = ComplaintStatus.ANSWERED
        complaint.answered_at = now
        complaint.outcome = verdict
        if first:
            complaint.first_answered_at = now
        if complaint.sla_met is None:
            # `due_at` is the first late instant; a breach already recorded set sla_met = False.
            complaint.sla_met = in_time
        complaint.save(
            update_fields=[
                "status",
                "answered_at",
                "first_answered_at",
                "outcome",
                "sla_met",
                "breached_at",
                "updated_at",
            ]
        )
        _record(
            EventType.COMPLAINT_ANSWERED,
            actor,
            complaint,
            outcome=verdict.value,
            first=first,
            sla_met=complaint.sla_met,
            in_time=in_time,
        )
        notices.answered(complaint, message, cleaned, why)
        return message


def _amount(amount: object) -> decimal.Decimal:
    try:
        value = (
            decimal.Decimal(str(amount).strip())
            if isinstance(amount, (str, int, decimal.Decimal))
            else None
        )
    except decimal.InvalidOperation:
        value = None
    if (
        value is None
        or isinstance(amount, bool)
        or not value.is_finite()
        or value <= 0
        or value >= MAX_AMOUNT
        or value.as_tuple().exponent < -2  # type: ignore[operator]
    ):
        raise ComplaintInvalid(
            "amount must be a positive number below 1,000,000,000,000 with at most 2 decimals",
            [Problem("amount", "invalid_amount", "not a positive amount")],
        )
    return value.quantize(decimal.Decimal("0.01"))


def compensate(
    *, actor: Actor, complaint_id: uuid.UUID, amount: object, currency: str, reason: str
) -> Compensation:
    """Compensation granted, with its amount and reason (seed D: "bồi thường tùy theo từng mức
    độ thiệt hại"); the customer sees it in the thread."""
    complaint = _complaint(complaint_id)
    value = _amount(amount)
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ComplaintInvalid(
            "currency must be a three-letter ISO 4217 code such as VND",
            [Problem("currency", "invalid_currency", "not an ISO 4217 code")],
        )
    why = _reason(reason)
    _check_staff_write(actor, complaint)
    with transaction.atomic():
        complaint = _complaint(complaint_id, lock=True)
        if complaint.status == ComplaintStatus.CLOSED:
            raise ComplaintConflict(
                "cannot record compensation: the complaint is closed",
                [Problem("status", "closed", "the complaint is closed")],
            )
        staff_id = _staff_id(actor)
        row = Compensation.objects.create(
            complaint=complaint,
            amount=value,
            currency=currency,
            recorded_by=staff_id or 0,
            recorded_at=timezone.now(),
        )
        _store_text(complaint, row.id, why)
        _record(
            EventType.COMPLAINT_COMPENSATED,
            actor,
            complaint,
            amount=str(value),
            currency=currency,
        )
        return row


def close(*, actor: Actor, complaint_id: uuid.UUID) -> Complaint:
    """Close an answered complaint. An unanswered one cannot be closed: P22 promises a written
    answer with its reason, so even a complaint that is not one gets an answer saying so."""
    complaint = _complaint(complaint_id)
    _check_staff_write(actor, complaint, fields=())
    with transaction.atomic():
        complaint = _complaint(complaint_id, lock=True)
        if complaint.status != ComplaintStatus.ANSWERED:
            raise ComplaintConflict(
                f"only an answered complaint can be closed; this one is {complaint.status}",
                [Problem("status", "not_answered", "answer it first")],
            )
        before = complaint.status
        complaint.status = ComplaintStatus.CLOSED
        complaint.closed_at = timezone.now()
        complaint.save(update_fields=["status", "closed_at", "updated_at"])
        _record(EventType.COMPLAINT_CLOSED, actor, complaint, fields=False, status_before=before)
        return complaint


# -- the customer ---------------------------------------------------------------------------

_REPLY_CHANNELS = frozenset(
    {ComplaintChannel.PRIVACY_CENTER, ComplaintChannel.WEB_FORM, ComplaintChannel.EMAIL}
)


def _check_customer_write(actor: Actor, complaint: Complaint, channel: object) -> str:
    if not isinstance(channel, str) or channel not in _REPLY_CHANNELS:
        raise ComplaintInvalid(
            "unknown channel for a customer's message",
            [Problem("channel", "unknown_channel", "not a customer channel")],
        )
    if channel == ComplaintChannel.EMAIL:
        # The mail-in listener acts as the system; it matched the sender to this complaint.
        if actor.kind != "system":
            raise AccessRefused("only the mail-in listener files a customer's email")
    else:
        if actor.kind != "customer":
            raise AccessRefused("only the customer writes on their complaint")
        _check_customer(actor, complaint)
    if Customer.objects.filter(pk=_customer(complaint), erased_at__isnull=False).exists():
        raise NotFound(f"no complaint {complaint.id}")
    return channel


def customer_reply(
    *, actor: Actor, complaint_id: uuid.UUID, text: str, channel: str
) -> ComplaintMessage:
    """The customer writes again on an open or answered complaint (a closed one is reopened
    first, within the window, or a new complaint is filed)."""
    complaint = _complaint(complaint_id)
    cleaned = clean_complaint_text(text)
    how = _check_customer_write(actor, complaint, channel)
    with transaction.atomic():
        complaint = _complaint(complaint_id, lock=True)
        if complaint.status == ComplaintStatus.CLOSED:
            raise ComplaintConflict(
                "the complaint is closed: reopen it, or file a new complaint",
                [Problem("status", "closed", "the complaint is closed")],
            )
        message = _message(complaint, MessageKind.CUSTOMER, cleaned, author_id=None)
        _record(
            EventType.COMPLAINT_CUSTOMER_REPLIED,
            actor,
            complaint,
            channel=how,
            message=str(message.id),
        )
        return message


def reopen(*, actor: Actor, complaint_id: uuid.UUID, text: str, channel: str) -> Complaint:
    """The customer reopens an answered or closed complaint within the window, saying why: a new
    round with its own due time and escalations. The first round's verdict (`sla_met`,
    `first_answered_at`) stays as it was; the earlier breach stays in the audit log."""
    complaint = _complaint(complaint_id)
    cleaned = clean_complaint_text(text)
    how = _check_customer_write(actor, complaint, channel)
    with transaction.atomic():
        complaint = _complaint(complaint_id, lock=True)
        until = reopen_until(complaint)
        now = timezone.now()
        if until is None or now >= until:
            raise ComplaintConflict(
                "this complaint cannot be reopened now: file a new complaint",
                [Problem("status", "not_reopenable", "not answered, or the window has passed")],
            )
        try:
            clocks = clocks_for(policy().policy, now)
        except ClockError as exc:
            raise ComplaintInvalid(str(exc)) from None
        _message(complaint, MessageKind.CUSTOMER, cleaned, author_id=None)
        complaint.status = ComplaintStatus.REOPENED
        complaint.reopened_at = now
        complaint.reopen_count += 1
        complaint.closed_at = None
        complaint.due_at = clocks.due_at
        complaint.escalate_50_at = clocks.escalate_at[50]
        complaint.escalate_80_at = clocks.escalate_at[80]
        complaint.escalated_50_at = None
        complaint.escalated_80_at = None
        # `breached_at` keeps the first breach (never hidden); this round's breach, if any, is
        # recorded when it is answered late (`answer`).
        complaint.save()
        _record(
            EventType.COMPLAINT_REOPENED,
            actor,
            complaint,
            channel=how,
            due_at=clocks.due_at.isoformat(),
            reopen_count=complaint.reopen_count,
        )
        notices.reopened(complaint)
        return complaint


def evidence_of(complaint: Complaint) -> list[ComplaintEvidence]:
    return list(complaint.evidence.order_by("created_at", "id"))
