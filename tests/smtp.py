"""A real SMTP server for tests (aiosmtpd on a free port) and helpers to read what it received.

def test_x(mailbox):            # Django's email settings point at the server
    ...
    message = mailbox.wait_for(1)[0]
    link = link_in(message, "/me/verify/")
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest

# ── A real SMTP server ────────────────────────────────────────────────────────────────────────


@dataclass
class Mailbox:
    """Messages received by the test SMTP server, in arrival order."""

    messages: list[EmailMessage] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def receive(self, message: EmailMessage) -> None:
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{count} message(s) expected at the SMTP server, {len(self.messages)} "
                        "arrived"
                    )
                self._arrived.wait(left)
            return list(self.messages)

    def settle(self, seconds: float = 0.5) -> list[EmailMessage]:
        """Whatever has arrived after a short wait (to show that nothing more comes)."""
        time.sleep(seconds)
        with self._arrived:
            return list(self.messages)


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.mailbox.receive(message)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def mailbox(settings: Any) -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on a free port; Django's SMTP backend points at it."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = _free_port()
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=port)
    controller.start()
    # pytest-django swaps in the in-memory backend; these tests want the real one.
    settings.EMAIL_BACKEND = "pledge.notify.backends.SMTPBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 10
    settings.DEFAULT_FROM_EMAIL = "pledge@shop.example"
    try:
        yield box
    finally:
        with contextlib.suppress(Exception):
            controller.stop()


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage, path_prefix: str) -> str:
    """The path of the first link under `path_prefix` in the message body."""
    match = re.search(r"https?://[^/\s]+(" + re.escape(path_prefix) + r"\S+)", body_of(message))
    assert match, body_of(message)
    return match.group(1)
