"""Pledge settings: one file, every value from the environment (see conf.py and docs/settings.md).

SQLite under `var/` is the default so a fresh checkout just works; `DATABASE_URL` switches to
PostgreSQL, the production database.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.utils.translation import gettext_lazy as _

from pledge.conf import (
    ImproperlyConfiguredError,
    env,
    envbool,
    envint,
    envlist,
    envsecret,
)

PACKAGE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(env("PLEDGE_VAR_DIR", str(Path.cwd() / "var"))).resolve()
# Private to the service's user: the database, keys and encrypted files live here.
VAR_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)

DEBUG = envbool("PLEDGE_DEBUG", False)


def _secret_key() -> str:
    key = envsecret("PLEDGE_SECRET_KEY")
    if key is not None:
        if len(key) < 32:
            raise ImproperlyConfiguredError(
                "PLEDGE_SECRET_KEY must be at least 32 characters; generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return key
    # Without an explicit key, keep a generated one under var/ so sessions survive restarts.
    # A production deployment should pass PLEDGE_SECRET_KEY(_FILE); docs/settings.md says so.
    path = VAR_DIR / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(key, encoding="utf-8")
    return key


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = envlist("PLEDGE_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("PLEDGE_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "pledge",
    "pledge.policy",
    "pledge.audit",
    "pledge.vault",
    "pledge.consent",
    "pledge.api",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "pledge.accounts",
    "pledge.console",
    "pledge.notify",
    "pledge.portal",
    "pledge.rights",
    "pledge.complaints",
    "pledge.incidents",
    "pledge.disclosures",
    "pledge.retention",
    "pledge.demoshop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "pledge.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): the second factor of this session (P16, issue 4).
    "django_otp.middleware.OTPMiddleware",
    "pledge.accounts.middleware.StaffSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "pledge.urls"
WSGI_APPLICATION = "pledge.wsgi.application"

TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pledge.console.context.staff",
            ],
        },
    },
]


def _database() -> dict[str, Any]:
    url = env("DATABASE_URL")
    if not url:
        # The database holds ciphertexts, blind indexes and the audit log: readable by the
        # service's own user only.
        db_file = VAR_DIR / "pledge.sqlite3"
        if not db_file.exists():
            db_file.touch(mode=0o600)  # SQLite gives its -wal and -shm files the same mode
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "pledge.sqlite3",
            "OPTIONS": {
                # WAL lets the web server read while a worker writes. secure_delete zeroes what
                # a deletion frees (ciphertexts, index rows), not only the build's default.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;"
                ),
                # Take the write lock when a transaction starts: the audit chain reads its head
                # and appends in one transaction, which must not interleave with another writer.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    if not url.startswith(("postgres://", "postgresql://", "sqlite://")):
        raise ImproperlyConfiguredError(
            "DATABASE_URL must start with postgresql:// (or sqlite:// for an embedded file); "
            f"got a URL with scheme {url.split(':', 1)[0]!r}"
        )
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60))
    except ValueError as exc:
        raise ImproperlyConfiguredError(f"DATABASE_URL cannot be parsed: {exc}") from None
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    # OWASP: Argon2id first; the others only verify legacy hashes.
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

LANGUAGE_CODE = "vi"
LANGUAGES = [("vi", _("Vietnamese")), ("en", _("English"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env("PLEDGE_TIME_ZONE", "Asia/Ho_Chi_Minh")
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise serves from here after collectstatic
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

# P14: secure deployment defaults. Behind TLS (the production case) set PLEDGE_HTTPS=1.
HTTPS = envbool("PLEDGE_HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = envint("PLEDGE_HSTS_SECONDS", 31_536_000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Uploads and request bodies: refuse oversized input before it reaches a view.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("PLEDGE_MAX_BODY_BYTES", 2_621_440, minimum=1024)

# Keys (vault/keyring.py): master keys, the blind-index key and the audit signing key live outside
# the database, in PLEDGE_KEYRING(_FILE) or else a file under var/keys/ created on first use.
PLEDGE_KEYRING_PATH = Path(env("PLEDGE_KEYRING_PATH", str(VAR_DIR / "keys" / "keyring.json")))
# Customers' wrapped data keys live in this key store, apart from the database, so that destroying
# one also makes every earlier database backup unreadable for that customer (issue 6, erasure).
PLEDGE_KEYSTORE_PATH = Path(env("PLEDGE_KEYSTORE_PATH", str(VAR_DIR / "keys" / "keystore.sqlite3")))
# Encrypted files (identity-document images) live here, never in the database.
PLEDGE_FILES_DIR = Path(env("PLEDGE_FILES_DIR", str(VAR_DIR / "files")))
PLEDGE_ID_DOCUMENT_MAX_BYTES = envint("PLEDGE_ID_DOCUMENT_MAX_BYTES", 5_242_880, minimum=1024)
# The payment service provider adapter (dotted path to a class, vault/payments.py). Empty: the
# offline test gateway, which charges nothing; `pledge check --deploy` warns about it.
PLEDGE_PAYMENT_GATEWAY = env("PLEDGE_PAYMENT_GATEWAY", "")
# A signed checkpoint of the audit chain every N events.
PLEDGE_AUDIT_CHECKPOINT_EVERY = envint("PLEDGE_AUDIT_CHECKPOINT_EVERY", 1000, minimum=1)
# How long a process trusts its cached copy of the policy in force before looking again.
PLEDGE_POLICY_CACHE_SECONDS = envint("PLEDGE_POLICY_CACHE_SECONDS", 5, minimum=0)

# Staff sign-in (P16): PLEDGE_LOGIN_MAX_FAILURES failures are allowed within the window; the next
# one locks the account and the client address.
PLEDGE_LOGIN_MAX_FAILURES = envint("PLEDGE_LOGIN_MAX_FAILURES", 5, minimum=1)
PLEDGE_LOGIN_WINDOW_SECONDS = envint("PLEDGE_LOGIN_WINDOW_SECONDS", 900, minimum=1)
PLEDGE_LOCKOUT_SECONDS = envint("PLEDGE_LOCKOUT_SECONDS", 900, minimum=1)
LOGIN_URL = "/console/login/"
PASSWORD_RESET_TIMEOUT = envint("PLEDGE_PASSWORD_RESET_SECONDS", 3600, minimum=300)
# Staff sessions end after a working day (Django's default is two weeks).
SESSION_COOKIE_AGE = envint("PLEDGE_SESSION_SECONDS", 8 * 3600, minimum=300)
OTP_TOTP_ISSUER = env("PLEDGE_OTP_ISSUER", "Pledge")

# Outgoing email (password resets, invitations; the outbox of issue 5 builds on it).
EMAIL_HOST = env("PLEDGE_EMAIL_HOST", "localhost")
EMAIL_PORT = envint("PLEDGE_EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env("PLEDGE_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = envsecret("PLEDGE_EMAIL_PASSWORD") or ""
EMAIL_USE_TLS = envbool("PLEDGE_EMAIL_TLS", False)
DEFAULT_FROM_EMAIL = env("PLEDGE_EMAIL_FROM", "pledge@localhost")
EMAIL_TIMEOUT = envint("PLEDGE_EMAIL_TIMEOUT", 30, minimum=1)

# The shop this instance serves (its `shop:` key); empty means the shop published last.
PLEDGE_SHOP = env("PLEDGE_SHOP", "")
# The address customers reach Pledge at (https://privacy.shop.example), for links in emails sent
# by the worker, where there is no request to take it from.
PLEDGE_PUBLIC_URL = env("PLEDGE_PUBLIC_URL", "").rstrip("/")

# The outbox (notify/): SMTP through our backend, which commits "handed over" before the final
# "." of DATA so that a crash never sends a message twice (docs/notify.md).
EMAIL_BACKEND = env("PLEDGE_EMAIL_BACKEND", "pledge.notify.backends.SMTPBackend")
PLEDGE_OUTBOX_MAX_ATTEMPTS = envint("PLEDGE_OUTBOX_MAX_ATTEMPTS", 10, minimum=1)
PLEDGE_OUTBOX_RETRY_SECONDS = envint("PLEDGE_OUTBOX_RETRY_SECONDS", 30, minimum=1)
PLEDGE_OUTBOX_LEASE_SECONDS = envint("PLEDGE_OUTBOX_LEASE_SECONDS", 300, minimum=5)
PLEDGE_WORKER_INTERVAL_SECONDS = envint("PLEDGE_WORKER_INTERVAL_SECONDS", 5, minimum=1)

# Customer accounts of the privacy center (/me/).
PLEDGE_CUSTOMER_SESSION_SECONDS = envint("PLEDGE_CUSTOMER_SESSION_SECONDS", 14 * 86400, minimum=300)
PLEDGE_VERIFY_EMAIL_SECONDS = envint("PLEDGE_VERIFY_EMAIL_SECONDS", 72 * 3600, minimum=300)

# Data-subject requests (rights/): the one-time code of the public request form, and how long a
# signed link to a customer's data package works.
PLEDGE_IDENTITY_CODE_SECONDS = envint("PLEDGE_IDENTITY_CODE_SECONDS", 15 * 60, minimum=60)
PLEDGE_IDENTITY_CODE_ATTEMPTS = envint("PLEDGE_IDENTITY_CODE_ATTEMPTS", 5, minimum=1)
PLEDGE_EXPORT_LINK_SECONDS = envint("PLEDGE_EXPORT_LINK_SECONDS", 7 * 86400, minimum=300)

# The complaints desk (complaints/): how long after an answer the customer may reopen it; evidence
# attachments (encrypted files under PLEDGE_EVIDENCE_DIR, never in the database) and their limits;
# the inbound mail listener (`pledge mail-in`): the largest message accepted, and the
# authserv-id of the shop's mail server whose Authentication-Results header is trusted (empty:
# no sender counts as verified, every mail-in complaint is filed as unverified).
PLEDGE_COMPLAINT_REOPEN_DAYS = envint("PLEDGE_COMPLAINT_REOPEN_DAYS", 30, minimum=1)
PLEDGE_EVIDENCE_DIR = Path(env("PLEDGE_EVIDENCE_DIR", str(VAR_DIR / "evidence")))
PLEDGE_EVIDENCE_MAX_BYTES = envint("PLEDGE_EVIDENCE_MAX_BYTES", 5_242_880, minimum=1024)
PLEDGE_EVIDENCE_MAX_FILES = envint("PLEDGE_EVIDENCE_MAX_FILES", 5, minimum=1)
PLEDGE_MAILIN_MAX_BYTES = envint("PLEDGE_MAILIN_MAX_BYTES", 26_214_400, minimum=65_536)
PLEDGE_MAILIN_AUTHSERV_ID = env("PLEDGE_MAILIN_AUTHSERV_ID", "")

# Aggregates shared outside the shop (P12): a group of fewer than K people is suppressed.
PLEDGE_AGGREGATE_K = envint("PLEDGE_AGGREGATE_K", 10, minimum=2)
# Retention sweeps (retention/): rows per batch (each batch one transaction, resumable).
PLEDGE_RETENTION_BATCH = envint("PLEDGE_RETENTION_BATCH", 500, minimum=1)
# Customer notices of an incident (incidents/): messages queued per batch.
PLEDGE_INCIDENT_NOTICE_BATCH = envint("PLEDGE_INCIDENT_NOTICE_BATCH", 200, minimum=1)

# The cookie banner (P07): origins of the shop's site allowed to post choices (the policy's
# controller website is always allowed), and how long a choice lasts before the banner asks again.
PLEDGE_BANNER_ORIGINS = envlist("PLEDGE_BANNER_ORIGINS", [])
PLEDGE_COOKIE_CONSENT_DAYS = envint("PLEDGE_COOKIE_CONSENT_DAYS", 365, minimum=1)

# The demo storefront's API key (/demo-shop/); `pledge demo` keeps one in var/demo-shop.key.
PLEDGE_DEMO_SHOP_KEY = envsecret("PLEDGE_DEMO_SHOP_KEY") or ""

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"secrets": {"()": "pledge.logfilters.RedactSecretPaths"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env("PLEDGE_LOG_LEVEL", "INFO")},
}
