"""Sealing an outbox message: no plaintext at rest (ARCHITECTURE.md, security invariants).

The recipient, subject, bodies and headers of a message are one JSON document, encrypted with
AES-256-GCM under a fresh 256-bit key of its own. That key is stored only wrapped by the keyring's
current master key. Both carry associated data naming the message, so a sealed blob or a wrapped
key copied onto another row does not open. Once a message is sent or given up, its row forgets
both (`wipe`): the address and the text are then gone from the database for good.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pledge.keyring import KeyringError, load_keyring

SEALED_VERSION = b"\x01"
NONCE_BYTES = 12


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


def _key_aad(message_id: uuid.UUID) -> bytes:
    return f"pledge/v1|outbox_key|{message_id}".encode()


@dataclass(frozen=True)
class Sealed:
    key_version: int
    wrapped_key: bytes
    sealed: bytes


def seal(message_id: uuid.UUID, letter: Letter) -> Sealed:
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    blob = (
        SEALED_VERSION
        + nonce
        + AESGCM(key).encrypt(nonce, letter.to_bytes(), _letter_aad(message_id))
    )
    version, wrapped = load_keyring().master.wrap(key, aad=_key_aad(message_id))
    return Sealed(key_version=version, wrapped_key=wrapped, sealed=blob)


def unseal(
    message_id: uuid.UUID,
    key_version: int,
    wrapped_key: bytes | memoryview,
    sealed: bytes | memoryview,
) -> Letter:
    try:
        key = load_keyring().master.unwrap(
            key_version, bytes(wrapped_key), aad=_key_aad(message_id)
        )
    except KeyringError as exc:
        raise SealBroken(f"the key of outbox message {message_id} does not unwrap") from exc
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
