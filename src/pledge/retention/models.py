"""Retention (issue 8; P17): sweep runs and their proof-of-deletion reports.

A run holds no personal data: rule keys, record kinds, field names and counts. Its cursor (the last
customer id a committed batch went through) and its counts are updated in the same transaction as
the batch's deletions, so a run killed at any moment resumes exactly where the database says it
stopped (sweep.py).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class RunStatus(models.TextChoices):
    RUNNING = "running", _("running")
    FINISHED = "finished", _("finished")


class RetentionRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The day the run judges what is due: kept when it resumes, so a run interrupted at midnight
    # ends as it would have ended uninterrupted.
    as_of = models.DateField()
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    actor = models.CharField(max_length=120)
    policy_version = models.CharField(max_length=300, blank=True)
    # The rules applied (CompiledRule.as_dict) and those that never end by the calendar.
    rules = models.JSONField(default=list)
    open_ended = models.JSONField(default=list)
    # Checkpoint: the last customer (in primary-key order) a committed batch went through.
    cursor = models.UUIDField(null=True, blank=True)
    batches = models.PositiveIntegerField(default=0)
    customers_seen = models.PositiveIntegerField(default=0)
    # {rule key: number of customers erased as a whole}
    customers_erased = models.JSONField(default=dict)
    # {rule key: {"record_kind.field" or erasure category: count}}
    deleted = models.JSONField(default=dict)
    # {hold key: {"record_kind.field": count}}: due under a rule, kept by a legal hold
    kept = models.JSONField(default=dict)
    # Times the run resumed after an interruption.
    resumed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["status", "dry_run"], name="retention_run_open")]

    def __str__(self) -> str:
        return f"retention run {self.id}"

    @property
    def total_deleted(self) -> int:
        return sum(sum(per.values()) for per in self.deleted.values())

    @property
    def total_kept(self) -> int:
        return sum(sum(per.values()) for per in self.kept.values())

    @property
    def total_erased(self) -> int:
        return sum(self.customers_erased.values())
