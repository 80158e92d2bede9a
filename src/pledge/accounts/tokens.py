"""The two links Pledge emails to staff: the account set-up link of an invitation (72 hours) and
the password-reset link (Django's token generator; PASSWORD_RESET_TIMEOUT).

Both stop working once used: each is bound to the account's current password hash, which the set-up
or the reset replaces.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

SETUP_MAX_AGE_SECONDS = 72 * 3600
_SETUP_SALT = "pledge.accounts.setup"


class StaffPasswordResetTokenGenerator(PasswordResetTokenGenerator):
    # Its own salt: a token made for anything else in Django never opens a staff reset.
    key_salt = "pledge.accounts.password_reset"


password_reset_tokens = StaffPasswordResetTokenGenerator()


def _fingerprint(user: User) -> str:
    # The password hash changes when the set-up completes, and an invitation sent again gives the
    # account a new unusable password: either way the earlier links die.
    return salted_hmac(_SETUP_SALT, f"{user.pk}:{user.password}", algorithm="sha256").hexdigest()[
        :32
    ]


def make_setup_token(user: User) -> str:
    return signing.dumps({"u": user.pk, "f": _fingerprint(user)}, salt=_SETUP_SALT, compress=True)


def setup_token_user(token: str) -> User | None:
    """The account a set-up link is for, or None if it is forged, expired or already used."""
    try:
        payload = signing.loads(token, salt=_SETUP_SALT, max_age=SETUP_MAX_AGE_SECONDS)
    except signing.BadSignature:  # SignatureExpired is a subclass
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        return None
    user = User.objects.filter(pk=payload["u"]).select_related("staff").first()
    if user is None or not constant_time_compare(str(payload.get("f", "")), _fingerprint(user)):
        return None
    return user
