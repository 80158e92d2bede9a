"""Delivering the outbox: exactly once across crashes and competing workers (docs/notify.md).

One message goes through these states (`OutboxMessage.Status`):

    queued ──claim──▶ sending ──hand over──▶ handed_over ──250──▶ sent
       ▲                 │ failure, retries left
       └─────────────────┘ (back-off)      5xx or no retries left ──▶ failed

- **Claim**: a short transaction takes due rows (`queued` whose time has come, or `sending` whose
  lease ran out because its worker died) with `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL
  (SQLite serialises writers), and gives them this worker's name and a lease.
- **Hand over**: just before the final "." of DATA (`backends.SMTPBackend`), a compare-and-set
  commits `handed_over` only if this worker still holds the claim. Of two workers that both ended
  up sending one message (a lease ran out under a slow server), only one can win; the other
  abandons its SMTP transaction before "." and the server drops it.
- **Recovery**: a `handed_over` row whose lease ran out belongs to a worker that died after "."
  (or in the one round trip before it): it is marked sent, never sent again.

Logs name the message id, the template and the SMTP code: never an address, a subject or a body.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import smtplib
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from pledge.notify.backends import DeliveryUnconfirmed, HandOver, SMTPBackend
from pledge.notify.models import OutboxMessage
from pledge.notify.sealing import Letter, SealBroken, unseal

log = logging.getLogger(__name__)
Status = OutboxMessage.Status

CLAIM_BATCH = 10  # a few at a time, so that a slow server does not outlast the leases
MAX_RETRY_DELAY = timedelta(hours=1)
UNCONFIRMED = "unconfirmed: the worker stopped after handing the message over"


class LeaseLost(Exception):
    """Another worker took this message over (or it was discarded): do not complete it."""


def worker_name() -> str:
    """This process's name in the `worker` column: host, pid and a random tag (a pid is reused)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


_this_worker: tuple[int, str] | None = None


def _worker() -> str:
    global _this_worker
    if _this_worker is None or _this_worker[0] != os.getpid():
        _this_worker = (os.getpid(), worker_name())  # a new name after a fork
    return _this_worker[1]


def retry_delay(attempts: int) -> timedelta:
    """PLEDGE_OUTBOX_RETRY_SECONDS doubled per failed attempt, capped at one hour, less a random
    quarter: workers that failed together do not all come back at once, and each delay is still
    longer than the one before (until the cap)."""
    base = settings.PLEDGE_OUTBOX_RETRY_SECONDS * 2 ** max(0, min(attempts - 1, 20))
    capped = min(float(base), MAX_RETRY_DELAY.total_seconds())
    jitter = 0.75 + secrets.randbelow(251) / 1000  # 0.75 … 1.0
    return timedelta(seconds=capped * jitter)


@dataclass(frozen=True)
class Claim:
    message: OutboxMessage
    worker: str
    attempts: int  # with the worker name, identifies this claim in compare-and-set updates

    def mine(self) -> Q:
        return Q(pk=self.message.pk, worker=self.worker, attempts=self.attempts)


def recover_handed_over(now: datetime) -> int:
    """Mark sent the messages whose worker stopped after handing them over (lease ran out)."""
    stale = list(
        OutboxMessage.objects.filter(status=Status.HANDED_OVER, lease_until__lte=now).values_list(
            "id", "template"
        )
    )
    for message_id, template in stale:
        recovered = OutboxMessage.objects.filter(
            pk=message_id, status=Status.HANDED_OVER, lease_until__lte=now
        ).update(
            status=Status.SENT,
            sent_at=now,
            sealed=None,
            wrapped_key=None,
            lease_until=None,
            last_error=UNCONFIRMED,
        )
        if recovered:
            # Not sent again: the server may hold it (and almost always does). docs/notify.md.
            log.warning(
                "outbox %s (%s): handed over by a worker that stopped; marked sent, unconfirmed",
                message_id,
                template,
            )
    return len(stale)


def _lease_until(now: datetime) -> datetime:
    # From the later of `now` and the clock: a long round must not hand out leases that have
    # already run out.
    return max(now, timezone.now()) + timedelta(seconds=settings.PLEDGE_OUTBOX_LEASE_SECONDS)


def claim_due(now: datetime, limit: int, worker: str) -> list[Claim]:
    """Take up to `limit` due messages for this worker, with a lease."""
    due = Q(status=Status.QUEUED, next_attempt_at__lte=now) | Q(
        status=Status.SENDING, lease_until__lte=now
    )
    lease_until = _lease_until(now)
    with transaction.atomic():
        candidates = OutboxMessage.objects.filter(due).order_by("next_attempt_at")
        if connection.features.has_select_for_update_skip_locked:
            # PostgreSQL: rows another worker is claiming are skipped, not waited for.
            candidates = candidates.select_for_update(skip_locked=True)
        ids = list(candidates.values_list("id", flat=True)[:limit])
        if not ids:
            return []
        # `due` again: on SQLite the IMMEDIATE transaction already holds the write lock, on
        # PostgreSQL the rows are locked; the condition makes the claim safe on any engine.
        OutboxMessage.objects.filter(due, id__in=ids).update(
            status=Status.SENDING,
            worker=worker,
            lease_until=lease_until,
            attempts=F("attempts") + 1,
        )
        claimed = list(
            OutboxMessage.objects.filter(
                id__in=ids, status=Status.SENDING, worker=worker, lease_until=lease_until
            ).order_by("next_attempt_at")
        )
    return [Claim(message=m, worker=worker, attempts=m.attempts) for m in claimed]


def _email(letter: Letter) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        subject=letter.subject,
        body=letter.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[letter.to],
        headers=letter.headers,
    )
    email.attach_alternative(letter.html, "text/html")
    return email


def _hand_over(claim: Claim) -> HandOver:
    def hand_over() -> None:
        # Committed on its own (the worker runs in autocommit) before the final ".". A fresh
        # lease: recovery must not mark the message sent while this worker still awaits the
        # server's answer, which may yet be a refusal to retry.
        with transaction.atomic():
            won = OutboxMessage.objects.filter(claim.mine(), status=Status.SENDING).update(
                status=Status.HANDED_OVER, lease_until=_lease_until(timezone.now())
            )
        if won != 1:
            raise LeaseLost(str(claim.message.pk))

    return hand_over


def _send(backend: BaseEmailBackend, email: EmailMultiAlternatives, hand_over: HandOver) -> None:
    if isinstance(backend, SMTPBackend):
        backend.send_handing_over(email, hand_over)
        return
    # Other backends (locmem, console, a provider's API) have no step before "accepted": hand
    # over just before sending. A failure they report is then an ordinary failed attempt.
    hand_over()
    if backend.send_messages([email]) != 1:
        raise smtplib.SMTPException("the email backend sent nothing")


def _smtp_code(exc: BaseException) -> int | None:
    code = getattr(exc, "smtp_code", None)
    if isinstance(code, int):
        return code
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [value[0] for value in exc.recipients.values()]
        return codes[0] if codes else None
    return None


def _is_permanent(exc: BaseException, code: int | None) -> bool:
    """A 5xx reply to the message itself (sender, recipient, content) means "do not repeat this
    command" (RFC 5321 §4.2.1): no retry will succeed. A 5xx to the connection or the login is a
    setting to fix, not the message's fault: retried like any other failure."""
    if code is None or not 500 <= code < 600:
        return False
    return isinstance(
        exc,
        smtplib.SMTPSenderRefused | smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError,
    )


def _error_text(exc: BaseException, code: int | None) -> str:
    # The code and the class only: a server's reply text may quote the address.
    name = type(exc).__name__
    return f"{code} {name}" if code is not None else name


def _mark_sent(claim: Claim, now: datetime, *, unconfirmed: bool) -> None:
    updated = OutboxMessage.objects.filter(
        claim.mine(), status__in=[Status.SENDING, Status.HANDED_OVER]
    ).update(
        status=Status.SENT,
        sent_at=now,
        sealed=None,
        wrapped_key=None,
        lease_until=None,
        last_error=UNCONFIRMED if unconfirmed else "",
    )
    message = claim.message
    if updated:
        log.info(
            "outbox %s (%s) sent%s", message.pk, message.template, " (unconfirmed)" * unconfirmed
        )


def _mark_failed(claim: Claim, now: datetime, exc: BaseException) -> None:
    message = claim.message
    code = _smtp_code(exc)
    error = _error_text(exc, code)
    if _is_permanent(exc, code) or claim.attempts >= settings.PLEDGE_OUTBOX_MAX_ATTEMPTS:
        OutboxMessage.objects.filter(
            claim.mine(), status__in=[Status.SENDING, Status.HANDED_OVER]
        ).update(
            status=Status.FAILED, sealed=None, wrapped_key=None, lease_until=None, last_error=error
        )
        log.error(
            "outbox %s (%s) failed for good after %d attempt(s): %s",
            message.pk,
            message.template,
            claim.attempts,
            error,
        )
        return
    next_attempt = now + retry_delay(claim.attempts)
    OutboxMessage.objects.filter(
        claim.mine(), status__in=[Status.SENDING, Status.HANDED_OVER]
    ).update(status=Status.QUEUED, next_attempt_at=next_attempt, lease_until=None, last_error=error)
    log.warning(
        "outbox %s (%s) attempt %d failed: %s; next attempt at %s",
        message.pk,
        message.template,
        claim.attempts,
        error,
        next_attempt.isoformat(timespec="seconds"),
    )


def _deliver(claim: Claim, backend: BaseEmailBackend, now: datetime) -> bool:
    message = claim.message
    try:
        letter = unseal(
            message.pk,
            message.key_version,
            message.wrapped_key or b"",
            message.sealed or b"",
            message.customer_id,
        )
    except SealBroken as exc:
        # A lost master key or a tampered row: no retry can open it.
        OutboxMessage.objects.filter(claim.mine(), status=Status.SENDING).update(
            status=Status.FAILED,
            sealed=None,
            wrapped_key=None,
            lease_until=None,
            last_error=type(exc).__name__,
        )
        log.error("outbox %s (%s) cannot be opened: SealBroken", message.pk, message.template)
        return False
    try:
        _send(backend, _email(letter), _hand_over(claim))
    except LeaseLost:
        log.warning("outbox %s (%s): taken over by another worker", message.pk, message.template)
        return False
    except DeliveryUnconfirmed:
        _mark_sent(claim, now, unconfirmed=True)
        return True
    except Exception as exc:  # any refusal or network failure: an attempt, retried or not
        _close_quietly(backend)
        _mark_failed(claim, now, exc)
        return False
    _mark_sent(claim, now, unconfirmed=False)
    return True


def _close_quietly(backend: BaseEmailBackend) -> None:
    # A connection that failed may fail to close as well.
    with contextlib.suppress(Exception):
        backend.close()


def deliver_due(now: datetime | None = None, *, limit: int = 100) -> int:
    """Send the messages that are due (at most `limit`); returns how many were sent."""
    now = now or timezone.now()
    worker = _worker()
    recover_handed_over(now)
    sent = 0
    backend = get_connection(fail_silently=False)
    try:
        while limit > 0:
            claims = claim_due(now, min(CLAIM_BATCH, limit), worker)
            if not claims:
                break
            limit -= len(claims)
            for claim in claims:
                sent += _deliver(claim, backend, now)
    finally:
        _close_quietly(backend)
    return sent
