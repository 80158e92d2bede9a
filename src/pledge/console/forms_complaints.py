"""Forms of the console's complaints desk (issue 7 items 1 and 3; P20, P21, P22): the queue's
filters, a phone call recorded by staff, and the action forms of a complaint's page.

The forms check shape only (present, not too long, a known choice); every rule about the
complaint itself (its state, who may act, what a reason or an amount must be) is the handling
service's, which names the field it refuses. Action forms carry no prefix: the answer form's
fields are `text`, `reason` and `outcome` (the console form contract the browser test relies on);
each form is its own `<form>` with a hidden `action`, and its own `auto_id` so ids stay unique.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pledge.complaints.models import ComplaintChannel, ComplaintOutcome, ComplaintStatus

# The vault's limit for `complaint_details` (services.clean_complaint_text checks it again).
TEXT_MAX = 2000
ASSIGNED_CHOICES = (
    ("", _("Anyone")),
    ("me", _("Assigned to me")),
    ("unassigned", _("Unassigned")),
)


def _status_choices() -> list[tuple[str, Any]]:
    return [("", _("Every open status")), *ComplaintStatus.choices]


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False, choices=_status_choices)
    channel = forms.ChoiceField(
        label=_("Channel"),
        required=False,
        choices=[("", _("Every channel")), *ComplaintChannel.choices],
    )
    assigned = forms.ChoiceField(label=_("Assigned"), required=False, choices=ASSIGNED_CHOICES)


def _text_field(label: Any, *, required: bool = True, rows: int = 4) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=TEXT_MAX,
        strip=False,  # the service trims and normalises (NFC) once, for every channel
        widget=forms.Textarea(attrs={"rows": rows}),
    )


# How far back staff may date a call they record, and the clock skew allowed ahead.
MAX_BACKDATE = dt.timedelta(days=7)
BACKDATE_SKEW = dt.timedelta(minutes=5)


class RecordComplaintForm(forms.Form):
    customer = forms.UUIDField(
        label=_("Customer reference"),
        help_text=_(
            "The customer's id, from the customer page: find the caller with the customer "
            "search first (by phone number or email), then come here from their page."
        ),
    )
    text = _text_field(
        _("The complaint, in the customer's words (what happened, what they ask for)"), rows=6
    )
    evidence = forms.FileField(
        label=_("Evidence the customer sent (optional: JPEG, PNG, WebP, PDF or plain text)"),
        required=False,
    )
    # The law counts from when the complaint was received (Consumer Protection Law Art 57): a
    # call written up later keeps the time of the call, so its clock is not started late.
    received_at = forms.DateTimeField(
        label=_("When the customer called (leave empty for now)"),
        help_text=_("In the shop's time zone; at most 7 days ago."),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args: Any, zone: dt.tzinfo | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone

    def clean_received_at(self) -> dt.datetime | None:
        value: dt.datetime | None = self.cleaned_data.get("received_at")
        if value is None:
            return None
        if self.zone is not None:
            value = value.replace(tzinfo=None).replace(tzinfo=self.zone)
        now = timezone.now()
        if value > now + BACKDATE_SKEW:
            raise forms.ValidationError(_("The time of the call cannot be in the future."))
        if value < now - MAX_BACKDATE:
            raise forms.ValidationError(_("The call was more than 7 days ago: record it as now."))
        return value


class AssignForm(forms.Form):
    assignee = forms.ChoiceField(label=_("Assigned to"), required=False)

    def __init__(self, *args: Any, staff: list[User], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "assign_%s")
        super().__init__(*args, **kwargs)
        field = self.fields["assignee"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("Nobody")), *((str(u.pk), u.email) for u in staff)]

    def clean_assignee(self) -> int | None:
        value = self.cleaned_data.get("assignee") or ""
        return int(value) if value else None


class NoteForm(forms.Form):
    text = _text_field(_("Internal note (never shown to the customer)"), rows=3)
    confirm_personal = forms.BooleanField(
        label=_("Save anyway: the note needs this personal data"), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "note_%s")
        super().__init__(*args, **kwargs)


class MessageForm(forms.Form):
    text = _text_field(_("Message to the customer (sent by email too)"), rows=3)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "message_%s")
        super().__init__(*args, **kwargs)


class AnswerForm(forms.Form):
    text = _text_field(_("The answer: what the shop decided and what it does about it"), rows=5)
    # P22: the answer gives its reason; the service refuses an answer without one (422).
    reason = _text_field(_("The reason for this answer (sent to the customer)"), rows=3)
    outcome = forms.ChoiceField(label=_("Outcome"), choices=ComplaintOutcome.choices)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "answer_%s")
        super().__init__(*args, **kwargs)


class CompensationForm(forms.Form):
    # A string on purpose: the service parses it as a Decimal and names what is wrong with it.
    amount = forms.CharField(
        label=_("Amount"),
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    currency = forms.CharField(label=_("Currency (ISO 4217)"), max_length=3, initial="VND")
    reason = _text_field(_("Why this compensation (the damage it makes good)"), rows=2)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "compensate_%s")
        super().__init__(*args, **kwargs)


class EvidenceForm(forms.Form):
    evidence = forms.FileField(
        label=_("Add evidence (JPEG, PNG, WebP, PDF or plain text)"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "evidence_%s")
        super().__init__(*args, **kwargs)


class CloseForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "close_%s")
        super().__init__(*args, **kwargs)
