"""Consent receipts (P04; LAW.md, Consent: "provable … printable/reproducible").

A receipt holds the fields of the Kantara Initiative Consent Receipt Specification v1.1 for one
ledger event, built from the policy version the event refers to (so it reads the same years
later), plus what the specification leaves out and the law asks for: the event's action, channel,
the policy version and content hash, the exact notice text shown and its SHA-256.

It is signed with the keyring's Ed25519 signing key (the key that signs audit checkpoints): the
signature covers the canonical JSON of every other field (sorted keys, no spaces, UTF-8), prefixed
by `RECEIPT_FORMAT`. `verify_receipt` checks it against the keyring's public key, so a receipt
kept by the customer proves what the shop recorded and any change to it is detected.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from django.conf import settings
from django.utils import translation

from pledge.consent.models import ConsentEvent
from pledge.consent.notices import COOKIE_PREFIX, purpose_data_types
from pledge.consent.services import withdrawal_label
from pledge.keyring import load_keyring
from pledge.policy.enforcement import NoPolicyInForce, enforced_policy
from pledge.policy.models import PolicyVersion
from pledge.policy.render import field_label
from pledge.policy.schema import Policy
from pledge.policy.services import policy_of
from pledge.policy.vocabulary import COOKIE_CATEGORIES, LEGAL_BASES, STANDARD_FIELDS

KANTARA_VERSION = "KI-CR-v1.1.0"
RECEIPT_FORMAT = b"pledge-consent-receipt/1\n"
SIGNATURE_ALG = "Ed25519"


def receipt_for(*, customer_id: uuid.UUID, receipt_id: uuid.UUID | str) -> ConsentEvent:
    """The customer's own event with this receipt id. Another customer's receipt, like an
    unknown or malformed id, raises `ConsentEvent.DoesNotExist`."""
    try:
        wanted = receipt_id if isinstance(receipt_id, uuid.UUID) else uuid.UUID(str(receipt_id))
    except ValueError:
        raise ConsentEvent.DoesNotExist("no such receipt") from None
    return ConsentEvent.objects.select_related("notice").get(
        customer_id=customer_id, receipt_id=wanted
    )


def _policy_of_event(event: ConsentEvent) -> Policy:
    """The policy version the event was recorded under; the one in force if it is unknown."""
    versions = PolicyVersion.objects.filter(version=event.policy_version)
    if event.policy_hash:
        versions = PolicyVersion.objects.filter(content_hash=event.policy_hash)
    try:
        current = enforced_policy()
    except NoPolicyInForce:
        current = None
    if current is not None:
        versions = versions.filter(shop=current.policy.shop)
    found = versions.order_by("-published_at").first()
    if found is not None:
        return policy_of(found)
    if current is None:
        raise NoPolicyInForce("no policy is in force and the event's version is unknown")
    return current.policy


def _is_sensitive(policy: Policy, key: str) -> bool:
    try:
        declared = policy.field(key).sensitive
    except KeyError:
        return False
    if declared is not None:
        return declared
    standard = STANDARD_FIELDS.get(key)
    return bool(standard and standard.sensitive)


def _label(policy: Policy, key: str, language: str) -> str:
    try:
        return field_label(policy, key, language)
    except KeyError:
        return key


def _controller(policy: Policy, language: str) -> dict[str, Any]:
    controller = policy.controller
    dpo = controller.data_protection_contact
    email = (dpo.email if dpo and dpo.email else None) or controller.contact.email or ""
    return {
        "piiController": controller.legal_name,
        "onBehalf": False,
        "contact": controller.trade_name or controller.legal_name,
        "address": controller.address.get(language) if controller.address else "",
        "email": email,
        "phone": (dpo.phone if dpo and dpo.phone else None) or controller.contact.phone or "",
        "piiControllerUrl": controller.website,
    }


def _purpose_entry(policy: Policy, event: ConsentEvent, language: str) -> dict[str, Any]:
    key = event.purpose
    types = list(event.data_types)
    if key.startswith(COOKIE_PREFIX):
        category = key.removeprefix(COOKIE_PREFIX)
        declared = next(
            (c for c in (policy.cookies.categories if policy.cookies else []) if c.key == category),
            None,
        )
        services = declared.services if declared is not None else []
        providers = sorted({s.provider.get(language) for s in services})
        return {
            "purpose": str(COOKIE_CATEGORIES.get(category, category)),
            "purposeCategory": ["cookies", category],
            "consentType": "EXPLICIT",
            "piiCategory": [s.name.get(language) for s in services] or types,
            "primaryPurpose": category == "necessary",
            "termination": withdrawal_label(language),
            "thirdPartyDisclosure": bool(providers),
            "thirdPartyName": ", ".join(providers),
        }
    try:
        purpose = policy.purpose(key)
    except KeyError:
        purpose = None
    recipients = [r.name.get(language) for r in policy.recipients if key in r.purposes]
    if not types and purpose is not None:
        types = purpose_data_types(purpose)
    return {
        "purpose": purpose.name.get(language) if purpose is not None else key,
        "purposeCategory": [
            key,
            *([str(LEGAL_BASES[purpose.basis])] if purpose is not None else []),
            *(["direct marketing"] if purpose is not None and purpose.marketing else []),
        ],
        "consentType": "EXPLICIT",
        "piiCategory": [_label(policy, t, language) for t in types],
        "primaryPurpose": False,  # a purpose needing consent is never the core service
        "termination": withdrawal_label(language),
        "thirdPartyDisclosure": bool(recipients),
        "thirdPartyName": ", ".join(recipients),
    }


def _public_key_b64() -> str:
    return base64.b64encode(load_keyring().verify_key.public_bytes_raw()).decode("ascii")


def build_receipt(event: ConsentEvent) -> dict[str, Any]:
    """The signed receipt of one ledger event (Kantara CR v1.1 fields and ours)."""
    language = event.language if event.language in ("vi", "en") else "vi"
    policy = _policy_of_event(event)
    public_url = str(settings.PLEDGE_PUBLIC_URL or "").rstrip("/")
    with translation.override(language):
        sensitive = sorted(
            {
                _label(policy, t, language)
                for t in event.data_types
                if not event.purpose.startswith(COOKIE_PREFIX) and _is_sensitive(policy, t)
            }
        )
        notice = event.notice
        receipt: dict[str, Any] = {
            "version": KANTARA_VERSION,
            "jurisdiction": policy.controller.country or ", ".join(policy.jurisdictions),
            "consentTimestamp": int(event.at.timestamp()),
            "collectionMethod": event.method,
            "consentReceiptID": str(event.receipt_id),
            "publicKey": _public_key_b64(),
            "language": language,
            "piiPrincipalId": event.subject,
            "piiControllers": [_controller(policy, language)],
            "policyUrl": f"{public_url}/privacy/",
            "services": [
                {
                    "service": policy.controller.trade_name or policy.name,
                    "purposes": [_purpose_entry(policy, event, language)],
                }
            ],
            "sensitive": bool(sensitive),
            "spiCat": sensitive,
            # Beyond Kantara: what LAW.md asks a consent record to hold.
            "action": event.action,
            "channel": event.channel,
            "consentTime": event.at.isoformat(timespec="seconds"),
            "purposeKey": event.purpose,
            "dataTypes": list(event.data_types),
            "policyVersion": event.policy_version,
            "policyHash": event.policy_hash,
            "noticeText": notice.text if notice is not None else "",
            "noticeSha256": notice.sha256 if notice is not None else "",
        }
    return sign_receipt(receipt)


def _message(receipt: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in receipt.items() if k != "signature"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return RECEIPT_FORMAT + canonical.encode("utf-8")


def sign_receipt(receipt: dict[str, Any]) -> dict[str, Any]:
    keyring = load_keyring()
    signed = {k: v for k, v in receipt.items() if k != "signature"}
    signed["signature"] = {
        "alg": SIGNATURE_ALG,
        "keyId": keyring.signing_key_id,
        "value": keyring.signing_key.sign(_message(signed)).hex(),
    }
    return signed


def verify_receipt(receipt: Mapping[str, Any]) -> bool:
    """True when the receipt is exactly what Pledge signed with this keyring's key."""
    signature = receipt.get("signature") if isinstance(receipt, Mapping) else None
    if not isinstance(signature, Mapping) or signature.get("alg") != SIGNATURE_ALG:
        return False
    keyring = load_keyring()
    value = signature.get("value")
    if signature.get("keyId") != keyring.signing_key_id or not isinstance(value, str):
        return False
    try:
        keyring.verify_key.verify(bytes.fromhex(value), _message(receipt))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
