"""Customer accounts of the privacy center under test: preset B (Leman Jewelry) in force, accounts
made by the real services (the email in the vault, an Argon2id password), sign-in through the real
login page, and a real SMTP server (aiosmtpd, `mailbox`) for the emails.

    account = make_account("an@example.com")            # registered and verified
    client = customer_client(account)                    # signed in through /me/login/
    client = customer_client("an@example.com", CUSTOMER_PASSWORD)
    deliver()                                            # send what the outbox holds
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.db import transaction
from django.http import HttpResponse
from django.test import Client

from pledge.accounts import customers
from pledge.accounts.models import CustomerAccount
from pledge.audit.models import AuditEvent
from pledge.policy.services import active_version
from pledge.vault.accounts import account_email
from tests.smtp import Mailbox as Mailbox
from tests.smtp import body_of as body_of
from tests.smtp import link_in as link_in
from tests.smtp import mailbox as mailbox  # the real SMTP server fixture, for tests/portal

CUSTOMER_PASSWORD = "harbour lantern pepper 42"
PASSWORD = CUSTOMER_PASSWORD
CUSTOMER_ADDRESS = "198.51.100.23"

REGISTER = "/me/register/"
LOGIN = "/me/login/"
LOGOUT = "/me/logout/"
RESET = "/me/password-reset/"
SESSIONS = "/me/sessions/"
HOME = "/me/"


class QuickArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id with the smallest cost, for tests only (each real hash takes a noticeable part of
    a second, and these tests hash hundreds of passwords). Counts its runs, so a test can show
    that every path of a sign-in does the same hashing work."""

    time_cost = 1
    memory_cost = 1024
    parallelism = 1
    runs: ClassVar[int] = 0

    def encode(self, password: str, salt: str) -> str:
        type(self).runs += 1
        return str(super().encode(password, salt))

    def verify(self, password: str, encoded: str) -> bool:
        type(self).runs += 1
        return bool(super().verify(password, encoded))

    def harden_runtime(self, password: str, encoded: str) -> Any:
        return None


@pytest.fixture(autouse=True)
def quick_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["tests.portal.conftest.QuickArgon2PasswordHasher"]


_TEST_LINKS = customers.Links(
    verify=lambda token: f"http://testserver/me/verify/{token}/",
    reset=lambda token: f"http://testserver/me/password-reset/{token}/",
    login="http://testserver/me/login/",
    reset_request="http://testserver/me/password-reset/",
    sessions="http://testserver/me/sessions/",
)


def english(**headers: Any) -> Client:
    """A browser that asks for English (the assertions read the English texts)."""
    return Client(headers={"accept-language": "en", **headers})


def make_account(
    email: str = "an@example.com",
    password: str = PASSWORD,
    language: str = "en",
    *,
    verified: bool = True,
) -> CustomerAccount:
    """An account made by the real services: `customers.register`, then (verified=True) the
    verification with the real link token and the password. The verification email is queued in
    the outbox like any other; `deliver()` sends it if a test wants it."""
    # A network of its own each time: the allowance of emails per client must not run out when
    # a test makes many accounts.
    address = f"2001:db8:{uuid.uuid4().int % 0xFFFF:x}:{uuid.uuid4().int % 0xFFFF:x}::1"
    version = active_version()
    policy_version = version.version if version is not None else ""
    customers.register(
        email=email,
        password=password,
        language=language,
        address=address,
        links=_TEST_LINKS,
        policy_version=policy_version,
    )
    account = account_for(email)
    if verified:
        with transaction.atomic():
            token = customers.make_verify_token(
                CustomerAccount.objects.select_for_update().get(pk=account.pk), policy_version
            )
        verified_account = customers.verify_email(token=token, password=password, address=address)
        assert verified_account is not None
        account = verified_account
    return account


def account_for(email: str) -> CustomerAccount:
    """The account of this login email (found through the vault's blind index)."""
    from pledge.vault.accounts import find_account

    found = find_account(email)
    assert found is not None, "no account with this email"
    return CustomerAccount.objects.get(pk=found[1])


def login_email(account: CustomerAccount) -> str:
    with transaction.atomic():
        return account_email(
            customer_id=uuid.UUID(str(account.customer_id)), account_id=account.pk, template="test"
        )


def sign_in(
    client: Client,
    email: str,
    password: str = PASSWORD,
    *,
    address: str = CUSTOMER_ADDRESS,
    next_url: str = "",
    **extra: Any,
) -> HttpResponse:
    data = {"email": email, "password": password}
    if next_url:
        data["next"] = next_url
    response: HttpResponse = client.post(LOGIN, data, REMOTE_ADDR=address, **extra)  # type: ignore[assignment]
    return response


def customer_client(
    account_or_email: CustomerAccount | str,
    password: str = PASSWORD,
    *,
    client: Client | None = None,
    address: str = CUSTOMER_ADDRESS,
    **extra: Any,
) -> Client:
    """A django.test.Client signed in through the real login page (/me/login/)."""
    email = (
        login_email(account_or_email)
        if isinstance(account_or_email, CustomerAccount)
        else account_or_email
    )
    browser = client or english()
    response = sign_in(browser, email, password, address=address, **extra)
    assert response.status_code == 302, response.content.decode()[:2000]
    return browser


def deliver() -> int:
    """Send what the outbox holds to the SMTP server (what `pledge worker` does)."""
    from pledge.notify.delivery import deliver_due

    return deliver_due()


def page_text(response: HttpResponse, *secrets: str) -> str:
    """The page without what legitimately differs between two answers (CSRF tokens, the email
    typed in)."""
    text = response.content.decode()
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', 'name="csrfmiddlewaretoken"', text)
    for secret in secrets:
        text = text.replace(secret, "EMAIL")
    return text


def events(type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(type=type).order_by("seq"))


def details(type: str) -> list[dict[str, Any]]:
    """The details of each audit event of this type, oldest first."""
    return [json.loads(e.details) if e.details else {} for e in events(type)]


@pytest.fixture
def account(leman: Any) -> CustomerAccount:
    """A verified account, an@example.com, English."""
    return make_account()


@pytest.fixture
def signed_in(account: CustomerAccount) -> Client:
    return customer_client(account)


@pytest.fixture
def new_customer_client(leman: Any) -> Callable[..., Client]:
    """Factory fixture: `new_customer_client("bo@example.com")` -> a verified account's client."""

    def make(email: str, password: str = PASSWORD, language: str = "en") -> Client:
        return customer_client(make_account(email, password, language))

    return make
