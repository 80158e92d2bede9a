"""Who received my data, /me/disclosures/ (issue 8 item 2; P10, P11).

Every disclosure of the signed-in customer's data: the recipient (its name in the customer's
language), the purpose, the data given (labels), when, and the basis with the legal reference of
a state agency's request. One indexed query on (customer, disclosed_at); only the customer's own
rows, since the customer id comes from the session, never from the request.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from pledge.complaints.views_public import when
from pledge.disclosures.models import DisclosedCustomer, Disclosure
from pledge.policy.enforcement import EnforcedPolicy
from pledge.policy.render import field_label
from pledge.policy.vocabulary import LEGAL_BASES
from pledge.portal.access import CustomerContext
from pledge.portal.views_center import center_view

LIST_LIMIT = 200


def _language() -> str:
    return "en" if (get_language() or "vi").startswith("en") else "vi"


@dataclass(frozen=True)
class Received:
    recipient: str
    purpose: str
    fields: list[str]
    when: str
    basis: str
    legal_reference: str


def _row(enforced: EnforcedPolicy, disclosure: Disclosure, lang: str) -> Received:
    purpose = enforced.purpose(disclosure.purpose)
    labels = []
    for key in disclosure.fields:
        try:
            labels.append(field_label(enforced.policy, key, lang))
        except KeyError:
            labels.append(key)  # a field a later policy dropped: its key still says what it was
    if disclosure.basis == "legal_request":
        basis = _("a request from a competent authority")
    else:
        basis = str(LEGAL_BASES.get(disclosure.basis, disclosure.basis))
    return Received(
        recipient=disclosure.recipient_name(lang),
        purpose=purpose.name.get(lang) if purpose is not None else disclosure.purpose,
        fields=labels,
        when=when(disclosure.disclosed_at),
        basis=basis,
        legal_reference=disclosure.legal_reference,
    )


@require_GET
@center_view
def received(request: HttpRequest, enforced: EnforcedPolicy) -> HttpResponse:
    customer: CustomerContext = request.customer  # type: ignore[attr-defined]
    lang = _language()
    mine = (
        DisclosedCustomer.objects.filter(customer_id=customer.customer_id)
        .select_related("disclosure")
        .order_by("-disclosed_at", "-id")[:LIST_LIMIT]
    )
    rows = [_row(enforced, r.disclosure, lang) for r in mine]
    return render(request, "portal/disclosures.html", {"rows": rows, "limit": LIST_LIMIT})
