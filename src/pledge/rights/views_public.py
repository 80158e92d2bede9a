"""The public request form, /request/ (issue 6; P18): for people without an account.

1. `start`: an email and what they want. The answer is the same for every email (same redirect,
   same page, same work: pledge.rights.identity), so the form tells nobody whether an address is
   on file. Beyond the allowance per client and per email, the same "try later" page (429).
2. `verify`: the six-digit code sent to the address, if it is on file.
3. `status`: where the request stands; never any personal data. Results (data package link,
   erasure answer) go by email to the address on file only.

Which requests a browser may look at is kept in its session (ids only), so the form's URLs carry
no id that differs between a known and an unknown email, and a request id alone shows nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from pledge.accounts.clients import client_address
from pledge.policy.enforcement import NoPolicyInForce, enforced_policy
from pledge.rights import identity, notices, services
from pledge.rights.forms import CodeForm, PublicRequestForm
from pledge.rights.models import DataSubjectRequest, RequestKind, RequestStatus
from pledge.vault.errors import VaultError
from pledge.vault.normalise import ValueInvalid

# Session keys: ids of the requests filed from this browser, and the one waiting for its code.
SESSION_REQUESTS = "pledge_rights_requests"
SESSION_CURRENT = "pledge_rights_current"
REMEMBERED = 10


def _language() -> str:
    return "en" if (get_language() or "vi").startswith("en") else "vi"


def _remembered(request: HttpRequest) -> list[str]:
    ids = request.session.get(SESSION_REQUESTS, [])
    return [str(i) for i in ids] if isinstance(ids, list) else []


def _remember(request: HttpRequest, request_id: uuid.UUID) -> None:
    ids = [i for i in _remembered(request) if i != str(request_id)]
    request.session[SESSION_REQUESTS] = [*ids, str(request_id)][-REMEMBERED:]
    request.session[SESSION_CURRENT] = str(request_id)


def _own(request: HttpRequest, request_id: uuid.UUID) -> DataSubjectRequest | None:
    """The request, if this browser filed it; None otherwise (answered as not found)."""
    if str(request_id) not in _remembered(request):
        return None
    return DataSubjectRequest.objects.filter(pk=request_id).first()


def _not_found(request: HttpRequest) -> HttpResponse:
    response = render(request, "rights/not_found.html", status=404)
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int
) -> HttpResponse:
    response = render(request, template, context, status=status)
    # The pages of a request are about someone's data rights: no shared cache keeps them.
    response.headers["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
def start(request: HttpRequest) -> HttpResponse:
    try:
        policy = enforced_policy().policy
    except NoPolicyInForce:
        return _page(request, "rights/unavailable.html", {}, 503)
    language = _language()
    arguments: dict[str, Any] = {
        "kinds": services.offered_kinds(),
        "policy": policy,
        "language": language,
    }
    status = 200
    if request.method == "POST":
        form = PublicRequestForm(data=request.POST, **arguments)
        if form.is_valid():
            try:
                filed = identity.file_public_request(
                    email=form.cleaned_data["email"],
                    kind=form.cleaned_data["kind"],
                    purposes=form.purposes(),
                    address=client_address(request),
                    language=language,
                )
            except ValueInvalid:
                form.add_error("email", _("Enter a valid email address."))
            except VaultError as error:
                form.add_error(
                    None,
                    _("This request could not be accepted: %(reason)s") % {"reason": error.message},
                )
                status = error.status
            else:
                if filed is None:
                    return _page(request, "rights/throttled.html", {}, 429)
                _remember(request, filed.id)
                return HttpResponseRedirect(reverse("rights:verify"))
        status = status if status != 200 else 400
    else:
        form = PublicRequestForm(**arguments)
    return _page(
        request,
        "rights/start.html",
        {"form": form, "shop": policy.controller.trade_name or policy.controller.legal_name},
        status,
    )


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    current = request.session.get(SESSION_CURRENT)
    try:
        request_id = uuid.UUID(str(current))
    except ValueError:
        return _not_found(request)
    filed = _own(request, request_id)
    if filed is None:
        return _not_found(request)
    if filed.status != RequestStatus.IDENTITY_UNVERIFIED:
        return HttpResponseRedirect(reverse("rights:status", args=[filed.id]))
    status = 200
    form = CodeForm(data=request.POST if request.method == "POST" else None)
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                identity.check_public_code(request_id=filed.id, code=form.cleaned_data["code"])
            except identity.CodeRefused as refused:
                form.add_error("code", _code_message(refused))
                status = refused.status
            except VaultError as error:
                form.add_error(None, error.message)
                status = error.status
            else:
                request.session.pop(SESSION_CURRENT, None)
                return HttpResponseRedirect(reverse("rights:status", args=[filed.id]))
    return _page(
        request,
        "rights/verify.html",
        {
            "form": form,
            "filed": filed,
            "kind": RequestKind(filed.kind).label,
            "minutes": identity.code_minutes(),
        },
        status,
    )


def _code_message(refused: identity.CodeRefused) -> str:
    if refused.problem == identity.CodeProblem.LOCKED:
        return _(
            "Too many wrong codes: this request can no longer be verified. Make a new request "
            "if you still want to."
        )
    if refused.problem == identity.CodeProblem.EXPIRED:
        return _("The code has expired. Make a new request to get a new code.")
    return _("This code is not right. Tries left: %(left)d.") % {"left": refused.attempts_left}


@require_GET
def status(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    filed = _own(request, request_id)
    if filed is None:
        return _not_found(request)
    language = _language()
    ground = services.denial_ground(filed)
    return _page(
        request,
        "rights/status.html",
        {
            "filed": filed,
            "kind": RequestKind(filed.kind).label,
            "status_label": RequestStatus(filed.status).label,
            "received": notices.date_text(filed.received_at, language),
            "due": notices.due_text(filed.effective_due_at, language),
            "extended": filed.extended_due_at is not None,
            "waiting_for_code": filed.status == RequestStatus.IDENTITY_UNVERIFIED
            and request.session.get(SESSION_CURRENT) == str(filed.id),
            "denied": ground is not None,
        },
        200,
    )
