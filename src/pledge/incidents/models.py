"""Incidents (issue 8; P23): the breach register.

Every incident is recorded, notified or not (GDPR Art 33(5); Decree 356/2025 Art 28). The rows
hold the shop's own description of what happened to its systems, never a customer's data: the
free texts are refused when they look like they hold personal data (incidents/texts.py), and the
affected customers are foreign keys to the vault with field *names* only. An incident's clocks are
rows of their own, indexed by their warning times, so the worker polls them cheaply.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from pledge.vault.models import Customer


class IncidentStatus(models.TextChoices):
    OPEN = "open", _("open")
    REPORTED = "reported", _("reported to the authority")
    CLOSED = "closed", _("closed")


class System(models.TextChoices):
    """Where the incident happened (the report's "place")."""

    CONSOLE = "console", _("staff console (a staff session or account)")
    API = "api", _("shop API (an API key)")
    DATABASE = "database", _("database")
    BACKUPS = "backups", _("backups")
    EMAIL = "email", _("outgoing email")
    OTHER = "other", _("other system")


class Incident(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The clocks of LAW.md run from detection (PDPL Art 23; Decree 356 Art 28; GDPR Art 33).
    detected_at = models.DateTimeField()
    occurred_from = models.DateTimeField()
    occurred_to = models.DateTimeField()
    # The shop's words, stored plainly: they describe systems, never a person (texts.py refuses
    # what looks like personal data). They go into the authority report.
    nature = models.TextField()
    actors = models.TextField(blank=True)
    place = models.TextField(blank=True)
    consequences = models.TextField(blank=True)
    measures = models.TextField(blank=True)
    # What customers should do (their notice; GDPR Art 34(2), Decree 356 Art 28).
    advice = models.TextField(blank=True)
    systems = models.JSONField(default=list)
    # Policy field keys known or feared to be concerned (before and besides the scope).
    data_categories = models.JSONField(default=list)
    # Customer data at risk from an attack on the shop's system: the 24 h clock of Consumer
    # Protection Law 19/2023 Art 19(3) runs.
    customer_data_at_risk = models.BooleanField(default=True)
    # A drill goes through every step and sends nothing to customers (it records what it would).
    drill = models.BooleanField(default=False)
    status = models.CharField(
        max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.OPEN
    )
    recorded_by = models.PositiveIntegerField()
    # The last scope: which roles' reads and which systems, and its counts (field -> customers).
    scope_roles = models.JSONField(default=list)
    scope_systems = models.JSONField(default=list)
    scoped_at = models.DateTimeField(null=True, blank=True)
    affected_count = models.PositiveIntegerField(default=0)
    records_count = models.PositiveIntegerField(default=0)
    field_counts = models.JSONField(default=dict)
    # Customer notices started (the worker continues the batches until every one is done).
    notices_started_at = models.DateTimeField(null=True, blank=True)
    notices_done_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "detected_at"], name="incidents_status_detected"),
            models.Index(
                fields=["notices_done_at", "notices_started_at"], name="incidents_notices"
            ),
        ]

    def __str__(self) -> str:
        return f"incident {self.id}"

    @property
    def reference(self) -> str:
        return self.id.hex[:8]


class IncidentClock(models.Model):
    """One legal deadline of an incident: `key` names the jurisdiction profile and the rule
    (e.g. "vn-pdpl-2026:authority"); warnings at half time and two hours before the end."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="clocks")
    key = models.CharField(max_length=80)
    hours = models.PositiveIntegerField()
    due_at = models.DateTimeField()
    # {"vi": ..., "en": ...} from the jurisdiction profile.
    article = models.JSONField(default=dict)
    summary = models.JSONField(default=dict)
    warn_half_at = models.DateTimeField()
    warn_final_at = models.DateTimeField()
    warned_half_at = models.DateTimeField(null=True, blank=True)
    warned_final_at = models.DateTimeField(null=True, blank=True)
    # When a report stage answering this clock was sent (the clock stops).
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "key"], name="incidents_clock_once")
        ]
        indexes = [
            models.Index(fields=["answered_at", "warn_half_at"], name="incidents_clock_half"),
            models.Index(fields=["answered_at", "warn_final_at"], name="incidents_clock_final"),
        ]

    def __str__(self) -> str:
        return f"{self.key} of {self.incident_id}"


class StepKind(models.TextChoices):
    RECORDED = "recorded", _("incident recorded")
    UPDATED = "updated", _("details updated")
    SCOPED = "scoped", _("scope computed")
    ACTION = "action", _("action taken")
    WARNING = "warning", _("deadline warning")
    REPORTED = "reported", _("report sent to the authority")
    NOTIFIED = "notified", _("customers notified")
    CLOSED = "closed", _("incident closed")


class IncidentStep(models.Model):
    """The timeline: every step, each also an audit event."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="steps")
    at = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=StepKind.choices)
    actor = models.CharField(max_length=120)
    text = models.TextField(blank=True)
    details = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["incident", "at"], name="incidents_step_timeline")]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at}"


class ReportStage(models.TextChoices):
    # Decree 356 Art 28 and GDPR Art 33(4): a report may be given in stages.
    INITIAL = "initial", _("initial report")
    FOLLOW_UP = "follow_up", _("follow-up report")
    FINAL = "final", _("final report")


class IncidentReport(models.Model):
    """A report stage sent to the authority of one clock, with its time, and why if late."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="reports")
    stage = models.CharField(max_length=16, choices=ReportStage.choices)
    clock_key = models.CharField(max_length=80)
    sent_at = models.DateTimeField()
    late = models.BooleanField(default=False)
    late_reason = models.TextField(blank=True)
    recorded_by = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.stage} report of {self.incident_id}"


class NoticeStatus(models.TextChoices):
    SENT = "sent", _("queued in the outbox")
    NO_ADDRESS = "no_address", _("no email address on file")
    DRILL = "drill", _("drill: not sent")


class IncidentAffected(models.Model):
    """A customer in the scope, with the field names concerned. Personal data stays in the
    vault; `notified_at` makes the notice batches idempotent (never twice per customer)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="affected")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    fields = models.JSONField(default=list)
    notified_at = models.DateTimeField(null=True, blank=True)
    notice_status = models.CharField(max_length=16, choices=NoticeStatus.choices, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "customer"], name="incidents_affected_once")
        ]
        indexes = [
            models.Index(fields=["incident", "notified_at"], name="incidents_affected_pending")
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.incident_id}"
