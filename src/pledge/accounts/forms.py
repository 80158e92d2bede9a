"""Forms of the sign-in and account pages. Every input has a label; errors are tied to their
input with aria-describedby (`AccessibleForm`) so screen readers read them with the field."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from pledge.accounts.passwords import MAX_LENGTH, MIN_LENGTH, check_staff_password

EMAIL_MAX = 254

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

    StrOrPromise = str | _StrPromise


class AccessibleForm(forms.Form):
    """Points each input at its help text and its errors (`<id>_help`, `<id>_errors`, and
    `form-errors` for the errors of the whole form), and marks invalid inputs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._describe()

    def full_clean(self) -> None:
        super().full_clean()
        self._describe()

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        self._describe()

    def _describe(self) -> None:
        errors = getattr(self, "_errors", None) or {}
        form_errors = bool(errors.get(NON_FIELD_ERRORS))
        for name, field in self.fields.items():
            auto_id = self[name].auto_id
            described = []
            if field.help_text:
                described.append(f"{auto_id}_help")
            if name in errors:
                described.append(f"{auto_id}_errors")
                field.widget.attrs["aria-invalid"] = "true"
            if form_errors:
                described.append("form-errors")
            if described:
                field.widget.attrs["aria-describedby"] = " ".join(described)


def _password_field(
    label: StrOrPromise, *, autocomplete: str, help_text: StrOrPromise = ""
) -> forms.CharField:
    return forms.CharField(
        label=label,
        strip=False,
        max_length=MAX_LENGTH,
        help_text=help_text,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


NEW_PASSWORD_HELP = format_lazy(
    _(
        "At least {count} characters. A few unrelated words make a strong password that is easy "
        "to type."
    ),
    count=MIN_LENGTH,
)


def _code_field() -> forms.CharField:
    return forms.CharField(
        label=_("Code"),
        max_length=32,
        help_text=_(
            "The 6-digit code your authenticator app shows now, or one of your recovery codes."
        ),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )


class SignInForm(AccessibleForm):
    email = forms.EmailField(
        label=_("Email address"),
        max_length=EMAIL_MAX,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = _password_field(_("Password"), autocomplete="current-password")


class SecondFactorForm(AccessibleForm):
    code = _code_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].widget.attrs["autofocus"] = True


class NewPasswordForm(AccessibleForm):
    """A new password typed twice, checked against the staff password rules."""

    new_password = _password_field(
        _("New password"), autocomplete="new-password", help_text=NEW_PASSWORD_HELP
    )
    new_password_again = _password_field(_("New password again"), autocomplete="new-password")

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("new_password"), data.get("new_password_again")
        if first and second and first != second:
            self.add_error("new_password_again", _("The two passwords are not the same."))
        elif first:
            try:
                check_staff_password(first, self.user)
            except ValidationError as exc:
                self.add_error("new_password", exc)
        return data


class SetupForm(NewPasswordForm):
    code = forms.CharField(
        label=_("Code from the authenticator app"),
        max_length=16,
        help_text=_("After adding Pledge to the app, enter the 6-digit code it shows."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": r"[0-9 ]*"}
        ),
    )


class PasswordChangeForm(NewPasswordForm):
    current_password = _password_field(_("Current password"), autocomplete="current-password")

    field_order = ("current_password", "new_password", "new_password_again")


class PasswordResetRequestForm(AccessibleForm):
    email = forms.EmailField(
        label=_("Email address"),
        max_length=EMAIL_MAX,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )


def language_choices() -> list[tuple[str, str]]:
    return [(code, str(name)) for code, name in settings.LANGUAGES]


class InviteForm(AccessibleForm):
    email = forms.EmailField(
        label=_("Email address"),
        max_length=150,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(label=_("Role"))
    language = forms.ChoiceField(
        label=_("Language of the emails"), help_text=_("Invitations and password resets.")
    )

    def __init__(self, *args: Any, roles: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role_field = self.fields["role"]
        language_field = self.fields["language"]
        assert isinstance(role_field, forms.ChoiceField)
        assert isinstance(language_field, forms.ChoiceField)
        # No role preselected: inviting someone as owner must be a choice, not a default.
        role_field.choices = [("", _("Choose a role")), *roles]
        language_field.choices = language_choices()
        language_field.initial = settings.LANGUAGE_CODE
