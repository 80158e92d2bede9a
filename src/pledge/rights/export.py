"""The data package: everything Pledge holds about one customer, for that customer (issue 6 item 3;
P18; GDPR Art 15 access and Art 20 portability; PDPL 91/2025 and Decree 356/2025 Art 5, access
and copy). docs/data-package.md describes its contents and `data.json`'s schema.

`build_package` gathers every app's records of the customer: the vault's values and records
(`vault.subject.read_subject`, one audited subject-access read), the consent ledger with the exact
notice texts, policy acceptances, privacy-center account, sessions and devices, data-subject
requests, complaints and disclosures (hooks until their registers exist), and "who accessed my
data" (roles and purposes, never staff identities, P09). The same rows become `data.json`, one
CSV per table and a readable HTML page in the customer's language, so the three never disagree.

The package is built on each download and never written to disk or cache: no copy of personal
data sits around waiting to leak, and an erasure leaves nothing behind. The reader is always the
customer (`Actor(kind="customer")`): the vault gives `subject_access` to the customer alone, so
the signed link's view acts as the customer the link was made for, and staff never see a package.

Cost (ARCHITECTURE.md budget, p95 <= 100 ms among 1,000,000 customers): every query filters on an
indexed customer id (or the account's), one query per kind of record, no query per row.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from pledge.accounts.models import CustomerAccount, CustomerDevice, CustomerSession
from pledge.audit.selectors import AccessLogEntry, customer_access_log
from pledge.consent.models import ConsentEvent, PolicyAcceptance
from pledge.policy.render import localized_date
from pledge.policy.schema import Policy
from pledge.policy.vocabulary import COOKIE_CATEGORIES, RECORD_KINDS, STANDARD_FIELDS
from pledge.rights.labels import (
    ACTIONS,
    ACTOR_KINDS,
    CONSENT_ACTIONS,
    CONSENT_CHANNELS,
    CONSENT_METHODS,
    ORDER_STATUSES,
    PAYMENT_STATUSES,
)
from pledge.rights.models import DataSubjectRequest, RequestChannel, RequestKind, RequestStatus
from pledge.rights.services import DENIAL_GROUNDS, RequestInvalid
from pledge.vault.access import SUBJECT_ACCESS, Actor, policy
from pledge.vault.accounts import ACCOUNT_RECORD, ACCOUNT_SECURITY
from pledge.vault.errors import VaultError
from pledge.vault.subject import SubjectData, read_subject

SCHEMA = "pledge-data-package"
# Raise when a key of data.json changes meaning or goes away; adding keys keeps the version.
SCHEMA_VERSION = 1
LANGUAGES = ("vi", "en")
# The rights whose answer is this package (GDPR Art 15, 20; Decree 356 Art 5).
PACKAGE_KINDS = frozenset({RequestKind.ACCESS, RequestKind.PORTABILITY})
# A package exists once the request is being carried out, and stays while it is complete.
DELIVERABLE = frozenset({RequestStatus.IN_PROCESSING, RequestStatus.COMPLETE})
# The downloads; a delivery is also recorded with the format "page" (the link's web page).
FORMATS = ("zip", "html")
# How the package reached the customer: the download event's `via`.
VIA = ("privacy_center", "link")
LINK_SALT = "pledge.rights.export_link"
MAX_TOKEN_CHARS = 400
ACCESS_LOG_PAGE = 100
# A cell that a spreadsheet would run as a formula (CSV injection, OWASP): shown as text instead.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class PackageUnavailable(VaultError):
    """No package behind this link or request id; `reason` picks the page's explanation.

    404 for anything that never had a package, or was never ours to show (tampered link, unknown
    request, another customer's request: one answer for all); 410 once it is gone for good.
    """

    code = "data-package-unavailable"
    title = "The data package is not available"
    STATUS: ClassVar[dict[str, int]] = {
        "invalid": 404,
        "unknown_format": 404,
        "not_ready": 409,
        "expired": 410,
        "closed": 410,
        "erased": 410,
    }

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason
        self.status = self.STATUS.get(reason, 404)


# -- labels (the customer's language) ------------------------------------------------------


def field_label(policy: Policy, key: str, lang: str) -> str:
    """The policy's label, the standard one, or (a field no longer declared) the key itself."""
    try:
        declared = policy.field(key)
    except KeyError:
        declared = None
    if declared is not None and declared.label is not None:
        return declared.label.get(lang)
    standard = STANDARD_FIELDS.get(key)
    return str(standard.label) if standard else key.replace("_", " ")


def purpose_label(policy: Policy, key: str, lang: str) -> str:
    if key == SUBJECT_ACCESS:
        return _("your own access to your data")
    if key == ACCOUNT_SECURITY:
        return _("your privacy-center account (signing in, security notices)")
    if key.startswith("cookies:"):
        category = COOKIE_CATEGORIES.get(key.partition(":")[2])
        return _("cookies: %(category)s") % {"category": category or key.partition(":")[2]}
    try:
        return policy.purpose(key).name.get(lang)
    except KeyError:
        return key.replace("_", " ")


def role_label(policy: Policy, entry: AccessLogEntry, lang: str) -> str:
    """Which role looked (P09): the policy's role name for staff, never who."""
    if entry.actor_kind == "staff" and entry.actor_role:
        try:
            return _("staff: %(role)s") % {"role": policy.role(entry.actor_role).name.get(lang)}
        except KeyError:
            pass
    return str(ACTOR_KINDS.get(entry.actor_kind, gettext_lazy("someone else")))


# -- values as text ------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def plain_text(value: Any) -> str:
    """A value as a CSV cell: ISO 8601 times, exact decimals, JSON for structures."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_default)
    return str(value)


def safe_cell(text: str) -> str:
    """A cell a spreadsheet shows as text, never runs (OWASP "CSV injection"): a leading
    quote, which Excel and LibreOffice hide, before = + - @ tab or carriage return."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def display(value: Any, lang: str) -> str:
    """A value as the readable page shows it, in the customer's language and time zone."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return pgettext("a yes/no answer", "yes") if value else pgettext("a yes/no answer", "no")
    if isinstance(value, dt.datetime):
        return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if isinstance(value, dt.date):
        return localized_date(value, lang)
    if isinstance(value, Decimal):
        return formats.number_format(value, use_l10n=True, force_grouping=True)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {display(v, lang)}" for k, v in sorted(value.items()))
    if isinstance(value, list | tuple):
        return ", ".join(display(v, lang) for v in value)
    return str(value)


# -- the tables ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str  # the CSV header and the data.json key
    label: str  # the readable page's header, in the customer's language
    names: Mapping[str, Any] | None = None  # codes the page shows by name (statuses)
    csv: bool = True  # in the CSV file and data.json (False: a label for the page only)
    page: bool = True  # on the readable page (False: ids and codes the page puts in words)


@dataclass(frozen=True)
class Table:
    """One kind of record: a CSV file (`name`.csv), a list in data.json and a page section."""

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]
    note: str = ""
    file: bool = True  # a register that does not exist yet has no columns, hence no CSV

    def records(self) -> list[dict[str, Any]]:
        keep = [(i, c.key) for i, c in enumerate(self.columns) if c.csv]
        return [{key: row[i] for i, key in keep} for row in self.rows]

    def csv_bytes(self) -> bytes:
        keep = [i for i, c in enumerate(self.columns) if c.csv]
        out = io.StringIO()
        # UTF-8 with a byte-order mark: Excel then reads Vietnamese as UTF-8, not as cp1258.
        out.write("\ufeff")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([self.columns[i].key for i in keep])
        for row in self.rows:
            writer.writerow([safe_cell(plain_text(row[i])) for i in keep])
        return out.getvalue().encode("utf-8")

    def page_section(self, lang: str) -> dict[str, Any]:
        keep = [i for i, c in enumerate(self.columns) if c.page]
        rows = []
        for row in self.rows:
            cells = []
            for i in keep:
                column, value = self.columns[i], row[i]
                if column.names is not None and isinstance(value, str) and value in column.names:
                    cells.append((column.label, str(column.names[value])))
                else:
                    cells.append((column.label, display(value, lang)))
            rows.append(cells)
        labels = [self.columns[i].label for i in keep]
        return {
            "name": self.name,
            "title": self.title,
            "note": self.note,
            "labels": labels,
            "rows": rows,
        }


def _col(key: str, label: Any, **kwargs: Any) -> Column:
    return Column(key, str(label), **kwargs)


def _field_columns(
    policy: Policy, lang: str, fixed: Sequence[Column], held: Iterable[Mapping[str, Any]]
) -> list[tuple[str, Column]]:
    """(field key, column) for each personal field held on any of the records."""
    taken = {c.key for c in fixed}
    keys = sorted({k for fields in held for k in fields})
    return [
        (k, Column(k if k not in taken else f"field_{k}", field_label(policy, k, lang)))
        for k in keys
    ]


def _with_fields(
    name: str,
    title: str,
    fixed: tuple[Column, ...],
    records: Sequence[tuple[tuple[Any, ...], Mapping[str, Any]]],
    policy: Policy,
    lang: str,
    note: str = "",
) -> Table:
    """A table of records (orders, invoices, guarantee cards) with their personal fields."""
    extra = _field_columns(policy, lang, fixed, (fields for _facts, fields in records))
    rows = [(*facts, *(fields.get(k) for k, _c in extra)) for facts, fields in records]
    return Table(name, title, fixed + tuple(c for _k, c in extra), rows, note)


def _register(name: str, title: str, rows: list[dict[str, Any]], note: str) -> Table:
    """A register another issue adds (complaints, disclosures): its own columns, once it has
    rows; until then the section says why it is empty."""
    keys = sorted({k for row in rows for k in row})
    columns = tuple(Column(k, k.replace("_", " ")) for k in keys)
    return Table(
        name, title, columns, [tuple(r.get(k) for k in keys) for r in rows], note, bool(rows)
    )


def _tables(g: _Gathered, policy: Policy, lang: str) -> tuple[Table, ...]:
    d = g.data
    labels: dict[str, str] = {}

    def label(key: str) -> str:
        if key not in labels:
            labels[key] = field_label(policy, key, lang)
        return labels[key]

    account_id = g.account[0] if g.account is not None else None
    details = [
        *(("profile", d.customer_id, k, label(k), v) for k, v in sorted(d.profile.items())),
        *((ACCOUNT_RECORD, account_id, k, label(k), v) for k, v in sorted(d.account.items())),
        *((v.record_kind, v.record_id, v.field, label(v.field), v.value) for v in d.other),
    ]
    item_labels = {
        "sku": _("Product code"),
        "name": _("Product"),
        "quantity": _("Quantity"),
        "unit_price": _("Unit price"),
    }
    item_keys = [*item_labels]
    item_keys += sorted({k for o in d.orders for i in o.items for k in i} - set(item_keys))
    # A refusal shows its ground with the article it rests on (PDPL Art 14(2); GDPR Art 12(4)).
    grounds = {k: f"{label} ({article})" for k, (label, article) in DENIAL_GROUNDS.items()}
    return (
        Table(
            "profile",
            _("Your details"),
            (
                _col("record", _("Held on"), names=RECORD_KINDS),
                _col("record_id", _("Record"), page=False),
                _col("field", _("Field"), page=False),
                _col("label", _("Data")),
                _col("value", _("Value")),
            ),
            details,
        ),
        Table(
            "account",
            _("Your privacy-center account"),
            (
                _col("created_at", _("Opened")),
                _col("verified_at", _("Email confirmed")),
                _col("password_changed_at", _("Password last changed")),
                _col("language", _("Language")),
            ),
            [g.account[1:]] if g.account is not None else [],
            _("The password itself is not included: only a one-way hash of it is kept."),
        ),
        Table(
            "sessions",
            _("Where you are signed in"),
            (
                _col("created_at", _("Signed in")),
                _col("last_seen_at", _("Last seen")),
                _col("network", _("Network")),
                _col("device", _("Browser")),
            ),
            g.sessions,
        ),
        Table(
            "devices",
            _("Browsers you signed in from"),
            (
                _col("label", _("Browser")),
                _col("first_seen_at", _("First seen")),
                _col("last_seen_at", _("Last seen")),
            ),
            g.devices,
        ),
        _with_fields(
            "orders",
            _("Orders"),
            (
                _col("id", _("Record"), page=False),
                _col("number", _("Order")),
                _col("placed_at", _("Date")),
                _col("status", _("Status"), names=ORDER_STATUSES),
                _col("currency", _("Currency")),
                _col("total", _("Total")),
            ),
            [
                ((o.id, o.number, o.placed_at, o.status, o.currency, o.total), o.fields)
                for o in d.orders
            ],
            policy,
            lang,
        ),
        Table(
            "order_items",
            _("Items of your orders"),
            (
                _col("order_number", _("Order")),
                *(Column(k, str(item_labels.get(k, k.replace("_", " ")))) for k in item_keys),
            ),
            [(o.number, *(i.get(k) for k in item_keys)) for o in d.orders for i in o.items],
        ),
        _with_fields(
            "invoices",
            _("Invoices"),
            (
                _col("id", _("Record"), page=False),
                _col("number", _("Invoice")),
                _col("order_number", _("Order")),
                _col("issued_at", _("Date")),
                _col("total", _("Total")),
                _col("tax", _("Tax")),
                _col("currency", _("Currency")),
            ),
            [
                (
                    (i.id, i.number, i.order_number, i.issued_at, i.total, i.tax, i.currency),
                    i.fields,
                )
                for i in d.invoices
            ],
            policy,
            lang,
        ),
        _with_fields(
            "guarantees",
            _("Guarantee cards"),
            (
                _col("id", _("Record"), page=False),
                _col("product", _("Product")),
                _col("issued_on", _("Issued")),
                _col("valid_until", _("Valid until")),
                _col("order_number", _("Order")),
            ),
            [
                ((c.id, c.product, c.issued_on, c.valid_until, c.order_number), c.fields)
                for c in d.guarantees
            ],
            policy,
            lang,
        ),
        Table(
            "cards",
            _("Payment cards"),
            (
                _col("id", _("Record"), page=False),
                _col("display", _("Card")),
                _col("expiry", _("Expires")),
                _col("holder", _("Cardholder")),
                _col("added_at", _("Added")),
            ),
            [(c.id, c.display, c.expiry, c.holder, c.added_at) for c in d.cards],
            _("The full card number and the security code (CVC) are never kept."),
        ),
        Table(
            "payments",
            _("Payments"),
            (
                _col("id", _("Record"), page=False),
                _col("order_number", _("Order")),
                _col("at", _("Date")),
                _col("status", _("Status"), names=PAYMENT_STATUSES),
                _col("amount", _("Amount")),
                _col("currency", _("Currency")),
                _col("card", _("Card")),
                _col("decline_reason", _("Reason declined")),
            ),
            [
                (
                    p.id,
                    p.order_number,
                    p.at,
                    p.status,
                    p.amount,
                    p.currency,
                    p.card,
                    p.decline_reason,
                )
                for p in d.payments
            ],
        ),
        Table(
            "id_documents",
            _("Copies of identity documents"),
            (
                _col("id", _("Record"), page=False),
                _col("content_type", _("Type")),
                _col("size", _("Size (bytes)")),
                _col("uploaded_at", _("Received")),
            ),
            [(x.id, x.content_type, x.size, x.uploaded_at) for x in d.documents],
            _(
                "The images themselves are not in this package: they are sensitive and stay "
                "encrypted at the shop. Ask the shop for a copy if you need one."
            ),
        ),
        Table(
            "staff_notes",
            _("Notes the shop's staff wrote about you"),
            (
                _col("id", _("Record"), page=False),
                _col("created_at", _("Written")),
                _col("text", _("Note")),
            ),
            [(n.id, n.created_at, n.text) for n in d.notes],
            _("You see what was written, not who wrote it."),
        ),
        Table(
            "consents",
            _("Your consents"),
            (
                _col("receipt_id", _("Receipt"), page=False),
                _col("purpose", _("Purpose"), page=False),
                _col("purpose_name", _("Purpose"), csv=False),
                _col("action", _("Decision"), names=CONSENT_ACTIONS),
                _col("at", _("When")),
                _col("method", _("How"), names=CONSENT_METHODS),
                _col("channel", _("Where"), names=CONSENT_CHANNELS),
                _col("language", _("Language")),
                _col("policy_version", _("Policy version")),
                _col("data_types", _("Data"), page=False),
                _col("data_labels", _("Data"), csv=False),
                _col("notice_sha256", _("Text fingerprint (SHA-256)"), page=False),
                _col("notice_text", _("The exact text you were shown")),
            ),
            [
                (
                    e.receipt_id,
                    e.purpose,
                    purpose_label(policy, e.purpose, lang),
                    e.action,
                    e.at,
                    e.method,
                    e.channel,
                    e.language,
                    e.policy_version,
                    list(e.data_types),
                    ", ".join(label(k) for k in e.data_types),
                    e.notice.sha256 if e.notice is not None else "",
                    e.notice.text if e.notice is not None else "",
                )
                for e in g.consents
            ],
        ),
        Table(
            "policy_acceptances",
            _("Policy versions you accepted"),
            (
                _col("policy_version", _("Policy version")),
                _col("accepted_at", _("Accepted")),
                _col("method", _("How")),
                _col("language", _("Language")),
                _col("content_hash", _("Policy fingerprint (SHA-256)"), page=False),
            ),
            g.acceptances,
        ),
        Table(
            "requests",
            _("Your privacy requests"),
            (
                _col("id", _("Request"), page=False),
                _col("kind", _("What you asked for"), names=dict(RequestKind.choices)),
                _col("channel", _("How"), names=dict(RequestChannel.choices)),
                _col("status", _("Status"), names=dict(RequestStatus.choices)),
                _col("received_at", _("Received")),
                _col("acknowledge_due_at", _("Acknowledgement due")),
                _col("due_at", _("Answer due")),
                _col("extended_due_at", _("Extended to")),
                _col("extension_reason", _("Reason for the extension")),
                _col("purposes", _("Purposes"), page=False),
                _col("identity_method", _("Identity checked by"), page=False),
                _col("verified_at", _("Identity checked")),
                _col("decided_at", _("Decided")),
                _col("denial_ground", _("Refused because"), names=grounds),
                _col("denial_explanation", _("Explanation")),
                _col("completed_at", _("Completed")),
                _col("completion_note", _("Note")),
                _col("outcome", _("Outcome"), page=False),
                _col("profile", _("Legal deadline rules"), page=False),
            ),
            g.requests,
        ),
        _register(
            "complaints",
            _("Complaints"),
            g.complaints,
            _("Pledge has recorded no complaint from you."),
        ),
        _register(
            "disclosures",
            _("Data given to other recipients"),
            g.disclosures,
            _(
                "Pledge has recorded no disclosure of your data. The privacy policy lists the "
                "recipients the shop may give data to, and for what."
            ),
        ),
        Table(
            "access_log",
            _("Who accessed your data"),
            (
                _col("at", _("When")),
                _col("event", _("Event"), page=False),
                _col("action", _("What"), csv=False),
                _col("actor_kind", _("Who"), page=False),
                _col("actor_role", _("Role"), page=False),
                _col("who", _("Who"), csv=False),
                _col("purpose", _("Purpose"), page=False),
                _col("purpose_name", _("Purpose"), csv=False),
                _col("fields", _("Data"), page=False),
                _col("data", _("Data"), csv=False),
            ),
            [
                (
                    e.at,
                    e.type,
                    str(ACTIONS.get(e.type, e.type)),
                    e.actor_kind,
                    e.actor_role,
                    role_label(policy, e, lang),
                    e.purpose,
                    purpose_label(policy, e.purpose, lang) if e.purpose else "",
                    list(e.fields),
                    ", ".join(label(f) for f in e.fields),
                )
                for e in g.access
            ],
            _(
                "Every read or change of your data, newest first. Staff are shown by their "
                "role, not by name."
            ),
        ),
    )


def _not_included() -> list[str]:
    return [
        _("Your password: only a one-way hash of it is kept, which cannot be turned back."),
        _(
            "Card numbers and security codes (CVC): a card number is never kept whole, and a "
            "security code is never kept at all."
        ),
        _("The images of identity documents: ask the shop for a copy."),
        _("The names of staff members who read or changed your data: you see their role."),
    ]


# -- hooks for registers that other issues add -----------------------------------------------


def _complaints(customer_id: uuid.UUID) -> list[dict[str, Any]]:
    """The customer's complaints (P21, P22): channel, status and every time, one indexed query
    by customer id. Their texts (the complaint, messages, answers and reasons, notes) are
    vault values of record kind "complaint", listed with the other values by record id."""
    from pledge.complaints.models import Complaint

    rows = (
        Complaint.objects.filter(customer_id=customer_id)
        .prefetch_related("compensations")
        .order_by("received_at", "id")
    )
    return [
        {
            "id": str(c.id),
            "channel": c.channel,
            "status": c.status,
            "received_at": c.received_at.isoformat(),
            "acknowledged_at": c.acknowledged_at.isoformat() if c.acknowledged_at else None,
            "due_at": c.due_at.isoformat(),
            "first_answered_at": (c.first_answered_at.isoformat() if c.first_answered_at else None),
            "answered_at": c.answered_at.isoformat() if c.answered_at else None,
            "outcome": c.outcome or None,
            "sla_breached_at": c.breached_at.isoformat() if c.breached_at else None,
            "reopen_count": c.reopen_count,
            "closed_at": c.closed_at.isoformat() if c.closed_at else None,
            "compensations": "; ".join(
                f"{m.amount} {m.currency}"
                for m in sorted(c.compensations.all(), key=lambda m: m.recorded_at)
            )
            or None,
        }
        for c in rows
    ]


def _disclosures(customer_id: uuid.UUID) -> list[dict[str, Any]]:
    """What was given to which recipient, when, for what and on what basis (P10, P11): one
    indexed query on (customer, disclosed_at). The recipient's name is the one it had when the
    data was given, in the package's language; the values given are not repeated here (they are
    the customer's own values, listed above)."""
    from pledge.disclosures.models import DisclosedCustomer

    lang = translation.get_language() or "vi"
    rows = (
        DisclosedCustomer.objects.filter(customer_id=customer_id)
        .select_related("disclosure")
        .order_by("disclosed_at", "id")
    )
    return [
        {
            "id": str(r.disclosure.id),
            "disclosed_at": r.disclosed_at.isoformat(),
            "recipient": r.disclosure.recipient,
            "recipient_name": r.disclosure.recipient_name("en" if lang.startswith("en") else "vi"),
            "purpose": r.disclosure.purpose,
            "fields": ", ".join(r.disclosure.fields),
            "basis": r.disclosure.basis,
            "legal_reference": r.disclosure.legal_reference or None,
        }
        for r in rows
    ]


# -- gathering -------------------------------------------------------------------------------

# In the order of the requests table's columns (_tables).
_REQUEST_COLUMNS = (
    "id",
    "kind",
    "channel",
    "status",
    "received_at",
    "acknowledge_due_at",
    "due_at",
    "extended_due_at",
    "extension_reason",
    "purposes",
    "identity_method",
    "verified_at",
    "decided_at",
    "denial_ground",
    "denial_explanation",
    "completed_at",
    "completion_note",
    "outcome",
    "profile",
)


@dataclass
class _Gathered:
    """What every app holds about the customer, read once."""

    data: SubjectData
    account: tuple[Any, ...] | None  # id, created_at, verified_at, password_changed_at, language
    sessions: list[tuple[Any, ...]]
    devices: list[tuple[Any, ...]]
    consents: list[ConsentEvent]
    acceptances: list[tuple[Any, ...]]
    requests: list[tuple[Any, ...]]
    complaints: list[dict[str, Any]]
    disclosures: list[dict[str, Any]]
    access: list[AccessLogEntry]


def _access_log(customer_id: uuid.UUID) -> list[AccessLogEntry]:
    """Every read and change of the customer's data, newest first: pages of the
    `(customer_id, at)` index (one customer's events are few, one page almost always)."""
    entries: list[AccessLogEntry] = []
    page = 1
    while True:
        found = customer_access_log(customer_id, page=page, per_page=ACCESS_LOG_PAGE)
        entries += found.entries
        if not found.has_next:
            return entries
        page += 1


def _gather(actor: Actor, customer_id: uuid.UUID) -> _Gathered:
    # The vault's values and records: refused (and audited) unless the actor is the customer;
    # one `vault:read` event for subject_access listing every field.
    data = read_subject(actor=actor, customer_id=customer_id)
    account = (
        CustomerAccount.objects.filter(customer_id=customer_id)
        .values_list("id", "created_at", "verified_at", "password_changed_at", "language")
        .first()
    )
    sessions: list[tuple[Any, ...]] = []
    devices: list[tuple[Any, ...]] = []
    if account is not None:
        sessions = list(
            CustomerSession.objects.filter(account_id=account[0])
            .order_by("-last_seen_at", "id")
            .values_list("created_at", "last_seen_at", "client_network", "device_label")
        )
        devices = list(
            CustomerDevice.objects.filter(account_id=account[0])
            .order_by("first_seen_at", "id")
            .values_list("label", "first_seen_at", "last_seen_at")
        )
    return _Gathered(
        data=data,
        account=account,
        sessions=sessions,
        devices=devices,
        # The ledger with the exact text each decision was made on (P04; LAW.md "Consent").
        consents=list(
            ConsentEvent.objects.filter(customer_id=customer_id)
            .select_related("notice")
            .order_by("at", "id")
        ),
        acceptances=list(
            PolicyAcceptance.objects.filter(customer_id=customer_id)
            .order_by("accepted_at", "id")
            .values_list("policy_version", "accepted_at", "method", "language", "content_hash")
        ),
        requests=list(
            DataSubjectRequest.objects.filter(customer_id=customer_id)
            .order_by("received_at", "id")
            .values_list(*_REQUEST_COLUMNS)
        ),
        complaints=_complaints(customer_id),
        disclosures=_disclosures(customer_id),
        access=_access_log(customer_id),
    )


def _document(
    g: _Gathered,
    tables: Mapping[str, Table],
    head: dict[str, Any],
    policy: Policy,
    lang: str,
) -> dict[str, Any]:
    """data.json (docs/data-package.md): codes and raw values; the labels apart, in `labels`."""
    d = g.data
    account = None
    if g.account is not None:
        account = {
            **tables["account"].records()[0],
            "values": dict(sorted(d.account.items())),
            "sessions": tables["sessions"].records(),
            "devices": tables["devices"].records(),
        }
    consents = []
    for row, event in zip(tables["consents"].records(), g.consents, strict=True):
        notice = event.notice
        row = {k: v for k, v in row.items() if not k.startswith("notice_")}
        row["notice"] = (
            {
                "sha256": notice.sha256,
                "language": notice.language,
                "policy_version": notice.policy_version,
                "text": notice.text,
            }
            if notice is not None
            else None
        )
        consents.append(row)
    fields = {str(row["field"]) for row in tables["profile"].records()}
    fields |= {f for e in g.consents for f in e.data_types}
    fields |= {f for e in g.access for f in e.fields}
    for records in (d.orders, d.invoices, d.guarantees):
        for r in records:
            fields |= set(r.fields)
    purposes = {e.purpose for e in g.consents} | {e.purpose for e in g.access if e.purpose}
    return {
        **head,
        "customer": {"id": d.customer_id, "recorded_at": d.created_at, "language": d.language},
        "profile": dict(sorted(d.profile.items())),
        "account": account,
        # The records' facts, then their personal values under "fields".
        "orders": [
            {
                "id": o.id,
                "number": o.number,
                "placed_at": o.placed_at,
                "status": o.status,
                "currency": o.currency,
                "total": o.total,
                "items": o.items,
                "fields": dict(sorted(o.fields.items())),
            }
            for o in d.orders
        ],
        "invoices": [
            {
                "id": i.id,
                "number": i.number,
                "order_number": i.order_number,
                "issued_at": i.issued_at,
                "total": i.total,
                "tax": i.tax,
                "currency": i.currency,
                "fields": dict(sorted(i.fields.items())),
            }
            for i in d.invoices
        ],
        "guarantees": [
            {
                "id": c.id,
                "product": c.product,
                "issued_on": c.issued_on,
                "valid_until": c.valid_until,
                "order_number": c.order_number,
                "fields": dict(sorted(c.fields.items())),
            }
            for c in d.guarantees
        ],
        "cards": tables["cards"].records(),
        "payments": tables["payments"].records(),
        "id_documents": tables["id_documents"].records(),
        "staff_notes": tables["staff_notes"].records(),
        "other_values": [
            {
                "record_kind": v.record_kind,
                "record_id": v.record_id,
                "field": v.field,
                "value": v.value,
            }
            for v in d.other
        ],
        "consents": consents,
        "policy_acceptances": tables["policy_acceptances"].records(),
        "requests": tables["requests"].records(),
        "complaints": g.complaints,
        "disclosures": g.disclosures,
        "access_log": tables["access_log"].records(),
        "labels": {
            "fields": {k: field_label(policy, k, lang) for k in sorted(fields)},
            "purposes": {k: purpose_label(policy, k, lang) for k in sorted(purposes)},
        },
    }


# -- the package -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """One customer's data package, in memory only. `html` is the readable page as a whole
    document (`index.html` in the zip); `body_html` the same content, to embed in a page."""

    customer_id: uuid.UUID
    language: str
    generated_at: dt.datetime
    document: dict[str, Any]
    tables: tuple[Table, ...]
    html: str
    body_html: SafeString
    readme: str

    def json_bytes(self) -> bytes:
        text = json.dumps(self.document, ensure_ascii=False, indent=2, default=_json_default)
        return (text + "\n").encode("utf-8")

    def files(self) -> list[tuple[str, bytes]]:
        """The zip's files, in a fixed order."""
        entries = [
            ("README.txt", self.readme.encode("utf-8")),
            ("data.json", self.json_bytes()),
            ("index.html", self.html.encode("utf-8")),
        ]
        return entries + [(f"{t.name}.csv", t.csv_bytes()) for t in self.tables if t.file]

    def zip_bytes(self) -> bytes:
        buffer = io.BytesIO()
        stamp = self.generated_at.astimezone(dt.UTC).timetuple()[:6]
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in self.files():
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o600 << 16  # unpacked: readable by its owner only
                archive.writestr(info, data)
        return buffer.getvalue()

    def filename(self, fmt: str) -> str:
        day = timezone.localtime(self.generated_at).date().isoformat()
        return f"data-package-{day}.{fmt}"


def _language(language: object) -> str:
    if not isinstance(language, str) or language not in LANGUAGES:
        raise RequestInvalid(f"language must be one of {', '.join(LANGUAGES)}")
    return language


def build_package(*, actor: Actor, customer_id: uuid.UUID, language: str) -> Package:
    """Everything held about the customer, for the customer (the actor must be the customer:
    the vault refuses and records anyone else), in `language` (vi or en).

    Not one transaction on purpose: a refusal's audit event must outlive the refusal (the
    vault writes it in a transaction of its own, which an outer one would roll back).
    """
    lang = _language(language)
    if not isinstance(customer_id, uuid.UUID):
        raise RequestInvalid(f"customer_id must be a UUID, not {type(customer_id).__name__}")
    enforced = policy()
    shop_policy = enforced.policy
    controller = shop_policy.controller
    with translation.override(lang):
        gathered = _gather(actor, customer_id)
        generated_at = timezone.now()
        tables = _tables(gathered, shop_policy, lang)
        shop = {
            "name": controller.trade_name or controller.legal_name,
            "legal_name": controller.legal_name,
            "website": controller.website,
            "email": controller.contact.email or "",
            "phone": controller.contact.phone or "",
            "policy_version": enforced.version,
        }
        head = {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "generated_at": generated_at,
            "language": lang,
            "shop": shop,
        }
        document = _document(gathered, {t.name: t for t in tables}, head, shop_policy, lang)
        context = {
            "lang": lang,
            "shop": shop,
            "generated_at": display(generated_at, lang),
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "sections": [t.page_section(lang) for t in tables],
            "csv_files": [(f"{t.name}.csv", t.title) for t in tables if t.file],
            "registers": [(t.title, t.note) for t in tables if not t.file],
            "not_included": _not_included(),
        }
        body = SafeString(render_to_string("rights/export/_content.html", context).strip())
        html = render_to_string("rights/export/standalone.html", {**context, "content": body})
        readme = render_to_string("rights/export/readme.txt", context)
    return Package(
        customer_id=customer_id,
        language=lang,
        generated_at=generated_at,
        document=document,
        tables=tables,
        html=html,
        body_html=body,
        readme=readme,
    )
