"""Forms of the privacy center's account pages: register, confirm the email, sign in, reset or
change the password. Every input has a label; errors are tied to their input with aria-describedby
(`AccessibleForm`). Oversized or malformed input is a form error, never an exception."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from pledge.accounts.customers import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    check_customer_password,
    password_unchanged,
)
from pledge.accounts.forms import AccessibleForm

EMAIL_MAX = 254
NEXT_MAX = 500

NEW_PASSWORD_HELP = format_lazy(
    _(
        "At least {count} characters. A few unrelated words make a strong password that is easy "
        "to type."
    ),
    count=MIN_PASSWORD_LENGTH,
)


def _email_field(*, autofocus: bool = True) -> forms.EmailField:
    attrs: dict[str, Any] = {"autocomplete": "email", "autocapitalize": "none"}
    if autofocus:
        attrs["autofocus"] = True
    return forms.EmailField(
        label=_("Email address"), max_length=EMAIL_MAX, widget=forms.EmailInput(attrs=attrs)
    )


def _password_field(
    label: Any, *, autocomplete: str, help_text: Any = "", autofocus: bool = False
) -> forms.CharField:
    attrs: dict[str, Any] = {"autocomplete": autocomplete}
    if autofocus:
        attrs["autofocus"] = True
    return forms.CharField(
        label=label,
        strip=False,
        max_length=MAX_PASSWORD_LENGTH,
        help_text=help_text,
        widget=forms.PasswordInput(attrs=attrs),
    )


def _checked_new_password(password: str) -> str:
    try:
        check_customer_password(password)
    except ValidationError as exc:
        raise ValidationError(exc.messages) from None
    return password


class NewPasswordMixin(forms.Form):
    """Checks the `password` field against the customer password rules."""

    def clean_password(self) -> str:
        return _checked_new_password(str(self.cleaned_data.get("password", "")))


class RegisterForm(NewPasswordMixin, AccessibleForm):
    email = _email_field()
    password = _password_field(
        _("Password"), autocomplete="new-password", help_text=NEW_PASSWORD_HELP
    )
    accept_policy = forms.BooleanField(
        required=True,
        error_messages={"required": _("Please confirm that you have read the privacy policy.")},
    )

    def __init__(self, *args: Any, policy_version: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The label names the version and links to it; the template renders it (it holds a link).
        self.policy_version = policy_version


class VerifyForm(AccessibleForm):
    password = _password_field(
        _("Password"),
        autocomplete="current-password",
        help_text=_("The password you chose when you registered."),
        autofocus=True,
    )


class LoginForm(AccessibleForm):
    email = _email_field()
    password = _password_field(_("Password"), autocomplete="current-password")


class ResetRequestForm(AccessibleForm):
    email = _email_field()


class SetPasswordForm(NewPasswordMixin, AccessibleForm):
    password = _password_field(
        _("New password"),
        autocomplete="new-password",
        help_text=NEW_PASSWORD_HELP,
        autofocus=True,
    )


class ChangePasswordForm(AccessibleForm):
    """The current password (a stolen session must not be enough), and the new one twice, checked
    against the same rules as at registration."""

    current_password = _password_field(
        _("Current password"), autocomplete="current-password", autofocus=True
    )
    new_password = _password_field(
        _("New password"), autocomplete="new-password", help_text=NEW_PASSWORD_HELP
    )
    new_password_again = _password_field(_("New password again"), autocomplete="new-password")

    def clean_new_password(self) -> str:
        return _checked_new_password(str(self.cleaned_data.get("new_password", "")))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        current = data.get("current_password")
        new, again = data.get("new_password"), data.get("new_password_again")
        if new and again is not None and new != again:
            self.add_error("new_password_again", _("The two new passwords are not the same."))
        elif new and current and new == current:
            self.add_error("new_password", password_unchanged())
        return data
