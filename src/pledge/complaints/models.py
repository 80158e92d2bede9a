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
    answered_at = models.DateTimeField(null=True, blank=True)
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
