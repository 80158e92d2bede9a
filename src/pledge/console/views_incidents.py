"""The console's breach register (issue 8 item 1; P23): the list, recording an incident, its
page (timeline, scope with counts, clocks with the time left, and the actions: scope, add a
step, record a report stage, notify customers, close), and the authority report as a printable
page and a PDF.

Who: the owner only (the role with the console capability `manage_staff`: it answers for the
controller, Decree 356/2025 Art 5). A breach register names who read what, and its actions speak
to the authority and to every affected customer; no other role of the presets is given that, and
a policy cannot widen it (docs/incidents.md). Every change is a call to
`pledge.incidents.services` with `request.staff.actor`; a refusal is the form again with the
field named and status 422, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from pledge.console.access import StaffContext, staff_view
from pledge.console.forms_incidents import (
    CloseForm,
    RecordIncidentForm,
    ReportForm,
    ScopeForm,
    StepForm,
)
from pledge.console.views_requests import in_shop_time
from pledge.incidents import services
from pledge.incidents.models import (
    Incident,
    IncidentAffected,
    IncidentClock,
    IncidentReport,
    IncidentStatus,
    NoticeStatus,
)
from pledge.incidents.pdf import FontMissing, render_pdf
from pledge.incidents.report import LANGUAGES, build_report
from pledge.incidents.texts import IncidentInvalid
from pledge.rights.notices import field_label
from pledge.vault.errors import NotFound

# P23: the owner answers for the controller (see the module's docstring).
CAPABILITY = "manage_staff"
LIST_LIMIT = 200
ACTIONS = ("scope", "step", "report", "notify", "close")


def _staff(request: HttpRequest) -> StaffContext:
    return request.staff  # type: ignore[attr-defined,no-any-return]


def _language() -> str:
    return translation.get_language() or "vi"


def _incident(incident_id: uuid.UUID) -> Incident:
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None:
        raise Http404("no such incident")
    return incident


def _add_problems(form: forms.Form, exc: IncidentInvalid) -> None:
    """The service's refusal on the field it names (or the form)."""
    for problem in exc.problems or []:
        name = problem.field if problem.field in form.fields else None
        form.add_error(name, exc.message)
        return
    form.add_error(None, exc.message)


# -- the list ----------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "HEAD"])
@staff_view(CAPABILITY)
@in_shop_time
def incidents(request: HttpRequest) -> HttpResponse:
    rows = list(Incident.objects.order_by("-detected_at", "id")[:LIST_LIMIT])
    now = timezone.now()
    due: dict[uuid.UUID, IncidentClock] = {}
    for clock in IncidentClock.objects.filter(incident__in=rows, answered_at__isnull=True).order_by(
        "due_at"
    ):
        due.setdefault(clock.incident_id, clock)
    return render(
        request,
        "console/incidents.html",
        {
            "nav": "incidents",
            "rows": [(i, due.get(i.id)) for i in rows],
            "now": now,
            "limit": LIST_LIMIT,
        },
    )


# -- recording ---------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@staff_view(CAPABILITY)
@in_shop_time
def record_incident(request: HttpRequest) -> HttpResponse:
    staff = _staff(request)
    language = _language()
    form = RecordIncidentForm(
        request.POST if request.method == "POST" else None,
        enforced=staff.policy,
        language=language,
        initial={"detected_at": timezone.localtime().replace(second=0, microsecond=0)},
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                incident = services.record_incident(
                    actor=staff.actor,
                    detected_at=data["detected_at"],
                    occurred_from=data["occurred_from"],
                    occurred_to=data["occurred_to"],
                    nature=data["nature"],
                    systems=list(data["systems"]),
                    data_categories=list(data["data_categories"]),
                    actors=data["actors"],
                    place=data["place"],
                    consequences=data["consequences"],
                    measures=data["measures"],
                    advice=data["advice"],
                    customer_data_at_risk=data["customer_data_at_risk"],
                    drill=data["drill"],
                )
            except IncidentInvalid as exc:
                _add_problems(form, exc)
                status = exc.status
            else:
                messages.success(request, _("Incident recorded; its clocks are running."))
                return redirect("console:incident", incident.id)
    return render(
        request, "console/incident_new.html", {"nav": "incidents", "form": form}, status=status
    )


# -- an incident's page ------------------------------------------------------------------------


def _forms(
    request: HttpRequest, staff: StaffContext, incident: Incident, clocks: list[IncidentClock]
) -> dict[str, forms.Form]:
    language = _language()
    data = request.POST if request.method == "POST" else None
    action = request.POST.get("action") if data is not None else None

    def bound(name: str) -> Any:
        return data if action == name else None

    return {
        "scope": ScopeForm(
            bound("scope"),
            enforced=staff.policy,
            language=language,
            initial={"roles": incident.scope_roles, "systems": incident.scope_systems},
        ),
        "step": StepForm(bound("step")),
        "report": ReportForm(bound("report"), clocks=clocks, language=language),
        "close": CloseForm(bound("close")),
    }


def _act(
    request: HttpRequest, staff: StaffContext, incident: Incident, form: forms.Form | None
) -> str:
    action = request.POST.get("action", "")
    actor = staff.actor
    if action == "notify":
        handled = services.start_notices(actor=actor, incident_id=incident.id)
        return _("%(count)s customers handled in this batch; the worker sends the rest.") % {
            "count": handled
        }
    assert form is not None
    data = form.cleaned_data
    if action == "scope":
        services.scope_incident(
            actor=actor,
            incident_id=incident.id,
            roles=list(data["roles"]),
            systems=list(data["systems"]),
            start=data["start"],
            end=data["end"],
        )
        return _("Scope computed.")
    if action == "step":
        services.add_step(actor=actor, incident_id=incident.id, text=data["text"])
        return _("Step added to the timeline.")
    if action == "report":
        services.record_report(
            actor=actor,
            incident_id=incident.id,
            stage=data["stage"],
            clock_key=data["clock"],
            sent_at=data["sent_at"],
            late_reason=data["late_reason"],
        )
        return _("Report stage recorded as sent.")
    services.close_incident(actor=actor, incident_id=incident.id, text=data["text"])
    return _("Incident closed.")


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@staff_view(CAPABILITY)
@in_shop_time
def incident_detail(request: HttpRequest, incident_id: uuid.UUID) -> HttpResponse:
    staff = _staff(request)
    incident = _incident(incident_id)
    clocks = list(IncidentClock.objects.filter(incident=incident).order_by("due_at", "key"))
    all_forms = _forms(request, staff, incident, clocks)
    status = 200
    refusal = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        form = all_forms.get(action)
        if action not in ACTIONS:
            status, refusal = 400, _("Unknown action.")
        elif form is not None and not form.is_valid():
            status = 400
        else:
            try:
                done = _act(request, staff, incident, form)
            except IncidentInvalid as exc:
                status = exc.status
                if form is not None:
                    _add_problems(form, exc)
                else:
                    refusal = exc.message
            except NotFound:
                raise Http404("no such incident") from None
            else:
                messages.success(request, done)
                return redirect("console:incident", incident.id)
    return render(
        request,
        "console/incident.html",
        _detail_context(incident, clocks, all_forms, refusal),
        status=status,
    )


def _left(due: dt.datetime, now: dt.datetime) -> str:
    seconds = int((due - now).total_seconds())
    if seconds <= 0:
        return _("overdue")
    return _("%(h)s h %(m)s min left") % {"h": seconds // 3600, "m": seconds % 3600 // 60}


def _detail_context(
    incident: Incident, clocks: list[IncidentClock], all_forms: dict[str, forms.Form], refusal: str
) -> dict[str, Any]:
    now = timezone.now()
    language = _language()
    notices = dict(
        IncidentAffected.objects.filter(incident=incident)
        .exclude(notice_status="")
        .values_list("notice_status")
        .annotate(n=Count("id"))
        .values_list("notice_status", "n")
    )
    pending = IncidentAffected.objects.filter(incident=incident, notified_at__isnull=True).count()
    return {
        "nav": "incidents",
        "incident": incident,
        "closed": incident.status == IncidentStatus.CLOSED,
        "clocks": [
            (c, c.article.get(language) or c.key, _left(c.due_at, now), c.due_at <= now)
            for c in clocks
        ],
        "steps": list(incident.steps.order_by("at", "id")),
        "reports": list(IncidentReport.objects.filter(incident=incident).order_by("sent_at")),
        "field_counts": [
            (field_label(k, language), n) for k, n in sorted((incident.field_counts or {}).items())
        ],
        "notices": [(NoticeStatus(k).label, n) for k, n in sorted(notices.items())],
        "pending": pending,
        "forms": all_forms,
        "refusal": refusal,
        "languages": LANGUAGES,
    }


# -- the authority report ----------------------------------------------------------------------


def _report_language(request: HttpRequest) -> str:
    lang = request.GET.get("lang", "vi")
    if lang not in LANGUAGES:
        raise Http404("the report is in vi or en")
    return lang


@never_cache
@require_http_methods(["GET", "HEAD"])
@staff_view(CAPABILITY)
@in_shop_time
def authority_report(request: HttpRequest, incident_id: uuid.UUID) -> HttpResponse:
    staff = _staff(request)
    incident = _incident(incident_id)
    language = _report_language(request)
    report = build_report(incident, staff.policy, language, now=timezone.now())
    return render(
        request,
        "console/incident_report.html",
        {"report": report, "incident": incident, "languages": LANGUAGES},
    )


@never_cache
@require_http_methods(["GET", "HEAD"])
@staff_view(CAPABILITY)
@in_shop_time
def authority_report_pdf(request: HttpRequest, incident_id: uuid.UUID) -> HttpResponse:
    staff = _staff(request)
    incident = _incident(incident_id)
    language = _report_language(request)
    report = build_report(incident, staff.policy, language, now=timezone.now())
    try:
        body = render_pdf(report)
    except FontMissing as exc:
        return HttpResponse(str(exc), status=503, content_type="text/plain; charset=utf-8")
    response = HttpResponse(body, content_type="application/pdf")
    name = f"incident-{incident.reference}-{language}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
