"""The privacy center behind the sign-in (issue 5 item 3; P04, P09, P18, P24).

Thin views: every value comes from a service called with the signed-in customer's actor
(`customer:<id>`), which may act only on that customer's own data (vault/access.py). Reads of
personal data go through `vault.subject` (audited there); consent changes through the consent
ledger (audited there). Nothing here writes a model. Pages are `no-store` (portal/access.py):
they show personal data and must not stay in a shared browser's cache.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pledge.audit.selectors import customer_access_log
from pledge.consent import receipts
from pledge.consent import services as consent
from pledge.consent.errors import ConsentError
from pledge.consent.models import ConsentEvent
from pledge.consent.notices import render_purpose_notice
from pledge.policy.enforcement import EnforcedPolicy, NoPolicyInForce, enforced_policy
from pledge.policy.models import PolicyVersion
from pledge.policy.render import localized_date
from pledge.policy.services import active_version, today
from pledge.portal import selectors
from pledge.portal.access import CustomerContext, customer_view
from pledge.portal.forms_center import (
    DEFAULT_RULE_MESSAGE,
    RULE_MESSAGES,
    AcceptPolicyForm,
    ConsentDecisionForm,
    PageForm,
    RectifyForm,
)
from pledge.rights import labels
from pledge.vault import subject
from pledge.vault.errors import ValuesInvalid, VaultError

# How a change made here is recorded in the ledger: a button in the privacy center.
METHOD = "privacy_center"
CHANNEL = "privacy_center"


def _customer(request: HttpRequest) -> CustomerContext:
    return request.customer  # type: ignore[attr-defined,no-any-return]


def center_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in (customer_view), a policy in force, and a vault refusal shown as a page that
    says what happened (never a traceback)."""

    @customer_view
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            enforced = enforced_policy()
        except NoPolicyInForce:
            return render(request, "portal/center/unavailable.html", status=503)
        try:
            return view(request, enforced, *args, **kwargs)
        except VaultError as error:
            return render(
                request, "portal/center/refused.html", {"error": error}, status=error.status
            )

    return wrapped


def _bad_request(
    request: HttpRequest,
    *,
    back: str,
    form: Any = None,
    message: str = "",
    status: int = 400,
) -> HttpResponse:
    """A 4xx page naming what was wrong; nothing was changed."""
    return render(
        request,
        "portal/center/bad_request.html",
        {"form": form, "message": message, "back": reverse(back)},
        status=status,
    )


# -- home ----------------------------------------------------------------------------------


def _review(customer_id: uuid.UUID, lang: str) -> dict[str, Any] | None:
    """P24: a material change the customer has not accepted yet, to review and accept."""
    version = consent.policy_review_needed(customer_id)
    if version is None:
        return None
    return {
        "version": version.version,
        "effective_date": localized_date(version.effective_date, lang),
        "upcoming": version.effective_date > today(),
        "content_hash": version.content_hash,
    }


@require_GET
@center_view
def home(request: HttpRequest, enforced: EnforcedPolicy) -> HttpResponse:
    customer = _customer(request)
    lang = selectors.language()
    policy = enforced.policy
    return render(
        request,
        "portal/center/home.html",
        {
            "review": _review(customer.customer_id, lang),
            "shop": policy.controller.trade_name or policy.controller.legal_name,
            "rights_channels": selectors.rights_channels(policy),
            "complaint_channels": selectors.complaint_channels(policy),
            "identity_verification": (
                policy.rights.identity_verification.get(lang) if policy.rights else ""
            ),
            "has_marketing": bool(selectors.marketing_purposes(policy)),
        },
    )


# -- my data -------------------------------------------------------------------------------


@require_GET
@center_view
def my_data(request: HttpRequest, enforced: EnforcedPolicy) -> HttpResponse:
    customer = _customer(request)
    data = subject.read_subject(actor=customer.actor, customer_id=customer.customer_id)
    live = selectors.live_consents(customer.customer_id, enforced.policy)
    groups = selectors.data_groups(enforced, data, live)
    held = {f.key for g in groups for f in g.fields}
    return render(
        request,
        "portal/center/data.html",
        {
            "data": data,
            "groups": groups,
            "rows": selectors.record_rows(enforced, data),
            "not_held": selectors.not_held(enforced, held),
            "can_correct": bool(set(subject.rectifiable_fields(enforced)) & set(data.profile)),
        },
    )


def _rectify_form(
    request: HttpRequest, enforced: EnforcedPolicy, held: set[str], **kwargs: Any
) -> RectifyForm:
    lang = selectors.language()
    fields = [
        (key, selectors.field_label(enforced.policy, key, lang))
        for key in subject.rectifiable_fields(enforced)
        if key in held
    ]
    return RectifyForm(fields=fields, **kwargs)


@require_http_methods(["GET", "POST"])
@center_view
def edit_data(request: HttpRequest, enforced: EnforcedPolicy) -> HttpResponse:
    customer = _customer(request)
    held = subject.held_profile_fields(customer.customer_id)
    status = 200
    if request.method == "POST":
        form = _rectify_form(request, enforced, held, data=request.POST)
        if form.is_valid():
            try:
                changed = subject.rectify(
                    actor=customer.actor,
                    customer_id=customer.customer_id,
                    changes=form.cleaned_data,
                )
            except ValuesInvalid as error:
                for problem in error.problems:
                    message = str(RULE_MESSAGES.get(problem.rule, DEFAULT_RULE_MESSAGE))
                    target = problem.field if problem.field in form.fields else None
                    form.add_error(target, message)
            else:
                if changed:
                    lang = selectors.language()
                    labels = ", ".join(
                        selectors.field_label(enforced.policy, f, lang) for f in changed
                    )
                    messages.success(request, _("Corrected: %(fields)s.") % {"fields": labels})
                else:
                    messages.info(request, _("Nothing was changed: the values are the same."))
                return redirect("portal:data")
        status = 422
    else:
        values = subject.current_profile(actor=customer.actor, customer_id=customer.customer_id)
        form = _rectify_form(request, enforced, held, initial=values)
    return render(request, "portal/center/edit_data.html", {"form": form}, status=status)


# -- consents (P04) ------------------------------------------------------------------------


def _switches(
    customer: CustomerContext, enforced: EnforcedPolicy, *, marketing: bool
) -> list[selectors.ConsentSwitch]:
    lang = selectors.language()
    rows = [
        row
        for row in consent.consent_overview(customer.customer_id, lang)
        if (row.marketing if marketing else row.basis == "consent")
    ]
    # The exact text a "give" click records, shown beside the button before the click (P04).
    notices = {
        row.key: render_purpose_notice(enforced.policy, enforced.policy.purpose(row.key), lang)
        for row in rows
    }
    return selectors.consent_switches(rows, notices)


@require_GET
@center_view
def consents(request: HttpRequest, enforced: EnforcedPolicy) -> HttpResponse:
    customer = _customer(request)
    return render(
        request,
        "portal/center/consents.html",
        {"switches": _switches(customer, enforced, marketing=False)},
    )


@require_POST
@center_view
def set_consent(request: HttpRequest, enforced: EnforcedPolicy, purpose: str) -> HttpResponse:
    customer = _customer(request)
    declared = enforced.purpose(purpose)
    # Only a purpose the customer decides on: based on consent, or direct marketing (which the
    # customer may always object to, PDPL Art 28, GDPR Art 21(2)). Anything else: no such page.
    if declared is None or not (declared.basis == "consent" or declared.marketing):
        raise Http404
    form = ConsentDecisionForm(request.POST)
    if not form.is_valid():
        return _bad_request(request, form=form, back="portal:consents")
    lang = selectors.language()
    giving = form.cleaned_data["decision"] == "give"
    change = consent.give_consent if giving else consent.withdraw_consent
    try:
        change(
            customer_id=customer.customer_id,
            purpose=purpose,
            method=METHOD,
            actor=customer.actor.label,
            channel=CHANNEL,
            language=lang,
        )
    except ConsentError as error:
        return _bad_request(request, message=error.message, back="portal:consents")
    name = declared.name.get(lang)
    if giving:
        text = _("Saved: %(purpose)s is allowed.")
    elif declared.basis == "consent":
        text = _("Saved: you withdrew your consent to %(purpose)s. It is no longer used.")
    else:
        text = _("Saved: you objected to %(purpose)s. It is no longer used.")
    messages.success(request, text % {"purpose": name})
    return redirect(f"portal:{form.cleaned_data['back'] or 'consents'}")


@require_GET
@center_view
def receipt(request: HttpRequest, enforced: EnforcedPolicy, receipt_id: uuid.UUID) -> HttpResponse:
    customer = _customer(request)
    try:
        # Another customer's receipt id answers exactly like an unknown one.
        event = receipts.receipt_for(customer_id=customer.customer_id, receipt_id=receipt_id)
    except ConsentEvent.DoesNotExist:
        raise Http404 from None
    signed = receipts.build_receipt(event)
    if request.GET.get("format") == "json":
        response = JsonResponse(signed, json_dumps_params={"ensure_ascii": False, "indent": 2})
        response.headers["Content-Disposition"] = f'inline; filename="consent-{receipt_id}.json"'
        return response
    service = signed["services"][0]
    return render(
        request,
        "portal/center/receipt.html",
        {
            "receipt": signed,
            "purpose": service["purposes"][0],
            "service": service["service"],
            "controller": signed["piiControllers"][0],
            "at": event.at,
            "action": str(labels.CONSENT_ACTIONS.get(event.action, event.action)),
            "how": str(labels.CONSENT_METHODS.get(event.method, event.method)),
            "where": str(labels.CONSENT_CHANNELS.get(event.channel, event.channel)),
        },
    )


# -- marketing ----------------------------------------------------------------------------


@require_GET
@center_view
def marketing(request: HttpRequest, enforced: EnforcedPolicy) -> HttpResponse:
    customer = _customer(request)
    return render(
        request,
        "portal/center/marketing.html",
        {"switches": _switches(customer, enforced, marketing=True)},
    )


# -- who looked at my data (P09) ------------------------------------------------------------


@require_GET
@center_view
def access_log(request: HttpRequest, enforced: EnforcedPolicy) -> HttpResponse:
    customer = _customer(request)
    form = PageForm(request.GET)
    if not form.is_valid():
        return _bad_request(request, form=form, back="portal:access_log")
    page = customer_access_log(customer.customer_id, page=form.cleaned_data["page"] or 1)
    return render(
        request,
        "portal/center/access_log.html",
        {"page": page, "lines": selectors.access_lines(enforced, page.entries)},
    )


# -- policy versions (P24) ------------------------------------------------------------------


def _to_accept(customer_id: uuid.UUID, enforced: EnforcedPolicy) -> PolicyVersion | None:
    """The version the customer is asked to accept: a significant change they have not accepted
    (P24, possibly before it takes effect), else the version in force if they never accepted it."""
    review = consent.policy_review_needed(customer_id)
    if review is not None:
        return review
    current = active_version(enforced.policy.shop)
    if current is None:
        return None
    accepted = {a.content_hash for a in consent.accepted_policies(customer_id)}
    return None if current.content_hash in accepted else current


@require_http_methods(["GET", "POST"])
@center_view
def policy_versions(request: HttpRequest, enforced: EnforcedPolicy) -> HttpResponse:
    customer = _customer(request)
    lang = selectors.language()
    target = _to_accept(customer.customer_id, enforced)
    if request.method == "POST":
        form = AcceptPolicyForm(request.POST)
        if not form.is_valid():
            return _bad_request(request, form=form, back="portal:policy")
        if target is None or form.cleaned_data["content_hash"] != target.content_hash:
            # Accept only the version that was shown (P24: what the customer could review); it
            # changed, or was accepted meanwhile.
            return _bad_request(
                request,
                message=_("This version is not waiting for your acceptance any more."),
                back="portal:policy",
                status=409,
            )
        consent.accept_policy(
            customer_id=customer.customer_id,
            method=METHOD,
            language=lang,
            actor=customer.actor.label,
            policy_version=target.version,
        )
        messages.success(
            request, _("You accepted version %(version)s.") % {"version": target.version}
        )
        return redirect(f"portal:{form.cleaned_data['back'] or 'policy'}")
    accepted = {a.content_hash: a for a in consent.accepted_policies(customer.customer_id)}
    current = active_version(enforced.policy.shop)
    day = today()
    versions = [
        {
            "version": v.version,
            "effective_date": localized_date(v.effective_date, lang),
            "material": v.material,
            "current": current is not None and v.pk == current.pk,
            "upcoming": v.effective_date > day,
            "accepted": accepted.get(v.content_hash),
        }
        for v in PolicyVersion.objects.filter(shop=enforced.policy.shop).order_by(
            "-effective_date", "-published_at"
        )
    ]
    accept = None
    if target is not None:
        accept = {
            "version": target.version,
            "effective_date": localized_date(target.effective_date, lang),
            "material": target.material,
            "content_hash": target.content_hash,
        }
    return render(request, "portal/center/policy.html", {"versions": versions, "accept": accept})
