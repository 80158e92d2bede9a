"""Customer search, the purpose-bound customer view, and break-glass (issue 4; P09, P16).

Every value shown here comes from a vault service called with `request.staff.actor` and the
purpose the staff member picked: the vault checks the purpose, masks, and writes the audit
event. These views only pick what to ask and how to show the answer. A refusal by the vault is
shown as a sentence naming the rule (and the vault has already recorded it), never a traceback.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from pledge.console.access import StaffContext, staff_view
from pledge.policy.enforcement import EnforcedPolicy
from pledge.policy.render import field_label
from pledge.policy.vocabulary import RECORD_KINDS
from pledge.vault import breakglass, services
from pledge.vault.access import visible_fields
from pledge.vault.errors import ConsentRequired, NotFound, Problem, ValuesInvalid, VaultError
from pledge.vault.masking import mask_value
from pledge.vault.models import Customer, RecordKind

SEARCH_BY = (
    ("email", _("Email address")),
    ("phone", _("Phone number")),
    ("guarantee_number", _("Guarantee number")),
)
MAX_RESULTS = 20
MAX_FIELDS_ASKED = 64
# Records rather than values: the customer view shows orders in a table of their own.
RECORD_FIELDS = frozenset({"purchase_history", "payment_history"})

# The vault's rule codes (Problem.rule), as sentences for staff.
RULE_MESSAGES = {
    "role_not_allowed": _("Your role may not act for this purpose."),
    "purpose_undeclared": _("The privacy policy declares no such purpose."),
    "purpose_not_in_scope": _("This purpose is not allowed to you."),
    "field_not_visible": _("Your role may not see this field for this purpose."),
    "consent_required": _(
        "This purpose is based on consent, and the customer has not given it (or has withdrawn it)."
    ),
    "subject_access_self_only": _("Only the customer may use subject access, for their own data."),
    "not_own_data": _("This record belongs to someone else."),
    "break_glass_not_allowed": _("Your role may not open fields outside its purposes."),
    "field_roles_only": _(
        "The privacy policy lets only certain roles see this field, even with break-glass "
        "(sensitive data, Decree 356 Art 4)."
    ),
    "not_a_lookup_field": _("Customers cannot be looked up by this field."),
    "reason_too_short": _("Write a reason of at least 20 characters."),
    "not_openable": _("This field cannot be opened with break-glass."),
    # Errors without problems (VaultError.code)
    "data-key-unavailable": _("This customer's data can no longer be decrypted: it was erased."),
    "no-policy": _("No privacy policy is in force: nothing may be read."),
    # Values the vault could not read (ValuesInvalid)
    "email_format": _("This is not an email address."),
    "phone_format": _("This is not a phone number."),
    "guarantee_format": _("Give a guarantee number."),
    "required": _("This value is empty."),
    "max_length": _("This value is too long."),
    "control_characters": _("This value contains control characters."),
    "encoding": _("This value contains an invalid character."),
}
DEFAULT_RULE_MESSAGE = _("The privacy policy does not allow this access.")


# -- helpers ----------------------------------------------------------------------------------


def _staff(request: HttpRequest) -> StaffContext:
    return request.staff  # type: ignore[attr-defined,no-any-return]


def _lang() -> str:
    return get_language() or "vi"


def field_name(enforced: EnforcedPolicy, key: str | None) -> str:
    if not key:
        return ""
    try:
        return field_label(enforced.policy, key, _lang())
    except KeyError:
        return key


def purpose_name(enforced: EnforcedPolicy, key: str) -> str:
    declared = enforced.purpose(key)
    return declared.name.get(_lang()) if declared is not None else key


@dataclass(frozen=True)
class RefusalLine:
    message: str
    rule: str
    field: str = ""


def refusal_lines(
    enforced: EnforcedPolicy, error: VaultError | None, problems: list[Problem] | None = None
) -> list[RefusalLine]:
    """The vault's problems as translated sentences (one per problem, the field named)."""
    if problems is None:
        assert error is not None
        problems = error.problems or [Problem(None, error.code, error.message)]
    lines = []
    for problem in problems:
        message = RULE_MESSAGES.get(problem.rule)
        if message is None and isinstance(error, ValuesInvalid):
            text = problem.message  # the vault's own words (English): a rule not mapped yet
        else:
            text = str(message or DEFAULT_RULE_MESSAGE)
        is_field = problem.field not in (None, "purpose", "fields")
        lines.append(
            RefusalLine(text, problem.rule, field_name(enforced, problem.field) if is_field else "")
        )
    return lines


def refused(
    request: HttpRequest,
    error: VaultError,
    *,
    purpose: str = "",
    customer_id: uuid.UUID | None = None,
) -> HttpResponse:
    staff = _staff(request)
    return render(
        request,
        "console/customers/refused.html",
        {
            "nav": "customers",
            "error": error,
            "lines": refusal_lines(staff.policy, error),
            "purpose": purpose,
            "purpose_label": purpose_name(staff.policy, purpose) if purpose else "",
            "customer_id": customer_id,
        },
        status=error.status,
    )


def purpose_choices(staff: StaffContext) -> list[tuple[str, str]]:
    return [(p, purpose_name(staff.policy, p)) for p in staff.purposes]


def _no_purposes(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "console/customers/no_purposes.html",
        {"nav": "customers"},
        status=403,
    )


# -- search -----------------------------------------------------------------------------------


class SearchForm(forms.Form):
    by = forms.ChoiceField(label=_("Search by"), choices=SEARCH_BY)
    value = forms.CharField(label=_("Value"), max_length=254)
    # Not a ChoiceField: a purpose outside the role goes to the vault, which refuses it and
    # records the attempt (P06: "refused and recorded").
    purpose = forms.CharField(label=_("Purpose of this access"), max_length=63)

    def __init__(self, *args: Any, purposes: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["purpose"].widget = forms.Select(choices=purposes)


@dataclass
class SearchResult:
    customer_id: uuid.UUID
    name: str | None  # masked; None when not readable for the purpose
    note: str = ""
    details: list[str] = field(default_factory=list)


def _masked_name(
    staff: StaffContext, purpose: str, customer_id: uuid.UUID
) -> tuple[str | None, str]:
    """The customer's name, masked, for the result list (read through the vault: audited)."""
    readable, _whole = visible_fields(staff.policy, staff.actor, purpose)
    if "full_name" not in readable:
        return None, ""
    try:
        view = services.read_customer(
            actor=staff.actor, purpose=purpose, customer_id=customer_id, fields=["full_name"]
        )
    except ConsentRequired:
        return None, str(RULE_MESSAGES["consent_required"])
    except VaultError:
        return None, ""
    return _as_masked("full_name", view.fields.get("full_name"), view.masked), ""


def _as_masked(name: str, value: Any, masked: frozenset[str]) -> str | None:
    if value is None:
        return None
    # A result list is for picking, not for reading: the name is masked even where the purpose
    # would show it whole (the view shows it whole).
    return str(value if name in masked else mask_value(name, value))


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@staff_view()
def search(request: HttpRequest) -> HttpResponse:
    staff = _staff(request)
    if not staff.purposes:
        return _no_purposes(request)
    choices = purpose_choices(staff)
    # POST: an email, a phone number or a guarantee number is personal data, and a URL ends up
    # in access logs and browser history (invariant: no plaintext in logs).
    bound = request.POST if request.method == "POST" else None
    chosen = request.GET.get("purpose", "")
    initial = {"purpose": chosen} if chosen in staff.purposes else {}
    form = SearchForm(bound, purposes=choices, initial=initial)
    results: list[SearchResult] | None = None
    more = 0
    if form.is_bound and form.is_valid():
        by = form.cleaned_data["by"]
        value = form.cleaned_data["value"]
        purpose = form.cleaned_data["purpose"]
        try:
            if by == "guarantee_number":
                results = _guarantee_results(staff, purpose, value)
            else:
                ids = services.lookup_customers(
                    actor=staff.actor, purpose=purpose, by=by, value=value
                )
                more = max(0, len(ids) - MAX_RESULTS)
                results = []
                for customer_id in ids[:MAX_RESULTS]:
                    name, note = _masked_name(staff, purpose, customer_id)
                    results.append(SearchResult(customer_id, name, note))
        except ValuesInvalid as exc:
            for line in refusal_lines(staff.policy, exc):
                form.add_error("value", line.message)
        except VaultError as exc:
            return refused(request, exc, purpose=purpose)
    status = 200 if not form.is_bound else (400 if form.errors else 200)
    return render(
        request,
        "console/customers/search.html",
        {
            "nav": "customers",
            "form": form,
            "results": results,
            "more": more,
            "purpose": form.cleaned_data.get("purpose", "") if form.is_bound else "",
        },
        status=status,
    )


def _guarantee_results(staff: StaffContext, purpose: str, number: str) -> list[SearchResult]:
    try:
        card = services.lookup_guarantee(actor=staff.actor, purpose=purpose, number=number)
    except NotFound:
        return []
    name = _as_masked("full_name", card.fields.get("full_name"), card.masked)
    details = [card.product]
    if card.order_number:
        details.append(card.order_number)
    return [SearchResult(card.customer_id, name, details=details)]


# -- the customer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRow:
    key: str
    label: str
    value: Any
    masked: bool
    # break-glass: "open" (a link), "restricted" (the policy keeps it from the role), "" (none)
    glass: str = ""


def _glass(staff: StaffContext, key: str, openable: set[str]) -> str:
    if not staff.can(breakglass.CAPABILITY) or key not in openable:
        return ""
    if breakglass.restricted_from(staff.policy, staff.role.key, key):
        return "restricted"
    return "open"


def _display(value: Any) -> Any:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value


def _fields_asked(request: HttpRequest) -> list[str] | None:
    raw = request.GET.get("fields")
    if raw is None:
        return None
    asked = [f.strip() for f in raw.split(",") if f.strip()]
    return list(dict.fromkeys(asked))[:MAX_FIELDS_ASKED]


@never_cache
@require_http_methods(["GET", "HEAD"])
@staff_view()
def customer(request: HttpRequest, customer_id: uuid.UUID) -> HttpResponse:
    staff = _staff(request)
    enforced = staff.policy
    purpose = request.GET.get("purpose", "").strip()[:63]
    if not purpose:
        if not staff.purposes:
            return _no_purposes(request)
        if not Customer.objects.filter(pk=customer_id).exists():
            raise Http404
        return render(
            request,
            "console/customers/pick_purpose.html",
            {"nav": "customers", "customer_id": customer_id, "choices": purpose_choices(staff)},
        )
    asked = _fields_asked(request)
    # A purpose of the role on an unknown customer is a plain 404; any other purpose goes to the
    # vault, which refuses and records it whether or not the customer exists.
    if purpose in staff.purposes and not Customer.objects.filter(pk=customer_id).exists():
        raise Http404
    try:
        view = services.read_customer(
            actor=staff.actor, purpose=purpose, customer_id=customer_id, fields=asked
        )
        readable, _whole = visible_fields(enforced, staff.actor, purpose)
        show_orders = "purchase_history" in readable and (
            asked is None or "purchase_history" in asked
        )
        orders = (
            services.list_orders(actor=staff.actor, purpose=purpose, customer_id=customer_id)
            if show_orders
            else None
        )
    except NotFound:
        raise Http404 from None
    except VaultError as exc:
        return refused(request, exc, purpose=purpose, customer_id=customer_id)

    openable = set(breakglass.openable_fields(enforced))
    order = [f.key for f in enforced.policy.fields]
    position = {k: i for i, k in enumerate(order)}
    rows = [
        FieldRow(
            key,
            field_name(enforced, key),
            _display(value),
            key in view.masked,
            _glass(staff, key, openable) if key in view.masked else "",
        )
        for key, value in sorted(view.fields.items(), key=lambda kv: position.get(kv[0], 999))
    ]
    considered = set(asked) if asked is not None else readable
    # Only profile values can be missing from a profile read: files and other records (orders,
    # guarantee cards, complaints) are not "not recorded" just because the profile lacks them.
    not_recorded = [
        field_name(enforced, k)
        for k in order
        if k in considered
        and k in readable
        and k not in view.fields
        and k not in RECORD_FIELDS
        and (not enforced.field_records[k] or RecordKind.PROFILE in enforced.field_records[k])
    ]
    hidden = [
        FieldRow(k, field_name(enforced, k), None, False, _glass(staff, k, openable))
        for k in order
        if k not in readable and k not in enforced.transient
    ]
    return render(
        request,
        "console/customers/customer.html",
        {
            "nav": "customers",
            "customer_id": customer_id,
            "purpose": purpose,
            "purpose_label": purpose_name(enforced, purpose),
            "other_purposes": [c for c in purpose_choices(staff) if c[0] != purpose],
            "rows": rows,
            "not_recorded": not_recorded,
            "hidden": hidden,
            "orders": orders,
            "language": view.language,
            "can_break_glass": staff.can(breakglass.CAPABILITY),
        },
    )


# -- break-glass ------------------------------------------------------------------------------


class BreakGlassForm(forms.Form):
    fields_to_open = forms.MultipleChoiceField(
        label=_("Fields to open"), widget=forms.CheckboxSelectMultiple
    )
    reason = forms.CharField(
        label=_("Why do you need these fields? (required, at least 20 characters)"),
        min_length=breakglass.MIN_REASON_LENGTH,
        max_length=breakglass.MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field_to_open = self.fields["fields_to_open"]
        assert isinstance(field_to_open, forms.MultipleChoiceField)
        field_to_open.choices = choices


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@staff_view(breakglass.CAPABILITY)
def break_glass(request: HttpRequest, customer_id: uuid.UUID) -> HttpResponse:
    staff = _staff(request)
    enforced = staff.policy
    if not Customer.objects.filter(pk=customer_id).exists():
        raise Http404
    keys = breakglass.openable_fields(enforced)
    choices = [(k, field_name(enforced, k)) for k in keys]
    restricted = {k for k in keys if breakglass.restricted_from(enforced, staff.role.key, k)}
    back = request.GET.get("purpose", "")
    back = back if back in staff.purposes else ""
    wanted = [f for f in request.GET.getlist("field") if f in keys and f not in restricted]
    form = BreakGlassForm(
        request.POST if request.method == "POST" else None,
        choices=choices,
        initial={"fields_to_open": wanted},
    )
    context: dict[str, Any] = {
        "nav": "customers",
        "customer_id": customer_id,
        "form": form,
        "options": [(k, label, k in restricted) for k, label in choices],
        "checked": set(form["fields_to_open"].value() or ()),
        "back_purpose": back,
        "min_reason": breakglass.MIN_REASON_LENGTH,
    }
    if request.method != "POST":
        return render(request, "console/customers/break_glass.html", context)
    if not form.is_valid():
        return render(request, "console/customers/break_glass.html", context, status=400)
    try:
        result = breakglass.break_glass_read(
            actor=staff.actor,
            customer_id=customer_id,
            fields=form.cleaned_data["fields_to_open"],
            reason=form.cleaned_data["reason"],
        )
    except NotFound:
        raise Http404 from None
    except VaultError as exc:
        return refused(request, exc, customer_id=customer_id)
    opened = [
        (
            field_name(enforced, k),
            [
                (RECORD_KINDS.get(v.record_kind, v.record_kind), v.record_label, _display(v.value))
                for v in values
            ],
        )
        for k, values in result.opened.items()
    ]
    return render(
        request,
        "console/customers/break_glass_result.html",
        {
            **context,
            "opened": opened,
            "refused_lines": refusal_lines(enforced, None, result.refused),
        },
    )
