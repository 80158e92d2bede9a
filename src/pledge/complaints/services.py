"""Filing complaints and watching their SLA clocks (issue 7; P21, P22).

    received ──acknowledge (at once, outbox)──▶ acknowledged ──▶ … answered / closed (next slices)

`file_complaint` checks who may file by which channel, stores the complaint's text in the vault
(encrypted under the customer's data key, record kind "complaint", field `complaint_details`,
purpose `complaints` — the way `vault/notes.py` stores a staff note), computes every time of the
complaint (`sla.clocks_for`), writes `complaints:filed` and queues the acknowledgement, all in one
transaction. `escalate_due` is the worker's job: at 50 % and 80 % of the SLA it emails the
owner(s) once each, and once the due time passes unanswered it records the breach once.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.complaints import notices
from pledge.complaints.models import OPEN_STATUSES, Complaint, ComplaintChannel, ComplaintStatus
from pledge.complaints.sla import ESCALATION_LEVELS, clocks_for
from pledge.policy.clock import ClockError
from pledge.vault.access import Actor, authorize, policy
from pledge.vault.errors import AccessRefused, NotFound, Problem, VaultError
from pledge.vault.models import Customer, EncryptedValue, RecordKind
from pledge.vault.normalise import ValueInvalid, clean_text
from pledge.vault.services import check_collectable, refuse_fields
from pledge.vault.store import customer_key, encrypted_rows

log = logging.getLogger(__name__)

# The policy's purpose and field for complaints (every preset declares both; P05, P21).
PURPOSE = "complaints"
FIELD = "complaint_details"
# Who may file by which channel. A signed-in customer files about themselves from the privacy
# center; staff record a phone call; the public form and the mail-in listener act as the system.
_CHANNEL_ACTORS: dict[ComplaintChannel, frozenset[str]] = {
    ComplaintChannel.PRIVACY_CENTER: frozenset({"customer"}),
    ComplaintChannel.STAFF_PHONE: frozenset({"staff"}),
    ComplaintChannel.WEB_FORM: frozenset({"system"}),
    ComplaintChannel.EMAIL: frozenset({"system"}),
}
# Rows one job run handles per step; the next run takes the rest.
BATCH = 200
SYSTEM_COMPLAINTS = Actor(kind="system", id="complaints")


class ComplaintInvalid(VaultError):
    status = 422
    code = "complaint-invalid"
    title = "Invalid complaint"


# -- input -----------------------------------------------------------------------------------


def _channel(channel: object) -> ComplaintChannel:
    if not isinstance(channel, str) or channel not in ComplaintChannel.values:
        raise ComplaintInvalid(
            f"unknown channel {str(channel)[:40]!r}; expected one of: "
            f"{', '.join(ComplaintChannel.values)}",
            [Problem("channel", "unknown_channel", "not a complaint channel")],
        )
    return ComplaintChannel(channel)


def _customer_id(value: object) -> uuid.UUID:
    if not isinstance(value, uuid.UUID):
        raise ComplaintInvalid(
            f"customer_id must be a UUID, not {type(value).__name__}",
            [Problem("customer_id", "type", "not a UUID")],
        )
    return value


def _received(value: object) -> dt.datetime:
    if value is None:
        return timezone.now()
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise ComplaintInvalid(
            "received_at must be a timezone-aware datetime",
            [Problem("received_at", "type", "not a timezone-aware datetime")],
        )
    if value > timezone.now() + dt.timedelta(minutes=5):
        # P21: a receipt time in the future would push the due time out and hide a late answer.
        raise ComplaintInvalid(
            "received_at cannot be in the future",
            [Problem("received_at", "future", "a complaint cannot be received in the future")],
        )
    return value


def clean_complaint_text(text: object) -> str:
    """NFC, trimmed, not empty, within the field's length, no control characters."""
    try:
        return clean_text(FIELD, text)
    except ValueInvalid as exc:
        raise ComplaintInvalid(
            f"the complaint's text is invalid: {exc}", [Problem(FIELD, exc.rule, str(exc))]
        ) from None


def _check_actor(actor: Actor, channel: ComplaintChannel, customer_id: uuid.UUID) -> None:
    if actor.kind not in _CHANNEL_ACTORS[channel]:
        raise AccessRefused(
            f"a {actor.kind} cannot file a complaint through the channel {channel.value!r}",
            [Problem("channel", "channel_not_allowed", "not this actor's channel")],
        )
    if actor.kind == "customer" and not actor.is_subject(customer_id):
        raise AccessRefused(
            "a customer files complaints only about themselves",
            [Problem("customer_id", "not_own_data", "this is someone else's record")],
        )


# -- filing ----------------------------------------------------------------------------------


def file_complaint(
    *,
    actor: Actor,
    customer_id: uuid.UUID,
    channel: str,
    text: str,
    received_at: dt.datetime | None = None,
    sender_verified: bool = False,
) -> Complaint:
    """Record a complaint, its encrypted text and its SLA times; acknowledge it at once (P22).

    `sender_verified` is for the system channels: mail whose sender passed the shop's mail
    server checks. A signed-in customer and staff on a call are verified by who they are; the
    public form never is (anyone can type an address)."""
    complaint_channel = _channel(channel)
    customer = _customer_id(customer_id)
    received = _received(received_at)
    cleaned = clean_complaint_text(text)
    _check_actor(actor, complaint_channel, customer)
    enforced = policy()
    # P06/P09: the purpose and the actor's role come from the policy (audited refusal).
    authorize(
        enforced,
        actor,
        PURPOSE,
        event=EventType.WRITE_REFUSED,
        customer_id=customer,
        fields=[FIELD],
    )
    # P01: the policy must declare complaint_details on complaint records for this purpose.
    refuse_fields(
        check_collectable(enforced, PURPOSE, {FIELD: None}, RecordKind.COMPLAINT),
        actor=actor,
        purpose=PURPOSE,
        customer_id=customer,
    )
    # The checks above record their refusals in their own transaction (P06: "refused and
    # recorded"); the complaint itself is one transaction.
    with transaction.atomic():
        if not Customer.objects.filter(pk=customer).exists():
            raise NotFound(f"no customer {customer}")
        try:
            clocks = clocks_for(enforced.policy, received)
        except ClockError as exc:
            raise ComplaintInvalid(str(exc)) from None
        complaint = Complaint.objects.create(
            customer_id=customer,
            channel=complaint_channel,
            status=ComplaintStatus.RECEIVED,
            received_at=received,
            acknowledge_due_at=clocks.acknowledge_due_at,
            due_at=clocks.due_at,
            sla_hours=clocks.sla_hours,
            sla_clock=clocks.sla_clock,
            escalate_50_at=clocks.escalate_at[50],
            escalate_80_at=clocks.escalate_at[80],
            sender_verified=(
                actor.kind in ("customer", "staff")
                or (complaint_channel == ComplaintChannel.EMAIL and bool(sender_verified))
            ),
        )
        EncryptedValue.objects.bulk_create(
            encrypted_rows(
                customer_key(customer), RecordKind.COMPLAINT, complaint.id, {FIELD: cleaned}
            )
        )
        record_event(
            EventType.COMPLAINT_FILED,
            actor=actor.label,
            actor_role=actor.role,
            customer_id=customer,
            record=f"complaint:{complaint.id}",
            purpose=PURPOSE,
            fields=[FIELD],
            details={
                "channel": complaint_channel.value,
                "status": ComplaintStatus.ACKNOWLEDGED.value,
                "due_at": clocks.due_at.isoformat(),
                "acknowledge_due_at": clocks.acknowledge_due_at.isoformat(),
                "sla_hours": clocks.sla_hours,
                "sla_clock": clocks.sla_clock,
            },
        )
        # P22: acknowledged at once. The email leaves when the transaction commits (outbox); a
        # customer without an email on file is acknowledged by staff on the channel it came from,
        # and the complaint is acknowledged all the same (the record says when).
        notices.acknowledged(complaint)
        complaint.status = ComplaintStatus.ACKNOWLEDGED
        complaint.acknowledged_at = timezone.now()
        complaint.save(update_fields=["status", "acknowledged_at", "updated_at"])
        return complaint


# -- the worker's job ------------------------------------------------------------------------


def _claim(field: str, due_field: str, now: dt.datetime) -> list[Complaint]:
    """Open complaints whose `due_field` has passed and whose `field` is unset, locked.

    PostgreSQL: `skip_locked` lets two workers share the work without waiting or doubling it;
    SQLite serialises writers, and the compare-and-set in `_mark` makes a second pass a no-op.
    """
    rows = (
        Complaint.objects.select_for_update(skip_locked=True)
        .filter(
            status__in=OPEN_STATUSES,
            **{f"{field}__isnull": True, f"{due_field}__lte": now},
        )
        .order_by(due_field, "id")[:BATCH]
    )
    return list(rows)


def _mark(complaint: Complaint, field: str, now: dt.datetime) -> bool:
    """Set `field` only if still unset: exactly one worker wins each step."""
    done = Complaint.objects.filter(
        pk=complaint.pk, status__in=OPEN_STATUSES, **{f"{field}__isnull": True}
    ).update(**{field: now, "updated_at": now})
    return done == 1


def _record(event: EventType, complaint: Complaint, **details: Any) -> None:
    record_event(
        event,
        actor=SYSTEM_COMPLAINTS.label,
        customer_id=complaint.customer_id,
        record=f"complaint:{complaint.id}",
        details={"due_at": complaint.due_at.isoformat(), **details},
    )


@transaction.atomic
def _escalate(level: int, now: dt.datetime) -> int:
    done = 0
    recipients: list[Any] | None = None
    for complaint in _claim(f"escalated_{level}_at", f"escalate_{level}_at", now):
        if not _mark(complaint, f"escalated_{level}_at", now):
            continue
        if recipients is None:
            recipients = notices.owners()
        if not recipients:
            log.warning("complaint %s at %s%% of its SLA: no owner to tell", complaint.id, level)
        sent = notices.escalated(complaint, level, recipients)
        _record(EventType.COMPLAINT_ESCALATED, complaint, level=level, owners=sent)
        done += 1
    return done


@transaction.atomic
def _breach(now: dt.datetime) -> int:
    done = 0
    for complaint in _claim("breached_at", "due_at", now):
        # P21: a breach is recorded, not hidden; answering late does not erase it.
        if _mark(complaint, "breached_at", now):
            # The first round's verdict (reports); a reopened round's breach is in the log.
            Complaint.objects.filter(pk=complaint.pk, sla_met__isnull=True).update(sla_met=False)
            _record(EventType.COMPLAINT_SLA_BREACHED, complaint)
            done += 1
    return done


def escalate_due(now: dt.datetime) -> int:
    """The worker's job: escalations at 50 % and 80 % of the SLA, then breaches. Each step is
    its own transaction, so a failure in one leaves the others done."""
    done = 0
    for level in ESCALATION_LEVELS:
        done += _escalate(level, now)
    done += _breach(now)
    return done


def overdue(now: dt.datetime) -> int:
    """How many open complaints are past their due time (for dashboards)."""
    return Complaint.objects.filter(status__in=OPEN_STATUSES, due_at__lte=now).count()
