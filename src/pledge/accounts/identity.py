"""How a staff account is named and described: its account name (the normalised email), its audit
label and its status. Shared by the services, the sign-in steps and the pages."""

from __future__ import annotations

import unicodedata

from django.contrib.auth.models import User

from pledge.vault.access import Actor

ANONYMOUS = "anonymous"  # the audit actor of a sign-in attempt not yet succeeded
USERNAME_MAX = 150  # auth.User.username


def normalise_email(email: str) -> str:
    """The account name of an email address: NFC, trimmed, case-folded (Vietnamese addresses may
    arrive in NFC or NFD, and in any case)."""
    return unicodedata.normalize("NFC", email.strip()).casefold()


def staff_label(user_id: int) -> str:
    return f"staff:{user_id}"


def find_staff(email: str) -> User | None:
    return User.objects.filter(username=normalise_email(email)).select_related("staff").first()


def staff_status(user: User) -> str:
    """active, invited (set-up link not used yet) or disabled."""
    profile = getattr(user, "staff", None)
    if profile is None or profile.disabled_at is not None or not user.is_active:
        return "disabled"
    if not user.has_usable_password():
        return "invited"
    return "active"


def self_actor(user: User) -> Actor:
    """The staff member acting on their own account (set-up, password reset)."""
    profile = getattr(user, "staff", None)
    return Actor(kind="staff", id=str(user.pk), role=profile.role if profile else "")
