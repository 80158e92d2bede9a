"""Complaint reports in the console (issue 7, item 5; P21): SLA attainment per month and per
channel, the median time to the first answer, the complaints open at risk, as a table, a chart and
a CSV export.

Who: `complaints.selectors.overseer_roles` (the policy's complaint handlers and the owner, who is
told when a complaint runs late); any other role gets 403. The reports hold no personal data
(counts, times and complaint ids, never a text or a customer), so viewing or exporting them is
not an access to personal data and records no audit event, as the dashboard's aggregates record
none. (The audit log's own export is recorded because it lists customer ids.)

Times are the shop's (the policy's `timezone`): months are cut there, and the due times shown are
where the SLA is counted.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from pledge.complaints import reports as sla
from pledge.complaints.models import ComplaintChannel, ComplaintStatus
from pledge.complaints.selectors import overseer_roles
from pledge.console import charts
from pledge.console.access import StaffContext, staff_view
from pledge.console.views_audit import shop_timezone

# Machine-readable: English column names and codes, whatever the page's language.
CSV_HEADER = (
    "month",
    "channel",
    "filed",
    "answered",
    "answered_in_time",
    "breached",
    "still_open",
    "attainment_percent",
    "median_hours_to_first_answer",
)
# The chart's series, bottom to top: the first round's verdict, then what is not decided yet.
SERIES_KEYS = ("in_time", "breached", "undecided")


def _overseer(request: HttpRequest) -> StaffContext:
    staff: StaffContext = request.staff  # type: ignore[attr-defined]
    if staff.role.key not in overseer_roles(staff.policy):
        raise PermissionDenied("only complaint handlers and the owner see complaint reports")
    return staff


def _months_problem() -> str:
    # PeriodInvalid's English message is for code; staff read this sentence in their language.
    return _("The period must be a whole number of months from 1 to %(max)d.") % {
        "max": sla.MAX_MONTHS
    }


def month_label(day: dt.date) -> str:
    """A month on the chart's axis: short enough for 36 bars, numeric in both languages."""
    return f"{day.month}/{day.year % 100:02d}"


def _chart(report: sla.SlaReport) -> Any:
    labels = {
        "in_time": _("answered in time"),
        "breached": _("late: SLA breached"),
        "undecided": _("not decided yet"),
    }
    counts: dict[tuple[dt.date, str], int] = {}
    for month in report.months:
        t = month.total
        counts[(month.month, "in_time")] = t.in_time
        counts[(month.month, "breached")] = t.breached
        counts[(month.month, "undecided")] = t.undecided
    total = report.period_total
    if total.attainment is None:
        summary = _("No complaint of the period is decided yet.")
    else:
        summary = _("%(percent)s %% of the decided complaints were answered in time.") % {
            "percent": f"{total.attainment:.1f}"
        }
    return charts.stacked_bars(
        chart_id="sla-chart",
        title=_("SLA attainment per month, last %(months)d months")
        % {"months": len(report.months)},
        description=_(
            "Stacked bars, one per month of receipt: complaints answered in time, late (the "
            "SLA was breached), and not decided yet. %(filed)d complaints in all. %(summary)s "
            "The same numbers are in the table below."
        )
        % {"filed": total.filed, "summary": summary},
        days=[m.month for m in report.months],
        series=[(key, labels[key]) for key in SERIES_KEYS],
        counts=counts,
        day_label=month_label,
    )


@dataclass(frozen=True)
class TableRow:
    """A row of the page's table: a channel's numbers, or the totals of every channel."""

    month_key: str  # "2027-03", or "all" for the whole period
    month_name: str
    channel: str
    channel_name: str
    numbers: sla.Attainment

    @property
    def is_total(self) -> bool:
        return self.channel == sla.ALL


def _channel_name(channels: Mapping[str, object], code: str) -> str:
    return _("All channels") if code == sla.ALL else str(channels.get(code, code))


def _table_rows(report: sla.SlaReport, channels: Mapping[str, object]) -> list[TableRow]:
    """Newest month first: each channel that received complaints, then the month's totals."""
    rows: list[TableRow] = []
    for month in reversed(report.months):
        key, name = f"{month.month:%Y-%m}", date_format(month.month, "YEAR_MONTH_FORMAT")
        for numbers in [*month.active_channels, month.total]:
            rows.append(
                TableRow(
                    key, name, numbers.channel, _channel_name(channels, numbers.channel), numbers
                )
            )
    return rows


def _period_rows(report: sla.SlaReport, channels: Mapping[str, object]) -> list[TableRow]:
    name = _("Whole period")
    return [
        TableRow(sla.ALL, name, numbers.channel, _channel_name(channels, numbers.channel), numbers)
        for numbers in report.period
        if numbers.filed or numbers.channel == sla.ALL
    ]


@never_cache
@require_http_methods(["GET", "HEAD"])
@staff_view()
def reports(request: HttpRequest) -> HttpResponse:
    staff = _overseer(request)
    tz = shop_timezone(staff)
    with timezone.override(tz):
        raw = request.GET.get("months")
        context: dict[str, Any] = {
            "nav": "complaints",
            "months_value": (raw or "").strip()[:8] or sla.DEFAULT_MONTHS,
            "max_months": sla.MAX_MONTHS,
            "timezone_name": timezone.get_current_timezone_name(),
        }
        try:
            months = sla.parse_months(raw)
        except sla.PeriodInvalid:
            context["months_error"] = _months_problem()
            return render(request, "console/complaint_reports.html", context, status=400)
        now = timezone.now()
        report = sla.sla_attainment(now=now, months=months, tz=tz)
        at_risk = sla.open_at_risk(now=now)
        channels = dict(ComplaintChannel.choices)
        statuses = dict(ComplaintStatus.choices)

        context.update(
            {
                "months": months,
                "report": report,
                # The months in the body, the whole period in the footer.
                "sections": [
                    ("tbody", _table_rows(report, channels)),
                    ("tfoot", _period_rows(report, channels)),
                ],
                "period_total": report.period_total,
                "chart": _chart(report),
                "at_risk": at_risk,
                "at_risk_channels": [
                    (
                        code,
                        channels.get(code, code),
                        at_risk.at_risk.get(code, 0),
                        at_risk.overdue.get(code, 0),
                    )
                    for code in [*channels, *sorted(set(at_risk.at_risk) - set(channels))]
                    if at_risk.at_risk.get(code, 0) or at_risk.overdue.get(code, 0)
                ],
                "at_risk_rows": [
                    (c, channels.get(c.channel, c.channel), statuses.get(c.status, c.status))
                    for c in at_risk.complaints
                ],
            }
        )
        return render(request, "console/complaint_reports.html", context)


def _csv_cells(month: str, row: sla.Attainment) -> list[str | int]:
    # No free text reaches these cells (months, channel codes, counts, numbers), so none can
    # start with = + - @ and be run as a formula by a spreadsheet (OWASP: CSV injection).
    return [
        month,
        row.channel,
        row.filed,
        row.answered,
        row.in_time,
        row.breached,
        row.still_open,
        "" if row.attainment is None else f"{row.attainment:.1f}",
        "" if row.median_hours is None else f"{row.median_hours:.1f}",
    ]


def report_csv(report: sla.SlaReport) -> str:
    """One row per month × channel (every channel, zeros included) and the month's totals
    (channel `all`), oldest first; then the whole period (month `all`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for month in report.months:
        label = f"{month.month:%Y-%m}"
        for row in [*month.channels, month.total]:
            writer.writerow(_csv_cells(label, row))
    for row in report.period:
        writer.writerow(_csv_cells(sla.ALL, row))
    return out.getvalue()


@never_cache
@require_http_methods(["GET", "HEAD"])
@staff_view()
def reports_csv(request: HttpRequest) -> HttpResponse:
    staff = _overseer(request)
    tz = shop_timezone(staff)
    try:
        months = sla.parse_months(request.GET.get("months"))
    except sla.PeriodInvalid:
        return HttpResponse(_months_problem(), status=400, content_type="text/plain; charset=utf-8")
    report = sla.sla_attainment(now=timezone.now(), months=months, tz=tz)
    first, last = report.months[0].month, report.months[-1].month
    response = HttpResponse(report_csv(report), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="complaint-sla-{first:%Y-%m}-to-{last:%Y-%m}.csv"'
    )
    return response
