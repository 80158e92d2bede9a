"""Who a complaint belongs to when it arrives without a signed-in customer, and where answers go
(issue 7; P21, P22).

Two doors reach the complaints desk without an account: the public form and `pledge mail-in`.
Anyone can type, or put in a From header, someone else's address. So:

- A complaint is attached to an existing customer only when the sender is *verified*: mail whose
  sender passed the shop's mail server checks (DMARC, or SPF with the From matching the envelope;
  complaints/mailin.py). The customer is the one whose profile or account email this is, found by
  blind index (`pledge.rights.identity.on_file`), if exactly one and not erased.
- Otherwise a *new complainant* customer is created, as registration creates a temporary customer
  (`pledge.vault.accounts.create_account_subject`). It holds the address it wrote from (so the
  shop can answer, P22) on a `complaint` record whose id is the complainant's own customer id,
  encrypted under its own data key and blind-indexed — only when the policy declares `email` on
  `complaint` records for the `complaints` purpose (P01). Nothing of an existing customer is ever
  shown or sent to it: staff answer it by its status link and its own address.

`reply_address` is where the customer's emails about a complaint go: the complainant record's
address, else the customer's address on file (`pledge.vault.contact.contact_email`). Every
decryption is audited.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.complaints.models import Complaint
from pledge.complaints.services import PURPOSE, ComplaintInvalid
from pledge.vault.access import policy
from pledge.vault.accounts import clean_login_email
from pledge.vault.contact import contact_email
from pledge.vault.errors import NotFound, Problem
from pledge.vault.models import Customer, EncryptedValue, RecordKind
from pledge.vault.normalise import ValueInvalid, normalise_email
from pledge.vault.services import check_collectable
from pledge.vault.store import (
    KeyUnavailable,
    create_data_key,
    customer_key,
    encrypted_rows,
    fast_insert,
    find_by_index,
    index_rows,
    read_values,
)

EMAIL = "email"
COMPLAINANT_RECORD = RecordKind.COMPLAINT.value
SYSTEM_INTAKE = "system:complaints"
# Only phone numbers depend on the region; an email index ignores it.
_REGION = "VN"


def _language(language: object) -> str:
    languages = dict(settings.LANGUAGES)
    if isinstance(language, str) and language in languages:
        return language
    return str(settings.LANGUAGE_CODE)


def _clean_email(email: object) -> str | None:
    if email is None:
        return None
    try:
        return clean_login_email(email)
    except ValueInvalid as exc:
        # The message names the rule, never the value.
        raise ComplaintInvalid(
            f"the email address is invalid: {exc.message}",
            [Problem(EMAIL, exc.rule, exc.message)],
        ) from None


def _known_customer(email: str) -> uuid.UUID | None:
    from pledge.rights.identity import on_file  # late: rights imports much of the project

    found = on_file(email)
    if found is None:
        return None
    if Customer.objects.filter(pk=found, erased_at__isnull=True).exists():
        return found
    return None


def _complainant(email: str) -> uuid.UUID | None:
    """The one complainant customer (no profile, account or orders; not erased) who wrote from
    this address before: one address, one complainant, so a request for access or erasure from
    that address finds everything they sent (`rights.identity.on_file`). A stranger who types
    the address adds a complaint there but reads nothing: each complaint has its own link."""
    found = {
        c
        for c, record in find_by_index(EMAIL, normalise_email(email), COMPLAINANT_RECORD)
        if c == record
    }
    if len(found) != 1:
        return None
    customer_id = found.pop()
    from pledge.accounts.models import CustomerAccount
    from pledge.vault.models import Order

    only_complaints = not (
        not Customer.objects.filter(
            pk=customer_id, erased_at__isnull=True, external_ref__isnull=True
        ).exists()
        or CustomerAccount.objects.filter(customer_id=customer_id).exists()
        or Order.objects.filter(customer_id=customer_id).exists()
        or EncryptedValue.objects.filter(customer_id=customer_id)
        .exclude(record_kind=COMPLAINANT_RECORD)
        .exists()
    )
    return customer_id if only_complaints else None


def _email_collectable() -> bool:
    """P01: the complainant's address is kept only if the policy keeps `email` on complaints."""
    return not check_collectable(policy(), PURPOSE, {EMAIL: None}, COMPLAINANT_RECORD)


@transaction.atomic
def complainant_for(*, email: str | None, language: str, verified: bool) -> uuid.UUID:
    """The customer a complaint is filed against (see the module's docstring).

    Raises `ComplaintInvalid` naming `email` when an address is given but is not one."""
    cleaned = _clean_email(email)
    if verified and cleaned is not None:
        known = _known_customer(cleaned)
        if known is not None:
            return known
    keep_email = cleaned is not None and _email_collectable()
    if keep_email and cleaned is not None:
        earlier = _complainant(cleaned)
        if earlier is not None:
            return earlier
    customer_id = uuid.uuid4()
    fast_insert([Customer(id=customer_id, language=_language(language))])
    key = create_data_key(customer_id)
    if keep_email and cleaned is not None:
        values = {EMAIL: cleaned}
        fast_insert(encrypted_rows(key, COMPLAINANT_RECORD, customer_id, values))
        # Indexed so a later verified match (or erasure request) can find this address.
        fast_insert(
            index_rows(customer_id, COMPLAINANT_RECORD, customer_id, values, region=_REGION)
        )
    record_event(
        EventType.CUSTOMER_CREATED,
        actor=SYSTEM_INTAKE,
        customer_id=customer_id,
        record=f"{COMPLAINANT_RECORD}:{customer_id}",
        purpose=PURPOSE,
        fields=[EMAIL] if keep_email else [],
        details={"source": "complaint", "verified": bool(verified)},
    )
    return customer_id


def complainant_email(customer_id: uuid.UUID, *, reason: str, record: str = "") -> str | None:
    """The address a complainant customer wrote from (audited read), or None."""
    try:
        key = customer_key(customer_id)
    except (KeyUnavailable, NotFound):
        return None
    values = read_values(key, COMPLAINANT_RECORD, [customer_id], [EMAIL])[customer_id]
    if not values.get(EMAIL):
        return None
    record_event(
        EventType.CUSTOMER_READ,
        actor=SYSTEM_INTAKE,
        customer_id=customer_id,
        record=record or f"{COMPLAINANT_RECORD}:{customer_id}",
        purpose=PURPOSE,
        fields=[EMAIL],
        # The message the address is read for; a template name, never a value.
        details={"reason": reason[:63]},
    )
    return str(values[EMAIL])


def reply_address(complaint: Complaint, *, reason: str) -> str | None:
    """Where the customer's emails about this complaint go: the complainant record's address,
    else the customer's email on file; None when there is none (or the customer was erased)."""
    if complaint.customer_id is None:
        return None
    customer_id = uuid.UUID(str(complaint.customer_id))
    found = complainant_email(customer_id, reason=reason, record=f"complaint:{complaint.id}")
    if found:
        return found
    return contact_email(customer_id=customer_id, reason=reason)
