"""Restriction of processing (vault/restriction.py; GDPR Art 18; Decree 356/2025 Art 5; P18).

Preset B (Leman). While a customer is restricted, every use of their data for a purpose on
contract, consent or legitimate interest is refused and audited; a legal obligation still works,
and so does the customer seeing their own data. Each case below worked before the restriction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from pledge.audit.models import AuditEvent
from pledge.vault import services
from pledge.vault.access import SUBJECT_ACCESS, Actor
from pledge.vault.documents import read_id_document, store_id_document
from pledge.vault.errors import AccessRefused, NotFound, ProcessingRestricted, ValuesInvalid
from pledge.vault.keystore import KeyStore
from pledge.vault.models import Customer, EncryptedValue, Order
from pledge.vault.restriction import is_restricted, lift_restriction, restrict_processing

pytest.register_assert_rewrite("tests.vault.shredding")
from tests.vault.shredding import PERSON, Everything, customer_with_everything, png  # noqa: E402

# Fixtures: own_keystore, leman_with_notes.
pytest_plugins = ["tests.vault.shredding"]

OWNER = Actor(kind="staff", id="1", role="owner")


def last_event() -> AuditEvent:
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    return event


def assert_refused(event_type: str, purpose: str, customer_id: uuid.UUID | None) -> None:
    event = last_event()
    assert (event.type, event.outcome, event.purpose) == (event_type, "refused", purpose)
    assert json.loads(event.details) == {"rule": "restricted"}
    if customer_id is not None:
        assert event.customer_id == customer_id


@pytest.fixture
def customer(own_keystore: KeyStore, leman_with_notes: Any, shop_api: Actor) -> Everything:
    return customer_with_everything(shop_api)


def restrict(customer_id: uuid.UUID, reason: str = "request") -> None:
    restrict_processing(actor=OWNER, customer_id=customer_id, reason=reason)


# Reads for a purpose of each basis, by a role the policy gives that purpose.
READS: dict[str, tuple[str, str]] = {
    "contract": ("order_fulfilment", "sales"),
    "consent": ("customer_database", "customer_service"),
    "legitimate-interest": ("fraud_prevention", "owner"),
}


@pytest.mark.parametrize("basis", list(READS))
@pytest.mark.parametrize("reason", ["request", "objection"])
def test_reads_for_other_bases_are_refused_and_audited(
    customer: Everything, staff: Any, basis: str, reason: str
) -> None:
    purpose, role = READS[basis]
    cid = customer.customer_id
    reader = staff(role)
    assert services.read_customer(actor=reader, purpose=purpose, customer_id=cid).fields
    assert services.list_orders(actor=reader, purpose=purpose, customer_id=cid)
    restrict(cid, reason)
    assert is_restricted(cid)
    with pytest.raises(ProcessingRestricted) as err:
        services.read_customer(actor=reader, purpose=purpose, customer_id=cid)
    assert err.value.status == 403
    assert err.value.problems[0].rule == "restricted"
    assert_refused("vault:access_refused", purpose, cid)
    with pytest.raises(ProcessingRestricted):
        services.list_orders(actor=reader, purpose=purpose, customer_id=cid)
    assert_refused("vault:access_refused", purpose, cid)


def test_reads_for_a_legal_obligation_still_work(customer: Everything, staff: Any) -> None:
    cid = customer.customer_id
    restrict(cid)
    desk = staff("customer_service")
    view = services.read_customer(actor=desk, purpose="complaints", customer_id=cid)
    assert view.fields["email"] == PERSON["email"]
    assert services.list_orders(actor=desk, purpose="complaints", customer_id=cid)
    agency = services.read_customer(actor=OWNER, purpose="state_requests", customer_id=cid)
    assert agency.fields
    assert last_event().type == "vault:read"


def test_the_customer_still_sees_their_own_data(customer: Everything) -> None:
    cid = customer.customer_id
    restrict(cid)
    me = Actor(kind="customer", id=str(cid))
    view = services.read_customer(actor=me, purpose=SUBJECT_ACCESS, customer_id=cid)
    assert view.fields["email"] == PERSON["email"]
    assert services.list_orders(actor=me, purpose=SUBJECT_ACCESS, customer_id=cid)
    scan, _ = read_id_document(
        actor=me, purpose=SUBJECT_ACCESS, customer_id=cid, document_id=customer.document_id
    )
    assert scan == png()


def test_writes_for_other_bases_are_refused_and_audited(
    customer: Everything, shop_api: Actor, staff: Any
) -> None:
    cid = customer.customer_id
    restrict(cid)
    values = {
        (r.record_kind, r.record_id, r.field): bytes(r.ciphertext)
        for r in EncryptedValue.objects.filter(customer_id=cid)
    }
    orders = Order.objects.filter(customer_id=cid).count()
    with pytest.raises(ProcessingRestricted):
        services.update_customer(
            actor=shop_api,
            purpose="order_fulfilment",
            customer_id=cid,
            fields={"address": "1 Tràng Tiền, Hà Nội"},
        )
    assert_refused("vault:write_refused", "order_fulfilment", cid)
    with pytest.raises(ProcessingRestricted):
        services.place_order(
            actor=shop_api,
            purpose="order_fulfilment",
            customer_id=cid,
            number="LM-RESTRICTED-1",
            items=[{"sku": "R-2", "name": "Dây chuyền", "quantity": 1, "unit_price": "100"}],
            total="100",
        )
    assert_refused("vault:write_refused", "order_fulfilment", cid)
    with pytest.raises(ProcessingRestricted):
        store_id_document(
            actor=shop_api,
            purpose="order_fulfilment",
            customer_id=cid,
            content=png(),
            content_type="image/png",
        )
    # A new consent does not lift a restriction either.
    with pytest.raises(ProcessingRestricted):
        services.update_customer(
            actor=shop_api,
            purpose="customer_database",
            customer_id=cid,
            fields={"phone": "0903 777 888"},
            consent_method="checkbox",
        )
    assert {
        (r.record_kind, r.record_id, r.field): bytes(r.ciphertext)
        for r in EncryptedValue.objects.filter(customer_id=cid)
    } == values
    assert Order.objects.filter(customer_id=cid).count() == orders
    # What the law requires may still be written (a complaint's contact email).
    services.update_customer(
        actor=staff("customer_service"),
        purpose="complaints",
        customer_id=cid,
        fields={"email": "thu.xoa.complaint@example.vn"},
    )
    assert last_event().type == "vault:customer_updated"


def test_lookups_for_other_bases_withhold_the_restricted_customer(
    customer: Everything, staff: Any
) -> None:
    cid = customer.customer_id
    desk = staff("customer_service")

    def lookup(purpose: str) -> list[uuid.UUID]:
        return services.lookup_customers(
            actor=desk, purpose=purpose, by="email", value=PERSON["email"]
        )

    assert lookup("customer_database") == [cid]
    restrict(cid)
    assert lookup("customer_database") == []
    event = last_event()
    assert (event.type, json.loads(event.details)) == (
        "vault:lookup",
        {"matches": 0, "withheld": 1},
    )
    assert lookup("complaints") == [cid]  # a legal obligation finds them
    with pytest.raises(ProcessingRestricted):
        services.lookup_guarantee(
            actor=staff("sales"), purpose="guarantee", number=customer.guarantee_number
        )
    assert_refused("vault:access_refused", "guarantee", cid)


def test_lifting_restores_processing(customer: Everything, staff: Any) -> None:
    cid = customer.customer_id
    seller = staff("sales")
    restrict(cid)
    with pytest.raises(ProcessingRestricted):
        services.read_customer(actor=seller, purpose="order_fulfilment", customer_id=cid)
    lift_restriction(actor=OWNER, customer_id=cid)
    assert not is_restricted(cid)
    view = services.read_customer(actor=seller, purpose="order_fulfilment", customer_id=cid)
    assert view.fields["full_name"] == PERSON["full_name"]
    restricted, lifted = (
        AuditEvent.objects.filter(type=t, customer_id=cid).get()
        for t in ("vault:restricted", "vault:restriction_lifted")
    )
    assert (restricted.actor, json.loads(restricted.details)) == ("staff:1", {"reason": "request"})
    assert lifted.actor == "staff:1"
    # Lifting what is not restricted changes nothing and records nothing.
    events = AuditEvent.objects.count()
    lift_restriction(actor=OWNER, customer_id=cid)
    assert AuditEvent.objects.count() == events


def test_restricting_an_erased_customer_is_a_no_op(
    customer: Everything, django_capture_on_commit_callbacks: Any
) -> None:
    from pledge.vault.erasure import erase_customer

    cid = customer.customer_id
    with django_capture_on_commit_callbacks(execute=True):
        erase_customer(actor=OWNER, customer_id=cid)
    before = Customer.objects.values("restricted_at", "restriction_reason").get(pk=cid)
    events = AuditEvent.objects.count()
    restrict(cid, "objection")
    lift_restriction(actor=OWNER, customer_id=cid)  # nor can an erasure's restriction be lifted
    assert Customer.objects.values("restricted_at", "restriction_reason").get(pk=cid) == before
    assert before["restriction_reason"] == "erasure"
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    "make_actor",
    [
        lambda cid: Actor(kind="api", id="shop"),
        lambda cid: Actor(kind="customer", id=str(cid)),
    ],
    ids=["api", "customer"],
)
def test_only_staff_or_the_system_restrict_or_lift(
    customer: Everything, make_actor: Callable[[uuid.UUID], Actor]
) -> None:
    cid = customer.customer_id
    actor = make_actor(cid)
    with pytest.raises(AccessRefused) as err:
        restrict_processing(actor=actor, customer_id=cid)
    assert err.value.status == 403
    assert not is_restricted(cid)
    restrict(cid)
    with pytest.raises(AccessRefused):
        lift_restriction(actor=actor, customer_id=cid)
    assert is_restricted(cid)
    restrict_processing(actor=Actor(kind="system", id="rights"), customer_id=cid)
    lift_restriction(actor=Actor(kind="system", id="rights"), customer_id=cid)
    assert not is_restricted(cid)


@pytest.mark.parametrize("reason", ["erasure", "because", "", None, ["request"]])
def test_an_unknown_reason_is_422_and_changes_nothing(customer: Everything, reason: Any) -> None:
    events = AuditEvent.objects.count()
    with pytest.raises(ValuesInvalid) as err:
        restrict(customer.customer_id, reason)
    assert err.value.status == 422
    assert err.value.problems[0].field == "reason"
    assert not is_restricted(customer.customer_id)
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("customer_id", [uuid.uuid4(), "not-a-uuid", None])
def test_an_unknown_customer_is_404(
    own_keystore: KeyStore, leman_with_notes: Any, customer_id: Any
) -> None:
    with pytest.raises(NotFound):
        restrict_processing(actor=OWNER, customer_id=customer_id)
    with pytest.raises(NotFound):
        lift_restriction(actor=OWNER, customer_id=customer_id)


def test_break_glass_cannot_open_a_restricted_customer(customer: Everything) -> None:
    """Security review: break-glass opens fields outside any purpose, so a restriction (or an
    erasure's hold) must bind it too; the attempt is refused and recorded."""
    from pledge.vault.breakglass import break_glass_read

    reason = "Khách gọi báo mất thẻ, cần kiểm tra số điện thoại để xác minh"
    opened = break_glass_read(
        actor=OWNER, customer_id=customer.customer_id, fields=["phone"], reason=reason
    )
    assert opened.opened["phone"]  # works before the restriction
    restrict(customer.customer_id)
    with pytest.raises(ProcessingRestricted):
        break_glass_read(
            actor=OWNER, customer_id=customer.customer_id, fields=["phone"], reason=reason
        )
    assert_refused("vault:access_refused", "", customer.customer_id)
