"""Every state change of customer accounts of the privacy center (P16, P18): registering,
verifying the email, signing in and out, sessions, password reset and change, and purging
unverified accounts.

- An account holds no plaintext personal data: the login email is in the vault
  (`pledge.vault.accounts`), found by its blind index, decrypted only to send a message.
- No account enumeration: registering, a failed sign-in and a reset request answer the same
  whether the email is known or not; the views show one page for each, and the Argon2 hasher runs
  on every path that could otherwise be told apart by its timing.
- Each function is atomic and appends its audit event in the same transaction; emails go through
  the outbox (`pledge.notify`) in the same transaction. Events never carry an email, a password,
  a token or a link.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.password_validation import get_password_validators, validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from pledge.accounts import throttle
from pledge.accounts.clients import client_network, throttle_address
from pledge.accounts.customer_auth import (
    can_sign_in,
    delete_stored_sessions,
    describe_device,
    device_digest,
    device_label,
    session_alive,
)
from pledge.accounts.models import CustomerAccount, CustomerDevice, CustomerSession
from pledge.audit.events import EventType, Outcome
from pledge.audit.services import record_event
from pledge.vault.accounts import (
    ACCOUNT_SECURITY,
    account_email,
    clean_login_email,
    create_account_subject,
    find_account,
    holds_only_account,
    link_to_profile,
    shred_account_subject,
)
from pledge.vault.normalise import ValueInvalid, normalise_email

ANONYMOUS = "anonymous"
MIN_PASSWORD_LENGTH = 10
# Argon2 hashes any length cheaply, but a megabyte of "password" is not one.
MAX_PASSWORD_LENGTH = 1024
CUSTOMER_PASSWORD_VALIDATORS: list[dict[str, Any]] = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": MIN_PASSWORD_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
_VERIFY_SALT = "pledge.accounts.customer_verify"
MAX_TOKEN_LENGTH = 1000
_RESET_SALT = "pledge.accounts.customer_reset"


class AccountError(Exception):
    """A request that cannot be done; the message (translated) says why, for the page."""


@dataclass(frozen=True)
class Links:
    """Absolute links for the emails, built by the view from the request (or PLEDGE_PUBLIC_URL)."""

    verify: Callable[[str], str]  # token -> /me/verify/<token>/
    reset: Callable[[str], str]  # token -> /me/password-reset/<token>/
    login: str
    reset_request: str
    sessions: str


def customer_label(account: CustomerAccount) -> str:
    return f"customer:{account.customer_id}"


def account_record(account_id: uuid.UUID | str) -> str:
    return f"account:{account_id}"


# ── Passwords ─────────────────────────────────────────────────────────────────────────────────


def check_customer_password(password: str) -> None:
    """Raise ValidationError (every problem, translated) if the password is weak. Spelled out
    here, not read from AUTH_PASSWORD_VALIDATORS, so a deployment cannot weaken it by accident."""
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(
            _("A password can have at most %(count)d characters.") % {"count": MAX_PASSWORD_LENGTH},
            code="password_too_long",
        )
    validate_password(
        password, None, password_validators=get_password_validators(CUSTOMER_PASSWORD_VALIDATORS)
    )


def _clean_language(language: str) -> str:
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


# ── Signed links (verification, reset) ────────────────────────────────────────────────────────


def _fingerprint(salt: str, account: CustomerAccount) -> str:
    # Bound to the password hash and the verification: a link dies once it has been used (the
    # verification sets verified_at, a reset replaces the hash) and when the password changes.
    verified = account.verified_at.isoformat() if account.verified_at else ""
    return salted_hmac(
        salt, f"{account.pk}:{account.password}:{verified}", algorithm="sha256"
    ).hexdigest()[:32]


def _make_token(salt: str, account: CustomerAccount, **extra: str) -> str:
    payload = {"a": account.pk.hex, "f": _fingerprint(salt, account), **extra}
    return signing.dumps(payload, salt=salt)


def _token_payload(token: str, salt: str, max_age: int) -> dict[str, Any] | None:
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        payload = signing.loads(token, salt=salt, max_age=max_age)
    except signing.BadSignature:  # SignatureExpired is a subclass
        return None
    return payload if isinstance(payload, dict) else None


def _token_account(token: str, salt: str, max_age: int) -> CustomerAccount | None:
    payload = _token_payload(token, salt, max_age)
    if payload is None:
        return None
    try:
        account_id = uuid.UUID(str(payload.get("a", "")))
    except ValueError:
        return None
    account = CustomerAccount.objects.select_for_update().filter(pk=account_id).first()
    if account is None or not constant_time_compare(
        str(payload.get("f", "")), _fingerprint(salt, account)
    ):
        return None
    return account


def make_verify_token(account: CustomerAccount, policy_version: str = "") -> str:
    # The policy version the registration form showed: accepted once the email is verified.
    return _make_token(_VERIFY_SALT, account, v=policy_version)


def make_reset_token(account: CustomerAccount) -> str:
    return _make_token(_RESET_SALT, account)


def _dead_link() -> AccountError:
    return AccountError(
        _(
            "This link has expired or was already used. Sign in, or ask for a new link by "
            "registering again or resetting your password."
        )
    )


# ── Emails ────────────────────────────────────────────────────────────────────────────────────


def _send(
    account: CustomerAccount, template: str, context: dict[str, object], idempotency_key: str
) -> None:
    """Queue one email to the account's login email, in the account's language, in the caller's
    transaction (the outbox delivers it after commit)."""
    from pledge.notify.services import enqueue

    customer_id = uuid.UUID(str(account.customer_id))
    to = account_email(customer_id=customer_id, account_id=account.pk, template=template)
    enqueue(
        to=to,
        template=f"accounts/email/{template}",
        language=_clean_language(account.language),
        context={"shop": _shop_name(), **context},
        idempotency_key=f"{template}:{account.pk}:{idempotency_key}",
        customer_id=customer_id,
    )


def _in_language(account: CustomerAccount, function: Callable[[str], str], value: str) -> str:
    with translation.override(_clean_language(account.language)):
        return function(value)


def _shop_name() -> str:
    from pledge.policy.enforcement import NoPolicyInForce, enforced_policy

    try:
        return str(enforced_policy().policy.name)
    except NoPolicyInForce:
        return str(settings.PLEDGE_SHOP or "Pledge")


def _send_verification(account: CustomerAccount, links: Links, policy_version: str) -> None:
    token = make_verify_token(account, policy_version)
    _send(
        account,
        "customer_verify",
        {
            "url": links.verify(token),
            "hours": max(1, int(settings.PLEDGE_VERIFY_EMAIL_SECONDS) // 3600),
        },
        _fingerprint(_VERIFY_SALT, account),
    )


# ── Throttling ────────────────────────────────────────────────────────────────────────────────


def _sign_in_subjects(normalised_email: str, address: str) -> list[throttle.Subject]:
    return [
        throttle.subject(throttle.Scope.CUSTOMER_ACCOUNT, normalised_email),
        throttle.subject(throttle.Scope.CUSTOMER_ADDRESS, throttle_address(address)),
    ]


def _account_subject(account: CustomerAccount) -> throttle.Subject:
    """The account counted by its id: the pages that know the account but not its email (the
    verification link, the password change) count here, without decrypting the email. A lock of
    it stops sign-in too (`check_sign_in`)."""
    return throttle.subject(throttle.Scope.CUSTOMER_ACCOUNT, account_record(account.pk))


def _known_account_subjects(account: CustomerAccount, address: str) -> list[throttle.Subject]:
    return [
        _account_subject(account),
        throttle.subject(throttle.Scope.CUSTOMER_ADDRESS, throttle_address(address)),
    ]


def _count_mail_request(normalised_email: str, address: str, now: dt.datetime) -> bool:
    """Count a request that would email this address; False beyond the allowance (per address
    and per client, PLEDGE_LOGIN_MAX_FAILURES per PLEDGE_LOGIN_WINDOW_SECONDS)."""
    by_email = throttle.count_request(
        throttle.subject(throttle.Scope.CUSTOMER_RESET_ACCOUNT, normalised_email), now=now
    )
    by_address = throttle.count_request(
        throttle.subject(throttle.Scope.CUSTOMER_RESET_ADDRESS, throttle_address(address)),
        now=now,
    )
    return by_email and by_address


def _count_failure(
    subjects: list[throttle.Subject],
    *,
    reason: str,
    account: CustomerAccount | None,
    now: dt.datetime,
) -> bool:
    """Record a failed sign-in and count it against the account and the address; True when this
    failure locked one of them. Runs in the caller's transaction, which must commit (return, do
    not raise, after calling this)."""
    customer_id = uuid.UUID(str(account.customer_id)) if account else None
    record = account_record(account.pk) if account else ""
    record_event(
        EventType.CUSTOMER_LOGIN_FAILED,
        actor=customer_label(account) if account else ANONYMOUS,
        customer_id=customer_id,
        record=record,
        outcome=Outcome.FAILED,
        details={"reason": reason},
    )
    newly_locked = throttle.count_failure(subjects, now=now)
    for s in newly_locked:
        account_scope = s.scope is throttle.Scope.CUSTOMER_ACCOUNT
        record_event(
            EventType.CUSTOMER_LOCKED_OUT,
            actor=ANONYMOUS,
            # The account is named only when it exists.
            customer_id=customer_id if account_scope else None,
            record=record if account_scope else "",
            outcome=Outcome.REFUSED,
            details={"scope": s.scope.value, "seconds": int(throttle.lockout().total_seconds())},
        )
    return bool(newly_locked)


def _lock_email(normalised_email: str) -> None:
    """Serialise registrations of one email (two at once must not make two accounts). SQLite
    transactions already hold the write lock (IMMEDIATE); PostgreSQL takes an advisory lock."""
    if connection.vendor == "postgresql":
        digest = hashlib.sha256(f"pledge.customer.register:{normalised_email}".encode()).digest()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)]
            )


# ── Registering and verifying ─────────────────────────────────────────────────────────────────


@transaction.atomic
def register(
    *,
    email: str,
    password: str,
    language: str,
    address: str,
    links: Links,
    policy_version: str = "",
) -> None:
    """Register, or answer as if: the caller shows the same page whatever happens here.

    - a new email: an unverified account (and its temporary vault customer) and a verification
      link;
    - an unverified account: its password becomes this one (earlier links die) and a new link is
      sent;
    - a verified account: no new account; the address is told that someone tried, with links to
      sign in and to reset the password;
    - beyond the allowance of emails per address and per client: nothing is sent.

    `policy_version` is the version the form's "I have read the privacy policy" box named; its
    acceptance is recorded when the email is verified (P24).

    Raises ValidationError (weak password) or AccountError (not an email address): those answers
    depend only on what was typed, never on whether the email is known.
    """
    try:
        cleaned = clean_login_email(email)
    except ValueInvalid:
        raise AccountError(_("Enter a valid email address.")) from None
    check_customer_password(password)
    language = _clean_language(language)
    now = timezone.now()
    normalised = normalise_email(cleaned)
    hashed = make_password(password)  # the same Argon2 work on every path
    _lock_email(normalised)
    allowed = _count_mail_request(normalised, address, now)
    found = find_account(cleaned)
    if found is None:
        if not allowed:
            return
        account_id = uuid.uuid4()
        customer_id = create_account_subject(
            account_id=account_id, email=cleaned, language=language
        )
        account = CustomerAccount.objects.create(
            id=account_id,
            customer_id=customer_id,
            password=hashed,
            language=language,
            created_at=now,
        )
        record_event(
            EventType.CUSTOMER_REGISTERED,
            actor=ANONYMOUS,
            customer_id=customer_id,
            record=account_record(account_id),
            purpose=ACCOUNT_SECURITY,
        )
        _send_verification(account, links, policy_version)
        return
    account = CustomerAccount.objects.select_for_update().get(pk=found[1])
    refused: str | None = None
    if not allowed:
        refused = "throttled"
    elif account.disabled_at is not None:
        refused = "disabled"
    elif account.verified_at is not None:
        refused = "exists"
        _send(
            account,
            "customer_account_exists",
            {"login_url": links.login, "reset_url": links.reset_request},
            uuid.uuid4().hex,
        )
    else:
        # Whoever registers last sets the password; the link still goes to the address, and
        # confirming it asks for that password (a stranger cannot pre-register someone's email).
        account.password = hashed
        account.language = language
        account.save(update_fields=["password", "language"])
        _send_verification(account, links, policy_version)
    record_event(
        EventType.CUSTOMER_REGISTERED,
        actor=ANONYMOUS,
        customer_id=uuid.UUID(str(account.customer_id)),
        record=account_record(account.pk),
        purpose=ACCOUNT_SECURITY,
        outcome=Outcome.REFUSED if refused else Outcome.OK,
        details={"reason": refused} if refused else {"again": True},
    )


def verify_link_account(token: str) -> CustomerAccount | None:
    """The unverified account a verification link is for, or None (forged, expired, used)."""
    with transaction.atomic():
        account = _token_account(token, _VERIFY_SALT, int(settings.PLEDGE_VERIFY_EMAIL_SECONDS))
    if account is None or account.verified_at is not None or account.disabled_at is not None:
        return None
    return account


@transaction.atomic
def verify_email(*, token: str, password: str, address: str) -> CustomerAccount | None:
    """Confirm the email with the link and the password chosen at registration.

    The password makes the link useless to anyone but the person who registered (a mail scanner
    opening links, or a stranger who registered someone else's address: "account pre-hijacking").
    Returns the verified account, joined to the customer who already has this email on their
    profile (`link_to_profile`), with the policy acceptance of the registration form recorded; or
    None when the password is wrong (counted like a failed sign-in). Raises AccountError when the
    link is dead.
    """
    now = timezone.now()
    account = _token_account(token, _VERIFY_SALT, int(settings.PLEDGE_VERIFY_EMAIL_SECONDS))
    if account is None or account.verified_at is not None or account.disabled_at is not None:
        raise _dead_link()
    subjects = _known_account_subjects(account, address)
    if throttle.locked(subjects, now=now):
        make_password(password)
        return None
    if not check_password(password, account.password):
        _count_failure(subjects, reason="verification_password", account=account, now=now)
        return None
    account.verified_at = now
    account.save(update_fields=["verified_at"])
    linked = link_to_profile(account_id=account.pk)
    account.refresh_from_db()
    customer_id = uuid.UUID(str(account.customer_id))
    record_event(
        EventType.CUSTOMER_EMAIL_VERIFIED,
        actor=customer_label(account),
        customer_id=customer_id,
        record=account_record(account.pk),
        purpose=ACCOUNT_SECURITY,
        details={"linked": linked is not None},
    )
    payload = _token_payload(token, _VERIFY_SALT, int(settings.PLEDGE_VERIFY_EMAIL_SECONDS)) or {}
    _accept_policy(account, str(payload.get("v", "")))
    throttle.clear(subjects[:1])
    return account


def _accept_policy(account: CustomerAccount, policy_version: str) -> None:
    """P24: the registration form's required "I have read the privacy policy (version X)" box,
    recorded once the account is real (the email verified). When another version came into force
    in between, nothing is recorded: the privacy center asks the customer to review that one."""
    from pledge.consent.errors import ConsentError
    from pledge.consent.services import accept_policy

    if not policy_version:
        return
    try:
        with transaction.atomic():
            accept_policy(
                customer_id=uuid.UUID(str(account.customer_id)),
                method="registration",
                language=_clean_language(account.language),
                actor=customer_label(account),
                policy_version=policy_version,
            )
    except ConsentError:  # no policy in force, or that version is no longer the current one
        return


# ── Signing in and out ────────────────────────────────────────────────────────────────────────


@transaction.atomic
def check_sign_in(*, email: str, password: str, address: str) -> CustomerAccount | None:
    """The account if the password is right, the account verified and enabled, and neither it
    nor the client address locked out; None otherwise, for every reason alike and after the same
    Argon2 work."""
    now = timezone.now()
    normalised = normalise_email(email)
    subjects = _sign_in_subjects(normalised, address)
    found = find_account(email)
    account = CustomerAccount.objects.filter(pk=found[1]).first() if found else None
    # A lock earned on the password-change page (counted by account id) stops sign-in as well;
    # one query either way, whether the email has an account or not.
    lockable = [*subjects, _account_subject(account)] if account is not None else subjects
    if throttle.locked(lockable, now=now):
        # Refused without looking at the password, even a right one, after the same work.
        make_password(password)
        return None
    if account is not None and can_sign_in(account):
        if check_password(password, account.password):
            # The account's failures are cleared; the address keeps its count, or one valid
            # account would let an attacker reset the count between guesses at others.
            throttle.clear(subjects[:1])
            return account
        reason = "password"
    else:
        make_password(password)  # as long as checking a real account's password takes
        if account is None:
            reason = "unknown"
        elif account.disabled_at is not None:
            reason = "disabled"
        else:
            reason = "unverified"
    _count_failure(subjects, reason=reason, account=account, now=now)
    return None


@dataclass(frozen=True)
class OpenedSession:
    session: CustomerSession
    new_device: bool


@transaction.atomic
def open_session(
    *,
    account: CustomerAccount,
    session_key: str,
    address: str,
    user_agent: str,
    device_id: str,
    via: str,
    links: Links,
) -> OpenedSession:
    """Record a completed sign-in (`via`: password or verification): the session row, the device,
    and (P16) a notice by email when the account never signed in from this browser before. The
    first browser of an account (the sign-in right after verification) is not "new"."""
    now = timezone.now()
    label = device_label(user_agent)
    had_devices = CustomerDevice.objects.filter(account=account).exists()
    device, created = CustomerDevice.objects.get_or_create(
        account=account,
        device=device_digest(account.pk, device_id),
        defaults={"label": label, "first_seen_at": now, "last_seen_at": now},
    )
    if not created:
        CustomerDevice.objects.filter(pk=device.pk).update(last_seen_at=now, label=label)
    new_device = created and had_devices
    network = client_network(address)
    session, _ = CustomerSession.objects.update_or_create(
        session_key=session_key,
        defaults={
            "account": account,
            "created_at": now,
            "last_seen_at": now,
            "client_network": network,
            "device_label": label,
        },
    )
    customer_id = uuid.UUID(str(account.customer_id))
    record_event(
        EventType.CUSTOMER_LOGIN_SUCCEEDED,
        actor=customer_label(account),
        customer_id=customer_id,
        record=account_record(account.pk),
        details={"new_device": new_device, "via": via},
    )
    if new_device:
        record_event(
            EventType.CUSTOMER_NEW_DEVICE,
            actor=customer_label(account),
            customer_id=customer_id,
            record=account_record(account.pk),
        )
        _send(
            account,
            "customer_new_device",
            {
                "at": now,
                # "Firefox on Linux", in the language of the email.
                "device": _in_language(account, describe_device, label),
                "network": network,
                "sessions_url": links.sessions,
                "reset_url": links.reset_request,
            },
            device.device,
        )
    return OpenedSession(session, new_device)


@transaction.atomic
def close_session(*, account: CustomerAccount, session_key: str) -> None:
    """Sign out: forget the session's row and record it. The caller then flushes the session."""
    CustomerSession.objects.filter(account=account, session_key=session_key).delete()
    record_event(
        EventType.CUSTOMER_LOGGED_OUT,
        actor=customer_label(account),
        customer_id=uuid.UUID(str(account.customer_id)),
        record=account_record(account.pk),
    )


class SessionNotFound(Exception):
    """No such session of this account (already ended, or someone else's)."""


@transaction.atomic
def revoke_session(*, account: CustomerAccount, session_id: int) -> CustomerSession:
    """End one of the account's own sessions (a lost phone); its next request is anonymous.
    Another account's session id is refused as if it did not exist."""
    row = (
        CustomerSession.objects.select_for_update()
        .filter(pk=session_id, account_id=account.pk)
        .first()
    )
    if row is None:
        raise SessionNotFound(session_id)
    delete_stored_sessions([row.session_key])
    row.delete()
    record_event(
        EventType.CUSTOMER_SESSION_REVOKED,
        actor=customer_label(account),
        customer_id=uuid.UUID(str(account.customer_id)),
        record=account_record(account.pk),
        details={"session": session_id},
    )
    return row


@transaction.atomic
def live_sessions(account: CustomerAccount) -> list[CustomerSession]:
    """The account's sessions that still exist, newest activity first. Rows of sessions that
    expired on their own are deleted on the way (nothing to record: nobody ended them)."""
    rows = list(CustomerSession.objects.filter(account=account))
    gone = [row.pk for row in rows if not session_alive(row.session_key, account.pk)]
    if gone:
        CustomerSession.objects.filter(pk__in=gone).delete()
    return [row for row in rows if row.pk not in gone]


def end_sessions(account: CustomerAccount, *, keep: str | None = None) -> int:
    """End every session of the account except `keep`; runs in the caller's transaction."""
    rows = CustomerSession.objects.filter(account=account)
    if keep:
        rows = rows.exclude(session_key=keep)
    keys = list(rows.values_list("session_key", flat=True))
    delete_stored_sessions(keys)
    rows.delete()
    return len(keys)


# ── Password reset ────────────────────────────────────────────────────────────────────────────


@transaction.atomic
def request_password_reset(*, email: str, address: str, links: Links) -> None:
    """Email a reset link if an enabled account has this address. The caller answers the same way
    whatever happens here; requests beyond the allowance are answered but not acted on. An
    unverified account gets a link too: opening it proves the address, so it also verifies."""
    now = timezone.now()
    normalised = normalise_email(email)
    allowed = _count_mail_request(normalised, address, now)
    found = find_account(email)
    if found is None:
        return
    account = CustomerAccount.objects.select_for_update().get(pk=found[1])
    if account.disabled_at is not None:
        return
    customer_id = uuid.UUID(str(account.customer_id))
    if not allowed:
        record_event(
            EventType.CUSTOMER_PASSWORD_RESET_REQUESTED,
            actor=ANONYMOUS,
            customer_id=customer_id,
            record=account_record(account.pk),
            outcome=Outcome.REFUSED,
            details={"reason": "throttled"},
        )
        return
    _send(
        account,
        "customer_password_reset",
        {
            "url": links.reset(make_reset_token(account)),
            "hours": max(1, int(settings.PASSWORD_RESET_TIMEOUT) // 3600),
        },
        uuid.uuid4().hex,
    )
    record_event(
        EventType.CUSTOMER_PASSWORD_RESET_REQUESTED,
        actor=ANONYMOUS,
        customer_id=customer_id,
        record=account_record(account.pk),
    )


def reset_link_account(token: str) -> CustomerAccount | None:
    """The account a reset link is for, or None (forged, expired, used, disabled)."""
    with transaction.atomic():
        account = _token_account(token, _RESET_SALT, int(settings.PASSWORD_RESET_TIMEOUT))
    if account is None or account.disabled_at is not None:
        return None
    return account


@transaction.atomic
def reset_password(*, token: str, password: str, links: Links) -> CustomerAccount:
    """Set a new password from a reset link; every session of the account ends and the account
    is told by email. Raises AccountError (dead link) or ValidationError (weak password)."""
    account = _token_account(token, _RESET_SALT, int(settings.PASSWORD_RESET_TIMEOUT))
    if account is None or account.disabled_at is not None:
        raise _dead_link()
    check_customer_password(password)
    now = timezone.now()
    account.password = make_password(password)
    account.password_changed_at = now
    verifying = account.verified_at is None
    if verifying:
        account.verified_at = now
    account.save(update_fields=["password", "password_changed_at", "verified_at"])
    customer_id = uuid.UUID(str(account.customer_id))
    if verifying:
        linked = link_to_profile(account_id=account.pk)
        account.refresh_from_db()
        customer_id = uuid.UUID(str(account.customer_id))
        record_event(
            EventType.CUSTOMER_EMAIL_VERIFIED,
            actor=customer_label(account),
            customer_id=customer_id,
            record=account_record(account.pk),
            purpose=ACCOUNT_SECURITY,
            details={"linked": linked is not None, "via": "reset"},
        )
    _password_changed(account, customer_id, via="reset", now=now, links=links)
    return account


def _password_changed(
    account: CustomerAccount,
    customer_id: uuid.UUID,
    *,
    via: str,
    now: dt.datetime,
    links: Links,
    keep_session: str | None = None,
) -> None:
    """After a reset or a change: end the sessions of whoever else may know the old password
    (all of them, or all but `keep_session`), record it, and tell the customer (P16)."""
    ended = end_sessions(account, keep=keep_session)
    record_event(
        EventType.CUSTOMER_PASSWORD_CHANGED,
        actor=customer_label(account),
        customer_id=customer_id,
        record=account_record(account.pk),
        details={"via": via, "sessions_ended": ended},
    )
    _send(
        account,
        "customer_password_changed",
        {"at": now, "reset_url": links.reset_request, "via": via},
        # One notice per password hash: the new hash names this change.
        _fingerprint(_RESET_SALT, account),
    )


# ── Changing the password (signed in) ─────────────────────────────────────────────────────────


class PasswordChange(StrEnum):
    CHANGED = "changed"
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 - an outcome, not a password
    LOCKED = "locked"


def password_unchanged() -> ValidationError:
    return ValidationError(
        _("The new password must be different from the current one."), code="password_unchanged"
    )


@transaction.atomic
def change_password(
    *,
    account_id: uuid.UUID,
    current_password: str,
    new_password: str,
    session_key: str,
    address: str,
    links: Links,
) -> PasswordChange:
    """A signed-in customer changes their password (P16).

    The current password is asked for because a session can be stolen: a wrong one counts as a
    failed sign-in (against the client address, and against the account by its id, whose lock
    stops sign-in too), so a stolen session is no password oracle. Locked: nothing is checked.
    On success every other session of the account ends, `session_key` (this browser's) stays, and
    the account is told by email. The caller then binds this session to the new password hash.
    Raises ValidationError when the new password is weak or the same as the current one.
    """
    now = timezone.now()
    account = CustomerAccount.objects.select_for_update().get(pk=account_id)
    if not can_sign_in(account):
        raise AccountError(_("This account cannot be used."))
    subjects = _known_account_subjects(account, address)
    customer_id = uuid.UUID(str(account.customer_id))
    if throttle.locked(subjects, now=now):
        record_event(
            EventType.CUSTOMER_PASSWORD_CHANGED,
            actor=customer_label(account),
            customer_id=customer_id,
            record=account_record(account.pk),
            outcome=Outcome.REFUSED,
            details={"via": "change", "reason": "locked"},
        )
        return PasswordChange.LOCKED
    if not check_password(current_password, account.password):
        locked = _count_failure(subjects, reason="change_password", account=account, now=now)
        return PasswordChange.LOCKED if locked else PasswordChange.WRONG_PASSWORD
    if new_password == current_password:
        raise password_unchanged()
    check_customer_password(new_password)
    account.password = make_password(new_password)
    account.password_changed_at = now
    account.save(update_fields=["password", "password_changed_at"])
    throttle.clear(subjects[:1])
    # This session stays (the caller gives it a new key and the new password binding).
    _password_changed(
        account, customer_id, via="change", now=now, links=links, keep_session=session_key
    )
    return PasswordChange.CHANGED


@transaction.atomic
def follow_session_key(*, account: CustomerAccount, old_key: str, new_key: str) -> None:
    """The session kept its data under a new key (cycled after a password change, so a copy of
    the old cookie is worth nothing): keep its row, and so its sign-in, pointing at it."""
    if old_key and new_key and old_key != new_key:
        CustomerSession.objects.filter(account=account, session_key=old_key).update(
            session_key=new_key, last_seen_at=timezone.now()
        )


# ── Job: purge unverified accounts ────────────────────────────────────────────────────────────


def purge_unverified(now: dt.datetime) -> int:
    """Delete accounts whose email was not verified within PLEDGE_VERIFY_EMAIL_SECONDS, with
    their temporary vault customer (data key, encrypted email, blind index). Safe with several
    workers: each batch claims its rows with SKIP LOCKED on PostgreSQL (SQLite serialises)."""
    cutoff = now - dt.timedelta(seconds=int(settings.PLEDGE_VERIFY_EMAIL_SECONDS))
    purged = 0
    while True:
        with transaction.atomic():
            stale = CustomerAccount.objects.filter(verified_at__isnull=True, created_at__lt=cutoff)
            if connection.features.has_select_for_update_skip_locked:
                stale = stale.select_for_update(skip_locked=True)
            batch = list(stale.order_by("created_at")[:100])
            if not batch:
                return purged
            for account in batch:
                customer_id = uuid.UUID(str(account.customer_id))
                if holds_only_account(customer_id):
                    shred_account_subject(customer_id)  # the account goes with it (cascade)
                else:  # never happens: linking waits for verification; keep the customer
                    account.delete()
                record_event(
                    EventType.CUSTOMER_UNVERIFIED_PURGED,
                    actor="system:accounts",
                    customer_id=customer_id,
                    record=f"account:{account.pk}",
                )
                purged += 1
