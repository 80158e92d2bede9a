"""Sealing an outbox message: no plaintext at rest (ARCHITECTURE.md, security invariants).

The recipient, subject, bodies and headers of a message are one JSON document, encrypted with
AES-256-GCM under a fresh 256-bit key of its own. That key is stored only wrapped: by the
customer's own data key when the message is about a customer (`key_version` 0, CUSTOMER_WRAPPED),
otherwise by the keyring's current master key. Both carry associated data naming the message, so
a sealed blob or a wrapped key copied onto another row does not open. Once a message is sent or
given up, its row forgets both (`wipe`): the address and the text are then gone for good.

Why the customer's key: erasing a customer destroys their data key (crypto-shredding, issue 6).
A database backup taken while a message to them was queued still holds it; wrapped by the master
key (which an erasure does not change) it would still open. Wrapped by the customer's key, it
dies with the key. The outbox knows nothing of customers (ARCHITECTURE.md): the vault registers
the wrapping at start-up (`register_customer_keys`).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pledge.keyring import load_keyring

SEALED_VERSION = b"\x01"
NONCE_BYTES = 12
# `key_version` of a message key wrapped by the customer's data key rather than a master key
# (master-key versions start at 1).
CUSTOMER_WRAPPED = 0


class CustomerKeys(Protocol):
    """Wraps a message key under a customer's data key (registered by the vault)."""

    def wrap(self, customer_id: uuid.UUID, key: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, customer_id: uuid.UUID, wrapped: bytes, aad: bytes) -> bytes: ...


_customer_keys: CustomerKeys | None = None


def register_customer_keys(keys: CustomerKeys) -> None:
    global _customer_keys
    _customer_keys = keys


class SealBroken(Exception):
    """A sealed message does not open: a missing master key, a moved or tampered blob."""


@dataclass(frozen=True)
class Letter:
    """What the outbox seals: everything of a message that could identify or concern a person."""

    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str]

    def __repr__(self) -> str:  # never print an address or a body
        return "Letter(…)"

    def to_bytes(self) -> bytes:
        document = {
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "headers": self.headers,
        }
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Letter:
        document = json.loads(data)
        return cls(
            to=document["to"],
            subject=document["subject"],
            text=document["text"],
            html=document["html"],
            headers=dict(document["headers"]),
        )


def _letter_aad(message_id: uuid.UUID) -> bytes:
    return f"pledge/v1|outbox|{message_id}".encode()


def key_aad(message_id: uuid.UUID) -> bytes:
    """The associated data of a message's wrapped key (the vault re-wraps it on re-keying)."""
    return _key_aad(message_id)


def _key_aad(message_id: uuid.UUID) -> bytes:
    return f"pledge/v1|outbox_key|{message_id}".encode()


@dataclass(frozen=True)
class Sealed:
    key_version: int
    wrapped_key: bytes
    sealed: bytes


def seal(message_id: uuid.UUID, letter: Letter, customer_id: uuid.UUID | None = None) -> Sealed:
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    blob = (
        SEALED_VERSION
        + nonce
        + AESGCM(key).encrypt(nonce, letter.to_bytes(), _letter_aad(message_id))
    )
    if customer_id is not None and _customer_keys is not None:
        try:
            wrapped = _customer_keys.wrap(customer_id, key, _key_aad(message_id))
        except Exception:
            wrapped = b""
        if wrapped:
            return Sealed(key_version=CUSTOMER_WRAPPED, wrapped_key=wrapped, sealed=blob)
        # The answer to an erasure is written after the key is gone: the master key wraps it,
        # and it is wiped once sent, like every message.
    version, wrapped = load_keyring().master.wrap(key, aad=_key_aad(message_id))
    return Sealed(key_version=version, wrapped_key=wrapped, sealed=blob)


def unwrap_message_key(
    message_id: uuid.UUID,
    key_version: int,
    wrapped_key: bytes | memoryview,
    customer_id: uuid.UUID | None = None,
) -> bytes:
    """The message's own key; SealBroken when it does not unwrap (an erased customer's key is
    gone, a master key is missing, the bytes were moved or tampered with)."""
    aad = _key_aad(message_id)
    try:
        if key_version == CUSTOMER_WRAPPED:
            if customer_id is None or _customer_keys is None:
                raise SealBroken(f"outbox message {message_id} needs its customer's key")
            return _customer_keys.unwrap(customer_id, bytes(wrapped_key), aad)
        return load_keyring().master.unwrap(key_version, bytes(wrapped_key), aad=aad)
    except SealBroken:
        raise
    except Exception as exc:  # KeyringError, the vault's KeyUnavailable/NotFound, a bad tag
        raise SealBroken(f"the key of outbox message {message_id} does not unwrap") from exc


def unseal(
    message_id: uuid.UUID,
    key_version: int,
    wrapped_key: bytes | memoryview,
    sealed: bytes | memoryview,
    customer_id: uuid.UUID | None = None,
) -> Letter:
    key = unwrap_message_key(message_id, key_version, wrapped_key, customer_id)
    blob = bytes(sealed)
    if blob[:1] != SEALED_VERSION or len(blob) < 1 + NONCE_BYTES + 16:
        raise SealBroken(f"outbox message {message_id} is not a sealed Pledge message")
    try:
        plaintext = AESGCM(key).decrypt(
            blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], _letter_aad(message_id)
        )
    except InvalidTag:
        raise SealBroken(f"outbox message {message_id} does not open (moved or tampered)") from None
    return Letter.from_bytes(plaintext)
