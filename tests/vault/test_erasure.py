"""Erasure by crypto-shredding (vault/erasure.py; issue 6; P18; GDPR Art 17; Decree 356 Art 5).

Preset B (Leman, plus staff notes) for "everything goes": B keeps nothing on invoices, so nothing
is held. Preset A (James) for the legal hold: it keeps the buyer's name on invoices for 10 years
from the end of the fiscal year (Accounting Law 88/2015 Art 41). Each test has a key store of
its own; callbacks run after commit through `django_capture_on_commit_callbacks(execute=True)`,
as they would when the real transaction commits.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from pledge.accounts.models import CustomerAccount, CustomerDevice, CustomerSession
from pledge.audit.models import AuditEvent
from pledge.audit.verify import verify_chain
from pledge.consent.models import ConsentEvent, ConsentState
from pledge.notify.models import OutboxMessage
from pledge.vault import erasure, services
from pledge.vault.access import SUBJECT_ACCESS, Actor
from pledge.vault.documents import _path_of
from pledge.vault.erasure import ErasedItem, ErasureReport, KeptItem, erase_customer, expire_holds
from pledge.vault.errors import AccessRefused, NotFound, ProcessingRestricted
from pledge.vault.invoices import issue_invoice, list_invoices
from pledge.vault.keystore import KeyStore
from pledge.vault.models import (
    BlindIndex,
    Customer,
    EncryptedValue,
    GuaranteeCard,
    IdDocument,
    Invoice,
    Order,
    Payment,
    PaymentMethod,
    StaffNote,
)
from pledge.vault.store import KeyUnavailable
from tests.portal.conftest import customer_client, make_account

pytest.register_assert_rewrite("tests.vault.shredding")
from tests.vault.shredding import (  # noqa: E402 - after the rewrite hook
    BUYER,
    NOTE,
    PERSON,
    customer_with_everything,
    files_of,
    queue_mail,
)

# Fixtures: own_keystore, leman_with_notes, james.
pytest_plugins = ["tests.vault.shredding"]

OWNER = Actor(kind="staff", id="1", role="owner")
SAIGON = ZoneInfo("Asia/Ho_Chi_Minh")


def erase(customer_id: uuid.UUID, capture: Any, actor: Actor = OWNER) -> ErasureReport:
    """Erase in a transaction that commits: the after-commit work (shred, files) runs."""
    with capture(execute=True):
        return erase_customer(actor=actor, customer_id=customer_id)


def audit_text() -> str:
    return json.dumps(
        list(AuditEvent.objects.values("type", "fields", "details", "record", "purpose")),
        ensure_ascii=False,
    )


# -- everything goes (preset B plus staff notes) ----------------------------------------------


def test_erasure_deletes_every_category(
    own_keystore: KeyStore,
    leman_with_notes: Any,
    shop_api: Actor,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.PASSWORD_HASHERS = ["tests.portal.conftest.QuickArgon2PasswordHasher"]  # fast
    who = customer_with_everything(shop_api, notes=True)
    cid = who.customer_id
    # The privacy-center account on the same email joins this customer; signing in makes a session.
    account = make_account(PERSON["email"])
    assert account.customer_id == cid
    browser = customer_client(account)
    assert browser.get("/me/").status_code == 200
    assert CustomerSession.objects.filter(account=account).exists()
    queue_mail(cid)
    unsent = OutboxMessage.objects.filter(
        customer_id=cid, status__in=[OutboxMessage.Status.QUEUED, OutboxMessage.Status.SENDING]
    ).count()
    assert unsent >= 1
    consents_given = ConsentEvent.objects.filter(customer_id=cid).count()
    assert ConsentState.objects.filter(customer_id=cid, live=True).count() == 2
    by_kind = Counter(
        EncryptedValue.objects.filter(customer_id=cid).values_list("record_kind", flat=True)
    )
    assert set(by_kind) == {
        "profile",
        "order",
        "guarantee",
        "payment",
        "account",
        "staff_note",
    }
    indexes = BlindIndex.objects.filter(customer_id=cid).count()
    document = IdDocument.objects.get(customer_id=cid)
    scan = _path_of(document.storage_name)
    assert scan.exists()
    old_wrapped = own_keystore.get(cid, 0)
    assert old_wrapped is not None

    report = erase(cid, django_capture_on_commit_callbacks)

    expected = {f"{kind} fields": n for kind, n in by_kind.items()} | {
        "lookup indexes": indexes,
        "identity documents": 1,
        "staff notes": 1,
        "guarantee cards": 1,
        "payment cards": 1,
        "privacy-center account": 1,
        "consents (withdrawn; the ledger keeps the proof)": 2,
        "unsent emails": unsent,
    }
    assert {d.category: d.count for d in report.deleted} == expected
    assert report.kept == []  # preset B keeps nothing on invoices
    assert report.customer_id == cid
    # Nothing of the customer is left in the vault but non-personal facts.
    assert not EncryptedValue.objects.filter(customer_id=cid).exists()
    assert not BlindIndex.objects.filter(customer_id=cid).exists()
    assert not IdDocument.objects.filter(customer_id=cid).exists()
    assert not scan.exists()  # the file goes after the commit
    assert not StaffNote.objects.filter(customer_id=cid).exists()
    assert not GuaranteeCard.objects.filter(customer_id=cid).exists()
    assert not PaymentMethod.objects.filter(customer_id=cid).exists()
    assert Payment.objects.filter(customer_id=cid, method__isnull=True).count() == 1
    assert Order.objects.filter(customer_id=cid).count() == 1
    assert Invoice.objects.filter(customer_id=cid).count() == 1
    # The account, its sessions and devices; the signed-in browser is signed out.
    assert not CustomerAccount.objects.filter(pk=account.pk).exists()
    assert not CustomerSession.objects.filter(account_id=account.pk).exists()
    assert not CustomerDevice.objects.filter(account_id=account.pk).exists()
    response = browser.get("/me/")
    assert response.status_code == 302 and "/me/login/" in response["Location"]
    # Unsent mail to the customer is never sent, and its sealed text is wiped.
    assert not OutboxMessage.objects.filter(
        customer_id=cid, status__in=[OutboxMessage.Status.QUEUED, OutboxMessage.Status.SENDING]
    ).exists()
    assert not OutboxMessage.objects.filter(customer_id=cid, sealed__isnull=False).exists()
    # Consents withdrawn by the erasure; the ledger keeps what was given.
    assert not ConsentState.objects.filter(customer_id=cid, live=True).exists()
    withdrawn = ConsentEvent.objects.filter(customer_id=cid, action="withdrawn")
    assert sorted(withdrawn.values_list("purpose", "method")) == [
        ("customer_database", "erasure"),
        ("service_notices", "erasure"),
    ]
    assert ConsentEvent.objects.filter(customer_id=cid).count() == consents_given + 2
    # The customer row stays, pseudonymous, erased and restricted.
    row = Customer.objects.get(pk=cid)
    assert row.erased_at is not None and row.restricted_at is not None
    assert (row.restriction_reason, row.held_until, row.external_ref) == ("erasure", None, None)
    # The key is destroyed: no generation left, no byte of it in the key store's files.
    assert own_keystore.generations(cid) == []
    assert old_wrapped[1] not in files_of(own_keystore)
    assert [c for c, _, _ in own_keystore.pending_shreds_with_time() if c == cid] == []
    assert verify_chain().ok


def test_erasure_is_audited_with_counts_and_field_names_never_values(
    own_keystore: KeyStore,
    leman_with_notes: Any,
    shop_api: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    who = customer_with_everything(shop_api, notes=True)
    request_id = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        report = erase_customer(actor=OWNER, customer_id=who.customer_id, request_id=request_id)
    event = AuditEvent.objects.get(type="vault:erased")
    assert (event.customer_id, event.actor, event.actor_role, event.record) == (
        who.customer_id,
        "staff:1",
        "owner",
        f"request:{request_id}",
    )
    assert json.loads(event.details) == {
        "deleted": {d.category: d.count for d in report.deleted},
        "kept": [],
    }
    text = audit_text()
    for value in [*PERSON.values(), *BUYER.values(), NOTE, "0912604381", "+84912604381"]:
        assert value not in text


def test_erasure_runs_the_hooks_with_the_report_inside_its_transaction(
    own_keystore: KeyStore,
    leman_with_notes: Any,
    shop_api: Actor,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    who = customer_with_everything(shop_api)
    seen: list[tuple[uuid.UUID, ErasureReport, bool]] = []

    def tell_recipients(customer_id: uuid.UUID, report: ErasureReport) -> None:
        # The disclosures register (issue 8) queues its notices here, in the same transaction.
        seen.append((customer_id, report, connection.in_atomic_block))

    monkeypatch.setattr(erasure, "ERASURE_HOOKS", [tell_recipients])
    report = erase(who.customer_id, django_capture_on_commit_callbacks)
    assert seen == [(who.customer_id, report, True)]


def test_a_failing_hook_undoes_the_erasure(
    own_keystore: KeyStore,
    leman_with_notes: Any,
    shop_api: Actor,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    who = customer_with_everything(shop_api)
    cid = who.customer_id
    values = EncryptedValue.objects.filter(customer_id=cid).count()

    def broken(customer_id: uuid.UUID, report: ErasureReport) -> None:
        raise RuntimeError("recipient register unavailable")

    monkeypatch.setattr(erasure, "ERASURE_HOOKS", [broken])
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        erase_customer(actor=OWNER, customer_id=cid)
    assert callbacks == []  # nothing to destroy after a rollback
    assert EncryptedValue.objects.filter(customer_id=cid).count() == values
    assert Customer.objects.get(pk=cid).erased_at is None
    assert own_keystore.generations(cid) == [0]
    me = Actor(kind="customer", id=str(cid))
    view = services.read_customer(actor=me, purpose=SUBJECT_ACCESS, customer_id=cid)
    assert view.fields["email"] == PERSON["email"]
    assert _path_of(IdDocument.objects.get(customer_id=cid).storage_name).exists()


def test_lookups_no_longer_find_the_erased_customer(
    own_keystore: KeyStore,
    leman_with_notes: Any,
    shop_api: Actor,
    staff: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    who = customer_with_everything(shop_api, guarantee="LM-BH-LOOKUP-1")
    other = customer_with_everything(
        shop_api,
        person={**PERSON, "email": "someone.else@example.vn", "phone": "0903 000 111"},
        guarantee="LM-BH-LOOKUP-2",
    )
    # Complaints is a legal obligation: a restriction alone would not hide the customer from it.
    desk = staff("customer_service")

    def found(by: str, value: str) -> list[uuid.UUID]:
        return services.lookup_customers(actor=desk, purpose="complaints", by=by, value=value)

    assert found("email", PERSON["email"]) == [who.customer_id]
    assert found("phone", PERSON["phone"]) == [who.customer_id]
    assert sorted(found("full_name", PERSON["full_name"])) == sorted(
        [who.customer_id, other.customer_id]
    )
    seller = staff("sales")
    card = services.lookup_guarantee(actor=seller, purpose="guarantee", number="LM-BH-LOOKUP-1")
    assert card.customer_id == who.customer_id

    erase(who.customer_id, django_capture_on_commit_callbacks)

    assert found("email", PERSON["email"]) == []
    assert found("phone", PERSON["phone"]) == []
    assert found("full_name", PERSON["full_name"]) == [other.customer_id]
    with pytest.raises(NotFound):
        services.lookup_guarantee(actor=seller, purpose="guarantee", number="LM-BH-LOOKUP-1")
    other_card = services.lookup_guarantee(
        actor=seller, purpose="guarantee", number="LM-BH-LOOKUP-2"
    )
    assert other_card.customer_id == other.customer_id


def test_a_second_erasure_is_410(
    own_keystore: KeyStore,
    leman_with_notes: Any,
    shop_api: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    who = customer_with_everything(shop_api)
    erase(who.customer_id, django_capture_on_commit_callbacks)
    events = AuditEvent.objects.count()
    with pytest.raises(KeyUnavailable) as err:
        erase(who.customer_id, django_capture_on_commit_callbacks)
    assert err.value.status == 410
    assert AuditEvent.objects.count() == events
    # And the erased customer's data reads as gone, even for the customer.
    me = Actor(kind="customer", id=str(who.customer_id))
    with pytest.raises(KeyUnavailable):
        services.read_customer(actor=me, purpose=SUBJECT_ACCESS, customer_id=who.customer_id)


@pytest.mark.parametrize(
    "actor",
    [
        Actor(kind="api", id="shop", purposes=frozenset({"order_fulfilment"})),
        Actor(kind="customer", id="self"),
    ],
    ids=["api", "customer"],
)
def test_only_staff_or_the_system_erase(
    own_keystore: KeyStore,
    leman_with_notes: Any,
    shop_api: Actor,
    actor: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    who = customer_with_everything(shop_api)
    cid = who.customer_id
    if actor.kind == "customer":
        actor = Actor(kind="customer", id=str(cid))  # even the customer: through a request
    values = EncryptedValue.objects.filter(customer_id=cid).count()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(AccessRefused) as err,
    ):
        erase_customer(actor=actor, customer_id=cid)
    assert err.value.status == 403
    assert callbacks == []
    assert EncryptedValue.objects.filter(customer_id=cid).count() == values
    assert Customer.objects.get(pk=cid).erased_at is None
    assert own_keystore.generations(cid) == [0]
    assert not AuditEvent.objects.filter(type="vault:erased").exists()


def test_the_system_may_erase(
    own_keystore: KeyStore,
    leman_with_notes: Any,
    shop_api: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    who = customer_with_everything(shop_api)
    report = erase(who.customer_id, django_capture_on_commit_callbacks, erasure.SYSTEM_ERASURE)
    assert report.deleted
    assert AuditEvent.objects.get(type="vault:erased").actor == "system:erasure"


@pytest.mark.parametrize("customer_id", [uuid.uuid4(), "not-a-uuid", None, 42])
def test_an_unknown_customer_is_404(
    own_keystore: KeyStore, leman_with_notes: Any, customer_id: Any
) -> None:
    with pytest.raises(NotFound) as err:
        erase_customer(actor=OWNER, customer_id=customer_id)
    assert err.value.status == 404
    assert not AuditEvent.objects.filter(type="vault:erased").exists()


# -- the legal hold (preset A: the buyer's name on invoices) ----------------------------------

JAMES_SHOP = Actor(
    kind="api", id="james-shop", purposes=frozenset({"order_fulfilment", "customer_database"})
)
NAME = "Ngô Thị Hoá Đơn"


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SAIGON)


def invoiced_customer() -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    """A James customer with three invoices naming them: December 2026 (late evening) and
    January 2027 (just after midnight, still 31 December in UTC), and one from 2015, whose hold
    ended on 31 December 2025."""
    cid = services.collect_customer(
        actor=JAMES_SHOP,
        purpose="order_fulfilment",
        fields={"full_name": NAME, "phone": "0977 310 552", "email": "hoa.don@example.vn"},
    )
    services.update_customer(
        actor=JAMES_SHOP,
        purpose="customer_database",
        customer_id=cid,
        fields={"full_name": NAME},
        consent_method="checkbox",
    )
    invoices = {}
    for label, issued in (
        ("december", local(2026, 12, 31, 23, 30)),
        ("january", local(2027, 1, 1, 0, 30)),
        ("old", local(2015, 6, 1, 10, 0)),
    ):
        oid = services.place_order(
            actor=JAMES_SHOP,
            purpose="order_fulfilment",
            customer_id=cid,
            number=f"JJ-{label}-{cid.hex[:6]}",
            items=[{"sku": "D-1", "name": "Nhẫn kim cương", "quantity": 1, "unit_price": "9"}],
            total="9",
            placed_at=issued,
        )
        invoices[label] = issue_invoice(
            actor=JAMES_SHOP,
            purpose="order_fulfilment",
            customer_id=cid,
            order_id=oid,
            number=f"INV-{label}-{cid.hex[:6]}",
            fields={"full_name": NAME},
            issued_at=issued,
        )
    january = Invoice.objects.get(pk=invoices["january"]).issued_at
    assert january.astimezone(dt.UTC).date() == dt.date(2026, 12, 31)  # the fiscal year is local
    return cid, invoices


ARTICLE = {"vi": "Điều 41 Luật Kế toán 88/2015/QH13", "en": "Accounting Law 88/2015/QH13 Art 41"}


@pytest.fixture
def march_2027() -> Any:
    with time_machine.travel(local(2027, 3, 1, 9, 0), tick=False) as traveller:
        yield traveller


def test_held_invoice_fields_are_kept_re_encrypted_until_their_hold_ends(
    own_keystore: KeyStore,
    james: Any,
    march_2027: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    cid, invoices = invoiced_customer()
    before = {
        r.record_id: bytes(r.ciphertext)
        for r in EncryptedValue.objects.filter(customer_id=cid, record_kind="invoice")
    }
    old_wrapped = own_keystore.get(cid, 0)
    assert old_wrapped is not None

    report = erase(cid, django_capture_on_commit_callbacks)

    reason = report.kept[0].reason
    assert "10 years" in reason["en"] and reason["vi"]
    assert report.kept == [
        KeptItem(
            "invoice", "full_name", 1, "invoices-10-years", reason, ARTICLE, dt.date(2036, 12, 31)
        ),
        KeptItem(
            "invoice", "full_name", 1, "invoices-10-years", reason, ARTICLE, dt.date(2037, 12, 31)
        ),
    ]
    deleted = {d.category: d.count for d in report.deleted}
    assert deleted["invoice fields"] == 1  # the 2015 invoice: its hold is over
    assert deleted["profile fields"] == 3
    assert ErasedItem("consents (withdrawn; the ledger keeps the proof)", 1) in report.deleted
    assert report.as_dict()["kept"][0]["until"] == "2036-12-31"
    # Only the two held values remain, each under a new key generation.
    rows = {
        r.record_id: bytes(r.ciphertext) for r in EncryptedValue.objects.filter(customer_id=cid)
    }
    assert set(rows) == {invoices["december"], invoices["january"]}
    assert all(rows[i] != before[i] for i in rows)
    customer = Customer.objects.get(pk=cid)
    assert customer.key_generation == 1
    assert customer.held_until == dt.date(2036, 12, 31)  # the first hold to end
    assert own_keystore.generations(cid) == [1]
    assert old_wrapped[1] not in files_of(own_keystore)
    # Accounting reads them for the purpose that records the sale.
    books = list_invoices(
        actor=Actor(kind="staff", id="9", role="accounting"),
        purpose="order_fulfilment",
        customer_id=cid,
    )
    assert {v.id: v.fields for v in books} == {
        invoices["december"]: {"full_name": NAME},
        invoices["january"]: {"full_name": NAME},
        invoices["old"]: {},
    }
    event = AuditEvent.objects.get(type="vault:erased")
    assert json.loads(event.details)["kept"] == [
        {"record": "invoice", "field": "full_name", "count": 1, "until": "2036-12-31"},
        {"record": "invoice", "field": "full_name", "count": 1, "until": "2037-12-31"},
    ]
    assert NAME not in audit_text()


@pytest.mark.parametrize(
    ("role", "purpose"),
    [("owner", "fraud_prevention"), ("owner", "customer_database")],
    ids=["legitimate-interest", "consent"],
)
def test_held_fields_are_refused_to_other_purposes_and_audited(
    own_keystore: KeyStore,
    james: Any,
    march_2027: Any,
    django_capture_on_commit_callbacks: Any,
    role: str,
    purpose: str,
) -> None:
    cid, _ = invoiced_customer()
    reader = Actor(kind="staff", id="3", role=role)
    # Before the erasure, this purpose could read the invoices (given consent where needed).
    assert list_invoices(actor=reader, purpose=purpose, customer_id=cid)
    erase(cid, django_capture_on_commit_callbacks)
    with pytest.raises(ProcessingRestricted) as err:
        list_invoices(actor=reader, purpose=purpose, customer_id=cid)
    assert err.value.status == 403
    refusal = AuditEvent.objects.order_by("-seq").first()
    assert refusal is not None
    assert (refusal.type, refusal.outcome, refusal.purpose, refusal.customer_id) == (
        "vault:access_refused",
        "refused",
        purpose,
        cid,
    )
    assert json.loads(refusal.details) == {"rule": "restricted"}
    with pytest.raises(ProcessingRestricted):
        services.read_customer(actor=reader, purpose=purpose, customer_id=cid)


def rolled_back_erasure(customer_id: uuid.UUID) -> None:
    """Erase inside a caller's transaction that then fails (e.g. the answer could not be queued)."""
    try:
        with transaction.atomic():
            erase_customer(actor=OWNER, customer_id=customer_id)
            raise RuntimeError("the request could not be completed")
    except RuntimeError:
        return
    raise AssertionError("the transaction did not fail")


def test_a_rolled_back_erasure_destroys_no_key(
    own_keystore: KeyStore,
    james: Any,
    march_2027: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    cid, _ = invoiced_customer()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        rolled_back_erasure(cid)
    assert callbacks == []
    customer = Customer.objects.get(pk=cid)
    assert (customer.erased_at, customer.key_generation) == (None, 0)
    me = Actor(kind="customer", id=str(cid))
    assert (
        services.read_customer(actor=me, purpose=SUBJECT_ACCESS, customer_id=cid).fields[
            "full_name"
        ]
        == NAME
    )
    # The held values' new key was written before the rollback: a retry must not collide with it.
    assert own_keystore.generations(cid) == [0, 1]
    report = erase(cid, django_capture_on_commit_callbacks)
    assert len(report.kept) == 2
    assert Customer.objects.get(pk=cid).key_generation == 2
    assert own_keystore.generations(cid) == [2]


def test_expire_holds_deletes_each_held_value_when_its_hold_ends_and_then_the_key(
    own_keystore: KeyStore,
    james: Any,
    march_2027: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    cid, invoices = invoiced_customer()
    erase(cid, django_capture_on_commit_callbacks)
    accounting = Actor(kind="staff", id="9", role="accounting")

    def held() -> dict[uuid.UUID, dict[str, Any]]:
        views = list_invoices(actor=accounting, purpose="order_fulfilment", customer_id=cid)
        return {v.id: v.fields for v in views if v.fields}

    with django_capture_on_commit_callbacks(execute=True):
        assert expire_holds(dt.date(2036, 12, 30)) == 0
    assert len(held()) == 2
    wrapped_1 = own_keystore.get(cid, 1)
    assert wrapped_1 is not None

    # The December invoice's hold ends: its value goes; the January one moves to a new key.
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_holds(dt.date(2036, 12, 31)) == 1
    assert held() == {invoices["january"]: {"full_name": NAME}}
    customer = Customer.objects.get(pk=cid)
    assert (customer.key_generation, customer.held_until) == (2, dt.date(2037, 12, 31))
    assert own_keystore.generations(cid) == [2]
    assert wrapped_1[1] not in files_of(own_keystore)
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_holds(dt.date(2036, 12, 31)) == 0  # idempotent

    # The last hold ends: the value and the last key go; reads are 410 from then on.
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_holds(dt.date(2038, 1, 1)) == 1
    assert not EncryptedValue.objects.filter(customer_id=cid).exists()
    assert own_keystore.generations(cid) == []
    assert Customer.objects.get(pk=cid).held_until is None
    with pytest.raises(KeyUnavailable) as err:
        list_invoices(actor=accounting, purpose="order_fulfilment", customer_id=cid)
    assert err.value.status == 410
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_holds(dt.date(2040, 1, 1)) == 0
    expired = [json.loads(e.details) for e in AuditEvent.objects.filter(type="vault:hold_expired")]
    assert expired == [{"values": 1, "kept": 1}, {"values": 1, "kept": 0}]
    assert Invoice.objects.filter(customer_id=cid).count() == 3  # the facts stay


def test_everything_readable_for_a_customer_never_erased(
    own_keystore: KeyStore, james: Any, march_2027: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The control: expire_holds leaves customers who were not erased alone."""
    cid, invoices = invoiced_customer()
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_holds(dt.date(2099, 1, 1)) == 0
    accounting = Actor(kind="staff", id="9", role="accounting")
    views = list_invoices(actor=accounting, purpose="order_fulfilment", customer_id=cid)
    assert {v.id for v in views if v.fields} == set(invoices.values())


# -- restoring a key-store backup: `pledge keys reapply-erasures` ------------------------------


def test_reapply_erasures_after_restoring_a_key_store_backup(
    own_keystore: KeyStore,
    james: Any,
    march_2027: Any,
    django_capture_on_commit_callbacks: Any,
    tmp_path: Path,
) -> None:
    held_before, _ = invoiced_customer()  # erased before the backup: its hold key is in it
    erase(held_before, django_capture_on_commit_callbacks)
    plain = services.collect_customer(
        actor=JAMES_SHOP, purpose="order_fulfilment", fields={"full_name": "Không Hoá Đơn"}
    )
    held_after, _ = invoiced_customer()
    control, _ = invoiced_customer()
    gone = services.collect_customer(
        actor=JAMES_SHOP, purpose="order_fulfilment", fields={"full_name": "Đã Xoá Hẳn"}
    )

    # The backup: the key store's files, copied as they are.
    assert own_keystore.checkpoint()
    backup = tmp_path / "backup"
    backup.mkdir()
    for path in own_keystore.path.parent.glob(own_keystore.path.name + "*"):
        shutil.copy2(path, backup / path.name)

    erase(plain, django_capture_on_commit_callbacks)
    erase(held_after, django_capture_on_commit_callbacks)
    own_keystore.destroy(gone, [0])
    Customer.objects.filter(pk=gone).delete()

    # The restore brings the destroyed keys back: the erased data opens again.
    own_keystore.close()
    for path in own_keystore.path.parent.glob(own_keystore.path.name + "*"):
        path.unlink()
    for path in backup.iterdir():
        shutil.copy2(path, own_keystore.path.parent / path.name)
    assert own_keystore.generations(plain) == [0]
    assert own_keystore.generations(held_after) == [0]
    assert own_keystore.generations(gone) == [0]

    out = io.StringIO()
    with pytest.raises(CommandError, match="1 erased customers have values under a legal hold"):
        call_command("keys", "reapply-erasures", stdout=out)
    assert "3 erased customers checked; 2 data keys destroyed" in out.getvalue()
    assert own_keystore.generations(plain) == []
    assert own_keystore.generations(held_after) == []  # its hold key was made after the backup
    # The customer erased before the backup keeps the key of its held invoices, and accounting
    # reads them; the control keeps everything.
    assert own_keystore.generations(held_before) == [1]
    accounting = Actor(kind="staff", id="9", role="accounting")
    books = list_invoices(actor=accounting, purpose="order_fulfilment", customer_id=held_before)
    assert sorted(len(v.fields) for v in books) == [0, 1, 1]
    assert own_keystore.generations(control) == [0]
    me = Actor(kind="customer", id=str(control))
    assert (
        services.read_customer(actor=me, purpose=SUBJECT_ACCESS, customer_id=control).fields[
            "full_name"
        ]
        == NAME
    )
    # A customer the database no longer knows: only with --orphans, and only keys older than a
    # running transaction could be.
    assert own_keystore.generations(gone) == [0]
    assert erasure.reapply_erasures(orphans=True).orphans == 0
    assert own_keystore.generations(gone) == [0]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    report = erasure.reapply_erasures(orphans=True, now=later)
    assert (report.destroyed, report.orphans, report.held_keys_missing) == (1, 1, 1)
    assert own_keystore.generations(gone) == []
    assert own_keystore.generations(control) == [0]
    # Run again: nothing left to do.
    assert erasure.reapply_erasures(orphans=True, now=later).destroyed == 0


def test_an_erased_customer_under_a_hold_receives_nothing_new_and_is_never_found(
    own_keystore: KeyStore,
    james: Any,
    march_2027: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Security review: the hold's purpose (James's order_fulfilment, a contract) may still read
    the kept invoices, but it must not write to the erased customer: new values and index rows
    would tie the kept invoices to a person again, and lookups would find them."""
    cid, _ = invoiced_customer()
    erase(cid, django_capture_on_commit_callbacks)
    before = EncryptedValue.objects.filter(customer_id=cid).count()
    with pytest.raises(ProcessingRestricted):
        services.update_customer(
            actor=JAMES_SHOP,
            purpose="order_fulfilment",
            customer_id=cid,
            fields={"full_name": NAME, "phone": "0977 310 552"},
        )
    refusal = AuditEvent.objects.order_by("-seq").first()
    assert refusal is not None
    assert (refusal.type, refusal.outcome) == ("vault:write_refused", "refused")
    with pytest.raises(ProcessingRestricted):
        services.place_order(
            actor=JAMES_SHOP,
            purpose="order_fulfilment",
            customer_id=cid,
            number="JJ-after-erasure",
            items=[{"sku": "D-1", "name": "Nhẫn", "quantity": 1, "unit_price": "9"}],
            total="9",
        )
    assert EncryptedValue.objects.filter(customer_id=cid).count() == before
    assert not BlindIndex.objects.filter(customer_id=cid).exists()
    assert (
        services.lookup_customers(
            actor=JAMES_SHOP, purpose="order_fulfilment", by="full_name", value=NAME
        )
        == []
    )
