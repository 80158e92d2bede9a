"""Forms of the disclosures register (issue 8 item 2; P10, P11).

The form checks shapes only (lengths, ids); whether the policy allows the disclosure is the
service's decision, so every refusal of a rule is audited there (`disclosures:refused`).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pledge.disclosures.services import MAX_CUSTOMERS, MAX_REFERENCE_CHARS

KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_CUSTOMERS_CHARS = MAX_CUSTOMERS * 40


class AnyKeyMultipleChoice(forms.MultipleChoiceField):
    """Checkboxes of the recipient's fields; a posted key outside them reaches the service,
    which refuses it with its rule (audited), rather than dying quietly in the form."""

    def valid_value(self, value: Any) -> bool:
        return isinstance(value, str) and bool(KEY.match(value))


class DisclosureForm(forms.Form):
    recipient = forms.CharField(label=gettext_lazy("Recipient"), max_length=63)
    purpose = forms.CharField(label=gettext_lazy("Purpose"), max_length=63)
    given_fields = AnyKeyMultipleChoice(
        label=gettext_lazy("Data to give"), widget=forms.CheckboxSelectMultiple
    )
    customers = forms.CharField(
        label=gettext_lazy("Customers (their ids, one per line)"),
        help_text=gettext_lazy(
            "The customer id from each customer's page. Each customer's consent or other basis "
            "is checked; if one fails, nothing is given."
        ),
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=MAX_CUSTOMERS_CHARS,
    )
    legal_reference = forms.CharField(
        label=gettext_lazy("Legal reference (required for a state agency's request)"),
        help_text=gettext_lazy("The article, decision or request number the request rests on."),
        required=False,
        max_length=MAX_REFERENCE_CHARS,
    )

    def __init__(
        self,
        *args: Any,
        recipients: list[tuple[str, str]],
        purposes: list[tuple[str, str]],
        fields: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["recipient"].widget = forms.Select(choices=recipients)
        self.fields["purpose"].widget = forms.Select(choices=purposes)
        given = self.fields["given_fields"]
        assert isinstance(given, forms.MultipleChoiceField)
        given.choices = fields

    def clean_customers(self) -> list[uuid.UUID]:
        raw = str(self.cleaned_data.get("customers", ""))
        items = [p for p in re.split(r"[\s,;]+", raw) if p]
        if not items:
            raise ValidationError(_("Give at least one customer id."))
        if len(items) > MAX_CUSTOMERS:
            raise ValidationError(
                _("At most %(n)d customers in one disclosure.") % {"n": MAX_CUSTOMERS}
            )
        ids: list[uuid.UUID] = []
        for item in items:
            try:
                ids.append(uuid.UUID(item))
            except ValueError:
                raise ValidationError(
                    _("“%(item)s” is not a customer id.") % {"item": item[:40]}
                ) from None
        return ids


class RegisterFilterForm(forms.Form):
    recipient = forms.CharField(label=gettext_lazy("Recipient"), required=False, max_length=63)

    def __init__(self, *args: Any, recipients: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["recipient"].widget = forms.Select(
            choices=[("", _("All recipients")), *recipients]
        )
        self._keys = {k for k, _label in recipients}

    def clean_recipient(self) -> str:
        value = str(self.cleaned_data.get("recipient", ""))
        if value and value not in self._keys:
            raise ValidationError(_("No such recipient in the policy."))
        return value


class NoticeDoneForm(forms.Form):
    notice = forms.UUIDField()
