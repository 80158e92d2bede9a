"""Forms of the privacy center: correcting my data, a consent switch, accepting a policy version.

The forms check shape (which keys, how long, which choice); the vault checks meaning (a valid
email or phone for the shop's region, no control characters) and its problems are put back on
the field they name, so every error is shown next to its field.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from pledge.vault.normalise import DEFAULT_MAX_TEXT, MAX_TEXT

# The vault's rule codes (Problem.rule) as sentences for the customer.
RULE_MESSAGES: dict[str, Any] = {
    "email_format": _("This is not an email address."),
    "phone_format": _("This is not a phone number we can call."),
    "date_format": _("Give a date as YYYY-MM-DD."),
    "date_range": _("This date is not possible."),
    "required": _(
        "This value cannot be empty. To have it deleted, ask the shop to erase your data."
    ),
    "max_length": _("This value is too long."),
    "control_characters": _("This value contains invisible control characters."),
    "encoding": _("This value contains an invalid character."),
    "type": _("This value is not text."),
    "not_rectifiable": _("This value cannot be corrected here."),
    "not_held": _("The shop holds no such value about you, so there is nothing to correct."),
}
DEFAULT_RULE_MESSAGE = _("This value cannot be accepted.")

# Fields whose input type helps a phone keyboard (the vault still decides what is valid).
INPUT_TYPES = {"email": "email", "phone": "tel", "date_of_birth": "date"}
AUTOCOMPLETE = {
    "full_name": "name",
    "email": "email",
    "phone": "tel",
    "address": "street-address",
    "delivery_address": "shipping street-address",
    "date_of_birth": "bday",
    "company": "organization",
}
LONG_TEXT = {"address", "delivery_address", "interests", "marketing_preferences"}


class RectifyForm(forms.Form):
    """One field per profile value the customer holds and may correct (vault.subject)."""

    def __init__(self, *args: Any, fields: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, label in fields:
            limit = 254 if key == "email" else MAX_TEXT.get(key, DEFAULT_MAX_TEXT)
            attrs = {"autocomplete": AUTOCOMPLETE.get(key, "off")}
            widget: forms.Widget
            if key in LONG_TEXT:
                widget = forms.Textarea(attrs={**attrs, "rows": 3})
            else:
                widget = forms.TextInput(attrs={**attrs, "type": INPUT_TYPES.get(key, "text")})
            self.fields[key] = forms.CharField(
                label=label,
                max_length=limit,
                required=True,
                widget=widget,
                error_messages={"required": RULE_MESSAGES["required"]},
            )


class ConsentDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("give", "give"), ("withdraw", "withdraw")])
    # Where to come back to: one of the center's own pages, never a URL from outside.
    back = forms.ChoiceField(
        choices=[("consents", "consents"), ("marketing", "marketing")], required=False
    )


class AcceptPolicyForm(forms.Form):
    # The hash of the version the customer was shown: accepting another one is refused (P24:
    # the customer accepts what they could review).
    content_hash = forms.RegexField(regex=r"^[0-9a-f]{64}$")
    back = forms.ChoiceField(choices=[("home", "home"), ("policy", "policy")], required=False)


class PageForm(forms.Form):
    page = forms.IntegerField(min_value=1, max_value=10_000, required=False)
