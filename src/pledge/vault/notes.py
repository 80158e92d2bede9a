"""Staff notes about a customer: free text written by staff, encrypted like any other field.

add -> `access.authorize` (purpose and role, P06/P09) -> the purpose collects `staff_notes` (P01;
many policies do not declare it, and then no note can be written) -> live consent where the basis
is consent (P04) -> the text is NFC-normalised and checked -> the `StaffNote` row, its encrypted
value (record kind "staff_note") and the audit event in one transaction. Reads are purpose-bound
and masked unless the purpose shows `staff_notes` whole; the customer's own access sees them all.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.db import transaction

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.vault.access import Actor, authorize, policy, refuse
from pledge.vault.errors import AccessRefused, Problem, ValuesInvalid
from pledge.vault.masking import mask_value
from pledge.vault.models import EncryptedValue, RecordKind, StaffNote
from pledge.vault.normalise import ValueInvalid, clean_text
from pledge.vault.services import (
    authorize_read,
    check_collectable,
    refuse_fields,
    require_consent,
)
from pledge.vault.store import customer_key, encrypted_rows, read_values

FIELD = "staff_notes"


@dataclass(frozen=True)
class NoteView:
    id: uuid.UUID
    author: str
    created_at: dt.datetime
    text: str
    masked: bool


def clean_note(text: object) -> str:
    """NFC, trimmed, at most 5,000 characters, no control characters (new lines are fine).

    `normalise.clean_value` refuses `staff_notes` (a field only this service sets), so this uses
    the same text rules directly.
    """
    try:
        return clean_text(FIELD, text)
    except ValueInvalid as exc:
        raise ValuesInvalid(
            "the note is invalid", [Problem(FIELD, exc.rule, exc.message)]
        ) from None


def add_staff_note(*, actor: Actor, purpose: str, customer_id: uuid.UUID, text: str) -> uuid.UUID:
    """Add a note about a customer; returns the note id. Written by staff (or the shop's system),
    never by the customer."""
    enforced = policy()
    authorize(
        enforced,
        actor,
        purpose,
        event=EventType.WRITE_REFUSED,
        customer_id=customer_id,
        fields=[FIELD],
    )
    if actor.kind == "customer":
        refuse(
            AccessRefused(
                "staff notes are written by the shop's staff",
                [Problem(FIELD, "staff_only", "a customer cannot write a staff note")],
            ),
            event=EventType.WRITE_REFUSED,
            actor=actor,
            purpose=purpose,
            customer_id=customer_id,
            fields=[FIELD],
        )
    refuse_fields(
        check_collectable(enforced, purpose, {FIELD: None}, RecordKind.STAFF_NOTE),
        actor=actor,
        purpose=purpose,
        customer_id=customer_id,
    )
    require_consent(
        enforced,
        purpose,
        customer_id,
        actor=actor,
        event=EventType.WRITE_REFUSED,
        consent_method=None,
    )
    cleaned = clean_note(text)
    key = customer_key(customer_id)
    note_id = uuid.uuid4()
    with transaction.atomic():
        StaffNote.objects.create(id=note_id, customer_id=customer_id, author=actor.label[:120])
        EncryptedValue.objects.bulk_create(
            encrypted_rows(key, RecordKind.STAFF_NOTE, note_id, {FIELD: cleaned})
        )
        record_event(
            EventType.STAFF_NOTE_ADDED,
            actor=actor.label,
            actor_role=actor.role,
            customer_id=customer_id,
            record=f"staff_note:{note_id}",
            purpose=purpose,
            fields=[FIELD],
        )
    return note_id


def list_staff_notes(*, actor: Actor, purpose: str, customer_id: uuid.UUID) -> list[NoteView]:
    """The notes about a customer, newest first, masked unless the purpose shows them whole."""
    _, unmasked = authorize_read(actor, purpose, customer_id, FIELD)
    key = customer_key(customer_id)
    notes = list(StaffNote.objects.filter(customer_id=customer_id).order_by("-created_at", "-id"))
    values = read_values(key, RecordKind.STAFF_NOTE, [n.id for n in notes], [FIELD])
    whole = FIELD in unmasked
    views = []
    for note in notes:
        text = values[note.id].get(FIELD, "")
        views.append(
            NoteView(
                id=note.id,
                author=note.author,
                created_at=note.created_at,
                text=text if whole else mask_value(FIELD, text),
                masked=not whole,
            )
        )
    record_event(
        EventType.STAFF_NOTES_READ,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        purpose=purpose,
        fields=[FIELD],
        details={"notes": len(notes)},
    )
    return views
