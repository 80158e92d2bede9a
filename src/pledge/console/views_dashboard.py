"""The console's first page: what needs attention (flagged break-glass accesses, deadlines that
later issues bring), whether the audit chain was verified and when, consent rates per purpose, and
a chart of reads per purpose per day. Aggregates only: no personal value, except the written
reasons of break-glass accesses, which the vault decrypts for the roles that review them.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from pledge.complaints.selectors import overseer_roles
from pledge.console import charts, selectors
from pledge.console.access import StaffContext, staff_view
from pledge.console.views_complaints import complaint_counts
from pledge.console.views_customers import field_name, purpose_name
from pledge.vault import breakglass
from pledge.vault.errors import NotFound

REVIEWERS = breakglass.REVIEW_CAPABILITIES
RECENT_BREAK_GLASS = 10


def _staff(request: HttpRequest) -> StaffContext:
    return request.staff  # type: ignore[attr-defined,no-any-return]


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@staff_view()
def dashboard(request: HttpRequest) -> HttpResponse:
    staff = _staff(request)
    if request.method == "POST":
        return _acknowledge(request, staff)
    enforced = staff.policy
    reviews = bool(REVIEWERS & staff.capabilities)
    accesses = (
        breakglass.recent_accesses(actor=staff.actor, limit=RECENT_BREAK_GLASS) if reviews else []
    )
    audit = selectors.audit_status()
    daily = selectors.accesses_per_day(enforced)
    series = [(p, purpose_name(enforced, p)) for p in daily.purposes]
    lang = get_language() or "vi"
    role_names = {r.key: r.name.get(lang) for r in enforced.policy.roles}
    emails = selectors.staff_emails([a.actor for a in accesses] + [audit.verified_by])
    chart = charts.stacked_bars(
        chart_id="accesses-chart",
        title=_("Reads of customer data per purpose per day, last %(days)d days")
        % {"days": len(daily.days)},
        description=_(
            "Stacked bars, one per day; each colour is a purpose. %(total)d reads in all. "
            "The same numbers are in the table below."
        )
        % {"total": daily.total},
        days=daily.days,
        series=series,
        counts=daily.counts,
    )
    table = [
        (day, [(name, daily.counts.get((day, key), 0)) for key, name in series])
        for day in reversed(daily.days)
    ]
    context: dict[str, Any] = {
        "nav": "dashboard",
        "pending": _pending(staff),
        "reviews": reviews,
        "can_acknowledge": staff.can(breakglass.ACKNOWLEDGE_CAPABILITY),
        "accesses": [
            (
                a,
                emails.get(a.actor, a.actor),
                role_names.get(a.role, a.role),
                [field_name(enforced, f) for f in a.fields],
            )
            for a in accesses
        ],
        "flagged": sum(1 for a in accesses if a.flagged),
        "audit": audit,
        "verified_by": emails.get(audit.verified_by, audit.verified_by),
        "consents": [
            (purpose_name(enforced, r.purpose), r) for r in selectors.consent_rates(enforced)
        ],
        "chart": chart,
        "daily": daily,
        "series": series,
        "table": table,
    }
    return render(request, "console/dashboard.html", context)


def _pending(staff: StaffContext) -> list[selectors.PendingWork]:
    """The pending work, with the complaints desk's counts (issue 7): open complaints, those past
    half of their answer time and those overdue, for the roles that see the complaints queue."""
    counts = complaint_counts()
    complaints = selectors.PendingWork(
        "complaints",
        counts["open"],
        enabled=True,
        at_risk=counts["at_risk"],
        overdue=counts["overdue"],
        roles=overseer_roles(staff.policy),
    )
    return [complaints if w.key == "complaints" else w for w in selectors.pending_work()]


def _acknowledge(request: HttpRequest, staff: StaffContext) -> HttpResponse:
    if not staff.can(breakglass.ACKNOWLEDGE_CAPABILITY):
        raise PermissionDenied("only a role that manages staff acknowledges break-glass accesses")
    try:
        access_id = uuid.UUID(request.POST.get("access", ""))
    except ValueError:
        return HttpResponseBadRequest(_("No such break-glass access."))
    try:
        cleared = breakglass.acknowledge_break_glass(actor=staff.actor, access_id=access_id)
    except NotFound:
        return HttpResponseBadRequest(_("No such break-glass access."))
    if cleared:
        messages.success(request, _("Break-glass access acknowledged."))
    else:
        messages.info(request, _("This break-glass access was already acknowledged."))
    return redirect("console:dashboard")
