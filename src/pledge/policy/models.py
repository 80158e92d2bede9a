"""Published policy versions (P24): what the public page shows and what customers accept."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class PolicyVersion(models.Model):
    """One published version of a shop's policy, immutable once written.

    `content` is the validated policy in canonical form and `content_hash` its SHA-256, so the
    page, a consent receipt or an auditor can prove which text was in force on a given day.
    """

    shop = models.CharField(max_length=64)
    version = models.CharField(max_length=300)
    content_hash = models.CharField(max_length=64)
    content = models.JSONField()
    source_text = models.TextField()
    effective_date = models.DateField()
    material = models.BooleanField(default=False)
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.CharField(max_length=200)

    class Meta:
        ordering = ("-effective_date", "-published_at")
        constraints = [
            models.UniqueConstraint(fields=("shop", "content_hash"), name="policy_version_once"),
            models.UniqueConstraint(fields=("shop", "version"), name="policy_version_label_once"),
        ]
        indexes = [models.Index(fields=("shop", "effective_date"))]

    def __str__(self) -> str:
        return f"{self.shop} {self.version} ({self.effective_date})"
