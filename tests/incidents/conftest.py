"""Fixtures of the incident tests: preset B (leman), customers in both languages with an email
on file, staff of several roles reading them through the real vault services at frozen times."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from pledge.incidents import services
from pledge.incidents.models import Incident
from pledge.vault import services as vault
from pledge.vault.access import Actor
from tests.console.staffing import make_staff

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
# The shop's day: customers join at 08:00; the leak window is 10:00-12:00; found at 13:00.
MORNING = dt.datetime(2027, 3, 15, 8, 0, tzinfo=HCM)
LEAK_FROM = dt.datetime(2027, 3, 15, 10, 0, tzinfo=HCM)
LEAK_TO = dt.datetime(2027, 3, 15, 12, 0, tzinfo=HCM)
DETECTED = dt.datetime(2027, 3, 15, 13, 0, tzinfo=HCM)
NATURE = "Phiên đăng nhập của nhân viên bán hàng bị lộ và bị dùng từ một thiết bị lạ."


def at(moment: dt.datetime) -> Any:
    return time_machine.travel(moment, tick=False)


def sales() -> Actor:
    return Actor(kind="staff", id="9001", role="sales")


def customer_service() -> Actor:
    return Actor(kind="staff", id="9002", role="customer_service")


def owner_actor(user: Any) -> Actor:
    return Actor(kind="staff", id=str(user.pk), role="owner")


@pytest.fixture
def owner(leman: Any) -> Any:
    return make_staff("owner")


@pytest.fixture
def customers(leman: Any, shop_api: Actor) -> list[uuid.UUID]:
    """Six customers, alternately Vietnamese- and English-speaking, each with an email."""
    with at(MORNING):
        return [
            vault.collect_customer(
                actor=shop_api,
                purpose="order_fulfilment",
                fields={"full_name": f"Khách hàng {i}", "email": f"khach{i}@example.vn"},
                language="vi" if i % 2 == 0 else "en",
            )
            for i in range(6)
        ]


def read(actor: Actor, customer_id: uuid.UUID, moment: dt.datetime, fields: list[str]) -> None:
    with at(moment):
        vault.read_customer(
            actor=actor, purpose="order_fulfilment", customer_id=customer_id, fields=fields
        )


def record(owner: Any, *, drill: bool = False) -> Incident:
    with at(DETECTED):
        return services.record_incident(
            actor=owner_actor(owner),
            detected_at=DETECTED,
            occurred_from=LEAK_FROM,
            occurred_to=LEAK_TO,
            nature=NATURE,
            systems=["console"],
            actors="An unknown person using a sales staff session.",
            place="Staff console of the shop, Hà Nội office",
            consequences="Names and email addresses may be used for phishing.",
            measures="The session was revoked and the password reset.",
            advice="Do not answer messages asking for payment details.",
            drill=drill,
        )
