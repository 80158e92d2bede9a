"""The console's complaints desk (issue 7 items 1 and 3; P20, P21, P22).

- the queue: complaints due first on top, with at-risk (past 50 % of the SLA), overdue and
  breach marks in words, times in the shop's time zone, the customer as a short reference and
  never a text (the queue is no purpose to read anyone's complaint);
- a phone call recorded by staff (channel `staff_phone`), with optional evidence;
- a complaint's page: its SLA times, the thread, and the forms of what staff may do (assign,
  internal note, message, answer with its reason, compensation, close, evidence, re-secure).

Who: the queue and a complaint's times are for `complaints.selectors.overseer_roles` (the roles
of the policy's `complaints` purpose, and the owner, who is told when a complaint runs late);
texts and actions only for the roles of the `complaints` purpose (`handler_roles`), which the
handling services check again, audited. Every change is a call to `pledge.complaints.handling`
(or `services.file_complaint`, `evidence.store_evidence`) with `request.staff.actor`; a refusal
is a page naming what is wrong with its status, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from pledge.complaints import evidence as complaint_evidence
from pledge.complaints import handling, services
from pledge.complaints.models import (
    OPEN_STATUSES,
    Complaint,
    ComplaintChannel,
    ComplaintOutcome,
    ComplaintStatus,
)
from pledge.complaints.selectors import handler_roles, overseer_roles
from pledge.console import selectors as console_selectors
from pledge.console.access import StaffContext, staff_view
from pledge.console.forms_complaints import (
    AnswerForm,
    AssignForm,
    CloseForm,
    CompensationForm,
    EvidenceForm,
    MessageForm,
    NoteForm,
    QueueFilterForm,
    RecordComplaintForm,
)
from pledge.console.views_audit import shop_timezone
from pledge.console.views_requests import in_shop_time, may_resecure
from pledge.policy.clock import ClockError, WorkCalendar
from pledge.rights.selectors import short_ref
from pledge.vault.errors import AccessRefused, NotFound, VaultError
from pledge.vault.models import Customer

QUEUE_LIMIT = 200
ACTIONS = ("assign", "note", "message", "answer", "compensate", "close", "evidence")
HINT_LABELS = {
    "phone": gettext_lazy("a phone number"),
    "email": gettext_lazy("an email address"),
    "card": gettext_lazy("a payment card number"),
    "id_number": gettext_lazy("an ID card number"),
}
CLOCK_LABELS = {
    "calendar": gettext_lazy("calendar hours (nights, weekends and holidays count)"),
    "working_hours": gettext_lazy(
        "working hours (only the shop's opening hours count; public holidays do not)"
    ),
}


def _staff(request: HttpRequest) -> StaffContext:
    return request.staff  # type: ignore[attr-defined,no-any-return]


def sees_complaints(staff: StaffContext) -> bool:
    """The queue, the times and the reports (no texts): handlers and the owner."""
    return staff.role.key in overseer_roles(staff.policy)


def handles_complaints(staff: StaffContext) -> bool:
    """Reading texts and acting: the roles the policy gives its `complaints` purpose (P06, P09)."""
    return staff.role.key in handler_roles(staff.policy)


def _require_overseer(request: HttpRequest) -> StaffContext:
    staff = _staff(request)
    if not sees_complaints(staff):
        raise PermissionDenied("the role does not see the complaints desk")
    return staff


# -- marks and counts -------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    complaint: Complaint
    at_risk: bool  # past 50 % of the SLA (the first escalation), not yet due
    overdue: bool  # open and past its due time
    breached: bool  # a breach was recorded (P21: shown, never hidden)
    assignee: str

    @property
    def customer_ref(self) -> str:
        return short_ref(self.complaint.customer_id)

    @property
    def reference(self) -> str:
        return self.complaint.id.hex[:8]


def marks(complaint: Complaint, now: dt.datetime) -> tuple[bool, bool]:
    """(at risk, overdue): only an open complaint runs against its due time."""
    if complaint.status not in OPEN_STATUSES:
        return False, False
    overdue = now >= complaint.due_at
    return (not overdue and now >= complaint.escalate_50_at), overdue


def complaint_counts(now: dt.datetime | None = None) -> dict[str, int]:
    """Open complaints, how many are at risk and how many overdue: one aggregate query."""
    now = now or timezone.now()
    counts = Complaint.objects.filter(status__in=OPEN_STATUSES).aggregate(
        open=Count("id"),
        at_risk=Count("id", filter=Q(escalate_50_at__lte=now, due_at__gt=now)),
        overdue=Count("id", filter=Q(due_at__lte=now)),
    )
    return {key: int(value or 0) for key, value in counts.items()}


def _staff_names(ids: set[int]) -> dict[int, str]:
    labels = console_selectors.staff_emails(f"staff:{i}" for i in ids)
    return {int(label.split(":", 1)[1]): email for label, email in labels.items()}


# -- the queue --------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "HEAD"])
@staff_view()
@in_shop_time
def queue(request: HttpRequest) -> HttpResponse:
    staff = _require_overseer(request)
    form = QueueFilterForm(request.GET or None)
    rows: list[QueueRow] = []
    status = 200
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        data = form.cleaned_data if form.is_bound else {}
        found = Complaint.objects.filter(customer__isnull=False)
        found = (
            found.filter(status=data["status"])
            if data.get("status")
            else found.filter(status__in=OPEN_STATUSES)
        )
        if data.get("channel"):
            found = found.filter(channel=data["channel"])
        if data.get("assigned") == "me":
            found = found.filter(assigned_to=staff.user_id)
        elif data.get("assigned") == "unassigned":
            found = found.filter(assigned_to__isnull=True)
        complaints = list(found.order_by("due_at", "id")[:QUEUE_LIMIT])
        names = _staff_names({c.assigned_to for c in complaints if c.assigned_to is not None})
        now = timezone.now()
        for c in complaints:
            at_risk, overdue = marks(c, now)
            rows.append(
                QueueRow(
                    complaint=c,
                    at_risk=at_risk,
                    overdue=overdue,
                    breached=c.breached_at is not None,
                    assignee=names.get(c.assigned_to, "") if c.assigned_to else "",
                )
            )
    return render(
        request,
        "console/complaints.html",
        {
            "nav": "complaints",
            "form": form,
            "rows": rows,
            "limit": QUEUE_LIMIT,
            "timezone_name": timezone.get_current_timezone_name(),
            "handles": handles_complaints(staff),
        },
        status=status,
    )


# -- a phone call recorded by staff -----------------------------------------------------------


def _read_upload(upload: UploadedFile) -> bytes:
    """At most one byte over the limit: enough for the service to refuse it, naming the limit,
    without holding an arbitrarily large upload in memory."""
    limit = int(settings.PLEDGE_EVIDENCE_MAX_BYTES)
    upload.seek(0)
    return bytes(upload.read(limit + 1))


def _refusal(exc: VaultError) -> str:
    if isinstance(exc, handling.NoteLooksPersonal):
        return _("The note looks like it holds personal data.")
    if isinstance(exc, complaint_evidence.EvidenceRefused):
        return _("This evidence file cannot be kept.")
    if isinstance(exc, handling.ComplaintConflict):
        return _("This complaint cannot change this way now.")
    if isinstance(exc, services.ComplaintInvalid):
        return _("This cannot be done with what was given.")
    if isinstance(exc, NotFound):
        return _("No such customer or complaint.")
    if isinstance(exc, AccessRefused):
        return _("Your role may not do this.")
    return _("Pledge refused this action.")


def _customer_param(request: HttpRequest) -> uuid.UUID | None:
    try:
        customer_id = uuid.UUID(request.GET.get("customer", ""))
    except ValueError:
        return None
    return customer_id if Customer.objects.filter(pk=customer_id).exists() else None


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@staff_view()
@in_shop_time
def record_complaint(request: HttpRequest) -> HttpResponse:
    staff = _staff(request)
    if not handles_complaints(staff):
        raise PermissionDenied("the role does not handle complaints")
    initial_customer = _customer_param(request)
    posted = request.method == "POST"
    form = RecordComplaintForm(
        request.POST if posted else None,
        request.FILES if posted else None,
        initial={"customer": initial_customer} if initial_customer else {},
        zone=shop_timezone(staff),
    )
    if initial_customer is not None:
        form.fields["customer"].widget = forms.HiddenInput()
    context: dict[str, Any] = {
        "nav": "complaints",
        "form": form,
        "customer_id": initial_customer,
        "customer_ref": short_ref(initial_customer),
    }
    if not posted:
        return render(request, "console/complaint_new.html", context)
    if not form.is_valid():
        return render(request, "console/complaint_new.html", context, status=400)
    upload = form.cleaned_data.get("evidence")
    try:
        # One transaction: evidence refused means no complaint and no acknowledgement either, so
        # staff can correct the file and record the call once.
        with transaction.atomic():
            filed = services.file_complaint(
                actor=staff.actor,
                customer_id=form.cleaned_data["customer"],
                channel=ComplaintChannel.STAFF_PHONE,
                text=form.cleaned_data["text"],
                received_at=form.cleaned_data.get("received_at"),
            )
            if upload is not None:
                complaint_evidence.store_evidence(
                    actor=staff.actor,
                    complaint_id=filed.id,
                    filename=None,
                    content=_read_upload(upload),
                    content_type=str(upload.content_type or ""),
                )
    except NotFound:
        form.add_error("customer", _("No customer has this reference."))
        return render(request, "console/complaint_new.html", context, status=400)
    except VaultError as exc:
        context["refusal"] = (_refusal(exc), exc.message)
        return render(request, "console/complaint_new.html", context, status=exc.status)
    messages.success(request, _("Complaint recorded; the customer is sent an acknowledgement."))
    return redirect("console:complaint", complaint_id=filed.id)


# -- one complaint ----------------------------------------------------------------------------


def _get_complaint(complaint_id: uuid.UUID) -> Complaint:
    found = Complaint.objects.filter(pk=complaint_id, customer__isnull=False).first()
    if found is None:
        raise Http404
    return found


def working_time_between(cal: WorkCalendar, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """The shop's open time between two instants (breaks, closed days, holidays excluded)."""
    total = dt.timedelta()
    day = start.astimezone(cal.timezone).date()
    last = end.astimezone(cal.timezone).date()
    while day <= last:
        for a, b in cal.open_periods(day):
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                total += hi - lo
        day += dt.timedelta(days=1)
    return total


def _duration(delta: dt.timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    hours, minutes = divmod(minutes, 60)
    return _("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}


def remaining(complaint: Complaint, staff: StaffContext, now: dt.datetime) -> str:
    """How long is left (or how late it is), counted in the SLA's own clock (P21)."""
    if complaint.status not in OPEN_STATUSES:
        return ""
    if now >= complaint.due_at:
        return _("overdue by %(time)s (calendar time)") % {
            "time": _duration(now - complaint.due_at)
        }
    if complaint.sla_clock == "working_hours":
        try:
            cal = WorkCalendar.for_policy(staff.policy.policy)
        except ClockError:
            cal = None
        if cal is not None:
            left = working_time_between(cal, now, complaint.due_at)
            return _("%(time)s of working time left") % {"time": _duration(left)}
    return _("%(time)s left") % {"time": _duration(complaint.due_at - now)}


def _forms(complaint: Complaint, staff: StaffContext) -> dict[str, forms.Form]:
    """An empty form for each action the complaint's state allows."""
    built: dict[str, forms.Form] = {
        "assign": AssignForm(
            initial={"assignee": str(complaint.assigned_to or "")},
            staff=handling.assignable(handler_roles(staff.policy)),
        ),
        "note": NoteForm(),
    }
    if complaint.status in OPEN_STATUSES:
        built["message"] = MessageForm()
        built["answer"] = AnswerForm()
    if complaint.status != ComplaintStatus.CLOSED:
        built["compensate"] = CompensationForm()
        built["evidence"] = EvidenceForm()
    if complaint.status == ComplaintStatus.ANSWERED:
        built["close"] = CloseForm()
    return built


def _bound(action: str, request: HttpRequest, staff: StaffContext) -> forms.Form | None:
    data, files = request.POST, request.FILES
    if action == "assign":
        return AssignForm(data, staff=handling.assignable(handler_roles(staff.policy)))
    makers: dict[str, type[forms.Form]] = {
        "note": NoteForm,
        "message": MessageForm,
        "answer": AnswerForm,
        "compensate": CompensationForm,
        "close": CloseForm,
    }
    if action == "evidence":
        return EvidenceForm(data, files)
    make = makers.get(action)
    return make(data) if make is not None else None


def _detail(
    request: HttpRequest,
    staff: StaffContext,
    complaint: Complaint,
    *,
    bound: tuple[str, forms.Form] | None = None,
    refusal: tuple[str, str] | None = None,
    note_hints: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    thread: handling.Thread | None = None
    texts_refused = False
    handles = handles_complaints(staff)
    if handles:
        try:
            thread = handling.thread(actor=staff.actor, complaint_id=complaint.id)
        except AccessRefused:
            # e.g. the customer restricted processing for this purpose: times, not texts.
            texts_refused = True
        except NotFound:
            raise Http404 from None
    action_forms = _forms(complaint, staff) if handles and thread is not None else {}
    if bound is not None and bound[0] in action_forms:
        action_forms[bound[0]] = bound[1]
    now = timezone.now()
    at_risk, overdue = marks(complaint, now)
    authors = {e.author_id for e in thread.entries if e.author_id} if thread else set()
    if complaint.assigned_to:
        authors.add(complaint.assigned_to)
    names = _staff_names(authors)
    evidence = [(e, ev) for e in thread.entries for ev in e.evidence] if thread else []
    return render(
        request,
        "console/complaint.html",
        {
            "nav": "complaints",
            "complaint": complaint,
            "reference": complaint.id.hex[:8],
            "customer_ref": short_ref(complaint.customer_id),
            "status_label": ComplaintStatus(complaint.status).label,
            "channel_label": ComplaintChannel(complaint.channel).label,
            "outcome_label": (
                ComplaintOutcome(complaint.outcome).label if complaint.outcome else ""
            ),
            "clock_label": CLOCK_LABELS.get(
                complaint.sla_clock,
                _("the law's deadline (%(unit)s)") % {"unit": complaint.sla_clock},
            ),
            "remaining": remaining(complaint, staff, now),
            "at_risk": at_risk,
            "overdue": overdue,
            "assignee": names.get(complaint.assigned_to or 0, ""),
            "thread": thread,
            "entries": [(e, names.get(e.author_id or 0, "")) for e in thread.entries]
            if thread
            else [],
            "evidence": evidence,
            "handles": handles,
            "texts_refused": texts_refused,
            "forms": action_forms,
            "failed": bound[0] if bound else "",
            "refusal": refusal,
            "note_hints": [HINT_LABELS.get(h, h) for h in note_hints or []],
            "may_resecure": may_resecure(staff) and complaint.sender_verified,
            "timezone_name": timezone.get_current_timezone_name(),
        },
        status=status,
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@staff_view()
@in_shop_time
def complaint_detail(request: HttpRequest, complaint_id: uuid.UUID) -> HttpResponse:
    staff = _require_overseer(request)
    complaint = _get_complaint(complaint_id)
    if request.method != "POST":
        return _detail(request, staff, complaint)
    if not handles_complaints(staff):
        raise PermissionDenied("the role does not handle complaints")
    action = request.POST.get("action", "")
    form = _bound(action, request, staff)
    if form is None:
        return _detail(
            request,
            staff,
            complaint,
            refusal=(_("No such action."), _("Pick one of the buttons on this page.")),
            status=400,
        )
    if not form.is_valid():
        return _detail(request, staff, complaint, bound=(action, form), status=422)
    try:
        done = _carry_out(action, staff, complaint, form.cleaned_data)
    except handling.NoteLooksPersonal as exc:
        complaint.refresh_from_db()
        return _detail(
            request,
            staff,
            complaint,
            bound=(action, form),
            note_hints=exc.hints,
            status=exc.status,
        )
    except NotFound:
        raise Http404 from None
    except VaultError as exc:
        complaint.refresh_from_db()
        return _detail(
            request,
            staff,
            complaint,
            bound=(action, form),
            refusal=(_refusal(exc), exc.message),
            status=exc.status,
        )
    messages.success(request, done)
    return redirect("console:complaint", complaint_id=complaint.id)


def _carry_out(action: str, staff: StaffContext, complaint: Complaint, data: dict[str, Any]) -> str:
    """Call the handling service for `action`; the sentence to show once it is done."""
    actor, cid = staff.actor, complaint.id
    if action == "assign":
        handling.assign(actor=actor, complaint_id=cid, assignee=data["assignee"])
        return _("Assignment saved.") if data["assignee"] else _("The complaint is unassigned.")
    if action == "note":
        handling.add_note(
            actor=actor,
            complaint_id=cid,
            text=data["text"],
            confirm_personal=bool(data.get("confirm_personal")),
        )
        return _("Internal note saved.")
    if action == "message":
        handling.send_message(actor=actor, complaint_id=cid, text=data["text"])
        return _("Message sent to the customer.")
    if action == "answer":
        handling.answer(
            actor=actor,
            complaint_id=cid,
            text=data["text"],
            reason=data["reason"],
            outcome=data["outcome"],
        )
        return _("Answer sent to the customer with its reason.")
    if action == "compensate":
        handling.compensate(
            actor=actor,
            complaint_id=cid,
            amount=data["amount"],
            currency=data["currency"],
            reason=data["reason"],
        )
        return _("Compensation recorded.")
    if action == "evidence":
        upload = data["evidence"]
        complaint_evidence.store_evidence(
            actor=actor,
            complaint_id=cid,
            filename=None,
            content=_read_upload(upload),
            content_type=str(upload.content_type or ""),
        )
        return _("Evidence stored, encrypted.")
    assert action == "close"
    handling.close(actor=actor, complaint_id=cid)
    return _("Complaint closed.")


# -- evidence ---------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "HEAD"])
@staff_view()
def evidence(request: HttpRequest, complaint_id: uuid.UUID, evidence_id: uuid.UUID) -> HttpResponse:
    staff = _require_overseer(request)
    try:
        row, data = complaint_evidence.read_evidence(
            actor=staff.actor, complaint_id=complaint_id, evidence_id=evidence_id
        )
    except NotFound:
        raise Http404 from None
    except AccessRefused:
        raise PermissionDenied("the role may not read complaint evidence") from None
    except complaint_evidence.EvidenceUnreadable as exc:
        return HttpResponse(
            _("This evidence file cannot be read: %(problem)s") % {"problem": exc.message},
            status=exc.status,
            content_type="text/plain; charset=utf-8",
        )
    extension = {
        "image/jpeg": "jpg",
        "image/png": "png",
        "image/webp": "webp",
        "application/pdf": "pdf",
        "text/plain": "txt",
    }.get(row.content_type, "bin")
    response = HttpResponse(data, content_type=row.content_type)
    # Always a download, never rendered in the console's origin (a hostile PDF or SVG-like text
    # must not run there); the name says nothing about the customer.
    response["Content-Disposition"] = f'attachment; filename="evidence-{row.id}.{extension}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
