"""Live secrets in URL paths never reach the logs, whatever logs them (ARCHITECTURE.md)."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings

from pledge.logfilters import RedactSecretPaths, redact

TOKEN = "eyJ1Ijo0Mn0:1vQ2xY:abcdefghijklmnopqrstuvwxyz012345"


@pytest.mark.parametrize(
    "path",
    [
        f"/me/verify/{TOKEN}/",
        f"/me/password-reset/{TOKEN}/",
        f"/consent/unsubscribe/{TOKEN}/",
        f"/console/password-reset/MQ/{TOKEN}/",
        f"/console/setup/{TOKEN}/",
        f"/data-package/{TOKEN}/",
        f"/data-package/{TOKEN}/package.zip",
    ],
)
def test_a_secret_path_is_cut_from_a_log_line(path: str) -> None:
    record = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s", (path,), None
    )
    assert RedactSecretPaths().filter(record)
    line = record.getMessage()
    assert TOKEN not in line and "MQ/" not in line
    assert line.startswith("Internal Server Error: /") and "<redacted>" in line


def test_other_lines_are_left_alone() -> None:
    assert redact("Not Found: /me/data/") == "Not Found: /me/data/"


def test_the_console_handler_uses_the_filter() -> None:
    assert "secrets" in settings.LOGGING["handlers"]["console"]["filters"]
    handler_filters = [
        f
        for h in logging.getLogger().handlers
        for f in h.filters
        if isinstance(f, RedactSecretPaths)
    ]
    assert handler_filters, "the root handler does not redact secret paths"
