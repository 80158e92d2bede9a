"""Staff members for console tests, without the sign-in pages: a user, a `StaffProfile` with a
policy role, a confirmed TOTP device, and a test client logged in with its second factor verified
(what `views_auth` does after a good password and code).

    owner = make_staff("owner")
    login_staff(client, owner)
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
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


# One known customer of preset B, with an order and a guarantee card (the console tests' subject).
NAME = "Nguyễn Thị Hồng Nhung"
EMAIL = "hong.nhung@example.vn"
PHONE = "0912 345 678"
PHONE_E164 = "+84912345678"
ADDRESS = "12 Lý Thái Tổ, Hà Nội"
GUARANTEE = "LM-2026-000123"


def seed_customer(shop_api: Any) -> uuid.UUID:
    from pledge.vault import services

    cid: uuid.UUID = services.collect_customer(
        actor=shop_api,
        purpose="order_fulfilment",
        fields={"full_name": NAME, "email": EMAIL, "phone": PHONE, "address": ADDRESS},
    )
    services.place_order(
        actor=shop_api,
        purpose="order_fulfilment",
        customer_id=cid,
        number="LM-ORDER-1",
        items=[{"sku": "RG-18K-01", "name": "Nhẫn vàng 18K", "quantity": 1}],
        total="5200000",
    )
    services.issue_guarantee(
        actor=shop_api,
        purpose="guarantee",
        customer_id=cid,
        number=GUARANTEE,
        product="Nhẫn vàng 18K",
        issued_on=dt.date(2026, 1, 5),
        valid_until=dt.date(2027, 1, 5),
    )
    return cid
