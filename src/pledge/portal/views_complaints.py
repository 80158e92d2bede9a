"""The customer's complaints in the privacy center, /me/complaints/ (issue 7 item 4; P21, P22).

Thin views over `pledge.complaints` acting as `customer:<id>`: the list of my complaints with
their status and due time, a new complaint (text and an optional file, filed through the channel
"privacy_center"), the full thread (the complaint, the shop's messages, its answer with the reason
and outcome, compensation), a reply, and a reopen within the window. Another customer's complaint
or file answers exactly like an unknown one (404).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from pledge.complaints import evidence as evidence_store
from pledge.complaints import handling, services
from pledge.complaints.forms import evidence_message
from pledge.complaints.models import OPEN_STATUSES, Complaint, ComplaintChannel, ComplaintStatus
from pledge.complaints.views_public import (
    evidence_accepted,
    evidence_response,
    reply_with_evidence,
    store_upload,
    thread_context,
    when,
)
from pledge.policy.enforcement import EnforcedPolicy
from pledge.portal.access import CustomerContext
from pledge.portal.forms_complaints import NewComplaintForm, ReopenForm, ReplyForm
from pledge.portal.views_center import center_view
from pledge.vault.access import Actor
from pledge.vault.errors import NotFound

LIST_LIMIT = 100
CHANNEL = ComplaintChannel.PRIVACY_CENTER


def _customer(request: HttpRequest) -> CustomerContext:
    return request.customer  # type: ignore[attr-defined,no-any-return]


@dataclass(frozen=True)
class Row:
    complaint: Complaint
    reference: str
    received: str
    status: str
    due: str


@require_GET
@center_view
def complaints_list(request: HttpRequest, enforced: EnforcedPolicy) -> HttpResponse:
    mine = Complaint.objects.filter(customer_id=_customer(request).customer_id).order_by(
        "-received_at"
    )[:LIST_LIMIT]
    rows = [
        Row(
            complaint=c,
            reference=str(c.id)[:8],
            received=when(c.received_at),
            status=str(ComplaintStatus(c.status).label),
            due=when(c.due_at) if c.status in OPEN_STATUSES else "",
        )
        for c in mine
    ]
    return render(request, "portal/complaints_list.html", {"rows": rows})


@transaction.atomic
def _file(actor: Actor, customer_id: uuid.UUID, form: NewComplaintForm) -> Complaint:
    """The complaint and its file, both or neither."""
    complaint = services.file_complaint(
        actor=actor, customer_id=customer_id, channel=CHANNEL, text=form.cleaned_data["text"]
    )
    store_upload(actor, complaint.id, form.cleaned_data.get("evidence"))
    return complaint


@require_http_methods(["GET", "POST"])
@center_view
def new_complaint(request: HttpRequest, enforced: EnforcedPolicy) -> HttpResponse:
    customer = _customer(request)
    accepts = evidence_accepted(enforced)
    status = 200
    if request.method == "POST":
        form = NewComplaintForm(data=request.POST, files=request.FILES, evidence_accepted=accepts)
        status = 400
        if form.is_valid():
            try:
                filed = _file(customer.actor, customer.customer_id, form)
            except evidence_store.EvidenceRefused as refused:
                form.add_error(
                    "evidence" if "evidence" in form.fields else None,
                    evidence_message(refused.rule),
                )
                status = refused.status
            except services.ComplaintInvalid as error:
                form.add_error(None, error.message)
                status = error.status
            else:
                messages.success(
                    request,
                    _("Your complaint was received. The shop will answer by %(due)s.")
                    % {"due": when(filed.due_at)},
                )
                return redirect("portal:complaint", complaint_id=filed.id)
    else:
        form = NewComplaintForm(evidence_accepted=accepts)
    return render(request, "portal/complaint_new.html", {"form": form}, status=status)


def _conflict_message(action: str) -> str:
    if action == "reopen":
        return _(
            "This complaint cannot be reopened now: the time to reopen it has passed. "
            "You can file a new complaint."
        )
    return _("This complaint is closed: reopen it, or file a new complaint.")


@require_http_methods(["GET", "POST"])
@center_view
def complaint_detail(
    request: HttpRequest, enforced: EnforcedPolicy, complaint_id: uuid.UUID
) -> HttpResponse:
    actor = _customer(request).actor
    accepts = evidence_accepted(enforced)
    reply = ReplyForm(evidence_accepted=accepts)
    reopen = ReopenForm()
    problem = ""
    status = 200
    if request.method == "POST":
        action = str(request.POST.get("action", ""))
        status = 400
        try:
            if action == "reopen":
                reopen = ReopenForm(data=request.POST)
                if reopen.is_valid():
                    handling.reopen(
                        actor=actor,
                        complaint_id=complaint_id,
                        text=reopen.cleaned_data["text"],
                        channel=CHANNEL,
                    )
                    messages.success(request, _("Your complaint was reopened."))
                    return redirect("portal:complaint", complaint_id=complaint_id)
            elif action == "reply":
                reply = ReplyForm(data=request.POST, files=request.FILES, evidence_accepted=accepts)
                if reply.is_valid():
                    reply_with_evidence(
                        actor,
                        complaint_id,
                        reply.cleaned_data["text"],
                        CHANNEL,
                        reply.cleaned_data.get("evidence"),
                    )
                    messages.success(request, _("Your message was sent."))
                    return redirect("portal:complaint", complaint_id=complaint_id)
            else:
                problem = _("Unknown action: send the reply or the reopen form.")
        except NotFound:
            raise Http404("no such complaint") from None
        except evidence_store.EvidenceRefused as refused:
            reply.add_error(
                "evidence" if "evidence" in reply.fields else None, evidence_message(refused.rule)
            )
            status = refused.status
        except handling.ComplaintConflict as conflict:
            problem = _conflict_message(action)
            status = conflict.status
        except services.ComplaintInvalid as error:
            problem = error.message
            status = error.status
    try:
        found = handling.thread(actor=actor, complaint_id=complaint_id)
    except NotFound:
        raise Http404("no such complaint") from None
    context = thread_context(
        found,
        lambda evidence_id: reverse("portal:complaint_evidence", args=[complaint_id, evidence_id]),
    )
    context.update(
        {
            "reply_form": reply,
            "reopen_form": reopen,
            "problem": problem,
            "action_url": reverse("portal:complaint", args=[complaint_id]),
        }
    )
    return render(request, "portal/complaint_detail.html", context, status=status)


@require_GET
@center_view
def evidence(
    request: HttpRequest, enforced: EnforcedPolicy, complaint_id: uuid.UUID, evidence_id: uuid.UUID
) -> HttpResponse:
    try:
        row, data = evidence_store.read_evidence(
            actor=_customer(request).actor, complaint_id=complaint_id, evidence_id=evidence_id
        )
    except NotFound:
        raise Http404("no such file") from None
    return evidence_response(row, data)
