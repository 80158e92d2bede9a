"""The deadlines of a breach (LAW.md, "Breach notification"; P23), from the jurisdiction profiles
the policy names, so a lawyer corrects a deadline in `policy/jurisdictions/*.yaml`, not here.

- Consumer Protection Law 19/2023 Art 19(3): the shop's system attacked and customer data at risk
  -> the authority within 24 h of detection (`system_attack_authority`);
- PDPL Art 23, Decree 356/2025 Art 28: a personal-data breach -> the Ministry of Public Security
  (A05) within 72 h of detection (`authority`);
- GDPR Art 33(1): the supervisory authority within 72 h of awareness, only when the policy's
  jurisdictions include `gdpr`.

Each clock warns the owners twice before it runs out: at half time, and two hours before the end.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pledge.policy.enforcement import EnforcedPolicy
from pledge.policy.jurisdictions import Deadline, load_profile

# The second warning: this long before the deadline (when the clock is longer than twice it).
FINAL_WARNING = dt.timedelta(hours=2)
LEVELS = ("half", "final")


@dataclass(frozen=True)
class ClockSpec:
    key: str
    hours: int
    due_at: dt.datetime
    article: dict[str, str]
    summary: dict[str, str]
    warn_half_at: dt.datetime
    warn_final_at: dt.datetime


def _spec(key: str, deadline: Deadline, detected_at: dt.datetime) -> ClockSpec | None:
    # Only the hour clocks are deadlines a worker can watch; "without undue delay" (GDPR Art 34)
    # is shown on the page as a duty, not a clock.
    if deadline.unit != "hours" or deadline.amount is None:
        return None
    length = dt.timedelta(hours=deadline.amount)
    due = detected_at + length
    final = due - FINAL_WARNING if length > 2 * FINAL_WARNING else detected_at + length * 3 / 4
    return ClockSpec(
        key=key,
        hours=deadline.amount,
        due_at=due,
        article={"vi": deadline.article.vi, "en": deadline.article.en},
        summary={"vi": deadline.summary.vi, "en": deadline.summary.en},
        warn_half_at=detected_at + length / 2,
        warn_final_at=final,
    )


def clocks_for(
    enforced: EnforcedPolicy, detected_at: dt.datetime, *, customer_data_at_risk: bool
) -> list[ClockSpec]:
    """The clocks of an incident detected at `detected_at`, shortest first."""
    specs: list[ClockSpec] = []
    for jurisdiction in enforced.policy.jurisdictions:
        breach = load_profile(jurisdiction).breach
        rules: list[tuple[str, Deadline | None]] = [("authority", breach.authority)]
        if customer_data_at_risk:
            rules.append(("system_attack_authority", breach.system_attack_authority))
        for name, deadline in rules:
            if deadline is None:
                continue
            spec = _spec(f"{jurisdiction}:{name}", deadline, detected_at)
            if spec is not None:
                specs.append(spec)
    return sorted(specs, key=lambda s: (s.due_at, s.key))


def duties(enforced: EnforcedPolicy) -> list[tuple[dict[str, str], dict[str, str]]]:
    """The breach duties without a clock (record every breach, report contents, telling the data
    subjects): (article, summary) pairs for the page and the report."""
    found: list[tuple[dict[str, str], dict[str, str]]] = []
    for jurisdiction in enforced.policy.jurisdictions:
        breach = load_profile(jurisdiction).breach
        for rule in (breach.record_every_breach, breach.report_contents, breach.data_subjects):
            if rule is not None:
                found.append(
                    (
                        {"vi": rule.article.vi, "en": rule.article.en},
                        {"vi": rule.summary.vi, "en": rule.summary.en},
                    )
                )
    return found
