"""Re-keying one customer (vault/rekey.py; P20 "re-secure" after misuse): every value and every
identity-document file re-encrypted under a new generation of the customer's data key, and the
old generation destroyed once the transaction commits.

Preset B; a key store of the test's own; after-commit work through
`django_capture_on_commit_callbacks(execute=True)`, as when the real transaction commits.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from pledge.audit.models import AuditEvent
from pledge.notify.models import OutboxMessage
from pledge.notify.sealing import CUSTOMER_WRAPPED
from pledge.vault import services
from pledge.vault.access import SUBJECT_ACCESS, Actor
from pledge.vault.crypto import DecryptionFailed
from pledge.vault.documents import _path_of, files_dir, read_id_document, store_id_document
from pledge.vault.errors import AccessRefused, NotFound
from pledge.vault.keystore import KeyStore
from pledge.vault.models import Customer, EncryptedValue, IdDocument
from pledge.vault.payments import list_payments
from pledge.vault.rekey import RekeyReport, rekey_customer
from pledge.vault.store import KeyUnavailable, generation_key

pytest.register_assert_rewrite("tests.vault.shredding")
from tests.smtp import Mailbox, deliver_outbox  # noqa: E402
from tests.vault.shredding import (  # noqa: E402 - after the rewrite hook
    BUYER,
    PERSON,
    Everything,
    customer_with_everything,
    files_of,
    png,
    queue_mail,
)

# Fixtures: own_keystore, leman_with_notes.
pytest_plugins = ["tests.vault.shredding"]

OWNER = Actor(kind="staff", id="1", role="owner")

Values = dict[tuple[str, uuid.UUID, str], bytes]


def ciphertexts(customer_id: uuid.UUID) -> Values:
    return {
        (r.record_kind, r.record_id, r.field): bytes(r.ciphertext)
        for r in EncryptedValue.objects.filter(customer_id=customer_id)
    }


def opened(customer_id: uuid.UUID, generation: int, values: Values) -> dict[Any, Any]:
    """Every value decrypted with this generation of the customer's key (raises if one fails)."""
    key = generation_key(customer_id, generation)
    return {k: key.decrypt(k[0], k[1], k[2], blob) for k, blob in values.items()}


def everything_readable(who: Everything, staff: Any) -> dict[str, Any]:
    """What the services give back for this customer: profile, order, document, card, lookups."""
    cid = who.customer_id
    me = Actor(kind="customer", id=str(cid))
    profile = services.read_customer(actor=me, purpose=SUBJECT_ACCESS, customer_id=cid).fields
    orders = services.list_orders(actor=me, purpose=SUBJECT_ACCESS, customer_id=cid)
    scan, _ = read_id_document(
        actor=me, purpose=SUBJECT_ACCESS, customer_id=cid, document_id=who.document_id
    )
    payments = list_payments(actor=me, purpose=SUBJECT_ACCESS, customer_id=cid)
    desk = staff("customer_service")
    lookups = {
        by: services.lookup_customers(actor=desk, purpose="complaints", by=by, value=PERSON[by])
        for by in ("email", "phone", "full_name")
    }
    card = services.lookup_guarantee(
        actor=staff("sales"), purpose="guarantee", number=who.guarantee_number
    )
    return {
        "profile": profile,
        "order": [o.fields for o in orders],
        "scan": scan,
        "card": [p.card for p in payments],
        "lookups": lookups,
        "guarantee": (card.customer_id, card.fields.get("guarantee_number")),
    }


@pytest.fixture
def customer(own_keystore: KeyStore, leman_with_notes: Any, shop_api: Actor) -> Everything:
    return customer_with_everything(shop_api, notes=True)


def test_rekey_re_encrypts_every_value_and_file_under_the_next_generation(
    customer: Everything,
    own_keystore: KeyStore,
    staff: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    cid = customer.customer_id
    before = ciphertexts(cid)
    plain = opened(cid, 0, before)
    readable = everything_readable(customer, staff)
    assert readable["profile"]["email"] == PERSON["email"]
    assert readable["order"][0]["full_name"] == BUYER["full_name"]
    assert readable["lookups"]["email"] == [cid]
    document = IdDocument.objects.get(pk=customer.document_id)
    old_file = _path_of(document.storage_name)
    old_wrapped = own_keystore.get(cid, 0)
    assert old_wrapped is not None

    with django_capture_on_commit_callbacks(execute=True):
        report = rekey_customer(actor=OWNER, customer_id=cid)

    assert report == RekeyReport(values=len(before), files=1)
    assert Customer.objects.get(pk=cid).key_generation == 1
    after = ciphertexts(cid)
    # The same values, every ciphertext new, each opening under generation 1 only.
    assert set(after) == set(before)
    assert all(after[k] != before[k] for k in after)
    assert opened(cid, 1, after) == plain
    # The old generation is destroyed after the commit: no byte of it left in the key store.
    assert own_keystore.generations(cid) == [1]
    assert old_wrapped[1] not in files_of(own_keystore)
    with pytest.raises(KeyUnavailable):
        opened(cid, 0, before)
    # The document: a new file under the new key; the old one removed.
    document.refresh_from_db()
    new_file = _path_of(document.storage_name)
    assert new_file != old_file and new_file.exists() and not old_file.exists()
    # Everything reads as before, lookups by blind index included.
    assert everything_readable(customer, staff) == readable
    event = AuditEvent.objects.get(type="vault:rekeyed")
    assert (event.customer_id, event.actor) == (cid, "staff:1")
    assert json.loads(event.details) == {"values": len(before), "files": 1}


def test_rekey_twice_moves_on_each_time(
    customer: Everything, own_keystore: KeyStore, django_capture_on_commit_callbacks: Any
) -> None:
    cid = customer.customer_id
    plain = opened(cid, 0, ciphertexts(cid))
    for generation in (1, 2):
        with django_capture_on_commit_callbacks(execute=True):
            rekey_customer(actor=Actor(kind="system", id="resecure"), customer_id=cid)
        assert own_keystore.generations(cid) == [generation]
        assert opened(cid, generation, ciphertexts(cid)) == plain


def test_a_rolled_back_rekey_leaves_everything_readable_under_the_old_key(
    customer: Everything,
    own_keystore: KeyStore,
    staff: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    cid = customer.customer_id
    before = ciphertexts(cid)
    readable = everything_readable(customer, staff)
    storage_name = IdDocument.objects.get(pk=customer.document_id).storage_name

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                rekey_customer(actor=OWNER, customer_id=cid)
                raise RuntimeError("the re-secure step failed after the re-key")
        except RuntimeError:
            pass
    assert callbacks == []
    assert Customer.objects.get(pk=cid).key_generation == 0
    assert ciphertexts(cid) == before
    assert IdDocument.objects.get(pk=customer.document_id).storage_name == storage_name
    assert _path_of(storage_name).exists()
    assert 0 in own_keystore.generations(cid)
    assert everything_readable(customer, staff) == readable
    assert not AuditEvent.objects.filter(type="vault:rekeyed").exists()
    # The next re-key does not trip over the key the rolled-back one left behind.
    with django_capture_on_commit_callbacks(execute=True):
        rekey_customer(actor=OWNER, customer_id=cid)
    assert Customer.objects.get(pk=cid).key_generation == 2
    assert own_keystore.generations(cid) == [2]
    assert everything_readable(customer, staff) == readable


def test_a_rekey_that_fails_midway_removes_the_files_it_wrote(
    customer: Everything,
    own_keystore: KeyStore,
    shop_api: Actor,
    django_capture_on_commit_callbacks: Any,
) -> None:
    cid = customer.customer_id
    second = store_id_document(
        actor=shop_api,
        purpose="order_fulfilment",
        customer_id=cid,
        content=png(),
        content_type="image/png",
    )
    # One file does not decrypt (tampered on disk): the re-key cannot finish.
    damaged = _path_of(IdDocument.objects.get(pk=second).storage_name)
    blob = bytearray(damaged.read_bytes())
    blob[-1] ^= 0xFF
    damaged.write_bytes(bytes(blob))
    folder: Path = files_dir()
    files_before = sorted(p.name for p in folder.iterdir())
    before = ciphertexts(cid)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(DecryptionFailed),
    ):
        rekey_customer(actor=OWNER, customer_id=cid)
    assert callbacks == []
    assert sorted(p.name for p in folder.iterdir()) == files_before
    assert ciphertexts(cid) == before
    assert Customer.objects.get(pk=cid).key_generation == 0
    me = Actor(kind="customer", id=str(cid))
    scan, _ = read_id_document(
        actor=me, purpose=SUBJECT_ACCESS, customer_id=cid, document_id=customer.document_id
    )
    assert scan == png()


@pytest.mark.parametrize(
    "actor",
    [Actor(kind="api", id="shop"), Actor(kind="customer", id="self")],
    ids=["api", "customer"],
)
def test_only_staff_or_the_system_rekey(
    customer: Everything, own_keystore: KeyStore, actor: Actor
) -> None:
    cid = customer.customer_id
    if actor.kind == "customer":
        actor = Actor(kind="customer", id=str(cid))
    before = ciphertexts(cid)
    with pytest.raises(AccessRefused) as err:
        rekey_customer(actor=actor, customer_id=cid)
    assert err.value.status == 403
    assert ciphertexts(cid) == before
    assert own_keystore.generations(cid) == [0]


@pytest.mark.parametrize("customer_id", [uuid.uuid4(), "not-a-uuid", None])
def test_rekeying_an_unknown_customer_is_404(
    own_keystore: KeyStore, leman_with_notes: Any, customer_id: Any
) -> None:
    with pytest.raises(NotFound) as err:
        rekey_customer(actor=OWNER, customer_id=customer_id)
    assert err.value.status == 404


def test_an_erased_customer_has_nothing_to_rekey(
    customer: Everything, own_keystore: KeyStore, django_capture_on_commit_callbacks: Any
) -> None:
    from pledge.vault.erasure import erase_customer

    with django_capture_on_commit_callbacks(execute=True):
        erase_customer(actor=OWNER, customer_id=customer.customer_id)
    with pytest.raises(KeyUnavailable) as err:
        rekey_customer(actor=OWNER, customer_id=customer.customer_id)
    assert err.value.status == 410


def test_a_message_queued_before_the_rekey_is_still_sent_after_it(
    customer: Everything,
    own_keystore: KeyStore,
    django_capture_on_commit_callbacks: Any,
    mailbox: Mailbox,
) -> None:
    """Outbox messages about a customer are sealed under their data key (so an erasure kills
    them in backups too); re-keying moves them to the new key, or they could not be sent."""
    cid = customer.customer_id
    message = queue_mail(cid)
    assert message.key_version == CUSTOMER_WRAPPED
    with django_capture_on_commit_callbacks(execute=True):
        rekey_customer(actor=Actor(kind="system", id="resecure"), customer_id=cid)
    assert own_keystore.generations(cid) == [1]
    deliver_outbox()
    (mail,) = mailbox.wait_for(1)
    assert mail["To"] == "thu.xoa.erase@xn--v-d-rma6749a.vn"  # the IDNA form of ví-dụ.vn
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.SENT
