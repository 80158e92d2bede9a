"""The report to the authority (P23), one structure for the printable page and the PDF.

Its items are those LAW.md lists (Decree 356/2025 Art 28 as summarised there; GDPR Art 33(3)):
time, place, nature and actors; categories and approximate number of people and records; the
contact of the data-protection person; likely consequences; measures taken; and, for a staged
report, each stage with its time and the reasons if late; the legal deadlines; and the signature
block of the signed incident record (Decree 356 Art 28). `REQUIRED_ITEMS` names them; a test
checks each is in the page and the PDF in both languages. Labels are rendered under
`translation.override(language)`; the shop's texts are printed as staff wrote them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import translation
from django.utils.translation import gettext as _

from pledge.incidents.clocks import duties
from pledge.incidents.models import (
    Incident,
    IncidentClock,
    IncidentReport,
    IncidentStep,
    ReportStage,
    StepKind,
    System,
)
from pledge.policy.enforcement import EnforcedPolicy
from pledge.rights.notices import due_text, field_label

REQUIRED_ITEMS = (
    "controller",
    "dpo_contact",
    "time",
    "place",
    "nature",
    "actors",
    "categories",
    "people",
    "records",
    "consequences",
    "measures",
    "stages",
    "deadlines",
    "signature",
)
LANGUAGES = ("vi", "en")


@dataclass(frozen=True)
class ReportItem:
    key: str
    label: str
    lines: list[str]


@dataclass(frozen=True)
class Report:
    language: str
    title: str
    subtitle: str
    drill: bool
    reference: str
    generated: str
    items: list[ReportItem]


def _t(at: dt.datetime | None, language: str) -> str:
    return due_text(at, language) if at is not None else ""


def _or_none(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()] or [_("not known yet")]


def _contact(enforced: EnforcedPolicy, language: str) -> tuple[list[str], list[str]]:
    controller = enforced.policy.controller
    lines = [controller.legal_name]
    if controller.trade_name:
        lines.append(controller.trade_name)
    if controller.address is not None:
        lines.append(controller.address.get(language))
    if controller.tax_code:
        lines.append(_("Tax code: %(code)s") % {"code": controller.tax_code})
    lines.append(controller.website)
    contact = controller.contact
    lines += [v for v in (contact.email, contact.phone) if v]
    dpo = controller.data_protection_contact or contact
    dpo_lines = [v for v in (dpo.email, dpo.phone) if v] or [_("not given in the policy")]
    return lines, dpo_lines


def build_report(
    incident: Incident, enforced: EnforcedPolicy, language: str, *, now: dt.datetime
) -> Report:
    with translation.override(language):
        return _build(incident, enforced, language, now)


def _build(incident: Incident, enforced: EnforcedPolicy, language: str, now: dt.datetime) -> Report:
    controller, dpo = _contact(enforced, language)
    systems = [str(System(s).label) for s in incident.systems if s in System.values]
    clocks = list(IncidentClock.objects.filter(incident=incident).order_by("due_at", "key"))
    reports = list(IncidentReport.objects.filter(incident=incident).order_by("sent_at"))
    actions = list(
        IncidentStep.objects.filter(incident=incident, kind=StepKind.ACTION).order_by("at")
    )
    counts = incident.field_counts or {}
    categories = [
        f"{field_label(f, language)}: {counts[f]}" if f in counts else field_label(f, language)
        for f in sorted(set(incident.data_categories) | set(counts))
    ] or [_("not known yet")]
    scoped = incident.scoped_at is not None
    people = (
        [
            _("%(count)s customers (computed from the audit log and the vault on %(at)s)")
            % {"count": incident.affected_count, "at": _t(incident.scoped_at, language)}
        ]
        if scoped
        else [_("not computed yet")]
    )
    records = (
        [_("about %(count)s records") % {"count": incident.records_count}]
        if scoped
        else [_("not computed yet")]
    )
    measures = _or_none(incident.measures) if incident.measures else []
    measures += [f"{_t(s.at, language)}: {s.text}" for s in actions]
    stages = [
        _("%(stage)s sent %(at)s (%(clock)s)")
        % {
            "stage": ReportStage(r.stage).label,
            "at": _t(r.sent_at, language),
            "clock": r.clock_key,
        }
        + (" — " + _("late; reasons: %(reason)s") % {"reason": r.late_reason} if r.late else "")
        for r in reports
    ] or [_("this is the initial report")]
    deadlines = [
        _("%(article)s: within %(hours)s hours of detection, by %(due)s")
        % {
            "article": c.article.get(language) or c.article.get("en", ""),
            "hours": c.hours,
            "due": _t(c.due_at, language),
        }
        for c in clocks
    ]
    deadlines += [f"{a.get(language, '')}: {s.get(language, '')}" for a, s in duties(enforced)]
    items = [
        ReportItem("controller", _("Controller (the shop)"), controller),
        ReportItem("dpo_contact", _("Contact of the person in charge of data protection"), dpo),
        ReportItem(
            "time",
            _("Time of the incident"),
            [
                _("Occurred from %(start)s to %(end)s")
                % {
                    "start": _t(incident.occurred_from, language),
                    "end": _t(incident.occurred_to, language),
                },
                _("Detected %(at)s") % {"at": _t(incident.detected_at, language)},
            ],
        ),
        ReportItem("place", _("Place (systems concerned)"), systems + _lines(incident.place)),
        ReportItem("nature", _("Nature of the incident"), _or_none(incident.nature)),
        ReportItem("actors", _("Actors (who or what caused it)"), _or_none(incident.actors)),
        ReportItem("categories", _("Categories of personal data concerned"), categories),
        ReportItem("people", _("Approximate number of data subjects"), people),
        ReportItem("records", _("Approximate number of records"), records),
        ReportItem("consequences", _("Likely consequences"), _or_none(incident.consequences)),
        ReportItem("measures", _("Measures taken or proposed"), measures or [_("not known yet")]),
        ReportItem("stages", _("Report stages"), stages),
        ReportItem("deadlines", _("Legal deadlines"), deadlines),
        ReportItem(
            "signature",
            _("Signed incident record"),
            [
                _("Name and position of the person responsible: ______________________"),
                _("Signature and date: ______________________"),
            ],
        ),
    ]
    return Report(
        language=language,
        title=_("Personal data breach report"),
        subtitle=_("To the competent authority; incident %(ref)s") % {"ref": incident.reference},
        drill=incident.drill,
        reference=incident.reference,
        generated=_("Prepared %(at)s") % {"at": _t(now, language)},
        items=items,
    )


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]
