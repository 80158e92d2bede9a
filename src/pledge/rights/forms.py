"""Forms of data-subject requests: what is asked (kind, purposes) and, on the public form, the
email it is about; then the one-time code. Field errors say what is wrong in the page's language.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from pledge.policy.schema import Policy
from pledge.rights.identity import CODE_DIGITS
from pledge.rights.models import RequestKind
from pledge.rights.services import objectable_purposes, withdrawable_purposes

# What each kind does, in the customer's words (shown under the choice).
KIND_HELP: dict[str, Any] = {
    RequestKind.ACCESS: _("See all the personal data the shop holds about you."),
    RequestKind.PORTABILITY: _(
        "Get a copy of your data in a machine-readable form (JSON and CSV in a zip file)."
    ),
    RequestKind.RECTIFICATION: _("Ask the shop to correct data that is wrong or incomplete."),
    RequestKind.ERASURE: _(
        "Have your data deleted. What the law requires the shop to keep (such as invoices) is "
        "kept, locked away, until the legal period ends; you are told what and why."
    ),
    RequestKind.RESTRICTION: _(
        "Have the shop stop using your data, except to keep it and for what the law requires."
    ),
    RequestKind.OBJECTION: _(
        "Object to a use of your data. An objection to marketing is always followed at once."
    ),
    RequestKind.WITHDRAW_CONSENT: _(
        "Withdraw consents you gave (all of them, or the ones you tick)."
    ),
}


class RequestChoiceForm(forms.Form):
    """Kind and purposes, from the policy in force. Purpose boxes that do not belong to the
    chosen kind are ignored (without JavaScript, every box is on the page)."""

    kind = forms.ChoiceField(label=_("What do you want to do?"), widget=forms.RadioSelect)
    object_to = forms.MultipleChoiceField(
        label=_("Uses of your data you object to"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    withdraw = forms.MultipleChoiceField(
        label=_("Consents you withdraw (none ticked: all of them)"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, kinds: list[str], policy: Policy, language: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        names = {p.key: p.name.get(language) for p in policy.purposes}
        kind_field: Any = self.fields["kind"]
        kind_field.choices = [(k, RequestKind(k).label.capitalize()) for k in kinds]
        object_field: Any = self.fields["object_to"]
        object_field.choices = [(k, names[k]) for k in objectable_purposes(policy)]
        withdraw_field: Any = self.fields["withdraw"]
        withdraw_field.choices = [(k, names[k]) for k in withdrawable_purposes(policy)]
        self.help = {k: KIND_HELP.get(k, "") for k in kinds}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind")
        if kind == RequestKind.OBJECTION:
            if not self.fields["object_to"].choices:  # type: ignore[attr-defined]
                self.add_error("kind", _("The shop's policy names no use you can object to."))
            elif not data.get("object_to"):
                self.add_error("object_to", _("Tick at least one use you object to."))
        return data

    def kind_options(self) -> list[tuple[Any, Any]]:
        """(radio button, what it does) for each kind, for the template."""
        return [(radio, self.help.get(radio.data["value"], "")) for radio in self["kind"]]

    def purposes(self) -> list[str]:
        kind = self.cleaned_data.get("kind")
        if kind == RequestKind.OBJECTION:
            return list(self.cleaned_data.get("object_to") or [])
        if kind == RequestKind.WITHDRAW_CONSENT:
            return list(self.cleaned_data.get("withdraw") or [])
        return []


class PublicRequestForm(RequestChoiceForm):
    email = forms.EmailField(
        label=_("Your email address"),
        max_length=254,
        help_text=_(
            "The address the shop knows you by. We send a one-time code there; the answer to "
            "your request also goes only there."
        ),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order_fields(["email", "kind", "object_to", "withdraw"])


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("The code from the email"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]*"}
        ),
    )

    def clean_code(self) -> str:
        code = "".join(str(self.cleaned_data["code"]).split())
        if len(code) != CODE_DIGITS or not code.isascii() or not code.isdigit():
            raise forms.ValidationError(
                _("The code is %(digits)d digits.") % {"digits": CODE_DIGITS}
            )
        return code
