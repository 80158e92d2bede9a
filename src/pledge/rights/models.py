"""Data-subject requests (issue 6; P18, P20): what was asked, by which channel, and by when.

A request holds no personal data: the customer is a foreign key to the vault, and the texts sent
to the customer (extension reason, denial explanation, completion note) are checked for addresses
and numbers before they are stored (services.py). Identity codes are kept as keyed digests only.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from pledge.vault.models import Customer


class RequestKind(models.TextChoices):
    # Decree 356/2025 Art 5 and PDPL 91/2025 give each right its own deadline (jurisdictions/).
    ACCESS = "access", _("access to my data")
    PORTABILITY = "portability", _("a copy of my data")
    RECTIFICATION = "rectification", _("correction of my data")
    ERASURE = "erasure", _("erasure of my data")
    RESTRICTION = "restriction", _("restriction of processing")
    OBJECTION = "objection", _("objection to processing")
    WITHDRAW_CONSENT = "withdraw_consent", _("withdrawal of consent")


class RequestChannel(models.TextChoices):
    PRIVACY_CENTER = "privacy_center", _("privacy center")
    WEB_FORM = "web_form", _("public form")
    STAFF = "staff", _("entered by staff")


class RequestStatus(models.TextChoices):
    # Fides' names, so a shop moving between the two tools reads the same lifecycle.
    IDENTITY_UNVERIFIED = "identity_unverified", _("identity not verified")
    PENDING = "pending", _("pending")
    APPROVED = "approved", _("approved")
    DENIED = "denied", _("denied")
    IN_PROCESSING = "in_processing", _("in processing")
    COMPLETE = "complete", _("complete")
    CANCELED = "canceled", _("canceled")


# A closed request no longer runs against a deadline and cannot change again.
CLOSED_STATUSES = frozenset({RequestStatus.DENIED, RequestStatus.COMPLETE, RequestStatus.CANCELED})


class DataSubjectRequest(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Null until a request from the public form is matched to a customer (identity verified).
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="rights_requests"
    )
    kind = models.CharField(max_length=32, choices=RequestKind.choices)
    channel = models.CharField(max_length=32, choices=RequestChannel.choices)
    status = models.CharField(max_length=32, choices=RequestStatus.choices)
    received_at = models.DateTimeField()
    # Null when no profile in force asks for an acknowledgement.
    acknowledge_due_at = models.DateTimeField(null=True, blank=True)
    # Null when the law says "without undue delay" and gives no fixed time (GDPR Art 12(3)).
    due_at = models.DateTimeField(null=True, blank=True)
    # The one extension the law allows (Decree 356 Art 5; GDPR Art 12(3)); its reason is sent to
    # the customer, so it must not carry anyone's personal data.
    extended_due_at = models.DateTimeField(null=True, blank=True)
    extension_reason = models.CharField(max_length=500, blank=True)
    # The jurisdiction profile whose deadline won (strictest), for its citation.
    profile = models.CharField(max_length=63)
    # Objection and consent withdrawal name purpose keys of the policy (none: every live consent).
    purposes = models.JSONField(default=list, blank=True)
    # How the requester proved who they are (services.IDENTITY_METHODS) and when: identity is
    # verified before anything is disclosed or deleted (Decree 356/2025 Art 5; LAW.md).
    identity_method = models.CharField(max_length=32, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    # Approved or denied by staff (or by Pledge itself for what is carried out at once).
    decided_at = models.DateTimeField(null=True, blank=True)
    # A refusal states its legal ground (PDPL Art 14(2); GDPR Art 12(4), 17(3)); the explanation
    # is sent to the customer, so it is checked like the extension reason.
    denial_ground = models.CharField(max_length=32, blank=True)
    denial_explanation = models.CharField(max_length=1000, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # What carrying the right out did: counts, categories, held fields and their end dates (the
    # erasure report), never a personal value.
    outcome = models.JSONField(default=dict, blank=True)
    # A note of staff at completion (e.g. "name corrected"), checked like the extension reason.
    completion_note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status", "due_at"], name="rights_status_due")]

    def __str__(self) -> str:
        return f"{self.kind} request {self.id}"

    @property
    def effective_due_at(self) -> dt.datetime | None:
        """The due time that binds now: the extended one once an extension was taken."""
        return self.extended_due_at or self.due_at


class IdentityChallenge(models.Model):
    """A one-time code sent to the email on file to prove a requester is the customer (issue 6).

    Only an HMAC-SHA256 of the code is kept, under a key derived from the keyring (which lives
    outside the database): a copy of the database does not let anyone try the million codes
    offline. `customer` is whom the code was sent to; it is null when the email typed on the
    public form is not on file, and then no code was sent at all (the answer is the same).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(
        DataSubjectRequest, on_delete=models.CASCADE, related_name="challenges"
    )
    # SET_NULL: a temporary account customer can be merged away (vault/accounts.py); the
    # challenge then proves nothing any more, which is the safe outcome.
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    code_digest = models.BinaryField(max_length=32)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    locked_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["request", "created_at"], name="rights_challenge_latest")]

    def __str__(self) -> str:
        return f"identity challenge {self.id}"
