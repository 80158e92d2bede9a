"""A minimal record of consents (P04). Issue 5 grows this into the full append-only ledger with
receipts; until then the vault asks only one question of it: is there a live consent?
"""

from __future__ import annotations

from django.db import models


class Consent(models.Model):
    customer = models.ForeignKey(
        "vault.Customer", on_delete=models.CASCADE, related_name="consents"
    )
    purpose = models.CharField(max_length=63)
    policy_version = models.CharField(max_length=300)
    # How it was given: "api", "web_form", "import", "staff"…
    method = models.CharField(max_length=32)
    given_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["customer", "purpose"], name="consent_customer_purpose")]

    def __str__(self) -> str:
        return f"consent {self.purpose} of {self.customer_id}"
