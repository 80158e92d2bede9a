"""Logging filters. Logs never hold personal data or live secrets (ARCHITECTURE.md invariants).

Django logs the path of every failed request ("Internal Server Error: /me/verify/<token>/"). Some
paths carry a secret that still works: an email-verification or password-reset link, an
unsubscribe token, a staff set-up link. The views themselves log 4xx answers by their route
(consent/secret_paths.py); this filter covers everything else, such as an exception inside those
views, by cutting the secret out of any log line.
"""

from __future__ import annotations

import logging
import re

SECRET_PATH = re.compile(
    r"(/me/verify/|/me/password-reset/|/consent/unsubscribe/|/console/password-reset/"
    r"|/console/setup/|/data-package/)[^\s'\"?#<]+"
)


def redact(text: str) -> str:
    return SECRET_PATH.sub(r"\1<redacted>/", text)


class RedactSecretPaths(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call: leave it to the handler
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
