"""The console's disclosures register (issue 8 item 2; P10, P11).

- the register: every disclosure (recipient, purpose, fields, basis, legal reference, how many
  customers, when), filterable by recipient, with its CSV and JSON export; and the recipient
  notices waiting for staff (a recipient without a contact email in the policy, to be told of an
  erasure or a consent withdrawal), each marked done by a POST to the register;
- a new disclosure: recipient, purpose, fields, customers by id, legal reference.

Who: the roles that hold the purpose of some recipient the policy declares, each seeing the
disclosures for its purposes; the owner sees all (the management board answers for every
disclosure). Making or exporting one is checked again by the services, which audit a refusal.
Customers appear as short references, never a name (P09).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from pledge.console.access import StaffContext, staff_view
from pledge.console.forms_disclosures import DisclosureForm, NoticeDoneForm, RegisterFilterForm
from pledge.console.views_customers import field_name, purpose_name
from pledge.console.views_requests import in_shop_time
from pledge.disclosures import notices
from pledge.disclosures.export import FORMATS, export_disclosure
from pledge.disclosures.models import Disclosure, RecipientNotice
from pledge.disclosures.services import disclose, needs_legal_reference
from pledge.policy.schema import Recipient
from pledge.policy.vocabulary import LEGAL_BASES, RECIPIENT_KINDS
from pledge.rights.selectors import short_ref
from pledge.vault.errors import NotFound, VaultError

REGISTER_LIMIT = 200
OWNER_ROLE = "owner"


def _staff(request: HttpRequest) -> StaffContext:
    return request.staff  # type: ignore[attr-defined,no-any-return]


def _lang() -> str:
    return get_language() or "vi"


def recipient_purposes(staff: StaffContext) -> set[str]:
    """The purposes of declared recipients that this role holds."""
    return {p for r in staff.policy.policy.recipients for p in r.purposes} & set(staff.purposes)


def sees_disclosures(staff: StaffContext) -> bool:
    return staff.role.key == OWNER_ROLE or bool(recipient_purposes(staff))


def _require(request: HttpRequest) -> StaffContext:
    staff = _staff(request)
    if not sees_disclosures(staff):
        raise PermissionDenied("the role holds no purpose of a declared recipient")
    return staff


def basis_label(basis: str) -> str:
    if basis == "legal_request":
        return _("a request from a competent authority")
    label = LEGAL_BASES.get(basis)
    return str(label) if label is not None else basis


def _recipients(staff: StaffContext) -> list[Recipient]:
    return list(staff.policy.policy.recipients)


def _recipient_choices(staff: StaffContext) -> list[tuple[str, str]]:
    return [(r.key, r.name.get(_lang())) for r in _recipients(staff)]


@dataclass(frozen=True)
class RegisterRow:
    disclosure: Disclosure
    recipient: str
    purpose: str
    fields: str
    basis: str
    exportable: bool


@dataclass(frozen=True)
class NoticeRow:
    notice: RecipientNotice
    recipient: str
    customer_ref: str
    reason: str
    purpose: str


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@staff_view()
@in_shop_time
def register(request: HttpRequest) -> HttpResponse:
    staff = _require(request)
    sees_all = staff.role.key == OWNER_ROLE
    mine = recipient_purposes(staff)
    if request.method == "POST":
        return _mark_done(request, staff, sees_all, mine)
    choices = _recipient_choices(staff)
    form = RegisterFilterForm(request.GET or None, recipients=choices)
    status = 200
    found = Disclosure.objects.all()
    if not sees_all:
        found = found.filter(purpose__in=mine)
    if form.is_bound and not form.is_valid():
        status = 400
        found = found.none()
    elif form.is_bound and form.cleaned_data.get("recipient"):
        found = found.filter(recipient=form.cleaned_data["recipient"])
    enforced = staff.policy
    rows = [
        RegisterRow(
            disclosure=d,
            recipient=d.recipient_name(_lang()),
            purpose=purpose_name(enforced, d.purpose),
            fields=", ".join(field_name(enforced, f) for f in d.fields),
            basis=basis_label(d.basis),
            exportable=d.purpose in staff.purposes,
        )
        for d in found.order_by("-disclosed_at", "id")[:REGISTER_LIMIT]
    ]
    return render(
        request,
        "console/disclosures.html",
        {
            "nav": "disclosures",
            "form": form,
            "rows": rows,
            "limit": REGISTER_LIMIT,
            "notices": _notice_rows(staff, sees_all, mine),
            "may_disclose": bool(recipient_purposes(staff)),
            "formats": FORMATS,
        },
        status=status,
    )


def _notice_rows(staff: StaffContext, sees_all: bool, mine: set[str]) -> list[NoticeRow]:
    keys = None
    if not sees_all:
        keys = {r.key for r in _recipients(staff) if set(r.purposes) & mine}
    enforced = staff.policy
    return [
        NoticeRow(
            notice=n,
            recipient=n.recipient_name(_lang()),
            customer_ref=short_ref(uuid.UUID(str(n.customer_id))),
            reason=str(n.get_reason_display()),
            purpose=purpose_name(enforced, n.purpose) if n.purpose else "",
        )
        for n in notices.pending_notices(keys)
    ]


def _mark_done(
    request: HttpRequest, staff: StaffContext, sees_all: bool, mine: set[str]
) -> HttpResponse:
    form = NoticeDoneForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("Name the notice to mark done."), status=400)
    notice_id = form.cleaned_data["notice"]
    visible = {row.notice.id for row in _notice_rows(staff, sees_all, mine)}
    if notice_id not in visible:
        raise Http404
    try:
        notices.mark_told(actor=staff.actor, notice_id=notice_id)
    except VaultError as exc:
        return HttpResponse(exc.message, status=exc.status)
    messages.success(request, _("Marked done: the recipient was told."))
    return redirect("console:disclosures")


def _form(staff: StaffContext, data: Any = None) -> DisclosureForm:
    enforced = staff.policy
    mine = recipient_purposes(staff)
    recipients = [r for r in _recipients(staff) if set(r.purposes) & mine]
    purposes = [(p, purpose_name(enforced, p)) for p in staff.purposes if p in mine]
    fields = list(dict.fromkeys(f for r in recipients for f in r.fields))
    return DisclosureForm(
        data,
        recipients=[(r.key, r.name.get(_lang())) for r in recipients],
        purposes=purposes,
        fields=[(f, field_name(enforced, f)) for f in fields],
    )


def _declared_rows(staff: StaffContext) -> list[dict[str, Any]]:
    """What each recipient may receive, shown beside the form (from the policy in force)."""
    enforced = staff.policy
    return [
        {
            "name": r.name.get(_lang()),
            "kind": str(RECIPIENT_KINDS.get(r.kind, r.kind)),
            "purposes": ", ".join(purpose_name(enforced, p) for p in r.purposes),
            "fields": ", ".join(field_name(enforced, f) for f in r.fields),
            "basis": basis_label(r.basis),
            "legal": needs_legal_reference(r),
        }
        for r in _recipients(staff)
    ]


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@staff_view()
@in_shop_time
def new_disclosure(request: HttpRequest) -> HttpResponse:
    staff = _require(request)
    if not recipient_purposes(staff):
        raise PermissionDenied("the role holds no purpose of a declared recipient")
    posted = request.method == "POST"
    form = _form(staff, request.POST if posted else None)
    context: dict[str, Any] = {
        "nav": "disclosures",
        "form": form,
        "declared": _declared_rows(staff),
    }
    if not posted:
        return render(request, "console/disclosure_new.html", context)
    if not form.is_valid():
        return render(request, "console/disclosure_new.html", context, status=400)
    data = form.cleaned_data
    try:
        made = disclose(
            actor=staff.actor,
            recipient=data["recipient"],
            purpose=data["purpose"],
            customer_ids=data["customers"],
            fields=list(data["given_fields"]),
            legal_reference=data.get("legal_reference") or None,
        )
    except VaultError as exc:
        context["refusal"] = (_("The policy does not allow this disclosure."), exc.message)
        context["rule"] = exc.problems[0].rule if exc.problems else exc.code
        if context["rule"] == "personal_data":
            # The page must not repeat what looked like personal data: the field starts empty.
            posted_again = request.POST.copy()
            posted_again["legal_reference"] = ""
            context["form"] = _form(staff, posted_again)
        return render(request, "console/disclosure_new.html", context, status=exc.status)
    messages.success(
        request,
        ngettext(
            "Disclosure %(ref)s recorded for %(n)d customer. Download the file for the recipient.",
            "Disclosure %(ref)s recorded for %(n)d customers. Download the file for the recipient.",
            made.customer_count,
        )
        % {"ref": made.reference, "n": made.customer_count},
    )
    return redirect(f"{reverse('console:disclosures')}?recipient={made.recipient}")


@never_cache
@require_http_methods(["GET", "HEAD"])
@staff_view()
def export(request: HttpRequest, disclosure_id: uuid.UUID, fmt: str) -> HttpResponse:
    staff = _require(request)
    if fmt not in FORMATS:
        return HttpResponse(_("The format is csv or json."), status=400)
    try:
        made = export_disclosure(actor=staff.actor, disclosure_id=disclosure_id, fmt=fmt)
    except NotFound:
        raise Http404 from None
    except VaultError as exc:
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain")
    response = HttpResponse(made.content, content_type=made.content_type)
    response["Content-Disposition"] = f'attachment; filename="{made.filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
