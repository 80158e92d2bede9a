"""Proving who asks (issue 6; Decree 356/2025 Art 5: verify before disclosing or deleting).

Two ways with a one-time code sent to the email on file (there is no SMS gateway, so no phone
codes; docs/rights.md):

- **The public form** (`file_public_request`, `check_public_code`): someone without an account
  types an email and what they want. The answer is the same page, status and work whether or not
  the email is on file: a request and a challenge are created either way, the email digest is
  looked up either way, and one email is queued either way, to the address typed: the code when
  the blind index finds exactly one customer with that email (profile or account), else a short
  "we hold no data for this address" note. Nothing the requester sees depends on the match; what
  the request produces (data package link, erasure answer) goes only to the email on file.
- **Staff entry** (`send_staff_code`, `check_staff_code`): a request received by phone or letter;
  staff send a code to the email on file and the customer reads it back.

A code is six digits from `secrets`, valid for PLEDGE_IDENTITY_CODE_SECONDS; only its HMAC-SHA256
is stored, under a key derived from the keyring's index key (outside the database), bound to the
challenge id. Codes are compared in constant time; after PLEDGE_IDENTITY_CODE_ATTEMPTS wrong codes
the challenge locks for good (audited `rights:identity_failed`, `locked: true`) and even the right
code then fails. A failed try is committed before the error is raised, so it always counts.

The form is throttled per client address and per email digest with the privacy center's
mail-request allowance (`pledge.accounts.throttle`, PLEDGE_LOGIN_MAX_FAILURES per
PLEDGE_LOGIN_WINDOW_SECONDS), counted apart from password resets; beyond it nothing is filed and
the same "try later" page answers for every email.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Sum
from django.utils import timezone

from pledge.accounts import throttle
from pledge.accounts.clients import throttle_address
from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.keyring import load_keyring
from pledge.rights import notices, services
from pledge.rights.models import (
    DataSubjectRequest,
    IdentityChallenge,
    RequestChannel,
    RequestStatus,
)
from pledge.vault.access import Actor
from pledge.vault.accounts import ACCOUNT_RECORD, EMAIL, clean_login_email
from pledge.vault.contact import contact_email
from pledge.vault.errors import AccessRefused, NotFound, VaultError
from pledge.vault.models import Customer, RecordKind
from pledge.vault.normalise import normalise_email
from pledge.vault.store import find_by_index

CODE_DIGITS = 6
# Who files and verifies what comes in through the public form.
WEB_FORM = Actor(kind="system", id="web-form")
# Separates the form's counters from the password-reset ones that share the same scopes.
_THROTTLE_PREFIX = "rights\x00"


class CodeProblem(StrEnum):
    WRONG = "wrong"
    LOCKED = "locked"
    EXPIRED = "expired"


class CodeRefused(VaultError):
    """The code does not prove the identity; `problem` says why, `attempts_left` how many more."""

    status = 400
    code = "identity-code-refused"
    title = "The code was not accepted"

    def __init__(self, problem: CodeProblem, attempts_left: int) -> None:
        super().__init__(
            {
                CodeProblem.WRONG: f"wrong code; {attempts_left} tries left",
                CodeProblem.LOCKED: "too many wrong codes: this code no longer works",
                CodeProblem.EXPIRED: "the code has expired",
            }[problem]
        )
        self.problem = problem
        self.attempts_left = attempts_left
        self.status = {CodeProblem.WRONG: 400, CodeProblem.LOCKED: 429, CodeProblem.EXPIRED: 410}[
            problem
        ]


@dataclass(frozen=True)
class _Outcome:
    problem: CodeProblem | None
    attempts_left: int
    customer_id: uuid.UUID | None


# -- codes -----------------------------------------------------------------------------------


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def _code_key() -> bytes:
    return hmac.new(load_keyring().index_key, b"pledge/rights/identity-code", "sha256").digest()


def code_digest(challenge_id: uuid.UUID, code: str) -> bytes:
    message = f"{challenge_id}:{code}".encode()
    return hmac.new(_code_key(), message, hashlib.sha256).digest()


def code_minutes() -> int:
    return max(1, int(settings.PLEDGE_IDENTITY_CODE_SECONDS) // 60)


def max_attempts() -> int:
    return int(settings.PLEDGE_IDENTITY_CODE_ATTEMPTS)


def _new_challenge(
    request: DataSubjectRequest, customer_id: uuid.UUID | None
) -> tuple[IdentityChallenge, str]:
    now = timezone.now()
    # A new code replaces the earlier ones of the request: only the latest can be entered.
    IdentityChallenge.objects.filter(request=request, expires_at__gt=now).update(expires_at=now)
    challenge_id = uuid.uuid4()
    code = new_code()
    challenge = IdentityChallenge.objects.create(
        id=challenge_id,
        request=request,
        customer_id=customer_id,
        code_digest=code_digest(challenge_id, code),
        created_at=now,
        expires_at=now + dt.timedelta(seconds=int(settings.PLEDGE_IDENTITY_CODE_SECONDS)),
    )
    return challenge, code


def _record_sent(actor: Actor, request: DataSubjectRequest, customer_id: uuid.UUID | None) -> None:
    record_event(
        EventType.RIGHTS_IDENTITY_CODE_SENT,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        record=f"request:{request.id}",
        details={"channel": request.channel},
    )


# -- the public form -------------------------------------------------------------------------


def on_file(email: str) -> uuid.UUID | None:
    """The one customer whose profile email or account login email this is, by blind index,
    else the one complainant who wrote from it; None when there is none or several (which one
    would be a guess)."""
    normalised = normalise_email(email)
    found = {c for c, _ in find_by_index(EMAIL, normalised, RecordKind.PROFILE)}
    found |= {c for c, _ in find_by_index(EMAIL, normalised, ACCOUNT_RECORD)}
    if not found:
        # Someone who only ever complained without an account (the public form, an unknown mail
        # sender) is a complainant customer holding this address on its complaint record
        # (complaints/intake.py); their rights reach that data too (security review).
        found = {
            c for c, record in find_by_index(EMAIL, normalised, RecordKind.COMPLAINT) if c == record
        }
    return found.pop() if len(found) == 1 else None


def _allowed(normalised: str, address: str, now: dt.datetime) -> bool:
    by_email = throttle.count_request(
        throttle.subject(throttle.Scope.CUSTOMER_RESET_ACCOUNT, _THROTTLE_PREFIX + normalised),
        now=now,
    )
    by_address = throttle.count_request(
        throttle.subject(
            throttle.Scope.CUSTOMER_RESET_ADDRESS, _THROTTLE_PREFIX + throttle_address(address)
        ),
        now=now,
    )
    return by_email and by_address


@transaction.atomic
def file_public_request(
    *,
    email: str,
    kind: str,
    address: str,
    language: str,
    purposes: list[str] | None = None,
) -> DataSubjectRequest | None:
    """File a request from the public form and send the code (or the "no data" note) to the
    address typed. None when the allowance is used up: nothing was filed or sent."""
    cleaned = clean_login_email(email)  # ValueInvalid names the rule, never the value
    if not _allowed(normalise_email(cleaned), address, timezone.now()):
        return None
    request = services.file_request(
        actor=WEB_FORM,
        customer_id=None,
        kind=kind,
        channel=RequestChannel.WEB_FORM,
        purposes=purposes,
    )
    customer_id = on_file(cleaned)
    challenge, code = _new_challenge(request, customer_id)
    _record_sent(WEB_FORM, request, customer_id)
    if customer_id is not None and _customer_spent(customer_id, challenge):
        # Too many codes or wrong tries for this customer today, across requests: the code is
        # born locked and nothing is sent, so guessing cannot go on by filing again and the
        # customer's mailbox is not flooded. The requester's page is the same as ever.
        IdentityChallenge.objects.filter(pk=challenge.id).update(locked_at=timezone.now())
        return request
    if customer_id is not None:
        notices.identity_code(
            request=request,
            challenge_id=challenge.id,
            to=cleaned,
            language=language,
            code=code,
            customer_id=customer_id,
        )
    else:
        notices.no_data(request=request, challenge_id=challenge.id, to=cleaned, language=language)
    return request


# Per customer and day, across every public-form request: codes sent, and wrong codes tried
# (security review: the lock is per code, and a new filing brings a new code).
MAX_DAILY_CODES = 3


def _max_daily_failures() -> int:
    return 2 * max_attempts()


def _customer_spent(customer_id: uuid.UUID, current: IdentityChallenge) -> bool:
    since = timezone.now() - dt.timedelta(days=1)
    earlier = IdentityChallenge.objects.filter(
        customer_id=customer_id, created_at__gte=since, request__channel=RequestChannel.WEB_FORM
    ).exclude(pk=current.pk)
    # A code born locked (above) was never sent: it does not count as one.
    sent = earlier.exclude(locked_at__isnull=False, attempts=0).count()
    failures = earlier.aggregate(total=Sum("attempts"))["total"] or 0
    return sent >= MAX_DAILY_CODES or failures >= _max_daily_failures()


def check_public_code(*, request_id: uuid.UUID, code: str) -> DataSubjectRequest:
    """The code typed on the public form; raises CodeRefused (the try is counted first)."""
    return _check(WEB_FORM, request_id, code, "email_code")


# -- staff entry -----------------------------------------------------------------------------


def _check_staff(actor: Actor) -> None:
    if actor.kind not in ("staff", "system"):
        raise AccessRefused("only staff send and check identity codes for a request")


@transaction.atomic
def send_staff_code(*, actor: Actor, request_id: uuid.UUID, customer_id: uuid.UUID) -> None:
    """Email a code to the customer's address on file; the customer reads it back to staff (on
    the phone), who type it into `check_staff_code`."""
    _check_staff(actor)
    request = services.locked_request(request_id)
    if not isinstance(customer_id, uuid.UUID):
        raise services.RequestInvalid(
            f"customer_id must be a UUID, not {type(customer_id).__name__}"
        )
    if request.status != RequestStatus.IDENTITY_UNVERIFIED:
        raise services.RequestConflict(
            f"the request is {request.status}; its identity is not in question"
        )
    if request.customer_id is not None and request.customer_id != customer_id:
        raise services.RequestConflict("the request is about another customer")
    if not Customer.objects.filter(pk=customer_id).exists():
        raise NotFound(f"no customer {customer_id}")
    to = contact_email(customer_id=customer_id, reason="rights_identity_code")
    if to is None:
        raise services.RequestConflict(
            "this customer has no email on file: verify the identity in person"
        )
    challenge, code = _new_challenge(request, customer_id)
    _record_sent(actor, request, customer_id)
    language = Customer.objects.get(pk=customer_id).language
    notices.identity_code(
        request=request,
        challenge_id=challenge.id,
        to=to,
        language=language,
        code=code,
        customer_id=customer_id,
    )


def check_staff_code(*, actor: Actor, request_id: uuid.UUID, code: str) -> DataSubjectRequest:
    """The code the customer read back; raises CodeRefused (the try is counted first)."""
    _check_staff(actor)
    return _check(actor, request_id, code, "staff_email_code")


# -- abandoned requests --------------------------------------------------------------------------

ABANDONED_BATCH = 500


def cancel_abandoned(now: dt.datetime) -> int:
    """A worker job (`pledge.jobs`): cancel public-form requests nobody verified, whose code has
    expired or locked. They name no customer, so nobody is told; the request and its events stay
    as the request log. Without this, every form sent for an unknown address would sit in the
    staff queue. Safe with several workers: each row is claimed with SKIP LOCKED (PostgreSQL)."""
    live = IdentityChallenge.objects.filter(expires_at__gt=now, locked_at__isnull=True)
    live_code = live.filter(request=OuterRef("pk"))
    stale = list(
        DataSubjectRequest.objects.filter(
            channel=RequestChannel.WEB_FORM,
            status=RequestStatus.IDENTITY_UNVERIFIED,
            customer__isnull=True,
        )
        .filter(~Exists(live_code))
        .values_list("id", flat=True)[:ABANDONED_BATCH]
    )
    canceled = 0
    for request_id in stale:
        with transaction.atomic():
            claimed = list(
                DataSubjectRequest.objects.select_for_update(skip_locked=True)
                .filter(pk=request_id, status=RequestStatus.IDENTITY_UNVERIFIED)
                .values_list("pk", flat=True)
            )
            # Checked again under the lock: a code may have been sent or entered meanwhile.
            if claimed and not live.filter(request_id=request_id).exists():
                services.cancel_request(actor=WEB_FORM, request_id=request_id)
                canceled += 1
    return canceled


# -- checking --------------------------------------------------------------------------------


def _check(actor: Actor, request_id: uuid.UUID, code: object, method: str) -> DataSubjectRequest:
    if not isinstance(request_id, uuid.UUID):
        raise services.RequestInvalid(f"request_id must be a UUID, not {type(request_id).__name__}")
    typed = code.strip() if isinstance(code, str) else ""
    if len(typed) != CODE_DIGITS or not typed.isascii() or not typed.isdigit():
        # Not a code at all: a typing slip, not a guess; nothing is counted.
        raise services.RequestInvalid(f"the code is {CODE_DIGITS} digits")
    # The try is committed on its own before a refusal is raised: raising inside the transaction
    # would roll the count back and give an attacker unlimited guesses.
    with transaction.atomic():
        outcome = _try(actor, request_id, typed)
        if outcome.problem is None:
            assert outcome.customer_id is not None
            return services.verify_identity(
                actor=actor, request_id=request_id, customer_id=outcome.customer_id, method=method
            )
    raise CodeRefused(outcome.problem, outcome.attempts_left)


def _try(actor: Actor, request_id: uuid.UUID, typed: str) -> _Outcome:
    request = services.locked_request(request_id)
    challenge = (
        IdentityChallenge.objects.select_for_update()
        .filter(request=request)
        .order_by("-created_at")
        .first()
    )
    if challenge is None:
        raise NotFound(f"no identity code was sent for request {request_id}")
    if request.status != RequestStatus.IDENTITY_UNVERIFIED:
        raise services.RequestConflict(f"the request is {request.status}; it is verified already")
    limit = max_attempts()
    if challenge.locked_at is not None:
        return _Outcome(CodeProblem.LOCKED, 0, None)
    now = timezone.now()
    if challenge.expires_at <= now:
        return _Outcome(CodeProblem.EXPIRED, max(0, limit - challenge.attempts), None)
    # Always compute and compare, so an address not on file (no customer, no code sent) costs
    # the same; a challenge without a customer never matches, whatever is typed.
    matches = hmac.compare_digest(code_digest(challenge.id, typed), bytes(challenge.code_digest))
    if matches and challenge.customer_id is not None:
        challenge.verified_at = now
        challenge.save(update_fields=["verified_at"])
        return _Outcome(None, limit - challenge.attempts, uuid.UUID(str(challenge.customer_id)))
    challenge.attempts += 1
    locked = challenge.attempts >= limit
    if locked:
        challenge.locked_at = now
    challenge.save(update_fields=["attempts", "locked_at"])
    record_event(
        EventType.RIGHTS_IDENTITY_FAILED,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=request.customer_id,
        record=f"request:{request.id}",
        details={"attempts": challenge.attempts, "locked": locked},
    )
    if locked:
        return _Outcome(CodeProblem.LOCKED, 0, None)
    return _Outcome(CodeProblem.WRONG, limit - challenge.attempts, None)
