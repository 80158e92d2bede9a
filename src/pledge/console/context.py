"""Template context of console pages: the signed-in staff member (set by `access.staff_view`)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import get_language


def staff(request: HttpRequest) -> dict[str, Any]:
    ctx = getattr(request, "staff", None)
    if ctx is None:
        return {}
    from pledge.console.views_aggregates import sees_aggregates
    from pledge.console.views_complaints import sees_complaints
    from pledge.console.views_disclosures import sees_disclosures
    from pledge.console.views_requests import handles_requests

    return {
        "staff": ctx,
        "staff_role_name": ctx.role.name.get(get_language() or "vi"),
        "staff_handles_requests": handles_requests(ctx),
        "staff_sees_complaints": sees_complaints(ctx),
        "staff_sees_disclosures": sees_disclosures(ctx),
        "staff_sees_aggregates": sees_aggregates(ctx),
    }
