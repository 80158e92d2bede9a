"""The marketing unsubscribe link (P19): `/consent/unsubscribe/<token>/`, no sign-in needed.

GET shows one button and changes nothing (mail scanners open links). POST withdraws: with the body
`List-Unsubscribe=One-Click` it is a mail client's RFC 8058 one-click request (method
`one_click`), otherwise the page's button (method `unsubscribe_link`). A second POST changes
nothing and answers the same. A token that is not one Pledge signed gets a 400 page naming the
problem.

CSRF: the view is exempt because one-click POSTs come from mail clients, which hold no CSRF token.
It is safe: the signed token in the URL is the only authority (no session or cookie is used), it
can do only one thing — stop one kind of email for one customer — and a forged request cannot
make one without the key.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from pledge.consent import services
from pledge.consent.errors import ConsentError
from pledge.consent.secret_paths import secret_path_view
from pledge.consent.unsubscribe import ONE_CLICK_BODY, BadToken, UnsubscribeToken, read_token
from pledge.policy.enforcement import NoPolicyInForce, enforced_policy
from pledge.policy.schema import Purpose
from pledge.vault.models import Customer

LANGUAGES = ("vi", "en")


def _problem_message(reason: str) -> str:
    return {
        "malformed": _("The link is incomplete or damaged."),
        "bad_signature": _("The link was not made by this shop, or it was changed."),
        "not_marketing": _("The link is not for marketing emails of this shop."),
        "no_policy": _("The shop has no privacy policy in force; try again later."),
    }.get(reason, _("The link is not valid."))


def _accepted_language(request: HttpRequest) -> str | None:
    """The first of vi/en the browser asks for (a language chosen on this site comes first)."""
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    if chosen in LANGUAGES:
        return chosen
    ranked = []
    for position, item in enumerate(request.headers.get("Accept-Language", "").split(",")[:20]):
        tag, _sep, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        code = tag.strip().split("-")[0].lower()
        if code in LANGUAGES and quality > 0:
            ranked.append((-quality, position, code))
    return min(ranked)[2] if ranked else None


def _page_language(request: HttpRequest, customer_id: uuid.UUID | None) -> str:
    found = _accepted_language(request)
    if found is not None:
        return found
    if customer_id is not None:
        stored = Customer.objects.filter(pk=customer_id).values_list("language", flat=True)
        language = stored.first()
        if language in LANGUAGES:
            return str(language)
    return str(settings.LANGUAGE_CODE)


def _invalid(request: HttpRequest, reason: str, status: int = 400) -> HttpResponse:
    with translation.override(_page_language(request, None)):
        response = render(
            request,
            "consent/unsubscribe_invalid.html",
            {"problem": reason, "message": _problem_message(reason)},
            status=status,
        )
    return _private(response)


def _private(response: HttpResponse) -> HttpResponse:
    # The token is the authority: keep it out of caches, search engines and Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _marketing_purpose(token: UnsubscribeToken) -> tuple[Purpose, str]:
    try:
        enforced = enforced_policy()
    except NoPolicyInForce:
        raise BadToken("no_policy") from None
    declared = enforced.purpose(token.purpose)
    if declared is None or not declared.marketing:
        raise BadToken("not_marketing")
    return declared, enforced.policy.controller.trade_name or enforced.policy.name


@csrf_exempt
@secret_path_view(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        found = read_token(token)
        purpose, shop = _marketing_purpose(found)
    except BadToken as exc:
        return _invalid(request, exc.reason, 503 if exc.reason == "no_policy" else 400)
    language = _page_language(request, found.customer_id)
    context = {
        "shop": shop,
        "purpose_name": purpose.name.get(language),
        "purpose_description": purpose.description.get(language),
    }
    with translation.override(language):
        if request.method == "POST":
            one_click = request.POST.get("List-Unsubscribe") == ONE_CLICK_BODY.partition("=")[2]
            try:
                services.withdraw_consent(
                    customer_id=found.customer_id,
                    purpose=purpose.key,
                    method="one_click" if one_click else "unsubscribe_link",
                    actor=f"customer:{found.customer_id}",
                    channel="email",
                    language=language,
                )
            except ConsentError as exc:
                if exc.rule != "not_found":
                    raise
                # The customer was erased: there is nobody left to email; say it is done.
            response = render(request, "consent/unsubscribe_done.html", context)
        else:
            subscribed = not services.objection_stands(found.customer_id, purpose.key)
            response = render(
                request, "consent/unsubscribe.html", {**context, "subscribed": subscribed}
            )
    return _private(response)
