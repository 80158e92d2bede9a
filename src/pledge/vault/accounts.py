"""The login email of a privacy-center account, kept in the vault like every other field (P16, P18).

A `CustomerAccount` (pledge.accounts) holds no plaintext personal data. Its login email lives on
an `account` record of its vault customer (record id = the account id), AES-256-GCM encrypted
under that customer's data key, with an HMAC blind index of kind `email` to find it at sign-in.
Only this module decrypts it, to send the account a message, and every decryption is audited.

Registration creates a *temporary* customer that holds only the account record. When the email is
verified (the link proves the person owns the address), `link_to_profile` moves the account to the
customer who already has this email on their profile, if there is exactly one (someone who ordered
before registering): the account email is re-encrypted under that customer's key and the temporary
customer is crypto-shredded. That is how "see my data" shows the orders placed before registering.

The purpose of this data is `account_security`: the customer asked for an account; the email is
used to sign in and for security notices. It is built in, not a purpose of the shop's policy.
"""

from __future__ import annotations

import uuid

from django.db import transaction

from pledge.accounts.models import CustomerAccount
from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.vault.keystore import keystore
from pledge.vault.models import BlindIndex, Customer, EncryptedValue, Order, RecordKind
from pledge.vault.normalise import clean_value, normalise_email
from pledge.vault.shred import shred_after_commit
from pledge.vault.store import (
    create_data_key,
    customer_key,
    encrypted_rows,
    fast_insert,
    find_by_index,
    index_rows,
    read_values,
)

# The record kind of an account's login email. (RecordKind gains ACCOUNT with this value.)
ACCOUNT_RECORD = RecordKind.ACCOUNT.value
# The built-in purpose of account data (docs/customers.md): not a purpose of the shop's policy.
ACCOUNT_SECURITY = "account_security"
# Who decrypts the login email: Pledge itself, to send the account a message.
SYSTEM_ACCOUNTS = "system:accounts"
EMAIL = "email"
# The region only matters to phone numbers; an email index ignores it.
_REGION = "VN"


def clean_login_email(email: object) -> str:
    """The email as stored: NFC, trimmed, ≤ 254 characters, a valid address. Raises
    `pledge.vault.normalise.ValueInvalid` (its message names the rule, never the value)."""
    cleaned: str = clean_value(EMAIL, email, region=_REGION)
    return cleaned


def create_account_subject(*, account_id: uuid.UUID, email: str, language: str) -> uuid.UUID:
    """A new (temporary) customer holding only the account's encrypted login email and its blind
    index; returns its id. Runs in the caller's transaction (the account row comes next)."""
    cleaned = clean_login_email(email)
    customer_id = uuid.uuid4()
    with transaction.atomic():
        fast_insert([Customer(id=customer_id, language=language)])
        key = create_data_key(customer_id)
        fast_insert(encrypted_rows(key, ACCOUNT_RECORD, account_id, {EMAIL: cleaned}))
        fast_insert(
            index_rows(customer_id, ACCOUNT_RECORD, account_id, {EMAIL: cleaned}, region=_REGION)
        )
        record_event(
            EventType.CUSTOMER_CREATED,
            actor=SYSTEM_ACCOUNTS,
            customer_id=customer_id,
            record=f"account:{account_id}",
            purpose=ACCOUNT_SECURITY,
            fields=[EMAIL],
            details={"source": "registration"},
        )
    return customer_id


def find_account(email: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(customer id, account id) of the account whose login email this is, by its blind index.

    Nothing is decrypted, so nothing is recorded here: the sign-in, registration or reset that
    asks records its own event.
    """
    matches = find_by_index(EMAIL, normalise_email(email), ACCOUNT_RECORD)
    return matches[0] if matches else None


def account_email(*, customer_id: uuid.UUID, account_id: uuid.UUID, template: str) -> str:
    """Decrypt the login email to send the account a message (`template` names it)."""
    key = customer_key(customer_id)
    values = read_values(key, ACCOUNT_RECORD, [account_id], [EMAIL])[account_id]
    record_event(
        EventType.ACCOUNT_EMAIL_READ,
        actor=SYSTEM_ACCOUNTS,
        customer_id=customer_id,
        record=f"account:{account_id}",
        purpose=ACCOUNT_SECURITY,
        fields=[EMAIL],
        details={"template": template},
    )
    return str(values[EMAIL])


@transaction.atomic
def link_to_profile(*, account_id: uuid.UUID) -> uuid.UUID | None:
    """At email verification: join the account to the one customer whose profile has this email.

    Returns that customer's id, or None when there is none, several (which one would be a guess),
    or the one found already has an account. Moving means: re-encrypt the login email under the
    profile customer's key, point the account at that customer, and crypto-shred the temporary
    customer (its values, indexes and data key go; nothing of it remains to decrypt).
    """
    account = CustomerAccount.objects.select_for_update().get(pk=account_id)
    temporary = uuid.UUID(str(account.customer_id))
    email = str(
        read_values(customer_key(temporary), ACCOUNT_RECORD, [account_id], [EMAIL])[account_id][
            EMAIL
        ]
    )
    found = {customer for customer, _ in find_by_index(EMAIL, normalise_email(email))}
    found.discard(temporary)
    if len(found) != 1:
        return None
    target = found.pop()
    if (
        CustomerAccount.objects.filter(customer_id=target).exists()
        or Customer.objects.filter(pk=target, erased_at__isnull=False).exists()  # erased
    ):
        return None
    key = customer_key(target)
    # The old rows go first: one (record kind, record id, field) has one value and one index.
    EncryptedValue.objects.filter(customer_id=temporary).delete()
    BlindIndex.objects.filter(customer_id=temporary).delete()
    fast_insert(encrypted_rows(key, ACCOUNT_RECORD, account_id, {EMAIL: email}))
    fast_insert(index_rows(target, ACCOUNT_RECORD, account_id, {EMAIL: email}, region=_REGION))
    CustomerAccount.objects.filter(pk=account_id).update(customer_id=target)
    shred_account_subject(temporary)
    record_event(
        EventType.CUSTOMER_UPDATED,
        actor=SYSTEM_ACCOUNTS,
        customer_id=target,
        record=f"account:{account_id}",
        purpose=ACCOUNT_SECURITY,
        fields=[EMAIL],
        details={"linked_account": True},
    )
    return target


def shred_account_subject(customer_id: uuid.UUID) -> None:
    """Destroy a temporary account customer: its data key, values, indexes and the row itself
    (with its account, by cascade). Only for customers that hold nothing but an account record."""
    if not holds_only_account(customer_id):
        raise ValueError("not a temporary account customer: refusing to delete it")
    generations = keystore().generations(customer_id)
    EncryptedValue.objects.filter(customer_id=customer_id).delete()
    BlindIndex.objects.filter(customer_id=customer_id).delete()
    Customer.objects.filter(pk=customer_id).delete()
    shred_after_commit(customer_id, generations)


def holds_only_account(customer_id: uuid.UUID) -> bool:
    """Does this customer hold nothing but an account record (a temporary account customer)?"""
    return not (
        EncryptedValue.objects.filter(customer_id=customer_id)
        .exclude(record_kind=ACCOUNT_RECORD)
        .exists()
        or Order.objects.filter(customer_id=customer_id).exists()
        or Customer.objects.filter(pk=customer_id, external_ref__isnull=False).exists()
    )
