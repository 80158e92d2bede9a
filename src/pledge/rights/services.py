"""The lifecycle of data-subject requests (issue 6; P18, P20): file, verify, approve or deny,
carry out, complete; extend once; cancel.

    identity_unverified ──verify──▶ pending ──approve──▶ approved ──process──▶ complete
            │                          │                    │  (in_processing while it runs)
            └──────── deny / cancel ───┴──── deny / cancel ─┴── complete (rectification)

Due times come from the jurisdiction profiles the policy in force names (LAW.md, "Data subject
requests"), counted by `pledge.policy.clock` in the shop's calendar; where several profiles apply,
the strictest wins. Every change writes its audit event in the same transaction (ids, kinds,
counts, never personal data) and queues its notice to the customer in the outbox
(`pledge.rights.notices`), so the email exists if and only if the change commits.

What the customer proves by themselves (signed in, or a code sent to the email on file) is enough
for the rights that only give them their own data or stop a use of it: access, portability,
consent withdrawal and objection to direct marketing are carried out at once (GDPR Art 21(3): an
objection to marketing is absolute; withdrawal as easy as giving, PDPL Art 12). Erasure,
restriction, other objections and corrections wait for staff, who approve or refuse with a legal
ground (PDPL Art 14(2); GDPR Art 12(4), 17(3)).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from pledge.audit.events import EventType
from pledge.audit.models import AuditEvent
from pledge.audit.services import record_event
from pledge.consent import services as consent
from pledge.consent.errors import ConsentError
from pledge.consent.models import ConsentState
from pledge.policy.clock import ClockError, Due, WorkCalendar, due_at, extend, strictest
from pledge.policy.jurisdictions import Deadline, Profile, ProfileError, load_profile
from pledge.policy.schema import Policy
from pledge.rights import notices
from pledge.rights.models import (
    CLOSED_STATUSES,
    DataSubjectRequest,
    IdentityChallenge,
    RequestChannel,
    RequestKind,
    RequestStatus,
)
from pledge.vault.access import Actor, policy
from pledge.vault.contact import contact_email
from pledge.vault.errors import AccessRefused, NotFound, VaultError
from pledge.vault.models import Customer

log = logging.getLogger(__name__)

EXTENSION_REASON_MAX = 500
DENIAL_EXPLANATION_MAX = 1000
COMPLETION_NOTE_MAX = 500
PURPOSES_MAX = 50
# The reason is sent to the customer and kept in the row: refuse what looks like an email address
# or a phone/ID number, so no one's personal data ends up there (ARCHITECTURE.md invariants).
_PERSONAL_LOOKING = re.compile(r"@|\d[\d .-]{6,}\d")

# How a requester proved who they are (Decree 356/2025 Art 5: verify before disclosing or deleting).
IDENTITY_METHODS = ("signed_in", "email_code", "staff_email_code", "in_person")
# The customer proved it alone, with nothing for staff to judge: what they ask for themselves
# that only gives them their own data or stops a use of it can be carried out at once.
SELF_VERIFIED = frozenset({"signed_in", "email_code"})
# Pledge itself, when it carries out what needs no staff decision.
SYSTEM_RIGHTS = Actor(kind="system", id="rights")

# Why a request may be refused, and where the law says so. The label and the article are sent to
# the customer in their language (the article strings are translated like any other text).
DENIAL_GROUNDS: dict[str, tuple[Promise, Promise]] = {
    "legal_obligation": (
        _("the law requires the shop to keep this data (for example accounting records)"),
        _("PDPL 91/2025/QH15 Art 14(2); GDPR Art 17(3)(b)"),
    ),
    "legal_claims": (
        _("the data is needed to establish, exercise or defend legal claims"),
        _("PDPL 91/2025/QH15 Art 14(2); GDPR Art 17(3)(e)"),
    ),
    "statistics_required_by_law": (
        _("the law requires the shop to keep this data for statistics"),
        _("PDPL 91/2025/QH15 Art 14(2); GDPR Art 17(3)(d)"),
    ),
    "manifestly_unfounded": (
        _("the request is manifestly unfounded or excessive"),
        _("GDPR Art 12(5)"),
    ),
    "identity_not_verified": (
        _("we could not verify that the request comes from the person whose data it is"),
        _("Decree 356/2025/ND-CP Art 5; GDPR Art 12(6)"),
    ),
}
IDENTITY_GROUND = "identity_not_verified"

# Kinds carried out by `process_request`; a correction is made by staff through the console's
# rectify path (which audits each changed field) and then marked done with `complete_request`.
STAFF_COMPLETED_KINDS = frozenset({RequestKind.RECTIFICATION})
# Where a consent change made for a request is recorded (ConsentEvent.channel).
_CONSENT_CHANNELS = {
    RequestChannel.PRIVACY_CENTER: "privacy_center",
    RequestChannel.WEB_FORM: "web",
    RequestChannel.STAFF: "staff",
}


class RequestInvalid(VaultError):
    status = 422
    code = "request-invalid"
    title = "Invalid data-subject request"


class RequestConflict(VaultError):
    """The request's state forbids the change (closed, already extended)."""

    status = 409
    code = "request-conflict"
    title = "The request cannot change this way"


# -- input -----------------------------------------------------------------------------------


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


def _uuid(value: object, name: str) -> uuid.UUID:
    if not isinstance(value, uuid.UUID):
        raise RequestInvalid(f"{name} must be a UUID, not {type(value).__name__}")
    return value


def _clean_text(value: object, name: str, limit: int, *, required: bool) -> str:
    """A text that is stored and sent to the customer: bounded, and free of anyone's address or
    phone/ID number (ARCHITECTURE.md invariants)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RequestInvalid(f"the {name} needs a reason; it is sent to the customer")
        return ""
    if not isinstance(value, str):
        raise RequestInvalid(f"the {name} must be text, not {type(value).__name__}")
    text = value.strip()
    if len(text) > limit:
        raise RequestInvalid(f"the {name} is longer than {limit} characters")
    if _PERSONAL_LOOKING.search(text):
        raise RequestInvalid(
            f"the {name} must not contain email addresses, phone or ID numbers: it is stored "
            "and sent to the customer"
        )
    return text


def objectable_purposes(p: Policy) -> list[str]:
    """Purposes a customer may object to: direct marketing (absolute, GDPR Art 21(3)) and what
    rests on the shop's legitimate interest (GDPR Art 21(1)). Consent is withdrawn instead;
    contracts and legal obligations are not open to objection."""
    return [x.key for x in p.purposes if x.marketing or x.basis == "legitimate_interest"]


def withdrawable_purposes(p: Policy) -> list[str]:
    """Purposes that rest on consent (P04): each can be withdrawn."""
    return [x.key for x in p.purposes if x.basis == "consent"]


def _purposes(kind: RequestKind, purposes: object) -> list[str]:
    if purposes is None:
        purposes = []
    if not isinstance(purposes, list | tuple) or not all(isinstance(x, str) for x in purposes):
        raise RequestInvalid("purposes must be a list of purpose keys")
    keys = list(dict.fromkeys(purposes))
    if not keys:
        return []
    if kind not in (RequestKind.OBJECTION, RequestKind.WITHDRAW_CONSENT):
        raise RequestInvalid(f"a request of kind {kind.value!r} names no purposes")
    if len(keys) > PURPOSES_MAX:
        raise RequestInvalid(f"at most {PURPOSES_MAX} purposes")
    p = policy().policy
    allowed = objectable_purposes(p) if kind == RequestKind.OBJECTION else withdrawable_purposes(p)
    wrong = [k for k in keys if k not in allowed]
    if wrong:
        what = "objected to" if kind == RequestKind.OBJECTION else "withdrawn"
        raise RequestInvalid(
            f"purpose {wrong[0][:80]!r} cannot be {what}; expected one of: {', '.join(allowed)}"
        )
    return keys


# -- deadlines -------------------------------------------------------------------------------


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


def offered_kinds() -> list[str]:
    """The kinds a customer can ask for: every right the law in force gives (each profile's
    deadlines cover all seven). A shop's policy may promise fewer (linted, PL016), but cannot
    take a legal right away (PDPL 91/2025/QH15 Art 4; GDPR Art 15-22)."""
    profiles = _profiles()
    return [k.value for k in RequestKind if any(_deadline(p, k) for p in profiles)]


# -- actors ----------------------------------------------------------------------------------


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


def _check_staff(actor: Actor, what: str = "extend a request's deadline") -> None:
    if actor.kind not in ("staff", "system"):
        raise AccessRefused(f"only staff may {what}")


def locked_request(request_id: uuid.UUID) -> DataSubjectRequest:
    _uuid(request_id, "request_id")
    try:
        # Locks the row (PostgreSQL) so two staff members cannot both take the one extension,
        # or approve and deny the same request at once.
        return DataSubjectRequest.objects.select_for_update().get(pk=request_id)
    except DataSubjectRequest.DoesNotExist:
        raise NotFound(f"no data-subject request {request_id}") from None


def _record(
    event: EventType, actor: Actor, request: DataSubjectRequest, **details: Any
) -> AuditEvent:
    return record_event(
        event,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=request.customer_id,
        record=f"request:{request.id}",
        details={"kind": request.kind, **details},
    )


# -- filing ----------------------------------------------------------------------------------


def _file(
    *,
    actor: Actor,
    customer_id: uuid.UUID | None,
    kind: str,
    channel: str,
    received_at: dt.datetime | None,
    purposes: Sequence[str] | None,
) -> DataSubjectRequest:
    request_kind, request_channel = _kind(kind), _channel(channel)
    if customer_id is not None:
        _uuid(customer_id, "customer_id")
    _check_actor(actor, customer_id, request_channel)
    keys = _purposes(request_kind, purposes)
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
    signed_in = request_channel == RequestChannel.PRIVACY_CENTER
    status = RequestStatus.PENDING if signed_in else RequestStatus.IDENTITY_UNVERIFIED
    request = DataSubjectRequest.objects.create(
        customer_id=customer_id,
        kind=request_kind,
        channel=request_channel,
        status=status,
        received_at=received,
        acknowledge_due_at=acknowledge.at if acknowledge else None,
        due_at=due.at,
        profile=_winner(profiles, request_kind, due).key,
        purposes=keys,
        identity_method="signed_in" if signed_in else "",
        verified_at=timezone.now() if signed_in else None,
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
            "purposes": len(keys),
        },
    )
    return request


@transaction.atomic
def file_request(
    *,
    actor: Actor,
    customer_id: uuid.UUID | None,
    kind: str,
    channel: str,
    received_at: dt.datetime | None = None,
    purposes: Sequence[str] | None = None,
) -> DataSubjectRequest:
    """Record a request and the times it is due under the strictest profile in force. A request
    from the privacy center is acknowledged at once; others once the requester is verified."""
    request = _file(
        actor=actor,
        customer_id=customer_id,
        kind=kind,
        channel=channel,
        received_at=received_at,
        purposes=purposes,
    )
    if request.status == RequestStatus.PENDING:
        notices.acknowledged(request)
    return request


def carried_out_at_once(request: DataSubjectRequest) -> bool:
    """What the customer proved alone is enough for (see the module docstring)."""
    if request.identity_method not in SELF_VERIFIED:
        return False
    if request.kind in (RequestKind.ACCESS, RequestKind.PORTABILITY, RequestKind.WITHDRAW_CONSENT):
        return True
    if request.kind == RequestKind.OBJECTION and request.purposes:
        marketing = {p.key for p in policy().policy.purposes if p.marketing}
        return all(key in marketing for key in request.purposes)
    return False


@transaction.atomic
def file_from_privacy_center(
    *,
    actor: Actor,
    customer_id: uuid.UUID,
    kind: str,
    purposes: Sequence[str] | None = None,
) -> DataSubjectRequest:
    """A signed-in customer's request: carried out at once when nothing needs staff's judgement
    (then the customer gets one email, the answer), else acknowledged and queued for staff."""
    request = _file(
        actor=actor,
        customer_id=customer_id,
        kind=kind,
        channel=RequestChannel.PRIVACY_CENTER,
        received_at=None,
        purposes=purposes,
    )
    if carried_out_at_once(request):
        return _answer_at_once(request)
    notices.acknowledged(request)
    return request


def _answer_at_once(request: DataSubjectRequest) -> DataSubjectRequest:
    """Approve and carry out; if that cannot be done now (no PLEDGE_PUBLIC_URL for a package
    link, a vault or consent-ledger refusal), the request stays pending for staff, acknowledged,
    instead of the customer's verification or filing failing with it."""
    try:
        with transaction.atomic():
            _approve(SYSTEM_RIGHTS, request)
            return _process(SYSTEM_RIGHTS, request)
    except (ImproperlyConfigured, VaultError, ConsentError) as exc:
        log.warning("request %s left for staff: %s", request.id, type(exc).__name__)
    request.refresh_from_db()
    notices.acknowledged(request)
    return request


# -- identity --------------------------------------------------------------------------------


@transaction.atomic
def verify_identity(
    *, actor: Actor, request_id: uuid.UUID, customer_id: uuid.UUID, method: str
) -> DataSubjectRequest:
    """The requester is this customer: the request moves to pending and is acknowledged (or, for
    what the customer proved alone, carried out at once)."""
    if method not in IDENTITY_METHODS:
        raise RequestInvalid(
            f"unknown identity method {str(method)[:40]!r}; expected one of: "
            f"{', '.join(IDENTITY_METHODS)}"
        )
    _uuid(customer_id, "customer_id")
    if method == "signed_in":
        if not actor.is_subject(customer_id):
            raise AccessRefused("only the signed-in customer proves their identity by signing in")
    else:
        _check_staff(actor, "verify a requester's identity")
        if method == "in_person" and actor.kind != "staff":
            raise AccessRefused("a check in person is made by a member of staff")
    request = locked_request(request_id)
    if request.status != RequestStatus.IDENTITY_UNVERIFIED:
        raise RequestConflict(f"the request is {request.status}; its identity is not in question")
    if request.customer_id is not None and request.customer_id != customer_id:
        raise RequestConflict("the request is about another customer")
    if not Customer.objects.filter(pk=customer_id).exists():
        raise NotFound(f"no customer {customer_id}")
    if method in ("email_code", "staff_email_code") and not (
        IdentityChallenge.objects.filter(
            request=request, customer_id=customer_id, verified_at__isnull=False
        ).exists()
    ):
        # A code method needs the right code, checked by pledge.rights.identity.
        raise AccessRefused("no code sent to this customer was entered correctly")
    request.customer_id = customer_id
    request.status = RequestStatus.PENDING
    request.identity_method = method
    request.verified_at = timezone.now()
    request.save(
        update_fields=["customer", "status", "identity_method", "verified_at", "updated_at"]
    )
    _record(EventType.RIGHTS_IDENTITY_VERIFIED, actor, request, method=method)
    if carried_out_at_once(request):
        return _answer_at_once(request)
    notices.acknowledged(request)
    return request


# -- decisions -------------------------------------------------------------------------------


def _approve(actor: Actor, request: DataSubjectRequest) -> None:
    request.status = RequestStatus.APPROVED
    request.decided_at = timezone.now()
    request.save(update_fields=["status", "decided_at", "updated_at"])
    _record(EventType.RIGHTS_REQUEST_APPROVED, actor, request)


@transaction.atomic
def approve_request(*, actor: Actor, request_id: uuid.UUID) -> DataSubjectRequest:
    """Staff accept a verified request; `process_request` then carries it out."""
    _check_staff(actor, "approve a request")
    request = locked_request(request_id)
    if request.status != RequestStatus.PENDING:
        raise RequestConflict(
            f"the request is {request.status}; only a pending (verified) request can be approved"
        )
    _approve(actor, request)
    return request


@transaction.atomic
def deny_request(
    *, actor: Actor, request_id: uuid.UUID, ground: str, explanation: str = ""
) -> DataSubjectRequest:
    """Refuse a request on a legal ground, told to the customer with its article."""
    _check_staff(actor, "deny a request")
    if not isinstance(ground, str) or ground not in DENIAL_GROUNDS:
        raise RequestInvalid(
            f"unknown ground {str(ground)[:40]!r}; expected one of: {', '.join(DENIAL_GROUNDS)}"
        )
    text = _clean_text(explanation, "explanation", DENIAL_EXPLANATION_MAX, required=False)
    request = locked_request(request_id)
    if request.status in CLOSED_STATUSES:
        raise RequestConflict(f"the request is already {request.status}")
    # Unverified, the only ground is the identity; verified, the identity is no longer a ground.
    unverified = request.status == RequestStatus.IDENTITY_UNVERIFIED
    if unverified != (ground == IDENTITY_GROUND):
        raise RequestConflict(
            "a request whose requester is not verified can only be denied on the ground "
            f"{IDENTITY_GROUND!r}"
            if unverified
            else f"the requester's identity was verified: {IDENTITY_GROUND!r} does not apply"
        )
    previous = request.status
    request.status = RequestStatus.DENIED
    request.denial_ground = ground
    request.denial_explanation = text
    request.decided_at = timezone.now()
    request.save(
        update_fields=[
            "status",
            "denial_ground",
            "denial_explanation",
            "decided_at",
            "updated_at",
        ]
    )
    _record(EventType.RIGHTS_REQUEST_DENIED, actor, request, ground=ground, **{"from": previous})
    notices.denied(request)
    return request


# -- carrying out ----------------------------------------------------------------------------


@transaction.atomic
def process_request(*, actor: Actor, request_id: uuid.UUID) -> DataSubjectRequest:
    """Carry an approved request out, complete it and send the answer."""
    _check_staff(actor, "carry out a request")
    request = locked_request(request_id)
    if request.status != RequestStatus.APPROVED:
        raise RequestConflict(
            f"the request is {request.status}; only an approved request can be carried out"
        )
    if request.kind in STAFF_COMPLETED_KINDS:
        raise RequestConflict(
            "a correction is made by staff on the customer's page, then the request is completed"
        )
    return _process(actor, request)


def _process(actor: Actor, request: DataSubjectRequest) -> DataSubjectRequest:
    assert request.customer_id is not None  # approved means verified, which names the customer
    customer_id = uuid.UUID(str(request.customer_id))
    # In processing while the right is carried out: what the export or erasure services see.
    request.status = RequestStatus.IN_PROCESSING
    request.save(update_fields=["status", "updated_at"])
    kind = RequestKind(request.kind)
    answer: dict[str, Any] = {}
    if kind in (RequestKind.ACCESS, RequestKind.PORTABILITY):
        outcome = _deliver_package(actor, request, answer)
    elif kind == RequestKind.WITHDRAW_CONSENT:
        outcome = {"withdrawn": _withdraw(actor, request, customer_id, request.purposes or None)}
    elif kind == RequestKind.OBJECTION:
        outcome = _object(actor, request, customer_id)
    elif kind == RequestKind.RESTRICTION:
        outcome = {"restricted": _restrict(actor, customer_id, "request")}
    elif kind == RequestKind.ERASURE:
        outcome = _erase(actor, request, customer_id, answer)
    else:  # pragma: no cover - rectification is refused by process_request
        raise RequestConflict(f"{kind.value} is completed by staff")
    return _complete(actor, request, outcome, **answer)


def _deliver_package(
    actor: Actor, request: DataSubjectRequest, answer: dict[str, Any]
) -> dict[str, Any]:
    """Access and portability (GDPR Art 15, 20): signed in, the privacy center offers the package
    for download; otherwise a signed, expiring link goes to the email on file, never to the
    address a requester typed (a request for someone else's email reveals nothing)."""
    if request.channel == RequestChannel.PRIVACY_CENTER:
        return {"delivery": "privacy_center"}
    from pledge.rights.export_link import create_export_link

    answer["link"] = create_export_link(actor=actor, request_id=request.id)
    return {"delivery": "link"}


def _withdraw(
    actor: Actor,
    request: DataSubjectRequest,
    customer_id: uuid.UUID,
    purposes: Iterable[str] | None,
) -> int:
    """Withdraw the named consents, or every live one when none is named (P04); returns how many
    changed. For a marketing purpose this is also the standing objection (GDPR Art 21(3))."""
    if purposes is None:
        purposes = ConsentState.objects.filter(customer_id=customer_id, live=True).values_list(
            "purpose", flat=True
        )
    language = Customer.objects.filter(pk=customer_id).values_list("language", flat=True).first()
    changed = 0
    for purpose in list(purposes):
        event = consent.withdraw_consent(
            customer_id=customer_id,
            purpose=purpose,
            method="rights_request",
            actor=actor.label,
            channel=_CONSENT_CHANNELS[RequestChannel(request.channel)],
            language=language if language in consent.LANGUAGES else "vi",
        )
        changed += event is not None
    return changed


def _restrict(actor: Actor, customer_id: uuid.UUID, reason: str) -> bool:
    from pledge.vault.restriction import is_restricted, restrict_processing

    if is_restricted(customer_id):
        return False
    restrict_processing(actor=actor, customer_id=customer_id, reason=reason)
    return True


def _object(actor: Actor, request: DataSubjectRequest, customer_id: uuid.UUID) -> dict[str, Any]:
    """Marketing: the objection is absolute and stands as a withdrawal (GDPR Art 21(3); PDPL:
    marketing needs consent). Other purposes (legitimate interest, GDPR Art 21(1)), or none
    named: staff approved it, so processing is restricted to what the law still requires."""
    marketing = {p.key for p in policy().policy.purposes if p.marketing}
    named = list(request.purposes or [])
    to_marketing = [k for k in named if k in marketing]
    # No purpose named: an objection to processing in general, weighed and approved by staff.
    restrict = not named or any(k not in marketing for k in named)
    outcome: dict[str, Any] = {"marketing_objections": 0, "restricted": False}
    if to_marketing:
        outcome["marketing_objections"] = _withdraw(actor, request, customer_id, to_marketing)
    if restrict:
        outcome["restricted"] = _restrict(actor, customer_id, "objection")
    return outcome


def _erase(
    actor: Actor, request: DataSubjectRequest, customer_id: uuid.UUID, answer: dict[str, Any]
) -> dict[str, Any]:
    """Crypto-shred the customer (vault.erasure): the answer lists what was deleted and what is
    kept, why and until when (PDPL Art 14(2); Accounting Law 88/2015 Art 41)."""
    from pledge.vault.erasure import erase_customer, is_erased

    if is_erased(customer_id):
        return {"already_erased": True}
    # Read before erasing: afterwards nothing of the address remains to write to.
    answer["to"] = contact_email(customer_id=customer_id, reason="rights_erasure_answer")
    answer["language"] = Customer.objects.get(pk=customer_id).language
    report = erase_customer(actor=actor, customer_id=customer_id, request_id=request.id)
    answer["report"] = report
    return dict(report.as_dict())


@transaction.atomic
def complete_request(*, actor: Actor, request_id: uuid.UUID, note: str = "") -> DataSubjectRequest:
    """Staff made the correction asked for (or the customer did, in the privacy center): close
    the request and tell the customer. How many corrections were recorded since receipt is kept,
    from the audit log (`vault:rectified`, `vault:customer_updated`), never the values."""
    _check_staff(actor, "complete a request")
    text = _clean_text(note, "note", COMPLETION_NOTE_MAX, required=False)
    request = locked_request(request_id)
    if request.status not in (RequestStatus.APPROVED, RequestStatus.IN_PROCESSING):
        raise RequestConflict(
            f"the request is {request.status}; only an approved request can be completed"
        )
    if request.kind not in STAFF_COMPLETED_KINDS:
        raise RequestConflict(f"a request of kind {request.kind!r} is carried out with process")
    corrections = AuditEvent.objects.filter(
        type__in=[EventType.CUSTOMER_RECTIFIED.value, EventType.CUSTOMER_UPDATED.value],
        customer_id=request.customer_id,
        at__gte=request.received_at,
    ).count()
    request.completion_note = text
    return _complete(actor, request, {"corrections": corrections})


def _complete(
    actor: Actor, request: DataSubjectRequest, outcome: dict[str, Any], **answer: Any
) -> DataSubjectRequest:
    request.status = RequestStatus.COMPLETE
    request.completed_at = timezone.now()
    request.outcome = outcome
    request.save(
        update_fields=["status", "completed_at", "outcome", "completion_note", "updated_at"]
    )
    counts = {k: v for k, v in outcome.items() if isinstance(v, bool | int | str)}
    if request.kind == RequestKind.ERASURE:
        # The erasure report's lists are in the request; the event carries their sizes.
        counts = {
            "deleted": len(outcome.get("deleted", [])),
            "kept": len(outcome.get("kept", [])),
            **({"already_erased": True} if outcome.get("already_erased") else {}),
        }
    _record(EventType.RIGHTS_REQUEST_COMPLETED, actor, request, **counts)
    notices.completed(request, **answer)
    return request


# -- extension and cancellation --------------------------------------------------------------


@transaction.atomic
def extend_request(*, actor: Actor, request_id: uuid.UUID, reason: str) -> DataSubjectRequest:
    """Take the one extension the winning profile allows (Decree 356 Art 5; GDPR Art 12(3)); the
    reason is sent to the customer."""
    _check_staff(actor)
    reason = _clean_text(reason, "extension", EXTENSION_REASON_MAX, required=True)
    request = locked_request(request_id)
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
    # The reason stays in the row: events carry ids and times only.
    _record(
        EventType.RIGHTS_REQUEST_EXTENDED,
        actor,
        request,
        extended_due_at=later.at.isoformat(),
    )
    notices.extended(request)
    return request


@transaction.atomic
def cancel_request(*, actor: Actor, request_id: uuid.UUID) -> DataSubjectRequest:
    """Cancel an open request: the customer withdrew it, or staff closed a duplicate."""
    request = locked_request(request_id)
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
    _record(EventType.RIGHTS_REQUEST_CANCELED, actor, request, **{"from": previous})
    return request


# -- what can happen next ----------------------------------------------------------------------


def _extensible(request: DataSubjectRequest) -> bool:
    if request.extended_due_at is not None or request.due_at is None:
        return False
    try:
        deadline = _deadline(load_profile(request.profile), RequestKind(request.kind))
    except ProfileError:  # a profile that no longer loads offers no extension
        return False
    return deadline.extension is not None


def allowed_actions(request: DataSubjectRequest) -> frozenset[str]:
    """The staff actions the request's state allows (the console shows these buttons); every
    other transition raises RequestConflict (409)."""
    status = RequestStatus(request.status)
    if status in CLOSED_STATUSES:
        return frozenset()
    actions = {"cancel", "deny"}
    if _extensible(request):
        actions.add("extend")
    if status == RequestStatus.IDENTITY_UNVERIFIED:
        # A code goes to the email on file of the customer staff name (the request's own, or
        # the one staff match a public-form request to): never to an address a caller gives.
        actions.update({"verify", "send_code"})
    elif status == RequestStatus.PENDING:
        actions.add("approve")
    elif status == RequestStatus.APPROVED:
        actions.add("complete" if request.kind in STAFF_COMPLETED_KINDS else "process")
    elif status == RequestStatus.IN_PROCESSING and request.kind in STAFF_COMPLETED_KINDS:
        actions.add("complete")
    return frozenset(actions)


def denial_ground(request: DataSubjectRequest) -> tuple[Promise, Promise] | None:
    """(label, article) of the request's denial ground, for pages and emails."""
    return DENIAL_GROUNDS.get(request.denial_ground)


def forget_request_texts(customer_id: uuid.UUID, report: Any) -> None:
    """An erasure hook (vault.erasure.ERASURE_HOOKS): the free texts staff wrote on the customer's
    requests (extension reason, denial explanation, completion note) are checked for addresses and
    numbers, not for names, so they go with the rest. The requests themselves stay, as the log of
    requests the law asks for (Decree 356/2025 Art 5), with their kinds, times and outcomes."""
    DataSubjectRequest.objects.filter(customer_id=customer_id).update(
        extension_reason="", denial_explanation="", completion_note=""
    )
