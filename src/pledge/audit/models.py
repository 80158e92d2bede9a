"""The audit log: append-only, hash-chained events and signed checkpoints.

Nothing updates or deletes these rows (no service does, the admin is read-only); if something
does anyway, `pledge audit verify` finds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

if TYPE_CHECKING:
    _BigInteger = models.BigIntegerField[int, int]
else:
    _BigInteger = models.BigIntegerField


class ChainSeqField(_BigInteger):
    """A 64-bit sequence number; on SQLite declared `integer` so that, as the primary key, it is
    the table's rowid rather than a second B-tree to update on every append."""

    def db_type(self, connection: BaseDatabaseWrapper) -> str | None:
        return "integer" if connection.vendor == "sqlite" else super().db_type(connection)


class AuditEvent(models.Model):
    # 1, 2, 3… without gaps: a missing number is a deleted event.
    seq = ChainSeqField(primary_key=True)
    # Indexed for the audit viewer's filters (time, staff member, customer); type, purpose and
    # outcome are filtered within those, so they carry no index of their own: every index is
    # one more B-tree written by each append (budget: ≤ 0.2 ms per append).
    at = models.DateTimeField(db_index=True)
    type = models.CharField(max_length=64)
    # "staff:<id>", "api:<key prefix>", "customer:<uuid>", "system:<component>"
    actor = models.CharField(max_length=120, db_index=True)
    actor_role = models.CharField(max_length=63, blank=True)
    customer_id = models.UUIDField(null=True, blank=True)
    # The record acted on, as "<kind>:<uuid>"; empty for customer-level events.
    record = models.CharField(max_length=120, blank=True)
    purpose = models.CharField(max_length=63, blank=True)
    # Field names only, comma-separated and sorted: never values.
    fields = models.TextField(blank=True)
    outcome = models.CharField(max_length=16)
    # Canonical JSON of non-personal details (reason codes, counts, version labels).
    details = models.TextField(blank=True)
    canonical = models.TextField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["customer_id", "at"], name="audit_customer_at")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type} {self.outcome}"


class AuditCheckpoint(models.Model):
    """An Ed25519 signature over the chain head at `seq`: tail truncation behind it is caught."""

    seq = ChainSeqField(primary_key=True)
    hash = models.CharField(max_length=64)
    at = models.DateTimeField()
    key_id = models.CharField(max_length=32)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"checkpoint @{self.seq}"
