"""Forms of the console's breach register (issue 8 item 1; P23). They check shape only; every
rule about the incident (texts free of personal data, the window, known keys, a reason when late)
is `pledge.incidents.services`', which names the field it refuses."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from pledge.incidents.models import IncidentClock, ReportStage, System
from pledge.incidents.texts import MAX_LENGTH
from pledge.policy.enforcement import EnforcedPolicy
from pledge.rights.notices import field_label

NO_PEOPLE = _(
    "Describe systems and roles, never people: the register is kept in plain text for good, and a "
    "text holding an email address, a phone, card or ID number is refused."
)


def _text(label: Any, *, required: bool = False, rows: int = 3) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=MAX_LENGTH,
        strip=False,
        widget=forms.Textarea(attrs={"rows": rows}),
    )


def _when(label: Any, *, required: bool = True) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=required,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


class RecordIncidentForm(forms.Form):
    detected_at = _when(_("Detected at (the legal clocks start here)"))
    occurred_from = _when(_("Occurred from"))
    occurred_to = _when(_("Occurred until"))
    nature = _text(_("Nature of the incident"), required=True, rows=4)
    systems = forms.MultipleChoiceField(
        label=_("Systems concerned"), choices=System.choices, widget=forms.CheckboxSelectMultiple
    )
    data_categories = forms.MultipleChoiceField(
        label=_("Personal data concerned (as far as known)"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    actors = _text(_("Actors (who or what: an attacker, a leaked staff session …)"))
    place = _text(_("Place (where it happened, besides the systems)"), rows=2)
    consequences = _text(_("Likely consequences"))
    measures = _text(_("Measures taken"))
    advice = _text(_("What customers should do (for their notice)"))
    customer_data_at_risk = forms.BooleanField(
        label=_("The shop's system was attacked and customer data is at risk (24 h clock)"),
        required=False,
        initial=True,
    )
    drill = forms.BooleanField(
        label=_("Drill: go through every step, send nothing to customers"), required=False
    )

    def __init__(self, *args: Any, enforced: EnforcedPolicy, language: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["nature"].help_text = NO_PEOPLE
        self.fields["data_categories"].choices = [  # type: ignore[attr-defined]
            (f.key, field_label(f.key, language)) for f in enforced.policy.fields
        ]


class ScopeForm(forms.Form):
    roles = forms.MultipleChoiceField(
        label=_("Roles whose session or key leaked (their reads in the window)"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    systems = forms.MultipleChoiceField(
        label=_("Systems exposed"),
        required=False,
        choices=System.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    start = _when(_("Window from (default: when it started)"), required=False)
    end = _when(_("Window until (default: when it ended)"), required=False)

    def __init__(self, *args: Any, enforced: EnforcedPolicy, language: str, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "id_scope_%s")
        super().__init__(*args, **kwargs)
        self.fields["roles"].choices = [  # type: ignore[attr-defined]
            (r.key, r.name.get(language)) for r in enforced.policy.roles
        ]


class StepForm(forms.Form):
    text = _text(_("Measure taken or fact learnt"), required=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "id_step_%s")
        super().__init__(*args, **kwargs)
        self.fields["text"].help_text = NO_PEOPLE


class ReportForm(forms.Form):
    stage = forms.ChoiceField(label=_("Stage"), choices=ReportStage.choices)
    clock = forms.ChoiceField(label=_("Sent to the authority of"))
    sent_at = _when(_("Sent at (default: now)"), required=False)
    late_reason = _text(_("Reasons for the delay (required when late)"))

    def __init__(
        self, *args: Any, clocks: list[IncidentClock], language: str, **kwargs: Any
    ) -> None:
        kwargs.setdefault("auto_id", "id_report_%s")
        super().__init__(*args, **kwargs)
        self.fields["clock"].choices = [  # type: ignore[attr-defined]
            (c.key, c.article.get(language) or c.key) for c in clocks
        ]


class CloseForm(forms.Form):
    text = _text(_("Closing note"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "id_close_%s")
        super().__init__(*args, **kwargs)
