"""Creating, revoking and checking the API keys of the shop's backend.

Every change is audited in the same transaction (`api:key_created`, `api:key_revoked`), and every
refused authentication too (`api:auth_refused`), with the reason and at most the key's public
prefix: never the presented secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.db import IntegrityError, transaction
from django.utils import timezone

from pledge.api.models import ApiKey
from pledge.audit.events import EventType, Outcome
from pledge.audit.services import record_event
from pledge.policy.enforcement import NoPolicyInForce, enforced_policy
from pledge.vault.access import Actor

TOKEN_PREFIX = "pledge_"  # noqa: S105 - a public marker that makes leaked keys recognisable
PREFIX_BYTES = 6  # 12 hex characters: public, only needs to be unique
SECRET_BYTES = 32  # 256 bits of entropy
TOKEN_RE = re.compile(r"pledge_(?P<prefix>[0-9a-f]{12})_(?P<secret>[0-9a-f]{64})")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
# Writing `last_used_at` on every request would make every read a write; a minute is precise
# enough to see which keys are still in use.
LAST_USED_PRECISION = dt.timedelta(minutes=1)


class ApiKeyError(Exception):
    """A key cannot be created or revoked; the message says why (for the console)."""


class AuthRefusal(StrEnum):
    MISSING = "missing"
    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    WRONG_SECRET = "wrong_secret"  # noqa: S105 - a reason code
    REVOKED = "revoked"


class AuthenticationRefused(Exception):
    """A request's key was missing or did not open; the reason is for the audit log only."""

    def __init__(self, reason: AuthRefusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    # The token: shown to the operator once, never stored.
    token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _clean_purposes(purposes: Iterable[str], role: str) -> list[str]:
    try:
        enforced = enforced_policy()
    except NoPolicyInForce as exc:
        raise ApiKeyError(f"{exc}; a key's purposes are checked against it") from None
    wanted = list(dict.fromkeys(p.strip() for p in purposes if p.strip()))
    if not wanted:
        raise ApiKeyError("give at least one purpose")
    declared = [p.key for p in enforced.policy.purposes]
    undeclared = [p for p in wanted if p not in declared]
    if undeclared:
        raise ApiKeyError(
            f"the policy in force ({enforced.policy.shop} {enforced.version}) declares no "
            f"purpose {', '.join(repr(p) for p in undeclared)}; "
            f"its purposes are: {', '.join(declared)}"
        )
    if role and role not in enforced.role_keys:
        raise ApiKeyError(
            f"the policy in force declares no role {role!r}; "
            f"its roles are: {', '.join(sorted(enforced.role_keys))}"
        )
    return wanted


@transaction.atomic
def create_api_key(*, actor: str, name: str, purposes: Iterable[str], role: str = "") -> IssuedKey:
    """A new key for the purposes given (each declared by the policy in force)."""
    if not NAME_RE.fullmatch(name):
        raise ApiKeyError(
            "a key name is 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    cleaned = _clean_purposes(purposes, role)
    if ApiKey.objects.filter(name=name).exists():
        raise ApiKeyError(f"a key named {name!r} exists; pick another name")
    prefix = secrets.token_hex(PREFIX_BYTES)
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_hex(SECRET_BYTES)}"
    try:
        with transaction.atomic():
            key = ApiKey.objects.create(
                name=name,
                prefix=prefix,
                secret_hash=hash_token(token),
                purposes=cleaned,
                role=role,
            )
    except IntegrityError:
        # Two creations with one name at once (or a 1-in-2^48 prefix collision): try again.
        raise ApiKeyError(f"could not create the key {name!r}; try again") from None
    record_event(
        EventType.API_KEY_CREATED,
        actor=actor,
        record=f"api_key:{prefix}",
        details={"name": name, "purposes": cleaned, "role": role},
    )
    return IssuedKey(key, token)


@transaction.atomic
def revoke_api_key(*, actor: str, name: str) -> ApiKey:
    """Revoke a key at once: its next request gets 401. Revoked keys are kept for the record."""
    key = ApiKey.objects.select_for_update().filter(name=name).first()
    if key is None:
        raise ApiKeyError(f"no key named {name!r}")
    if key.revoked_at is not None:
        raise ApiKeyError(f"the key {name!r} was already revoked on {key.revoked_at:%Y-%m-%d}")
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    record_event(
        EventType.API_KEY_REVOKED,
        actor=actor,
        record=f"api_key:{key.prefix}",
        details={"name": name},
    )
    return key


def refuse_authentication(reason: AuthRefusal, *, prefix: str = "") -> AuthenticationRefused:
    """Record a refused request (in its own transaction) and return the error to raise."""
    record_event(
        EventType.API_AUTH_REFUSED,
        actor=f"api:{prefix or 'unknown'}",
        outcome=Outcome.REFUSED,
        details={"reason": reason.value},
    )
    return AuthenticationRefused(reason)


def authenticate_key(token: str) -> ApiKey:
    """The active key this token opens; raises AuthenticationRefused (audited) otherwise."""
    match = TOKEN_RE.fullmatch(token.strip())
    if match is None:
        raise refuse_authentication(AuthRefusal.MALFORMED)
    prefix = match["prefix"]
    key = ApiKey.objects.filter(prefix=prefix).first()
    presented = hash_token(match.group(0))
    if key is None:
        # Same work as a known prefix, so timing says nothing more than the 401 does.
        hmac.compare_digest(presented, "0" * 64)
        raise refuse_authentication(AuthRefusal.UNKNOWN)
    if not hmac.compare_digest(presented, key.secret_hash):
        raise refuse_authentication(AuthRefusal.WRONG_SECRET, prefix=prefix)
    if key.revoked_at is not None:
        raise refuse_authentication(AuthRefusal.REVOKED, prefix=prefix)
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def actor_for(key: ApiKey) -> Actor:
    """The vault actor of a request made with this key: shop-wide, limited to its purposes."""
    return Actor(kind="api", id=key.prefix, role=key.role, purposes=frozenset(key.purposes))
