"""Aggregate statistics safe to share (issue 8, item 3; P12): sales per month or quarter by order
status, customer language, product category or product, with every group of fewer than k
customers suppressed and the suppression explained; a CSV export of the same.

Who: the owner and the roles holding a statistics purpose (`aggregates.statistics_roles`); any
other role gets 403. Viewing records no audit event (the report holds no personal data, like the
complaint reports); exporting does (`disclosures:aggregate_exported`), because a file that leaves
the console is what P12 lets the shop share, and the log proves what k it was cut with.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from pledge.console.access import StaffContext, staff_view
from pledge.console.views_audit import shop_timezone
from pledge.disclosures import aggregates as agg


def sees_aggregates(staff: StaffContext) -> bool:
    """For the console's navigation (context.py): whether the page would answer 200."""
    return staff.role.key in agg.statistics_roles(staff.policy)


def _statistician(request: HttpRequest) -> StaffContext:
    staff: StaffContext = request.staff  # type: ignore[attr-defined]
    if not sees_aggregates(staff):
        raise PermissionDenied("only the owner and statistics roles see aggregate statistics")
    return staff


def _group_names() -> dict[str, dict[str, str]]:
    return {
        "status": {
            "placed": _("placed"),
            "paid": _("paid"),
            "shipped": _("shipped"),
            "completed": _("completed"),
            "cancelled": _("cancelled"),
        },
        "language": {"vi": _("Vietnamese"), "en": _("English")},
    }


def _period_name(report: agg.AggregateReport, block: agg.Block) -> str:
    if report.request.granularity == "quarter":
        return _("Q%(quarter)d %(year)d") % {
            "quarter": (block.period.month - 1) // 3 + 1,
            "year": block.period.year,
        }
    return date_format(block.period, "YEAR_MONTH_FORMAT")


def _table(report: agg.AggregateReport) -> list[dict[str, Any]]:
    """Newest period first; each period's rows, then its total."""
    names = _group_names().get(report.request.report, {})
    rows: list[dict[str, Any]] = []
    for block in reversed(report.blocks):
        period = _period_name(report, block)
        for cell in block.cells:
            if cell.is_total:
                name = _("All")
            elif cell.group == "":
                name = _("(no SKU or no items)")
            else:
                name = names.get(cell.group, cell.group)
            rows.append(
                {
                    "period_key": agg.period_label(block.period, report.request.granularity),
                    "period": period,
                    "currency": block.currency,
                    "group": cell.group,
                    "name": name,
                    "cell": cell,
                }
            )
    return rows


def _form_values(request: HttpRequest) -> dict[str, str]:
    return {
        name: (request.GET.get(name) or "").strip()[:16]
        for name in ("report", "period", "periods", "k")
    }


@never_cache
@require_http_methods(["GET", "HEAD"])
@staff_view()
def aggregates(request: HttpRequest) -> HttpResponse:
    staff = _statistician(request)
    tz = shop_timezone(staff)
    context: dict[str, Any] = {
        "nav": "aggregates",
        "reports": [(key, str(label)) for key, label in agg.REPORTS.items()],
        "granularities": [(key, str(label)) for key, label in agg.GRANULARITIES.items()],
        "minimum_k": agg.minimum_k(),
        "max_k": agg.MAX_K,
        "values": _form_values(request),
    }
    try:
        wanted = agg.parse_request(request.GET)
    except agg.ReportInvalid as problem:
        context["error"] = problem
        return render(request, "console/aggregates.html", context, status=400)
    with timezone.override(tz):
        report = agg.build_report(wanted, now=timezone.now(), tz=tz)
        context.update(
            {
                "wanted": wanted,
                "report": report,
                "report_name": agg.REPORTS[wanted.report],
                "dimension_name": agg.DIMENSIONS[wanted.report],
                "rows": _table(report),
                "csv_query": (
                    f"report={wanted.report}&period={wanted.granularity}"
                    f"&periods={wanted.periods}&k={wanted.k}"
                ),
            }
        )
        return render(request, "console/aggregates.html", context)


@never_cache
@require_http_methods(["GET", "HEAD"])
@staff_view()
def aggregates_csv(request: HttpRequest) -> HttpResponse:
    staff = _statistician(request)
    try:
        wanted = agg.parse_request(request.GET)
    except agg.ReportInvalid as problem:
        return HttpResponse(problem.message, status=400, content_type="text/plain; charset=utf-8")
    tz = shop_timezone(staff)
    report = agg.build_report(wanted, now=timezone.now(), tz=tz)
    if request.method == "GET":
        agg.record_export(actor=staff.actor.label, actor_role=staff.role.key, report=report)
    first = agg.period_label(report.first, wanted.granularity)
    last = agg.period_label(report.last, wanted.granularity)
    response = HttpResponse(agg.report_csv(report), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="aggregates-{wanted.report}-{first}-to-{last}-k{wanted.k}.csv"'
    )
    return response
