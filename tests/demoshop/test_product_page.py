"""The product page /demo-shop/: the form comes from the policy, the banner is embedded as a shop
would, the analytics script is blocked, and the page works without a key (P01, P07, P25)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from pledge.api.services import create_api_key
from pledge.demoshop.storefront import checkout_fields, consent_purpose, key_purposes
from pledge.policy.loader import load_policy

INPUT_NAMES = re.compile(r'<(?:input|textarea|select)[^>]*\bname="([^"]+)"')


def form_names(html: str) -> set[str]:
    return set(INPUT_NAMES.findall(html))


@pytest.mark.parametrize(
    ("preset", "fields", "consent"),
    [
        ("leman-jewelry", ("full_name", "address", "email", "phone"), "customer_database"),
        ("james-jewelry", ("full_name", "phone", "email"), "customer_database"),
        ("jewelryodm", ("email", "address", "phone"), None),
        ("1stwatch", ("full_name", "phone"), None),
        ("tungduong", ("full_name", "phone", "email"), "personalization"),
    ],
)
def test_checkout_fields_come_from_the_order_purpose(
    preset: str, fields: tuple[str, ...], consent: str | None
) -> None:
    policy = load_policy(preset).policy
    # Never the ID document, the card, the CVC, automatic or derived data (P01, P02).
    assert checkout_fields(policy) == fields
    offered = consent_purpose(policy, fields)
    assert (offered.key if offered else None) == consent
    if offered is not None:
        assert offered.basis == "consent"
    assert key_purposes(policy) == ["order_fulfilment"] + ([consent] if consent else [])


def test_page_renders_the_policy_form_and_notice_in_english(leman: Any) -> None:
    response = Client().get("/demo-shop/?lang=en")
    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    html = response.content.decode()
    assert form_names(html) == {
        "csrfmiddlewaretoken",
        "full_name",
        "address",
        "email",
        "phone",
        "quantity",
        "consent",
    }
    # The consent box is optional and unticked (P04).
    box = re.search(r'<input type="checkbox" id="id_consent"[^>]*>', html)
    assert box is not None
    assert "checked" not in box.group(0) and "required" not in box.group(0)
    assert "Managing the customer database" in html
    # The just-in-time notice beside the form (P25), from the policy, with the link.
    assert 'data-jit="order_fulfilment"' in html
    assert "Providing services and completing orders" in html
    assert "performing our contract with you (your order)" in html
    assert "Until you ask us to cancel it" in html
    assert "Third-party services integrated with the website leman.jewelry" in html
    assert 'href="/privacy/?lang=en#purpose-order_fulfilment"' in html
    assert 'data-jit="customer_database"' in html


def test_page_in_vietnamese_by_accept_language(leman: Any) -> None:
    response = Client().get("/demo-shop/", headers={"accept-language": "vi-VN,vi;q=0.9"})
    assert response.status_code == 200
    assert response["Content-Language"] == "vi"
    html = response.content.decode()
    assert '<html lang="vi">' in html
    assert "Cung cấp dịch vụ và hoàn tất đơn hàng" in html
    assert "thực hiện hợp đồng với bạn (đơn hàng của bạn)" in html
    assert "Quản lý cơ sở dữ liệu khách hàng" in html
    assert 'href="/privacy/?lang=vi#purpose-order_fulfilment"' in html
    assert "Ban Giám đốc" in html


def test_banner_and_blocked_analytics_are_embedded_as_a_shop_would(leman: Any) -> None:
    html = Client().get("/demo-shop/?lang=en").content.decode()
    assert '<script src="/consent/banner.js" defer></script>' in html
    blocked = re.search(r'<script type="text/plain" data-category="analytics" src="([^"]+)">', html)
    assert blocked is not None and blocked.group(1).endswith("demoshop/analytics.js")
    assert "data-pledge-cookie-settings" in html
    # Pledge's CSP allows no inline script: every <script> has a src.
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))
    assert re.search(r"<script[^>]*>[^<]*\S[^<]*</script>", html) is None


def test_analytics_script_sends_a_page_view_to_the_beacon() -> None:
    script = (
        Path(__file__).resolve().parents[2] / "src/pledge/demoshop/static/demoshop/analytics.js"
    )
    text = script.read_text()
    assert "window.demoAnalyticsRan = true" in text
    assert "navigator.sendBeacon" in text and '"/consent/beacon?p="' in text


def test_without_a_key_the_page_renders_and_says_how_to_create_one(
    leman: Any, private_var_dir: Path
) -> None:
    html = Client().get("/demo-shop/?lang=en").content.decode()
    assert "has no API key yet" in html
    assert (
        "pledge apikey create --name demo-shop --purposes order_fulfilment,customer_database"
        in html
    )
    assert str(private_var_dir / "demo-shop.key") in html


def test_with_a_key_the_page_does_not_ask_for_one(leman: Any, settings: Settings) -> None:
    settings.PLEDGE_DEMO_SHOP_KEY = create_api_key(
        actor="system:test", name="demo-shop", purposes=["order_fulfilment"]
    ).token
    html = Client().get("/demo-shop/?lang=en").content.decode()
    assert "has no API key yet" not in html


def test_without_a_policy_in_force_the_page_says_so(db: None) -> None:
    response = Client().get("/demo-shop/?lang=en")
    assert response.status_code == 503
    assert "No privacy policy is in force" in response.content.decode()
    assert form_names(response.content.decode()) == set()


def test_product_page_takes_get_only(leman: Any) -> None:
    assert Client().post("/demo-shop/").status_code == 405


def test_checkout_get_leads_back_to_the_product(leman: Any) -> None:
    response = Client().get("/demo-shop/checkout/")
    assert response.status_code == 302
    assert response["Location"] == "/demo-shop/"
