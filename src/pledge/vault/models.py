"""Customers and their records. Personal values never sit in these columns in plaintext.

Each record (profile, order, invoice, guarantee card, payment method, identity document, staff
note) is a row of non-personal facts (amounts, items, dates, status). Its personal fields are
`EncryptedValue` rows, one per field, encrypted under the customer's data key with associated data
naming the record kind, the record id, the field and the customer (vault/crypto.py); the data key
itself lives in the key store, not in the database (vault/keystore.py). Primary keys
are random UUIDs: they go into the associated data before the row is written, and they reveal
nothing about how many customers a shop has.
"""

from __future__ import annotations

import uuid

from django.db import models


class RecordKind(models.TextChoices):
    PROFILE = "profile"
    ORDER = "order"
    INVOICE = "invoice"
    GUARANTEE = "guarantee"
    PAYMENT = "payment"
    ID_DOCUMENT = "id_document"
    STAFF_NOTE = "staff_note"
    # The login email of a privacy-center account (vault/accounts.py, purpose account_security).
    ACCOUNT = "account"
    # The text of a complaint (complaints/, field complaint_details; issue 7).
    COMPLAINT = "complaint"


class Customer(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The customer's language for pages and messages (vi/en); not personal data on its own.
    language = models.CharField(max_length=8, default="vi")
    # The shop's own id for this customer (e.g. from its shop system), for idempotent imports.
    external_ref = models.CharField(max_length=100, null=True, blank=True, unique=True)
    # Which generation of the customer's data key (vault/keystore.py) encrypts their values: it
    # moves on when the data is re-keyed (P20) or erased, and the old generation is destroyed.
    key_generation = models.PositiveIntegerField(default=0)
    # Erased by crypto-shredding (issue 6): only fields under a legal hold remain. held_until is
    # the day the first remaining legal hold ends; `erasure.expire_holds` runs then.
    erased_at = models.DateTimeField(null=True, blank=True)
    held_until = models.DateField(null=True, blank=True, db_index=True)
    # Processing restricted (GDPR Art 18; Decree 356 Art 5; what an erasure keeps): only purposes
    # on the legal-obligation basis may use the data, and the customer may still see it.
    restricted_at = models.DateTimeField(null=True, blank=True)
    restriction_reason = models.CharField(max_length=32, blank=True)

    def __str__(self) -> str:
        return f"customer {self.id}"


class EncryptedValue(models.Model):
    # Covered by the (customer, record_kind) index: no index of its own to update on each write.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="values", db_index=False
    )
    record_kind = models.CharField(max_length=20, choices=RecordKind.choices)
    record_id = models.UUIDField()
    field = models.CharField(max_length=63)
    ciphertext = models.BinaryField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["record_kind", "record_id", "field"], name="vault_value_once"
            )
        ]
        indexes = [models.Index(fields=["customer", "record_kind"], name="vault_value_customer")]

    def __str__(self) -> str:
        return f"{self.record_kind}.{self.field} of {self.customer_id}"


class BlindIndex(models.Model):
    """HMAC of a normalised lookup value (email, phone, guarantee number, name)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="indexes")
    kind = models.CharField(max_length=32)
    digest = models.BinaryField(max_length=32)
    record_kind = models.CharField(max_length=20, choices=RecordKind.choices)
    record_id = models.UUIDField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["record_kind", "record_id", "kind"], name="vault_index_once"
            )
        ]
        indexes = [models.Index(fields=["kind", "digest"], name="vault_index_lookup")]

    def __str__(self) -> str:
        return f"{self.kind} index of {self.customer_id}"


class Order(models.Model):
    """An order: items and amounts are not personal; buyer name, address, phone are encrypted."""

    class Status(models.TextChoices):
        PLACED = "placed"
        PAID = "paid"
        SHIPPED = "shipped"
        COMPLETED = "completed"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Covered by the (customer, placed_at) index.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="orders", db_index=False
    )
    number = models.CharField(max_length=64, unique=True)
    placed_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLACED)
    currency = models.CharField(max_length=3, default="VND")
    total = models.DecimalField(max_digits=14, decimal_places=2)
    # [{"sku": …, "name": …, "quantity": n, "unit_price": "…"}]: product data only.
    items = models.JSONField(default=list)

    class Meta:
        indexes = [models.Index(fields=["customer", "placed_at"], name="vault_order_customer")]

    def __str__(self) -> str:
        return f"order {self.number}"


class Invoice(models.Model):
    """Accounting document (P13): kept for the legal period even after an erasure request."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="invoices")
    # Accounting records (P13): an order cannot be deleted while its invoices are kept.
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=64, unique=True)
    issued_at = models.DateTimeField()
    total = models.DecimalField(max_digits=14, decimal_places=2)
    tax = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="VND")

    def __str__(self) -> str:
        return f"invoice {self.number}"


class GuaranteeCard(models.Model):
    """A guarantee (warranty) card; its number is encrypted and blind-indexed for lookup (P03)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="guarantees")
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="guarantees"
    )
    product = models.CharField(max_length=200)
    issued_on = models.DateField()
    valid_until = models.DateField()

    def __str__(self) -> str:
        return f"guarantee {self.id}"


class PaymentMethod(models.Model):
    """A card as Pledge keeps it: brand in clear; BIN, last 4, expiry, holder encrypted.

    The full card number is never stored (PCI DSS 3.4.1: at most BIN + last 4 is shown, and what
    is never stored cannot leak); the CVC never leaves the payment call (PCI DSS 3.3.1).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="cards")
    brand = models.CharField(max_length=20)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.brand} card {self.id}"


class Payment(models.Model):
    """One payment transaction (P15: the customer can review each one)."""

    class Status(models.TextChoices):
        AUTHORIZED = "authorized"
        DECLINED = "declined"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="payments")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    method = models.ForeignKey(
        PaymentMethod, on_delete=models.SET_NULL, null=True, blank=True, related_name="payments"
    )
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices)
    at = models.DateTimeField()
    gateway = models.CharField(max_length=40)
    gateway_reference = models.CharField(max_length=100, blank=True)
    decline_reason = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return f"payment {self.id} {self.status}"


class IdDocument(models.Model):
    """A copy of an ID card or passport (sensitive, Decree 356 Art 4): an encrypted file."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="id_documents")
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    # File name under PLEDGE_FILES_DIR: random, says nothing about the customer.
    storage_name = models.CharField(max_length=80, unique=True)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"id document {self.id}"


class StaffNote(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="staff_notes")
    author = models.CharField(max_length=120)  # the actor, as in the audit log
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"note {self.id}"


from pledge.vault.models_breakglass import BreakGlassAccess  # noqa: E402,F401
