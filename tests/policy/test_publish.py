"""Publishing versions (P24) and the public page served from the version in force."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from pledge.policy.loader import LoadedPolicy, load_policy, parse_policy
from pledge.policy.models import PolicyVersion
from pledge.policy.services import PublishRefused, active_version, publish_policy, today

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"


def variant(version: str, notice_days: int | None = 30, **changes: object) -> LoadedPolicy:
    data = yaml.safe_load((FIXTURES / "minimal.yaml").read_text(encoding="utf-8"))
    data["version"] = version
    if notice_days is not None:
        data["changes"] = {"advance_notice_days": notice_days, "channels": ["website", "email"]}
    data.update(changes)
    return parse_policy(yaml.safe_dump(data, allow_unicode=True), source="test")


def test_it_records_hash_date_and_material_flag() -> None:
    loaded = variant("1")
    v = publish_policy(loaded, actor="alice", effective_date=dt.date(2026, 1, 1))
    assert v.content_hash == loaded.content_hash
    assert len(v.content_hash) == 64
    assert v.effective_date == dt.date(2026, 1, 1)
    assert v.material is False
    assert v.published_by == "alice"
    assert v.source_text == loaded.text


def test_the_same_content_is_published_once() -> None:
    publish_policy(variant("1"), actor="alice")
    with pytest.raises(PublishRefused, match="already published as version '1'"):
        publish_policy(variant("1"), actor="alice")
    assert PolicyVersion.objects.count() == 1


def test_a_version_label_is_not_reused_for_other_content() -> None:
    publish_policy(variant("1"), actor="alice")
    with pytest.raises(PublishRefused, match="change `version`"):
        publish_policy(variant("1", notice_days=7), actor="alice")


def test_p24_a_material_change_needs_the_promised_advance_notice() -> None:
    publish_policy(variant("1"), actor="alice", effective_date=dt.date(2026, 1, 1))
    too_soon = today() + dt.timedelta(days=29)
    with pytest.raises(PublishRefused, match="30 days' advance notice"):
        publish_policy(variant("2"), actor="alice", effective_date=too_soon, material=True)
    assert PolicyVersion.objects.count() == 1
    v = publish_policy(
        variant("2"), actor="alice", effective_date=today() + dt.timedelta(days=30), material=True
    )
    assert v.material is True


def test_a_minor_change_may_apply_at_once() -> None:
    publish_policy(variant("1"), actor="alice", effective_date=dt.date(2026, 1, 1))
    publish_policy(variant("2"), actor="alice", effective_date=today())
    current = active_version("minimal-shop")
    assert current is not None and current.version == "2"


def test_an_announced_version_is_not_yet_in_force() -> None:
    publish_policy(variant("1"), actor="alice", effective_date=dt.date(2026, 1, 1))
    publish_policy(
        variant("2"), actor="alice", effective_date=today() + dt.timedelta(days=40), material=True
    )
    current = active_version("minimal-shop")
    assert current is not None and current.version == "1"
    later = active_version("minimal-shop", on=today() + dt.timedelta(days=40))
    assert later is not None and later.version == "2"


def test_the_page_shows_the_version_in_force_and_the_history(client: Client) -> None:
    publish_policy(variant("1"), actor="alice", effective_date=dt.date(2026, 1, 1))
    publish_policy(
        variant("2", name="Minimal Shop Renamed"),
        actor="alice",
        effective_date=today() + dt.timedelta(days=40),
        material=True,
    )
    response = client.get("/privacy/?lang=en")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Privacy policy of Minimal Shop<" in page  # version 1 is in force, not the rename
    assert "announced, not yet in force" in page
    assert "current" in page
    assert "01/01/2026" not in page and "1 January 2026" in page


def test_the_page_before_anything_is_published(client: Client) -> None:
    response = client.get("/privacy/")
    assert response.status_code == 503
    assert b"pledge policy publish" in response.content


def test_the_language_comes_from_the_query_then_the_browser(client: Client) -> None:
    publish_policy(load_policy("leman-jewelry"), actor="alice")
    vi = client.get("/privacy/", HTTP_ACCEPT_LANGUAGE="vi-VN,vi;q=0.9")
    assert '<html lang="vi">' in vi.content.decode()
    en = client.get("/privacy/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert '<html lang="en">' in en.content.decode()
    forced = client.get("/privacy/?lang=en", HTTP_ACCEPT_LANGUAGE="vi")
    assert '<html lang="en">' in forced.content.decode()
    assert forced.headers["Content-Language"] == "en"
    # The explicit choice is remembered for the next page.
    assert '<html lang="en">' in client.get("/privacy/").content.decode()
    # An unknown language falls back to the browser's, never to an error.
    odd = Client().get("/privacy/?lang=xx", HTTP_ACCEPT_LANGUAGE="vi")
    assert odd.status_code == 200
    assert '<html lang="vi">' in odd.content.decode()


def test_security_headers_are_set(client: Client) -> None:
    publish_policy(load_policy("leman-jewelry"), actor="alice")
    response = client.get("/privacy/")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_only_get_is_allowed(client: Client) -> None:
    assert client.post("/privacy/").status_code == 405


def test_healthz_answers_json(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == "ok"


def test_publish_command_and_its_refusals() -> None:
    out = io.StringIO()
    call_command("policy", "publish", "leman-jewelry", "--effective", "2026-01-01", stdout=out)
    assert "published leman-jewelry version" in out.getvalue()
    with pytest.raises(CommandError, match="already published"):
        call_command("policy", "publish", "leman-jewelry", stdout=io.StringIO())
    with pytest.raises(CommandError, match="not a date"):
        call_command("policy", "publish", "1stwatch", "--effective", "22/11/2026")


def test_demo_sets_up_without_serving() -> None:
    out = io.StringIO()
    call_command("demo", "--preset", "tungduong", "--no-serve", stdout=out)
    assert "http://127.0.0.1:8000/privacy/?lang=vi" in out.getvalue()
    assert PolicyVersion.objects.filter(shop="tungduong").count() == 1
    call_command("demo", "--preset", "tungduong", "--no-serve", stdout=io.StringIO())
    assert PolicyVersion.objects.filter(shop="tungduong").count() == 1  # idempotent


def test_render_command_writes_markdown(tmp_path: Path) -> None:
    target = tmp_path / "policy.md"
    call_command(
        "policy",
        "render",
        "james-jewelry",
        "--lang",
        "en",
        "--format",
        "md",
        "-o",
        str(target),
        stderr=io.StringIO(),
    )
    assert target.read_text(encoding="utf-8").startswith("# Privacy policy of James Jewelry")
