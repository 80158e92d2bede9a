"""The text a person is shown when they give or withdraw a consent, generated from the policy.

LAW.md (Consent): a consent must be provable in a printable, reproducible form, so the ledger keeps
the exact text shown (once per SHA-256, `ConsentNotice`). When the caller does not bring its own
text (a shop's checkout may show its own words), the notice is built here from the policy in force:
the purpose's name and description, the data it uses and its legal basis, in the person's language.
Text is NFC-normalised before hashing: Vietnamese diacritics arrive in both NFC and NFD.
"""

from __future__ import annotations

import hashlib
import unicodedata

from django.utils import translation
from django.utils.translation import gettext as _

from pledge.policy.render import field_label
from pledge.policy.schema import Policy, Purpose
from pledge.policy.vocabulary import COOKIE_CATEGORIES, LEGAL_BASES

COOKIE_PREFIX = "cookies:"
MAX_NOTICE_CHARS = 20_000


def normalise_notice(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def notice_hash(text: str) -> str:
    return hashlib.sha256(normalise_notice(text).encode("utf-8")).hexdigest()


def purpose_data_types(purpose: Purpose) -> list[str]:
    """The field keys a purpose covers: what it collects, then what it only reads."""
    return list(dict.fromkeys([*purpose.fields, *purpose.read_only]))


def render_purpose_notice(policy: Policy, purpose: Purpose, language: str) -> str:
    with translation.override(language):
        labels = [field_label(policy, key, language) for key in purpose_data_types(purpose)]
        lines = [
            purpose.name.get(language),
            purpose.description.get(language),
            _("Data used: %(fields)s") % {"fields": ", ".join(labels)},
            _("Legal basis: %(basis)s") % {"basis": str(LEGAL_BASES[purpose.basis])},
        ]
        if purpose.marketing:
            lines.append(
                _(
                    "This is direct marketing: you may object or withdraw at any time, and we "
                    "then stop at once."
                )
            )
        else:
            lines.append(_("You may withdraw your consent at any time."))
        lines.append(_("Controller: %(controller)s") % {"controller": policy.controller.legal_name})
    return normalise_notice("\n".join(lines))


def render_cookie_notice(policy: Policy, category: str, language: str) -> str:
    """A cookie category's description, for choices recorded without the banner's own text."""
    with translation.override(language):
        label = str(COOKIE_CATEGORIES.get(category, category))
        described = ""
        if policy.cookies is not None:
            for declared in policy.cookies.categories:
                if declared.key == category:
                    described = declared.description.get(language)
        lines = [_("Cookies: %(category)s") % {"category": label}]
        if described:
            lines.append(described)
    return normalise_notice("\n".join(lines))


def purpose_notice(purpose_key: str, language: str, *, policy: Policy | None = None) -> str:
    """The notice of a purpose of the policy in force (or of `policy`), in `language`.

    Raises KeyError when the policy declares no such purpose.
    """
    if policy is None:
        from pledge.policy.enforcement import enforced_policy

        policy = enforced_policy().policy
    if purpose_key.startswith(COOKIE_PREFIX):
        return render_cookie_notice(policy, purpose_key.removeprefix(COOKIE_PREFIX), language)
    return render_purpose_notice(policy, policy.purpose(purpose_key), language)
