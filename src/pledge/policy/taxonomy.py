"""Data categories compatible with the fideslang taxonomy of Fides (v3 `user.*`, none deprecated).

A policy names each personal-data field's category with one of these keys, so a shop's declarations
can be exchanged with Fides and other tools that speak fideslang. Pledge adds a few children of
fideslang keys where the law needs a finer distinction; each is marked below with its reason.
"""

from __future__ import annotations

FIDESLANG_USER_CATEGORIES: frozenset[str] = frozenset(
    {
        "user",
        "user.account",
        "user.account.username",
        "user.authorization",
        "user.authorization.credentials",
        "user.authorization.biometrics",
        "user.authorization.password",
        "user.behavior",
        "user.behavior.browsing_history",
        "user.behavior.media_consumption",
        "user.behavior.purchase_history",
        "user.behavior.search_history",
        "user.biometrics",
        "user.biometrics.fingerprint",
        "user.biometrics.retinal",
        "user.biometrics.voice",
        "user.children",
        "user.contact",
        "user.contact.address",
        "user.contact.address.city",
        "user.contact.address.country",
        "user.contact.address.postal_code",
        "user.contact.address.state",
        "user.contact.address.street",
        "user.contact.address.mailing_address",
        "user.contact.email",
        "user.contact.phone_number",
        "user.contact.social_url",
        "user.contact.fax_number",
        "user.content",
        "user.content.private",
        "user.content.public",
        "user.content.self_image",
        "user.criminal_history",
        "user.demographic",
        "user.demographic.age_range",
        "user.demographic.date_of_birth",
        "user.demographic.gender",
        "user.demographic.language",
        "user.demographic.profile",
        "user.device",
        "user.device.cookie",
        "user.device.cookie_id",
        "user.device.device_id",
        "user.device.ip_address",
        "user.device.sensor",
        "user.device.telemetry",
        "user.financial",
        "user.financial.bank_account",
        "user.financial.credit_card",
        "user.government_id",
        "user.government_id.birth_certificate",
        "user.government_id.drivers_license_number",
        "user.government_id.immigration",
        "user.government_id.national_identification_number",
        "user.government_id.passport_number",
        "user.health",
        "user.location",
        "user.name",
        "user.payment",
        "user.privacy_preferences",
        "user.professional_information",
        "user.professional_information.job_title",
        "user.professional_information.workplace",
        "user.settings",
        "user.social_activity",
        "user.unique_id",
    }
)

# Pledge extensions: children of fideslang keys, so a fideslang consumer still understands them
# by their parent.
PLEDGE_EXTENSIONS: frozenset[str] = frozenset(
    {
        # PCI DSS 3.3.1: the card security code must be told apart from the card number, because
        # it may never be stored after authorisation while the number may (unreadable).
        "user.financial.credit_card.security_code",
        # Decree 356/2025 Art 4: an image of an identity document is sensitive in itself.
        "user.government_id.document_image",
    }
)

DATA_CATEGORIES: frozenset[str] = FIDESLANG_USER_CATEGORIES | PLEDGE_EXTENSIONS


def is_within(category: str, ancestor: str) -> bool:
    """True when `category` is `ancestor` or one of its descendants (`user.contact` ⊇ `…email`)."""
    return category == ancestor or category.startswith(ancestor + ".")
