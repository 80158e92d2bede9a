"""Staff members for console tests, without the sign-in pages: a user, a `StaffProfile` with a
policy role, a confirmed TOTP device, and a test client logged in with its second factor verified
(what `views_auth` does after a good password and code).

    owner = make_staff("owner")
    login_staff(client, owner)
"""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from pledge.accounts.models import StaffProfile

PASSWORD = "correct horse battery staple 42"
_numbers = itertools.count(1)


def make_staff(role: str, email: str | None = None) -> Any:
    """A staff user with this policy role and a confirmed TOTP device (`user.totp_device`)."""
    email = email or f"{role.replace('_', '-')}-{next(_numbers)}@staff.example.com"
    user = get_user_model().objects.create_user(username=email, email=email, password=PASSWORD)
    StaffProfile.objects.create(user=user, role=role, created_by="test")
    user.totp_device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    return user


def login_staff(client: Client, user: Any) -> Client:
    """Log the client in as `user` with the second factor verified (django-otp's session key)."""
    device = (
        getattr(user, "totp_device", None)
        or TOTPDevice.objects.filter(user=user, confirmed=True).first()
    )
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
