"""Just-in-time notices (P25): the short notice shown where data is collected, from the policy.

A form that collects data for a purpose shows, beside it, what it collects, why, on what legal
basis, how long it is kept and who receives it, with a link to the full policy page (PDPL 2025
Art 13 and Decree 13/2023 Art 13 list these items for a notice; GDPR Art 13(1)-(2) the same).
Every sentence comes from the same policy file that the vault enforces and that renders the
policy page, so the three cannot drift apart.

`just_in_time` returns plain strings already translated into the language asked for; callers
render them (the demo storefront, later the shop's own checkout through the API).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from pledge.policy.render import field_label, period_phrase
from pledge.policy.schema import Policy, RetentionRule
from pledge.policy.vocabulary import LEGAL_BASES

NOTICE_LANGUAGES = ("vi", "en")


@dataclass(frozen=True)
class JitRow:
    """One line of the notice: a heading ("Legal basis") and its text."""

    label: str
    text: str


@dataclass(frozen=True)
class JitNotice:
    """A just-in-time notice for one purpose and the fields one form collects, in one language."""

    language: str
    purpose_key: str
    # The purpose's name and description (why), in the policy's own words.
    purpose: str
    why: str
    # Labels of the fields this form collects for the purpose, and them joined for display.
    fields: tuple[str, ...]
    collected: str
    basis: str
    # Based on consent: the customer may refuse it and withdraw it later (P04).
    consent: bool
    # How long each of the fields is kept, one sentence per retention rule that applies.
    retention: tuple[str, ...]
    # Who else receives these fields for this purpose (P10, P11); `recipients_text` is the
    # sentence to show, which says so plainly when the policy names nobody.
    recipients: tuple[str, ...]
    recipients_text: str
    # What happens if the customer does not give the data; empty when the policy does not say.
    consequences: str
    # The full policy page in the same language, anchored at this purpose.
    policy_url: str
    policy_link_text: str
    title: str
    rows: tuple[JitRow, ...]

    def as_text(self) -> str:
        """The notice as plain text, e.g. to keep the exact words shown with a consent."""
        lines = [self.title, *(f"{row.label}: {row.text}" for row in self.rows)]
        lines.append(f"{self.policy_link_text}: {self.policy_url}")
        return "\n".join(lines)


def _join(items: Sequence[str]) -> str:
    return ", ".join(item for item in items if item)


def _covers(policy: Policy, rule: RetentionRule, key: str) -> bool:
    """Does this retention rule keep this field? (On a record kind the field is held on.)"""
    if rule.fields and key not in rule.fields:
        return False
    held_on = policy.field(key).records
    # A field declared without records may be held on any record kind.
    return not held_on or bool(set(held_on) & set(rule.records))


def retention_sentences(policy: Policy, keys: Sequence[str], lang: str) -> tuple[str, ...]:
    """How long these fields are kept, in words (P17). Call inside `translation.override`."""
    sentences: list[str] = []
    transient = [k for k in keys if policy.field(k).storage == "transient"]
    stored = [k for k in keys if k not in transient]
    covered: set[str] = set()
    for rule in policy.retention:
        keys_of_rule = [k for k in stored if _covers(policy, rule, k)]
        if not keys_of_rule:
            continue
        covered.update(keys_of_rule)
        sentence = period_phrase(rule.period)
        if len(keys_of_rule) < len(stored):
            # Only part of the form is kept this long: say which part.
            sentence = _("%(fields)s: %(period)s") % {
                "fields": _join([field_label(policy, k, lang) for k in keys_of_rule]),
                "period": sentence,
            }
        if rule.legal_hold is not None:
            sentence += " " + _("(kept by law: %(reason)s)") % {
                "reason": rule.legal_hold.reason.get(lang)
            }
        sentences.append(sentence)
    uncovered = [k for k in stored if k not in covered]
    if uncovered:
        sentences.append(
            _("%(fields)s: how long it is kept is not stated in the privacy policy")
            % {"fields": _join([field_label(policy, k, lang) for k in uncovered])}
        )
    if transient:
        # PCI DSS 3.3.1: the CVC passes through the payment step and is never written anywhere.
        sentences.append(
            _("%(fields)s: used for this step only and never stored")
            % {"fields": _join([field_label(policy, k, lang) for k in transient])}
        )
    return tuple(s[:1].upper() + s[1:] for s in sentences)


def just_in_time(
    policy: Policy, purpose_key: str, fields: Sequence[str] | None, language: str
) -> JitNotice:
    """The notice for a form collecting `fields` (default: all the purpose collects) for a purpose.

    Raises ValueError when the purpose is not declared, a field is not collected for it (a form
    must never collect more than the notice beside it tells, P01), or the language is not one of
    the notice languages.
    """
    if language not in NOTICE_LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(NOTICE_LANGUAGES)}")
    try:
        purpose = policy.purpose(purpose_key)
    except KeyError:
        raise ValueError(f"the policy declares no purpose {purpose_key!r}") from None
    keys = list(dict.fromkeys(fields)) if fields is not None else list(purpose.fields)
    if not keys:
        raise ValueError("a notice is for a form that collects at least one field")
    undeclared = [k for k in keys if k not in purpose.fields]
    if undeclared:
        raise ValueError(
            f"the purpose {purpose_key!r} does not collect {', '.join(undeclared)} (P01)"
        )
    with translation.override(language):
        labels = tuple(field_label(policy, k, language) for k in keys)
        collected = _join(labels)
        basis = str(LEGAL_BASES[purpose.basis])
        consent = purpose.basis == "consent"
        retention = retention_sentences(policy, keys, language)
        recipients = tuple(
            r.name.get(language)
            for r in policy.recipients
            if purpose_key in r.purposes and set(r.fields) & set(keys)
        )
        if recipients:
            recipients_text = _join(recipients)
        else:
            shop = policy.controller.trade_name or policy.controller.legal_name
            recipients_text = _(
                "No one outside %(shop)s: the policy names no recipient for this."
            ) % {"shop": shop}
        consequences = purpose.consequences.get(language) if purpose.consequences else ""
        if consent:
            basis_text = _(
                "%(basis)s. It is optional: you may refuse, and withdraw it later as easily as "
                "you gave it."
            ) % {"basis": basis}
        else:
            basis_text = basis
        policy_url = f"{reverse('policy:page')}?lang={language}#purpose-{purpose.key}"
        rows = [
            JitRow(_("What we collect"), collected),
            JitRow(_("Why"), purpose.description.get(language)),
            JitRow(_("Legal basis"), basis_text),
            JitRow(_("How long we keep it"), " ".join(_sentence(s) for s in retention)),
            JitRow(_("Who receives it"), recipients_text),
        ]
        if consequences:
            rows.append(JitRow(_("If you do not give it"), consequences))
        return JitNotice(
            language=language,
            purpose_key=purpose.key,
            purpose=purpose.name.get(language),
            why=purpose.description.get(language),
            fields=labels,
            collected=collected,
            basis=basis,
            consent=consent,
            retention=retention,
            recipients=recipients,
            recipients_text=recipients_text,
            consequences=consequences,
            policy_url=policy_url,
            policy_link_text=_("Read the full privacy policy"),
            title=_("%(purpose)s: what happens to your data")
            % {"purpose": purpose.name.get(language)},
            rows=tuple(rows),
        )


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."
