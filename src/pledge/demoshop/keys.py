"""The demo storefront's API key: where it is kept and how `pledge demo` creates it.

The storefront is the shop's backend: it holds an ordinary API key scoped to the order purpose and
the consent purpose it offers, and goes through the public API like any shop (never the vault
directly, so the demo cannot become a back door). The key is read from the setting
`PLEDGE_DEMO_SHOP_KEY` when set, else from `var/demo-shop.key`, which must be private (mode 0600):
it is a secret, and Pledge itself keeps only its hash.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from pledge.api.models import ApiKey
from pledge.api.services import TOKEN_RE, create_api_key, hash_token, revoke_api_key

KEY_FILE_NAME = "demo-shop.key"
KEY_NAME = "demo-shop"
# Keys this module created (and may replace): demo-shop, demo-shop-2, demo-shop-3…
_OWN_NAME = re.compile(rf"{KEY_NAME}(-\d+)?")


class KeyMissing(Exception):
    """No key is configured: the storefront shows how to create one."""


class KeyUnsafe(Exception):
    """The key file is readable by other users, or does not hold a key."""


def key_file() -> Path:
    return Path(settings.VAR_DIR) / KEY_FILE_NAME


def storefront_token() -> str:
    """The storefront's API key; raises KeyMissing or KeyUnsafe."""
    configured = str(getattr(settings, "PLEDGE_DEMO_SHOP_KEY", "") or "").strip()
    if configured:
        return configured
    path = key_file()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyMissing(str(path)) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyUnsafe(f"{path} is readable by other users: chmod 600 {path}")
    token = path.read_text(encoding="utf-8", errors="replace").strip()
    if not TOKEN_RE.fullmatch(token):
        raise KeyUnsafe(f"{path} does not hold an API key (pledge_<prefix>_<secret>)")
    return token


def _active_key_for(token: str) -> ApiKey | None:
    """The active key this token opens, checked without authenticating (nothing is audited)."""
    match = TOKEN_RE.fullmatch(token)
    if match is None:
        return None
    key = ApiKey.objects.filter(prefix=match["prefix"], revoked_at__isnull=True).first()
    if key is None or key.secret_hash != hash_token(token):
        return None
    return key


def _write_private(path: Path, text: str) -> None:
    """Write the file readable by its owner only, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    os.replace(temporary, path)


def _free_name() -> str:
    taken = set(ApiKey.objects.filter(name__startswith=KEY_NAME).values_list("name", flat=True))
    if KEY_NAME not in taken:
        return KEY_NAME
    number = 2
    while f"{KEY_NAME}-{number}" in taken:
        number += 1
    return f"{KEY_NAME}-{number}"


@dataclass(frozen=True)
class StorefrontKey:
    name: str
    prefix: str
    purposes: list[str]
    created: bool
    path: Path | None


def ensure_storefront_key(*, actor: str, purposes: Sequence[str]) -> StorefrontKey:
    """Make sure the storefront has an active key for these purposes (idempotent).

    Keeps the key in `var/demo-shop.key` when it still opens an active key with every purpose;
    otherwise revokes the keys this function created before (they are unusable without their
    file) and creates a new one. With `PLEDGE_DEMO_SHOP_KEY` set, nothing is created: the
    operator manages that key. Raises pledge.api.services.ApiKeyError when the policy in force
    does not declare the purposes.
    """
    wanted = list(dict.fromkeys(purposes))
    configured = str(getattr(settings, "PLEDGE_DEMO_SHOP_KEY", "") or "").strip()
    if configured:
        key = _active_key_for(configured)
        if key is None:
            raise KeyUnsafe("PLEDGE_DEMO_SHOP_KEY is not an active API key")
        return StorefrontKey(key.name, key.prefix, list(key.purposes), False, None)
    path = key_file()
    try:
        current = _active_key_for(storefront_token())
    except (KeyMissing, KeyUnsafe):
        current = None
    if current is not None and set(wanted) <= set(current.purposes):
        return StorefrontKey(current.name, current.prefix, list(current.purposes), False, path)
    for stale in ApiKey.objects.filter(name__startswith=KEY_NAME, revoked_at__isnull=True).order_by(
        "name"
    ):
        if _OWN_NAME.fullmatch(stale.name):
            revoke_api_key(actor=actor, name=stale.name)
    issued = create_api_key(actor=actor, name=_free_name(), purposes=wanted)
    _write_private(path, issued.token)
    key = issued.key
    return StorefrontKey(key.name, key.prefix, list(key.purposes), True, path)
