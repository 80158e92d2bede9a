"""The disclosures register (issue 8 item 2; P10, P11).

A `Disclosure` is one handing-over of data to a recipient the policy declares: which recipient,
for which purpose, which fields, on which basis (and the legal reference of a state agency's
request). `DisclosedCustomer` says whose data it held: one row per customer, indexed by customer,
so "who received my data" and the data package are one indexed query. No value is ever stored
here: the export decrypts through the vault when it is downloaded (`export.py`).

A `RecipientNotice` is what a recipient must be told when a customer whose data it received
erases it or withdraws the consent it was given on (GDPR Art 19; LAW.md "Consent": recipients
must stop too): sent by email when the policy gives the recipient an address, else a task staff
carry out and mark done in the console.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class Disclosure(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recipient = models.CharField(max_length=63, db_index=True)
    # The recipient's name and kind when the data was given: the policy may change later, the
    # register must still say who received it.
    recipient_name_vi = models.CharField(max_length=300)
    recipient_name_en = models.CharField(max_length=300)
    recipient_kind = models.CharField(max_length=32)
    purpose = models.CharField(max_length=63)
    fields = models.JSONField(default=list)
    basis = models.CharField(max_length=32)
    # The article, decision or request number a state agency's request rests on (P10).
    legal_reference = models.CharField(max_length=200, blank=True, default="")
    policy_version = models.CharField(max_length=300)
    actor = models.CharField(max_length=120)
    actor_role = models.CharField(max_length=63, blank=True, default="")
    disclosed_at = models.DateTimeField(db_index=True)
    customer_count = models.PositiveIntegerField(default=0)
    exported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-disclosed_at", "id")

    def __str__(self) -> str:
        return f"disclosure {self.reference} to {self.recipient}"

    def recipient_name(self, language: str) -> str:
        return self.recipient_name_en if language == "en" else self.recipient_name_vi

    @property
    def reference(self) -> str:
        return self.id.hex[:8]


class DisclosedCustomer(models.Model):
    disclosure = models.ForeignKey(Disclosure, on_delete=models.CASCADE, related_name="customers")
    # PROTECT: an erased customer stays as a pseudonymous row, and so does the record that their
    # data was given (the proof outlives the data, like the consent ledger).
    customer = models.ForeignKey(
        "vault.Customer", on_delete=models.PROTECT, related_name="disclosures"
    )
    disclosed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("disclosure", "customer"), name="disclosed_once")
        ]
        indexes = [models.Index(fields=("customer", "disclosed_at"), name="disclosed_by_customer")]

    def __str__(self) -> str:
        return f"customer {self.customer_id} in disclosure {self.disclosure_id}"


class NoticeReason(models.TextChoices):
    ERASURE = "erasure", _("the customer's data was erased")
    WITHDRAWAL = "withdrawal", _("the customer withdrew consent")


class NoticeStatus(models.TextChoices):
    PENDING = "pending", _("to do: tell the recipient")
    EMAILED = "emailed", _("emailed to the recipient")
    DONE = "done", _("recipient told by staff")


class RecipientNotice(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recipient = models.CharField(max_length=63, db_index=True)
    recipient_name_vi = models.CharField(max_length=300)
    recipient_name_en = models.CharField(max_length=300)
    customer = models.ForeignKey(
        "vault.Customer", on_delete=models.PROTECT, related_name="recipient_notices"
    )
    reason = models.CharField(max_length=16, choices=NoticeReason.choices)
    # The purpose whose consent was withdrawn; "" for an erasure (every purpose).
    purpose = models.CharField(max_length=63, blank=True, default="")
    status = models.CharField(
        max_length=16, choices=NoticeStatus.choices, default=NoticeStatus.PENDING, db_index=True
    )
    # The latest disclosure to this recipient (for the purpose, on a withdrawal) the notice
    # covers. A notice is due again only once the recipient has received the data again: a new
    # consent, a new disclosure, a second withdrawal (GDPR Art 19). Null only for notices made
    # before this column existed with no disclosure to match.
    last_disclosure = models.ForeignKey(
        Disclosure, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.CharField(max_length=120, blank=True, default="")

    class Meta:
        ordering = ("created_at", "id")
        constraints = [
            # Idempotent: a re-run hook never tells a recipient twice about the same data; a
            # later disclosure makes a later notice due (enforced here, so concurrent hooks agree).
            models.UniqueConstraint(
                fields=("recipient", "customer", "reason", "purpose", "last_disclosure"),
                name="recipient_told_once_per_disclosure",
            )
        ]

    def __str__(self) -> str:
        return f"notice {self.reference} to {self.recipient} ({self.reason})"

    def recipient_name(self, language: str) -> str:
        return self.recipient_name_en if language == "en" else self.recipient_name_vi

    @property
    def reference(self) -> str:
        return self.id.hex[:8]
