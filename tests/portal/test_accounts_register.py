"""Registering a privacy-center account and verifying its email (P16, P18): the email reaches a
real SMTP server, the link is confirmed with the password, the account joins the customer who
ordered before with the same email, and no plaintext email is stored anywhere."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.contrib.auth.hashers import check_password
from django.db import connection
from django.test import Client
from django.utils import timezone

from pledge.accounts import customers
from pledge.accounts.models import CustomerAccount, CustomerDevice, CustomerSession
from pledge.audit.models import AuditEvent
from pledge.consent.models import PolicyAcceptance
from pledge.notify.models import OutboxMessage
from pledge.vault.accounts import ACCOUNT_RECORD, find_account
from pledge.vault.keystore import keystore
from pledge.vault.models import BlindIndex, Customer, EncryptedValue
from pledge.vault.services import collect_customer, list_orders, place_order
from tests.portal.conftest import (
    HOME,
    PASSWORD,
    REGISTER,
    Mailbox,
    account_for,
    body_of,
    deliver,
    details,
    english,
    events,
    link_in,
    make_account,
    page_text,
)

EMAIL = "Thu.Trang@Example.com"


def register(client: Client, email: str = EMAIL, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post(
        REGISTER,
        {"email": email, "password": password, "accept_policy": "on"},
        REMOTE_ADDR=extra.pop("address", "198.51.100.40"),
        **extra,
    )


def verification_link(mailbox: Mailbox, count: int = 1) -> str:
    deliver()
    message = mailbox.wait_for(count)[count - 1]
    return link_in(message, "/me/verify/")


def test_register_verify_and_sign_in_through_a_real_mail_server(
    leman: Any, mailbox: Mailbox
) -> None:
    client = english()
    response = register(client)
    assert response.status_code == 200
    assert "Check your email" in response.content.decode()
    account = account_for(EMAIL)
    assert account.verified_at is None

    deliver()
    message = mailbox.wait_for(1)[0]
    assert message["To"] == EMAIL
    assert "Confirm your email address" in message["Subject"]
    link = link_in(message, "/me/verify/")

    # Opening the link changes nothing (mail scanners open links); the password confirms it.
    page = client.get(link)
    assert page.status_code == 200 and 'name="password"' in page.content.decode()
    account.refresh_from_db()
    assert account.verified_at is None

    response = client.post(link, {"password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == HOME
    account.refresh_from_db()
    assert account.verified_at is not None
    assert str(client.session["pledge_customer"]) == str(account.pk)
    assert CustomerSession.objects.filter(account=account).count() == 1
    assert client.cookies["pledge_device"]["httponly"]
    assert details("customer:email_verified") == [{"linked": False}]
    # The "I have read the privacy policy (version X)" box, recorded at verification (P24).
    acceptance = PolicyAcceptance.objects.get(customer_id=account.customer_id)
    assert acceptance.method == "registration" and acceptance.policy_version == leman.version

    # The link works once.
    again = Client().get(link)
    assert again.status_code == 400


def test_the_confirmation_needs_the_registration_password(leman: Any, mailbox: Mailbox) -> None:
    """A stranger who registered someone else's address cannot have them confirm it
    (account pre-hijacking): the link only works with the password chosen at registration."""
    client = english()
    register(client)
    link = verification_link(mailbox)
    response = client.post(link, {"password": "not the password at all"})
    assert response.status_code == 400
    assert "not the password chosen when registering" in response.content.decode()
    assert account_for(EMAIL).verified_at is None
    assert "pledge_customer" not in client.session
    assert details("customer:login_failed")[-1] == {"reason": "verification_password"}


def test_registering_again_before_verifying_sends_a_new_link_and_kills_the_old(
    leman: Any, mailbox: Mailbox
) -> None:
    register(english())
    first = verification_link(mailbox, 1)
    register(english(), password="another password entirely 9")
    second = verification_link(mailbox, 2)
    assert first != second
    assert CustomerAccount.objects.count() == 1
    assert english().post(first, {"password": PASSWORD}).status_code == 400
    response = english().post(second, {"password": "another password entirely 9"})
    assert response.status_code == 302


def test_registering_a_verified_email_creates_nothing_and_tells_the_owner(
    leman: Any, mailbox: Mailbox
) -> None:
    account = make_account(EMAIL)
    deliver()
    before = len(mailbox.wait_for(1))
    response = register(english(), EMAIL.upper(), "some other password 77")
    assert response.status_code == 200
    assert CustomerAccount.objects.count() == 1
    account.refresh_from_db()
    assert check_password(PASSWORD, account.password)  # unchanged
    deliver()
    message = mailbox.wait_for(before + 1)[-1]
    assert "already exists" in message["Subject"]
    body = body_of(message)
    assert "/me/login/" in body and "/me/password-reset/" in body
    assert details("customer:registered")[-1] == {"reason": "exists"}


def test_register_answers_the_same_for_known_and_unknown_emails(leman: Any) -> None:
    make_account("known@example.com")
    known = register(english(), "known@example.com", "an unrelated passphrase 1")
    unknown = register(english(), "unknown@example.com", "an unrelated passphrase 1")
    assert known.status_code == unknown.status_code == 200
    assert page_text(known, "known@example.com") == page_text(unknown, "unknown@example.com")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"email": "not an email"}, "email", "Enter a valid email address."),
        ({"email": "a" * 250 + "@example.com"}, "email", "at most 254 characters"),
        ({"email": "an\x00@example.com"}, "email", "Null characters are not allowed."),
        ({"email": "an\x07b@example.com"}, "email", "Enter a valid email address."),
        ({"password": "short"}, "password", "too short"),
        ({"password": "password1234"}, "password", "too common"),
        ({"password": "x" * 1025}, "password", "at most 1024 characters"),
        ({"accept_policy": ""}, "accept_policy", "have read the privacy policy"),
        ({"email": ["a@example.com", "b@example.com"], "password": 5}, None, None),
    ],
)
def test_bad_registrations_are_form_errors_and_change_nothing(
    leman: Any, data: dict[str, Any], field: str | None, message: str | None
) -> None:
    posted = {"email": "fine@example.com", "password": PASSWORD, "accept_policy": "on", **data}
    response = english().post(REGISTER, posted)
    if field is None:  # odd but harmless types: the last value of a list, numbers as text
        assert response.status_code in {200, 400}
    else:
        assert response.status_code == 400
        text = response.content.decode()
        assert f'id="id_{field}_errors"' in text and message is not None
        assert message in text.replace("&#x27;", "'")
        assert 'aria-invalid="true"' in text
        assert Customer.objects.count() == 0 and CustomerAccount.objects.count() == 0
        assert OutboxMessage.objects.count() == 0


def test_a_body_in_a_wrong_encoding_is_a_form_error(leman: Any) -> None:
    response = english().post(
        REGISTER,
        b"email=%FF%FE%40example.com&password=" + PASSWORD.encode() + b"&accept_policy=on",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert CustomerAccount.objects.count() == 0


def test_the_database_holds_no_plaintext_email(leman: Any) -> None:
    email = "plain.text.check@example.com"
    account = make_account(email)
    assert find_account(email) == (account.customer_id, account.pk)
    # The vault holds the email encrypted on the account record, with a blind index.
    value = EncryptedValue.objects.get(record_kind=ACCOUNT_RECORD, record_id=account.pk)
    assert email.encode() not in bytes(value.ciphertext)
    assert BlindIndex.objects.filter(record_kind=ACCOUNT_RECORD, record_id=account.pk).exists()
    # Every text column of every table, read raw.
    needles = [email, email.split("@")[0]]
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for cell in row:
                    if isinstance(cell, memoryview | bytes):
                        cell = bytes(cell).decode("utf-8", "replace")
                    if isinstance(cell, str):
                        assert not any(n in cell for n in needles), table


def test_the_account_joins_the_customer_who_ordered_before(
    leman: Any, shop_api: Any, mailbox: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    """Someone who ordered before registers with the same email: once the email is verified,
    the account belongs to that customer, and the temporary customer is crypto-shredded."""
    ordered = collect_customer(
        actor=shop_api,
        purpose="order_fulfilment",
        fields={"email": "buyer@example.com", "full_name": "Nguyễn Văn An"},
    )
    place_order(
        actor=shop_api,
        purpose="order_fulfilment",
        customer_id=ordered,
        number="A-1001",
        total="1500000",
        items=[{"sku": "R1", "name": "Ring", "quantity": 1, "unit_price": "1500000"}],
    )
    client = english()
    register(client, "Buyer@Example.com")
    temporary = account_for("buyer@example.com").customer_id
    assert temporary != ordered
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(verification_link(mailbox), {"password": PASSWORD})
    assert response.status_code == 302

    account = account_for("buyer@example.com")
    assert account.customer_id == ordered
    assert not Customer.objects.filter(pk=temporary).exists()
    assert keystore().generations(temporary) == []  # its key destroyed once the link committed
    assert not EncryptedValue.objects.filter(customer_id=temporary).exists()
    assert details("customer:email_verified")[-1] == {"linked": True}
    # The customer now sees the orders placed before registering.
    actor = customers_actor(account)
    assert [
        o.number for o in list_orders(actor=actor, purpose="subject_access", customer_id=ordered)
    ] == ["A-1001"]
    # Messages to the account go to the login email, now decrypted under the customer's key.
    customers.request_password_reset(
        email="buyer@example.com", address="198.51.100.1", links=_links()
    )
    deliver()
    assert mailbox.wait_for(2)[-1]["To"] == "Buyer@Example.com"


def test_no_join_when_two_customers_share_the_email(
    leman: Any, shop_api: Any, mailbox: Mailbox
) -> None:
    for name in ("An", "Bình"):
        collect_customer(
            actor=shop_api,
            purpose="order_fulfilment",
            fields={"email": "shared@example.com", "full_name": name},
        )
    account = make_account("shared@example.com")
    assert account.customer_id not in set(
        Customer.objects.exclude(pk=account.customer_id).values_list("pk", flat=True)
    )
    assert Customer.objects.count() == 3
    assert details("customer:email_verified")[-1] == {"linked": False}


def test_unverified_accounts_are_purged_with_their_vault_data(leman: Any, settings: Any) -> None:
    settings.PLEDGE_VERIFY_EMAIL_SECONDS = 3600
    stale = make_account("stale@example.com", verified=False)
    fresh = make_account("fresh@example.com", verified=False)
    verified = make_account("verified@example.com")
    CustomerAccount.objects.filter(pk__in=[stale.pk, verified.pk]).update(
        created_at=timezone.now() - dt.timedelta(hours=2)
    )
    assert customers.purge_unverified(timezone.now()) == 1
    assert not CustomerAccount.objects.filter(pk=stale.pk).exists()
    assert not Customer.objects.filter(pk=stale.customer_id).exists()
    assert not EncryptedValue.objects.filter(customer_id=stale.customer_id).exists()
    assert not BlindIndex.objects.filter(customer_id=stale.customer_id).exists()
    assert find_account("stale@example.com") is None
    assert CustomerAccount.objects.filter(pk__in=[fresh.pk, verified.pk]).count() == 2
    assert customers.purge_unverified(timezone.now()) == 0
    # The same email can register again afterwards.
    assert make_account("stale@example.com").verified_at is not None


def test_a_verification_link_expires(leman: Any, settings: Any, mailbox: Mailbox) -> None:
    client = english()
    register(client)
    link = verification_link(mailbox)
    settings.PLEDGE_VERIFY_EMAIL_SECONDS = 300
    token = link.rstrip("/").rsplit("/", 1)[-1]
    # A token signed six minutes ago (TimestampSigner reads the time from the token).
    from django.core import signing

    payload = signing.loads(token, salt="pledge.accounts.customer_verify")
    old = signing.TimestampSigner(salt="pledge.accounts.customer_verify")
    old.timestamp = lambda: signing.b62_encode(int(timezone.now().timestamp()) - 360)  # type: ignore[method-assign]
    expired = old.sign_object(payload)
    assert client.get(f"/me/verify/{expired}/").status_code == 400
    assert client.get(link).status_code == 200


@pytest.mark.parametrize("token", ["x", "a" * 5000, "%00", "..%2F..%2F", str(uuid.uuid4())])
def test_forged_or_garbage_links_are_refused(leman: Any, token: str) -> None:
    for path in (f"/me/verify/{token}/", f"/me/password-reset/{token}/"):
        assert english().get(path).status_code in {400, 404}
        assert english().post(path, {"password": PASSWORD}).status_code in {400, 404}
    assert not AuditEvent.objects.filter(type="customer:email_verified").exists()


def test_the_first_sign_in_after_verification_is_not_a_new_device(
    leman: Any, mailbox: Mailbox
) -> None:
    client = english()
    register(client)
    client.post(verification_link(mailbox), {"password": PASSWORD})
    assert CustomerDevice.objects.count() == 1
    assert not events("customer:new_device")
    deliver()
    assert len(mailbox.settle(0.3)) == 1  # the verification email only


# ── helpers ───────────────────────────────────────────────────────────────────────────────────


def customers_actor(account: CustomerAccount) -> Any:
    from pledge.vault.access import Actor

    return Actor(kind="customer", id=str(account.customer_id))


def _links() -> customers.Links:
    from tests.portal.conftest import _TEST_LINKS

    return _TEST_LINKS
