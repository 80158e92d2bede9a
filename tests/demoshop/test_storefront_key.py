"""The storefront's API key: created by `pledge demo`, kept private in var/demo-shop.key, scoped
to the order purpose and the consent purpose it offers, never printed."""

from __future__ import annotations

import io
import stat
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from pytest_django.fixtures import Settings

from pledge.api.models import ApiKey
from pledge.api.services import create_api_key, hash_token
from pledge.demoshop.keys import KeyMissing, KeyUnsafe, ensure_storefront_key, storefront_token

PURPOSES = ["order_fulfilment", "customer_database"]


def test_ensure_creates_a_private_key_file_once(leman: Any, private_var_dir: Path) -> None:
    first = ensure_storefront_key(actor="system:test", purposes=PURPOSES)
    assert first.created
    path = private_var_dir / "demo-shop.key"
    assert first.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = storefront_token()
    key = ApiKey.objects.get(prefix=first.prefix)
    assert key.secret_hash == hash_token(token)
    assert key.purposes == PURPOSES
    # Idempotent: the file's key is kept while it is active and has the purposes.
    again = ensure_storefront_key(actor="system:test", purposes=PURPOSES)
    assert not again.created
    assert again.prefix == first.prefix
    assert ApiKey.objects.count() == 1


def test_a_lost_key_file_is_replaced_and_the_old_key_revoked(
    leman: Any, private_var_dir: Path
) -> None:
    first = ensure_storefront_key(actor="system:test", purposes=PURPOSES)
    (private_var_dir / "demo-shop.key").unlink()
    second = ensure_storefront_key(actor="system:test", purposes=PURPOSES)
    assert second.created and second.prefix != first.prefix
    assert second.name == "demo-shop-2"
    assert ApiKey.objects.get(prefix=first.prefix).revoked_at is not None
    assert ApiKey.objects.get(prefix=second.prefix).revoked_at is None


def test_a_key_missing_a_purpose_is_replaced(leman: Any) -> None:
    first = ensure_storefront_key(actor="system:test", purposes=["order_fulfilment"])
    second = ensure_storefront_key(actor="system:test", purposes=PURPOSES)
    assert second.created and second.prefix != first.prefix
    assert ApiKey.objects.get(prefix=second.prefix).purposes == PURPOSES


def test_keys_made_by_hand_are_left_alone(leman: Any) -> None:
    create_api_key(actor="system:test", name="demo-shop-backup", purposes=["order_fulfilment"])
    ensure_storefront_key(actor="system:test", purposes=PURPOSES)
    assert ApiKey.objects.get(name="demo-shop-backup").revoked_at is None


def test_a_key_file_readable_by_others_is_refused(leman: Any, private_var_dir: Path) -> None:
    ensure_storefront_key(actor="system:test", purposes=PURPOSES)
    path = private_var_dir / "demo-shop.key"
    path.chmod(0o644)
    with pytest.raises(KeyUnsafe, match="chmod 600"):
        storefront_token()


def test_a_file_without_a_key_is_refused(private_var_dir: Path) -> None:
    path = private_var_dir / "demo-shop.key"
    path.write_text("hello\n")
    path.chmod(0o600)
    with pytest.raises(KeyUnsafe, match="does not hold an API key"):
        storefront_token()


def test_no_key_at_all(private_var_dir: Path) -> None:
    with pytest.raises(KeyMissing):
        storefront_token()


def test_the_setting_wins_over_the_file(private_var_dir: Path, settings: Settings) -> None:
    settings.PLEDGE_DEMO_SHOP_KEY = "pledge_" + "a" * 12 + "_" + "b" * 64
    assert storefront_token() == settings.PLEDGE_DEMO_SHOP_KEY


def test_pledge_demo_readies_the_storefront_without_printing_the_key(
    db: None, private_var_dir: Path
) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("demo", "--no-serve", "--customers", "0", stdout=out, stderr=err)
    text = out.getvalue()
    assert "http://127.0.0.1:8000/demo-shop/" in text
    assert "created the demo storefront's API key demo-shop" in text
    token = storefront_token()
    assert token not in text and token not in err.getvalue()
    key = ApiKey.objects.get(name="demo-shop")
    assert key.purposes == PURPOSES
    assert stat.S_IMODE((private_var_dir / "demo-shop.key").stat().st_mode) == 0o600
    # A second run keeps the key.
    again = io.StringIO()
    call_command("demo", "--no-serve", "--customers", "0", stdout=again, stderr=io.StringIO())
    assert "uses its API key demo-shop" in again.getvalue()
    assert ApiKey.objects.count() == 1
