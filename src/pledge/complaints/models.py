"""Complaints (issue 7; P21, P22): who complained, by which channel, and by when it is answered.

A complaint row holds no personal data: the customer is a foreign key to the vault, and the text
the customer wrote is stored in the vault, encrypted under the customer's data key (record kind
"complaint", field `complaint_details`, services.py). Times are stored, and the due time is
indexed with the status, so the worker (`services.escalate_due`) polls it cheaply.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from pledge.vault.models import Customer


class ComplaintChannel(models.TextChoices):
    PRIVACY_CENTER = "privacy_center", _("privacy center")
    WEB_FORM = "web_form", _("public form")
    STAFF_PHONE = "staff_phone", _("phone call recorded by staff")
    EMAIL = "email", _("email")


class ComplaintStatus(models.TextChoices):
    RECEIVED = "received", _("received")
    ACKNOWLEDGED = "acknowledged", _("acknowledged")
    IN_PROGRESS = "in_progress", _("in progress")
    ANSWERED = "answered", _("answered")
    CLOSED = "closed", _("closed")
    REOPENED = "reopened", _("reopened")


class ComplaintOutcome(models.TextChoices):
    UPHELD = "upheld", _("upheld")
    PARTLY_UPHELD = "partly_upheld", _("partly upheld")
    NOT_UPHELD = "not_upheld", _("not upheld")


# Waiting for the shop's answer: the SLA clock runs (P21).
OPEN_STATUSES = frozenset(
    {
        ComplaintStatus.RECEIVED,
        ComplaintStatus.ACKNOWLEDGED,
        ComplaintStatus.IN_PROGRESS,
        ComplaintStatus.REOPENED,
    }
)


class Complaint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Null is kept for intake that cannot name a customer yet (docs/complaints.md); this slice
    # always files against a customer, whose key encrypts the text.
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="complaints"
    )
    channel = models.CharField(max_length=32, choices=ComplaintChannel.choices)
    status = models.CharField(max_length=32, choices=ComplaintStatus.choices)
    received_at = models.DateTimeField()
    # The stricter of the policy's acknowledgement and the law's (Consumer Protection Law
    # 19/2023/QH15 Art 31, 57: 3 working days).
    acknowledge_due_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    # P21: the shop's promised answer time (seed A 24 h, seed B 24 working hours), or the law's
    # when the policy promises none; the first late instant.
    due_at = models.DateTimeField()
    # The SLA the due time was counted from, so reports read it as it was when filed.
    sla_hours = models.PositiveIntegerField(null=True, blank=True)
    sla_clock = models.CharField(max_length=32)
    # When 50 % and 80 % of the SLA have elapsed in the SLA's own clock (computed at filing).
    escalate_50_at = models.DateTimeField()
    escalate_80_at = models.DateTimeField()
    # When the owner was told (once each), and when the breach was recorded (once, never hidden).
    escalated_50_at = models.DateTimeField(null=True, blank=True)
    escalated_80_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    # The latest written answer, and the first one (reports: time to first answer; P21).
    answered_at = models.DateTimeField(null=True, blank=True)
    first_answered_at = models.DateTimeField(null=True, blank=True)
    # The first round's verdict on the promise (reports): True when the first answer came before
    # the first due time, False once a breach is recorded; None while the first round is open.
    sla_met = models.BooleanField(null=True, blank=True)
    # How the shop settled it (reports; said to the customer with the reason, P22).
    outcome = models.CharField(max_length=32, choices=ComplaintOutcome.choices, blank=True)
    # Reopened by the customer within `PLEDGE_COMPLAINT_REOPEN_DAYS` of the answer: a new round
    # with its own due time; the first round's times and breach stay as they were.
    reopened_at = models.DateTimeField(null=True, blank=True)
    reopen_count = models.PositiveSmallIntegerField(default=0)
    # Whether the complaint is proven to come from its customer: a signed-in customer, staff on a
    # call, or mail whose sender passed the shop's mail server checks. A public-form complaint is
    # not: staff answer it through its own status link, never by treating it as the customer's.
    sender_verified = models.BooleanField(default=False)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The staff member handling it (auth user id); a plain id so that a staff account removed
    # later does not take the complaint's history with it.
    assigned_to = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "due_at"], name="complaints_status_due"),
            models.Index(fields=["status", "escalate_50_at"], name="complaints_status_esc50"),
            models.Index(fields=["status", "escalate_80_at"], name="complaints_status_esc80"),
        ]

    def __str__(self) -> str:
        return f"complaint {self.id}"


class MessageKind(models.TextChoices):
    # From the customer: a follow-up in the privacy center, by email or on the status page (the
    # complaint's first text is the complaint's own vault record).
    CUSTOMER = "customer", _("message from the customer")
    # From staff to the customer, before the answer ("we are looking into it").
    STAFF = "staff", _("message to the customer")
    # The written answer with its reason (P22); emailed to the customer.
    ANSWER = "answer", _("answer")
    # Internal: staff only, never shown or sent to the customer.
    NOTE = "note", _("internal note")


CUSTOMER_VISIBLE = frozenset({MessageKind.CUSTOMER, MessageKind.STAFF, MessageKind.ANSWER})


class ComplaintMessage(models.Model):
    """One entry of a complaint's thread. The text is in the vault (record kind "complaint",
    record id = this id, field `complaint_details`), encrypted under the customer's data key; an
    answer's reason is a second vault record (`reason_id`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=16, choices=MessageKind.choices)
    # The staff user id (kind staff/answer/note), or None for the customer.
    author_id = models.PositiveIntegerField(null=True, blank=True)
    reason_id = models.UUIDField(null=True, blank=True)
    # A note saved although it looked like it held personal data (the warning was overridden).
    flagged_personal = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["complaint", "created_at"], name="complaints_msg_thread")]

    def __str__(self) -> str:
        return f"{self.kind} message {self.id}"


class Compensation(models.Model):
    """Compensation granted (seed D: "bồi thường tùy theo từng mức độ thiệt hại"): an amount and
    its reason (the reason's text in the vault, record id = this id)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="compensations")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="VND")
    recorded_by = models.PositiveIntegerField()
    recorded_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"compensation {self.id}"


class ComplaintEvidence(models.Model):
    """An evidence attachment (seed A: "provide evidence related to the case"): the bytes are a
    file under `PLEDGE_EVIDENCE_DIR`, encrypted with the customer's data key (complaints/
    evidence.py); the row names no person and the file name says nothing."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="evidence")
    message = models.ForeignKey(
        ComplaintMessage, null=True, blank=True, on_delete=models.CASCADE, related_name="evidence"
    )
    content_type = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    storage_name = models.CharField(max_length=80, unique=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"evidence {self.id}"


class FormTokenUse(models.Model):
    """A public-form token already used to file (security review: a token fetched once must not
    file again and again within its six hours). Only a digest of the token's random part is
    kept, and rows older than the token's life are deleted as new ones come in."""

    digest = models.CharField(max_length=64, primary_key=True)
    used_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"form token {self.digest[:8]}"
