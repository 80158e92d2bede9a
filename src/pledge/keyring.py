"""The keyring: versioned master keys, the blind-index key and the audit signing key.

Keys never live in the database (ARCHITECTURE.md, "The path of one piece of personal data"): a
copy of the database alone decrypts nothing. The keyring is a small JSON document read from
`PLEDGE_KEYRING` (the JSON itself), `PLEDGE_KEYRING_FILE` (a path, e.g. a Docker secret), or else
the file `PLEDGE_KEYRING_PATH` (default `var/keys/keyring.json`), created with mode 0600 on first
use.

Master keys only wrap and unwrap data keys, through the `MasterKeyProvider` interface, so a KMS
(which never hands out its keys) can replace `LocalMasterKeys` later without touching the vault.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from pledge.conf import ImproperlyConfiguredError, envsecret

KEYRING_FORMAT = "pledge-keyring/1"
KEY_BYTES = 32  # AES-256


class KeyringError(Exception):
    """The keyring cannot do what was asked (unknown key version, a read-only keyring…)."""


class UnwrapFailed(KeyringError):
    """A wrapped data key does not open: wrong master key, wrong customer, or tampered bytes."""


class MasterKeyProvider(Protocol):
    """Wraps and unwraps data keys. The only thing the vault needs from a master key."""

    def current_version(self) -> int: ...

    def versions(self) -> list[int]: ...

    def wrap(self, data_key: bytes, *, aad: bytes) -> tuple[int, bytes]:
        """Wrap with the current version; returns (version, wrapped bytes)."""
        ...

    def unwrap(self, version: int, wrapped: bytes, *, aad: bytes) -> bytes: ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise ImproperlyConfiguredError(f"keyring: {what} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise ImproperlyConfiguredError(f"keyring: {what} is not valid base64") from None


@dataclass
class LocalMasterKeys:
    """Master keys held in the keyring document; AES-256-GCM key wrapping with associated data."""

    keys: dict[int, bytes]
    current: int
    _aead: dict[int, AESGCM] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._aead = {v: AESGCM(k) for v, k in self.keys.items()}

    def __repr__(self) -> str:  # never print key material
        return f"LocalMasterKeys(versions={sorted(self.keys)}, current={self.current})"

    def current_version(self) -> int:
        return self.current

    def versions(self) -> list[int]:
        return sorted(self.keys)

    def wrap(self, data_key: bytes, *, aad: bytes) -> tuple[int, bytes]:
        nonce = os.urandom(12)
        return self.current, nonce + self._aead[self.current].encrypt(nonce, data_key, aad)

    def unwrap(self, version: int, wrapped: bytes, *, aad: bytes) -> bytes:
        aead = self._aead.get(version)
        if aead is None:
            raise UnwrapFailed(f"master key version {version} is not in the keyring")
        try:
            return aead.decrypt(wrapped[:12], wrapped[12:], aad)
        except InvalidTag:
            raise UnwrapFailed("a data key did not unwrap (tampered or moved)") from None


@dataclass
class Keyring:
    master: LocalMasterKeys
    index_key: bytes = field(repr=False)
    signing_key: Ed25519PrivateKey = field(repr=False)
    source: str  # where it was read from, for messages (never the key itself)
    writable_path: Path | None

    @property
    def verify_key(self) -> Ed25519PublicKey:
        return self.signing_key.public_key()

    @property
    def signing_key_id(self) -> str:
        """A short fingerprint of the audit signing key, recorded with each checkpoint."""
        raw = self.verify_key.public_bytes_raw()
        return hashlib.sha256(raw).hexdigest()[:16]

    def to_document(self) -> dict[str, Any]:
        return {
            "format": KEYRING_FORMAT,
            "current": self.master.current,
            "master_keys": [
                {"version": v, "key": _b64(k)} for v, k in sorted(self.master.keys.items())
            ],
            "index_key": _b64(self.index_key),
            "signing_key": _b64(self.signing_key.private_bytes_raw()),
        }


def new_keyring_document() -> dict[str, Any]:
    return {
        "format": KEYRING_FORMAT,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "current": 1,
        "master_keys": [{"version": 1, "key": _b64(secrets.token_bytes(KEY_BYTES))}],
        "index_key": _b64(secrets.token_bytes(KEY_BYTES)),
        "signing_key": _b64(Ed25519PrivateKey.generate().private_bytes_raw()),
    }


def parse_keyring(text: str, *, source: str, writable_path: Path | None) -> Keyring:
    try:
        doc = json.loads(text)
    except ValueError:
        raise ImproperlyConfiguredError(f"keyring from {source} is not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != KEYRING_FORMAT:
        raise ImproperlyConfiguredError(
            f"keyring from {source} is not a {KEYRING_FORMAT} document (key `format`)"
        )
    entries = doc.get("master_keys")
    if not isinstance(entries, list) or not entries:
        raise ImproperlyConfiguredError(f"keyring from {source}: `master_keys` must be a list")
    keys: dict[int, bytes] = {}
    for i, entry in enumerate(entries):
        version = entry.get("version") if isinstance(entry, dict) else None
        if not isinstance(version, int) or version < 1 or version in keys:
            raise ImproperlyConfiguredError(
                f"keyring from {source}: master_keys[{i}] needs a unique positive `version`"
            )
        key = _unb64(entry.get("key"), f"master_keys[{i}].key")
        if len(key) != KEY_BYTES:
            raise ImproperlyConfiguredError(f"keyring: master key {version} must be 32 bytes")
        keys[version] = key
    current = doc.get("current")
    if current not in keys:
        raise ImproperlyConfiguredError(f"keyring from {source}: `current` names no master key")
    index_key = _unb64(doc.get("index_key"), "index_key")
    signing = _unb64(doc.get("signing_key"), "signing_key")
    if len(index_key) != KEY_BYTES or len(signing) != KEY_BYTES:
        raise ImproperlyConfiguredError("keyring: index_key and signing_key must be 32 bytes")
    return Keyring(
        master=LocalMasterKeys(keys=keys, current=current),
        index_key=index_key,
        signing_key=Ed25519PrivateKey.from_private_bytes(signing),
        source=source,
        writable_path=writable_path,
    )


def write_keyring_file(path: Path, document: dict[str, Any]) -> None:
    """Write atomically with mode 0600: a crash leaves either the old or the new keyring."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


_lock = threading.Lock()
_cached: Keyring | None = None


def load_keyring() -> Keyring:
    """The keyring of this process, read once (and created under var/keys/ if there is none)."""
    global _cached
    if _cached is not None:
        return _cached
    with _lock:
        if _cached is None:
            _cached = _read_keyring()
        return _cached


def reset_keyring_cache() -> None:
    global _cached
    with _lock:
        _cached = None


def _read_keyring() -> Keyring:
    direct = os.environ.get("PLEDGE_KEYRING")
    text = envsecret("PLEDGE_KEYRING")
    if text is not None:
        if direct is not None:
            return parse_keyring(text, source="PLEDGE_KEYRING", writable_path=None)
        file_path = Path(os.environ["PLEDGE_KEYRING_FILE"])
        return parse_keyring(text, source=str(file_path), writable_path=file_path)
    path: Path = settings.PLEDGE_KEYRING_PATH
    if not path.exists():
        if _database_holds_data_keys():
            # A missing keyring with data in the database is an accident (an unmounted volume, a
            # wrong PLEDGE_VAR_DIR): a fresh keyring would make every customer unreadable.
            raise ImproperlyConfiguredError(
                f"the keyring file {path} is missing but the database holds encrypted customer "
                "data: restore the keyring from its backup (or point PLEDGE_KEYRING_PATH / "
                "PLEDGE_KEYRING_FILE at it); refusing to create a new one"
            )
        write_keyring_file(path, new_keyring_document())
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImproperlyConfiguredError(f"keyring {path} cannot be read: {exc}") from None
    return parse_keyring(text, source=str(path), writable_path=path)


def _database_holds_data_keys() -> bool:
    """Does the key store or the database hold anything the keyring is needed for?"""
    from django.db import connection

    from pledge.vault.keystore import keystore

    if keystore().holds_keys():
        return True
    table = "vault_encryptedvalue"
    if table not in connection.introspection.table_names():
        return False
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} LIMIT 1")  # noqa: S608 - a constant name
        return cursor.fetchone() is not None


def add_master_key_version() -> int:
    """Append a new master key to the keyring file and make it current; returns its version."""
    keyring = load_keyring()
    if keyring.writable_path is None:
        raise KeyringError(
            "the keyring comes from PLEDGE_KEYRING and cannot be changed in place; "
            "use PLEDGE_KEYRING_FILE or the default key file to rotate"
        )
    doc = keyring.to_document()
    version = max(keyring.master.keys) + 1
    doc["master_keys"].append({"version": version, "key": _b64(secrets.token_bytes(KEY_BYTES))})
    doc["current"] = version
    write_keyring_file(keyring.writable_path, doc)
    reset_keyring_cache()
    return version
