"""Public pages of the policy app: the privacy policy page and the health check."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.http import require_GET

from pledge import __version__
from pledge.policy import selectors
from pledge.policy.render import build_page

LANGUAGE_COOKIE = settings.LANGUAGE_COOKIE_NAME


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception:  # the health check reports, it never raises
        database = "unavailable"
    status = 200 if database == "ok" else 503
    return JsonResponse(
        {
            "status": "ok" if status == 200 else "degraded",
            "database": database,
            "version": __version__,
        },
        status=status,
    )


@require_GET
def policy_page(request: HttpRequest) -> HttpResponse:
    shown = selectors.current_policy()
    if shown is None:
        return render(request, "policy/unpublished.html", status=503)
    policy, versions = shown
    requested = request.GET.get("lang", "")
    if requested in policy.languages:
        lang = requested
    elif request.LANGUAGE_CODE in policy.languages:
        lang = request.LANGUAGE_CODE
    else:
        lang = policy.default_language
    with translation.override(lang):
        context = build_page(policy, lang, versions)
        context["standalone"] = False
        response = render(request, "policy/page.html", context)
    response.headers["Content-Language"] = lang
    if requested == lang:
        # Remember an explicit choice for the next pages (the LocaleMiddleware reads this cookie).
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 24 * 3600, samesite="Lax")
    return response
