"""The data package in the privacy center (issue 6 item 3; P18; GDPR Art 15, 20):
`/me/requests/<request id>/package.<zip|html>`.

The signed-in customer downloads the package of their own access or portability request, in the
language of the page they are on. Another customer's request id answers exactly like an unknown
one (404), so no one learns which requests exist. Each download is audited by
`rights.export_link.deliver_package` (`rights:export_downloaded`, `via: privacy_center`).
"""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from django.utils.translation import get_language
from django.views.decorators.http import require_http_methods

from pledge.portal.access import CustomerContext, customer_view
from pledge.rights import export, export_link, views_export
from pledge.rights.export import PackageUnavailable
from pledge.vault.errors import VaultError


@require_http_methods(["GET", "HEAD"])
@customer_view
def download(request: HttpRequest, request_id: uuid.UUID, fmt: str) -> HttpResponse:
    customer: CustomerContext = request.customer  # type: ignore[attr-defined]
    language = "en" if (get_language() or "vi").startswith("en") else "vi"
    try:
        if fmt not in export.FORMATS:
            raise PackageUnavailable("unknown_format")
        package = export_link.deliver_package(
            actor=customer.actor,
            request_id=request_id,
            fmt=fmt,
            via="privacy_center",
            language=language,
        )
    except VaultError as error:
        return views_export.unavailable(request, error)
    return views_export.package_response(package, fmt)
