"""The shared vocabulary of the presets: standard field keys, record kinds, legal bases, choices.

Every preset names its personal data with these keys (`full_name`, `email`, `card`, …) so that the
vault, the console and the reports speak one language whatever the shop. A policy may add its own
fields; it must then give their category and a label in every language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

LegalBasis = Literal["consent", "contract", "legal_obligation", "legitimate_interest"]
LEGAL_BASES: dict[str, Promise] = {
    "consent": _("your consent"),
    "contract": _("performing our contract with you (your order)"),
    "legal_obligation": _("a legal obligation"),
    "legitimate_interest": _("our legitimate interest"),
}

FieldSource = Literal["customer", "automatic", "staff", "third_party"]
FIELD_SOURCES: dict[str, Promise] = {
    "customer": _("given by you"),
    "automatic": _("collected automatically when you use the website"),
    "staff": _("recorded by our staff"),
    "third_party": _("received from other lawful sources"),
}

# Where a value lives: `stored` values are encrypted at rest; `transient` values may pass through a
# single call (e.g. a payment authorisation) and are never written anywhere (PCI DSS 3.3.1).
FieldStorage = Literal["stored", "transient"]

RecordKind = Literal[
    "profile",
    "account",
    "order",
    "invoice",
    "guarantee",
    "payment",
    "id_document",
    "staff_note",
    "marketing",
    "cookies",
    "analytics",
    "complaint",
    "request",
]
RECORD_KINDS: dict[str, Promise] = {
    "profile": _("customer profile"),
    "account": _("website account"),
    "order": _("orders"),
    "invoice": _("invoices and accounting documents"),
    "guarantee": _("guarantee (warranty) cards"),
    "payment": _("payment details"),
    "id_document": _("copies of identity documents"),
    "staff_note": _("staff notes"),
    "marketing": _("marketing preferences"),
    "cookies": _("cookies"),
    "analytics": _("website usage data"),
    "complaint": _("complaints"),
    "request": _("privacy requests"),
}


@dataclass(frozen=True)
class StandardField:
    category: str
    label: Promise
    sensitive: bool = False
    # Only these storages are allowed; the CVC may never be stored (PCI DSS 3.3.1).
    storages: tuple[str, ...] = ("stored", "transient")


# Decree 356/2025 Art 4 makes bank-card data, ID-card images and behaviour tracking sensitive:
# a policy cannot declare them otherwise.
STANDARD_FIELDS: dict[str, StandardField] = {
    "full_name": StandardField("user.name", _("full name")),
    "email": StandardField("user.contact.email", _("email address")),
    "phone": StandardField("user.contact.phone_number", _("phone number")),
    "address": StandardField("user.contact.address", _("address (home or office)")),
    "date_of_birth": StandardField("user.demographic.date_of_birth", _("date of birth")),
    "gender": StandardField("user.demographic.gender", _("gender")),
    "company": StandardField("user.professional_information.workplace", _("company name")),
    "password": StandardField("user.authorization.credentials", _("account password")),
    "card": StandardField(
        "user.financial.credit_card",
        _("payment card (type, number, expiry date, cardholder name)"),
        sensitive=True,
    ),
    "card_cvc": StandardField(
        "user.financial.credit_card.security_code",
        _("card security code (CVC)"),
        sensitive=True,
        storages=("transient",),
    ),
    "bank_account": StandardField(
        "user.financial.bank_account", _("bank account number"), sensitive=True
    ),
    "payment_history": StandardField("user.financial", _("payment transactions")),
    "id_document": StandardField(
        "user.government_id.document_image",
        _("copy of ID card or passport"),
        sensitive=True,
    ),
    "id_number": StandardField(
        "user.government_id.national_identification_number",
        _("ID card or passport number"),
        sensitive=True,
    ),
    "guarantee_number": StandardField("user.unique_id", _("guarantee (warranty) number")),
    "purchase_history": StandardField("user.behavior.purchase_history", _("purchase history")),
    "delivery_address": StandardField("user.contact.address", _("delivery address")),
    "ip_address": StandardField("user.device.ip_address", _("IP address")),
    "cookie_id": StandardField("user.device.cookie_id", _("cookie identifier")),
    "device_info": StandardField(
        "user.device", _("browser type, browser language and operating system")
    ),
    "browsing_activity": StandardField(
        "user.behavior.browsing_history",
        _("referring websites, pages visited and actions taken on the website"),
        sensitive=True,
    ),
    "marketing_preferences": StandardField(
        "user.privacy_preferences", _("marketing and contact preferences")
    ),
    "interests": StandardField("user.demographic.profile", _("interests and preferences")),
    "complaint_details": StandardField(
        "user.content.private", _("complaint content and evidence you send us")
    ),
    "staff_notes": StandardField("user.content.private", _("notes our staff keep about you")),
}

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: dict[str, Promise] = {
    "mon": _("Monday"),
    "tue": _("Tuesday"),
    "wed": _("Wednesday"),
    "thu": _("Thursday"),
    "fri": _("Friday"),
    "sat": _("Saturday"),
    "sun": _("Sunday"),
}

RightKind = Literal[
    "access",
    "rectification",
    "erasure",
    "restriction",
    "objection",
    "portability",
    "withdraw_consent",
]
RIGHTS: dict[str, Promise] = {
    "access": _("see the personal data we hold about you"),
    "rectification": _("correct or update your data"),
    "erasure": _("have your data deleted"),
    "restriction": _("restrict how we use your data"),
    "objection": _("object to a use of your data, including direct marketing"),
    "portability": _("receive a copy of your data in a machine-readable format"),
    "withdraw_consent": _("withdraw a consent you gave, at any time"),
}

ChannelKind = Literal["account", "email", "phone", "web_form", "post", "in_person", "hotline"]
CHANNEL_KINDS: dict[str, Promise] = {
    "account": _("by logging in to your account"),
    "email": _("by email"),
    "phone": _("by phone"),
    "web_form": _("with the form on our website"),
    "post": _("by post"),
    "in_person": _("in person at our shop"),
    "hotline": _("through our hotline"),
}

RecipientKind = Literal[
    "board",
    "processor",
    "integrated_service",
    "event_partner",
    "market_research",
    "adviser",
    "state_agency",
    "complainant",
    "partner_program",
]
RECIPIENT_KINDS: dict[str, Promise] = {
    "board": _("our management board"),
    "processor": _("service providers (processors)"),
    "integrated_service": _("third-party services integrated with our website"),
    "event_partner": _("event organisers and sponsors"),
    "market_research": _("market research companies"),
    "adviser": _("financial, legal and audit advisers"),
    "state_agency": _("competent state agencies"),
    "complainant": _("a complainant who proves a breach by the customer"),
    "partner_program": _("partners in joint or outsourced programmes"),
}

# The basis of a disclosure: the purpose bases plus a request by a competent authority.
DisclosureBasis = Literal[
    "consent", "contract", "legal_obligation", "legitimate_interest", "legal_request"
]

CookieCategoryKey = Literal["necessary", "preferences", "analytics", "advertising"]
COOKIE_CATEGORIES: dict[str, Promise] = {
    "necessary": _("strictly necessary"),
    "preferences": _("preferences"),
    "analytics": _("statistics"),
    "advertising": _("advertising"),
}

PeriodStart = Literal[
    "collection",
    "last_activity",
    "order_completion",
    "fiscal_year_end",
    "account_closure",
    "purpose_end",
]
PERIOD_STARTS: dict[str, Promise] = {
    "collection": pgettext_lazy("retention starts", "from collection"),
    "last_activity": pgettext_lazy("retention starts", "from your last activity"),
    "order_completion": pgettext_lazy("retention starts", "from the completion of the order"),
    "fiscal_year_end": pgettext_lazy("retention starts", "from the end of the fiscal year"),
    "account_closure": pgettext_lazy("retention starts", "from the closure of your account"),
    "purpose_end": pgettext_lazy("retention starts", "from the end of the purpose"),
}

SlaClock = Literal["calendar", "working_hours"]

# What a staff role may do in the console beyond reading for its purposes (issue 4).
ConsoleCapability = Literal[
    "manage_staff", "view_audit", "break_glass", "handle_requests", "resecure"
]
CONSOLE_CAPABILITIES: dict[str, Promise] = {
    "manage_staff": _("invite staff, assign roles and revoke access"),
    "view_audit": _("read and verify the audit log"),
    "break_glass": _("open a field outside its purposes, with a written reason (flagged)"),
    # Issue 6: besides the owner and the roles of the complaints purpose, who handles requests;
    # besides manage_staff, who may re-secure a customer (P20).
    "handle_requests": _("handle data-subject requests (verify, decide, carry out)"),
    "resecure": _("re-secure a customer whose data was misused: sign out, reset, re-key"),
}
