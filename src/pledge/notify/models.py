"""The transactional outbox: one row per email to send, written in the same transaction as the
change that causes it (ARCHITECTURE.md, "Email").

The row holds no plaintext: recipient, subject and bodies are sealed together (`sealed`, AES-256-GCM
under a per-message key wrapped by the keyring's master key) and wiped once the message is sent or
given up, so the database never holds an address in clear (security invariant) and a delivered
message leaves only its metadata behind.
"""

from __future__ import annotations

import uuid

from django.db import models


class OutboxMessage(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"  # waiting for its next attempt
        SENDING = "sending"  # claimed by a worker (lease_until); the final "." not yet sent
        HANDED_OVER = "handed_over"  # committed just before the final "."; see delivery.py
        SENT = "sent"
        FAILED = "failed"  # gave up after PLEDGE_OUTBOX_MAX_ATTEMPTS, or refused for good

    class Category(models.TextChoices):
        TRANSACTIONAL = "transactional"
        MARKETING = "marketing"  # must carry List-Unsubscribe (P19, RFC 8058)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A second enqueue with the same key is the same message (a retried request, a re-run job).
    idempotency_key = models.CharField(max_length=200, unique=True)
    template = models.CharField(max_length=100)  # e.g. "accounts/verify_email"
    category = models.CharField(
        max_length=16, choices=Category.choices, default=Category.TRANSACTIONAL
    )
    language = models.CharField(max_length=8)
    # Whose message it is (no foreign key: notify knows nothing of the domain); erasure purges
    # a customer's unsent messages by this id.
    customer_id = models.UUIDField(null=True, blank=True, db_index=True)
    key_version = models.PositiveIntegerField(default=0)
    wrapped_key = models.BinaryField(null=True, blank=True)
    sealed = models.BinaryField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    # The SMTP reply code and exception class of the last failure: never an address or a body.
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notify_outbox_due"),
        ]

    def __str__(self) -> str:
        return f"outbox {self.template} {self.status}"
