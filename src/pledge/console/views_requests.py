"""Staff pages for data-subject requests (issue 6; P18) and re-secure (P20).

- the queue: open requests, the one due first on top, with at-risk, overdue and acknowledgement
  marks in words (not colour alone), due times in the shop's time zone, the customer as a short
  reference (never a name: the queue is no purpose to read anyone's data);
- recording a request received by phone, letter or email (channel "staff"): it starts
  `identity_unverified`, and nothing is disclosed or deleted before the identity step (Decree
  356/2025 Art 5);
- a request's page: its deadlines, its timeline (the audit events of `request:<id>`), and the
  forms of the actions its state allows (`pledge.rights.services.allowed_actions`);
- re-secure, from the customer page (the owner).

Who: the roles of `console.selectors.request_handler_roles` (the owner and the roles of the
`complaints` purpose). Every change is a call to a rights service with `request.staff.actor`;
those services check, write and audit. A refusal is a page naming what is wrong, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from pledge.accounts.models import CustomerAccount, CustomerSession
from pledge.console import selectors as console_selectors
from pledge.console.access import StaffContext, staff_view
from pledge.console.forms_requests import (
    CancelForm,
    CodeForm,
    CompleteForm,
    DenyForm,
    ExtendForm,
    ProcessForm,
    QueueFilterForm,
    RecordRequestForm,
    ResecureForm,
    SendCodeForm,
    VerifyForm,
)
from pledge.console.views_audit import EVENT_LABELS, OUTCOME_LABELS
from pledge.policy.vocabulary import RECORD_KINDS
from pledge.rights import identity, notices, resecure
from pledge.rights import selectors as rights_selectors
from pledge.rights import services as rights
from pledge.rights.models import (
    DataSubjectRequest,
    RequestChannel,
    RequestKind,
    RequestStatus,
)
from pledge.vault.errors import AccessRefused, NotFound, VaultError
from pledge.vault.models import Customer

View = TypeVar("View", bound=Callable[..., HttpResponse])

# The capability that may re-secure a customer (P20): the owner's. A policy may name another role
# with the console capability `resecure`.
RESECURE_CAPABILITIES = frozenset({"manage_staff", "resecure"})
METHOD_LABELS = {
    "signed_in": gettext_lazy("signed in to the privacy center"),
    "email_code": gettext_lazy("a code sent to the email on file (public form)"),
    "staff_email_code": gettext_lazy("a code sent to the email on file, read back to staff"),
    "in_person": gettext_lazy("in person, with an identity document"),
}


# -- access -----------------------------------------------------------------------------------


def _staff(request: HttpRequest) -> StaffContext:
    return request.staff  # type: ignore[attr-defined,no-any-return]


def _labelled_outcome(outcome: object, language: str) -> dict[str, Any]:
    """An erasure's stored report (keys and counts) in words, as the customer's answer puts it."""
    if not isinstance(outcome, dict):
        return {}
    labelled = dict(outcome)
    labelled["deleted"] = [
        {"category": notices.erased_label(str(d.get("category", ""))), "count": d.get("count")}
        for d in outcome.get("deleted") or []
        if isinstance(d, dict)
    ]
    labelled["kept"] = [
        {
            **k,
            "record_kind": RECORD_KINDS.get(str(k.get("record_kind")), k.get("record_kind")),
            "field": notices.field_label(str(k.get("field", "")), language),
        }
        for k in outcome.get("kept") or []
        if isinstance(k, dict)
    ]
    return labelled


def handles_requests(staff: StaffContext) -> bool:
    return staff.role.key in console_selectors.request_handler_roles(staff.policy)


def may_resecure(staff: StaffContext) -> bool:
    return bool(RESECURE_CAPABILITIES & staff.capabilities)


def _require_handler(request: HttpRequest) -> StaffContext:
    staff = _staff(request)
    if not handles_requests(staff):
        raise PermissionDenied("the role does not handle data-subject requests")
    return staff


def shop_timezone(staff: StaffContext) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(staff.policy.policy.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return timezone.get_default_timezone()


def in_shop_time(view: View) -> View:
    """Show and read times in the shop's time zone (the deadlines are counted there)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with timezone.override(shop_timezone(_staff(request))):
            return view(request, *args, **kwargs)

    return cast(View, wrapper)


# -- refusals as sentences --------------------------------------------------------------------


def _refusal(exc: VaultError) -> str:
    if isinstance(exc, identity.CodeRefused):
        if exc.problem == identity.CodeProblem.LOCKED:
            return _("Too many wrong codes: this code no longer works. Send a new code.")
        if exc.problem == identity.CodeProblem.EXPIRED:
            return _("The code has expired. Send a new code.")
        return _("The code is wrong. Tries left: %(count)d.") % {"count": exc.attempts_left}
    if isinstance(exc, rights.RequestConflict):
        return _("This request cannot change this way now.")
    if isinstance(exc, rights.RequestInvalid | resecure.ResecureInvalid):
        return _("This cannot be done with what was given.")
    if isinstance(exc, resecure.ResecureUnavailable):
        return _("This customer was erased: there is nothing left to re-secure.")
    if isinstance(exc, NotFound):
        return _("No such customer or request.")
    if isinstance(exc, AccessRefused):
        return _("Your role may not do this.")
    return _("Pledge refused this action.")


# -- the queue --------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "HEAD"])
@staff_view()
@in_shop_time
def queue(request: HttpRequest) -> HttpResponse:
    _require_handler(request)
    form = QueueFilterForm(request.GET or None)
    rows: list[rights_selectors.QueueRow] = []
    status = 200
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        data = form.cleaned_data if form.is_bound else {}
        rows = rights_selectors.request_queue(status=data.get("status"), kind=data.get("kind"))
    return render(
        request,
        "console/requests/queue.html",
        {
            "nav": "requests",
            "form": form,
            "rows": rows,
            "limit": rights_selectors.QUEUE_LIMIT,
            "timezone_name": timezone.get_current_timezone_name(),
            "kinds": dict(RequestKind.choices),
            "statuses": dict(RequestStatus.choices),
            "channels": dict(RequestChannel.choices),
        },
        status=status,
    )


# -- recording a request received by phone, letter or email -----------------------------------


def _customer_param(request: HttpRequest) -> uuid.UUID | None:
    try:
        customer_id = uuid.UUID(request.GET.get("customer", ""))
    except ValueError:
        return None
    return customer_id if Customer.objects.filter(pk=customer_id).exists() else None


def _purposes_by_kind(staff: StaffContext) -> dict[str, list[tuple[str, str]]]:
    """The purposes an objection or a consent withdrawal may name, by kind, with their names."""
    p = staff.policy.policy
    lang = get_language() or "vi"
    names = {x.key: x.name.get(lang) for x in p.purposes}
    return {
        RequestKind.OBJECTION: [(k, names[k]) for k in rights.objectable_purposes(p)],
        RequestKind.WITHDRAW_CONSENT: [(k, names[k]) for k in rights.withdrawable_purposes(p)],
    }


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@staff_view()
@in_shop_time
def record_request(request: HttpRequest) -> HttpResponse:
    staff = _require_handler(request)
    initial_customer = _customer_param(request)
    form = RecordRequestForm(
        request.POST if request.method == "POST" else None,
        initial={"customer": initial_customer} if initial_customer else {},
        purposes_by_kind=_purposes_by_kind(staff),
    )
    if initial_customer is not None:
        form.fields["customer"].widget = forms.HiddenInput()
    context: dict[str, Any] = {
        "nav": "requests",
        "form": form,
        "customer_ref": rights_selectors.short_ref(initial_customer),
        "customer_id": initial_customer,
        "backdate_days": 30,
    }
    if request.method != "POST":
        return render(request, "console/requests/new.html", context)
    if not form.is_valid():
        return render(request, "console/requests/new.html", context, status=400)
    try:
        filed = rights.file_request(
            actor=staff.actor,
            customer_id=form.cleaned_data["customer"],
            kind=form.cleaned_data["kind"],
            channel=RequestChannel.STAFF,
            received_at=form.cleaned_data["received_at"],
            purposes=form.cleaned_data.get("purposes") or None,
        )
    except NotFound:
        form.add_error("customer", _("No customer has this reference."))
        return render(request, "console/requests/new.html", context, status=400)
    except VaultError as exc:
        context["refusal"] = (_refusal(exc), exc.message)
        return render(request, "console/requests/new.html", context, status=exc.status)
    messages.success(
        request,
        _("Request recorded. Verify the customer's identity before anything is disclosed."),
    )
    return redirect("console:request", request_id=filed.id)


# -- one request ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineRow:
    at: Any
    label: str
    who: str
    outcome: str
    outcome_label: str


def _timeline(dsr: DataSubjectRequest, staff: StaffContext) -> list[TimelineRow]:
    events = rights_selectors.request_timeline(dsr)
    emails = console_selectors.staff_emails(e.actor for e in events)
    lang = get_language() or "vi"
    roles = {r.key: r.name.get(lang) for r in staff.policy.policy.roles}
    labels = {t.value: str(label) for t, label in EVENT_LABELS.items()}
    outcomes = {o.value: str(label) for o, label in OUTCOME_LABELS.items()}
    rows = []
    for e in events:
        kind = e.actor.split(":", 1)[0]
        if e.actor in emails:
            who = f"{emails[e.actor]} ({roles.get(e.actor_role, e.actor_role)})"
        elif kind == "customer":
            who = _("the customer")
        elif kind == "system":
            who = _("Pledge")
        else:
            who = _("someone without an account (public form)")
        rows.append(
            TimelineRow(
                at=e.at,
                label=labels.get(e.type, e.type),
                who=who,
                outcome=e.outcome,
                outcome_label=outcomes.get(e.outcome, e.outcome),
            )
        )
    return rows


def _grounds(dsr: DataSubjectRequest) -> list[tuple[str, str]]:
    """The grounds this request can be denied on: an unverified requester only on the identity,
    a verified one on any other (rights.deny_request enforces the same)."""
    unverified = dsr.status == RequestStatus.IDENTITY_UNVERIFIED
    return [
        (key, f"{label} ({article})")
        for key, (label, article) in rights.DENIAL_GROUNDS.items()
        if (key == rights.IDENTITY_GROUND) == unverified
    ]


def _forms(dsr: DataSubjectRequest, allowed: frozenset[str]) -> dict[str, forms.Form]:
    """An empty form for each action this request's state allows."""
    needs_customer = dsr.customer_id is None
    built: dict[str, forms.Form] = {}
    if "verify" in allowed:
        built["verify"] = VerifyForm(needs_customer=needs_customer, prefix="verify")
    if "send_code" in allowed:
        built["send_code"] = SendCodeForm(needs_customer=needs_customer, prefix="send_code")
        built["check_code"] = CodeForm(prefix="check_code")
    if "deny" in allowed:
        built["deny"] = DenyForm(grounds=_grounds(dsr), prefix="deny")
    if "extend" in allowed:
        built["extend"] = ExtendForm(prefix="extend")
    if "process" in allowed:
        built["process"] = ProcessForm(
            must_confirm=dsr.kind == RequestKind.ERASURE, prefix="process"
        )
    if "complete" in allowed:
        built["complete"] = CompleteForm(prefix="complete")
    if "cancel" in allowed:
        built["cancel"] = CancelForm(prefix="cancel")
    return built


def _bound(action: str, dsr: DataSubjectRequest, data: Any) -> forms.Form | None:
    needs_customer = dsr.customer_id is None
    makers: dict[str, Callable[[], forms.Form]] = {
        "verify": lambda: VerifyForm(data, needs_customer=needs_customer, prefix="verify"),
        "send_code": lambda: SendCodeForm(data, needs_customer=needs_customer, prefix="send_code"),
        "check_code": lambda: CodeForm(data, prefix="check_code"),
        "approve": lambda: forms.Form(data, prefix="approve"),
        "deny": lambda: DenyForm(data, grounds=_grounds(dsr), prefix="deny"),
        "extend": lambda: ExtendForm(data, prefix="extend"),
        "process": lambda: ProcessForm(
            data, must_confirm=dsr.kind == RequestKind.ERASURE, prefix="process"
        ),
        "complete": lambda: CompleteForm(data, prefix="complete"),
        "cancel": lambda: CancelForm(data, prefix="cancel"),
    }
    make = makers.get(action)
    return make() if make is not None else None


def _get_request(request_id: uuid.UUID) -> DataSubjectRequest:
    found = DataSubjectRequest.objects.select_related("customer").filter(pk=request_id).first()
    if found is None:
        raise Http404
    return found


def _detail(
    request: HttpRequest,
    staff: StaffContext,
    dsr: DataSubjectRequest,
    *,
    bound: tuple[str, forms.Form] | None = None,
    refusal: tuple[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    allowed = rights.allowed_actions(dsr)
    action_forms = _forms(dsr, allowed)
    if bound is not None:
        action_forms[bound[0]] = bound[1]
    grounds = dict(rights.DENIAL_GROUNDS)
    ground = grounds.get(dsr.denial_ground) if dsr.denial_ground else None
    return render(
        request,
        "console/requests/detail.html",
        {
            "nav": "requests",
            "dsr": dsr,
            "row": rights_selectors.queue_row(dsr),
            "acknowledge_end_of_day": rights_selectors.end_of_day(dsr.acknowledge_due_at),
            "original_end_of_day": rights_selectors.end_of_day(dsr.due_at),
            "customer_ref": rights_selectors.short_ref(dsr.customer_id),
            "kind_label": RequestKind(dsr.kind).label,
            "status_label": RequestStatus(dsr.status).label,
            "channel_label": RequestChannel(dsr.channel).label,
            "timeline": _timeline(dsr, staff),
            "allowed": allowed,
            "forms": action_forms,
            "failed": bound[0] if bound else "",
            "refusal": refusal,
            "ground": ground,
            "outcome": _labelled_outcome(dsr.outcome, get_language() or "vi"),
            "language": get_language() or "vi",
            "method_label": METHOD_LABELS.get(dsr.identity_method, dsr.identity_method),
            "timezone_name": timezone.get_current_timezone_name(),
            "may_resecure": may_resecure(staff),
        },
        status=status,
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@staff_view()
@in_shop_time
def request_detail(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    staff = _require_handler(request)
    dsr = _get_request(request_id)
    if request.method != "POST":
        return _detail(request, staff, dsr)
    action = request.POST.get("action", "")
    form = _bound(action, dsr, request.POST)
    if form is None:
        return _detail(
            request,
            staff,
            dsr,
            refusal=(_("No such action."), _("Pick one of the buttons on this page.")),
            status=400,
        )
    allowed = rights.allowed_actions(dsr)
    gate = "send_code" if action == "check_code" else action
    if gate not in allowed:
        # A second tab, or someone else, changed the request since this page was shown.
        return _detail(
            request,
            staff,
            dsr,
            refusal=(
                _("This request cannot change this way now."),
                _("Its status is now “%(status)s”.") % {"status": RequestStatus(dsr.status).label},
            ),
            status=409,
        )
    if not form.is_valid():
        return _detail(request, staff, dsr, bound=(action, form), status=400)
    try:
        done = _carry_out(action, staff, dsr, form.cleaned_data)
    except NotFound as exc:
        dsr.refresh_from_db()
        if action == "check_code":
            # The code was never sent: say what to do rather than "not found" on this page.
            refusal = (_("No code was sent for this request yet: send one first."), exc.message)
            return _detail(request, staff, dsr, bound=(action, form), refusal=refusal, status=409)
        refusal = (_refusal(exc), exc.message)
        return _detail(request, staff, dsr, bound=(action, form), refusal=refusal, status=404)
    except ImproperlyConfigured as exc:
        # e.g. no PLEDGE_PUBLIC_URL for a data-package link: the deployment's to fix, not a crash.
        dsr.refresh_from_db()
        refusal = (_("Pledge is not set up for this yet; ask whoever runs it."), str(exc))
        return _detail(request, staff, dsr, bound=(action, form), refusal=refusal, status=503)
    except VaultError as exc:
        dsr.refresh_from_db()
        return _detail(
            request,
            staff,
            dsr,
            bound=(action, form),
            refusal=(_refusal(exc), exc.message),
            status=exc.status,
        )
    messages.success(request, done)
    return redirect("console:request", request_id=dsr.id)


def _carry_out(
    action: str, staff: StaffContext, dsr: DataSubjectRequest, data: dict[str, Any]
) -> str:
    """Call the rights service for `action`; the sentence to show once it is done."""
    actor = staff.actor
    # The form asks for the customer only while the request names none.
    customer_id = cast(uuid.UUID, dsr.customer_id or data.get("customer"))
    if action == "verify":
        rights.verify_identity(
            actor=actor, request_id=dsr.id, customer_id=customer_id, method=data["method"]
        )
        return _("Identity verified.")
    if action == "send_code":
        identity.send_staff_code(actor=actor, request_id=dsr.id, customer_id=customer_id)
        return _(
            "A code was sent to the customer's email on file. Ask them to read it back to you."
        )
    if action == "check_code":
        identity.check_staff_code(actor=actor, request_id=dsr.id, code=data["code"])
        return _("Identity verified.")
    if action == "approve":
        rights.approve_request(actor=actor, request_id=dsr.id)
        return _("Request approved.")
    if action == "deny":
        rights.deny_request(
            actor=actor,
            request_id=dsr.id,
            ground=data["ground"],
            explanation=data.get("explanation", ""),
        )
        return _("Request denied; the customer is told why.")
    if action == "extend":
        rights.extend_request(actor=actor, request_id=dsr.id, reason=data["reason"])
        return _("Deadline extended; the customer is told why.")
    if action == "process":
        rights.process_request(actor=actor, request_id=dsr.id)
        return _("Request carried out.")
    if action == "complete":
        rights.complete_request(actor=actor, request_id=dsr.id, note=data.get("note", ""))
        return _("Request completed.")
    assert action == "cancel"
    rights.cancel_request(actor=actor, request_id=dsr.id)
    return _("Request canceled.")


# -- re-secure (P20) --------------------------------------------------------------------------


def _request_origin(request: HttpRequest) -> str:
    """`scheme://host[:port]` of this request for the reset link when PLEDGE_PUBLIC_URL is not
    set; a port the Host header names is kept only when the request arrived on it (the same rule
    as the privacy center's emails: no reset link pointing at someone else's port)."""
    domain, port = split_domain_port(request.get_host())
    if port and port != str(request.META.get("SERVER_PORT", "")):
        port = ""
    return f"{request.scheme}://{domain}{':' + port if port else ''}"


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@staff_view()
@in_shop_time
def resecure_customer(request: HttpRequest, customer_id: uuid.UUID) -> HttpResponse:
    staff = _staff(request)
    if not may_resecure(staff):
        raise PermissionDenied("only the owner re-secures a customer")
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise Http404
    account = CustomerAccount.objects.filter(customer_id=customer_id).first()
    form = ResecureForm(request.POST if request.method == "POST" else None)
    context: dict[str, Any] = {
        "nav": "customers",
        "customer_id": customer_id,
        "customer_ref": rights_selectors.short_ref(customer_id),
        "form": form,
        "has_account": account is not None,
        "sessions": CustomerSession.objects.filter(account=account).count() if account else 0,
        "erased": customer.erased_at is not None,
    }
    if request.method != "POST":
        return render(request, "console/requests/resecure.html", context)
    if not form.is_valid():
        return render(request, "console/requests/resecure.html", context, status=400)
    public = str(getattr(settings, "PLEDGE_PUBLIC_URL", "") or "") or _request_origin(request)
    try:
        report = resecure.resecure_customer(
            actor=staff.actor,
            customer_id=customer_id,
            reason=form.cleaned_data["explanation"],
            public_url=public,
        )
    except VaultError as exc:
        context["refusal"] = (_refusal(exc), exc.message)
        return render(request, "console/requests/resecure.html", context, status=exc.status)
    context["report"] = report
    return render(request, "console/requests/resecure_done.html", context)
