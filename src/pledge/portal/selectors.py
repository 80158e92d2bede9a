"""What the privacy-center pages show, built from the vault's answer and the policy in force.

The vault says *what* is held (`vault.subject.read_subject`); the policy says *why*: for each
field, the purposes that use it and their legal basis, how long it is kept, who may receive it
(P18; LAW.md "Privacy notice contents"). These functions put the two side by side, in the
customer's language, and never decrypt anything themselves.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.template.loader import render_to_string
from django.utils import formats, timezone
from django.utils.safestring import SafeString
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from pledge.audit.selectors import AccessLogEntry
from pledge.consent.models import ConsentState
from pledge.policy.enforcement import EnforcedPolicy
from pledge.policy.render import channel_phrase, localized_date, period_phrase
from pledge.policy.schema import Policy, Purpose
from pledge.policy.taxonomy import is_within
from pledge.policy.vocabulary import (
    CHANNEL_KINDS,
    LEGAL_BASES,
    RECIPIENT_KINDS,
    RECORD_KINDS,
    RIGHTS,
    STANDARD_FIELDS,
)
from pledge.rights.labels import (
    ACTIONS,
    CONSENT_ACTIONS,
    CONSENT_CHANNELS,
    CONSENT_METHODS,
    ORDER_STATUSES,
    PAYMENT_STATUSES,
)
from pledge.vault.access import SUBJECT_ACCESS
from pledge.vault.accounts import ACCOUNT_RECORD, ACCOUNT_SECURITY
from pledge.vault.subject import SubjectData


def language() -> str:
    return "en" if (get_language() or "vi").startswith("en") else "vi"


# -- labels ---------------------------------------------------------------------------------

# Groups of the "My data" page, by fideslang category (policy/taxonomy.py), most specific first.
# Plain words for a customer, not taxonomy keys.
CATEGORY_GROUPS: tuple[tuple[str, tuple[str, ...], Any], ...] = (
    ("identity", ("user.name", "user.demographic"), gettext_lazy("Who you are")),
    ("contact", ("user.contact", "user.location"), gettext_lazy("How to reach you")),
    (
        "account",
        ("user.account", "user.authorization", "user.settings", "user.privacy_preferences"),
        gettext_lazy("Your account and preferences"),
    ),
    ("purchases", ("user.behavior.purchase_history",), gettext_lazy("Your purchases")),
    ("guarantees", ("user.unique_id",), gettext_lazy("Guarantee cards")),
    ("payments", ("user.financial", "user.payment"), gettext_lazy("Payments and invoices")),
    (
        "documents",
        ("user.government_id",),
        gettext_lazy("Identity documents (sensitive data)"),
    ),
    (
        "online",
        ("user.device", "user.behavior"),
        gettext_lazy("Your device and use of the website"),
    ),
    ("messages", ("user.content", "user.social_activity"), gettext_lazy("Messages and notes")),
    ("work", ("user.professional_information",), gettext_lazy("Work")),
)
OTHER_GROUP = ("other", gettext_lazy("Other data"))


def category_of(policy: Policy, key: str) -> str:
    try:
        declared = policy.field(key)
    except KeyError:
        declared = None
    if declared is not None and declared.category:
        return declared.category
    standard = STANDARD_FIELDS.get(key)
    return standard.category if standard else ""


def group_of(category: str) -> tuple[str, str]:
    for key, prefixes, label in CATEGORY_GROUPS:
        if any(is_within(category, prefix) for prefix in prefixes):
            return key, str(label)
    return OTHER_GROUP[0], str(OTHER_GROUP[1])


def field_label(policy: Policy, key: str, lang: str) -> str:
    """The policy's label, the standard one, or (a field the policy no longer declares) the
    key itself: a value held is shown even when no label exists for it."""
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
    try:
        return policy.purpose(key).name.get(lang)
    except KeyError:
        return key.replace("_", " ")


def role_label(policy: Policy, entry: AccessLogEntry, lang: str) -> str:
    """Which role looked (P09): the policy's role name for staff, never who."""
    if entry.actor_kind == "customer":
        return _("you")
    if entry.actor_kind == "system":
        return _("the shop's system")
    if entry.actor_kind == "api":
        return _("an API client (the shop's website or software)")
    if entry.actor_kind == "staff":
        try:
            return _("staff: %(role)s") % {"role": policy.role(entry.actor_role).name.get(lang)}
        except KeyError:
            return _("a staff member (a role no longer in the policy)")
    return _("someone else")


def localized_datetime(value: dt.datetime) -> str:
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


# -- "My data" ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """One purpose that uses a field, with its legal basis in plain words."""

    key: str
    name: str
    basis: str
    consent: bool
    live: bool  # for a consent-based purpose: is the consent live (else: not used now)


@dataclass(frozen=True)
class Shared:
    name: str
    kind: str
    purposes: str


@dataclass(frozen=True)
class ValueLine:
    """One held value and where it is held ("customer profile", "order LM-1")."""

    value: str
    where: str


@dataclass
class HeldField:
    key: str
    label: str
    sensitive: bool
    declared: bool  # False: held under an older policy, no longer declared
    values: list[ValueLine] = field(default_factory=list)
    uses: list[Use] = field(default_factory=list)
    retention: list[str] = field(default_factory=list)
    recipients: list[Shared] = field(default_factory=list)
    account_note: bool = False  # the sign-in email: kept while the account exists
    why: str = ""  # the "Used for / Kept / May be given to" block, rendered (policy text only)


@dataclass
class DataGroup:
    key: str
    label: str
    fields: list[HeldField] = field(default_factory=list)


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def _uses(policy: Policy, key: str, lang: str, live: set[str]) -> list[Use]:
    uses = []
    for p in policy.purposes:
        if key in p.fields or key in p.read_only:
            uses.append(
                Use(
                    key=p.key,
                    name=p.name.get(lang),
                    basis=str(LEGAL_BASES[p.basis]),
                    consent=p.basis == "consent",
                    live=p.key in live,
                )
            )
    return uses


def _retention(policy: Policy, key: str, kinds: Iterable[str], lang: str) -> list[str]:
    lines = []
    for rule in policy.retention:
        if not set(kinds) & set(rule.records):
            continue
        if rule.fields and key not in rule.fields:
            continue
        line = str(period_phrase(rule.period))
        if rule.description is not None:
            line = f"{line}: {rule.description.get(lang)}"
        if rule.legal_hold is not None:
            line = _("%(line)s (kept by law: %(reason)s, %(article)s)") % {
                "line": line,
                "reason": rule.legal_hold.reason.get(lang),
                "article": rule.legal_hold.article.get(lang),
            }
        lines.append(line)
    return lines


def _recipients(policy: Policy, key: str, lang: str) -> list[Shared]:
    purposes = {p.key: p.name.get(lang) for p in policy.purposes}
    return [
        Shared(
            name=r.name.get(lang),
            kind=str(RECIPIENT_KINDS[r.kind]),
            purposes=", ".join(purposes.get(p, p) for p in r.purposes),
        )
        for r in policy.recipients
        if key in r.fields
    ]


@dataclass(frozen=True)
class Explanation:
    """What the policy says about one field: the same for every customer who holds that field on
    the same record kinds, with the same consents live. Policy-derived text only."""

    uses: tuple[Use, ...]
    retention: tuple[str, ...]
    recipients: tuple[Shared, ...]
    html: SafeString


# Rendered explanations, bounded (least recently used dropped first), per process, like the
# compiled policy (policy/enforcement.py). Keys hold the policy's content hash, the language and
# policy vocabulary only (a field key, record-kind names, purpose keys); values hold text derived
# from the policy only. Nothing about a customer (no id, no value) goes in: P01, P18. A newly
# published policy has a new content hash, so its text never meets the old one's.
EXPLANATIONS_MAX = 2048
_explanations: OrderedDict[tuple[Any, ...], Explanation] = OrderedDict()
_explanations_lock = threading.Lock()


def clear_explanations() -> None:
    with _explanations_lock:
        _explanations.clear()


def explanation(
    enforced: EnforcedPolicy,
    key: str,
    kinds: Iterable[str],
    live: set[str],
    *,
    account_note: bool = False,
) -> Explanation:
    """Why `key` is held, how long it is kept and who may receive it, rendered once per (policy,
    language, record kinds it is held on, which of the consents that use it are live)."""
    policy = enforced.policy
    lang = language()
    consenting = frozenset(
        p.key
        for p in policy.purposes
        if p.basis == "consent" and (key in p.fields or key in p.read_only)
    )
    relevant = frozenset(live) & consenting
    kinds = frozenset(kinds)
    cache_key = (enforced.content_hash, get_language(), key, kinds, relevant, account_note)
    with _explanations_lock:
        found = _explanations.get(cache_key)
        if found is not None:
            _explanations.move_to_end(cache_key)
            return found
    uses = tuple(_uses(policy, key, lang, set(relevant)))
    retention = tuple(_retention(policy, key, kinds, lang))
    recipients = tuple(_recipients(policy, key, lang))
    html = render_to_string(
        "portal/center/_why.html",
        {
            "uses": uses,
            "retention": retention,
            "recipients": recipients,
            "account_note": account_note,
        },
    )
    made = Explanation(uses, retention, recipients, SafeString(html.strip()))
    with _explanations_lock:
        _explanations[cache_key] = made
        while len(_explanations) > EXPLANATIONS_MAX:
            _explanations.popitem(last=False)
    return made


def live_consents(customer_id: uuid.UUID, policy: Policy) -> set[str]:
    """The consent-based purposes the customer has a live consent for: one query (the ledger's
    derived state, as `consent.services.has_live_consent` reads it per purpose)."""
    keys = [p.key for p in consent_purposes(policy)]
    if not keys:
        return set()
    return set(
        ConsentState.objects.filter(
            customer_id=customer_id, purpose__in=keys, live=True
        ).values_list("purpose", flat=True)
    )


def data_groups(enforced: EnforcedPolicy, data: SubjectData, live: set[str]) -> list[DataGroup]:
    """The customer's data by category, each field with its uses, retention and recipients.

    `live` is the set of consent-based purposes the customer has a live consent for: a purpose
    without one is listed, marked as not using the data now (P04).
    """
    policy = enforced.policy
    lang = language()
    held: dict[str, HeldField] = {}
    kinds: dict[str, set[str]] = {}

    def add(key: str, kind: str, value: str = "", where: str = "") -> HeldField:
        entry = held.get(key)
        if entry is None:
            try:
                declared = policy.field(key)
            except KeyError:
                declared = None
            sensitive = (
                declared.sensitive
                if declared is not None and declared.sensitive is not None
                else bool(STANDARD_FIELDS.get(key) and STANDARD_FIELDS[key].sensitive)
            )
            entry = held[key] = HeldField(
                key=key,
                label=field_label(policy, key, lang),
                sensitive=sensitive,
                declared=declared is not None,
            )
        kinds.setdefault(key, set()).add(kind)
        if value:
            entry.values.append(ValueLine(value, where))
        return entry

    # Each "where" text translated once, not once per value.
    profile_where = str(RECORD_KINDS["profile"])
    account_where = _("your privacy-center account (sign-in)")
    order_where = _("order %(number)s")
    guarantee_where = _("guarantee card for %(product)s")
    invoice_where = _("invoice %(number)s")
    for key, value in data.profile.items():
        add(key, "profile", _text(value), profile_where)
    for key, value in data.account.items():
        entry = add(key, ACCOUNT_RECORD, _text(value), account_where)
        entry.account_note = True
    for order in data.orders:
        add("purchase_history", "order")
        where = order_where % {"number": order.number}
        for key, value in order.fields.items():
            add(key, "order", _text(value), where)
    for guarantee in data.guarantees:
        add("purchase_history", "guarantee")
        where = guarantee_where % {"product": guarantee.product}
        for key, value in guarantee.fields.items():
            add(key, "guarantee", _text(value), where)
    for invoice in data.invoices:
        add("payment_history", "invoice")
        where = invoice_where % {"number": invoice.number}
        for key, value in invoice.fields.items():
            add(key, "invoice", _text(value), where)
    if data.payments:
        add("payment_history", "payment")
    if data.cards:
        add("card", "payment")
    if data.documents:
        add("id_document", "id_document")
    if data.notes:
        add("staff_notes", "staff_note")
    for other in data.other:
        kind_label = RECORD_KINDS.get(other.record_kind)
        add(other.field, other.record_kind, _text(other.value), str(kind_label or ""))

    position = {f.key: i for i, f in enumerate(policy.fields)}
    groups: dict[str, DataGroup] = {}
    for key in sorted(held, key=lambda k: (position.get(k, len(position)), k)):
        entry = held[key]
        why = explanation(enforced, key, kinds[key], live, account_note=entry.account_note)
        entry.uses = list(why.uses)
        entry.retention = list(why.retention)
        entry.recipients = list(why.recipients)
        entry.why = why.html
        group_key, group_label = group_of(category_of(policy, key))
        groups.setdefault(group_key, DataGroup(group_key, group_label)).fields.append(entry)
    ordering = [g[0] for g in CATEGORY_GROUPS] + [OTHER_GROUP[0]]
    return sorted(groups.values(), key=lambda g: ordering.index(g.key))


def not_held(enforced: EnforcedPolicy, data_fields: set[str]) -> list[str]:
    """Labels of stored fields the policy declares that Pledge holds none of for this customer."""
    lang = language()
    return [
        field_label(enforced.policy, f.key, lang)
        for f in enforced.policy.fields
        if f.storage == "stored" and f.key not in data_fields
    ]


# -- "Who looked at my data" ----------------------------------------------------------------


@dataclass(frozen=True)
class AccessLine:
    at: dt.datetime
    who: str
    action: str
    purpose: str
    fields: str
    own: bool


def access_lines(enforced: EnforcedPolicy, entries: Iterable[AccessLogEntry]) -> list[AccessLine]:
    policy = enforced.policy
    lang = language()
    return [
        AccessLine(
            at=e.at,
            who=role_label(policy, e, lang),
            action=str(ACTIONS.get(e.type, e.type)),
            purpose=purpose_label(policy, e.purpose, lang) if e.purpose else "",
            fields=", ".join(field_label(policy, f, lang) for f in e.fields),
            own=e.actor_kind == "customer",
        )
        for e in entries
    ]


# -- home: where to ask for what the center does not do itself (yet) -----------------------


@dataclass(frozen=True)
class ChannelLine:
    how: str
    value: str
    what: str


def rights_channels(policy: Policy) -> list[ChannelLine]:
    if policy.rights is None:
        return []
    return [
        ChannelLine(
            how=str(CHANNEL_KINDS[ch.kind]),
            value=ch.value or "",
            what=", ".join(str(RIGHTS[r]) for r in ch.rights),
        )
        for ch in policy.rights.channels
    ]


def complaint_channels(policy: Policy) -> list[str]:
    if policy.complaints is None:
        return []
    return [channel_phrase(ch) for ch in policy.complaints.channels]


def consent_purposes(policy: Policy) -> list[Purpose]:
    return [p for p in policy.purposes if p.basis == "consent"]


def marketing_purposes(policy: Policy) -> list[Purpose]:
    return [p for p in policy.purposes if p.marketing]


# -- records of "My data" -------------------------------------------------------------------

# Currencies without minor units in practice (ISO 4217 exponent 0).
WHOLE_CURRENCIES = frozenset({"VND", "JPY", "KRW", "CLP", "ISK"})


def money(amount: Any, currency: str) -> str:
    places = 0 if currency in WHOLE_CURRENCIES else 2
    number = formats.number_format(amount, decimal_pos=places, use_l10n=True, force_grouping=True)
    return f"{number} {currency}"


@dataclass(frozen=True)
class RecordRow:
    """One order, invoice, guarantee card or payment, ready to show."""

    title: str
    when: str
    status: str
    amount: str
    detail: str
    fields: list[tuple[str, str]]


def record_rows(enforced: EnforcedPolicy, data: SubjectData) -> dict[str, list[RecordRow]]:
    policy = enforced.policy
    lang = language()
    # Every row repeats the same few labels and texts: look each up once (a customer with many
    # orders has many rows; docs/benchmarks.md).
    labels: dict[str, str] = {}
    statuses = {k: str(v) for k, v in ORDER_STATUSES.items()}
    payment_statuses = {k: str(v) for k, v in PAYMENT_STATUSES.items()}
    order_of = _("order %(number)s")
    valid = _("%(start)s to %(end)s")
    no_card = _("card not kept")

    def _labelled(values: dict[str, Any]) -> list[tuple[str, str]]:
        out = []
        for k, v in sorted(values.items()):
            label = labels.get(k)
            if label is None:
                label = labels[k] = field_label(policy, k, lang)
            out.append((label, _text(v)))
        return out

    return {
        "orders": [
            RecordRow(
                title=o.number,
                when=localized_datetime(o.placed_at),
                status=statuses.get(o.status, o.status),
                amount=money(o.total, o.currency),
                detail="; ".join(
                    f"{item.get('quantity', 1)} × {item.get('name') or item.get('sku', '')}"
                    for item in o.items
                ),
                fields=_labelled(o.fields),
            )
            for o in data.orders
        ],
        "guarantees": [
            RecordRow(
                title=g.product,
                when=valid
                % {
                    "start": localized_date(g.issued_on, lang),
                    "end": localized_date(g.valid_until, lang),
                },
                status="",
                amount="",
                detail=order_of % {"number": g.order_number} if g.order_number else "",
                fields=_labelled(g.fields),
            )
            for g in data.guarantees
        ],
        "invoices": [
            RecordRow(
                title=i.number,
                when=localized_datetime(i.issued_at),
                status="",
                amount=money(i.total, i.currency),
                detail=order_of % {"number": i.order_number},
                fields=_labelled(i.fields),
            )
            for i in data.invoices
        ],
        "payments": [
            RecordRow(
                title=order_of % {"number": p.order_number},
                when=localized_datetime(p.at),
                status=payment_statuses.get(p.status, p.status),
                amount=money(p.amount, p.currency),
                detail=p.card or no_card,
                fields=[],
            )
            for p in data.payments
        ],
    }


# -- consents (P04) -------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentSwitch:
    """One purpose's switch: its state, how it got there, and the text a click records."""

    key: str
    name: str
    description: str
    basis: str
    basis_label: str
    marketing: bool
    live: bool
    objected: bool
    data_types: str
    last_action: str
    last_at: dt.datetime | None
    last_how: str
    last_where: str
    last_version: str
    last_text: str
    receipt_id: uuid.UUID | None
    notice: str  # what a "give" click records as the text shown (P04: the exact text)


def consent_switches(rows: Iterable[Any], notices: dict[str, str]) -> list[ConsentSwitch]:
    """`rows` are `consent.services.ConsentRow`s."""
    switches = []
    for row in rows:
        last = row.last
        switches.append(
            ConsentSwitch(
                key=row.key,
                name=row.name,
                description=row.description,
                basis=row.basis,
                basis_label=row.basis_label,
                marketing=row.marketing,
                live=row.live,
                objected=row.objected,
                data_types=", ".join(row.data_types),
                last_action=str(CONSENT_ACTIONS.get(last.action, last.action)) if last else "",
                last_at=last.at if last else None,
                last_how=str(CONSENT_METHODS.get(last.method, last.method)) if last else "",
                last_where=str(CONSENT_CHANNELS.get(last.channel, last.channel)) if last else "",
                last_version=last.policy_version if last else "",
                last_text=last.notice_text if last else "",
                receipt_id=last.receipt_id if last else None,
                notice=notices.get(row.key, ""),
            )
        )
    return switches
