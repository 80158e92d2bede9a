"""SMTP that commits "handed over" before the final "." of DATA (docs/notify.md).

An SMTP transaction is the server's to keep only once it has read the line "." that ends DATA and
answered 250; a connection that closes before that line cancels the transaction (RFC 5321 §3.8:
the server acts as if RSET had been received). So this backend speaks the transaction in two
steps: MAIL, RCPT, DATA and the whole (dot-stuffed) message *without* the terminating ".", then
the caller's `hand_over` callback (the outbox commits the status `handed_over`), then "." and the
server's reply.

- If the worker dies before `hand_over` has committed, the server holds an unfinished transaction
  and drops it when the connection closes: the message is still `sending` and is sent again later.
- If it dies after ".", the row says `handed_over`: it is never sent again (recovery marks it
  sent). Only a crash in the one round trip between that commit and the server reading "." can
  lose a message, and that message stays visible (docs/notify.md, "Crash analysis").

Everything else (STARTTLS, SSL, login, timeouts) is Django's `EmailBackend.open()`.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.message import sanitize_address

CRLF = b"\r\n"
HandOver = Callable[[], None]


class DeliveryUnconfirmed(Exception):
    """The final "." was sent (or may have been) but no reply came: the server may hold the
    message. Sending it again could deliver it twice, so the outbox counts it as sent."""


def _crlf_lines(data: bytes) -> bytes:
    # Bare CR or LF are not line ends in SMTP (RFC 5321 §2.3.8).
    return re.sub(rb"\r\n|\n|\r", CRLF, data)


def _dot_stuffed(data: bytes) -> bytes:
    # RFC 5321 §4.5.2: a line that starts with "." gets one more, or it would end DATA early.
    return re.sub(rb"(?m)^\.", b"..", data)


def _no_hand_over() -> None:
    return None


class SMTPBackend(EmailBackend):
    """Django's SMTP backend with a two-step DATA (see the module docstring)."""

    def send_handing_over(self, email_message: EmailMessage, hand_over: HandOver) -> None:
        """Send one message; `hand_over()` runs after the body and before the final ".".

        Raises what smtplib raises for a refusal (with `smtp_code`), an OSError when the server
        cannot be reached, `DeliveryUnconfirmed` when the connection failed after ".", and
        whatever `hand_over` raised (the transaction is then abandoned, never completed).
        """
        with self._lock:
            self.open()  # raises: this backend is never fail_silently for the outbox
            if self.connection is None:
                raise smtplib.SMTPServerDisconnected("no connection to the SMTP server")
            self._transaction(email_message, hand_over)

    def _send(self, email_message: EmailMessage) -> bool:
        # Django's send_messages() comes here: the same protocol, with nothing to commit.
        if not email_message.recipients():
            return False
        try:
            self._transaction(email_message, _no_hand_over)
        except (smtplib.SMTPException, DeliveryUnconfirmed):
            if not self.fail_silently:
                raise
            return False
        return True

    def _abandon(self) -> None:
        """Drop the connection without "." or QUIT: the server cancels the transaction. (QUIT
        here would be read as a line of the message, and its reply never comes.)"""
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()

    def _transaction(self, email_message: EmailMessage, hand_over: HandOver) -> None:
        connection: Any = self.connection
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        sender = sanitize_address(email_message.from_email, encoding)
        recipients: Sequence[str] = [
            sanitize_address(address, encoding) for address in email_message.recipients()
        ]
        data = _crlf_lines(email_message.message().as_bytes(linesep="\r\n"))

        connection.ehlo_or_helo_if_needed()
        options: list[str] = []
        if connection.does_esmtp:
            if connection.has_extn("size"):
                options.append(f"SIZE={len(data)}")
            if connection.has_extn("8bitmime") and not data.isascii():
                options.append("BODY=8BITMIME")
        code, reply = connection.mail(sender, options)
        if code != 250:
            self._reset(connection)
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        refused: dict[str, tuple[int, bytes]] = {}
        for recipient in recipients:
            code, reply = connection.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, reply)
        if len(refused) == len(recipients):
            self._reset(connection)
            raise smtplib.SMTPRecipientsRefused(refused)
        code, reply = connection.docmd("data")
        if code != 354:
            self._reset(connection)
            raise smtplib.SMTPDataError(code, reply)
        body = _dot_stuffed(data)
        if not body.endswith(CRLF):
            body += CRLF
        connection.send(body)  # everything but the line "." that would complete the transaction
        try:
            hand_over()
        except BaseException:
            self._abandon()
            raise
        try:
            connection.send(b"." + CRLF)
            code, reply = connection.getreply()
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            self._abandon()
            raise DeliveryUnconfirmed(
                "the connection failed after the end of the message was sent"
            ) from exc
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)

    @staticmethod
    def _reset(connection: Any) -> None:
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            connection.rset()
