"""Password rules for staff accounts (P16), applied by every service that sets a password.

They are spelled out here rather than read from AUTH_PASSWORD_VALIDATORS so that a deployment
cannot weaken them by accident: at least 12 characters, not like the email address, not a common
password, not only digits.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import get_password_validators, validate_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

MIN_LENGTH = 12
# Argon2 hashes any length cheaply, but a megabyte of "password" is not one.
MAX_LENGTH = 1024

STAFF_PASSWORD_VALIDATORS: list[dict[str, Any]] = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]


def check_staff_password(password: str, user: User | None = None) -> None:
    """Raise django.core.exceptions.ValidationError (with every problem) if the password is weak."""
    if len(password) > MAX_LENGTH:
        raise ValidationError(
            _("A password can have at most %(count)d characters.") % {"count": MAX_LENGTH},
            code="password_too_long",
        )
    validate_password(
        password, user, password_validators=get_password_validators(STAFF_PASSWORD_VALIDATORS)
    )


def generate_password() -> str:
    """A password for `pledge staff create`: 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)
