"""Forms of the staff request pages (issue 6; P18, P20): the queue's filters, recording a request
received by phone, letter or email, the action forms of a request, and re-secure.

Times typed by staff are the shop's local time (the views run inside `timezone.override` of the
policy's time zone), so a letter stamped "3 March, 9:00" means 9:00 in the shop.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pledge.rights.models import RequestKind, RequestStatus
from pledge.rights.selectors import OPEN_STATUSES

# A letter that arrived earlier may be recorded late, but not so late that its deadline, counted
# from receipt (Decree 356/2025 Art 5), has run out before anyone saw it in the queue.
BACKDATE_DAYS = 30
# A clock a few minutes ahead of the server's is not a request from the future.
FUTURE_SLACK = dt.timedelta(minutes=5)
EXPLANATION_MAX = 1000
REASON_MAX = 500
NOTE_MAX = 500

# Methods a staff member asserts directly; the email code has its own two steps (send, check),
# and the other methods belong to the privacy center and the public form.
STAFF_METHODS = (
    ("in_person", _("In person: the customer showed an identity document at the shop")),
)


def _status_choices() -> list[tuple[str, Any]]:
    labels = dict(RequestStatus.choices)
    return [("", _("Every open status")), *((s, labels[s]) for s in OPEN_STATUSES)]


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False, choices=_status_choices)
    kind = forms.ChoiceField(
        label=_("Kind"),
        required=False,
        choices=[("", _("Every kind")), *RequestKind.choices],
    )


class RecordRequestForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the customer asks for"), choices=RequestKind.choices)
    received_at = forms.DateTimeField(
        label=_("Received on (shop time; leave empty for now)"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_(
            "For a letter or an email that arrived earlier: the deadline counts from receipt. "
            "At most 30 days back."
        ),
    )
    customer = forms.UUIDField(
        label=_("Customer reference (optional)"),
        required=False,
        help_text=_(
            "The customer's id from the customer page. Leave empty when you do not know yet "
            "who it is: you will name the customer when you verify their identity."
        ),
    )

    purposes = forms.MultipleChoiceField(
        label=_("Purposes (for an objection or a withdrawal of consent; none: every one)"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(
        self, *args: Any, purposes_by_kind: dict[str, list[tuple[str, str]]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.purposes_by_kind = purposes_by_kind
        every = {key: label for choices in purposes_by_kind.values() for key, label in choices}
        purposes = self.fields["purposes"]
        assert isinstance(purposes, forms.MultipleChoiceField)
        purposes.choices = list(every.items())
        if not every:
            del self.fields["purposes"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind, purposes = cleaned.get("kind"), cleaned.get("purposes") or []
        if kind and purposes:
            allowed = {key for key, _label in self.purposes_by_kind.get(kind, [])}
            if not allowed:
                self.add_error("purposes", _("This kind of request names no purposes."))
            elif any(p not in allowed for p in purposes):
                self.add_error(
                    "purposes", _("Some of these purposes cannot be asked for in this request.")
                )
        return cleaned

    def clean_received_at(self) -> dt.datetime | None:
        value: dt.datetime | None = self.cleaned_data.get("received_at")
        if value is None:
            return None
        now = timezone.now()
        if value > now + FUTURE_SLACK:
            raise forms.ValidationError(_("A request cannot be received in the future."))
        if value < now - dt.timedelta(days=BACKDATE_DAYS):
            raise forms.ValidationError(
                _("A request can be recorded at most %(days)d days after it was received.")
                % {"days": BACKDATE_DAYS}
            )
        return value


class CustomerChoiceMixin(forms.Form):
    """The customer a request is about, asked only while the request names none."""

    customer = forms.UUIDField(
        label=_("Customer reference"),
        required=False,
        help_text=_("The customer's id, from the customer page."),
    )

    def __init__(self, *args: Any, needs_customer: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.needs_customer = needs_customer
        if needs_customer:
            self.fields["customer"].required = True
        else:
            del self.fields["customer"]


class VerifyForm(CustomerChoiceMixin):
    method = forms.ChoiceField(
        label=_("How the identity was checked"),
        choices=STAFF_METHODS,
        widget=forms.RadioSelect,
    )


class SendCodeForm(CustomerChoiceMixin):
    pass


class CodeForm(forms.Form):
    code = forms.RegexField(
        label=_("Six-digit code"),
        regex=r"^\s*\d{6}\s*$",
        max_length=12,
        error_messages={"invalid": _("Type the six digits of the code.")},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )

    def clean_code(self) -> str:
        return str(self.cleaned_data["code"]).strip()


class DenyForm(forms.Form):
    ground = forms.ChoiceField(label=_("Legal ground"), widget=forms.RadioSelect)
    explanation = forms.CharField(
        label=_("Explanation for the customer (no names, addresses or numbers)"),
        required=False,
        max_length=EXPLANATION_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, grounds: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        ground = self.fields["ground"]
        assert isinstance(ground, forms.ChoiceField)
        ground.choices = grounds


class ExtendForm(forms.Form):
    reason = forms.CharField(
        label=_("Why more time is needed (sent to the customer; no names, addresses or numbers)"),
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ProcessForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("I understand: this carries the request out now."),
        required=False,
    )

    def __init__(self, *args: Any, must_confirm: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if must_confirm:
            self.fields["confirm"].required = True
            self.fields["confirm"].label = _(
                "I understand: the customer's data is destroyed for good, except what the law "
                "makes us keep."
            )


class CompleteForm(forms.Form):
    note = forms.CharField(
        label=_("What was done (optional; no names, addresses or numbers)"),
        required=False,
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class CancelForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("Cancel this request (a duplicate, or the customer withdrew it)"), required=True
    )


class ResecureForm(forms.Form):
    explanation = forms.CharField(
        label=_(
            "What happened, for the customer (sent to them by email; no names, addresses or "
            "numbers)"
        ),
        max_length=EXPLANATION_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    confirm = forms.BooleanField(
        label=_(
            "I understand: the customer is signed out everywhere, must choose a new password, "
            "and their data is re-encrypted under a new key."
        ),
        required=True,
    )
