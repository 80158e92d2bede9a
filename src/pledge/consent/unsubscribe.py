"""Marketing unsubscribe tokens and headers (P19; RFC 8058 one-click, RFC 2369 List-Unsubscribe).

A token names one customer and one marketing purpose, signed with `django.core.signing` under a
salt of its own (so no other signed value of Pledge, such as an email verification token, can pass
for one). It never expires: an unsubscribe link must work in an email read years later, and all it
can do is stop mail. It carries no personal data, only the customer's random id and a purpose key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

SALT = "pledge.consent.unsubscribe"
MAX_TOKEN_CHARS = 300
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"


class BadToken(Exception):
    """The link is not one Pledge made (or was changed); `reason` says how, for the 400 page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class UnsubscribeToken:
    customer_id: uuid.UUID
    purpose: str


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT)


def make_token(customer_id: uuid.UUID, purpose: str) -> str:
    return _signer().sign_object({"c": customer_id.hex, "p": purpose}, compress=False)


def read_token(token: object) -> UnsubscribeToken:
    """The customer and purpose of a genuine token; raises `BadToken` otherwise."""
    if not isinstance(token, str) or not 1 <= len(token) <= MAX_TOKEN_CHARS:
        raise BadToken("malformed")
    try:
        data = _signer().unsign_object(token)
    except signing.BadSignature:
        raise BadToken("bad_signature") from None
    except ValueError:  # signed, but not our JSON (cannot happen without the key)
        raise BadToken("malformed") from None
    if not isinstance(data, dict) or not isinstance(data.get("p"), str):
        raise BadToken("malformed")
    try:
        customer_id = uuid.UUID(hex=str(data.get("c")))
    except ValueError:
        raise BadToken("malformed") from None
    return UnsubscribeToken(customer_id, data["p"])


def unsubscribe_url(customer_id: uuid.UUID, purpose: str) -> str:
    """The absolute link, from PLEDGE_PUBLIC_URL, which must be https:// (RFC 8058 §3.1; the
    outbox refuses a marketing message without an https link)."""
    base = str(settings.PLEDGE_PUBLIC_URL or "").rstrip("/")
    parts = urlsplit(base)
    if parts.scheme != "https" or not parts.hostname:
        raise ImproperlyConfigured(
            "PLEDGE_PUBLIC_URL must be the public https:// address of Pledge to put an "
            "unsubscribe link in marketing emails (P19, RFC 8058)"
        )
    path = reverse("consent:unsubscribe", kwargs={"token": make_token(customer_id, purpose)})
    return f"{base}{path}"


def list_unsubscribe_headers(customer_id: uuid.UUID, purpose: str) -> dict[str, str]:
    """The headers every marketing email carries (RFC 2369, RFC 8058)."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(customer_id, purpose)}>",
        "List-Unsubscribe-Post": ONE_CLICK_BODY,
    }
