"""Envelope encryption of fields and blind indexes (ARCHITECTURE.md, data path step 3).

- Each customer has one random 256-bit data key, stored only wrapped by a master key; destroying
  the wrapped key destroys every field of the customer, in the database and in every backup
  (crypto-shredding, issue 6).
- Each field value is AES-256-GCM encrypted under the customer's data key with a fresh 96-bit
  nonce; the associated data names the table, the record, the field and the customer, so a
  ciphertext copied onto another record, field or customer fails to decrypt.
- Lookup fields get an HMAC-SHA256 blind index under a key of their own (one derived key per
  kind), computed from a normalised value: NFC, case-folded emails, E.164 phones, and truncated
  to 2 bytes so that it narrows a lookup without identifying a value (see `blind_index`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pledge.keyring import Keyring, load_keyring, reset_keyring_cache

CIPHERTEXT_VERSION = b"\x01"
NONCE_BYTES = 12


class DecryptionFailed(Exception):
    """A ciphertext does not open under this key and associated data (moved or tampered)."""


def field_aad(record_kind: str, record_id: uuid.UUID, field: str, customer_id: uuid.UUID) -> bytes:
    return f"pledge/v1|{record_kind}|{record_id}|{field}|{customer_id}".encode()


def data_key_aad(customer_id: uuid.UUID) -> bytes:
    return f"pledge/v1|data_key|{customer_id}".encode()


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


@dataclass
class CustomerKey:
    """An unwrapped data key in memory for the length of one service call."""

    customer_id: uuid.UUID
    _aead: AESGCM

    @classmethod
    def from_bytes(cls, customer_id: uuid.UUID, key: bytes) -> CustomerKey:
        return cls(customer_id, AESGCM(key))

    def __repr__(self) -> str:
        return f"CustomerKey({self.customer_id})"

    def encrypt(self, record_kind: str, record_id: uuid.UUID, field: str, value: Any) -> bytes:
        plaintext = encode_value(value)
        nonce = os.urandom(NONCE_BYTES)
        aad = field_aad(record_kind, record_id, field, self.customer_id)
        return CIPHERTEXT_VERSION + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def decrypt(self, record_kind: str, record_id: uuid.UUID, field: str, blob: bytes) -> Any:
        blob = bytes(blob)
        if blob[:1] != CIPHERTEXT_VERSION or len(blob) < 1 + NONCE_BYTES + 16:
            raise DecryptionFailed(f"{record_kind}.{field}: not a Pledge ciphertext")
        aad = field_aad(record_kind, record_id, field, self.customer_id)
        try:
            plaintext = self._aead.decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], aad)
        except InvalidTag:
            raise DecryptionFailed(
                f"{record_kind}.{field} of record {record_id} does not decrypt for this customer"
            ) from None
        return json.loads(plaintext)

    def encrypt_bytes(self, aad: bytes, data: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return CIPHERTEXT_VERSION + nonce + self._aead.encrypt(nonce, data, aad)

    def decrypt_bytes(self, aad: bytes, blob: bytes) -> bytes:
        if blob[:1] != CIPHERTEXT_VERSION:
            raise DecryptionFailed("not a Pledge ciphertext")
        try:
            return self._aead.decrypt(blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], aad)
        except InvalidTag:
            raise DecryptionFailed("an encrypted file does not decrypt for this customer") from None


def encode_value(value: Any) -> bytes:
    """Values are JSON (text NFC-normalised) so a date or a card record round-trips typed."""
    return json.dumps(nfc_deep(value), ensure_ascii=False, separators=(",", ":")).encode()


def nfc_deep(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {nfc_deep(k): nfc_deep(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nfc_deep(v) for v in value]
    return value


def wrap_data_key(
    key: bytes, customer_id: uuid.UUID, keyring: Keyring | None = None
) -> tuple[int, bytes]:
    ring = keyring or load_keyring()
    return ring.master.wrap(key, aad=data_key_aad(customer_id))


def unwrap_data_key(
    version: int, wrapped: bytes, customer_id: uuid.UUID, keyring: Keyring | None = None
) -> CustomerKey:
    ring = keyring or load_keyring()
    if keyring is None and version not in ring.master.keys:
        # Another process rotated the master key since this one read the keyring: read it
        # again rather than fail (`pledge keys rotate`: nothing becomes unreadable).
        reset_keyring_cache()
        ring = load_keyring()
    key = ring.master.unwrap(version, bytes(wrapped), aad=data_key_aad(customer_id))
    return CustomerKey.from_bytes(customer_id, key)


# -- blind indexes -------------------------------------------------------------------------------

_derived: dict[tuple[bytes, str], bytes] = {}


def _index_key(kind: str, keyring: Keyring) -> bytes:
    # One key per kind, so an email digest can never match a phone digest.
    cache_key = (keyring.index_key, kind)
    derived = _derived.get(cache_key)
    if derived is None:
        derived = hmac.new(
            keyring.index_key, f"pledge/blind-index/{kind}".encode(), "sha256"
        ).digest()
        _derived[cache_key] = derived
    return derived


# Blind indexes keep only the first 2 bytes of the HMAC (CipherSweet's "truncated blind index"):
# a lookup finds a handful of candidates (about one per 65,536 customers) and `store.find_by_index`
# keeps those whose decrypted value really matches. Why not the whole HMAC: a database backup
# taken before an erasure keeps the erased customer's index rows, and with the index key (which an
# erasure does not change) a full HMAC of a phone number could be brute-forced over the ~10^9
# numbers in minutes, giving the erased value back. Two bytes match ~15,000 of those numbers
# equally, so the backup's row names none of them (issue 6, proof of erasure).
INDEX_DIGEST_BYTES = 2


def blind_index(kind: str, normalised: str, keyring: Keyring | None = None) -> bytes:
    """Truncated HMAC-SHA256 of an already normalised value (see `pledge.vault.normalise`)."""
    ring = keyring or load_keyring()
    full = hmac.new(_index_key(kind, ring), normalised.encode(), hashlib.sha256).digest()
    return full[:INDEX_DIGEST_BYTES]
