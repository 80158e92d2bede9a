"""The customer's data-subject requests in the privacy center, /me/requests/ (issue 6; P18).

Thin views over `pledge.rights.services`, acting as `customer:<id>`: a customer sees and cancels
only their own requests; another customer's request id answers exactly like an unknown one (404).
What is carried out at once (access, copy, consent withdrawal, objection to marketing) is done
when the form is sent; the rest waits for staff, with the legal due date shown.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pledge.policy.enforcement import EnforcedPolicy
from pledge.policy.render import localized_date
from pledge.policy.vocabulary import RECORD_KINDS
from pledge.portal import selectors
from pledge.portal.access import CustomerContext
from pledge.portal.forms_requests import NewRequestForm
from pledge.portal.views_center import center_view
from pledge.rights import notices, services
from pledge.rights.models import (
    CLOSED_STATUSES,
    DataSubjectRequest,
    RequestChannel,
    RequestKind,
    RequestStatus,
)
from pledge.vault.errors import NotFound

LIST_LIMIT = 100
PACKAGE_KINDS = (RequestKind.ACCESS, RequestKind.PORTABILITY)
CHANNEL_WORDS: dict[str, Any] = {
    RequestChannel.PRIVACY_CENTER: gettext_lazy("here, in the privacy center"),
    RequestChannel.WEB_FORM: gettext_lazy("on the public request form"),
    RequestChannel.STAFF: gettext_lazy("to the shop's staff"),
}


def _customer(request: HttpRequest) -> CustomerContext:
    return request.customer  # type: ignore[attr-defined,no-any-return]


def _mine(request: HttpRequest, request_id: uuid.UUID) -> DataSubjectRequest:
    """The signed-in customer's request, or 404 (never "exists but is someone else's")."""
    found = DataSubjectRequest.objects.filter(
        pk=request_id, customer_id=_customer(request).customer_id
    ).first()
    if found is None:
        raise Http404("no such request")
    return found


def _when(value: dt.datetime | None) -> str:
    return selectors.localized_datetime(value) if value is not None else ""


@dataclass(frozen=True)
class Row:
    request: DataSubjectRequest
    kind: str
    status: str
    received: str
    due: str
    open: bool


@require_GET
@center_view
def requests_list(request: HttpRequest, enforced: EnforcedPolicy) -> HttpResponse:
    lang = selectors.language()
    mine = DataSubjectRequest.objects.filter(customer_id=_customer(request).customer_id).order_by(
        "-received_at"
    )[:LIST_LIMIT]
    rows = [
        Row(
            request=r,
            kind=str(RequestKind(r.kind).label),
            status=str(RequestStatus(r.status).label),
            received=notices.date_text(r.received_at, lang),
            due=notices.due_text(r.effective_due_at, lang),
            open=r.status not in CLOSED_STATUSES,
        )
        for r in mine
    ]
    return render(request, "portal/requests/list.html", {"rows": rows})


def _form(enforced: EnforcedPolicy, **kwargs: Any) -> NewRequestForm:
    return NewRequestForm(
        kinds=services.offered_kinds(),
        policy=enforced.policy,
        language=selectors.language(),
        **kwargs,
    )


@require_http_methods(["GET", "POST"])
@center_view
def new_request(request: HttpRequest, enforced: EnforcedPolicy) -> HttpResponse:
    customer = _customer(request)
    status = 200
    if request.method == "POST":
        form = _form(enforced, data=request.POST)
        if form.is_valid():
            try:
                filed = services.file_from_privacy_center(
                    actor=customer.actor,
                    customer_id=customer.customer_id,
                    kind=form.cleaned_data["kind"],
                    purposes=form.purposes(),
                )
            except services.RequestInvalid as error:
                form.add_error(None, error.message)
                status = error.status
            else:
                if filed.status == RequestStatus.COMPLETE:
                    messages.success(request, _("Done: your request was carried out."))
                else:
                    messages.success(
                        request,
                        _("Your request was received. The shop will answer by %(due)s.")
                        % {"due": notices.due_text(filed.effective_due_at, selectors.language())}
                        if filed.effective_due_at
                        else _("Your request was received."),
                    )
                return redirect("portal:request_detail", request_id=filed.id)
        status = status if status != 200 else 400
    else:
        form = _form(enforced, initial={"kind": request.GET.get("kind", "")})
    return render(request, "portal/requests/new.html", {"form": form}, status=status)


@dataclass(frozen=True)
class Step:
    when: str
    what: str


def _timeline(r: DataSubjectRequest, lang: str) -> list[Step]:
    channel = CHANNEL_WORDS.get(r.channel, r.channel)
    steps = [Step(_when(r.received_at), _("Received %(channel)s") % {"channel": channel})]
    if r.verified_at and r.identity_method != "signed_in":
        steps.append(Step(_when(r.verified_at), _("Your identity was confirmed")))
    if r.extended_due_at:
        steps.append(
            Step(
                "",
                _("The answer date was extended to %(due)s")
                % {"due": notices.due_text(r.extended_due_at, lang)},
            )
        )
    if r.decided_at and r.status != RequestStatus.DENIED:
        steps.append(Step(_when(r.decided_at), _("Accepted")))
    if r.status == RequestStatus.DENIED:
        steps.append(Step(_when(r.decided_at), _("Refused")))
    if r.completed_at:
        steps.append(Step(_when(r.completed_at), _("Carried out")))
    if r.status == RequestStatus.CANCELED:
        steps.append(Step(_when(r.updated_at), _("Canceled")))
    return steps


def _erasure_answer(outcome: dict[str, Any], lang: str) -> dict[str, Any] | None:
    if "deleted" not in outcome and "kept" not in outcome:
        return None
    return {
        "deleted": [
            {"category": notices.erased_label(str(d.get("category", ""))), "count": d.get("count")}
            for d in outcome.get("deleted", [])
        ],
        "kept": [
            {
                "field": notices.field_label(str(k.get("field", "")), lang),
                "record": RECORD_KINDS.get(str(k.get("record_kind")), k.get("record_kind")),
                "count": k.get("count"),
                "reason": notices.pick(k.get("reason"), lang),
                "article": notices.pick(k.get("article"), lang),
                "until": _date(k.get("until"), lang),
            }
            for k in outcome.get("kept", [])
        ],
    }


def _date(value: Any, lang: str) -> str:
    try:
        return localized_date(dt.date.fromisoformat(str(value)), lang)
    except ValueError:
        return ""


@require_GET
@center_view
def request_detail(
    request: HttpRequest, enforced: EnforcedPolicy, request_id: uuid.UUID
) -> HttpResponse:
    r = _mine(request, request_id)
    lang = selectors.language()
    ground = services.denial_ground(r)
    downloads = (
        r.kind in PACKAGE_KINDS
        and r.channel == RequestChannel.PRIVACY_CENTER
        and r.status == RequestStatus.COMPLETE
    )
    return render(
        request,
        "portal/requests/detail.html",
        {
            "r": r,
            "kind": RequestKind(r.kind).label,
            "status_label": RequestStatus(r.status).label,
            "received": notices.date_text(r.received_at, lang),
            "due": notices.due_text(r.due_at, lang),
            "extended_due": notices.due_text(r.extended_due_at, lang),
            "timeline": _timeline(r, lang),
            "purposes": [notices.purpose_label(k, lang) for k in r.purposes or []],
            "ground": ground[0] if ground else None,
            "article": ground[1] if ground else None,
            "erasure": _erasure_answer(dict(r.outcome or {}), lang),
            "outcome": dict(r.outcome or {}),
            "zip_url": reverse("portal:request_package", args=[r.id, "zip"]) if downloads else "",
            "html_url": reverse("portal:request_package", args=[r.id, "html"]) if downloads else "",
            "can_cancel": r.status not in CLOSED_STATUSES,
        },
    )


@require_POST
@center_view
def cancel(request: HttpRequest, enforced: EnforcedPolicy, request_id: uuid.UUID) -> HttpResponse:
    customer = _customer(request)
    try:
        services.cancel_request(actor=customer.actor, request_id=request_id)
    except NotFound:
        raise Http404("no such request") from None
    except services.RequestConflict:
        return render(
            request,
            "portal/requests/conflict.html",
            {"r": _mine(request, request_id)},
            status=409,
        )
    messages.success(request, _("Your request was canceled."))
    return redirect("portal:request_detail", request_id=request_id)
