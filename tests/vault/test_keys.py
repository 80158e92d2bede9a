"""Master-key rotation (`pledge keys rotate|rewrap|status`) and the keyring file.

Every test has a keyring of its own (settings.PLEDGE_KEYRING_PATH under tmp_path, the process
cache reset before and after), so no two tests share keys. Customers are written and read through
the real vault services before, during (an interrupted rotation) and after a rotation.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pledge.audit.models import AuditEvent
from pledge.audit.verify import verify_chain
from pledge.conf import ImproperlyConfiguredError
from pledge.keyring import (
    KeyringError,
    add_master_key_version,
    load_keyring,
    new_keyring_document,
    parse_keyring,
    reset_keyring_cache,
    write_keyring_file,
)
from pledge.vault import services
from pledge.vault.access import SUBJECT_ACCESS, Actor
from pledge.vault.crypto import data_key_aad
from pledge.vault.keys import key_status, rewrap_data_keys
from pledge.vault.keystore import StoredKey, keystore
from pledge.vault.models import Customer, EncryptedValue
from tests.security.helpers import pledge_env, run_pledge

PEOPLE = [
    {"full_name": "Nguyễn Văn An", "phone": "0912 100 001", "email": "an.keys@example.vn"},
    {"full_name": "Trần Thị Bình", "address": "2 Hàng Bài, Hà Nội"},
    {"full_name": "Lê Hoàng Cường", "email": "cuong.keys@example.vn"},
    {"full_name": "Phạm Thu Dung", "phone": "0903 200 002"},
    {"full_name": "Hoàng Gia Em", "address": "9 Pasteur, Quận 3, TP Hồ Chí Minh"},
]


@pytest.fixture
def keyring_path(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A keyring file of this test's own, created on first use."""
    monkeypatch.delenv("PLEDGE_KEYRING", raising=False)
    monkeypatch.delenv("PLEDGE_KEYRING_FILE", raising=False)
    path = tmp_path / "keys" / "keyring.json"
    settings.PLEDGE_KEYRING_PATH = path
    # And a key store of its own: the session's store outlives each test's rolled-back database.
    settings.PLEDGE_KEYSTORE_PATH = tmp_path / "keys" / "keystore.sqlite3"
    reset_keyring_cache()
    yield path
    reset_keyring_cache()


@pytest.fixture
def customers(keyring_path: Path, leman: Any, shop_api: Actor) -> dict[uuid.UUID, dict[str, Any]]:
    """Five customers, id -> the values the services give back."""
    out = {}
    for person in PEOPLE:
        cid = services.collect_customer(actor=shop_api, purpose="order_fulfilment", fields=person)
        out[cid] = read(cid)
    return out


def read(cid: uuid.UUID) -> dict[str, Any]:
    me = Actor(kind="customer", id=str(cid))
    return services.read_customer(actor=me, purpose=SUBJECT_ACCESS, customer_id=cid).fields


def assert_all_readable(customers: dict[uuid.UUID, dict[str, Any]]) -> None:
    for cid, values in customers.items():
        assert read(cid) == values
        assert values["full_name"]


def keys(*args: str) -> str:
    out = io.StringIO()
    call_command("keys", *args, stdout=out)
    return out.getvalue()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def wrapped() -> dict[uuid.UUID, tuple[int, bytes]]:
    store = keystore()
    out = {}
    for cid in Customer.objects.values_list("id", flat=True):
        found = store.get(cid, 0)
        assert found is not None
        out[cid] = found
    return out


def rewrapped_at(cid: uuid.UUID) -> str | None:
    conn = keystore()._connect()
    row = conn.execute(
        "SELECT rewrapped_at FROM data_keys WHERE customer_id = ?", (cid.bytes,)
    ).fetchone()
    return row[0] if row else None


def test_values_read_back_before_rotation(customers: dict[uuid.UUID, dict[str, Any]]) -> None:
    assert [v["full_name"] for v in customers.values()] == [p["full_name"] for p in PEOPLE]
    assert customers[next(iter(customers))]["phone"] == "+84912100001"
    assert key_status() == {1: 5}


def test_rotate_rewraps_every_data_key_and_keeps_every_value(
    customers: dict[uuid.UUID, dict[str, Any]], keyring_path: Path, shop_api: Actor
) -> None:
    before_doc = json.loads(keyring_path.read_text())
    before = wrapped()
    ciphertexts = dict(EncryptedValue.objects.values_list("pk", "ciphertext"))
    last = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0

    out = keys("rotate", "--batch", "2")

    assert "master key version 2 is current; 5 data keys re-wrapped" in out
    assert "current master key version: 2" in out
    assert "version 1: 0 data keys" in out and "version 2: 5 data keys" in out
    assert key_status() == {2: 5}
    after = wrapped()
    for cid, (version, blob) in after.items():
        assert version == 2
        assert blob != before[cid][1]
    assert all(rewrapped_at(cid) is not None for cid in after)
    # Field ciphertexts are untouched: only the data keys' wrapping changed.
    assert dict(EncryptedValue.objects.values_list("pk", "ciphertext")) == ciphertexts

    doc = json.loads(keyring_path.read_text())
    assert doc["current"] == 2
    assert [k["version"] for k in doc["master_keys"]] == [1, 2]
    assert doc["master_keys"][0] == before_doc["master_keys"][0]  # the old key is kept
    assert doc["index_key"] == before_doc["index_key"]
    assert doc["signing_key"] == before_doc["signing_key"]
    assert mode(keyring_path) == 0o600

    assert_all_readable(customers)
    # Lookups (blind indexes) still work: the index key did not change.
    first = next(iter(customers))
    assert services.lookup_customers(
        actor=shop_api, purpose="order_fulfilment", by="phone", value="0912100001"
    ) == [first]

    events = list(AuditEvent.objects.filter(seq__gt=last).order_by("seq"))
    assert events[0].type == "keys:master_rotated"
    assert json.loads(events[0].details) == {"from_version": 1, "to_version": 2}
    batches = [json.loads(e.details) for e in events if e.type == "keys:data_keys_rewrapped"]
    assert [b["count"] for b in batches] == [2, 2, 1]
    assert {b["to_version"] for b in batches} == {2}
    assert verify_chain().ok

    # New customers are wrapped by the new version.
    new = services.collect_customer(
        actor=shop_api, purpose="order_fulfilment", fields={"full_name": "Mới Sau Xoay"}
    )
    assert wrapped()[new][0] == 2


def test_after_rotation_the_old_master_key_can_be_retired(
    customers: dict[uuid.UUID, dict[str, Any]], keyring_path: Path
) -> None:
    """Every data key really moved: with version 1 removed from the keyring, all still open."""
    keys("rotate")
    doc = json.loads(keyring_path.read_text())
    doc["master_keys"] = [k for k in doc["master_keys"] if k["version"] == 2]
    write_keyring_file(keyring_path, doc)
    reset_keyring_cache()
    assert load_keyring().master.versions() == [2]
    assert_all_readable(customers)


class Interrupted(Exception):
    pass


def test_interrupted_rotation_keeps_everything_readable_and_rewrap_finishes(
    customers: dict[uuid.UUID, dict[str, Any]], keyring_path: Path, shop_api: Actor
) -> None:
    assert add_master_key_version() == 2
    assert load_keyring().master.current_version() == 2
    assert key_status() == {1: 5}  # nothing re-wrapped yet: all readable under version 1
    assert_all_readable(customers)

    def stop(count: int) -> None:
        assert count == 2
        raise Interrupted

    with pytest.raises(Interrupted):
        rewrap_data_keys(actor="system:test", batch=2, progress=stop)

    # The first batch committed; the others are still under version 1. All readable.
    assert key_status() == {1: 3, 2: 2}
    assert_all_readable(customers)
    # A customer collected mid-rotation gets the new version.
    cid = services.collect_customer(
        actor=shop_api, purpose="order_fulfilment", fields={"full_name": "Giữa Chừng Xoay"}
    )
    customers[cid] = read(cid)
    assert key_status() == {1: 3, 2: 3}

    out = keys("rewrap", "--batch", "2")
    assert "3 data keys re-wrapped" in out
    assert key_status() == {2: 6}
    assert_all_readable(customers)
    # Finishing again is harmless.
    assert "0 data keys re-wrapped" in keys("rewrap")
    assert key_status() == {2: 6}
    assert verify_chain().ok


def test_rotation_by_another_process_is_picked_up(
    customers: dict[uuid.UUID, dict[str, Any]], keyring_path: Path
) -> None:
    """This process holds the keyring in cache (version 1 only); another process adds version 2
    to the file and re-wraps a data key with it: reads here keep working."""
    assert load_keyring().master.versions() == [1]
    doc = json.loads(keyring_path.read_text())
    doc["master_keys"].append(
        {"version": 2, "key": base64.b64encode(secrets.token_bytes(32)).decode()}
    )
    doc["current"] = 2
    write_keyring_file(keyring_path, doc)
    other = parse_keyring(keyring_path.read_text(), source="other", writable_path=keyring_path)
    cid = next(iter(customers))
    _, old = wrapped()[cid]
    raw = other.master.unwrap(1, old, aad=data_key_aad(cid))
    version, blob = other.master.wrap(raw, aad=data_key_aad(cid))
    keystore().rewrap([StoredKey(cid, 0, version, blob)])
    assert load_keyring().master.versions() == [1]  # still the cached copy

    assert_all_readable(customers)
    assert load_keyring().master.versions() == [1, 2]


# -- the keyring file ------------------------------------------------------------------------


def test_keyring_file_is_created_private(keyring_path: Path, db: None) -> None:
    assert not keyring_path.exists()
    load_keyring()
    assert mode(keyring_path) == 0o600
    assert mode(keyring_path.parent) == 0o700
    add_master_key_version()
    assert mode(keyring_path) == 0o600
    assert [p.name for p in keyring_path.parent.iterdir()] == [keyring_path.name]


def test_keyring_from_environment_refuses_rotation(
    keyring_path: Path, monkeypatch: pytest.MonkeyPatch, leman: Any, shop_api: Actor
) -> None:
    monkeypatch.setenv("PLEDGE_KEYRING", json.dumps(new_keyring_document()))
    reset_keyring_cache()
    cid = services.collect_customer(
        actor=shop_api, purpose="order_fulfilment", fields={"full_name": "Khóa Từ Biến Môi Trường"}
    )
    last = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()

    with pytest.raises(CommandError) as err:
        keys("rotate")
    message = str(err.value)
    assert "PLEDGE_KEYRING" in message and "cannot be changed in place" in message
    with pytest.raises(KeyringError):
        add_master_key_version()

    assert key_status() == {1: 1}
    assert load_keyring().master.versions() == [1]
    assert not keyring_path.exists()  # no file keyring appeared on the side
    assert AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() == last
    assert read(cid)["full_name"] == "Khóa Từ Biến Môi Trường"


def test_keyring_file_variable_allows_rotation(
    keyring_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, leman: Any, shop_api: Actor
) -> None:
    secret = tmp_path / "secrets" / "pledge-keyring.json"
    write_keyring_file(secret, new_keyring_document())
    monkeypatch.setenv("PLEDGE_KEYRING_FILE", str(secret))
    reset_keyring_cache()
    cid = services.collect_customer(
        actor=shop_api, purpose="order_fulfilment", fields={"full_name": "Tệp Bí Mật"}
    )
    assert "master key version 2 is current; 1 data keys re-wrapped" in keys("rotate")
    assert [k["version"] for k in json.loads(secret.read_text())["master_keys"]] == [1, 2]
    assert mode(secret) == 0o600
    assert not keyring_path.exists()
    assert read(cid)["full_name"] == "Tệp Bí Mật"


def test_bad_batch_size_changes_nothing(customers: dict[uuid.UUID, Any]) -> None:
    with pytest.raises(CommandError, match="--batch"):
        keys("rotate", "--batch", "0")
    assert load_keyring().master.versions() == [1]
    assert key_status() == {1: 5}


def test_status_names_versions_missing_from_the_keyring(
    customers: dict[uuid.UUID, Any],
) -> None:
    cid = next(iter(customers))
    keystore().rewrap([StoredKey(cid, 0, 9, wrapped()[cid][1])])
    with pytest.raises(CommandError, match=r"missing from the keyring: \[9\]"):
        keys("status")


# -- corrupted keyrings: a clear configuration error, never a new keyring ---------------------


def _valid() -> dict[str, Any]:
    return new_keyring_document()


CORRUPTIONS: dict[str, tuple[bytes, str]] = {
    "not JSON": (b"{not json", "is not valid JSON"),
    "empty": (b"", "is not valid JSON"),
    "truncated": (json.dumps(_valid()).encode()[:60], "is not valid JSON"),
    "binary": (b"\xff\xfe\x00garbage\x80", "cannot be read"),
    "wrong format": (json.dumps({"format": "other/1"}).encode(), "pledge-keyring/1"),
    "master_keys not a list": (
        json.dumps({**_valid(), "master_keys": "abc"}).encode(),
        "`master_keys` must be a list",
    ),
    "entry not an object": (
        json.dumps({**_valid(), "master_keys": [1]}).encode(),
        "unique positive `version`",
    ),
    "key not base64": (
        json.dumps({**_valid(), "master_keys": [{"version": 1, "key": "!!not-base64!!"}]}).encode(),
        "not valid base64",
    ),
    "short key": (
        json.dumps(
            {
                **_valid(),
                "master_keys": [{"version": 1, "key": base64.b64encode(b"k" * 16).decode()}],
            }
        ).encode(),
        "must be 32 bytes",
    ),
    "current names no key": (json.dumps({**_valid(), "current": 7}).encode(), "`current`"),
    "index key missing": (
        json.dumps({k: v for k, v in _valid().items() if k != "index_key"}).encode(),
        "index_key",
    ),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corrupted_keyring_is_a_configuration_error_in_process(
    keyring_path: Path, name: str
) -> None:
    content, fragment = CORRUPTIONS[name]
    keyring_path.parent.mkdir(parents=True, mode=0o700)
    keyring_path.write_bytes(content)
    with pytest.raises(ImproperlyConfiguredError) as err:
        load_keyring()
    assert fragment in str(err.value)
    assert keyring_path.read_bytes() == content  # never replaced by a fresh keyring


@pytest.mark.parametrize("name", ["not JSON", "binary", "key not base64", "short key"])
def test_corrupted_keyring_exits_78_with_a_clear_message(tmp_path: Path, name: str) -> None:
    content, fragment = CORRUPTIONS[name]
    var_dir = tmp_path / "var"
    path = var_dir / "keys" / "keyring.json"
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_bytes(content)
    os.chmod(path, 0o600)
    result = run_pledge(var_dir, "keys", "status", env=pledge_env(var_dir), check=False)
    assert result.returncode == 78, (result.stdout, result.stderr)
    assert result.stderr.startswith("pledge: configuration error: keyring"), result.stderr
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert path.read_bytes() == content
    for secret in _secrets_in(content):
        assert secret not in result.stderr  # the message never shows key material


def _secrets_in(content: bytes) -> list[str]:
    try:
        doc = json.loads(content)
    except ValueError:
        return []
    found = [doc.get("index_key"), doc.get("signing_key")]
    found += [k.get("key") for k in doc.get("master_keys", []) if isinstance(k, dict)]
    return [s for s in found if isinstance(s, str) and len(s) > 8]


def test_keyring_from_environment_refuses_rotation_as_a_command(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    env = pledge_env(var_dir, PLEDGE_KEYRING=json.dumps(new_keyring_document()))
    run_pledge(var_dir, "migrate", "--no-input", "-v", "0", env=env)
    result = run_pledge(var_dir, "keys", "rotate", env=env, check=False)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "PLEDGE_KEYRING" in result.stderr and "cannot be changed in place" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (var_dir / "keys").exists()


def test_a_missing_keyring_is_refused_when_the_database_holds_data_keys(
    customers: dict[uuid.UUID, dict[str, Any]], keyring_path: Path, settings: Any, tmp_path: Path
) -> None:
    # An unmounted keys volume must not silently start a new keyring: every customer would
    # become unreadable and new data would be written under keys nobody backed up.
    settings.PLEDGE_KEYRING_PATH = tmp_path / "elsewhere" / "keyring.json"
    reset_keyring_cache()
    with pytest.raises(ImproperlyConfiguredError, match="missing but the database holds"):
        load_keyring()
    assert not settings.PLEDGE_KEYRING_PATH.exists()
    settings.PLEDGE_KEYRING_PATH = keyring_path
    reset_keyring_cache()
    assert_all_readable(customers)


def test_the_var_dir_and_database_file_are_private(tmp_path: Path) -> None:
    var_dir = tmp_path / "fresh-var"
    run_pledge(var_dir, "migrate", "-v0")
    assert mode(var_dir) == 0o700
    assert mode(var_dir / "pledge.sqlite3") == 0o600
    run_pledge(var_dir, "keys", "status")  # creates the keyring
    assert mode(var_dir / "keys") == 0o700
    assert mode(var_dir / "keys" / "keyring.json") == 0o600
