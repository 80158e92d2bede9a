"""What the storefront tells the customer, in the page's language.

The API's problem documents are for programs: their `field` and `rule` are the stable contract and
their messages are English (docs/api.md). The storefront turns each rule into a sentence in the
page's language, as a shop's own checkout would. Call these inside `translation.override`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from pledge.demoshop.backend import ApiRefused, ApiUnreachable

# What kind of input each standard field is (browsers offer the right keyboard and autofill).
_INPUTS = {
    "full_name": {"input_type": "text", "autocomplete": "name"},
    "email": {"input_type": "email", "autocomplete": "email"},
    "phone": {"input_type": "tel", "autocomplete": "tel"},
    "address": {"input_type": "textarea", "autocomplete": "street-address"},
    "delivery_address": {"input_type": "textarea", "autocomplete": "street-address"},
    "company": {"input_type": "text", "autocomplete": "organization"},
}
# Field keys from a hostile post are shown quoted: cut them short.
_SHOWN_KEY_LENGTH = 40
_SHOWN_KEYS = 5

# Rules that mean the policy does not let this purpose collect the field (P01).
_NOT_COLLECTED = {
    "field_undeclared",
    "not_declared_for_purpose",
    "not_held_on_record",
    "never_stored",
    "derived_field",
    "extra_forbidden",
}


def input_attributes(key: str) -> dict[str, str]:
    return _INPUTS.get(key, {"input_type": "text", "autocomplete": "off"})


def for_rule(rule: str) -> str:
    """A sentence for one of the API's rule codes (docs/api.md, "Rule codes")."""
    if rule in ("required", "missing"):
        return _("Please fill in this field.")
    if rule == "email_format":
        return _("Enter an email address, like name@example.com.")
    if rule == "phone_format":
        return _("Enter a phone number that can be called, like 0912 345 678.")
    if rule in ("max_length", "string_too_long"):
        return _("This is too long.")
    if rule in ("control_characters", "encoding"):
        return _("This contains characters that cannot be used here.")
    if rule in _NOT_COLLECTED:
        return _("The shop's privacy policy does not collect this at checkout (P01).")
    if rule == "consent_required":
        return _("This needs your consent, and it was not given.")
    return _("The shop's privacy service refused this (rule: %(rule)s).") % {"rule": rule[:40]}


def not_collected(keys: Sequence[str]) -> str:
    shown = [key[:_SHOWN_KEY_LENGTH] for key in keys[:_SHOWN_KEYS]]
    return ngettext(
        "This checkout does not collect %(fields)s: the shop's privacy policy does not declare "
        "it for orders (P01). Nothing was sent.",
        "This checkout does not collect %(fields)s: the shop's privacy policy does not declare "
        "them for orders (P01). Nothing was sent.",
        len(keys),
    ) % {"fields": ", ".join(f"“{key}”" for key in shown) + ("…" if len(keys) > len(shown) else "")}


def sent_twice() -> str:
    return _("This field was sent more than once. Please send the form again.")


def bad_quantity(maximum: int) -> str:
    return _("Choose a quantity from 1 to %(max)d.") % {"max": maximum}


def bad_consent() -> str:
    return _("The consent box can only be ticked or left empty. Nothing was sent.")


def unreachable() -> str:
    return _(
        "The shop's privacy service (Pledge) did not answer, so nothing was sent. "
        "Please try again in a moment."
    )


def service_misconfigured() -> str:
    return _(
        "The storefront's API key was refused by Pledge (revoked, or not allowed this purpose). "
        "Run `pledge demo` again to create a new one. Nothing was recorded."
    )


def address_unsafe() -> str:
    return _(
        "The storefront does not know Pledge's address: set PLEDGE_PUBLIC_URL. Nothing was sent."
    )


def failure(step: str, problem: ApiRefused | ApiUnreachable) -> str:
    """A step after the customer was recorded that did not go through."""
    if step == "consent":
        return _("Your consent could not be recorded: %(reason)s") % {"reason": _reason(problem)}
    return _("Your order could not be recorded: %(reason)s") % {"reason": _reason(problem)}


def _reason(problem: ApiRefused | ApiUnreachable) -> str:
    if isinstance(problem, ApiUnreachable):
        return unreachable()
    return " ".join(for_rule(item.rule) for item in problem.errors) or str(problem.status)


def money(amount: Decimal, lang: str) -> str:
    """5.200.000 ₫ (Vietnamese groups digits with dots), 5,200,000 ₫ in English."""
    grouped = f"{int(amount):,}"
    if lang == "vi":
        grouped = grouped.replace(",", ".")
    return f"{grouped} ₫"
