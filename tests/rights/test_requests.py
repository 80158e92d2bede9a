"""Filing, extending and canceling data-subject requests under preset B (vn-pdpl-2026).

The fixed receipt time is Friday 5 February 2027, 19:30 in Hồ Chí Minh City: Lunar New Year's Eve.
Saturday 6 to Wednesday 10 February are the weekend and Tết (docs/deadlines.md).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pledge.audit.models import AuditEvent
from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import LoadedPolicy, load_policy
from pledge.policy.schema import Policy
from pledge.policy.services import publish_policy
from pledge.rights import services
from pledge.rights.models import DataSubjectRequest, RequestStatus
from pledge.vault import services as vault
from pledge.vault.access import Actor
from pledge.vault.errors import AccessRefused, NotFound

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
TET_EVE = dt.datetime(2027, 2, 5, 19, 30, tzinfo=HCM)
STAFF = Actor(kind="staff", id="7", role="owner")


def end_of(day: int) -> dt.datetime:
    """24:00 of `day` February 2027, shop time: the first late instant."""
    return dt.datetime(2027, 2, day, tzinfo=HCM) + dt.timedelta(days=1)


@pytest.fixture
def customer(leman: Any, shop_api: Actor) -> uuid.UUID:
    return vault.collect_customer(
        actor=shop_api,
        purpose="order_fulfilment",
        fields={"full_name": "Nguyễn Thị Hồng Nhung", "email": "hong.nhung@example.vn"},
    )


def me(customer_id: uuid.UUID) -> Actor:
    return Actor(kind="customer", id=str(customer_id))


def file(customer_id: uuid.UUID, kind: str, **kwargs: Any) -> DataSubjectRequest:
    return services.file_request(
        actor=kwargs.pop("actor", me(customer_id)),
        customer_id=customer_id,
        kind=kind,
        channel=kwargs.pop("channel", "privacy_center"),
        received_at=kwargs.pop("received_at", TET_EVE),
    )


# Decree 356/2025 Art 5 via vn-pdpl-2026: the receipt day is not counted; a last day off rolls on.
@pytest.mark.parametrize(
    ("kind", "last_day"),
    [
        ("access", 15),  # 10 days: Monday 15 February
        ("portability", 15),
        ("rectification", 15),
        ("erasure", 25),  # 20 days: Thursday 25 February
        ("restriction", 22),  # 15 days: Saturday 20, rolls to Monday 22
        ("objection", 22),
        ("withdraw_consent", 22),
    ],
)
def test_due_times_per_kind_before_tet(customer: uuid.UUID, kind: str, last_day: int) -> None:
    request = file(customer, kind)
    request.refresh_from_db()
    assert request.due_at == end_of(last_day)
    # 2 working days: Thursday 11 and Friday 12, after the weekend and Tết.
    assert request.acknowledge_due_at == end_of(12)
    assert request.profile == "vn-pdpl-2026"
    assert request.status == RequestStatus.PENDING
    assert request.received_at == TET_EVE
    assert request.extended_due_at is None


def test_a_friday_morning_request_is_due_with_the_evening_one(customer: uuid.UUID) -> None:
    morning = file(customer, "access", received_at=TET_EVE.replace(hour=9, minute=0))
    evening = file(customer, "access")
    assert morning.due_at == evening.due_at == end_of(15)


def test_the_strictest_profile_wins_and_is_named(leman: Any, shop_api: Actor) -> None:
    loaded = load_policy("leman-jewelry")
    data = loaded.policy.model_dump(mode="python", exclude_none=True)
    data.update(version="test-two-profiles", jurisdictions=["gdpr", "vn-pdpl-2026"])
    both = LoadedPolicy(
        policy=Policy.model_validate(data),
        source="test",
        text=loaded.text,
        document=loaded.document,
    )
    clear_policy_cache()
    publish_policy(both, actor="test", effective_date=loaded.policy.effective_date)
    clear_policy_cache()
    customer_id = vault.collect_customer(
        actor=shop_api, purpose="order_fulfilment", fields={"full_name": "Trần Bình"}
    )
    # GDPR gives a month (5 March); Decree 356 gives 10 days: the Vietnamese rule binds.
    request = file(customer_id, "access")
    assert request.profile == "vn-pdpl-2026"
    assert request.due_at == end_of(15)


def test_one_extension_is_allowed_and_the_second_refused(customer: uuid.UUID) -> None:
    request = file(customer, "access")
    extended = services.extend_request(
        actor=STAFF, request_id=request.id, reason="  The order archive is being restored.  "
    )
    # Ten more days from the nominal last day (15 February): Thursday 25 February.
    assert extended.extended_due_at == end_of(25)
    assert extended.effective_due_at == end_of(25)
    assert extended.due_at == end_of(15)  # the original stays for the record
    assert extended.extension_reason == "The order archive is being restored."
    with pytest.raises(services.RequestConflict, match="already extended"):
        services.extend_request(actor=STAFF, request_id=request.id, reason="Still restoring.")
    request.refresh_from_db()
    assert request.extended_due_at == end_of(25)
    assert request.extension_reason == "The order archive is being restored."
    assert AuditEvent.objects.filter(type="rights:request_extended").count() == 1


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "needs a reason"),
        ("   ", "needs a reason"),
        (None, "needs a reason"),
        ("x" * 501, "longer than 500"),
        ("Waiting for hong.nhung@example.vn to reply", "must not contain"),
        ("Call back on 0912 345 678", "must not contain"),
    ],
)
def test_an_extension_needs_a_clean_reason(customer: uuid.UUID, reason: Any, message: str) -> None:
    request = file(customer, "erasure")
    with pytest.raises(services.RequestInvalid, match=message):
        services.extend_request(actor=STAFF, request_id=request.id, reason=reason)
    request.refresh_from_db()
    assert request.extended_due_at is None
    assert request.extension_reason == ""
    assert not AuditEvent.objects.filter(type="rights:request_extended").exists()


def test_a_customer_cannot_extend_their_own_deadline(customer: uuid.UUID) -> None:
    request = file(customer, "access")
    with pytest.raises(AccessRefused):
        services.extend_request(actor=me(customer), request_id=request.id, reason="Busy.")


def test_unknown_kind_is_refused_with_a_clear_error(customer: uuid.UUID) -> None:
    with pytest.raises(services.RequestInvalid) as caught:
        file(customer, "delete_everything")
    assert "unknown request kind 'delete_everything'" in str(caught.value)
    assert "erasure" in str(caught.value)  # names what is allowed
    assert caught.value.status == 422
    assert not DataSubjectRequest.objects.exists()
    assert not AuditEvent.objects.filter(type__startswith="rights:").exists()


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"kind": 3}, services.RequestInvalid, "unknown request kind 3"),
        ({"channel": "fax"}, services.RequestInvalid, "unknown channel 'fax'"),
        ({"customer_id": "not-a-uuid"}, services.RequestInvalid, "must be a UUID"),
        ({"customer_id": uuid.UUID(int=1)}, AccessRefused, "only about themselves"),
        (
            {"received_at": dt.datetime(2027, 2, 5, 19, 30)},
            services.RequestInvalid,
            "timezone-aware",
        ),
        ({"received_at": "2027-02-05"}, services.RequestInvalid, "must be a datetime"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    customer: uuid.UUID, changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = {
        "actor": me(customer),
        "customer_id": customer,
        "kind": "access",
        "channel": "privacy_center",
        "received_at": TET_EVE,
        **changes,
    }
    with pytest.raises(error, match=message):
        services.file_request(**arguments)
    assert not DataSubjectRequest.objects.exists()
    assert not AuditEvent.objects.filter(type__startswith="rights:").exists()


def test_staff_entry_of_an_unknown_customer_is_not_found(customer: uuid.UUID) -> None:
    with pytest.raises(NotFound):
        file(uuid.UUID(int=1), "access", actor=STAFF, channel="staff")
    assert not DataSubjectRequest.objects.exists()


def test_staff_and_form_requests_start_unverified(customer: uuid.UUID) -> None:
    by_staff = file(customer, "erasure", actor=STAFF, channel="staff")
    assert by_staff.status == RequestStatus.IDENTITY_UNVERIFIED
    unmatched = services.file_request(
        actor=Actor(kind="system", id="web-form"),
        customer_id=None,
        kind="objection",
        channel="web_form",
        received_at=TET_EVE,
    )
    assert unmatched.customer_id is None
    assert unmatched.status == RequestStatus.IDENTITY_UNVERIFIED
    assert unmatched.due_at == end_of(22)  # the clock runs from receipt, not verification


def test_filing_writes_an_audit_event_without_personal_data(customer: uuid.UUID) -> None:
    request = file(customer, "erasure")
    event = AuditEvent.objects.get(type="rights:request_filed")
    assert event.customer_id == customer
    assert event.actor == f"customer:{customer}"
    assert event.record == f"request:{request.id}"
    details = json.loads(event.details)
    assert details["kind"] == "erasure"
    assert details["channel"] == "privacy_center"
    assert details["profile"] == "vn-pdpl-2026"
    assert details["due_at"] == end_of(25).isoformat()
    assert "example.vn" not in event.canonical
    assert "Nhung" not in event.canonical


def test_cancel_by_the_customer_then_no_more_changes(customer: uuid.UUID) -> None:
    request = file(customer, "access")
    canceled = services.cancel_request(actor=me(customer), request_id=request.id)
    assert canceled.status == RequestStatus.CANCELED
    event = AuditEvent.objects.get(type="rights:request_canceled")
    assert json.loads(event.details) == {"kind": "access", "from": "pending"}
    with pytest.raises(services.RequestConflict, match="already canceled"):
        services.cancel_request(actor=STAFF, request_id=request.id)
    with pytest.raises(services.RequestConflict, match="no longer be extended"):
        services.extend_request(actor=STAFF, request_id=request.id, reason="Too late.")


def test_a_customer_cannot_cancel_someone_elses_request(
    customer: uuid.UUID, shop_api: Actor
) -> None:
    request = file(customer, "access")
    other = vault.collect_customer(
        actor=shop_api, purpose="order_fulfilment", fields={"full_name": "Trần Bình"}
    )
    with pytest.raises(NotFound):
        services.cancel_request(actor=me(other), request_id=request.id)
    with pytest.raises(NotFound):
        services.cancel_request(actor=me(other), request_id=uuid.uuid4())
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert not AuditEvent.objects.filter(type="rights:request_canceled").exists()
