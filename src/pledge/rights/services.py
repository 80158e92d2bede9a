"""Filing, extending and canceling data-subject requests (issue 6; P18, P20).

Due times come from the jurisdiction profiles the policy in force names (LAW.md, "Data subject
requests"), counted by `pledge.policy.clock` in the shop's calendar; where several profiles apply,
the strictest wins. Every change writes its audit event in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

from django.db import transaction
from django.utils import timezone

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.policy.clock import ClockError, Due, WorkCalendar, due_at, extend, strictest
from pledge.policy.jurisdictions import Deadline, Profile, load_profile
from pledge.rights.models import (
    CLOSED_STATUSES,
    DataSubjectRequest,
    RequestChannel,
    RequestKind,
    RequestStatus,
)
from pledge.vault.access import Actor, policy
from pledge.vault.errors import AccessRefused, NotFound, VaultError
from pledge.vault.models import Customer

EXTENSION_REASON_MAX = 500
# The reason is sent to the customer and kept in the row: refuse what looks like an email address
# or a phone/ID number, so no one's personal data ends up there (ARCHITECTURE.md invariants).
_PERSONAL_LOOKING = re.compile(r"@|\d[\d .-]{6,}\d")


class RequestInvalid(VaultError):
    status = 422
    code = "request-invalid"
    title = "Invalid data-subject request"


class RequestConflict(VaultError):
    """The request's state forbids the change (closed, already extended)."""

    status = 409
    code = "request-conflict"
    title = "The request cannot change this way"


def _kind(kind: object) -> RequestKind:
    if not isinstance(kind, str) or kind not in RequestKind.values:
        raise RequestInvalid(
            f"unknown request kind {kind!r}; expected one of: {', '.join(RequestKind.values)}"
        )
    return RequestKind(kind)


def _channel(channel: object) -> RequestChannel:
    if not isinstance(channel, str) or channel not in RequestChannel.values:
        raise RequestInvalid(
            f"unknown channel {channel!r}; expected one of: {', '.join(RequestChannel.values)}"
        )
    return RequestChannel(channel)


def _profiles() -> list[Profile]:
    return [load_profile(key) for key in policy().policy.jurisdictions]


def _calendar() -> WorkCalendar:
    return WorkCalendar.for_policy(policy().policy)


def _deadline(profile: Profile, kind: RequestKind) -> Deadline:
    deadline: Deadline = getattr(profile.requests, kind.value)
    return deadline


def _winner(profiles: list[Profile], kind: RequestKind, due: Due) -> Profile:
    """The profile whose deadline `strictest` chose (its first, as strictest keeps the first)."""
    return next(p for p in profiles if _deadline(p, kind) == due.deadline)


def _check_actor(actor: Actor, customer_id: uuid.UUID | None, channel: RequestChannel) -> None:
    # A customer files only for themselves, and only from the privacy center where they are signed
    # in; the public form and staff entry go through identity verification instead (issue 6).
    if actor.kind == "customer":
        if channel != RequestChannel.PRIVACY_CENTER or customer_id is None:
            raise AccessRefused("a signed-in customer files requests from the privacy center")
        if not actor.is_subject(customer_id):
            raise AccessRefused("a customer may file requests only about themselves")
    elif channel == RequestChannel.PRIVACY_CENTER:
        raise AccessRefused("only the signed-in customer files requests from the privacy center")


@transaction.atomic
def file_request(
    *,
    actor: Actor,
    customer_id: uuid.UUID | None,
    kind: str,
    channel: str,
    received_at: dt.datetime | None = None,
) -> DataSubjectRequest:
    """Record a request and the times it is due under the strictest profile in force."""
    request_kind, request_channel = _kind(kind), _channel(channel)
    if customer_id is not None and not isinstance(customer_id, uuid.UUID):
        raise RequestInvalid(f"customer_id must be a UUID, not {type(customer_id).__name__}")
    _check_actor(actor, customer_id, request_channel)
    if customer_id is not None and not Customer.objects.filter(pk=customer_id).exists():
        raise NotFound(f"no customer {customer_id}")
    received = timezone.now() if received_at is None else received_at
    profiles, calendar = _profiles(), _calendar()
    try:
        # Decree 356 Art 5 counts from receipt, not from verification: the stricter reading.
        due = strictest(received, [_deadline(p, request_kind) for p in profiles], calendar)
        acknowledge_deadlines = [p.requests.acknowledge for p in profiles]
        acknowledge = (
            strictest(received, acknowledge_deadlines, calendar)
            if any(acknowledge_deadlines)
            else None
        )
    except ClockError as exc:
        raise RequestInvalid(str(exc)) from None
    # Signed in to the privacy center means verified (P16); other channels verify first.
    status = (
        RequestStatus.PENDING
        if request_channel == RequestChannel.PRIVACY_CENTER
        else RequestStatus.IDENTITY_UNVERIFIED
    )
    request = DataSubjectRequest.objects.create(
        customer_id=customer_id,
        kind=request_kind,
        channel=request_channel,
        status=status,
        received_at=received,
        acknowledge_due_at=acknowledge.at if acknowledge else None,
        due_at=due.at,
        profile=_winner(profiles, request_kind, due).key,
    )
    record_event(
        EventType.RIGHTS_REQUEST_FILED,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        record=f"request:{request.id}",
        details={
            "kind": request_kind.value,
            "channel": request_channel.value,
            "status": status.value,
            "profile": request.profile,
            "due_at": due.at.isoformat() if due.at else None,
            "without_undue_delay": due.without_undue_delay,
        },
    )
    return request


def _locked(request_id: uuid.UUID) -> DataSubjectRequest:
    if not isinstance(request_id, uuid.UUID):
        raise RequestInvalid(f"request_id must be a UUID, not {type(request_id).__name__}")
    try:
        # Locks the row (PostgreSQL) so two staff members cannot both take the one extension.
        return DataSubjectRequest.objects.select_for_update().get(pk=request_id)
    except DataSubjectRequest.DoesNotExist:
        raise NotFound(f"no data-subject request {request_id}") from None


def _check_staff(actor: Actor) -> None:
    if actor.kind not in ("staff", "system"):
        raise AccessRefused("only staff may extend a request's deadline")


@transaction.atomic
def extend_request(*, actor: Actor, request_id: uuid.UUID, reason: str) -> DataSubjectRequest:
    """Take the one extension the winning profile allows (Decree 356 Art 5; GDPR Art 12(3))."""
    _check_staff(actor)
    if not isinstance(reason, str) or not reason.strip():
        raise RequestInvalid("an extension needs a reason; it is sent to the customer")
    reason = reason.strip()
    if len(reason) > EXTENSION_REASON_MAX:
        raise RequestInvalid(f"the reason is longer than {EXTENSION_REASON_MAX} characters")
    if _PERSONAL_LOOKING.search(reason):
        raise RequestInvalid(
            "the reason must not contain email addresses, phone or ID numbers: it is stored "
            "and sent to the customer"
        )
    request = _locked(request_id)
    if request.status in CLOSED_STATUSES:
        raise RequestConflict(f"the request is {request.status}; it can no longer be extended")
    if request.extended_due_at is not None:
        raise RequestConflict("this request was already extended; the law allows one extension")
    deadline = _deadline(load_profile(request.profile), RequestKind(request.kind))
    try:
        original = due_at(request.received_at, deadline, _calendar())
        later = extend(original, deadline)
    except ClockError as exc:
        raise RequestConflict(str(exc)) from None
    assert later.at is not None  # extend() refuses a deadline without a fixed time
    request.extended_due_at = later.at
    request.extension_reason = reason
    request.save(update_fields=["extended_due_at", "extension_reason", "updated_at"])
    record_event(
        EventType.RIGHTS_REQUEST_EXTENDED,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=request.customer_id,
        record=f"request:{request.id}",
        # The reason stays in the row: events carry ids and times only.
        details={"kind": request.kind, "extended_due_at": later.at.isoformat()},
    )
    return request


@transaction.atomic
def cancel_request(*, actor: Actor, request_id: uuid.UUID) -> DataSubjectRequest:
    """Cancel an open request: the customer withdrew it, or staff closed a duplicate."""
    request = _locked(request_id)
    if actor.kind == "customer":
        if request.customer_id is None or not actor.is_subject(request.customer_id):
            # Same answer as an unknown id: never confirm another customer's request exists.
            raise NotFound(f"no data-subject request {request_id}")
    elif actor.kind not in ("staff", "system"):
        raise AccessRefused("only the customer or staff may cancel a request")
    if request.status in CLOSED_STATUSES:
        raise RequestConflict(f"the request is already {request.status}")
    previous = request.status
    request.status = RequestStatus.CANCELED
    request.save(update_fields=["status", "updated_at"])
    record_event(
        EventType.RIGHTS_REQUEST_CANCELED,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=request.customer_id,
        record=f"request:{request.id}",
        details={"kind": request.kind, "from": previous},
    )
    return request
