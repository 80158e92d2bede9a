"""The outbox under test: messages queued through the real service, sent through the real SMTP
backend to a real SMTP server (aiosmtpd, `tests/smtp.py`), in-process or by real `pledge worker`
processes (`installation.py`)."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from pledge.notify.models import OutboxMessage
from pledge.notify.services import enqueue
from tests.notify.installation import installation, migrated_database  # noqa: F401 - fixtures
from tests.smtp import smtp_server  # noqa: F401 - fixture

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
RESET = "accounts/email/password_reset"  # a real template: subject and text, no HTML file


def reset_context(url: str = "https://privacy.shop.example/reset/abc-123/") -> dict[str, Any]:
    return {"shop": "Leman Jewelry", "url": url, "hours": 1}


def queue(
    to: str = "lan.nguyen@example.vn",
    *,
    template: str = RESET,
    language: str = "en",
    context: dict[str, Any] | None = None,
    key: str | None = None,
    **extra: Any,
) -> OutboxMessage:
    """Enqueue inside a transaction, as a service does."""
    with transaction.atomic():
        return enqueue(
            to=to,
            template=template,
            language=language,
            context=reset_context() if context is None else context,
            idempotency_key=key or f"test:{uuid.uuid4()}",
            **extra,
        )


def row(message: OutboxMessage) -> OutboxMessage:
    return OutboxMessage.objects.get(pk=message.pk)


@pytest.fixture
def notify_templates(settings: Any) -> None:
    """The test templates (tests/notify/templates/notifytest/) next to the real ones."""
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"], TEMPLATES_DIR]
    settings.TEMPLATES = templates
