"""Rendering an outbox message in the recipient's language, and its headers.

A template `T` is three files: `T_subject.txt`, `T_body.txt` and, optionally, `T_body.html`. They
are rendered once, when the message is enqueued, under `translation.override(language)`, so one
template serves Vietnamese and English alike. The two text files are plain text, rendered without
HTML escaping (they need no `{% autoescape off %}`). Without an HTML template the HTML part is
the plain text inside the shared layout `notify/email/base.html`: escaped, with clickable links.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail.utils import DNS_NAME
from django.template import Context, TemplateDoesNotExist
from django.template.loader import get_template, render_to_string
from django.utils import translation

LAYOUT = "notify/email/base.html"
TEMPLATE_NAME = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")
# RFC 5322 §2.2: a field name is printable US-ASCII except the colon.
HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")
HEADER_VALUE_MAX = 998  # RFC 5322 §2.1.1: a line is at most 998 characters

# Headers the outbox writes itself (or Django does); a caller may not replace them.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "auto-submitted",
        "content-language",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)


class RenderingRefused(ValueError):
    """A template or a header that the outbox will not send."""


def shop_name() -> str:
    """The shop's name from the policy in force, or "" when none is published yet."""
    from pledge.policy.enforcement import NoPolicyInForce, enforced_policy

    try:
        return str(enforced_policy().policy.name)
    except NoPolicyInForce:
        return ""


def _render_plain(template: Any, context: Mapping[str, Any]) -> str:
    """A plain-text template rendered without HTML escaping ("Tom & Jerry" stays as it is in a
    subject); the result is a plain str, so the HTML layout escapes it in turn."""
    rendered = template.template.render(Context(dict(context), autoescape=False))
    return str.__str__(rendered)


def render(template: str, language: str, context: Mapping[str, Any]) -> tuple[str, str, str]:
    """(subject, text body, HTML body) of `template` in `language`."""
    if not TEMPLATE_NAME.match(template):
        raise RenderingRefused(
            f"template {template!r}: lower-case letters, digits, _ and / (accounts/email/x)"
        )
    try:
        subject_template = get_template(f"{template}_subject.txt")
        text_template = get_template(f"{template}_body.txt")
    except TemplateDoesNotExist:
        raise RenderingRefused(
            f"template {template!r}: {template}_subject.txt and {template}_body.txt must exist"
        ) from None
    with translation.override(language):
        text = _render_plain(text_template, context)
        # A subject is one line: a stray newline would end the header early.
        subject = " ".join(_render_plain(subject_template, context).split())
        try:
            html_template = get_template(f"{template}_body.html")
        except TemplateDoesNotExist:
            html: str = render_to_string(
                LAYOUT,
                {"language": language, "subject": subject, "text": text, "shop": shop_name()},
            )
        else:
            html = html_template.render({**context, "language": language})
    return subject, text, html


def message_id(idempotency_key: str) -> str:
    """A Message-ID that is the same for every attempt at one message (RFC 5322 §3.6.4), so a
    receiving system can recognise a copy; derived from the key, which it does not reveal."""
    digest = hashlib.sha256(f"pledge-outbox|{idempotency_key}".encode()).hexdigest()[:40]
    _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    domain = address.rpartition("@")[2] if "@" in address else str(DNS_NAME)
    return f"<{digest}@{domain}>"


def checked_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's extra headers, refused when malformed or when they would replace ours."""
    checked: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not HEADER_NAME.match(name):
            raise RenderingRefused(f"header name {name!r} is not a valid RFC 5322 field name")
        if name.lower() in RESERVED_HEADERS:
            raise RenderingRefused(f"header {name} is set by the outbox and cannot be given")
        if not isinstance(value, str):
            raise RenderingRefused(f"header {name}: the value must be text")
        if "\r" in value or "\n" in value or len(value) > HEADER_VALUE_MAX:
            # A line break would let a value add headers of its own (header injection).
            raise RenderingRefused(
                f"header {name}: one line of at most {HEADER_VALUE_MAX} characters"
            )
        checked[name] = value
    return checked
