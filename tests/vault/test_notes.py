"""Staff notes: refused where the policy does not declare them (preset B), encrypted and
purpose-bound where it does (preset B plus a `staff_notes` field and purposes)."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
import yaml

from pledge.audit.models import AuditEvent
from pledge.policy.enforcement import EnforcedPolicy, clear_policy_cache, enforced_policy
from pledge.policy.loader import parse_policy
from pledge.policy.services import publish_policy
from pledge.vault import services
from pledge.vault.access import SUBJECT_ACCESS, Actor
from pledge.vault.errors import AccessRefused, FieldsRefused, ValuesInvalid
from pledge.vault.models import EncryptedValue, RecordKind, StaffNote
from pledge.vault.notes import add_staff_note, list_staff_notes

NOTE = "Khách hẹn lấy nhẫn sau Tết; thích vàng hồng.\nGọi trước 17h."


def last_event() -> AuditEvent:
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    return event


def new_customer(actor: Actor, email: str = "hong.nhung@example.vn") -> uuid.UUID:
    return services.collect_customer(
        actor=actor,
        purpose="order_fulfilment",
        fields={"full_name": "Nguyễn Thị Hồng Nhung", "email": email},
    )


@pytest.fixture
def with_notes(db: None) -> Iterator[EnforcedPolicy]:
    """Preset B plus `staff_notes`: written and shown whole by customer service for
    `customer_care`, read masked by the owner for `note_review`."""
    data = yaml.safe_load(
        (resources.files("pledge.policy") / "presets" / "leman-jewelry.yaml").read_text("utf-8")
    )
    data["version"] = "1-staff-notes"
    data["fields"].append({"key": "staff_notes", "source": "staff", "records": ["staff_note"]})
    data["purposes"] += [
        {
            "key": "customer_care",
            "name": {"vi": "Chăm sóc khách hàng", "en": "Customer care"},
            "description": {
                "vi": "Ghi chú của nhân viên để phục vụ khách hàng tốt hơn.",
                "en": "Staff notes to serve the customer better.",
            },
            "basis": "legitimate_interest",
            "fields": ["staff_notes"],
            "unmasked": ["staff_notes"],
            "roles": ["customer_service"],
        },
        {
            "key": "note_review",
            "name": {"vi": "Rà soát ghi chú", "en": "Reviewing notes"},
            "description": {
                "vi": "Ban quản trị rà soát ghi chú của nhân viên.",
                "en": "The board reviews staff notes.",
            },
            "basis": "legitimate_interest",
            "read_only": ["staff_notes"],
            "roles": ["owner"],
        },
    ]
    clear_policy_cache()
    loaded = parse_policy(yaml.safe_dump(data, allow_unicode=True), source="test")
    publish_policy(loaded, actor="test", effective_date=loaded.policy.effective_date)
    clear_policy_cache()
    yield enforced_policy()
    clear_policy_cache()


def test_preset_b_declares_no_staff_notes_so_none_is_written(
    leman: Any, shop_api: Actor, staff: Any
) -> None:
    cid = new_customer(shop_api)
    with pytest.raises(FieldsRefused) as err:
        add_staff_note(
            actor=staff("customer_service"), purpose="complaints", customer_id=cid, text=NOTE
        )
    assert [(p.field, p.rule) for p in err.value.problems] == [("staff_notes", "field_undeclared")]
    event = last_event()
    assert (event.type, event.outcome, event.fields) == (
        "vault:write_refused",
        "refused",
        "staff_notes",
    )
    assert not StaffNote.objects.exists()
    assert not EncryptedValue.objects.filter(record_kind=RecordKind.STAFF_NOTE).exists()


def test_a_note_is_stored_encrypted_and_audited(with_notes: Any, staff: Any) -> None:
    shop = Actor(kind="api", id="backend")
    cid = new_customer(shop)
    agent = staff("customer_service", "7")
    note_id = add_staff_note(
        actor=agent,
        purpose="customer_care",
        customer_id=cid,
        text=unicodedata.normalize("NFD", f"  {NOTE}  "),
    )
    note = StaffNote.objects.get(pk=note_id)
    assert (note.customer_id, note.author) == (cid, "staff:7")
    row = EncryptedValue.objects.get(record_kind=RecordKind.STAFF_NOTE, record_id=note_id)
    assert row.field == "staff_notes"
    assert "Tết".encode() not in bytes(row.ciphertext) and b"17h" not in bytes(row.ciphertext)
    event = last_event()
    assert (event.type, event.fields, event.record, event.actor_role) == (
        "vault:staff_note_added",
        "staff_notes",
        f"staff_note:{note_id}",
        "customer_service",
    )
    assert "Tết" not in event.canonical

    [view] = list_staff_notes(actor=agent, purpose="customer_care", customer_id=cid)
    assert view.text == NOTE  # NFC, trimmed, new line kept
    assert (view.id, view.author, view.masked) == (note_id, "staff:7", False)
    assert last_event().type == "vault:staff_notes_read" and last_event().fields == "staff_notes"


def test_notes_are_masked_unless_the_purpose_needs_them_and_the_customer_sees_their_own(
    with_notes: Any, staff: Any
) -> None:
    shop = Actor(kind="api", id="backend")
    cid = new_customer(shop)
    agent = staff("customer_service")
    first = add_staff_note(actor=agent, purpose="customer_care", customer_id=cid, text="một")
    second = add_staff_note(actor=agent, purpose="customer_care", customer_id=cid, text="hai")

    reviewed = list_staff_notes(actor=staff("owner"), purpose="note_review", customer_id=cid)
    assert {v.id for v in reviewed} == {first, second}
    assert all(v.masked and v.text == "•••" for v in reviewed)

    me = Actor(kind="customer", id=str(cid))
    mine = list_staff_notes(actor=me, purpose=SUBJECT_ACCESS, customer_id=cid)
    assert sorted(v.text for v in mine) == ["hai", "một"]
    other = new_customer(shop, "other@example.vn")
    assert list_staff_notes(actor=agent, purpose="customer_care", customer_id=other) == []


def test_refusals_are_audited(with_notes: Any, staff: Any) -> None:
    shop = Actor(kind="api", id="backend")
    cid = new_customer(shop)
    # A role the purpose is not given to.
    with pytest.raises(AccessRefused) as err:
        add_staff_note(
            actor=staff("accounting"), purpose="customer_care", customer_id=cid, text="x"
        )
    assert err.value.problems[0].rule == "role_not_allowed"
    assert (last_event().type, last_event().outcome) == ("vault:write_refused", "refused")
    # A purpose that only reads notes cannot write one.
    with pytest.raises(FieldsRefused) as ferr:
        add_staff_note(actor=staff("owner"), purpose="note_review", customer_id=cid, text="x")
    assert ferr.value.problems[0].rule == "not_declared_for_purpose"
    # The customer does not write staff notes, even about themselves.
    me = Actor(kind="customer", id=str(cid))
    with pytest.raises(AccessRefused) as err:
        add_staff_note(actor=me, purpose="customer_care", customer_id=cid, text="x")
    assert err.value.problems[0].rule == "staff_only"
    assert last_event().outcome == "refused"
    # Reading for a purpose that does not read notes.
    with pytest.raises(AccessRefused) as err:
        list_staff_notes(actor=staff("sales"), purpose="order_fulfilment", customer_id=cid)
    assert err.value.problems[0].rule == "field_not_visible"
    event = last_event()
    assert (event.type, event.outcome, event.fields) == (
        "vault:access_refused",
        "refused",
        "staff_notes",
    )
    assert not StaffNote.objects.exists()


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("   ", "required"),
        ("x" * 5001, "max_length"),
        ("bell\x07", "control_characters"),
        (42, "type"),
    ],
)
def test_invalid_notes_are_refused_and_nothing_stored(
    with_notes: Any, staff: Any, text: Any, rule: str
) -> None:
    cid = new_customer(Actor(kind="api", id="backend"))
    with pytest.raises(ValuesInvalid) as err:
        add_staff_note(
            actor=staff("customer_service"), purpose="customer_care", customer_id=cid, text=text
        )
    assert [(p.field, p.rule) for p in err.value.problems] == [("staff_notes", rule)]
    assert not StaffNote.objects.exists()
    assert not EncryptedValue.objects.filter(record_kind=RecordKind.STAFF_NOTE).exists()
