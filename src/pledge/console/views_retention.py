"""Retention sweeps in the console (issue 8 item 4; P17): the runs and each run's
proof-of-deletion report.

Who: roles with the `view_audit` console capability (preset B: owner and auditor), read-only: the
reports are evidence for an audit. They hold no personal data (rule keys, record kinds, field
names and counts), so viewing them records no audit event, as the complaint reports record none.
Sweeps are started by the worker (once a day) or `pledge retention sweep`, never from a page.
"""

from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from pledge.console.access import StaffContext, staff_view
from pledge.console.views_audit import shop_timezone
from pledge.retention.models import RetentionRun

RUNS_SHOWN = 100


@never_cache
@require_http_methods(["GET", "HEAD"])
@staff_view("view_audit")
def runs(request: HttpRequest) -> HttpResponse:
    staff: StaffContext = request.staff  # type: ignore[attr-defined]
    with timezone.override(shop_timezone(staff)):
        shown = list(RetentionRun.objects.order_by("-started_at")[:RUNS_SHOWN])
        return render(
            request,
            "console/retention.html",
            {"nav": "retention", "runs": shown, "limit": RUNS_SHOWN},
        )


@never_cache
@require_http_methods(["GET", "HEAD"])
@staff_view("view_audit")
def run_detail(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    staff: StaffContext = request.staff  # type: ignore[attr-defined]
    run = RetentionRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404("no such retention run")
    rows = [
        (rule, category, n)
        for rule, per in sorted(run.deleted.items())
        for category, n in sorted(per.items())
    ]
    kept = [
        (hold, category, n) for hold, per in sorted(run.kept.items()) for category, n in per.items()
    ]
    with timezone.override(shop_timezone(staff)):
        return render(
            request,
            "console/retention_run.html",
            {
                "nav": "retention",
                "run": run,
                "deleted_rows": rows,
                "kept_rows": kept,
                "erased_rows": sorted(run.customers_erased.items()),
            },
        )
