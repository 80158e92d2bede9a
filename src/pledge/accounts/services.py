"""Every state change of staff accounts (P09, P16): creating and inviting staff, roles, disabling,
passwords, second factors and recovery codes. Sign-in and sessions are in `signin.py`.

Each function is atomic and appends its audit event in the same transaction; emails leave only
after commit. Events name the account as `staff:<id>` and never carry an email address, a
password, a code or a link.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from pledge.accounts import throttle
from pledge.accounts.clients import throttle_address
from pledge.accounts.emails import StaffEmail, email_language, send_after_commit
from pledge.accounts.identity import (
    ANONYMOUS,
    USERNAME_MAX,
    normalise_email,
    self_actor,
    staff_label,
    staff_status,
)
from pledge.accounts.models import StaffProfile
from pledge.accounts.passwords import check_staff_password, generate_password
from pledge.accounts.second_factor import (
    Enrolment,
    enrolment,
    issue_recovery_codes,
    new_totp_device,
    totp_device,
)
from pledge.accounts.sessions import end_sessions
from pledge.accounts.signin import count_failure
from pledge.accounts.tokens import SETUP_MAX_AGE_SECONDS, make_setup_token, password_reset_tokens
from pledge.audit.events import EventType, Outcome
from pledge.audit.services import record_event
from pledge.policy.enforcement import EnforcedPolicy, NoPolicyInForce, enforced_policy
from pledge.policy.schema import Role
from pledge.vault.access import Actor

MANAGE_STAFF = "manage_staff"


class StaffError(Exception):
    """A staff change that cannot be made; the message (translated) says why, for the page."""


def _policy() -> EnforcedPolicy:
    try:
        return enforced_policy()
    except NoPolicyInForce:
        raise StaffError(
            _("No privacy policy is in force, so there are no staff roles yet. Publish one first.")
        ) from None


def _role(enforced: EnforcedPolicy, key: str) -> Role:
    try:
        return enforced.policy.role(key)
    except KeyError:
        raise StaffError(
            _("The policy in force declares no role “%(role)s”. Its roles are: %(roles)s.")
            % {"role": key, "roles": ", ".join(r.key for r in enforced.policy.roles)}
        ) from None


def _clean_email(email: str) -> tuple[str, str]:
    shown = unicodedata.normalize("NFC", email.strip())
    try:
        validate_email(shown)
    except ValidationError:
        raise StaffError(_("Enter a valid email address.")) from None
    username = normalise_email(shown)
    if len(username) > USERNAME_MAX:
        raise StaffError(
            _("A staff email address can have at most %(count)d characters.")
            % {"count": USERNAME_MAX}
        )
    if User.objects.filter(username=username).exists():
        raise StaffError(_("A staff account with this email address already exists."))
    return shown, username


def _clean_language(language: str) -> str:
    if language not in dict(settings.LANGUAGES):
        raise StaffError(_("Choose Vietnamese or English."))
    return language


def _profile_for_update(user_id: int) -> StaffProfile:
    profile = (
        StaffProfile.objects.select_for_update()
        .select_related("user")
        .filter(user_id=user_id)
        .first()
    )
    if profile is None:
        raise StaffError(_("There is no such staff account."))
    return profile


def _audit(
    type: EventType,
    *,
    actor: Actor,
    user_id: int,
    details: dict[str, object] | None = None,
    outcome: Outcome = Outcome.OK,
) -> None:
    record_event(
        type,
        actor=actor.label,
        actor_role=actor.role,
        record=staff_label(user_id),
        outcome=outcome,
        details=details,
    )


# ── Creating and inviting ─────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class NewStaff:
    user: User
    password: str | None  # only when Pledge generated it
    enrolment: Enrolment
    recovery_codes: list[str]


@transaction.atomic
def create_staff(
    *, actor: Actor, email: str, role: str, language: str = "vi", password: str | None = None
) -> NewStaff:
    """A ready-to-use staff account with an authenticator secret and recovery codes: for the first
    owner (`pledge staff create`) and the demo. Everyone else is invited from the console."""
    enforced = _policy()
    _role(enforced, role)
    shown, username = _clean_email(email)
    language = _clean_language(language)
    generated = password is None
    secret = generate_password() if password is None else password
    user = User(username=username, email=shown, is_active=True)
    check_staff_password(secret, user)
    user.set_password(secret)
    user.save()
    StaffProfile.objects.create(user=user, role=role, language=language, created_by=actor.label)
    device = new_totp_device(user, confirmed=True)
    codes = issue_recovery_codes(user)
    _audit(EventType.STAFF_CREATED, actor=actor, user_id=user.pk, details={"role": role})
    _audit(EventType.STAFF_SECOND_FACTOR_ENROLLED, actor=actor, user_id=user.pk)
    _audit(
        EventType.STAFF_RECOVERY_CODES_GENERATED,
        actor=actor,
        user_id=user.pk,
        details={"count": len(codes)},
    )
    return NewStaff(user, secret if generated else None, enrolment(device), codes)


SetupUrl = Callable[[str], str]


@transaction.atomic
def invite_staff(
    *, actor: Actor, email: str, role: str, language: str, setup_url: SetupUrl
) -> User:
    """Create a pending account and email its set-up link (72 hours). The invitee chooses the
    password and enrols the authenticator; nobody else ever knows either."""
    enforced = _policy()
    _role(enforced, role)
    shown, username = _clean_email(email)
    language = _clean_language(language)
    user = User(username=username, email=shown, is_active=True)
    user.set_unusable_password()
    user.save()
    StaffProfile.objects.create(user=user, role=role, language=language, created_by=actor.label)
    _send_invitation(user, enforced, setup_url)
    _audit(EventType.STAFF_INVITED, actor=actor, user_id=user.pk, details={"role": role})
    return user


@transaction.atomic
def resend_invitation(*, actor: Actor, user_id: int, setup_url: SetupUrl) -> User:
    """A new set-up link for an invitee who has not used theirs; the earlier links stop working."""
    enforced = _policy()
    profile = _profile_for_update(user_id)
    user = profile.user
    if staff_status(user) != "invited":
        raise StaffError(_("This staff member has already set up their account."))
    user.set_unusable_password()  # a new random marker: the fingerprint of older links changes
    user.save(update_fields=["password"])
    _send_invitation(user, enforced, setup_url)
    _audit(
        EventType.STAFF_INVITED,
        actor=actor,
        user_id=user.pk,
        details={"role": profile.role, "again": True},
    )
    return user


def _send_invitation(user: User, enforced: EnforcedPolicy, setup_url: SetupUrl) -> None:
    new_totp_device(user, confirmed=False)
    language = email_language(user)
    role = StaffProfile.objects.get(user=user).role
    try:
        role_name = enforced.policy.role(role).name.get(language)
    except KeyError:
        role_name = role
    send_after_commit(
        StaffEmail(
            template="invitation",
            to=user.email,
            language=language,
            context={
                "shop": enforced.policy.name,
                "role": role_name,
                "url": setup_url(make_setup_token(user)),
                "hours": SETUP_MAX_AGE_SECONDS // 3600,
            },
        )
    )


@transaction.atomic
def complete_setup(*, user_id: int, password: str, code: str) -> list[str]:
    """The invitee sets their password and confirms their authenticator with a code; returns the
    recovery codes, shown once. Raises ValidationError (password) or StaffError (code)."""
    profile = _profile_for_update(user_id)
    user = profile.user
    if staff_status(user) != "invited":
        raise StaffError(_("This set-up link was already used or the account is disabled."))
    check_staff_password(password, user)
    device = totp_device(user, confirmed=False, for_update=True)
    if device is None or not device.verify_token(code.replace(" ", "")):
        raise StaffError(
            _(
                "That code did not match. Check that the app shows Pledge's new entry and enter "
                "the code it shows now."
            )
        )
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    user.set_password(password)
    user.save(update_fields=["password"])
    codes = issue_recovery_codes(user)
    actor = self_actor(user)
    _audit(EventType.STAFF_PASSWORD_CHANGED, actor=actor, user_id=user.pk, details={"via": "setup"})
    _audit(EventType.STAFF_SECOND_FACTOR_ENROLLED, actor=actor, user_id=user.pk)
    _audit(
        EventType.STAFF_RECOVERY_CODES_GENERATED,
        actor=actor,
        user_id=user.pk,
        details={"count": len(codes)},
    )
    return codes


# ── Roles and disabling ───────────────────────────────────────────────────────────────────────


def _leaves_no_manager(enforced: EnforcedPolicy, profile: StaffProfile, new_role: str) -> bool:
    """Would this change leave nobody able to manage staff from the console?"""
    managers = {r.key for r in enforced.policy.roles if MANAGE_STAFF in r.console}
    if profile.role not in managers or new_role in managers:
        return False
    others = (
        StaffProfile.objects.filter(
            role__in=managers, disabled_at__isnull=True, user__is_active=True
        )
        .exclude(user_id=profile.user_id)
        .exclude(user__password__startswith=UNUSABLE_PASSWORD_PREFIX)  # invitees not set up yet
    )
    return not others.exists()


@transaction.atomic
def change_role(*, actor: Actor, user_id: int, role: str) -> StaffProfile:
    enforced = _policy()
    _role(enforced, role)
    profile = _profile_for_update(user_id)
    if profile.role == role:
        raise StaffError(_("This staff member already has that role."))
    if actor.kind == "staff" and _leaves_no_manager(enforced, profile, role):
        raise StaffError(
            _(
                "Nobody else could manage staff after this change. Give another person that "
                "role first."
            )
        )
    before = profile.role
    profile.role = role
    profile.save(update_fields=["role"])
    _audit(
        EventType.STAFF_ROLE_CHANGED,
        actor=actor,
        user_id=user_id,
        details={"from": before, "to": role},
    )
    return profile


@transaction.atomic
def disable_staff(*, actor: Actor, user_id: int) -> StaffProfile:
    """Disable an account: it cannot sign in, and its sessions end now. The console refuses to
    disable oneself or the last person who can manage staff; the command line (the operator) may."""
    profile = _profile_for_update(user_id)
    if profile.disabled_at is not None:
        raise StaffError(_("This staff account is already disabled."))
    if actor.kind == "staff":
        if actor.id == str(user_id):
            raise StaffError(_("You cannot disable your own account."))
        if _leaves_no_manager(_policy(), profile, ""):
            raise StaffError(
                _(
                    "Nobody else could manage staff after this change. Give another person that "
                    "role first."
                )
            )
    profile.disabled_at = timezone.now()
    profile.save(update_fields=["disabled_at"])
    user = profile.user
    user.is_active = False
    user.save(update_fields=["is_active"])
    end_sessions(user)
    _audit(EventType.STAFF_DISABLED, actor=actor, user_id=user_id)
    return profile


# ── Passwords ─────────────────────────────────────────────────────────────────────────────────


@transaction.atomic
def change_password(
    *, actor: Actor, user_id: int, current_password: str, new_password: str, keep_session_key: str
) -> bool:
    """Change one's own password; every other session of the account ends. False when the current
    password is wrong, which counts as a failed sign-in (a stolen session must not become a
    password oracle); raises ValidationError when the new one is weak."""
    profile = _profile_for_update(user_id)
    user = profile.user
    now = timezone.now()
    subjects = [throttle.subject(throttle.Scope.ACCOUNT, user.username)]
    if throttle.locked(subjects, now=now) or not user.check_password(current_password):
        # Recorded and committed: returning (not raising) keeps the failure on the count.
        count_failure(subjects, step="password", record=staff_label(user.pk), now=now)
        return False
    check_staff_password(new_password, user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    end_sessions(user, keep=keep_session_key)
    _audit(
        EventType.STAFF_PASSWORD_CHANGED, actor=actor, user_id=user.pk, details={"via": "change"}
    )
    return True


@transaction.atomic
def set_staff_password(*, actor: Actor, user_id: int, password: str) -> None:
    """Set a password from the command line (or the demo); every session of the account ends."""
    user = _profile_for_update(user_id).user
    check_staff_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    end_sessions(user)
    _audit(EventType.STAFF_PASSWORD_CHANGED, actor=actor, user_id=user.pk, details={"via": "set"})


ResetUrl = Callable[[str, str], str]  # (uidb64, token) -> absolute URL


@transaction.atomic
def request_password_reset(*, email: str, address: str, reset_url: ResetUrl) -> None:
    """Email a reset link if an active staff account has this address. The caller answers the same
    way whatever happens here; requests beyond the allowance (per email and per address, like
    sign-in) are answered but not acted on."""
    now = timezone.now()
    username = normalise_email(email)
    allowed_account = throttle.count_request(
        throttle.subject(throttle.Scope.RESET_ACCOUNT, username), now=now
    )
    allowed_address = throttle.count_request(
        throttle.subject(throttle.Scope.RESET_ADDRESS, throttle_address(address)), now=now
    )
    user = User.objects.filter(username=username).select_related("staff").first()
    if user is None or staff_status(user) != "active":
        return
    if not (allowed_account and allowed_address):
        record_event(
            EventType.STAFF_PASSWORD_RESET_REQUESTED,
            actor=ANONYMOUS,
            record=staff_label(user.pk),
            outcome=Outcome.REFUSED,
            details={"reason": "throttled"},
        )
        return
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = password_reset_tokens.make_token(user)
    try:
        shop = enforced_policy().policy.name
    except NoPolicyInForce:
        shop = "Pledge"
    send_after_commit(
        StaffEmail(
            template="password_reset",
            to=user.email,
            language=email_language(user),
            context={
                "shop": shop,
                "url": reset_url(uidb64, token),
                "hours": max(1, int(settings.PASSWORD_RESET_TIMEOUT) // 3600),
            },
        )
    )
    record_event(
        EventType.STAFF_PASSWORD_RESET_REQUESTED, actor=ANONYMOUS, record=staff_label(user.pk)
    )


@transaction.atomic
def reset_password(*, user_id: int, password: str) -> None:
    """Set a new password from a reset link; every session of the account ends."""
    user = _profile_for_update(user_id).user
    if staff_status(user) != "active":
        raise StaffError(_("This staff account is disabled."))
    check_staff_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    end_sessions(user)
    _audit(
        EventType.STAFF_PASSWORD_CHANGED,
        actor=self_actor(user),
        user_id=user.pk,
        details={"via": "reset"},
    )


# ── Recovery codes ────────────────────────────────────────────────────────────────────────────


@transaction.atomic
def regenerate_recovery_codes(*, actor: Actor, user_id: int) -> list[str]:
    """New recovery codes; the old ones stop working. Returned once, never stored in clear."""
    user = _profile_for_update(user_id).user
    codes = issue_recovery_codes(user)
    _audit(
        EventType.STAFF_RECOVERY_CODES_GENERATED,
        actor=actor,
        user_id=user.pk,
        details={"count": len(codes)},
    )
    return codes
