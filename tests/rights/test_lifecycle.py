"""The lifecycle of a data-subject request: verify, approve or deny, carry out, complete (issue 6;
P18). Each transition writes its audit event; a transition the state forbids is a 409 and
changes nothing. Preset B (Leman Jewelry, vn-pdpl-2026) unless a test says otherwise.

The helpers at the top are shared with the other test modules of issue 6's requests.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation

from pledge.audit.models import AuditEvent
from pledge.consent import services as consent
from pledge.policy.enforcement import EnforcedPolicy, clear_policy_cache, enforced_policy
from pledge.policy.loader import LoadedPolicy, load_policy
from pledge.policy.schema import Policy
from pledge.policy.services import publish_policy
from pledge.rights import services
from pledge.rights.models import DataSubjectRequest, RequestStatus
from pledge.vault import services as vault
from pledge.vault.access import Actor
from pledge.vault.erasure import is_erased
from pledge.vault.errors import AccessRefused, NotFound
from pledge.vault.restriction import is_restricted

STAFF = Actor(kind="staff", id="7", role="owner")
EMAIL = "hong.nhung@example.vn"
NAME = "Nguyễn Thị Hồng Nhung"
PHONE = "0912 345 678"

# Preset B has no direct marketing: these two make objection to marketing testable (one on
# consent, PDPL Art 28; one on legitimate interest, objectable only, GDPR Art 21(3)).
MARKETING_PURPOSES: list[dict[str, Any]] = [
    {
        "key": "newsletter",
        "name": {"vi": "Bản tin khuyến mãi", "en": "Newsletter"},
        "description": {"vi": "Bản tin mỗi tháng.", "en": "A monthly newsletter."},
        "basis": "consent",
        "marketing": True,
        "fields": ["email"],
        "unmasked": ["email"],
        "roles": ["sales"],
    },
    {
        "key": "promotions",
        "name": {"vi": "Ưu đãi cho khách hàng", "en": "Offers for customers"},
        "description": {"vi": "Ưu đãi cho khách đã mua.", "en": "Offers to past buyers."},
        "basis": "legitimate_interest",
        "marketing": True,
        "fields": ["email"],
        "unmasked": ["email"],
        "roles": ["sales"],
    },
]


def publish_marketing_variant() -> EnforcedPolicy:
    loaded = load_policy("leman-jewelry")
    data = loaded.policy.model_dump(mode="python", exclude_none=True)
    purposes = [p.model_dump(mode="python", exclude_none=True) for p in loaded.policy.purposes]
    data.update(version="test-marketing", purposes=purposes + MARKETING_PURPOSES)
    variant = LoadedPolicy(
        policy=Policy.model_validate(data),
        source="test",
        text=loaded.text,
        document=loaded.document,
    )
    clear_policy_cache()
    publish_policy(variant, actor="test", effective_date=loaded.policy.effective_date)
    clear_policy_cache()
    return enforced_policy()


def new_customer(
    shop_api: Actor, email: str | None = EMAIL, language: str = "vi", **fields: Any
) -> Any:
    """A customer who ordered (profile: name, email, phone); `email=None`: a phone-only one."""
    values = {"full_name": NAME, "email": email, "phone": PHONE, **fields}
    return vault.collect_customer(
        actor=shop_api,
        purpose="order_fulfilment",
        fields={k: v for k, v in values.items() if v is not None},
        language=language,
    )


def me(customer_id: uuid.UUID) -> Actor:
    return Actor(kind="customer", id=str(customer_id))


def staff_request(customer_id: uuid.UUID, kind: str, **kwargs: Any) -> DataSubjectRequest:
    return services.file_request(
        actor=STAFF, customer_id=customer_id, kind=kind, channel="staff", **kwargs
    )


def verified(customer_id: uuid.UUID, kind: str, **kwargs: Any) -> DataSubjectRequest:
    """A request taken by staff on the phone, the identity checked in person: pending."""
    filed = staff_request(customer_id, kind, **kwargs)
    return services.verify_identity(
        actor=STAFF, request_id=filed.id, customer_id=customer_id, method="in_person"
    )


def approved(customer_id: uuid.UUID, kind: str, **kwargs: Any) -> DataSubjectRequest:
    filed = verified(customer_id, kind, **kwargs)
    return services.approve_request(actor=STAFF, request_id=filed.id)


def rights_events(request_id: uuid.UUID) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(record=f"request:{request_id}").order_by("seq"))


def details_of(event: AuditEvent) -> dict[str, Any]:
    return json.loads(event.details) if event.details else {}


@pytest.fixture
def customer(leman: Any, shop_api: Actor) -> uuid.UUID:
    return new_customer(shop_api)


@pytest.fixture
def marketing(db: None) -> Iterator[EnforcedPolicy]:
    yield publish_marketing_variant()
    clear_policy_cache()


# -- the whole way, audited step by step -------------------------------------------------------


def test_a_staff_request_goes_the_whole_way_with_an_event_per_step(customer: uuid.UUID) -> None:
    filed = staff_request(customer, "restriction")
    assert filed.status == RequestStatus.IDENTITY_UNVERIFIED
    assert services.allowed_actions(filed) == {"verify", "send_code", "deny", "cancel", "extend"}

    pending = services.verify_identity(
        actor=STAFF, request_id=filed.id, customer_id=customer, method="in_person"
    )
    assert pending.status == RequestStatus.PENDING
    assert pending.identity_method == "in_person"
    assert pending.verified_at is not None
    assert services.allowed_actions(pending) == {"approve", "deny", "cancel", "extend"}

    accepted = services.approve_request(actor=STAFF, request_id=filed.id)
    assert accepted.status == RequestStatus.APPROVED
    assert accepted.decided_at is not None
    assert services.allowed_actions(accepted) == {"process", "deny", "cancel", "extend"}
    assert not is_restricted(customer)

    done = services.process_request(actor=STAFF, request_id=filed.id)
    assert done.status == RequestStatus.COMPLETE
    assert done.completed_at is not None
    assert done.outcome == {"restricted": True}
    assert is_restricted(customer)
    assert services.allowed_actions(done) == frozenset()

    steps = [(e.type, details_of(e)) for e in rights_events(filed.id)]
    assert [t for t, _ in steps] == [
        "rights:request_filed",
        "rights:identity_verified",
        "rights:request_approved",
        "rights:request_completed",
    ]
    assert steps[1][1] == {"kind": "restriction", "method": "in_person"}
    assert steps[2][1] == {"kind": "restriction"}
    assert steps[3][1] == {"kind": "restriction", "restricted": True}
    for event in rights_events(filed.id):
        assert event.actor == "staff:7"
        assert event.customer_id == customer
        assert "example.vn" not in event.canonical and "Nhung" not in event.canonical


def test_a_second_restriction_changes_nothing_more(customer: uuid.UUID) -> None:
    first = approved(customer, "restriction")
    services.process_request(actor=STAFF, request_id=first.id)
    second = approved(customer, "restriction")
    done = services.process_request(actor=STAFF, request_id=second.id)
    assert done.outcome == {"restricted": False}
    assert AuditEvent.objects.filter(type="vault:restricted").count() == 1


# -- transitions the state forbids ---------------------------------------------------------


def _at(customer_id: uuid.UUID, state: str, kind: str = "erasure") -> DataSubjectRequest:
    if state == "identity_unverified":
        return staff_request(customer_id, kind)
    if state == "pending":
        return verified(customer_id, kind)
    if state == "approved":
        return approved(customer_id, kind)
    filed = verified(customer_id, kind)
    if state == "denied":
        return services.deny_request(actor=STAFF, request_id=filed.id, ground="legal_claims")
    return services.cancel_request(actor=STAFF, request_id=filed.id)


ILLEGAL = [
    ("identity_unverified", "approve", {}),
    ("identity_unverified", "process", {}),
    ("pending", "process", {}),
    ("pending", "verify", {}),
    ("approved", "approve", {}),
    ("approved", "verify", {}),
    ("approved", "complete", {}),  # an erasure is carried out with process, not marked done
    ("denied", "approve", {}),
    ("denied", "process", {}),
    ("denied", "deny", {"ground": "legal_claims"}),
    ("denied", "cancel", {}),
    ("canceled", "verify", {}),
    ("canceled", "extend", {"reason": "Waiting for the archive."}),
    ("canceled", "complete", {}),
]


def _act(action: str, request_id: uuid.UUID, customer_id: uuid.UUID, **extra: Any) -> Any:
    if action == "verify":
        return services.verify_identity(
            actor=STAFF, request_id=request_id, customer_id=customer_id, method="in_person"
        )
    function = {
        "approve": services.approve_request,
        "process": services.process_request,
        "complete": services.complete_request,
        "deny": services.deny_request,
        "cancel": services.cancel_request,
        "extend": services.extend_request,
    }[action]
    return function(actor=STAFF, request_id=request_id, **extra)


@pytest.mark.parametrize(("state", "action", "extra"), ILLEGAL)
def test_a_forbidden_transition_is_a_conflict_and_changes_nothing(
    customer: uuid.UUID, state: str, action: str, extra: dict[str, Any]
) -> None:
    request = _at(customer, state)
    before = (request.status, AuditEvent.objects.count())
    assert action not in services.allowed_actions(request)
    with pytest.raises(services.RequestConflict) as caught:
        _act(action, request.id, customer, **extra)
    assert caught.value.status == 409
    request.refresh_from_db()
    assert (request.status, AuditEvent.objects.count()) == before
    assert not is_erased(customer)


def test_a_correction_is_completed_by_staff_not_processed(customer: uuid.UUID) -> None:
    request = approved(customer, "rectification")
    assert services.allowed_actions(request) == {"complete", "deny", "cancel", "extend"}
    with pytest.raises(services.RequestConflict, match="made by staff"):
        services.process_request(actor=STAFF, request_id=request.id)
    # The customer corrects the phone number in the privacy center meanwhile (vault:rectified).
    from pledge.vault import subject

    subject.rectify(actor=me(customer), customer_id=customer, changes={"phone": "0987 654 321"})
    done = services.complete_request(
        actor=STAFF, request_id=request.id, note="The phone number was corrected."
    )
    assert done.status == RequestStatus.COMPLETE
    assert done.outcome == {"corrections": 1}
    assert done.completion_note == "The phone number was corrected."
    event = AuditEvent.objects.get(type="rights:request_completed")
    assert details_of(event) == {"kind": "rectification", "corrections": 1}


def test_a_completion_note_is_checked_like_an_extension_reason(customer: uuid.UUID) -> None:
    request = approved(customer, "rectification")
    with pytest.raises(services.RequestInvalid, match="must not contain"):
        services.complete_request(actor=STAFF, request_id=request.id, note=f"Now {EMAIL}")
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED


# -- denial ----------------------------------------------------------------------------------


def test_a_denial_names_its_legal_ground(customer: uuid.UUID) -> None:
    request = verified(customer, "erasure")
    denied = services.deny_request(
        actor=STAFF,
        request_id=request.id,
        ground="legal_claims",
        explanation="  A dispute about order 12 is before the court.  ",
    )
    assert denied.status == RequestStatus.DENIED
    assert denied.denial_ground == "legal_claims"
    assert denied.denial_explanation == "A dispute about order 12 is before the court."
    _label, article = services.DENIAL_GROUNDS["legal_claims"]
    with translation.override("en"):
        assert "GDPR Art 17(3)(e)" in str(article) and "PDPL" in str(article)
    with translation.override("vi"):
        assert "điểm e khoản 3 Điều 17 GDPR" in str(article)
    event = AuditEvent.objects.get(type="rights:request_denied")
    assert details_of(event) == {"kind": "erasure", "ground": "legal_claims", "from": "pending"}
    assert "court" not in event.canonical  # the explanation stays in the row
    assert not is_erased(customer)


@pytest.mark.parametrize(
    ("ground", "explanation", "error", "message"),
    [
        ("because", "", services.RequestInvalid, "unknown ground 'because'"),
        (None, "", services.RequestInvalid, "unknown ground"),
        ("legal_claims", f"Ask {EMAIL}", services.RequestInvalid, "must not contain"),
        ("legal_claims", f"Call {PHONE}", services.RequestInvalid, "must not contain"),
        ("legal_claims", "x" * 1001, services.RequestInvalid, "longer than 1000"),
        ("legal_claims", 42, services.RequestInvalid, "must be text"),
        ("identity_not_verified", "", services.RequestConflict, "was verified"),
    ],
)
def test_a_bad_denial_is_refused_and_changes_nothing(
    customer: uuid.UUID, ground: Any, explanation: Any, error: type[Exception], message: str
) -> None:
    request = verified(customer, "erasure")
    with pytest.raises(error, match=message):
        services.deny_request(
            actor=STAFF, request_id=request.id, ground=ground, explanation=explanation
        )
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert request.denial_ground == request.denial_explanation == ""
    assert not AuditEvent.objects.filter(type="rights:request_denied").exists()


def test_an_unverified_request_is_denied_only_for_identity(customer: uuid.UUID) -> None:
    request = staff_request(customer, "access")
    with pytest.raises(services.RequestConflict, match="not verified"):
        services.deny_request(actor=STAFF, request_id=request.id, ground="manifestly_unfounded")
    denied = services.deny_request(
        actor=STAFF, request_id=request.id, ground="identity_not_verified"
    )
    assert denied.status == RequestStatus.DENIED
    assert details_of(AuditEvent.objects.get(type="rights:request_denied"))["from"] == (
        "identity_unverified"
    )


# -- who may decide ------------------------------------------------------------------------------


def test_a_customer_cannot_decide_on_their_own_request(customer: uuid.UUID) -> None:
    request = services.file_request(
        actor=me(customer), customer_id=customer, kind="erasure", channel="privacy_center"
    )
    for action in ("approve", "deny", "process"):
        call = {
            "approve": services.approve_request,
            "deny": lambda **kw: services.deny_request(ground="legal_claims", **kw),
            "process": services.process_request,
        }[action]
        with pytest.raises(AccessRefused):
            call(actor=me(customer), request_id=request.id)
    with pytest.raises(AccessRefused):
        services.verify_identity(
            actor=me(customer), request_id=request.id, customer_id=customer, method="in_person"
        )
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING


def test_verification_checks_its_input(customer: uuid.UUID, shop_api: Actor) -> None:
    request = staff_request(customer, "access")
    with pytest.raises(services.RequestInvalid, match="unknown identity method 'sms'"):
        services.verify_identity(
            actor=STAFF, request_id=request.id, customer_id=customer, method="sms"
        )
    with pytest.raises(services.RequestInvalid, match="must be a UUID"):
        services.verify_identity(
            actor=STAFF, request_id=request.id, customer_id="abc", method="in_person"
        )  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        services.verify_identity(
            actor=STAFF, request_id=uuid.uuid4(), customer_id=customer, method="in_person"
        )
    other = new_customer(shop_api, "binh.tran@example.vn")
    with pytest.raises(services.RequestConflict, match="another customer"):
        services.verify_identity(
            actor=STAFF, request_id=request.id, customer_id=other, method="in_person"
        )
    # A code method needs a code that was checked (pledge.rights.identity); staff cannot skip it.
    with pytest.raises(AccessRefused, match="no code"):
        services.verify_identity(
            actor=STAFF, request_id=request.id, customer_id=customer, method="staff_email_code"
        )
    request.refresh_from_db()
    assert request.status == RequestStatus.IDENTITY_UNVERIFIED
    assert not AuditEvent.objects.filter(type="rights:identity_verified").exists()


# -- what each kind does -------------------------------------------------------------------------


def test_access_from_the_privacy_center_is_answered_at_once(customer: uuid.UUID) -> None:
    done = services.file_from_privacy_center(
        actor=me(customer), customer_id=customer, kind="access"
    )
    assert done.status == RequestStatus.COMPLETE
    assert done.identity_method == "signed_in"
    assert done.outcome == {"delivery": "privacy_center"}
    types = [e.type for e in rights_events(done.id)]
    assert types == ["rights:request_filed", "rights:request_approved", "rights:request_completed"]
    assert {e.actor for e in rights_events(done.id)[1:]} == {"system:rights"}


def test_erasure_from_the_privacy_center_waits_for_staff(customer: uuid.UUID) -> None:
    filed = services.file_from_privacy_center(
        actor=me(customer), customer_id=customer, kind="erasure"
    )
    assert filed.status == RequestStatus.PENDING
    assert not is_erased(customer)
    services.approve_request(actor=STAFF, request_id=filed.id)
    done = services.process_request(actor=STAFF, request_id=filed.id)
    assert done.status == RequestStatus.COMPLETE
    assert is_erased(customer)
    stored = json.dumps(done.outcome)
    assert {"deleted", "kept", "customer_id", "erased_at"} <= set(done.outcome)
    assert any(item["count"] for item in done.outcome["deleted"])
    for value in (EMAIL, NAME, "0912345678", "345 678"):
        assert value not in stored
    event = AuditEvent.objects.get(type="rights:request_completed")
    assert details_of(event) == {
        "kind": "erasure",
        "deleted": len(done.outcome["deleted"]),
        "kept": len(done.outcome["kept"]),
    }


def test_a_second_erasure_finds_nothing_left(customer: uuid.UUID) -> None:
    services.process_request(actor=STAFF, request_id=approved(customer, "erasure").id)
    again = approved(customer, "erasure")
    done = services.process_request(actor=STAFF, request_id=again.id)
    assert done.outcome == {"already_erased": True}


def _give(customer_id: uuid.UUID, *purposes: str) -> None:
    for purpose in purposes:
        consent.give_consent(
            customer_id=customer_id, purpose=purpose, method="checkbox", actor="test"
        )


def test_withdrawing_without_naming_withdraws_every_live_consent(customer: uuid.UUID) -> None:
    _give(customer, "customer_database", "service_notices")
    done = services.file_from_privacy_center(
        actor=me(customer), customer_id=customer, kind="withdraw_consent"
    )
    assert done.status == RequestStatus.COMPLETE
    assert done.outcome == {"withdrawn": 2}
    assert not consent.has_live_consent(customer, "customer_database")
    assert not consent.has_live_consent(customer, "service_notices")
    withdrawn = AuditEvent.objects.filter(type="consent:withdrawn")
    assert {e.actor for e in withdrawn} == {"system:rights"}


def test_withdrawing_named_consents_leaves_the_others(customer: uuid.UUID) -> None:
    _give(customer, "customer_database", "service_notices")
    done = services.file_from_privacy_center(
        actor=me(customer),
        customer_id=customer,
        kind="withdraw_consent",
        purposes=["service_notices"],
    )
    assert done.outcome == {"withdrawn": 1}
    assert done.purposes == ["service_notices"]
    assert consent.has_live_consent(customer, "customer_database")
    assert not consent.has_live_consent(customer, "service_notices")


@pytest.mark.parametrize(
    ("kind", "purposes", "message"),
    [
        ("withdraw_consent", ["order_fulfilment"], "cannot be withdrawn"),
        ("withdraw_consent", ["no_such_purpose"], "cannot be withdrawn"),
        ("objection", ["customer_database"], "cannot be objected to"),
        ("access", ["customer_database"], "names no purposes"),
        ("objection", "fraud_prevention", "must be a list"),
        ("objection", [3], "must be a list"),
        ("withdraw_consent", ["service_notices"] * 2 + [f"p{n}" for n in range(60)], "at most"),
    ],
)
def test_purposes_must_fit_the_kind(
    customer: uuid.UUID, kind: str, purposes: Any, message: str
) -> None:
    with pytest.raises(services.RequestInvalid, match=message):
        services.file_from_privacy_center(
            actor=me(customer), customer_id=customer, kind=kind, purposes=purposes
        )
    assert not DataSubjectRequest.objects.exists()


def test_an_objection_to_marketing_is_absolute_and_immediate(
    marketing: EnforcedPolicy, shop_api: Actor
) -> None:
    customer = new_customer(shop_api)
    done = services.file_from_privacy_center(
        actor=me(customer), customer_id=customer, kind="objection", purposes=["promotions"]
    )
    assert done.status == RequestStatus.COMPLETE
    assert done.outcome == {"marketing_objections": 1, "restricted": False}
    # GDPR Art 21(3): it stands without any prior consent, and the customer is not restricted.
    assert consent.objection_stands(customer, "promotions")
    assert not is_restricted(customer)


def test_an_objection_to_legitimate_interest_waits_and_then_restricts(
    marketing: EnforcedPolicy, shop_api: Actor
) -> None:
    customer = new_customer(shop_api)
    filed = services.file_from_privacy_center(
        actor=me(customer),
        customer_id=customer,
        kind="objection",
        purposes=["promotions", "fraud_prevention"],
    )
    assert filed.status == RequestStatus.PENDING  # GDPR Art 21(1): staff weigh the grounds
    services.approve_request(actor=STAFF, request_id=filed.id)
    done = services.process_request(actor=STAFF, request_id=filed.id)
    assert done.outcome == {"marketing_objections": 1, "restricted": True}
    assert consent.objection_stands(customer, "promotions")
    assert is_restricted(customer)


def test_offered_kinds_are_the_rights_the_law_gives(customer: uuid.UUID) -> None:
    # Preset B promises only erasure; Decree 356 Art 5 gives all seven rights a deadline.
    assert set(services.offered_kinds()) == {
        "access",
        "portability",
        "rectification",
        "erasure",
        "restriction",
        "objection",
        "withdraw_consent",
    }


def test_an_erasure_forgets_the_free_texts_staff_wrote_on_the_requests(
    customer: uuid.UUID,
) -> None:
    """The reason and note fields refuse addresses and numbers, not names: they go with the
    erasure; the requests stay as the log of requests, with kinds, times and outcomes."""
    access = verified(customer, "access")
    services.extend_request(
        actor=STAFF, request_id=access.id, reason="Chờ chị Nguyễn Thị Hoa ở kho xác nhận"
    )
    erasure = approved(customer, "erasure")
    services.process_request(actor=STAFF, request_id=erasure.id)
    assert is_erased(customer)
    rows = DataSubjectRequest.objects.filter(customer_id=customer)
    assert {r.kind for r in rows} == {"access", "erasure"}
    assert all(r.extension_reason == "" for r in rows)
    assert all(r.completion_note == "" and r.denial_explanation == "" for r in rows)
    access.refresh_from_db()
    assert access.extended_due_at is not None  # the extension itself stays on record
