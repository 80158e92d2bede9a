"""Lint a shop's policy against the law: what a privacy lawyer would raise on reading it.

A policy that passes the schema can still break the law: it may keep data "permanently", sell
without keeping invoices, collect the card CVC, or promise a complaint answer slower than the law
allows. Each rule below has a stable code (PL001…; never renumbered, documented in
docs/policy-lint.md) and takes its legal article from the jurisdiction profiles the policy names
(`jurisdictions.py`), so a lawyer corrects a citation in the profile, not here. Where several
profiles apply, the strictest rule wins; PCI DSS is a contractual standard, not a jurisdiction, so
its requirements are constants.

Citations are bilingual (`Text`); a warning carries the one in the active language (`_cite`), so
`pledge policy check --lang vi` cites the law in Vietnamese.

Messages are for a shop owner: what is wrong and what to do, in plain words, through gettext.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from pledge.policy.jurisdictions import Deadline, Profile, RetentionHold, load_profile
from pledge.policy.schema import (
    ComplaintSla,
    OpeningHours,
    Period,
    PersonalField,
    Policy,
    RetentionRule,
    Text,
)
from pledge.policy.taxonomy import is_within
from pledge.policy.vocabulary import PERIOD_STARTS, RECORD_KINDS, STANDARD_FIELDS

PCI_CVC = Text(vi="PCI DSS v4.0.1 Yêu cầu 3.3.1", en="PCI DSS v4.0.1 Req 3.3.1")
PCI_PAN = Text(vi="PCI DSS v4.0.1 Yêu cầu 3.4.1, 3.5.1", en="PCI DSS v4.0.1 Req 3.4.1, 3.5.1")

CARD = "user.financial.credit_card"
CVC = "user.financial.credit_card.security_code"

# The profile whose Art 4 the vocabulary's `sensitive=True` defaults come from (vocabulary.py).
SENSITIVE_VOCABULARY_PROFILE = "vn-pdpl-2026"

# Duties the profile schema has no slot for yet (processor contracts, transfers abroad). They belong
# in the profiles; until then they live here, keyed by profile. TODO: move to `Profile`.
PROCESSOR_CONTRACT_ARTICLES = {
    "gdpr": Text(vi="khoản 3 Điều 28 GDPR", en="GDPR Art 28(3)"),
    "vn-decree13": Text(vi="Điều 39 Nghị định 13/2023/NĐ-CP", en="Decree 13/2023/ND-CP Art 39"),
    "vn-pdpl-2026": Text(
        vi="Luật Bảo vệ dữ liệu cá nhân 91/2025/QH15 (hợp đồng xử lý dữ liệu cá nhân)",
        en="PDPL 91/2025/QH15 (processing contract)",
    ),
}
TRANSFER_ABROAD_ARTICLES = {
    "vn-decree13": Text(vi="Điều 25 Nghị định 13/2023/NĐ-CP", en="Decree 13/2023/ND-CP Art 25"),
    "vn-pdpl-2026": Text(
        vi="Luật Bảo vệ dữ liệu cá nhân 91/2025/QH15 (chuyển dữ liệu cá nhân ra nước ngoài)",
        en="PDPL 91/2025/QH15 (cross-border transfer)",
    ),
}

DEFAULT_WORKING_HOURS_PER_DAY = 8.0
DAYS_PER_MONTH = 365.25 / 12

# code -> stable name. A code is never renumbered or reused; docs/policy-lint.md documents each.
LINT_CODES: dict[str, str] = {
    "PL001": "permanent-retention",
    "PL002": "missing-invoice-hold",
    "PL003": "cvc-collected",
    "PL004": "card-data-stored",
    "PL005": "sensitive-without-access-rules",
    "PL006": "no-consent-withdrawal-channel",
    "PL007": "cookies-without-prior-consent",
    "PL008": "notice-item-missing",
    "PL009": "complaint-sla-too-long",
    "PL010": "no-complaint-sla",
    "PL011": "breach-duties-missing",
    "PL012": "marketing-without-consent",
    "PL013": "open-ended-retention",
    "PL014": "processor-without-instructions",
    "PL015": "transfer-abroad-undescribed",
    "PL016": "portability-not-offered",
    "PL017": "records-without-retention",
}


@dataclass(frozen=True)
class LintWarning:
    code: str
    location: str  # a path in the policy (`retention[0].period`), "" for the whole policy
    message: str
    article: str  # the citation in the active language (`_cite`)
    name: str = ""


def lint_policy(policy: Policy) -> list[LintWarning]:
    ctx = _Context(policy, [load_profile(key) for key in policy.jurisdictions])
    warnings = [w for rule in RULES for w in rule(ctx)]
    return sorted(warnings, key=lambda w: (w.code, _natural(w.location), w.message))


# --- helpers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    policy: Policy
    profiles: list[Profile]

    def warn(self, code: str, location: str, message: str, article: str | Text) -> LintWarning:
        cited = article if isinstance(article, str) else _cite(article)
        return LintWarning(code, location, message, cited, LINT_CODES[code])

    @cached_property
    def storage_article(self) -> str:
        return _join(p.storage_limitation.article for p in self.profiles)

    @cached_property
    def hours_per_day(self) -> float:
        return _working_hours_per_day(self.policy.business_hours)


def _cite(text: Text) -> str:
    """A citation in the active language: Vietnamese under `--lang vi`, else English."""
    language = translation.get_language() or ""
    return text.vi if language.split("-")[0].lower() == "vi" else text.en


def _join(articles: Iterable[Text]) -> str:
    """The citations in the active language, each once, in order."""
    return "; ".join(dict.fromkeys(_cite(a) for a in articles))


def _natural(location: str) -> tuple[tuple[int, int | str], ...]:
    """Sort `fields[10]` after `fields[2]`."""
    return tuple(
        (0, int(index)) if index else (1, name)
        for name, index in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", location)
    )


def _category(f: PersonalField) -> str | None:
    if f.category is not None:
        return f.category
    std = STANDARD_FIELDS.get(f.key)
    return std.category if std else None


def _within_any(category: str | None, ancestors: Iterable[str]) -> bool:
    return category is not None and any(is_within(category, a) for a in ancestors)


def _sensitive_article(f: PersonalField, profiles: list[Profile]) -> str | None:
    """The article making `f` sensitive, or None when it is not sensitive data."""
    category = _category(f)
    by_law = [
        p.sensitive_data.article
        for p in profiles
        if p.sensitive_data and _within_any(category, p.sensitive_data.categories)
    ]
    if by_law:
        return _join(by_law)
    std = STANDARD_FIELDS.get(f.key)
    declared = f.sensitive if f.sensitive is not None else bool(std and std.sensitive)
    if declared:
        rule = load_profile(SENSITIVE_VOCABULARY_PROFILE).sensitive_data
        return _cite(rule.article) if rule else ""
    return None


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _working_hours_per_day(hours: OpeningHours | None) -> float:
    if hours is None:
        return DEFAULT_WORKING_HOURS_PER_DAY
    open_minutes = _minutes(hours.close) - _minutes(hours.open)
    open_minutes -= sum(_minutes(b.end) - _minutes(b.start) for b in hours.breaks)
    return max(open_minutes, 1) / 60


def _sla_limit(deadline: Deadline, clock: str, hours_per_day: float) -> float | None:
    """The longest SLA (in `clock` hours) that surely meets `deadline`; None if not comparable.

    Conservative for the shop: a period of N working days lasts at least N×24 calendar hours (the
    day of receipt is not counted, Civil Code Art 147), so a calendar SLA is compared with that
    shortest reading; a working-hours SLA is compared with N × the shop's working hours per day.
    """
    n = deadline.amount
    if n is None:  # without undue delay
        return None
    calendar = clock == "calendar"
    if deadline.unit == "working_days":
        return n * 24.0 if calendar else n * hours_per_day
    if deadline.unit == "working_hours":
        return float(n)  # N working hours never pass in less than N calendar hours
    # Calendar deadlines against a working-hours SLA: assume every day is a working day, the
    # shortest calendar span such an SLA can take.
    per_day = 24.0 if calendar else hours_per_day
    if deadline.unit == "hours":
        return float(n) if calendar else n * hours_per_day / 24
    if deadline.unit == "days":
        return n * per_day
    return n * 28 * per_day  # months: the shortest month


def _deadline_text(deadline: Deadline) -> str:
    n = deadline.amount or 0
    texts = {
        "hours": ngettext("%(n)d hour", "%(n)d hours", n),
        "working_hours": ngettext("%(n)d working hour", "%(n)d working hours", n),
        "days": ngettext("%(n)d day", "%(n)d days", n),
        "working_days": ngettext("%(n)d working day", "%(n)d working days", n),
        "months": ngettext("%(n)d month", "%(n)d months", n),
    }
    if deadline.unit == "without_undue_delay":
        return _("without undue delay")
    return texts[deadline.unit] % {"n": n}


def _sla_text(sla: ComplaintSla) -> str:
    if sla.clock == "working_hours":
        return ngettext("%(n)d working hour", "%(n)d working hours", sla.hours) % {"n": sla.hours}
    return ngettext("%(n)d hour", "%(n)d hours", sla.hours) % {"n": sla.hours}


def _period_months(period: Period) -> float | None:
    if period.kind != "duration":
        return None
    return period.amount * {"days": 1 / DAYS_PER_MONTH, "months": 1.0, "years": 12.0}[period.unit]


def _hold_months(hold: RetentionHold) -> int:
    return hold.amount * {"months": 1, "years": 12}[hold.unit]


def _strictest_holds(profiles: list[Profile]) -> list[RetentionHold]:
    """One hold per key: the longest of the profiles' (the strictest rule wins)."""
    holds: dict[str, RetentionHold] = {}
    for profile in profiles:
        for hold in profile.retention_holds:
            if hold.key not in holds or _hold_months(hold) > _hold_months(holds[hold.key]):
                holds[hold.key] = hold
    return list(holds.values())


def _holds_long_enough(rule: RetentionRule, hold: RetentionHold) -> bool:
    if rule.period.kind == "permanent":
        return True  # long enough for the hold; PL001 says what is wrong with it
    months = _period_months(rule.period)
    if months is None:
        return False
    needed = _hold_months(hold)
    if rule.period.kind == "duration" and rule.period.start != hold.start:
        # 10 years from the order ends up to a year before 10 years from the fiscal year end.
        needed += 12
    return months >= needed


# --- rules ----------------------------------------------------------------------------------------

_Rule = Callable[[_Context], Iterator[LintWarning]]


def _pl001_permanent_retention(ctx: _Context) -> Iterator[LintWarning]:
    for i, rule in enumerate(ctx.policy.retention):
        if rule.period.kind == "permanent":
            yield ctx.warn(
                "PL001",
                f"retention[{i}].period",
                _(
                    "Retention rule %(rule)s keeps data permanently. The law does not allow "
                    "keeping personal data forever: set a period after which it is deleted (for "
                    "example 2 years after the customer's last activity)."
                )
                % {"rule": rule.key},
                ctx.storage_article,
            )


def _pl002_missing_invoice_hold(ctx: _Context) -> Iterator[LintWarning]:
    selling = [p for p in ctx.policy.purposes if p.basis == "contract"]
    if not selling:
        return
    for hold in _strictest_holds(ctx.profiles):
        for kind in hold.records:
            rules = [(i, r) for i, r in enumerate(ctx.policy.retention) if kind in r.records]
            if any(r.legal_hold and _holds_long_enough(r, hold) for _i, r in rules):
                continue
            duration = ngettext("%(n)d year", "%(n)d years", hold.amount) % {"n": hold.amount}
            if hold.unit == "months":
                duration = ngettext("%(n)d month", "%(n)d months", hold.amount) % {"n": hold.amount}
            params = {
                "purpose": selling[0].key,
                "records": RECORD_KINDS[kind],
                "kind": kind,
                "duration": duration,
                "start": PERIOD_STARTS[hold.start],
                "start_key": hold.start,
            }
            if not rules:
                location = "retention" if ctx.policy.retention else ""
                message = _(
                    "You sell to customers (purpose %(purpose)s), so the law makes you keep "
                    "%(records)s for %(duration)s %(start)s. Add a retention rule for the records "
                    "%(kind)s with a legal_hold and a period of at least %(duration)s "
                    "(start: %(start_key)s)."
                )
            elif not any(r.legal_hold for _i, r in rules):
                location = f"retention[{rules[0][0]}]"
                message = _(
                    "The law makes you keep %(records)s for %(duration)s %(start)s, even when a "
                    "customer asks for deletion. Add a legal_hold to this rule so that a deletion "
                    "request restricts them instead of deleting them."
                )
            else:
                index = next(i for i, r in rules if r.legal_hold)
                location = f"retention[{index}].period"
                message = _(
                    "This period may end before the law allows: %(records)s must be kept for "
                    "%(duration)s %(start)s. Make the period at least %(duration)s with start: "
                    "%(start_key)s (or a year longer if it starts earlier)."
                )
            yield ctx.warn("PL002", location, message % params, hold.article)


def _pl003_cvc_collected(ctx: _Context) -> Iterator[LintWarning]:
    for i, f in enumerate(ctx.policy.fields):
        if _within_any(_category(f), [CVC]):
            yield ctx.warn(
                "PL003",
                f"fields[{i}]",
                _(
                    "You collect the card security code (CVC) in %(field)s. It must go straight "
                    "from the customer to your payment provider and must never be stored, not even "
                    "encrypted and not in logs. Use your payment provider's payment form so the "
                    "CVC never reaches your systems."
                )
                % {"field": f.key},
                PCI_CVC,
            )


def _pl004_card_data_stored(ctx: _Context) -> Iterator[LintWarning]:
    for i, f in enumerate(ctx.policy.fields):
        category = _category(f)
        if (
            f.storage == "stored"
            and _within_any(category, [CARD])
            and not _within_any(category, [CVC])
        ):
            yield ctx.warn(
                "PL004",
                f"fields[{i}]",
                _(
                    "You store payment card data (%(field)s). The card number must be unreadable "
                    "wherever it is stored, and staff may see at most the first 6 and last 4 "
                    "digits. Better: keep only the token your payment provider gives you, and "
                    "never the card number."
                )
                % {"field": f.key},
                PCI_PAN,
            )


def _pl005_sensitive_without_access_rules(ctx: _Context) -> Iterator[LintWarning]:
    for i, f in enumerate(ctx.policy.fields):
        if f.access_roles is not None or f.storage == "transient":
            continue  # a transient value is never stored, so no one can read it later
        article = _sensitive_article(f, ctx.profiles)
        if article is not None:
            yield ctx.warn(
                "PL005",
                f"fields[{i}]",
                _(
                    "%(field)s is sensitive personal data, but the policy does not say who may see "
                    "it. Add access_roles listing the only staff roles that may ever see it."
                )
                % {"field": f.key},
                article,
            )


def _pl006_no_consent_withdrawal_channel(ctx: _Context) -> Iterator[LintWarning]:
    consent = [p.key for p in ctx.policy.purposes if p.basis == "consent"]
    if not consent:
        return
    rights = ctx.policy.rights
    if rights is not None and any("withdraw_consent" in c.rights for c in rights.channels):
        return
    yield ctx.warn(
        "PL006",
        "rights.channels" if rights is not None else "",
        _(
            "Customers give their consent for %(purposes)s, but the policy does not say how they "
            "can withdraw it. Add a rights channel (for example their account or email) listing "
            "withdraw_consent; withdrawing must be as easy as giving consent."
        )
        % {"purposes": ", ".join(consent)},
        _join(p.consent.withdrawal.article for p in ctx.profiles),
    )


def _pl007_cookies_without_prior_consent(ctx: _Context) -> Iterator[LintWarning]:
    if ctx.policy.cookies is None:
        return
    article = _join(
        p.consent.cookies_prior_consent.article
        for p in ctx.profiles
        if p.consent.cookies_prior_consent
    )
    if not article:
        return
    for i, cat in enumerate(ctx.policy.cookies.categories):
        if cat.key != "necessary" and not cat.prior_consent:
            yield ctx.warn(
                "PL007",
                f"cookies.categories[{i}].prior_consent",
                _(
                    "%(category)s cookies are set before the visitor agrees. Only strictly "
                    "necessary cookies may be set without consent: set prior_consent to true so "
                    "they wait for the visitor's choice in the cookie banner."
                )
                % {"category": cat.key},
                article,
            )


def _pl008_notice_item_missing(ctx: _Context) -> Iterator[LintWarning]:
    articles: dict[str, list[Text]] = {}
    for profile in ctx.profiles:
        for notice_item in profile.notice.items:
            articles.setdefault(notice_item, []).append(profile.notice.article)
    for item, location, message in _missing_notice_items(ctx.policy):
        if item in articles:
            yield ctx.warn("PL008", location, message, _join(articles[item]))


def _missing_notice_items(policy: Policy) -> Iterator[tuple[str, str, str]]:
    """(notice item, location, message) for each item the policy page could not show.

    `purposes` and `data_types` cannot be missing: the schema requires one of each.
    """
    if policy.processing_methods is None:
        message = _(
            "The policy does not say how customer data is processed. Add processing_methods, for "
            "example: stored encrypted on our servers and used only by our staff and the service "
            "providers listed in this policy."
        )
        yield "processing_methods", "", message
    if not policy.recipients:
        message = _(
            "The policy names no one who receives customer data. Customers must be told who gets "
            "their data: list your delivery, payment, hosting and accounting providers under "
            "recipients."
        )
        yield "recipients", "", message
    if not any(p.consequences for p in policy.purposes):
        message = _(
            "No purpose says what happens if the customer does not give the data. Add "
            "consequences to your purposes, for example: without a delivery address we cannot "
            "ship your order."
        )
        yield "consequences", "purposes", message
    if not policy.retention:
        message = _(
            "The policy does not say how long customer data is kept. Add retention rules for each "
            "kind of record (orders, invoices, account, marketing…)."
        )
        yield "retention", "", message
    controller = policy.controller
    no_address = controller.address is None
    no_contact = controller.contact.phone is None and controller.contact.email is None
    if no_address or no_contact:
        if no_address and no_contact:
            missing = _("address, and a phone number or email,")
        elif no_address:
            missing = _("address")
        else:
            missing = _("phone number or email")
        message = _(
            "Customers cannot see who you are or how to reach you: add the %(missing)s of your "
            "business under controller."
        )
        yield "controller", "controller", message % {"missing": missing}
    if policy.rights is None:
        message = _(
            "The policy does not tell customers how to see, correct or delete their data. Add a "
            "rights section with a channel (account, email, phone…) for each."
        )
        yield "rights", "", message
    else:
        reachable = {r for channel in policy.rights.channels for r in channel.rights}
        lacking = [r for r in ("access", "rectification", "erasure") if r not in reachable]
        if lacking:
            message = _(
                "Customers have no listed way to use these rights: %(rights)s. Add a channel "
                "(account, email, phone…) under rights.channels that lists them."
            )
            params = {"rights": ", ".join(lacking)}
            yield "rights", "rights.channels", message % params
    if policy.complaints is None:
        message = _(
            "The policy does not say how customers can complain. Add a complaints section with at "
            "least one channel (phone, email…) and the time within which you answer."
        )
        yield "complaints", "", message


def _pl009_complaint_sla_too_long(ctx: _Context) -> Iterator[LintWarning]:
    complaints = ctx.policy.complaints
    if complaints is None:
        return
    laws = [p.complaints for p in ctx.profiles if p.complaints is not None]
    checks = [
        # The acknowledgement against the law's acknowledgement; the promised answer against the
        # law's start of negotiation (7 working days): an acknowledgement defaults to the law's,
        # so a slower answer breaks the law only when it also misses negotiation.
        ("acknowledgement", complaints.acknowledgement, [law.acknowledge for law in laws]),
        ("response", complaints.response, [law.negotiate or law.acknowledge for law in laws]),
    ]
    for attr, sla, deadlines in checks:
        if sla is None:
            continue
        limits = [
            (limit, d)
            for d in deadlines
            if (limit := _sla_limit(d, sla.clock, ctx.hours_per_day)) is not None
        ]
        broken = [(limit, d) for limit, d in limits if sla.hours > limit]
        if not broken:
            continue
        limit, deadline = min(broken, key=lambda pair: pair[0])
        unit = _("working hours") if sla.clock == "working_hours" else _("hours")
        yield ctx.warn(
            "PL009",
            f"complaints.{attr}.hours",
            _(
                "You promise a complaint %(what)s within %(promise)s, which can be later than the "
                "law allows (%(law)s). Promise at most %(limit)d %(unit)s."
            )
            % {
                "what": _("acknowledgement") if attr == "acknowledgement" else _("answer"),
                "promise": _sla_text(sla),
                "law": _deadline_text(deadline),
                "limit": math.floor(limit),
                "unit": unit,
            },
            deadline.article,
        )


def _pl010_no_complaint_sla(ctx: _Context) -> Iterator[LintWarning]:
    complaints = ctx.policy.complaints
    laws = [p.complaints for p in ctx.profiles if p.complaints is not None]
    if complaints is None or complaints.response is not None or not laws:
        return
    hpd = ctx.hours_per_day
    law = min(laws, key=lambda c: _sla_limit(c.acknowledge, "working_hours", hpd) or math.inf)
    negotiate = law.negotiate or law.acknowledge
    yield ctx.warn(
        "PL010",
        "complaints",
        _(
            "The policy promises no time for answering complaints, so only the law's deadlines "
            "apply: acknowledge within %(ack)s and start resolving it within %(negotiate)s. "
            "Add complaints.response with the time you promise (for example 24 working hours)."
        )
        % {"ack": _deadline_text(law.acknowledge), "negotiate": _deadline_text(negotiate)},
        law.acknowledge.article,
    )


def _pl011_breach_duties_missing(ctx: _Context) -> Iterator[LintWarning]:
    breach = ctx.policy.breach
    authority = [p.breach.authority for p in ctx.profiles]
    authority += [
        p.breach.system_attack_authority for p in ctx.profiles if p.breach.system_attack_authority
    ]
    subjects = [p.breach.data_subjects for p in ctx.profiles if p.breach.data_subjects]
    fastest = min(authority, key=lambda d: _sla_limit(d, "calendar", 24.0) or math.inf)
    params = {"deadline": _deadline_text(fastest)}
    if breach is None:
        yield ctx.warn(
            "PL011",
            "",
            _(
                "The policy says nothing about data breaches. Add a breach section: if your "
                "systems are attacked or customer data leaks, you must notify the authority "
                "(at the latest %(deadline)s after you find out) and tell affected customers."
            )
            % params,
            _join(d.article for d in authority + subjects),
        )
        return
    if not breach.notify_authority:
        yield ctx.warn(
            "PL011",
            "breach.notify_authority",
            _(
                "The policy does not promise to notify the authority of a data breach, but the "
                "law requires it (at the latest %(deadline)s after you find out). Set "
                "notify_authority to true."
            )
            % params,
            _join(d.article for d in authority),
        )
    if not breach.notify_customers and subjects:
        yield ctx.warn(
            "PL011",
            "breach.notify_customers",
            _(
                "The policy does not promise to tell customers about a data breach, but the law "
                "requires it when the breach puts them at high risk. Set notify_customers to true."
            ),
            _join(d.article for d in subjects),
        )


def _pl012_marketing_without_consent(ctx: _Context) -> Iterator[LintWarning]:
    article = _join(
        p.consent.marketing_requires_consent.article
        for p in ctx.profiles
        if p.consent.marketing_requires_consent
    )
    if not article:
        return
    for i, purpose in enumerate(ctx.policy.purposes):
        if purpose.marketing and purpose.basis != "consent":
            yield ctx.warn(
                "PL012",
                f"purposes[{i}].basis",
                _(
                    "Purpose %(purpose)s is marketing, which needs the customer's consent, but its "
                    "basis is %(basis)s. Set basis: consent and ask each customer before sending "
                    "them marketing, saying what you will send, how and how often."
                )
                % {"purpose": purpose.key, "basis": purpose.basis},
                article,
            )


def _pl013_open_ended_retention(ctx: _Context) -> Iterator[LintWarning]:
    for i, rule in enumerate(ctx.policy.retention):
        if rule.period.kind in ("until_cancellation", "until_purpose_ends"):
            yield ctx.warn(
                "PL013",
                f"retention[{i}].period",
                _(
                    "Retention rule %(rule)s has no end date: data may be kept for years if the "
                    "customer never cancels or the purpose never clearly ends. Give a period (for "
                    "example 2 years after the last activity) so old data is deleted."
                )
                % {"rule": rule.key},
                ctx.storage_article,
            )


def _pl014_processor_without_instructions(ctx: _Context) -> Iterator[LintWarning]:
    article = _join(
        PROCESSOR_CONTRACT_ARTICLES[p.key]
        for p in ctx.profiles
        if p.key in PROCESSOR_CONTRACT_ARTICLES
    )
    if not article:
        return
    for i, r in enumerate(ctx.policy.recipients):
        if r.kind == "processor" and not r.written_instructions:
            yield ctx.warn(
                "PL014",
                f"recipients[{i}].written_instructions",
                _(
                    "%(recipient)s processes customer data for you, but without written "
                    "instructions. Sign a data processing contract that says what they may do "
                    "with the data, then set written_instructions to true."
                )
                % {"recipient": r.key},
                article,
            )


def _pl015_transfer_abroad_undescribed(ctx: _Context) -> Iterator[LintWarning]:
    article = _join(
        TRANSFER_ABROAD_ARTICLES[p.key] for p in ctx.profiles if p.key in TRANSFER_ABROAD_ARTICLES
    )
    if not article:
        return
    for i, r in enumerate(ctx.policy.recipients):
        # None: the policy does not say where the recipient works; only a known country counts.
        if r.country is not None and r.country != "VN" and r.description is None:
            yield ctx.warn(
                "PL015",
                f"recipients[{i}]",
                _(
                    "%(recipient)s receives customer data outside Vietnam (%(country)s). Sending "
                    "personal data abroad needs a transfer impact assessment kept for the Ministry "
                    "of Public Security; add a description telling customers what is sent abroad "
                    "and why."
                )
                % {"recipient": r.key, "country": r.country},
                article,
            )


def _pl016_portability_not_offered(ctx: _Context) -> Iterator[LintWarning]:
    rights = ctx.policy.rights
    article = _join(p.portability.article for p in ctx.profiles if p.portability)
    if rights is None or not article or "portability" in rights.offered:
        return
    yield ctx.warn(
        "PL016",
        "rights.offered",
        _(
            "Customers have the right to receive their data in a machine-readable format (JSON "
            "or CSV), but the policy does not offer it. Add portability to rights.offered and to "
            "a channel."
        ),
        article,
    )


def _pl017_records_without_retention(ctx: _Context) -> Iterator[LintWarning]:
    if not ctx.policy.retention:
        return  # PL008 already asks for retention rules
    covered = {kind for rule in ctx.policy.retention for kind in rule.records}
    users: dict[str, list[tuple[int, int, str]]] = {}
    for i, f in enumerate(ctx.policy.fields):
        if f.storage != "stored":
            continue
        for j, kind in enumerate(f.records):
            if kind not in covered:
                users.setdefault(kind, []).append((i, j, f.key))
    for record_kind, places in users.items():
        i, j, _key = places[0]
        yield ctx.warn(
            "PL017",
            f"fields[{i}].records[{j}]",
            _(
                "%(fields)s are kept on %(records)s (%(kind)s), but no retention rule says when "
                "those records are deleted. Add a retention rule for %(kind)s."
            )
            % {
                "fields": ", ".join(key for _i, _j, key in places),
                "records": RECORD_KINDS[record_kind],
                "kind": record_kind,
            },
            ctx.storage_article,
        )


RULES: tuple[_Rule, ...] = (
    _pl001_permanent_retention,
    _pl002_missing_invoice_hold,
    _pl003_cvc_collected,
    _pl004_card_data_stored,
    _pl005_sensitive_without_access_rules,
    _pl006_no_consent_withdrawal_channel,
    _pl007_cookies_without_prior_consent,
    _pl008_notice_item_missing,
    _pl009_complaint_sla_too_long,
    _pl010_no_complaint_sla,
    _pl011_breach_duties_missing,
    _pl012_marketing_without_consent,
    _pl013_open_ended_retention,
    _pl014_processor_without_instructions,
    _pl015_transfer_abroad_undescribed,
    _pl016_portability_not_offered,
    _pl017_records_without_retention,
)
