"""The key store (vault/keystore.py): customers' data keys, wrapped, in a SQLite file apart from
the database, so that destroying one destroys the customer's data in every database backup too.

Each test has a key store file of its own under tmp_path; keys are real (wrapped by the session's
keyring) where a test unwraps them, random bytes where only storage matters.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import sqlite3
import stat
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from pledge.vault import services
from pledge.vault.access import SUBJECT_ACCESS, Actor
from pledge.vault.crypto import new_data_key, wrap_data_key
from pledge.vault.erasure import erase_customer
from pledge.vault.keystore import KeyStore, KeyStoreError, StoredKey
from pledge.vault.models import Customer
from pledge.vault.rekey import rekey_customer
from pledge.vault.shred import flush_shreds, flush_shreds_job
from pledge.vault.store import KeyUnavailable, generation_key

pytest.register_assert_rewrite("tests.vault.shredding")
from tests.vault.shredding import files_of  # noqa: E402 - after the rewrite hook

# Fixtures: own_keystore.
pytest_plugins = ["tests.vault.shredding"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[KeyStore]:
    ks = KeyStore(tmp_path / "keys" / "keystore.sqlite3")
    yield ks
    ks.close()


def stored(customer_id: uuid.UUID, generation: int = 0, wrapped: bytes | None = None) -> StoredKey:
    return StoredKey(customer_id, generation, 1, wrapped or secrets.token_bytes(60))


def test_put_get_and_generations(store: KeyStore) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    keys = [stored(alice, 0), stored(alice, 1), stored(bob, 0)]
    store.put(keys)
    assert store.get(alice, 0) == (1, keys[0].wrapped)
    assert store.get(alice, 1) == (1, keys[1].wrapped)
    assert store.get(bob, 0) == (1, keys[2].wrapped)
    assert store.get(bob, 1) is None
    assert store.get(uuid.uuid4(), 0) is None
    assert store.generations(alice) == [0, 1]
    assert store.generations(bob) == [0]
    assert store.generations(uuid.uuid4()) == []
    assert store.count_by_version() == {1: 3}
    # A new generation goes past every one the store holds, used or left behind.
    assert store.next_generation(alice, 0) == 2
    assert store.next_generation(bob, 0) == 1
    assert store.next_generation(uuid.uuid4(), 4) == 5


def test_a_duplicate_put_is_refused_and_changes_nothing(store: KeyStore) -> None:
    cid = uuid.uuid4()
    first = stored(cid, 0)
    store.put([first])
    with pytest.raises(KeyStoreError, match="refused new keys"):
        store.put([stored(cid, 0)])  # never a silent swap of a customer's key
    assert store.get(cid, 0) == (1, first.wrapped)
    # A batch with one new key and one duplicate is refused whole: the new one is not written.
    other = uuid.uuid4()
    with pytest.raises(KeyStoreError):
        store.put([stored(other, 0), stored(cid, 0)])
    assert store.get(other, 0) is None
    assert store.get(cid, 0) == (1, first.wrapped)
    assert store.generations(cid) == [0]
    # And the store is still usable afterwards (no transaction left open).
    store.put([stored(other, 0)])
    assert store.generations(other) == [0]


@pytest.mark.parametrize("where", ["database file", "write-ahead log"])
def test_destroy_leaves_no_byte_of_the_wrapped_key_in_the_files(
    store: KeyStore, where: str
) -> None:
    target = uuid.uuid4()
    wrapped = b"WRAPPED-KEY-" + secrets.token_bytes(48)
    others = [stored(uuid.uuid4()) for _ in range(200)]
    store.put([*others[:100], stored(target, 0, wrapped), stored(target, 1)])
    if where == "database file":
        assert store.checkpoint()
        assert wrapped in store.path.read_bytes()
    store.put(others[100:])  # more writes after it: frames in the WAL
    wal = store.path.with_name(store.path.name + "-wal")
    if where == "write-ahead log":
        assert wrapped in wal.read_bytes()
    assert wrapped in files_of(store)

    assert store.destroy(target, [0]) == 1
    assert wrapped not in files_of(store)
    assert not wal.exists() or wal.stat().st_size == 0
    assert store.get(target, 0) is None
    # Only what was asked is destroyed.
    assert store.generations(target) == [1]
    assert all(store.get(k.customer_id, 0) == (1, k.wrapped) for k in others)
    # Destroying it again destroys nothing.
    assert store.destroy(target, [0]) == 0


def test_destroy_also_clears_the_shred_queue(store: KeyStore) -> None:
    cid = uuid.uuid4()
    store.put([stored(cid, 0), stored(cid, 1)])
    store.queue_shred(cid, 0)
    store.queue_shred(cid, 0)  # queued twice: one entry
    assert [(c, g) for c, g, _ in store.pending_shreds_with_time()] == [(cid, 0)]
    store.destroy(cid, [0])
    assert store.pending_shreds_with_time() == []


def test_the_store_files_are_private(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys" / "keystore.sqlite3")
    try:
        store.put([stored(uuid.uuid4())])
        assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
        wal = store.path.with_name(store.path.name + "-wal")
        assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) == 0o600
        assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    finally:
        store.close()

    # A file someone made readable is made private again when the store opens it.
    loose = tmp_path / "loose" / "keystore.sqlite3"
    loose.parent.mkdir()
    sqlite3.connect(loose).close()
    os.chmod(loose, 0o644)
    again = KeyStore(loose)
    try:
        assert again.generations(uuid.uuid4()) == []
        assert stat.S_IMODE(loose.stat().st_mode) == 0o600
    finally:
        again.close()


def test_a_store_that_cannot_be_opened_says_so(tmp_path: Path) -> None:
    (tmp_path / "keystore.sqlite3").mkdir()  # a directory where the file should be
    with pytest.raises(KeyStoreError, match="cannot be opened"):
        KeyStore(tmp_path / "keystore.sqlite3").get(uuid.uuid4(), 0)


def test_a_missing_key_is_key_unavailable_410(own_keystore: KeyStore) -> None:
    with pytest.raises(KeyUnavailable) as err:
        generation_key(uuid.uuid4(), 0)
    assert err.value.status == 410
    assert err.value.code == "data-key-unavailable"


def test_a_customer_whose_key_is_gone_reads_as_410(
    own_keystore: KeyStore, leman: Any, shop_api: Actor
) -> None:
    cid = services.collect_customer(
        actor=shop_api, purpose="order_fulfilment", fields={"full_name": "Lý Thị Mất Khoá"}
    )
    me = Actor(kind="customer", id=str(cid))
    assert services.read_customer(actor=me, purpose=SUBJECT_ACCESS, customer_id=cid).fields == {
        "full_name": "Lý Thị Mất Khoá"
    }
    assert own_keystore.destroy(cid, [0]) == 1
    with pytest.raises(KeyUnavailable) as err:
        services.read_customer(actor=me, purpose=SUBJECT_ACCESS, customer_id=cid)
    assert err.value.status == 410
    assert Customer.objects.filter(pk=cid).exists()  # the row is there; its data is not


def test_many_threads_read_at_once(own_keystore: KeyStore) -> None:
    raw = {uuid.uuid4(): new_data_key() for _ in range(40)}
    own_keystore.put([StoredKey(cid, 0, *wrap_data_key(key, cid)) for cid, key in raw.items()])
    # A ciphertext per customer, made with the raw key: each thread must open every one.
    sealed = {
        cid: generation_key(cid, 0).encrypt("profile", cid, "full_name", f"name {cid}")
        for cid in raw
    }
    threads = 8
    together = threading.Barrier(threads)
    connections: set[int] = set()

    def read_all(_: int) -> int:
        conn = own_keystore._connect()
        together.wait(timeout=10)  # every thread holds its connection and reads at once
        connections.add(id(conn))
        opened = 0
        for _round in range(5):
            for cid, blob in sealed.items():
                key = generation_key(cid, 0)
                assert key.decrypt("profile", cid, "full_name", blob) == f"name {cid}"
                opened += 1
        together.wait(timeout=10)  # no connection is closed (and its id reused) before the end
        own_keystore.close()
        return opened

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(read_all, range(threads)))
    assert results == [5 * len(raw)] * threads
    # One connection per thread (a sqlite3 connection refuses other threads).
    assert len(connections) == threads


# -- shred safety: the database and the key store, two stores, one truth ----------------------


def new_customer(shop: Actor, name: str = "Trịnh Thị Khoá") -> uuid.UUID:
    return services.collect_customer(
        actor=shop, purpose="order_fulfilment", fields={"full_name": name, "phone": "0912 555 019"}
    )


def read_name(customer_id: uuid.UUID) -> Any:
    me = Actor(kind="customer", id=str(customer_id))
    return services.read_customer(actor=me, purpose=SUBJECT_ACCESS, customer_id=customer_id).fields[
        "full_name"
    ]


def test_a_shred_queued_in_a_rolled_back_transaction_destroys_nothing(
    own_keystore: KeyStore, leman: Any, shop_api: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    cid = new_customer(shop_api)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                rekey_customer(actor=Actor(kind="system", id="t"), customer_id=cid)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert callbacks == []
    assert Customer.objects.get(pk=cid).key_generation == 0
    assert read_name(cid) == "Trịnh Thị Khoá"
    # The queue entry outlived the rollback: the worker must not act on it.
    assert [(c, g) for c, g, _ in own_keystore.pending_shreds_with_time()] == [(cid, 0)]
    assert flush_shreds() == 0
    assert 0 in own_keystore.generations(cid)
    assert read_name(cid) == "Trịnh Thị Khoá"
    # Once no transaction can still be running (the settle time), the entry is dropped and the
    # key, still in use, stays.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
    assert flush_shreds(now=later) == 0
    assert own_keystore.pending_shreds_with_time() == []
    assert 0 in own_keystore.generations(cid)
    assert read_name(cid) == "Trịnh Thị Khoá"


def test_a_crash_between_commit_and_shred_is_finished_by_flush_shreds(
    own_keystore: KeyStore, leman: Any, shop_api: Actor, django_capture_on_commit_callbacks: Any
) -> None:
    cid = new_customer(shop_api)
    old = own_keystore.get(cid, 0)
    assert old is not None
    # The re-key commits (in this test's transaction) but its after-commit shred never runs:
    # the process died in between.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        rekey_customer(actor=Actor(kind="system", id="t"), customer_id=cid)
    assert len(callbacks) == 1
    assert own_keystore.generations(cid) == [0, 1]
    assert [(c, g) for c, g, _ in own_keystore.pending_shreds_with_time()] == [(cid, 0)]

    assert flush_shreds() == 1
    assert own_keystore.generations(cid) == [1]
    assert own_keystore.pending_shreds_with_time() == []
    assert old[1] not in files_of(own_keystore)
    assert read_name(cid) == "Trịnh Thị Khoá"
    assert flush_shreds() == 0  # nothing left to do


def test_flush_shreds_destroys_the_key_of_a_customer_row_gone(
    own_keystore: KeyStore, leman: Any, shop_api: Actor
) -> None:
    """The other crash: the database deleted the customer (a temporary account customer,
    vault/accounts.py) and the process died before the key store heard of it."""
    gone, kept = new_customer(shop_api), new_customer(shop_api, "Người Còn Lại")
    own_keystore.queue_shred(gone, 0)
    Customer.objects.filter(pk=gone).delete()
    own_keystore.queue_shred(kept, 0)  # a stray entry for a customer in use
    assert flush_shreds() == 1
    assert own_keystore.generations(gone) == []
    assert own_keystore.generations(kept) == [0]
    assert read_name(kept) == "Người Còn Lại"


def test_flush_shreds_is_the_worker_job(
    own_keystore: KeyStore, leman: Any, shop_api: Actor
) -> None:
    from pledge.jobs import JOBS

    assert "pledge.vault.shred.flush_shreds_job" in JOBS
    cid = new_customer(shop_api)
    own_keystore.queue_shred(cid, 0)
    # The job's clock decides the settle time.
    assert flush_shreds_job(dt.datetime.now(dt.UTC)) == 0
    assert own_keystore.pending_shreds_with_time() != []
    assert flush_shreds_job(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)) == 0
    assert own_keystore.pending_shreds_with_time() == []
    assert own_keystore.generations(cid) == [0]


def test_shreds_across_a_real_commit_and_a_real_rollback(
    transactional_db: None, own_keystore: KeyStore, shop_api: Actor
) -> None:
    """Without pytest's wrapping transaction: the database really commits or rolls back."""
    from pledge.policy.enforcement import clear_policy_cache
    from pledge.policy.loader import load_policy
    from pledge.policy.services import publish_policy

    clear_policy_cache()
    loaded = load_policy("leman-jewelry")
    publish_policy(loaded, actor="test", effective_date=loaded.policy.effective_date)
    clear_policy_cache()
    try:
        cid = new_customer(shop_api)
        owner = Actor(kind="staff", id="1", role="owner")
        try:
            with transaction.atomic():
                erase_customer(actor=owner, customer_id=cid)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        assert own_keystore.generations(cid) == [0]
        assert read_name(cid) == "Trịnh Thị Khoá"
        assert flush_shreds() == 0
        assert read_name(cid) == "Trịnh Thị Khoá"

        erase_customer(actor=owner, customer_id=cid)  # commits; the shred runs after it
        assert own_keystore.generations(cid) == []
        assert own_keystore.pending_shreds_with_time() == []
        with pytest.raises(KeyUnavailable):
            read_name(cid)
    finally:
        clear_policy_cache()
