"""config.json: what the banner shows, from the policy in force (P07), and who may read it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from pledge.consent.banner import build_config, notice_text
from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import load_policy, parse_policy
from pledge.policy.services import publish_policy, today

CONFIG = "/consent/config.json"
SHOP_ORIGIN = "https://leman.jewelry"  # preset B's controller.website


def get(client: Client, query: str = "", **headers: str) -> Any:
    return client.get(CONFIG + query, headers=headers)


def test_it_lists_the_policy_categories_and_services_in_english(client: Client, leman: Any) -> None:
    response = get(client, "?lang=en")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    config = response.json()
    assert config["language"] == "en"
    assert config["version"] == leman.version
    assert config["hash"] == leman.content_hash
    assert [c["key"] for c in config["categories"]] == [
        "necessary",
        "preferences",
        "analytics",
        "advertising",
    ]
    analytics = config["categories"][2]
    assert analytics["label"] == "Statistics"
    assert analytics["description"].startswith("Web beacons are small strings")
    assert analytics["services"] == [
        {
            "name": "Leman Jewelry web beacon",
            "provider": "Leman Jewelry",
            "description": "Web beacon in web pages and emails, for anonymous data collection only",
        }
    ]
    assert config["texts"]["accept_all"] == "Accept all"
    assert config["texts"]["reject_all"] == "Reject all"
    assert config["policy_url"].endswith("/privacy/?lang=en")
    assert config["gpc"] is True
    assert config["cookie_days"] == 365


def test_it_speaks_vietnamese(client: Client, leman: Any) -> None:
    config = get(client, "?lang=vi").json()
    assert config["language"] == "vi"
    # The policy's own texts; the banner's texts come from the vi catalogue (makemessages).
    assert config["categories"][2]["description"].startswith("Đèn hiệu web")
    assert config["categories"][2]["services"][0]["name"] == "Đèn hiệu web của Leman Jewelry"
    assert config["policy_url"].endswith("/privacy/?lang=vi")
    assert config["texts"]["accept_all"] == "Chấp nhận tất cả"
    assert all(text != config_en_text for text, config_en_text in _pairs(client))


def _pairs(client: Client) -> list[tuple[str, str]]:
    """Every banner text in vi beside its en original: none may be left in English."""
    vi = get(client, "?lang=vi").json()["texts"]
    en = get(client, "?lang=en").json()["texts"]
    return [(vi[k], en[k]) for k in en if isinstance(en[k], str) and en[k].strip()]


def test_without_lang_it_uses_the_policy_default_language(client: Client, leman: Any) -> None:
    assert get(client).json()["language"] == leman.policy.default_language


def test_only_necessary_is_required_even_where_the_policy_says_no_prior_consent(
    client: Client, leman: Any
) -> None:
    # Preset B says prior_consent: false for every category; the legal floor still applies.
    assert all(not c.prior_consent for c in leman.policy.cookies.categories)
    config = get(client, "?lang=en").json()
    assert {c["key"]: c["required"] for c in config["categories"]} == {
        "necessary": True,
        "preferences": False,
        "analytics": False,
        "advertising": False,
    }


@pytest.mark.parametrize("lang", ["fr", "EN", "vi-VN", "x" * 500, "en\x00"])
def test_an_unknown_language_is_refused_naming_lang(client: Client, leman: Any, lang: str) -> None:
    response = get(client, f"?lang={lang}")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == "lang"


def test_it_answers_503_without_a_policy(client: Client, db: None) -> None:
    clear_policy_cache()
    response = get(client, "?lang=en")
    assert response.status_code == 503
    assert response.json()["type"].endswith("no-policy-in-force")


def test_the_shop_website_may_read_it_cross_origin(client: Client, leman: Any) -> None:
    response = get(client, "?lang=en", Origin=SHOP_ORIGIN)
    assert response["Access-Control-Allow-Origin"] == SHOP_ORIGIN
    assert "Origin" in response["Vary"]
    assert "Access-Control-Allow-Credentials" not in response


def test_configured_banner_origins_may_read_it(client: Client, leman: Any, settings: Any) -> None:
    settings.PLEDGE_BANNER_ORIGINS = ["http://shop.test:8080"]
    response = get(client, "?lang=en", Origin="http://shop.test:8080")
    assert response["Access-Control-Allow-Origin"] == "http://shop.test:8080"


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://leman.jewelry", "null", "https://leman.jewelry.evil"]
)
def test_other_origins_get_no_cors_header(client: Client, leman: Any, origin: str) -> None:
    response = get(client, "?lang=en", Origin=origin)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_it_is_cached_briefly_and_revalidates_with_an_etag(client: Client, leman: Any) -> None:
    response = get(client, "?lang=en")
    assert response["Cache-Control"] == "public, max-age=60"
    again = get(client, "?lang=en", **{"If-None-Match": response["ETag"]})
    assert again.status_code == 304
    other = get(client, "?lang=vi", **{"If-None-Match": response["ETag"]})
    assert other.status_code == 200


def test_a_sec_gpc_header_is_reported_back(client: Client, leman: Any) -> None:
    assert get(client, "?lang=en").json()["gpc_signal"] is False
    response = get(client, "?lang=en", **{"Sec-GPC": "1"})
    assert response.json()["gpc_signal"] is True
    assert "Sec-GPC" in response["Vary"]


def test_it_sets_no_cookie(client: Client, leman: Any) -> None:
    response = get(client, "?lang=en", Origin=SHOP_ORIGIN)
    assert not response.cookies


def test_the_notice_text_is_what_the_banner_shows(leman: Any) -> None:
    config = build_config(leman, "en", policy_url="https://pledge.test/privacy/?lang=en")
    text = notice_text(config)
    assert text.startswith("Cookies on Leman Jewelry\nWe use strictly necessary cookies")
    assert "Statistics: Web beacons are small strings" in text
    assert "- Leman Jewelry web beacon (Provider: Leman Jewelry):" in text
    assert text == notice_text(build_config(leman, "en", policy_url="elsewhere"))
    assert notice_text(build_config(leman, "vi", policy_url="x")) != text


def test_gpc_is_off_when_the_policy_does_not_honour_it(client: Client, leman: Any) -> None:
    text = load_policy("leman-jewelry").text
    changed = text.replace('version: "1"', 'version: "1-no-gpc"', 1).replace(
        "\ncookies:\n", "\ncookies:\n  honour_gpc: false\n", 1
    )
    publish_policy(parse_policy(changed, source="test"), actor="test", effective_date=today())
    clear_policy_cache()
    config = get(client, "?lang=en", **{"Sec-GPC": "1"}).json()
    assert config["version"] == "1-no-gpc"
    assert config["gpc"] is False
