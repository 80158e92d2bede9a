"""The signed, expiring link to a customer's data package (issue 6 item 3; P18; GDPR Art 15, 20).

`/data-package/<token>/` shows the readable page with its two downloads; `.../package.zip` and
`.../package.html` download. No sign-in: the signed token is the authority, and it names one
request of one customer (`rights.export_link.read_link_token`). The views act as that customer, the
only actor the vault gives subject access to, and every delivery is audited
(`rights:export_downloaded`, with `via: link` and the format).

The token is a live secret in the path: answers are `no-store` and `Referrer-Policy: no-referrer`
(no cache keeps the data, no link on the page leaks the token to another site), 4xx answers are
logged by route, never by path (consent/secret_paths.py). A tampered, foreign or unknown token,
or another customer's request, gets one 404 page; an expired link, a closed request or an erased
customer a 410 page saying so, in the visitor's language (vi or en).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from pledge.consent.secret_paths import secret_path_view
from pledge.rights import export, export_link
from pledge.rights.export import PackageUnavailable
from pledge.vault.access import Actor
from pledge.vault.errors import VaultError
from pledge.vault.models import Customer

CONTENT_TYPES = {"zip": "application/zip", "html": "text/html; charset=utf-8"}


def private(response: HttpResponse) -> HttpResponse:
    """Headers of every answer that carries the package or sits behind its secret link."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _message(reason: str) -> str:
    messages = {
        "invalid": _(
            "This link is not valid: it is incomplete, was changed, or was not made by this shop."
        ),
        "expired": _(
            "This link has expired: a link to a data package works for a limited time. Ask the "
            "shop for a new one."
        ),
        "closed": _("This request is closed, so its data package is no longer available."),
        "erased": _("Your data was erased, so there is no data package any more."),
        "not_ready": _(
            "Your request has not been carried out yet: the data package is ready once it is."
        ),
        "unknown_format": _("This download format does not exist: use zip or html."),
    }
    return messages.get(reason, _("The data package cannot be made right now. Try again later."))


def unavailable(request: HttpRequest, error: VaultError) -> HttpResponse:
    """The page that says why there is no package (never a traceback)."""
    if isinstance(error, PackageUnavailable):
        reason = error.reason
    else:
        # The vault's own refusals: a data key gone (erased) or no policy in force.
        reason = "erased" if error.status == 410 else "error"
    response = render(
        request,
        "rights/export/unavailable.html",
        {"reason": reason, "message": _message(reason)},
        status=error.status,
    )
    return private(response)


def package_response(package: export.Package, fmt: str) -> HttpResponse:
    """The package as a file to save (`attachment`): never shown inline, never sniffed."""
    content = package.zip_bytes() if fmt == "zip" else package.html.encode("utf-8")
    response = HttpResponse(content, content_type=CONTENT_TYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{package.filename(fmt)}"'
    return private(response)


def _language(request: HttpRequest, customer_id: uuid.UUID) -> str:
    """The language asked for on the page (?lang=), else the one chosen on this site, else the
    customer's own (the language of the email the link came in)."""
    for chosen in (request.GET.get("lang"), request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)):
        if chosen in export.LANGUAGES:
            return str(chosen)
    stored = Customer.objects.filter(pk=customer_id).values_list("language", flat=True).first()
    return str(stored) if stored in export.LANGUAGES else str(settings.LANGUAGE_CODE)


def _as_customer(grant: export_link.LinkGrant) -> Actor:
    # The link was made for this customer and this request only (signed): whoever holds it
    # reads as the customer, which is what the vault's subject access allows.
    return Actor(kind="customer", id=str(grant.customer_id))


@secret_path_view(["GET", "HEAD"])
def package_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        grant = export_link.read_link_token(token)
        language = _language(request, grant.customer_id)
        package = export_link.deliver_package(
            actor=_as_customer(grant),
            request_id=grant.request_id,
            fmt="page",
            via="link",
            language=language,
        )
    except VaultError as error:
        return unavailable(request, error)
    query = f"?lang={language}"
    with translation.override(language):
        response = render(
            request,
            "rights/export/page.html",
            {
                "lang": language,
                "body_html": package.body_html,
                "zip_url": reverse("data_package:download", args=[token, "zip"]) + query,
                "html_url": reverse("data_package:download", args=[token, "html"]) + query,
                "expires_at": export.display(grant.expires_at, language),
            },
        )
    return private(response)


@secret_path_view(["GET", "HEAD"])
def download(request: HttpRequest, token: str, fmt: str) -> HttpResponse:
    try:
        grant = export_link.read_link_token(token)
        if fmt not in export.FORMATS:
            raise PackageUnavailable("unknown_format")
        package = export_link.deliver_package(
            actor=_as_customer(grant),
            request_id=grant.request_id,
            fmt=fmt,
            via="link",
            language=_language(request, grant.customer_id),
        )
    except VaultError as error:
        return unavailable(request, error)
    return package_response(package, fmt)
