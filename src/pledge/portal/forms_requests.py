"""The privacy center's form for a new data-subject request (issue 6; P18): what is asked and,
for an objection or a withdrawal, which uses of the data. The choices come from the policy in
force (pledge.rights.forms); the signed-in customer needs no email and no code."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from pledge.rights.forms import RequestChoiceForm
from pledge.rights.models import RequestKind


class NewRequestForm(RequestChoiceForm):
    # Erasure cannot be undone: one explicit tick, so a slip of the finger erases nothing.
    confirm_erasure = forms.BooleanField(
        label=_("I understand that erasure cannot be undone and ends my privacy-center account."),
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("kind") == RequestKind.ERASURE and not data.get("confirm_erasure"):
            self.add_error(
                "confirm_erasure", _("Tick the box to confirm that you want your data erased.")
            )
        return data
