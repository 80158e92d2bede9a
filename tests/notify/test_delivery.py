"""Delivery in one process: sent once, retried with growing delays while the SMTP server is down,
given up after the last attempt or at once on a permanent refusal, never logging an address."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from pledge.notify.delivery import MAX_RETRY_DELAY, UNCONFIRMED, deliver_due, retry_delay
from pledge.notify.models import OutboxMessage
from pledge.notify.services import discard_for_customer
from tests.notify.conftest import queue, reset_context, row
from tests.smtp import Mailbox, SMTPServer, body_of, deliver_outbox

pytestmark = pytest.mark.django_db
Status = OutboxMessage.Status
ADDRESS = "tran.thi.mai@example.vn"
SECRET_LINK = "https://privacy.shop.example/console/password-reset/MQ/s3cr3t-t0ken/"


def test_a_queued_message_is_sent_once_and_forgotten(mailbox: Mailbox) -> None:
    message = queue(ADDRESS)
    assert row(message).status == Status.QUEUED
    assert deliver_outbox() == 1
    assert deliver_outbox() == 0
    [received] = mailbox.wait_for(1)
    assert received["To"] == ADDRESS and received["From"] == "pledge@shop.example"
    sent = row(message)
    assert (sent.status, sent.attempts, sent.last_error) == (Status.SENT, 1, "")
    assert sent.sent_at is not None
    # Sent: the address and the text are gone from the row.
    assert sent.sealed is None and sent.wrapped_key is None
    assert mailbox.messages == [received]


def test_with_the_smtp_server_down_it_retries_with_growing_delays_then_delivers(
    smtp_server: SMTPServer, settings: Any
) -> None:
    settings.PLEDGE_OUTBOX_RETRY_SECONDS = 10
    smtp_server.stop()
    message = queue(ADDRESS)
    now = timezone.now()
    delays = []
    for attempt in (1, 2, 3):
        assert deliver_due(now) == 0
        failed = row(message)
        assert (failed.status, failed.attempts) == (Status.QUEUED, attempt)
        assert failed.last_error == "ConnectionRefusedError"
        assert failed.sealed is not None  # still to be sent
        delays.append(failed.next_attempt_at - now)
        # Not due before its time: nothing happens.
        assert deliver_due(failed.next_attempt_at - timedelta(seconds=1)) == 0
        assert row(message).attempts == attempt
        now = failed.next_attempt_at
    # 10 s doubled per attempt, less up to a quarter of jitter: each longer than the last.
    assert timedelta(seconds=7.5) <= delays[0] <= timedelta(seconds=10)
    assert timedelta(seconds=15) <= delays[1] <= timedelta(seconds=20)
    assert timedelta(seconds=30) <= delays[2] <= timedelta(seconds=40)

    smtp_server.start()
    assert deliver_due(now) == 1
    assert deliver_due(now + timedelta(hours=2)) == 0
    [received] = smtp_server.mailbox.wait_for(1)
    assert received["To"] == ADDRESS
    assert len(smtp_server.mailbox.messages) == 1
    assert (row(message).status, row(message).attempts) == (Status.SENT, 4)


def test_the_delay_is_capped_at_one_hour(settings: Any) -> None:
    settings.PLEDGE_OUTBOX_RETRY_SECONDS = 30
    assert all(retry_delay(n) <= MAX_RETRY_DELAY for n in range(1, 40))
    assert retry_delay(12) >= MAX_RETRY_DELAY * 0.75


def test_after_the_last_attempt_it_fails_and_forgets_the_text(
    smtp_server: SMTPServer, settings: Any
) -> None:
    settings.PLEDGE_OUTBOX_MAX_ATTEMPTS = 2
    smtp_server.stop()
    message = queue(ADDRESS)
    deliver_due()
    deliver_due(row(message).next_attempt_at)
    failed = row(message)
    assert (failed.status, failed.attempts) == (Status.FAILED, 2)
    assert failed.sealed is None and failed.wrapped_key is None
    smtp_server.start()
    assert deliver_due(timezone.now() + timedelta(days=1)) == 0
    assert smtp_server.mailbox.messages == []


def test_a_permanent_refusal_fails_at_once(smtp_server: SMTPServer) -> None:
    smtp_server.rcpt_reply = "550 5.1.1 <tran.thi.mai@example.vn>: no such user"
    message = queue(ADDRESS)
    assert deliver_due() == 0
    failed = row(message)
    assert (failed.status, failed.attempts) == (Status.FAILED, 1)
    # The code and the class: never the server's text, which quotes the address.
    assert failed.last_error == "550 SMTPRecipientsRefused"
    assert failed.sealed is None


def test_a_temporary_refusal_is_retried(smtp_server: SMTPServer) -> None:
    smtp_server.data_reply = "451 4.3.0 Try again later"
    message = queue(ADDRESS)
    assert deliver_due() == 0
    retried = row(message)
    assert (retried.status, retried.last_error) == (Status.QUEUED, "451 SMTPDataError")
    smtp_server.data_reply = None
    assert deliver_due(retried.next_attempt_at) == 1
    assert len(smtp_server.mailbox.wait_for(1)) == 1


def test_a_connection_lost_after_the_final_dot_is_not_sent_again(
    smtp_server: SMTPServer,
) -> None:
    # The server may hold the message (here it does): sending it again could deliver it twice.
    smtp_server.hang_up_after_data = True
    message = queue(ADDRESS)
    assert deliver_due() == 1
    sent = row(message)
    assert (sent.status, sent.last_error, sent.sealed) == (Status.SENT, UNCONFIRMED, None)
    smtp_server.hang_up_after_data = False
    assert deliver_due(timezone.now() + timedelta(hours=2)) == 0
    assert len(smtp_server.mailbox.messages) == 1


def test_more_messages_than_one_claim_batch_are_all_sent(smtp_server: SMTPServer) -> None:
    for n in range(12):  # more than one claim batch
        queue(f"customer{n}@example.vn")
    assert deliver_due() == 12
    assert sorted(m["To"] for m in smtp_server.mailbox.wait_for(12)) == sorted(
        f"customer{n}@example.vn" for n in range(12)
    )
    assert smtp_server.sessions == 12
    assert not OutboxMessage.objects.exclude(status=Status.SENT).exists()


def test_the_limit_bounds_one_call(mailbox: Mailbox) -> None:
    for n in range(3):
        queue(f"customer{n}@example.vn")
    assert deliver_due(limit=2) == 2
    assert deliver_due(limit=2) == 1


def test_logs_hold_no_address_subject_body_or_link(
    smtp_server: SMTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pledge")
    queue(ADDRESS, context=reset_context(SECRET_LINK))
    smtp_server.rcpt_reply = f"451 4.2.0 <{ADDRESS}> mailbox busy"
    deliver_due()
    smtp_server.rcpt_reply = None
    deliver_due(timezone.now() + timedelta(hours=1))
    assert body_of(smtp_server.mailbox.wait_for(1)[0]).count(SECRET_LINK) == 1
    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if r.name.startswith("pledge")
    )
    assert "queued" in logged and "451 SMTPRecipientsRefused" in logged and " sent" in logged
    for secret in (ADDRESS, "tran.thi.mai", SECRET_LINK, "s3cr3t", "Reset your password"):
        assert secret not in logged


def test_a_customers_unsent_messages_are_discarded(mailbox: Mailbox) -> None:
    customer = uuid.UUID("5d1c7a1e-6f0e-4d39-9a57-0c1f4f3c2b11")
    mine = queue(ADDRESS, customer_id=customer)
    other = queue("someone@example.vn")
    assert discard_for_customer(customer) == 1
    discarded = row(mine)
    assert (discarded.status, discarded.last_error, discarded.sealed) == (
        Status.FAILED,
        "discarded",
        None,
    )
    assert deliver_due() == 1
    assert [m["To"] for m in mailbox.wait_for(1)] == ["someone@example.vn"]
    assert row(other).status == Status.SENT


def test_a_tampered_message_fails_without_being_sent(mailbox: Mailbox) -> None:
    message = queue(ADDRESS)
    sealed = bytearray(row(message).sealed or b"")
    sealed[-1] ^= 1
    OutboxMessage.objects.filter(pk=message.pk).update(sealed=bytes(sealed))
    assert deliver_due() == 0
    failed = row(message)
    assert (failed.status, failed.last_error) == (Status.FAILED, "SealBroken")
    assert mailbox.messages == []


def test_other_email_backends_receive_text_and_html(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    message = queue(ADDRESS, language="vi")
    assert deliver_due() == 1
    [sent] = mail.outbox
    assert sent.to == [ADDRESS]
    assert sent.extra_headers["Content-Language"] == "vi"
    assert [kind for _, kind in sent.alternatives] == ["text/html"]  # type: ignore[attr-defined]
    assert row(message).status == Status.SENT
