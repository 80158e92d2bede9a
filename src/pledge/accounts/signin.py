"""Staff sign-in in two steps (P16): the password, then a code from the authenticator app or a
recovery code. Nobody is signed in (no session login) until both pass; between the steps the
session holds only a signed marker that expires after five minutes.

Brute force: every failure at either step counts against the account and the client address
(`throttle`); an email without an account counts and locks exactly like one with an account, and
the password hasher runs either way, so neither the answer nor its timing tells them apart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django_otp.models import Device

from pledge.accounts import throttle
from pledge.accounts.clients import throttle_address
from pledge.accounts.identity import ANONYMOUS, normalise_email, staff_label, staff_status
from pledge.accounts.models import StaffProfile
from pledge.accounts.second_factor import recovery_codes_left, verify_code
from pledge.audit.events import EventType, Outcome
from pledge.audit.services import record_event

PENDING_MAX_AGE_SECONDS = 5 * 60
_PENDING_SALT = "pledge.accounts.signin.pending"


@dataclass(frozen=True)
class Pending:
    """The password step passed for this account; the second factor is still to come."""

    user_id: int
    next_url: str


def make_pending_marker(user_id: int, next_url: str) -> str:
    return signing.dumps({"u": user_id, "n": next_url}, salt=_PENDING_SALT)


def read_pending_marker(marker: object) -> Pending | None:
    if not isinstance(marker, str):
        return None
    try:
        data = signing.loads(marker, salt=_PENDING_SALT, max_age=PENDING_MAX_AGE_SECONDS)
    except signing.BadSignature:  # SignatureExpired is a subclass
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    return Pending(user_id=data["u"], next_url=str(data.get("n", "")))


def _subjects(username: str, address: str) -> list[throttle.Subject]:
    return [
        throttle.subject(throttle.Scope.ACCOUNT, username),
        throttle.subject(throttle.Scope.ADDRESS, throttle_address(address)),
    ]


def count_failure(
    subjects: Sequence[throttle.Subject], *, step: str, record: str, now: dt.datetime
) -> bool:
    """Record a failed step and count it; True when it locked the account or the address. Runs in
    the caller's transaction, which must commit (return, do not raise, after calling this)."""
    record_event(
        EventType.STAFF_LOGIN_FAILED,
        actor=ANONYMOUS,
        record=record,
        outcome=Outcome.FAILED,
        details={"step": step},
    )
    newly_locked = throttle.count_failure(subjects, now=now)
    for s in newly_locked:
        record_event(
            EventType.STAFF_LOCKED_OUT,
            actor=ANONYMOUS,
            # The account is named only when it exists (`record` is empty otherwise).
            record=record if s.scope is throttle.Scope.ACCOUNT else "",
            outcome=Outcome.REFUSED,
            details={"scope": s.scope.value, "seconds": int(throttle.lockout().total_seconds())},
        )
    return bool(newly_locked)


@transaction.atomic
def check_password_step(*, email: str, password: str, address: str) -> int | None:
    """The account's id if the password is right and neither the account nor the address is
    locked; None otherwise, for every reason alike."""
    now = timezone.now()
    username = normalise_email(email)
    subjects = _subjects(username, address)
    user = User.objects.filter(username=username).select_related("staff").first()
    if throttle.locked(subjects, now=now):
        # Refused without looking at the password, even a right one, after the same work.
        make_password(password)
        return None
    if user is not None and staff_status(user) == "active":
        if user.check_password(password):
            return int(user.pk)
    else:
        make_password(password)  # as long as checking a real account's password takes
    count_failure(subjects, step="password", record=staff_label(user.pk) if user else "", now=now)
    return None


@dataclass(frozen=True)
class SecondFactorResult:
    device: Device | None  # the device that accepted the code: pass to django_otp.login
    recovery_code: bool  # the code was a recovery code
    locked: bool  # the account or the address is locked: start again from the password

    @property
    def method(self) -> str:
        return "recovery_code" if self.recovery_code else "totp"


@transaction.atomic
def check_second_factor(*, user_id: int, code: str, address: str) -> SecondFactorResult:
    """Check the code of the second step. A wrong code is a failure like a wrong password."""
    now = timezone.now()
    user = User.objects.select_related("staff").filter(pk=user_id).first()
    if user is None or staff_status(user) != "active":
        return SecondFactorResult(None, False, locked=True)  # disabled since the first step
    subjects = _subjects(user.username, address)
    if throttle.locked(subjects, now=now):
        return SecondFactorResult(None, False, locked=True)
    device, recovery = verify_code(user, code)
    if device is None:
        locked = count_failure(subjects, step="second_factor", record=staff_label(user.pk), now=now)
        return SecondFactorResult(None, recovery, locked=locked)
    if recovery:
        record_event(
            EventType.STAFF_RECOVERY_CODE_USED,
            actor=staff_label(user.pk),
            actor_role=StaffProfile.objects.get(user=user).role,
            record=staff_label(user.pk),
            details={"left": recovery_codes_left(user)},
        )
    # A full sign-in clears the account's failures; the address keeps its count, or one valid
    # account would let an attacker reset the count between guesses at others.
    throttle.clear(subjects[:1])
    return SecondFactorResult(device, recovery, locked=False)
