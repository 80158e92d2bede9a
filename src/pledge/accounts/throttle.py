"""Counting failed sign-ins per account and per client address, and locking them out (P16).

Settings: PLEDGE_LOGIN_MAX_FAILURES failures are allowed within PLEDGE_LOGIN_WINDOW_SECONDS; the
next one locks that account (or address) for PLEDGE_LOCKOUT_SECONDS. Failures against an email
that has no account count and lock exactly the same, so a lockout says nothing about whether the
account exists.

What is stored is an HMAC (keyed with settings.SECRET_KEY) of the scope and the normalised email
or address: the tables hold no email and no address. These helpers write inside the caller's
transaction; `services` calls them and records the audit events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.utils.crypto import salted_hmac

from pledge.accounts.models import ThrottleEvent, ThrottleLock


class Scope(StrEnum):
    ACCOUNT = "account"
    ADDRESS = "address"
    # Password-reset requests are counted apart from sign-in failures: asking for a reset must not
    # lock anybody out, and failing to sign in must not stop a reset.
    RESET_ACCOUNT = "reset_account"
    RESET_ADDRESS = "reset_address"
    # Customer accounts of the privacy center (accounts/customers.py) are counted apart from staff:
    # a lockout of one never touches the other. (Values fit ThrottleLock.scope, 16 characters.)
    CUSTOMER_ACCOUNT = "cust_account"
    CUSTOMER_ADDRESS = "cust_address"
    # Requests that make Pledge email an address (password reset, and registration, which emails
    # a verification link or an "account exists" notice): counted so that nobody can use the
    # privacy center to flood someone's mailbox.
    CUSTOMER_RESET_ACCOUNT = "cust_reset_acct"
    CUSTOMER_RESET_ADDRESS = "cust_reset_addr"


@dataclass(frozen=True)
class Subject:
    """One thing being counted: an account or an address, by its HMAC only."""

    scope: Scope
    key: str


def throttle_key(scope: Scope, value: str) -> str:
    return salted_hmac(
        "pledge.accounts.throttle", f"{scope.value}\x00{value}", algorithm="sha256"
    ).hexdigest()


def subject(scope: Scope, value: str) -> Subject:
    return Subject(scope, throttle_key(scope, value))


def max_failures() -> int:
    return int(settings.PLEDGE_LOGIN_MAX_FAILURES)


def window() -> dt.timedelta:
    return dt.timedelta(seconds=int(settings.PLEDGE_LOGIN_WINDOW_SECONDS))


def lockout() -> dt.timedelta:
    return dt.timedelta(seconds=int(settings.PLEDGE_LOCKOUT_SECONDS))


def locked(subjects: Iterable[Subject], *, now: dt.datetime) -> list[Subject]:
    """The subjects under a lockout right now."""
    by_key = {s.key: s for s in subjects}
    keys = ThrottleLock.objects.filter(key__in=list(by_key), until__gt=now).values_list(
        "key", flat=True
    )
    return [by_key[k] for k in keys]


def count_failure(subjects: Iterable[Subject], *, now: dt.datetime) -> list[Subject]:
    """Count one failure against each subject; lock those that exceed the allowance.

    Returns the subjects locked by this failure. The failures of a locked subject are cleared:
    after the lockout it starts again with a full allowance.
    """
    _forget_old(now)
    newly_locked: list[Subject] = []
    for s in subjects:
        ThrottleEvent.objects.create(key=s.key, at=now)
        failures = ThrottleEvent.objects.filter(key=s.key, at__gt=now - window()).count()
        if failures > max_failures():
            ThrottleLock.objects.update_or_create(
                key=s.key, defaults={"scope": s.scope.value, "until": now + lockout()}
            )
            ThrottleEvent.objects.filter(key=s.key).delete()
            newly_locked.append(s)
    return newly_locked


def count_request(s: Subject, *, now: dt.datetime) -> bool:
    """Count one request (a password reset); False once PLEDGE_LOGIN_MAX_FAILURES requests were
    made within the window: the request is then answered as usual but not acted on."""
    _forget_old(now)
    if ThrottleEvent.objects.filter(key=s.key, at__gt=now - window()).count() >= max_failures():
        return False
    ThrottleEvent.objects.create(key=s.key, at=now)
    return True


def clear(subjects: Iterable[Subject]) -> None:
    """Forget the failures of these subjects (after a successful sign-in)."""
    ThrottleEvent.objects.filter(key__in=[s.key for s in subjects]).delete()


def _forget_old(now: dt.datetime) -> None:
    # Both columns are indexed: these deletes touch only what has expired.
    ThrottleEvent.objects.filter(at__lte=now - window()).delete()
    ThrottleLock.objects.filter(until__lte=now).delete()
