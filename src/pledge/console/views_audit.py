"""The audit viewer (issue 4, item 5): filter the log, export it as CSV, verify the chain now.

Every page needs the `view_audit` console capability of the policy (P09). Times are entered and
shown in the shop's time zone (the policy's `timezone`). Bad filter input gets the page back with
the problem named and status 400, never a traceback.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
import uuid
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.functional import Promise
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from pledge.accounts.models import StaffProfile
from pledge.audit.events import EventType, Outcome
from pledge.audit.models import AuditEvent
from pledge.audit.selectors import AuditFilter, EventPage, events_for_export, events_page
from pledge.audit.services import record_event
from pledge.audit.verify import VerifyResult, verify_chain
from pledge.console.access import StaffContext, staff_view

# What each event type means, in the words of docs/audit.md (a test fails when one is missing).
EVENT_LABELS: dict[EventType, Promise] = {
    EventType.CUSTOMER_CREATED: _("a customer was collected"),
    EventType.CUSTOMER_UPDATED: _("profile fields set or removed"),
    EventType.CUSTOMER_READ: _("profile fields read for a purpose"),
    EventType.CUSTOMER_LOOKUP: _("customers found by email, phone or name"),
    EventType.ACCESS_REFUSED: _("a read refused"),
    EventType.WRITE_REFUSED: _("a write refused"),
    EventType.ORDER_PLACED: _("an order recorded"),
    EventType.ORDERS_READ: _("a customer's orders read"),
    EventType.INVOICE_ISSUED: _("an invoice issued for an order"),
    EventType.INVOICES_READ: _("a customer's invoices read"),
    EventType.GUARANTEE_ISSUED: _("a guarantee card issued"),
    EventType.GUARANTEE_LOOKUP: _("a guarantee card looked up by number"),
    EventType.PAYMENT_AUTHORIZED: _("a card payment authorised"),
    EventType.PAYMENT_DECLINED: _("a card payment declined"),
    EventType.PAYMENTS_READ: _("a customer's payment history read"),
    EventType.ID_DOCUMENT_STORED: _("an identity-document image stored"),
    EventType.ID_DOCUMENT_READ: _("an identity-document image read"),
    EventType.ID_DOCUMENT_DELETED: _("an identity-document image deleted"),
    EventType.STAFF_NOTE_ADDED: _("a staff note added"),
    EventType.STAFF_NOTES_READ: _("a customer's staff notes read"),
    EventType.IMPORT_COMPLETED: _("a CSV import finished a run"),
    EventType.BREAK_GLASS: _("break-glass: fields opened with a reason"),
    EventType.BREAK_GLASS_ACKNOWLEDGED: _("a break-glass access acknowledged by the owner"),
    EventType.CUSTOMER_RECTIFIED: _("a customer corrected their own data"),
    EventType.ACCOUNT_EMAIL_READ: _("an account email decrypted to send a message"),
    EventType.MASTER_KEY_ROTATED: _("a new master-key version became current"),
    EventType.DATA_KEYS_REWRAPPED: _("a batch of data keys re-wrapped"),
    EventType.CONSENT_GIVEN: _("a consent recorded"),
    EventType.CONSENT_WITHDRAWN: _("a consent withdrawn"),
    EventType.CONSENT_EXPIRED: _("a consent expired"),
    EventType.COOKIE_CHOICE: _("a cookie-banner choice recorded"),
    EventType.POLICY_ACCEPTED: _("a policy version accepted"),
    EventType.CUSTOMER_REGISTERED: _("a privacy-center account created"),
    EventType.CUSTOMER_EMAIL_VERIFIED: _("a customer's email confirmed"),
    EventType.CUSTOMER_UNVERIFIED_PURGED: _("an unverified customer account removed"),
    EventType.CUSTOMER_LOGIN_SUCCEEDED: _("a customer signed in"),
    EventType.CUSTOMER_LOGIN_FAILED: _("a customer sign-in failed"),
    EventType.CUSTOMER_LOCKED_OUT: _("a customer account or address locked out"),
    EventType.CUSTOMER_LOGGED_OUT: _("a customer signed out"),
    EventType.CUSTOMER_NEW_DEVICE: _("a customer signed in from a new device"),
    EventType.CUSTOMER_SESSION_REVOKED: _("a customer session revoked"),
    EventType.CUSTOMER_PASSWORD_RESET_REQUESTED: _("a customer password reset asked for"),
    EventType.CUSTOMER_PASSWORD_CHANGED: _("a customer password changed"),
    EventType.API_KEY_CREATED: _("an API key created"),
    EventType.API_KEY_REVOKED: _("an API key revoked"),
    EventType.API_AUTH_REFUSED: _("an API request refused: no valid key"),
    EventType.STAFF_CREATED: _("a staff account created"),
    EventType.STAFF_INVITED: _("a new staff member invited"),
    EventType.STAFF_ROLE_CHANGED: _("a staff member's role changed"),
    EventType.STAFF_DISABLED: _("a staff account disabled"),
    EventType.STAFF_LOGIN_SUCCEEDED: _("a staff member signed in"),
    EventType.STAFF_LOGIN_FAILED: _("a wrong password or second factor"),
    EventType.STAFF_LOCKED_OUT: _("an account or client address locked out"),
    EventType.STAFF_LOGGED_OUT: _("a staff member signed out"),
    EventType.STAFF_SESSION_REVOKED: _("a staff session revoked"),
    EventType.STAFF_PASSWORD_RESET_REQUESTED: _("a password reset asked for"),
    EventType.STAFF_PASSWORD_CHANGED: _("a staff password set or changed"),
    EventType.STAFF_SECOND_FACTOR_ENROLLED: _("an authenticator app enrolled"),
    EventType.STAFF_RECOVERY_CODES_GENERATED: _("new recovery codes issued"),
    EventType.STAFF_RECOVERY_CODE_USED: _("a recovery code used"),
    EventType.RIGHTS_REQUEST_FILED: _("a data-subject request filed"),
    EventType.RIGHTS_REQUEST_EXTENDED: _("a data-subject request's deadline extended"),
    EventType.RIGHTS_REQUEST_CANCELED: _("a data-subject request canceled"),
    EventType.RIGHTS_IDENTITY_CODE_SENT: _("a one-time code requested for a request"),
    EventType.RIGHTS_IDENTITY_VERIFIED: _("a requester's identity verified"),
    EventType.RIGHTS_IDENTITY_FAILED: _("a wrong one-time code entered"),
    EventType.RIGHTS_REQUEST_APPROVED: _("a data-subject request approved"),
    EventType.RIGHTS_REQUEST_DENIED: _("a data-subject request denied"),
    EventType.RIGHTS_REQUEST_COMPLETED: _("a data-subject request completed"),
    EventType.RIGHTS_EXPORT_DOWNLOADED: _("a customer's data package downloaded"),
    EventType.RIGHTS_EXPORT_LINK_CREATED: _("a download link for a data package sent"),
    EventType.RIGHTS_RESECURED: _("a customer re-secured after misuse"),
    EventType.CUSTOMER_ERASED: _("a customer erased (data key destroyed)"),
    EventType.CUSTOMER_RESTRICTED: _("processing of a customer's data restricted"),
    EventType.CUSTOMER_RESTRICTION_LIFTED: _("a restriction lifted"),
    EventType.CUSTOMER_REKEYED: _("a customer's data re-encrypted under a new key"),
    EventType.HOLD_EXPIRED: _("a legal hold ended; held data destroyed"),
    EventType.COMPLAINT_FILED: _("a complaint filed"),
    EventType.COMPLAINT_ESCALATED: _("a complaint escalated to the owner"),
    EventType.COMPLAINT_SLA_BREACHED: _("a complaint's answer time (SLA) breached"),
    EventType.COMPLAINT_READ: _("a complaint's thread read"),
    EventType.COMPLAINT_ASSIGNED: _("a complaint assigned to a staff member"),
    EventType.COMPLAINT_NOTE_ADDED: _("an internal note added to a complaint"),
    EventType.COMPLAINT_MESSAGE_SENT: _("a message sent to a complainant"),
    EventType.COMPLAINT_CUSTOMER_REPLIED: _("a complainant wrote again"),
    EventType.COMPLAINT_ANSWERED: _("a complaint answered with its reason"),
    EventType.COMPLAINT_COMPENSATED: _("compensation recorded for a complaint"),
    EventType.COMPLAINT_CLOSED: _("a complaint closed"),
    EventType.COMPLAINT_REOPENED: _("a complaint reopened by the customer"),
    EventType.COMPLAINT_EVIDENCE_STORED: _("complaint evidence stored, encrypted"),
    EventType.COMPLAINT_EVIDENCE_READ: _("complaint evidence opened"),
    EventType.COMPLAINT_MAIL_REFUSED: _("an inbound complaint email refused or quarantined"),
    EventType.INCIDENT_RECORDED: _("an incident recorded"),
    EventType.INCIDENT_UPDATED: _("an incident's record updated"),
    EventType.INCIDENT_SCOPED: _("an incident's affected customers and data computed"),
    EventType.INCIDENT_DEADLINE_WARNING: _("an incident's notification deadline is near"),
    EventType.INCIDENT_AUTHORITY_REPORTED: _("an incident reported to the authority"),
    EventType.INCIDENT_CUSTOMERS_NOTIFIED: _("customers notified of an incident"),
    EventType.INCIDENT_CLOSED: _("an incident closed"),
    EventType.DISCLOSURE_MADE: _("customer data given to a recipient"),
    EventType.DISCLOSURE_REFUSED: _("a disclosure refused by the policy"),
    EventType.DISCLOSURE_RECIPIENT_NOTIFIED: _("a recipient told of an erasure or withdrawal"),
    EventType.AGGREGATE_EXPORTED: _("aggregate statistics exported, small groups suppressed"),
    EventType.RETENTION_SWEEP_STARTED: _("a retention sweep started"),
    EventType.RETENTION_SWEEP_FINISHED: _("a retention sweep finished, with its report"),
    EventType.RETENTION_NOTICE_SENT: _("a customer told their data approaches its end"),
    EventType.AUDIT_VERIFIED: _("the audit chain verified intact"),
    EventType.AUDIT_EXPORTED: _("the audit log exported as CSV"),
}

# The filter's event-type list is grouped by the source part of the type (`source:action`).
EVENT_SOURCES: dict[str, Promise] = {
    "vault": _("Personal data"),
    "keys": _("Encryption keys"),
    "consent": _("Consent"),
    "api": _("Shop API"),
    "staff": _("Staff accounts"),
    "customer": _("Customer accounts"),
    "rights": _("Data-subject requests"),
    "complaints": _("Complaints"),
    "incidents": _("Incidents"),
    "disclosures": _("Disclosures"),
    "retention": _("Retention"),
    "audit": _("Audit log"),
}

OUTCOME_LABELS: dict[Outcome, Promise] = {
    Outcome.OK: _("ok"),
    Outcome.REFUSED: _("refused"),
    Outcome.FAILED: _("failed"),
}

# An actor label as events spell it (services.py): kind, colon, an id without spaces.
ACTOR_RE = re.compile(r"^(staff|api|customer|system|visitor):\S{1,110}$")
# Times outside these years would overflow Python's datetime on the way to UTC or to the end of
# the minute; the log holds nothing from before 1970 anyway.
FIRST_YEAR, LAST_YEAR = 1970, 9998

CSV_HEADER = (
    "seq",
    "at",
    "type",
    "actor",
    "actor_role",
    "customer_id",
    "record",
    "purpose",
    "fields",
    "outcome",
    "details",
    "hash",
)
# A spreadsheet runs a cell starting with one of these as a formula (OWASP: CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_ROWS_PER_CHUNK = 500


class AuditFilterForm(forms.Form):
    customer = forms.UUIDField(label=_("Customer id"), required=False)
    actor = forms.CharField(
        label=_("Staff member or actor"),
        required=False,
        max_length=254,
        help_text=_("An email of a staff member, or an actor such as staff:12 or api:shop"),
    )
    purpose = forms.ChoiceField(label=_("Purpose"), required=False)
    type = forms.ChoiceField(label=_("Event type"), required=False)
    outcome = forms.ChoiceField(label=_("Outcome"), required=False)
    since = forms.DateTimeField(label=_("From"), required=False)
    until = forms.DateTimeField(label=_("To"), required=False)
    # Keyset cursors (selectors.events_page): hidden, but validated like the rest.
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    after = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args: Any, staff: StaffContext, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        lang = get_language() or "vi"
        fields = self.fields
        cast(forms.ChoiceField, fields["purpose"]).choices = [("", _("Any purpose"))] + [
            (p.key, p.name.get(lang)) for p in staff.policy.policy.purposes
        ]
        # Labels rather than codes keep the list narrow enough for a phone; the table shows both.
        cast(forms.ChoiceField, fields["type"]).choices = [("", _("Any event type"))] + [
            (
                group,
                [(t.value, EVENT_LABELS[t]) for t in EventType if t.value.split(":")[0] == source],
            )
            for source, group in EVENT_SOURCES.items()
        ]
        cast(forms.ChoiceField, fields["outcome"]).choices = [("", _("Any outcome"))] + [
            (o.value, OUTCOME_LABELS[o]) for o in Outcome
        ]
        for name in ("since", "until"):
            fields[name].widget = forms.DateTimeInput(
                attrs={"type": "datetime-local", "step": "1"}, format="%Y-%m-%dT%H:%M:%S"
            )
        fields["customer"].widget.attrs.update(
            {"pattern": "[0-9a-fA-F-]{32,36}", "spellcheck": "false", "autocomplete": "off"}
        )
        fields["actor"].widget.attrs.update({"list": "staff-actors", "autocomplete": "off"})

    def _clean_time(self, name: str) -> dt.datetime | None:
        value: dt.datetime | None = self.cleaned_data.get(name)
        if value is not None and not FIRST_YEAR < value.year < LAST_YEAR:
            raise forms.ValidationError(
                _("Enter a time between the years %(first)d and %(last)d.")
                % {"first": FIRST_YEAR + 1, "last": LAST_YEAR - 1}
            )
        return value

    def clean_since(self) -> dt.datetime | None:
        return self._clean_time("since")

    def clean_until(self) -> dt.datetime | None:
        return self._clean_time("until")

    def clean_actor(self) -> str:
        value = str(self.cleaned_data.get("actor") or "").strip()
        if not value:
            return ""
        if "@" in value and ":" not in value:
            # A staff member named by email: the log holds their actor label, staff:<id>.
            user_id = (
                StaffProfile.objects.filter(user__email__iexact=value)
                .values_list("user_id", flat=True)
                .first()
            )
            if user_id is None:
                raise forms.ValidationError(_("No staff member has this email."))
            return f"staff:{user_id}"
        if not ACTOR_RE.match(value):
            raise forms.ValidationError(
                _("Enter a staff member's email, or an actor such as staff:12 or api:shop.")
            )
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = cast(dict[str, Any], super().clean())
        since, until = cleaned.get("since"), cleaned.get("until")
        if since is not None and until is not None and since > until:
            raise forms.ValidationError(_("“From” is later than “To”."))
        if cleaned.get("before") is not None and cleaned.get("after") is not None:
            raise forms.ValidationError(_("This page link is broken: start again from the top."))
        return cleaned

    def audit_filter(self) -> AuditFilter:
        data = self.cleaned_data
        until = data.get("until")
        if until is not None and until.second == 0 and until.microsecond == 0:
            # "To 10:30" means up to the end of that minute (the browser's picker drops seconds).
            until += dt.timedelta(minutes=1)
        elif until is not None:
            until += dt.timedelta(seconds=1)
        return AuditFilter(
            customer_id=data.get("customer"),
            actor=data.get("actor") or "",
            purpose=data.get("purpose") or "",
            type=data.get("type") or "",
            outcome=data.get("outcome") or "",
            since=data.get("since"),
            until=until,
        )


@dataclass(frozen=True)
class AuditRow:
    """One event as the table shows it."""

    seq: int
    at: dt.datetime
    type: str
    type_label: str
    actor: str
    actor_short: str  # customer actors carry a whole uuid: its first 8 digits do on screen
    staff_email: str
    role: str
    role_name: str
    customer_id: uuid.UUID | None
    purpose: str
    purpose_name: str
    fields: list[str]
    outcome: str
    outcome_label: str


def shop_timezone(staff: StaffContext) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(staff.policy.policy.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return timezone.get_default_timezone()


def _staff_emails() -> dict[str, str]:
    """actor label -> email of every staff account (a small shop has a handful)."""
    return {
        f"staff:{user_id}": email
        for user_id, email in StaffProfile.objects.values_list("user_id", "user__email")
    }


def _rows(events: list[AuditEvent], staff: StaffContext, emails: dict[str, str]) -> list[AuditRow]:
    lang = get_language() or "vi"
    policy = staff.policy.policy
    role_names = {r.key: r.name.get(lang) for r in policy.roles}
    purpose_names = {p.key: p.name.get(lang) for p in policy.purposes}
    types = {t.value: str(EVENT_LABELS[t]) for t in EventType}
    outcomes = {o.value: str(OUTCOME_LABELS[o]) for o in Outcome}
    return [
        AuditRow(
            seq=e.seq,
            at=e.at,
            type=e.type,
            type_label=types.get(e.type, ""),
            actor=e.actor,
            actor_short=_short_actor(e.actor),
            staff_email=emails.get(e.actor, ""),
            role=e.actor_role,
            role_name=role_names.get(e.actor_role, ""),
            customer_id=e.customer_id,
            purpose=e.purpose,
            purpose_name=purpose_names.get(e.purpose, ""),
            fields=[f for f in e.fields.split(",") if f],
            outcome=e.outcome,
            outcome_label=outcomes.get(e.outcome, e.outcome),
        )
        for e in events
    ]


def _short_actor(actor: str) -> str:
    kind, _sep, ident = actor.partition(":")
    return f"{kind}:{ident[:8]}…" if kind == "customer" and len(ident) > 8 else actor


def _filter_query(request: HttpRequest) -> str:
    """The filters of this request as a query string, without the page cursor."""
    query = QueryDict(mutable=True)
    for name in ("customer", "actor", "purpose", "type", "outcome", "since", "until"):
        value = request.GET.get(name, "").strip()
        if value:
            query[name] = value
    return query.urlencode()


def _is_htmx(request: HttpRequest) -> bool:
    # A history restore asks for the whole page again.
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def _invalid_filters(
    request: HttpRequest, form: AuditFilterForm, emails: dict[str, str]
) -> HttpResponse:
    if _is_htmx(request):
        # htmx swaps no 4xx answer into the page: let the browser load the full page instead,
        # which names the problem with the same status 400.
        response = HttpResponse(status=400)
        response["HX-Redirect"] = request.get_full_path()
        return response
    context = {"nav": "audit", "form": form, "staff_emails": emails, "invalid": True}
    return render(request, "console/audit/log.html", context, status=400)


@staff_view("view_audit")
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    staff: StaffContext = request.staff  # type: ignore[attr-defined]
    emails = _staff_emails()
    with timezone.override(shop_timezone(staff)):
        form = AuditFilterForm(request.GET or None, staff=staff)
        if request.GET and not form.is_valid():
            response = _invalid_filters(request, form, emails)
        else:
            data = form.cleaned_data if form.is_bound else {}
            page: EventPage = events_page(
                form.audit_filter() if form.is_bound else AuditFilter(),
                before=data.get("before"),
                after=data.get("after"),
            )
            context = {
                "nav": "audit",
                "form": form,
                "page": page,
                "rows": _rows(page.events, staff, emails),
                "filter_query": _filter_query(request),
                "filtered": bool(_filter_query(request)),
                "staff_emails": emails,
                "time_zone": str(timezone.get_current_timezone()),
            }
            template = "console/audit/_results.html" if _is_htmx(request) else None
            response = render(request, template or "console/audit/log.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


@staff_view("view_audit")
@require_GET
def audit_csv(request: HttpRequest) -> HttpResponseBase:
    staff: StaffContext = request.staff  # type: ignore[attr-defined]
    tz = shop_timezone(staff)
    with timezone.override(tz):
        form = AuditFilterForm(request.GET, staff=staff)
        if not form.is_valid():
            context = {"nav": "audit", "form": form, "staff_emails": _staff_emails()}
            context["invalid"] = True
            return render(request, "console/audit/log.html", context, status=400)
        audit_filter = form.audit_filter()
    # The export covers the log as it stands now: events appended while it streams (its own
    # audit:exported event among them) are left for the next export.
    last = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    record_event(
        EventType.AUDIT_EXPORTED,
        actor=staff.actor.label,
        actor_role=staff.role.key,
        customer_id=audit_filter.customer_id,
        details=audit_filter.as_details(),
    )
    stamp = timezone.now().astimezone(tz).strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(
        _csv_chunks(audit_filter, last, tz), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="pledge-audit-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv_chunks(audit_filter: AuditFilter, last_seq: int, tz: dt.tzinfo) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    # The byte-order mark makes Excel read the file as UTF-8 (Vietnamese role names, purposes).
    buffer.write("\ufeff")
    writer.writerow(CSV_HEADER)
    for count, e in enumerate(events_for_export(audit_filter, up_to_seq=last_seq), start=1):
        writer.writerow(
            [
                e.seq,
                e.at.astimezone(tz).isoformat(),
                csv_cell(e.type),
                csv_cell(e.actor),
                csv_cell(e.actor_role),
                str(e.customer_id) if e.customer_id else "",
                csv_cell(e.record),
                csv_cell(e.purpose),
                csv_cell(e.fields),
                csv_cell(e.outcome),
                csv_cell(e.details),
                e.hash,
            ]
        )
        if count % CSV_ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@staff_view("view_audit")
@require_POST
def audit_verify(request: HttpRequest) -> HttpResponse:
    staff: StaffContext = request.staff  # type: ignore[attr-defined]
    started = time.perf_counter()
    result: VerifyResult = verify_chain()
    seconds = time.perf_counter() - started
    if result.ok:
        # Proof of the check itself, as `pledge audit verify` records it; the dashboard shows
        # when the chain was last verified and by whom.
        record_event(
            EventType.AUDIT_VERIFIED,
            actor=staff.actor.label,
            actor_role=staff.role.key,
            details={"events": result.events, "head": result.head_hash[:16]},
        )
    context = {
        "nav": "audit",
        "result": result,
        "seconds": f"{seconds:.2f}",
        "head_prefix": result.head_hash[:16],
    }
    template = "console/audit/_verify_result.html" if _is_htmx(request) else None
    response = render(request, template or "console/audit/verify.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response
