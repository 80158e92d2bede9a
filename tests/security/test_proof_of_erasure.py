"""Proof of erasure (issue 6 acceptance; ARCHITECTURE.md security invariant): after a customer is
erased, neither the live database nor a copy of it taken *before* the erasure, read with the
keyring and key store as they are after the erasure, gives back any erased value. The only
survivors are the fields under a legal hold, and they are exactly the ones listed in the answer.

SQLite: a real installation in a temp var dir, driven by real `pledge` subprocesses; the database
file (and any companion) is copied between the "create" and the "erase" processes, as a backup
would be. PostgreSQL: the suite's server, with a real `pg_dump` taken before the erasure and
restored into a database of its own to be read.

"Gives back" is tested the way an attacker would try: every ciphertext row of the customer in
the copy, against every key the key store still holds for them, unwrapped with the keyring. And
the raw bytes of the databases and of the key store are scanned for the values and for the
destroyed wrapped key.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pledge.keyring import Keyring, KeyringError, parse_keyring
from pledge.notify.sealing import CUSTOMER_WRAPPED, key_aad
from pledge.vault.crypto import INDEX_DIGEST_BYTES, DecryptionFailed, blind_index, unwrap_data_key
from pledge.vault.keystore import KeyStore
from tests.security import erasure_scenario as scenario
from tests.security.helpers import (
    Scanner,
    phone_forms,
    pledge_env,
    run_pledge,
    shell_result,
    text_forms,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

Row = tuple[str, uuid.UUID, str, bytes]
# An outbox message: id, key version, wrapped key, sealed letter.
Mail = tuple[uuid.UUID, int, bytes, bytes]


def mail_opens(mail: Mail, customer_id: uuid.UUID, store: KeyStore, ring: Keyring) -> bool:
    """Does a queued message open with any key left: the customer's (every generation the
    store still has) or a master key?"""
    message_id, version, wrapped, sealed = mail
    aad = key_aad(message_id)
    candidates = []
    if version == CUSTOMER_WRAPPED:
        for generation in store.generations(customer_id):
            found = store.get(customer_id, generation)
            assert found is not None
            key = unwrap_data_key(found[0], found[1], customer_id, ring)
            try:
                candidates.append(key.decrypt_bytes(aad, wrapped))
            except DecryptionFailed:
                continue
    else:
        with contextlib.suppress(KeyringError):
            candidates.append(ring.master.unwrap(version, wrapped, aad=aad))
    for message_key in candidates:
        nonce, body = sealed[1:13], sealed[13:]
        try:
            AESGCM(message_key).decrypt(nonce, body, f"pledge/v1|outbox|{message_id}".encode())
            return True
        except InvalidTag:
            continue
    return False


def needles() -> Scanner:
    return Scanner(
        {
            label: phone_forms(value) if label.endswith("phone") else text_forms(value)
            for label, value in scenario.erased_values().items()
        }
    )


def recoverable(rows: list[Row], customer_id: uuid.UUID, store: KeyStore, ring: Keyring) -> dict:
    """(record kind, field) -> value, for every row that opens with a key the store still has."""
    keys = []
    for generation in store.generations(customer_id):
        found = store.get(customer_id, generation)
        assert found is not None
        keys.append(unwrap_data_key(found[0], found[1], customer_id, ring))
    out: dict[tuple[str, str], Any] = {}
    for kind, record_id, field, blob in rows:
        for key in keys:
            try:
                out[(kind, field)] = key.decrypt(kind, record_id, field, blob)
            except DecryptionFailed:
                continue
    return out


def key_store_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def assert_proof(
    *,
    target: uuid.UUID,
    control: uuid.UUID,
    live: list[Row],
    backup: list[Row],
    control_rows: list[Row],
    store: KeyStore,
    ring: Keyring,
    old_wrapped: bytes,
    report: dict[str, Any],
    raw: dict[str, bytes],
    backup_digests: set[bytes],
    backup_mail: list[Mail],
) -> None:
    # The backup caught the acknowledgement still queued; sealed under the customer's key, it
    # died with it (a master-key wrap would still open).
    assert backup_mail, "the scenario queues a message to the target before the backup"
    assert [m for m in backup_mail if mail_opens(m, target, store, ring)] == []
    # The backup really holds the target's data, all of it encrypted: it is a real "before" copy.
    assert {(k, f) for k, _, f, _ in backup} >= {
        ("profile", "full_name"),
        ("profile", "phone"),
        ("profile", "email"),
        ("order", "phone"),
        ("invoice", "full_name"),
    }
    # Nothing of the backup opens any more: its ciphertexts are all under the destroyed key.
    assert recoverable(backup, target, store, ring) == {}
    # In the live database only the held field remains, and it still opens (for accounting).
    assert recoverable(live, target, store, ring) == scenario.HELD
    assert {(k, f) for k, _, f, _ in live} == set(scenario.HELD)
    # The answer lists exactly the survivors, with the hold, the article and the end date.
    kept = [(k["record_kind"], k["field"], k["hold"], k["until"]) for k in report["kept"]]
    assert kept == [("invoice", "full_name", "invoices-10-years", "2036-12-31")]
    assert "Accounting Law 88/2015/QH13 Art 41" in report["kept"][0]["article"]["en"]
    assert {d["category"] for d in report["deleted"]} >= {"profile fields", "order fields"}
    # The destroyed key's bytes are gone from the key store's files (secure delete + checkpoint).
    assert old_wrapped not in key_store_bytes(store.path)
    # No erased value in clear anywhere: live, backup, key store.
    scanner = needles()
    assert [hit for where, data in raw.items() for hit in scanner.scan_bytes(data, where)] == []
    # The backup's lookup rows of the erased customer name no value: each keeps 2 bytes of HMAC,
    # which a brute force over phone numbers finds shared by many numbers, not one.
    assert backup_digests and {len(d) for d in backup_digests} == {INDEX_DIGEST_BYTES}
    phone = "+84912738465"
    digest = blind_index("phone", phone, ring)
    assert digest in backup_digests
    same = sum(
        1
        for n in range(1_000_000)
        if blind_index("phone", f"+8491{n:07d}", ring) == digest and f"+8491{n:07d}" != phone
    )
    assert same >= 3, same
    # The control customer is untouched and readable.
    assert recoverable(control_rows, control, store, ring)[("profile", "phone")] == "+84903111472"


# -- SQLite ---------------------------------------------------------------------------------------


def sqlite_rows(db: Path, customer_id: uuid.UUID) -> list[Row]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT record_kind, record_id, field, ciphertext FROM vault_encryptedvalue "
            "WHERE customer_id = ?",
            (customer_id.hex,),
        ).fetchall()
    finally:
        conn.close()
    return [(k, uuid.UUID(str(r)), f, bytes(b)) for k, r, f, b in rows]


def sqlite_mail(db: Path, customer_id: uuid.UUID) -> list[Mail]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT id, key_version, wrapped_key, sealed FROM notify_outboxmessage "
            "WHERE customer_id = ? AND sealed IS NOT NULL",
            (customer_id.hex,),
        ).fetchall()
    finally:
        conn.close()
    return [(uuid.UUID(str(i)), int(v), bytes(w), bytes(b)) for i, v, w, b in rows]


def sqlite_digests(db: Path, customer_id: uuid.UUID) -> set[bytes]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT digest FROM vault_blindindex WHERE customer_id = ?", (customer_id.hex,)
        ).fetchall()
    finally:
        conn.close()
    return {bytes(r[0]) for r in rows}


def test_sqlite_erasure_leaves_nothing_readable_in_the_database_or_a_backup_from_before(
    tmp_path: Path,
) -> None:
    var_dir = tmp_path / "var"
    env = pledge_env(var_dir, PYTHONPATH=str(REPO_ROOT))
    run_pledge(var_dir, "migrate", "--no-input", "-v", "0", env=env)
    run_pledge(var_dir, "policy", "publish", "james-jewelry", "--actor", "test", env=env)
    created = shell_result(
        run_pledge(
            var_dir,
            "shell",
            "--no-imports",
            "-c",
            "from tests.security.erasure_scenario import main; main('create')",
            env=env,
        )
    )
    assert isinstance(created, dict)
    target, control = uuid.UUID(created["target"]), uuid.UUID(created["control"])

    # The backup: the database file and every companion, copied while nothing runs.
    backup_dir = tmp_path / "backup"
    backup_dir.mkdir()
    for path in var_dir.glob("pledge.sqlite3*"):
        shutil.copy2(path, backup_dir / path.name)
    store_path = var_dir / "keys" / "keystore.sqlite3"
    before = KeyStore(store_path)
    found = before.get(target, 0)
    assert found is not None
    old_wrapped = found[1]
    before.close()

    report = shell_result(
        run_pledge(
            var_dir,
            "shell",
            "--no-imports",
            "-c",
            f"from tests.security.erasure_scenario import main; main('erase', '{target}')",
            env=env,
        )
    )
    assert isinstance(report, dict)

    ring = parse_keyring(
        (var_dir / "keys" / "keyring.json").read_text(), source="after", writable_path=None
    )
    store = KeyStore(store_path)
    raw = {f"live/{p.name}": p.read_bytes() for p in sorted(var_dir.glob("pledge.sqlite3*"))} | {
        f"backup/{p.name}": p.read_bytes() for p in sorted(backup_dir.glob("pledge.sqlite3*"))
    }
    raw["keystore"] = key_store_bytes(store_path)
    try:
        assert_proof(
            target=target,
            control=control,
            live=sqlite_rows(var_dir / "pledge.sqlite3", target),
            backup=sqlite_rows(backup_dir / "pledge.sqlite3", target),
            control_rows=sqlite_rows(var_dir / "pledge.sqlite3", control),
            store=store,
            ring=ring,
            old_wrapped=old_wrapped,
            report=report,
            raw=raw,
            backup_digests=sqlite_digests(backup_dir / "pledge.sqlite3", target),
            backup_mail=sqlite_mail(backup_dir / "pledge.sqlite3", target),
        )
        assert sqlite_digests(var_dir / "pledge.sqlite3", target) == set()
    finally:
        store.close()


# -- PostgreSQL -----------------------------------------------------------------------------------


def _pg_tool(name: str) -> str:
    pg_ctl = os.environ.get("PLEDGE_PG_CTL")
    assert pg_ctl, "the PostgreSQL fixture sets PLEDGE_PG_CTL"
    return str(Path(pg_ctl).with_name(name))


def _pg_args(settings: dict[str, Any]) -> list[str]:
    return ["-h", str(settings["HOST"]), "-p", str(settings["PORT"]), "-U", str(settings["USER"])]


def pg_rows(cursor: Any, customer_id: uuid.UUID) -> list[Row]:
    cursor.execute(
        "SELECT record_kind, record_id, field, ciphertext FROM vault_encryptedvalue "
        "WHERE customer_id = %s",
        [customer_id],
    )
    return [(k, uuid.UUID(str(r)), f, bytes(b)) for k, r, f, b in cursor.fetchall()]


@pytest.mark.postgresql_only
def test_postgresql_erasure_leaves_nothing_readable_in_the_database_or_a_pg_dump_from_before(
    request: pytest.FixtureRequest, transactional_db: None, tmp_path: Path, settings: Any
) -> None:
    import psycopg
    from django.db import connection

    from pledge.keyring import load_keyring
    from pledge.policy.enforcement import clear_policy_cache
    from pledge.policy.loader import load_policy
    from pledge.policy.services import publish_policy
    from pledge.vault.keystore import keystore

    request.getfixturevalue("pledge_postgresql")
    assert connection.vendor == "postgresql"
    clear_policy_cache()
    loaded = load_policy("james-jewelry")
    publish_policy(loaded, actor="test", effective_date=loaded.policy.effective_date)
    clear_policy_cache()

    created = scenario.create()
    target, control = uuid.UUID(created["target"]), uuid.UUID(created["control"])
    db = connection.settings_dict
    dump = tmp_path / "before.sql"
    subprocess.run(
        [_pg_tool("pg_dump"), *_pg_args(db), "--no-owner", "-f", str(dump), str(db["NAME"])],
        check=True,
        capture_output=True,
        timeout=120,
    )
    found = keystore().get(target, 0)
    assert found is not None
    old_wrapped = found[1]

    report = scenario.erase(str(target))

    # The dump, restored into a database of its own, is the "backup from before".
    restored = f"erasure_backup_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{restored}"')
    try:
        restore = [_pg_tool("psql"), *_pg_args(db), "-q", "-v", "ON_ERROR_STOP=1"]
        subprocess.run(
            [*restore, "-d", restored, "-f", str(dump)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        conninfo = f"host={db['HOST']} port={db['PORT']} user={db['USER']} dbname={restored}" + (
            f" password={db['PASSWORD']}" if db.get("PASSWORD") else ""
        )
        with psycopg.connect(conninfo) as backup_conn, backup_conn.cursor() as backup_cursor:
            backup = pg_rows(backup_cursor, target)
            backup_cursor.execute(
                "SELECT digest FROM vault_blindindex WHERE customer_id = %s", [target]
            )
            backup_digests = {bytes(r[0]) for r in backup_cursor.fetchall()}
            backup_cursor.execute(
                "SELECT id, key_version, wrapped_key, sealed FROM notify_outboxmessage "
                "WHERE customer_id = %s AND sealed IS NOT NULL",
                [target],
            )
            backup_mail = [
                (uuid.UUID(str(i)), int(v), bytes(w), bytes(b))
                for i, v, w, b in backup_cursor.fetchall()
            ]
        with connection.cursor() as cursor:
            live = pg_rows(cursor, target)
            control_rows = pg_rows(cursor, control)
            cursor.execute("SELECT ciphertext FROM vault_encryptedvalue")
            live_bytes = b"".join(bytes(r[0]) for r in cursor.fetchall())
        assert_proof(
            target=target,
            control=control,
            live=live,
            backup=backup,
            control_rows=control_rows,
            store=keystore(),
            ring=load_keyring(),
            old_wrapped=old_wrapped,
            report=report,
            raw={
                "pg_dump": dump.read_bytes(),
                "live ciphertexts": live_bytes,
                "keystore": key_store_bytes(settings.PLEDGE_KEYSTORE_PATH),
            },
            backup_digests=backup_digests,
            backup_mail=backup_mail,
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM vault_blindindex WHERE customer_id = %s", [target])
            assert cursor.fetchone() == (0,)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{restored}"')
