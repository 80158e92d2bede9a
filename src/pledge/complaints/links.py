"""A complaint's private status link (issue 7; P22): `/complaint/s/<token>/`.

Given to whoever filed by the public form (on the page and in every email) and by email: it shows
that complaint's thread and lets them write again or reopen it, nothing else. It is a bearer
secret, so it names one complaint, is signed with a salt of its own (no other signed value of
Pledge passes for it), and dies when the customer is re-keyed after misuse (P20,
`rights/resecure.py`) or erased. It does not expire by age: the law lets a complaint run for
months, and a link that died mid-complaint would leave the customer with no way back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.core import signing
from django.urls import reverse

from pledge.complaints.models import Complaint
from pledge.vault.models import Customer

SALT = "pledge.complaints.status-link"
MAX_TOKEN_CHARS = 200


class LinkInvalid(Exception):
    """The token is malformed, tampered with, foreign or revoked (one answer for all)."""


@dataclass(frozen=True)
class StatusGrant:
    complaint_id: uuid.UUID
    customer_id: uuid.UUID


def make_token(complaint: Complaint) -> str:
    if complaint.customer_id is None:
        raise LinkInvalid("a complaint without a customer has no status link")
    generation = (
        Customer.objects.filter(pk=complaint.customer_id)
        .values_list("key_generation", flat=True)
        .first()
    )
    return signing.Signer(salt=SALT).sign_object(
        {"k": complaint.id.hex, "g": generation or 0}, compress=False
    )


def status_path(complaint: Complaint) -> str:
    return reverse("complaint:status", args=[make_token(complaint)])


def read_token(token: object) -> StatusGrant:
    """The complaint a genuine, live token names; `LinkInvalid` otherwise."""
    if not isinstance(token, str) or not 1 <= len(token) <= MAX_TOKEN_CHARS:
        raise LinkInvalid("invalid")
    try:
        data = signing.Signer(salt=SALT).unsign_object(token)
        complaint_id = uuid.UUID(hex=str(data["k"]))
        generation = int(data["g"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise LinkInvalid("invalid") from None
    row = (
        Complaint.objects.filter(pk=complaint_id)
        .values_list("customer_id", "customer__key_generation", "customer__erased_at")
        .first()
    )
    if row is None or row[0] is None or row[2] is not None or row[1] != generation:
        raise LinkInvalid("invalid")
    return StatusGrant(complaint_id=complaint_id, customer_id=uuid.UUID(str(row[0])))
