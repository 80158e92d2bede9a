"""A break-glass access: a staff member opened fields outside their purposes, with a written
reason, and it waits on the owner's dashboard until acknowledged (issue 4, P09).

The reason is staff-written text that may speak of the customer, so it is kept like personal
data: encrypted under the customer's data key (`vault.breakglass.REASON_RECORD_KIND` names the
associated data), shredded with the customer, and never copied into the audit event.
"""

from __future__ import annotations

import uuid

from django.db import models


class BreakGlassAccess(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(
        "vault.Customer", on_delete=models.CASCADE, related_name="break_glass_accesses"
    )
    # Who opened the glass: the audit actor label ("staff:<id>") and the policy role then held.
    actor = models.CharField(max_length=120)
    role = models.CharField(max_length=63)
    # The field names opened (never values), sorted.
    fields = models.JSONField(default=list)
    # AES-256-GCM under the customer's data key; see vault/breakglass.py for the associated data.
    reason = models.BinaryField()
    at = models.DateTimeField(db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=120, blank=True)

    class Meta:
        indexes = (
            # The dashboard's list: the unacknowledged ones first, newest first.
            models.Index(fields=["acknowledged_at", "at"], name="vault_breakglass_flag"),
        )

    def __str__(self) -> str:
        return f"break-glass {self.id} by {self.actor}"
