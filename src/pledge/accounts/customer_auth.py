"""Sessions of signed-in customers in the privacy center (P16, P18).

A signed-in session holds two keys: `pledge_customer` (the account id) and `pledge_customer_hash`,
an HMAC of the account's password hash, so changing or resetting the password signs out every
other session. Each session is also described by a `CustomerSession` row (the "where am I signed
in" list); a session without its row is anonymous, so revoking one (row and stored session
deleted) takes effect on its very next request whatever the session engine.

The `pledge_device` cookie (signed, HttpOnly, long-lived, strictly necessary for account security)
holds a random id; `CustomerDevice` keeps only an HMAC of it per account, so a sign-in from a
browser the account never used can be told apart and announced by email (P16).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from pledge.accounts.models import CustomerAccount, CustomerSession

SESSION_ACCOUNT = "pledge_customer"
SESSION_HASH = "pledge_customer_hash"
DEVICE_COOKIE = "pledge_device"
_DEVICE_SALT = "pledge.accounts.customer_device"
_SESSION_HASH_SALT = "pledge.accounts.customer_session"
# 400 days: the longest lifetime browsers accept for a cookie (RFC 6265bis).
DEVICE_COOKIE_SECONDS = 400 * 86400
# Writing last_seen_at on every request would turn every page view into a write.
LAST_SEEN_PRECISION = dt.timedelta(minutes=1)
_CACHE_ATTRIBUTE = "_pledge_customer_account"


# ── The signed-in account ─────────────────────────────────────────────────────────────────────


def session_hash(account: CustomerAccount) -> str:
    return salted_hmac(_SESSION_HASH_SALT, account.password, algorithm="sha256").hexdigest()


def can_sign_in(account: CustomerAccount) -> bool:
    return account.verified_at is not None and account.disabled_at is None


def signed_in_account(request: HttpRequest) -> CustomerAccount | None:
    """The account signed in to this session, or None (anonymous, revoked, password changed,
    disabled). One query per request; cached on the request."""
    if hasattr(request, _CACHE_ATTRIBUTE):
        cached: CustomerAccount | None = getattr(request, _CACHE_ATTRIBUTE)
        return cached
    account = _load_signed_in(request)
    setattr(request, _CACHE_ATTRIBUTE, account)
    return account


def forget_cached_account(request: HttpRequest) -> None:
    if hasattr(request, _CACHE_ATTRIBUTE):
        delattr(request, _CACHE_ATTRIBUTE)


def _load_signed_in(request: HttpRequest) -> CustomerAccount | None:
    session = getattr(request, "session", None)
    if session is None or not session.session_key:
        return None
    raw = session.get(SESSION_ACCOUNT)
    try:
        account_id = uuid.UUID(str(raw))
    except ValueError:
        return None
    row = (
        CustomerSession.objects.select_related("account")
        .filter(session_key=session.session_key, account_id=account_id)
        .first()
    )
    if row is None:
        return None
    account = row.account
    if not can_sign_in(account) or not constant_time_compare(
        str(session.get(SESSION_HASH, "")), session_hash(account)
    ):
        return None
    now = timezone.now()
    if row.last_seen_at < now - LAST_SEEN_PRECISION:
        CustomerSession.objects.filter(pk=row.pk).update(last_seen_at=now)
    return account


def current_session_key(request: HttpRequest) -> str:
    session = getattr(request, "session", None)
    return str(session.session_key or "") if session is not None else ""


# ── The session store ─────────────────────────────────────────────────────────────────────────


def session_store(session_key: str | None = None) -> SessionBase:
    engine = import_module(settings.SESSION_ENGINE)
    store: SessionBase = engine.SessionStore(session_key)
    return store


def session_alive(session_key: str, account_id: uuid.UUID) -> bool:
    """Does the stored session still exist, unexpired, signed in as this account?"""
    data = session_store(session_key).load()  # {} when missing or expired
    return str(data.get(SESSION_ACCOUNT, "")) == str(account_id)


def delete_stored_sessions(session_keys: list[str]) -> None:
    store = session_store()
    for key in session_keys:
        store.delete(key)


# ── The device cookie (P16: new-device notice) ────────────────────────────────────────────────


def device_cookie(request: HttpRequest) -> str | None:
    """The random id of this browser's `pledge_device` cookie, if it carries a valid one."""
    try:
        value = request.get_signed_cookie(DEVICE_COOKIE, salt=_DEVICE_SALT)
    except (KeyError, signing.BadSignature):
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]{22,64}", value):
        return None
    return value


def new_device_id() -> str:
    return secrets.token_urlsafe(24)


def device_digest(account_id: uuid.UUID, device_id: str) -> str:
    # Per account: the same browser gives unrelated digests in two accounts' rows.
    return salted_hmac(_DEVICE_SALT, f"{account_id}:{device_id}", algorithm="sha256").hexdigest()


def set_device_cookie(response: HttpResponse, device_id: str) -> None:
    response.set_signed_cookie(
        DEVICE_COOKIE,
        device_id,
        salt=_DEVICE_SALT,
        max_age=DEVICE_COOKIE_SECONDS,
        path="/me/",
        secure=bool(settings.SESSION_COOKIE_SECURE),
        httponly=True,
        samesite="Lax",
    )


# ── What browser is this (a label, never the user-agent string) ──────────────────────────────

_BROWSERS = (
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("CocCoc", "Cốc Cốc"),
    ("Zalo", "Zalo"),
    ("FxiOS/", "Firefox"),
    ("Firefox/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("iPod", "iOS"),
    ("Windows", "Windows"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)
_LABEL_SEPARATOR = " on "


def device_label(user_agent: str) -> str:
    """A label such as "Firefox on Linux", "Chrome on Android", "Safari", or "" (unknown):
    stored in English, shown translated by `describe_device`."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), "")
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    if browser and system:
        return f"{browser}{_LABEL_SEPARATOR}{system}"
    return browser or system


def describe_device(label: str) -> str:
    """The label in the current language."""
    if _LABEL_SEPARATOR in label:
        browser, system = label.split(_LABEL_SEPARATOR, 1)
        return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}
    return label or _("an unknown browser")
