"""DEMO ONLY: one staff account per role of the policy in force, with credentials printed by
`pledge demo` (issue 4, item 7). Never run this against a real shop's database.

Demo passwords are derived from the installation's secret key, so each demo installation has its
own and a second `pledge demo` prints the same ones again without storing them anywhere.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from django.utils.crypto import salted_hmac

from pledge.accounts.identity import find_staff
from pledge.accounts.second_factor import enrolment, totp_device
from pledge.accounts.services import create_staff, set_staff_password
from pledge.policy.enforcement import enforced_policy
from pledge.vault.access import Actor

DEMO = Actor(kind="system", id="demo")
DEMO_DOMAIN = "demo.pledge.invalid"  # RFC 2606: can never receive mail


@dataclass(frozen=True)
class DemoStaff:
    role: str
    email: str
    password: str
    totp_secret: str
    otpauth_uri: str


def demo_email(role: str) -> str:
    return f"{role.replace('_', '-')}@{DEMO_DOMAIN}"


def demo_password(email: str) -> str:
    digest = salted_hmac("pledge.accounts.demo", email, algorithm="sha256").digest()
    return "demo-" + base64.urlsafe_b64encode(digest[:15]).decode("ascii")


def seed_demo_staff() -> list[DemoStaff]:
    """Create (or find again) a demo account for each role of the policy in force."""
    seeded = []
    for role in enforced_policy().policy.roles:
        email = demo_email(role.key)
        password = demo_password(email)
        user = find_staff(email)
        if user is None:
            user = create_staff(
                actor=DEMO, email=email, role=role.key, language="vi", password=password
            ).user
        elif not user.check_password(password):
            set_staff_password(actor=DEMO, user_id=user.pk, password=password)
        device = totp_device(user)
        if device is None:  # disabled or half set up by hand: leave it alone
            continue
        enrolled = enrolment(device)
        seeded.append(DemoStaff(role.key, email, password, enrolled.secret, enrolled.uri))
    return seeded
