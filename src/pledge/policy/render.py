"""Render the public policy page from the policy file (P26, LAW.md "Privacy notice contents").

The page is generated from the same validated policy that Pledge enforces, so what customers read
and what the system does cannot drift apart. Every notice item of LAW.md has its own section; when
the policy says nothing about an item, the page says so plainly instead of hiding the gap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.utils import formats, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from pledge.policy.jurisdictions import Deadline, Profile, load_profile
from pledge.policy.schema import (
    Channel,
    ComplaintSla,
    CookieService,
    OpeningHours,
    Period,
    PeriodDuration,
    PeriodPermanent,
    PeriodUntilCancellation,
    Policy,
    Text,
)
from pledge.policy.vocabulary import (
    CHANNEL_KINDS,
    COOKIE_CATEGORIES,
    FIELD_SOURCES,
    LEGAL_BASES,
    PERIOD_STARTS,
    RECIPIENT_KINDS,
    RECORD_KINDS,
    RIGHTS,
    STANDARD_FIELDS,
    WEEKDAYS,
)

SECTIONS = (
    "purposes",
    "data",
    "processing",
    "recipients",
    "consequences",
    "retention",
    "controller",
    "rights",
    "complaints",
    "cookies",
    "breach",
    "changes",
    "versions",
)


@dataclass(frozen=True)
class VersionRow:
    version: str
    effective_date: dt.date
    material: bool
    content_hash: str
    current: bool
    upcoming: bool


def text(value: Text | None, lang: str) -> str:
    return value.get(lang) if value is not None else ""


def field_label(policy: Policy, key: str, lang: str) -> str:
    declared = policy.field(key)
    if declared.label is not None:
        return declared.label.get(lang)
    return str(STANDARD_FIELDS[key].label)


def _join(items: Iterable[str]) -> str:
    return ", ".join(item for item in items if item)


def _join_and(items: Iterable[str]) -> str:
    """`a, b and c` in the page's language."""
    parts = [item for item in items if item]
    if len(parts) < 2:
        return "".join(parts)
    return _("%(items)s and %(last)s") % {"items": ", ".join(parts[:-1]), "last": parts[-1]}


def _kind_unless_named(kind: str, name: str) -> str:
    # "Event organisers and sponsors (event organisers and sponsors)" says nothing twice.
    return "" if kind.casefold() == name.casefold() else kind


def _is_sensitive(policy: Policy, key: str) -> bool:
    declared = policy.field(key)
    if declared.sensitive is not None:
        return declared.sensitive
    std = STANDARD_FIELDS.get(key)
    return bool(std and std.sensitive)


def hours_phrase(hours: OpeningHours) -> str:
    days = hours.days
    order = list(WEEKDAYS)
    indices = sorted(order.index(d) for d in days)
    if len(indices) == 7:
        day_text = _("every day")
    elif indices == list(range(indices[0], indices[-1] + 1)) and len(indices) > 2:
        day_text = _("%(first)s to %(last)s") % {
            "first": WEEKDAYS[order[indices[0]]],
            "last": WEEKDAYS[order[indices[-1]]],
        }
    else:
        day_text = _join(str(WEEKDAYS[order[i]]) for i in indices)
    phrase = _("%(days)s, %(open)s–%(close)s") % {
        "days": day_text,
        "open": hours.open,
        "close": hours.close,
    }
    if hours.breaks:
        phrase += " " + _("(closed %(breaks)s)") % {
            "breaks": _join(f"{b.start}–{b.end}" for b in hours.breaks)
        }
    if hours.closed_on_public_holidays:
        phrase += "; " + _("closed on public holidays")
    return phrase


def period_phrase(period: Period) -> str:
    if isinstance(period, PeriodDuration):
        unit = {
            "days": ngettext("%(n)d day", "%(n)d days", period.amount),
            "months": ngettext("%(n)d month", "%(n)d months", period.amount),
            "years": ngettext("%(n)d year", "%(n)d years", period.amount),
        }[period.unit] % {"n": period.amount}
        return f"{unit} {PERIOD_STARTS[period.start]}"
    if isinstance(period, PeriodUntilCancellation):
        return _("until you ask us to cancel it")
    if isinstance(period, PeriodPermanent):
        return _("permanently, with no time limit")
    return _("as long as necessary for the purpose, then deleted")


def sla_phrase(sla: ComplaintSla) -> str:
    if sla.clock == "working_hours":
        return ngettext("within %(n)d working hour", "within %(n)d working hours", sla.hours) % {
            "n": sla.hours
        }
    return ngettext("within %(n)d hour", "within %(n)d hours", sla.hours) % {"n": sla.hours}


def deadline_phrase(deadline: Deadline) -> str:
    if deadline.amount is None:
        return _("without undue delay")
    n = deadline.amount
    base = {
        "hours": ngettext("%(n)d hour", "%(n)d hours", n),
        "working_hours": ngettext("%(n)d working hour", "%(n)d working hours", n),
        "days": ngettext("%(n)d day", "%(n)d days", n),
        "working_days": ngettext("%(n)d working day", "%(n)d working days", n),
        "months": ngettext("%(n)d month", "%(n)d months", n),
    }[deadline.unit] % {"n": n}
    return base


def channel_phrase(channel: Channel) -> str:
    label = str(CHANNEL_KINDS[channel.kind])
    if channel.value:
        label = f"{label}: {channel.value}"
    if channel.hours is not None:
        label = f"{label} ({hours_phrase(channel.hours)})"
    return label


def _cookie_lifetime(service: CookieService) -> str:
    if service.session:
        return _("until you close the browser")
    if service.max_age_days is not None:
        return ngettext("kept %(n)d day", "kept %(n)d days", service.max_age_days) % {
            "n": service.max_age_days
        }
    if service.beacon:
        return ""
    return _("how long it is kept is not stated")


def _profiles(policy: Policy) -> list[Profile]:
    return [load_profile(key) for key in policy.jurisdictions]


def build_page(policy: Policy, lang: str, versions: Sequence[VersionRow] = ()) -> dict[str, Any]:
    """The template context for one language. Call inside `translation.override(lang)`."""
    profiles = _profiles(policy)
    roles = {r.key: r.name.get(lang) for r in policy.roles}
    purposes = {p.key: p.name.get(lang) for p in policy.purposes}

    purpose_rows = [
        {
            "key": p.key,
            "name": p.name.get(lang),
            "description": p.description.get(lang),
            "basis": str(LEGAL_BASES[p.basis]),
            "consent": p.basis == "consent",
            "marketing": p.marketing,
            "fields": _join(field_label(policy, k, lang) for k in p.fields),
            "read_only": _join(field_label(policy, k, lang) for k in p.read_only),
            "roles": _join(roles[r] for r in p.roles),
        }
        for p in policy.purposes
    ]
    field_rows = [
        {
            "key": f.key,
            "label": field_label(policy, f.key, lang),
            "category": f.category or STANDARD_FIELDS[f.key].category,
            "source": str(FIELD_SOURCES[f.source]),
            "sensitive": _is_sensitive(policy, f.key),
            "transient": f.storage == "transient",
            "records": _join(str(RECORD_KINDS[r]) for r in f.records),
            "access_roles": _join(roles[r] for r in f.access_roles or []),
            "note": text(f.note, lang),
        }
        for f in policy.fields
    ]
    recipient_rows = [
        {
            "name": r.name.get(lang),
            "kind": _kind_unless_named(str(RECIPIENT_KINDS[r.kind]), r.name.get(lang)),
            "purposes": _join(purposes[p] for p in r.purposes),
            "fields": _join(field_label(policy, k, lang) for k in r.fields),
            "basis": str(LEGAL_BASES.get(r.basis, _("a request from a competent authority"))),
            "country": r.country,
            "written_instructions": r.written_instructions,
            "description": text(r.description, lang),
        }
        for r in policy.recipients
    ]
    consequence_rows = [
        {"purpose": p.name.get(lang), "text": p.consequences.get(lang)}
        for p in policy.purposes
        if p.consequences is not None
    ]
    if policy.cookies is not None and policy.cookies.refusal_consequences is not None:
        consequence_rows.append(
            {
                "purpose": _("Refusing cookies"),
                "text": policy.cookies.refusal_consequences.get(lang),
            }
        )
    retention_rows = [
        {
            "records": _join(str(RECORD_KINDS[r]) for r in rule.records),
            "fields": _join(field_label(policy, k, lang) for k in rule.fields),
            "period": period_phrase(rule.period),
            "permanent": isinstance(rule.period, PeriodPermanent),
            "open_ended": not isinstance(rule.period, PeriodDuration),
            "legal_hold": text(rule.legal_hold.reason, lang) if rule.legal_hold else "",
            "article": rule.legal_hold.article.get(lang) if rule.legal_hold else "",
            "description": text(rule.description, lang),
        }
        for rule in policy.retention
    ]
    c = policy.controller
    controller = {
        "legal_name": c.legal_name,
        "trade_name": c.trade_name or "",
        "website": c.website,
        "address": text(c.address, lang),
        "country": c.country or "",
        "tax_code": c.tax_code or "",
        "phone": c.contact.phone or "",
        "email": c.contact.email or "",
        "hotline_hours": hours_phrase(c.contact.hotline_hours) if c.contact.hotline_hours else "",
        "dpo": c.data_protection_contact,
    }
    rights = None
    if policy.rights is not None:
        rights = {
            "offered": [str(RIGHTS[r]) for r in policy.rights.offered],
            "channels": [
                {
                    "label": str(CHANNEL_KINDS[ch.kind]),
                    "value": ch.value or "",
                    "rights": _join(str(RIGHTS[r]) for r in ch.rights),
                }
                for ch in policy.rights.channels
            ],
            "identity_verification": policy.rights.identity_verification.get(lang),
        }
    deadline_rows = []
    for prof in profiles:
        steps: list[tuple[str, Deadline | None]] = [
            (_("Confirm we received your request"), prof.requests.acknowledge),
            (_("See, correct or copy your data"), prof.requests.access),
            (_("Withdraw consent, restrict or object"), prof.requests.withdraw_consent),
            (_("Delete your data"), prof.requests.erasure),
        ]
        deadline_rows.append(
            {
                "profile": prof.name.get(lang),
                "rows": [
                    {"what": what, "when": deadline_phrase(dl), "article": dl.article.get(lang)}
                    for what, dl in steps
                    if dl is not None
                ],
            }
        )
    complaints = None
    if policy.complaints is not None:
        cp = policy.complaints
        law_ack = next((p.complaints.acknowledge for p in profiles if p.complaints), None)
        complaints = {
            "channels": [channel_phrase(ch) for ch in cp.channels],
            "response": sla_phrase(cp.response) if cp.response else "",
            "acknowledgement": sla_phrase(cp.acknowledgement) if cp.acknowledgement else "",
            "law_acknowledgement": deadline_phrase(law_ack) if law_ack else "",
            "law_article": law_ack.article.get(lang) if law_ack else "",
            "evidence": cp.evidence_accepted,
            "compensation": text(cp.compensation, lang),
            "remedy": text(cp.remedy, lang),
        }
    cookies = None
    if policy.cookies is not None:
        cookies = {
            "honour_gpc": policy.cookies.honour_gpc,
            "categories": [
                {
                    "key": cat.key,
                    "name": str(COOKIE_CATEGORIES[cat.key]),
                    "description": cat.description.get(lang),
                    "essential": cat.key == "necessary",
                    # The page says what Pledge does: its cookie banner asks first for every
                    # non-essential category (LAW.md, Cookies), even where the file says
                    # `prior_consent: false` (which the linter reports as PL007).
                    "prior_consent": cat.key != "necessary",
                    "services": [
                        {
                            "name": s.name.get(lang),
                            "provider": s.provider.get(lang),
                            "description": s.description.get(lang),
                            "cookies": _join(s.cookies),
                            "lifetime": _cookie_lifetime(s),
                            "beacon": s.beacon,
                            "anonymous": not s.identifies_person,
                        }
                        for s in cat.services
                    ],
                }
                for cat in policy.cookies.categories
            ],
        }
    breach = None
    if policy.breach is not None:
        authority_deadlines = [
            {
                "authority": prof.authority.get(lang),
                "when": deadline_phrase(prof.breach.authority),
                "article": prof.breach.authority.article.get(lang),
            }
            for prof in profiles
        ]
        breach = {
            "notify_authority": policy.breach.notify_authority,
            "notify_customers": policy.breach.notify_customers,
            "cooperate": policy.breach.cooperate_with_investigation,
            "description": text(policy.breach.description, lang),
            "deadlines": authority_deadlines,
        }
    changes = None
    if policy.changes is not None:
        channel_names = {
            "website": _("on this website"),
            "email": _("by email"),
            "account_notice": _("in your account"),
        }
        changes = {
            "days": policy.changes.advance_notice_days,
            "channels": _join_and(channel_names[ch] for ch in policy.changes.channels),
            "description": text(policy.changes.description, lang),
        }
    current = next((v for v in versions if v.current), None)
    return {
        "lang": lang,
        "other_langs": [code for code in policy.languages if code != lang],
        "policy": policy,
        "name": policy.name,
        "summary": text(policy.summary, lang),
        "version": policy.version,
        "effective_date": localized_date(
            current.effective_date if current else policy.effective_date, lang
        ),
        "jurisdictions": [p.name.get(lang) for p in profiles],
        "purposes": purpose_rows,
        "fields": field_rows,
        "processing_methods": text(policy.processing_methods, lang),
        "security_measures": text(policy.security_measures, lang),
        "recipients": recipient_rows,
        "consequences": consequence_rows,
        "retention": retention_rows,
        "retention_all_bounded": all(not r["open_ended"] for r in retention_rows),
        "controller": controller,
        "dpo_email": (c.data_protection_contact.email or "") if c.data_protection_contact else "",
        "dpo_phone": (c.data_protection_contact.phone or "") if c.data_protection_contact else "",
        "rights": rights,
        "deadlines": deadline_rows,
        "complaints": complaints,
        "cookies": cookies,
        "breach": breach,
        "changes": changes,
        "versions": [
            {
                "version": v.version,
                "effective_date": localized_date(v.effective_date, lang),
                "material": v.material,
                "content_hash": v.content_hash,
                "current": v.current,
                "upcoming": v.upcoming,
            }
            for v in versions
        ],
        "sections": SECTIONS,
    }


def render_policy(
    policy: Policy,
    lang: str,
    fmt: str = "html",
    versions: Sequence[VersionRow] = (),
    *,
    standalone: bool = True,
) -> str:
    """The full public policy as an HTML document or Markdown, in `lang`."""
    with translation.override(lang):
        context = build_page(policy, lang, versions)
        context["standalone"] = standalone
        if fmt == "md":
            return render_to_string("policy/policy.md", context)
        if standalone:
            from django.contrib.staticfiles import finders

            css_path = finders.find("pledge/pledge.css")
            if isinstance(css_path, str):
                with open(css_path, encoding="utf-8") as css:
                    context["inline_css"] = css.read()
        return render_to_string("policy/standalone.html", context)


def localized_date(value: dt.date, lang: str) -> str:
    """`01/01/2026` in Vietnamese (the usual day/month/year), `1 January 2026` in English."""
    if lang == "vi":
        return value.strftime("%d/%m/%Y")
    return f"{value.day} {formats.date_format(value, 'F Y')}"
