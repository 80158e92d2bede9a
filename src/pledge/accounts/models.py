"""Staff identities (P09, P16). A staff member is a Django user with a `StaffProfile` naming their
policy role; what the role may do comes from the policy in force, never from this table.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class StaffProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff"
    )
    # A `roles[].key` of the policy; a role the policy no longer declares grants nothing.
    role = models.CharField(max_length=63)
    language = models.CharField(max_length=8, default="vi")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=120)  # an audit actor label
    disabled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"staff {self.user_id} ({self.role})"
