"""The demo storefront under test: preset B in force, a real API key, the API served over HTTP.

The checkout view is the shop's backend: it calls Pledge's REST API over HTTP, so every test that
places an order runs pytest-django's live server and points PLEDGE_PUBLIC_URL at it. The key file
lives in a per-test var/ directory, so nothing leaks between tests.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pytest_django.fixtures import Settings
from pytest_django.live_server_helper import LiveServer

from pledge.api.services import create_api_key
from pledge.demoshop.storefront import key_purposes

NAME = "Nguyễn Thị Hồng Nhung"
EMAIL = "hong.nhung@example.vn"
PHONE = "0912 345 678"
ADDRESS = "12 Lý Thái Tổ, Hà Nội"
# What a customer types into the checkout of preset B.
FORM = {"full_name": NAME, "address": ADDRESS, "email": EMAIL, "phone": PHONE}


@pytest.fixture(autouse=True)
def private_var_dir(settings: Settings, tmp_path: Any) -> Any:
    """A var/ of this test's own (the key file) and no key from the environment."""
    settings.VAR_DIR = tmp_path
    settings.PLEDGE_DEMO_SHOP_KEY = ""
    settings.PLEDGE_PUBLIC_URL = ""
    return tmp_path


@dataclass
class Storefront:
    token: str
    prefix: str
    url: str


@pytest.fixture
def storefront(leman: Any, live_server: LiveServer, settings: Settings) -> Storefront:
    """Preset B in force, the storefront's key (order + consent purposes), the API over HTTP."""
    issued = create_api_key(
        actor="system:test", name="demo-shop-test", purposes=key_purposes(leman.policy)
    )
    settings.PLEDGE_DEMO_SHOP_KEY = issued.token
    settings.PLEDGE_PUBLIC_URL = live_server.url
    settings.PLEDGE_SHOP = "leman-jewelry"
    return Storefront(issued.token, issued.key.prefix, live_server.url)


@pytest.fixture
def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def checkout_post(client: Any, lang: str = "en", **changes: Any) -> Any:
    """Post the checkout form as a browser would (with its CSRF token), with changes."""
    page = client.get(f"/demo-shop/?lang={lang}")
    assert page.status_code == 200
    data: dict[str, Any] = {
        "csrfmiddlewaretoken": page.context["csrf_token"],
        **FORM,
        "quantity": "1",
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return client.post(f"/demo-shop/checkout/?lang={lang}", data)


PostCheckout = Callable[..., Any]
