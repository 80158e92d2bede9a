"""Where to write to a customer about their own data-subject request (issue 6; P18).

The answer to a request (acknowledgement, extension, denial, data package link, erasure answer)
goes to the address the shop already holds, never to one a requester typed: someone asking about
another person's email address learns nothing, and the results reach only the person on file.

The account's login email wins (the customer proved it when they verified the account); without an
account, the `email` field of the profile. Both are decrypted here, at store level like
`vault.accounts.account_email`, because the purpose is the law's (answering the data subject,
Decree 356/2025 Art 5; GDPR Art 12(3)), not a purpose of the shop's policy. Every decryption is
audited as a `vault:read` of the field, purpose `data_subject_rights`, actor `system:rights`.
"""

from __future__ import annotations

import uuid

from pledge.accounts.models import CustomerAccount
from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.vault.accounts import ACCOUNT_RECORD, EMAIL
from pledge.vault.errors import NotFound
from pledge.vault.models import RecordKind
from pledge.vault.store import KeyUnavailable, customer_key, read_values

# The built-in purpose of answering a data-subject request: not a purpose of the shop's policy.
DATA_SUBJECT_RIGHTS = "data_subject_rights"
SYSTEM_RIGHTS = "system:rights"


def contact_email(*, customer_id: uuid.UUID, reason: str) -> str | None:
    """The customer's email on file, or None when there is none (a phone-only customer) or it
    can no longer be read (erased). `reason` names the message, for the audit log."""
    try:
        key = customer_key(customer_id)
    except (KeyUnavailable, NotFound):
        return None
    account = (
        CustomerAccount.objects.filter(customer_id=customer_id, disabled_at__isnull=True)
        .only("id")
        .first()
    )
    if account is not None:
        values = read_values(key, ACCOUNT_RECORD, [account.pk], [EMAIL])[account.pk]
        if values.get(EMAIL):
            _record(customer_id, f"account:{account.pk}", reason)
            return str(values[EMAIL])
    profile = read_values(key, RecordKind.PROFILE, [customer_id], [EMAIL])[customer_id]
    if profile.get(EMAIL):
        _record(customer_id, f"profile:{customer_id}", reason)
        return str(profile[EMAIL])
    # A complainant with no profile (the public form, an unknown mail sender): the address the
    # complaint came from, on the complaint record named by the customer's own id
    # (complaints/intake.py), so their requests and answers reach them too.
    complainant = read_values(key, RecordKind.COMPLAINT, [customer_id], [EMAIL])[customer_id]
    if not complainant.get(EMAIL):
        return None
    _record(customer_id, f"complaint:{customer_id}", reason)
    return str(complainant[EMAIL])


def _record(customer_id: uuid.UUID, record: str, reason: str) -> None:
    record_event(
        EventType.CUSTOMER_READ,
        actor=SYSTEM_RIGHTS,
        customer_id=customer_id,
        record=record,
        purpose=DATA_SUBJECT_RIGHTS,
        fields=[EMAIL],
        # The message the address is read for; a template name, never a value.
        details={"reason": reason[:63]},
    )
