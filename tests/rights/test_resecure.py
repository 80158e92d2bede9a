"""Re-secure a customer after misuse (P20; issue 6 item 6): every privacy-center session ends, the
old password stops working and a reset link goes out, the data is re-keyed, the customer is told
in their language, and the audit event carries counts only. Real accounts (the privacy center's
services), a real SMTP server, the real login and reset pages.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.utils import translation
from django.utils.translation import gettext

from pledge.accounts.models import CustomerAccount, CustomerSession
from pledge.audit.events import EventType
from pledge.audit.models import AuditEvent
from pledge.rights.resecure import (
    ResecureInvalid,
    ResecureUnavailable,
    resecure_customer,
)
from pledge.vault import services as vault
from pledge.vault.access import Actor
from pledge.vault.errors import AccessRefused, NotFound
from pledge.vault.models import Customer
from tests.portal.conftest import (
    PASSWORD,
    customer_client,
    english,
    login_email,
    make_account,
    sign_in,
)
from tests.smtp import Mailbox, body_of, deliver_outbox, link_in

OWNER = Actor(kind="staff", id="7", role="owner")
EMAIL = "lan.anh@example.vn"
WHAT_HAPPENED = "An employee sent your order details to another customer by mistake."
PUBLIC = "http://testserver"


@pytest.fixture(autouse=True)
def quick_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["tests.portal.conftest.QuickArgon2PasswordHasher"]


@pytest.fixture
def account(leman: Any) -> CustomerAccount:
    return make_account(EMAIL, language="en")


def customer_of(account: CustomerAccount) -> uuid.UUID:
    return uuid.UUID(str(account.customer_id))


def _subject_starts() -> tuple[str, ...]:
    """The re-secure subject's fixed start in each language (it ends with the shop's name)."""
    starts = []
    for language in ("en", "vi"):
        with translation.override(language):
            text = gettext("We have re-secured your data at %(shop)s")
        starts.append(text.split("%(shop)s")[0].strip().lower())
    return tuple(starts)


def resecured_mail(mailbox: Mailbox, count: int = 1) -> list[Any]:
    deliver_outbox()
    mailbox.wait_for(count)
    starts = _subject_starts()
    return [m for m in mailbox.settle(0.2) if str(m["Subject"]).strip().lower().startswith(starts)]


def test_p20_resecure_signs_out_everywhere_resets_rekeys_and_tells_the_customer(
    account: CustomerAccount, mailbox: Mailbox
) -> None:
    customer_id = customer_of(account)
    phone, laptop = customer_client(account), customer_client(account)
    assert phone.get("/me/").status_code == 200
    assert CustomerSession.objects.filter(account=account).count() == 2
    generation = Customer.objects.get(pk=customer_id).key_generation
    mailbox.messages.clear()

    report = resecure_customer(
        actor=OWNER, customer_id=customer_id, reason=WHAT_HAPPENED, public_url=PUBLIC
    )

    assert (report.sessions_revoked, report.password_reset, report.notified) == (2, True, True)
    assert report.values >= 1  # the login email, re-encrypted
    # Every session is gone: the next request of each browser is anonymous.
    for browser in (phone, laptop):
        response = browser.get("/me/")
        assert response.status_code == 302 and "/me/login/" in response["Location"]
    assert not CustomerSession.objects.filter(account=account).exists()
    # The old password no longer signs in.
    refused = sign_in(english(), EMAIL, PASSWORD)
    assert refused.status_code != 302
    # A new data key; the data is still there, readable under it.
    assert Customer.objects.get(pk=customer_id).key_generation == generation + 1
    assert login_email(CustomerAccount.objects.get(pk=account.pk)) == EMAIL

    (mail,) = resecured_mail(mailbox)
    assert mail["To"] == EMAIL
    assert mail["Content-Language"] == "en"
    text = body_of(mail)
    assert WHAT_HAPPENED in text
    assert "2 signed-in sessions of your privacy-center account were ended" in text
    assert "new key" in text
    # What to do: the reset link in the same email works, once.
    path = link_in(mail, "/me/password-reset/")
    assert f"{PUBLIC}{path}" in text
    browser = english()
    page = browser.get(path)
    assert page.status_code == 200
    new_password = "quiet orchard violin 77"
    done = browser.post(path, {"password": new_password})
    assert done.status_code == 302 and done["Location"] == "/me/login/"
    assert sign_in(english(), EMAIL, new_password).status_code == 302
    assert browser.get(path).status_code == 400  # used: the link died with the old hash

    event = AuditEvent.objects.get(type=EventType.RIGHTS_RESECURED)
    assert (event.actor, event.actor_role, event.customer_id) == ("staff:7", "owner", customer_id)
    assert event.details == (
        '{"files":0,"notified":true,"password_reset":true,"sessions_revoked":2,"values":'
        f"{report.values}}}"
    )
    for secret in (EMAIL, WHAT_HAPPENED, "password-reset"):
        assert secret not in event.canonical
    assert AuditEvent.objects.filter(
        type=EventType.CUSTOMER_REKEYED, customer_id=customer_id
    ).exists()


def test_the_email_is_in_the_customers_language(leman: Any, mailbox: Mailbox) -> None:
    account = make_account("minh@example.vn", language="vi")
    Customer.objects.filter(pk=account.customer_id).update(language="vi")
    mailbox.messages.clear()
    resecure_customer(
        actor=OWNER, customer_id=customer_of(account), reason=WHAT_HAPPENED, public_url=PUBLIC
    )
    (mail,) = resecured_mail(mailbox)
    assert mail["Content-Language"] == "vi"


def test_a_customer_without_an_account_is_rekeyed_and_told(
    leman: Any, shop_api: Actor, mailbox: Mailbox
) -> None:
    customer_id = vault.collect_customer(
        actor=shop_api,
        purpose="order_fulfilment",
        fields={"full_name": "Phạm Thu Hà", "email": "thu.ha@example.vn", "phone": "0903 111 222"},
    )
    # No account, so no reset link is needed and PLEDGE_PUBLIC_URL need not be set.
    report = resecure_customer(actor=OWNER, customer_id=customer_id, reason=WHAT_HAPPENED)
    assert (report.sessions_revoked, report.password_reset, report.notified) == (0, False, True)
    assert report.values == 3
    (mail,) = resecured_mail(mailbox)
    assert mail["To"] == "thu.ha@example.vn"
    text = body_of(mail)
    assert "/me/password-reset/" not in text and "session" not in text
    view = vault.read_customer(
        actor=Actor(kind="staff", id="8", role="customer_service"),
        purpose="order_fulfilment",
        customer_id=customer_id,
        fields=["full_name"],
    )
    assert view.fields["full_name"] == "Phạm Thu Hà"


def test_a_customer_without_an_email_is_rekeyed_but_cannot_be_emailed(
    leman: Any, shop_api: Actor, mailbox: Mailbox
) -> None:
    customer_id = vault.collect_customer(
        actor=shop_api, purpose="order_fulfilment", fields={"phone": "0903 111 333"}
    )
    report = resecure_customer(actor=OWNER, customer_id=customer_id, reason=WHAT_HAPPENED)
    assert (report.notified, report.values) == (False, 1)
    deliver_outbox()
    assert mailbox.settle(0.2) == []


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "write what happened"),
        ("   \n ", "write what happened"),
        (None, "write what happened"),
        (["a list"], "write what happened"),
        ("x" * 1001, "longer than 1000"),
        (f"Your address {EMAIL} leaked", "must not contain"),
        ("Call us on 0912 345 678", "must not contain"),
    ],
)
def test_a_bad_explanation_changes_nothing(
    account: CustomerAccount, mailbox: Mailbox, reason: Any, message: str
) -> None:
    customer_id = customer_of(account)
    browser = customer_client(account)
    generation = Customer.objects.get(pk=customer_id).key_generation
    events = AuditEvent.objects.count()
    mailbox.messages.clear()
    with pytest.raises(ResecureInvalid, match=message):
        resecure_customer(actor=OWNER, customer_id=customer_id, reason=reason, public_url=PUBLIC)
    assert browser.get("/me/").status_code == 200
    assert Customer.objects.get(pk=customer_id).key_generation == generation
    assert AuditEvent.objects.count() == events
    assert sign_in(english(), EMAIL, PASSWORD).status_code == 302
    deliver_outbox()
    assert resecured_mail(mailbox, 0) == []


def test_it_needs_an_address_for_the_reset_link(account: CustomerAccount, settings: Any) -> None:
    settings.PLEDGE_PUBLIC_URL = ""
    customer_id = customer_of(account)
    with pytest.raises(ResecureInvalid, match="PLEDGE_PUBLIC_URL"):
        resecure_customer(actor=OWNER, customer_id=customer_id, reason=WHAT_HAPPENED)
    assert CustomerSession.objects.filter(account=account).count() == 0  # none opened here
    assert sign_in(english(), EMAIL, PASSWORD).status_code == 302
    settings.PLEDGE_PUBLIC_URL = "https://privacy.leman.test"
    report = resecure_customer(actor=OWNER, customer_id=customer_id, reason=WHAT_HAPPENED)
    assert report.password_reset


def test_only_staff_resecure_and_only_known_customers(account: CustomerAccount, leman: Any) -> None:
    customer_id = customer_of(account)
    for actor in (
        Actor(kind="customer", id=str(customer_id)),
        Actor(kind="api", id="shop", purposes=frozenset({"order_fulfilment"})),
    ):
        with pytest.raises(AccessRefused):
            resecure_customer(
                actor=actor, customer_id=customer_id, reason=WHAT_HAPPENED, public_url=PUBLIC
            )
    with pytest.raises(NotFound):
        resecure_customer(
            actor=OWNER, customer_id=uuid.uuid4(), reason=WHAT_HAPPENED, public_url=PUBLIC
        )
    with pytest.raises(ResecureInvalid, match="UUID"):
        resecure_customer(
            actor=OWNER,
            customer_id=str(customer_id),  # type: ignore[arg-type]
            reason=WHAT_HAPPENED,
            public_url=PUBLIC,
        )
    assert not AuditEvent.objects.filter(type=EventType.RIGHTS_RESECURED).exists()


def test_an_erased_customer_has_nothing_left_to_resecure(leman: Any, shop_api: Actor) -> None:
    from pledge.vault.erasure import erase_customer

    customer_id = vault.collect_customer(
        actor=shop_api, purpose="order_fulfilment", fields={"full_name": "Đỗ Minh Khoa"}
    )
    erase_customer(actor=OWNER, customer_id=customer_id)
    with pytest.raises(ResecureUnavailable):
        resecure_customer(actor=OWNER, customer_id=customer_id, reason=WHAT_HAPPENED)
    assert not AuditEvent.objects.filter(type=EventType.RIGHTS_RESECURED).exists()


def test_a_second_resecure_works_on_the_new_key(account: CustomerAccount) -> None:
    customer_id = customer_of(account)
    first = resecure_customer(
        actor=OWNER, customer_id=customer_id, reason=WHAT_HAPPENED, public_url=PUBLIC
    )
    second = resecure_customer(
        actor=OWNER, customer_id=customer_id, reason=WHAT_HAPPENED, public_url=PUBLIC
    )
    assert second.values == first.values and second.sessions_revoked == 0
    assert login_email(CustomerAccount.objects.get(pk=account.pk)) == EMAIL


def test_the_reset_link_uses_the_address_given_when_none_is_configured(
    account: CustomerAccount, mailbox: Mailbox, settings: Any
) -> None:
    # The console passes its own origin when PLEDGE_PUBLIC_URL is unset; the link is built on it.
    settings.PLEDGE_PUBLIC_URL = ""
    mailbox.messages.clear()
    resecure_customer(
        actor=OWNER,
        customer_id=customer_of(account),
        reason=WHAT_HAPPENED,
        public_url="https://console.leman.test/",
    )
    (mail,) = resecured_mail(mailbox)
    path = link_in(mail, "/me/password-reset/")
    assert f"https://console.leman.test{path}" in body_of(mail)
