"""A real SMTP server for tests (aiosmtpd on a free port) and helpers to read what it received.

def test_x(mailbox):            # Django's email settings point at the server
    ...                         # the code under test queues an email in the outbox
    deliver_outbox()            # what `pledge worker` does: send what is due
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
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest

# ── A real SMTP server ────────────────────────────────────────────────────────────────────────


@dataclass
class Mailbox:
    """Messages received by the test SMTP server, in arrival order."""

    messages: list[EmailMessage] = field(default_factory=list)
    server: SMTPServer | None = None
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


Hook = Callable[[], Awaitable[None] | None]


class SMTPServer:
    """The test SMTP server on a fixed free port: it can be stopped and started again (the
    "server down" tests), refuse recipients, and run hooks at RCPT or after receiving DATA
    (the crash tests kill the delivery worker there). Hooks run in the server's event loop."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self.port = _free_port()
        self.rcpt_reply: str | None = None  # e.g. "550 5.1.1 No such user": refuse recipients
        self.data_reply: str | None = None  # e.g. "451 4.3.0 Try again later"
        self.hang_up_after_data = False  # keep the message, close without answering the "."
        # Hooks run one per command, in order: the first RCPT runs on_rcpt[0], and so on.
        self.on_rcpt: list[Hook] = []
        self.on_data: list[Hook] = []  # after the message is received, before the reply
        self.sessions = 0  # SMTP transactions begun (MAIL FROM), finished or not
        self._controller: Any = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        if self._controller is None:
            self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            with contextlib.suppress(Exception):
                controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None


class _Handler:
    def __init__(self, server: SMTPServer) -> None:
        self.server = server

    @staticmethod
    async def _run(hooks: list[Hook]) -> None:
        if hooks:
            result = hooks.pop(0)()
            if result is not None:
                await result

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.server.sessions += 1
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        await self._run(self.server.on_rcpt)
        if self.server.rcpt_reply is not None:
            return self.server.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.server.data_reply is not None:
            return self.server.data_reply
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.server.mailbox.receive(message)
        await self._run(self.server.on_data)
        if self.server.hang_up_after_data:
            server.transport.close()
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def mailbox(settings: Any) -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on a free port, started; Django's SMTP backend points at it.
    Yields what it receives; `mailbox.server` (or the `smtp_server` fixture) controls it."""
    server = SMTPServer(Mailbox())
    server.mailbox.server = server
    server.start()
    # pytest-django swaps in the in-memory backend; these tests want the real one.
    settings.EMAIL_BACKEND = "pledge.notify.backends.SMTPBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 10
    settings.DEFAULT_FROM_EMAIL = "pledge@shop.example"
    try:
        yield server.mailbox
    finally:
        server.stop()


@pytest.fixture
def smtp_server(mailbox: Mailbox) -> SMTPServer:
    """The server behind `mailbox`: `.stop()` / `.start()` take it down and bring it back on the
    same port; `.rcpt_reply`, `.on_rcpt`, `.on_data` change how it answers."""
    assert mailbox.server is not None
    return mailbox.server


def deliver_outbox() -> int:
    """Send what the outbox holds now, as `pledge worker` would (through Django's email backend:
    the `mailbox` server when a test uses it, else the in-memory backend); returns how many."""
    from pledge.notify.delivery import deliver_due

    return deliver_due()


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage, path_prefix: str) -> str:
    """The path of the first link under `path_prefix` in the message body."""
    match = re.search(r"https?://[^/\s]+(" + re.escape(path_prefix) + r"\S+)", body_of(message))
    assert match, body_of(message)
    return match.group(1)
