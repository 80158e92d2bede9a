"""The customer's words for what Pledge records about them: order and payment statuses, how and
where a consent was given, who acted and what they did. Shared by the privacy center
(portal/selectors.py) and the data package (rights/export.py), so both say the same thing and
share one translation.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from pledge.audit.events import EventType

ORDER_STATUSES: dict[str, Promise] = {
    "placed": gettext_lazy("placed"),
    "paid": gettext_lazy("paid"),
    "shipped": gettext_lazy("shipped"),
    "completed": gettext_lazy("completed"),
    "cancelled": gettext_lazy("cancelled"),
}
PAYMENT_STATUSES: dict[str, Promise] = {
    "authorized": gettext_lazy("accepted"),
    "declined": gettext_lazy("declined"),
}
CONSENT_ACTIONS: dict[str, Promise] = {
    "given": gettext_lazy("given"),
    "withdrawn": gettext_lazy("withdrawn"),
    "expired": gettext_lazy("expired"),
}
CONSENT_METHODS: dict[str, Promise] = {
    "checkbox": gettext_lazy("by ticking a box"),
    "button": gettext_lazy("by pressing a button"),
    "privacy_center": gettext_lazy("with a button in this privacy center"),
    "banner_accept_all": gettext_lazy("with “Accept all” on the cookie banner"),
    "banner_reject_all": gettext_lazy("with “Reject all” on the cookie banner"),
    "banner_custom": gettext_lazy("with your own choices on the cookie banner"),
    "gpc": gettext_lazy("by your browser's Global Privacy Control signal"),
    "unsubscribe_link": gettext_lazy("with the unsubscribe link of an email"),
    "one_click": gettext_lazy("with one-click unsubscribe in your email program"),
    "api": gettext_lazy("through the shop's website or software"),
    "import": gettext_lazy("imported from the shop's earlier records"),
    "staff": gettext_lazy("recorded by the shop's staff at your request"),
    "expiry": gettext_lazy("it expired"),
}
CONSENT_CHANNELS: dict[str, Promise] = {
    "web": gettext_lazy("on the shop's website"),
    "privacy_center": gettext_lazy("in the privacy center"),
    "banner": gettext_lazy("on the cookie banner"),
    "email": gettext_lazy("by email"),
    "api": gettext_lazy("through the shop's software"),
    "phone": gettext_lazy("by phone"),
    "in_store": gettext_lazy("in the shop"),
    "import": gettext_lazy("from earlier records"),
    "staff": gettext_lazy("through the shop's staff"),
    "system": gettext_lazy("by the system"),
}
ACTOR_KINDS: dict[str, Promise] = {
    "customer": gettext_lazy("you"),
    "system": gettext_lazy("the shop's system"),
    "api": gettext_lazy("an API client (the shop's website or software)"),
    "staff": gettext_lazy("a staff member"),
}
ACTIONS: dict[str, Promise] = {
    EventType.CUSTOMER_CREATED: gettext_lazy("recorded your details"),
    EventType.CUSTOMER_UPDATED: gettext_lazy("changed your details"),
    EventType.CUSTOMER_READ: gettext_lazy("read your details"),
    EventType.CUSTOMER_LOOKUP: gettext_lazy("looked you up"),
    EventType.ORDER_PLACED: gettext_lazy("recorded an order"),
    EventType.ORDERS_READ: gettext_lazy("read your orders"),
    EventType.INVOICE_ISSUED: gettext_lazy("issued an invoice"),
    EventType.INVOICES_READ: gettext_lazy("read your invoices"),
    EventType.GUARANTEE_ISSUED: gettext_lazy("issued a guarantee card"),
    EventType.GUARANTEE_LOOKUP: gettext_lazy("looked up your guarantee card"),
    EventType.PAYMENT_AUTHORIZED: gettext_lazy("recorded a payment"),
    EventType.PAYMENT_DECLINED: gettext_lazy("recorded a declined payment"),
    EventType.PAYMENTS_READ: gettext_lazy("read your payments"),
    EventType.ID_DOCUMENT_STORED: gettext_lazy("stored a copy of your identity document"),
    EventType.ID_DOCUMENT_READ: gettext_lazy("opened the copy of your identity document"),
    EventType.ID_DOCUMENT_DELETED: gettext_lazy("deleted the copy of your identity document"),
    EventType.STAFF_NOTE_ADDED: gettext_lazy("wrote a note about you"),
    EventType.STAFF_NOTES_READ: gettext_lazy("read the notes about you"),
    EventType.BREAK_GLASS: gettext_lazy(
        "opened data outside their usual purposes, with a written reason (emergency access)"
    ),
    EventType.CUSTOMER_RECTIFIED: gettext_lazy("corrected your details"),
    EventType.ACCOUNT_EMAIL_READ: gettext_lazy("used your sign-in email to send you a message"),
}
