"""The consent ledger (P04, P07, P19, P24; LAW.md "Consent").

`ConsentEvent` rows are append-only: given, withdrawn, expired, for one customer or one anonymous
visitor and one purpose. Each holds what makes the consent provable: the policy version, the exact
text shown (`ConsentNotice`, stored once per SHA-256), the method, channel, language, time and the
data types covered. `ConsentState` is the current state derived from the ledger (one row per
subject and purpose, rebuilt by `services.rebuild_state`), so the vault's check is one indexed read.

Cookie choices are purposes named `cookies:<category>`; a visitor is known only by an HMAC of the
random id kept in the banner's consent cookie.
"""

from __future__ import annotations

import uuid
from typing import Any, NoReturn

from django.db import models


class LedgerIsAppendOnly(Exception):
    """A consent event was about to be changed or deleted: the ledger only grows (P04: provable)."""


class AppendOnlyQuerySet(models.QuerySet["ConsentEvent"]):
    """Bulk changes are refused like single ones, so no code path rewrites history."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise LedgerIsAppendOnly("consent events are never updated; append a new event instead")

    def delete(self) -> NoReturn:
        raise LedgerIsAppendOnly("consent events are never deleted; append a new event instead")


class ConsentNotice(models.Model):
    """The exact text a person saw when they gave or withdrew consent, kept once per hash."""

    sha256 = models.CharField(max_length=64, unique=True)
    text = models.TextField()
    language = models.CharField(max_length=8)
    policy_version = models.CharField(max_length=300)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"notice {self.sha256[:12]} ({self.language}, policy {self.policy_version})"


class ConsentEvent(models.Model):
    class Action(models.TextChoices):
        GIVEN = "given"
        WITHDRAWN = "withdrawn"
        EXPIRED = "expired"

    # Also the Kantara consent receipt's consentReceiptID.
    receipt_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    customer_id = models.UUIDField(null=True, blank=True)
    # HMAC of the visitor id; NULL (not "") for a customer, as the constraints below expect.
    visitor = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    purpose = models.CharField(max_length=80)  # a policy purpose key or "cookies:<category>"
    action = models.CharField(max_length=16, choices=Action.choices)
    notice = models.ForeignKey(
        ConsentNotice, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    policy_version = models.CharField(max_length=300)
    policy_hash = models.CharField(max_length=64, blank=True)
    # checkbox, button, privacy_center, banner_accept_all, banner_reject_all, banner_custom, gpc,
    # unsubscribe_link, one_click, api, import, staff, expiry
    method = models.CharField(max_length=32)
    # web, privacy_center, banner, email, api, phone, in_store, import, system
    channel = models.CharField(max_length=32)
    language = models.CharField(max_length=8)
    data_types = models.JSONField(default=list)  # the field keys the purpose covers
    at = models.DateTimeField()
    actor = models.CharField(max_length=120)  # an audit actor label

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["customer_id", "purpose", "at"], name="consent_customer_at"),
            models.Index(fields=["visitor", "purpose", "at"], name="consent_visitor_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(customer_id__isnull=False, visitor__isnull=True)
                    | models.Q(customer_id__isnull=True, visitor__isnull=False)
                ),
                name="consent_event_one_subject",
            )
        ]

    def __str__(self) -> str:
        return f"consent {self.action} {self.purpose} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise LedgerIsAppendOnly("consent events are never updated; append a new event instead")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise LedgerIsAppendOnly("consent events are never deleted; append a new event instead")

    @property
    def subject(self) -> str:
        """Who the event is about, as receipts and audit events name them."""
        if self.customer_id is not None:
            return f"customer:{self.customer_id}"
        return f"visitor:{(self.visitor or '')[:12]}"


class ConsentState(models.Model):
    """The latest event per subject and purpose: derived, never the source of truth."""

    customer_id = models.UUIDField(null=True, blank=True)
    visitor = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    purpose = models.CharField(max_length=80)
    live = models.BooleanField()
    event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer_id", "purpose"],
                condition=models.Q(customer_id__isnull=False),
                name="consent_state_customer_once",
            ),
            models.UniqueConstraint(
                fields=["visitor", "purpose"],
                condition=models.Q(visitor__isnull=False),
                name="consent_state_visitor_once",
            ),
        ]
        indexes = [
            # expire_due: live cookie consents older than PLEDGE_COOKIE_CONSENT_DAYS.
            models.Index(fields=["live", "updated_at"], name="consent_state_due"),
        ]

    def __str__(self) -> str:
        return f"consent state {self.purpose} {'live' if self.live else 'not live'}"


class PolicyAcceptance(models.Model):
    """A customer accepted (or was shown and acknowledged) a policy version (P24)."""

    customer_id = models.UUIDField(db_index=True)
    policy_version = models.CharField(max_length=300)
    content_hash = models.CharField(max_length=64)
    accepted_at = models.DateTimeField()
    method = models.CharField(max_length=32)  # registration, privacy_center, checkout, api
    language = models.CharField(max_length=8)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer_id", "content_hash"], name="policy_acceptance_once"
            )
        ]

    def __str__(self) -> str:
        return f"policy {self.policy_version} accepted at {self.accepted_at:%Y-%m-%d}"


class PageViewCount(models.Model):
    """The web beacon's only record (P08): a count per day and path. No address, no cookie id,
    no user agent."""

    day = models.DateField()
    path = models.CharField(max_length=200)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "path"], name="pageview_once")]

    def __str__(self) -> str:
        return f"{self.day} {self.path}: {self.count}"
