"""Staff accounts under test: preset B (Leman Jewelry) in force, accounts made by the real
services, sign-in through the real pages, and a real SMTP server (aiosmtpd) on a free port.

    owner = make_staff("owner")
    client = signed_in(owner)                       # both steps, through the pages
    client.post(...); deliver_outbox()              # then mailbox.wait_for(1) at the SMTP server
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from pledge.accounts.second_factor import current_totp
from pledge.accounts.services import NewStaff, create_staff
from pledge.audit.models import AuditEvent
from pledge.vault.access import Actor
from tests.smtp import Mailbox, body_of, link_in  # noqa: F401 - helpers used by these tests

PASSWORD = "violet anchor tram quietly 7"
ADMIN = Actor(kind="system", id="test")

LOGIN = "/console/login/"
VERIFY = "/console/login/verify/"
ACCOUNT = "/console/account/"
STAFF = "/console/staff/"


@dataclass
class Staff:
    user: User
    email: str
    password: str
    secret: str  # base32, as printed and shown on the set-up page
    recovery_codes: list[str]

    @property
    def device(self) -> TOTPDevice:
        return TOTPDevice.objects.get(user=self.user, confirmed=True)

    def code(self) -> str:
        """The authenticator's code now. Signing in twice within one 30-second step would be
        refused as a replay (django-otp keeps the last step used), so tests forget that step:
        editing stored state, as a real app would simply wait for the next code."""
        TOTPDevice.objects.filter(pk=self.device.pk).update(
            last_t=-1, throttling_failure_count=0, throttling_failure_timestamp=None
        )
        return current_totp(self.device)


def totp_from_secret(secret: str) -> str:
    """What an authenticator app shows for a base32 secret (as printed or shown on a page)."""
    raw = secret.replace(" ", "").upper()
    key = base64.b32decode(raw + "=" * (-len(raw) % 8))
    return f"{TOTP(key).token():06d}"


def make_staff(
    role: str, email_address: str | None = None, *, language: str = "en", password: str = PASSWORD
) -> Staff:
    address = email_address or f"{role.replace('_', '-')}@shop.example"
    new: NewStaff = create_staff(
        actor=ADMIN, email=address, role=role, language=language, password=password
    )
    return Staff(new.user, address, password, new.enrolment.secret, new.recovery_codes)


def sign_in(
    client: Client,
    email_address: str,
    password: str,
    code: str | None = None,
    *,
    address: str = "198.51.100.7",
    next_url: str = "",
    **extra: Any,
) -> HttpResponse:
    """Post step 1 (and step 2 if a code is given); returns the last response."""
    data = {"email": email_address, "password": password}
    if next_url:
        data["next"] = next_url
    response = client.post(LOGIN, data, REMOTE_ADDR=address, **extra)
    if code is None or response.status_code != 302 or response["Location"] != VERIFY:
        return response
    return client.post(VERIFY, {"code": code}, REMOTE_ADDR=address, **extra)


def english() -> Client:
    """A browser that asks for English: the assertions read the English texts, which stay the
    same when the Vietnamese catalog grows."""
    return Client(headers={"accept-language": "en"})


def signed_in(staff: Staff, *, address: str = "198.51.100.7", **extra: Any) -> Client:
    client = english()
    response = sign_in(client, staff.email, staff.password, staff.code(), address=address, **extra)
    assert response.status_code == 302 and response["Location"] == "/console/", response
    return client


def is_verified_staff_session(client: Client, user: User) -> bool:
    session = client.session
    return str(session.get("_auth_user_id")) == str(user.pk) and bool(session.get("otp_device_id"))


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


@pytest.fixture
def owner(leman: Any) -> Staff:
    return make_staff("owner")


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """`with committed(): client.post(...)`: run what the request left for after commit, as a
    real commit would; tests run inside a transaction that never commits. (Emails do not need
    it: they wait in the outbox until `tests.smtp.deliver_outbox()`.)"""
    return lambda: django_capture_on_commit_callbacks(execute=True)
