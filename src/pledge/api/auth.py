"""API-key authentication: `Authorization: Bearer <key>` or `X-API-Key: <key>`.

ninja tries the callbacks in order and uses the first that returns an actor. A header that is
present but does not hold an active key raises at once (401, audited by `authenticate_key`); when
neither header is present, the last callback records the missing key and refuses. The presented
key is never logged: ninja's own HttpBearer logs an unexpected Authorization header in DEBUG, so
`__call__` is ours.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from ninja.security import APIKeyHeader, HttpBearer

from pledge.api.services import (
    AuthRefusal,
    actor_for,
    authenticate_key,
    refuse_authentication,
)
from pledge.vault.access import Actor


class BearerKey(HttpBearer):
    """`Authorization: Bearer pledge_…`"""

    def __call__(self, request: HttpRequest) -> Actor | None:
        value = request.headers.get("Authorization")
        if value is None:
            return None
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise refuse_authentication(AuthRefusal.MALFORMED)
        return self.authenticate(request, token)

    def authenticate(self, request: HttpRequest, token: str) -> Actor:
        return actor_for(authenticate_key(token))


class HeaderKey(APIKeyHeader):
    """`X-API-Key: pledge_…`"""

    param_name = "X-API-Key"

    def authenticate(self, request: HttpRequest, key: str | None) -> Actor | None:
        if key is None:
            return None
        return actor_for(authenticate_key(key))


def key_required(request: HttpRequest) -> Actor | None:
    """Last in line: no key header at all."""
    raise refuse_authentication(AuthRefusal.MISSING)


API_KEY_AUTH: list[Callable[[HttpRequest], Actor | None]] = [BearerKey(), HeaderKey(), key_required]


def request_actor(request: HttpRequest) -> Actor:
    """The actor that authentication put on the request."""
    actor = getattr(request, "auth", None)
    if not isinstance(actor, Actor):  # pragma: no cover - every operation requires a key
        raise RuntimeError("operation reached without authentication")
    return actor
