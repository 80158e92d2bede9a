"""Consent receipts: the Kantara CR v1.1 fields, signed with the keyring's Ed25519 key, any change
detected, and only the customer's own receipt given out."""

from __future__ import annotations

import copy
import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError

from pledge.consent import receipts, services
from pledge.consent.models import ConsentEvent
from pledge.keyring import load_keyring

KANTARA_FIELDS = {
    "version",
    "jurisdiction",
    "consentTimestamp",
    "collectionMethod",
    "consentReceiptID",
    "publicKey",
    "language",
    "piiPrincipalId",
    "piiControllers",
    "policyUrl",
    "services",
    "sensitive",
    "spiCat",
}
PURPOSE_FIELDS = {
    "purpose",
    "purposeCategory",
    "consentType",
    "piiCategory",
    "primaryPurpose",
    "termination",
    "thirdPartyDisclosure",
    "thirdPartyName",
}


@pytest.fixture
def given(leman: Any, customer: uuid.UUID, settings: Any) -> ConsentEvent:
    settings.PLEDGE_PUBLIC_URL = "https://privacy.leman.example"
    return services.give_consent(
        customer_id=customer,
        purpose="customer_database",
        method="checkbox",
        actor="api:shop",
        channel="web",
        language="en",
    )


def test_the_receipt_has_the_kantara_fields_and_the_proof(
    given: ConsentEvent, customer: uuid.UUID, leman: Any
) -> None:
    receipt = receipts.build_receipt(
        receipts.receipt_for(customer_id=customer, receipt_id=given.receipt_id)
    )
    assert set(receipt) >= KANTARA_FIELDS
    assert receipt["version"] == "KI-CR-v1.1.0"
    assert receipt["consentReceiptID"] == str(given.receipt_id)
    assert receipt["consentTimestamp"] == int(given.at.timestamp())
    assert receipt["collectionMethod"] == "checkbox"
    assert receipt["language"] == "en"
    assert receipt["piiPrincipalId"] == f"customer:{customer}"
    assert receipt["jurisdiction"] == "vn-pdpl-2026"  # preset B names no country
    assert receipt["policyUrl"] == "https://privacy.leman.example/privacy/"
    (controller,) = receipt["piiControllers"]
    assert {"piiController", "contact", "address", "email", "phone"} <= set(controller)
    assert controller["piiController"] == leman.policy.controller.legal_name
    (service,) = receipt["services"]
    (purpose,) = service["purposes"]
    assert set(purpose) == PURPOSE_FIELDS
    assert purpose["purpose"] == "Managing the customer database"
    assert purpose["consentType"] == "EXPLICIT"
    assert "email address" in purpose["piiCategory"]
    assert purpose["primaryPurpose"] is False
    assert "withdraw" in purpose["termination"]
    assert receipt["sensitive"] is False and receipt["spiCat"] == []
    # What LAW.md asks beyond Kantara: the exact text and its hash, the version, the channel.
    assert given.notice is not None
    assert receipt["noticeText"] == given.notice.text
    assert receipt["noticeSha256"] == given.notice.sha256
    assert (receipt["policyVersion"], receipt["policyHash"]) == (leman.version, leman.content_hash)
    assert (receipt["action"], receipt["channel"]) == ("given", "web")
    assert receipt["signature"]["alg"] == "Ed25519"
    assert receipt["signature"]["keyId"] == load_keyring().signing_key_id


def test_the_signature_verifies_and_survives_json(given: ConsentEvent) -> None:
    receipt = receipts.build_receipt(given)
    assert receipts.verify_receipt(receipt)
    printed = json.dumps(receipt, ensure_ascii=False, indent=2)
    assert receipts.verify_receipt(json.loads(printed))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: r.__setitem__("consentTimestamp", r["consentTimestamp"] - 86400),
        lambda r: r.__setitem__("noticeText", r["noticeText"] + " (and partners)"),
        lambda r: r["services"][0]["purposes"][0].__setitem__("purpose", "Anything"),
        lambda r: r.__setitem__("action", "withdrawn"),
        lambda r: r.__setitem__("extra", "field"),
        lambda r: r.pop("spiCat"),
        lambda r: r["signature"].__setitem__("value", "00" * 64),
        lambda r: r["signature"].__setitem__("value", "not hex"),
        lambda r: r["signature"].__setitem__("keyId", "someone-else"),
        lambda r: r["signature"].__setitem__("alg", "none"),
        lambda r: r.pop("signature"),
    ],
)
def test_any_change_is_detected(given: ConsentEvent, tamper: Callable[[Any], Any]) -> None:
    receipt = receipts.build_receipt(given)
    changed = copy.deepcopy(receipt)
    tamper(changed)
    assert not receipts.verify_receipt(changed)
    assert receipts.verify_receipt(receipt)


def test_a_receipt_signed_with_another_key_is_refused(given: ConsentEvent) -> None:
    receipt = receipts.build_receipt(given)
    forger = Ed25519PrivateKey.generate()
    receipt["signature"]["value"] = forger.sign(receipts._message(receipt)).hex()
    assert not receipts.verify_receipt(receipt)
    assert not receipts.verify_receipt("not a receipt")  # type: ignore[arg-type]


def test_another_customers_receipt_is_refused(
    given: ConsentEvent, new_customer: Callable[..., uuid.UUID]
) -> None:
    other = new_customer("other@example.vn")
    with pytest.raises(ConsentEvent.DoesNotExist):
        receipts.receipt_for(customer_id=other, receipt_id=given.receipt_id)
    with pytest.raises(ConsentEvent.DoesNotExist):
        receipts.receipt_for(customer_id=other, receipt_id="not-a-uuid")
    with pytest.raises(ConsentEvent.DoesNotExist):
        receipts.receipt_for(customer_id=other, receipt_id=uuid.uuid4())


def test_a_withdrawal_and_a_cookie_choice_have_receipts_too(
    given: ConsentEvent, customer: uuid.UUID
) -> None:
    withdrawn = services.withdraw_consent(
        customer_id=customer, purpose="customer_database", method="switch", actor="t"
    )
    assert withdrawn is not None
    receipt = receipts.build_receipt(withdrawn)
    assert receipt["action"] == "withdrawn" and receipt["language"] == "vi"
    assert receipt["services"][0]["purposes"][0]["purpose"] == "Quản lý cơ sở dữ liệu khách hàng"
    assert receipts.verify_receipt(receipt)
    (cookie,) = services.record_cookie_choice(
        visitor_id="v-1",
        customer_id=None,
        choices={"advertising": True},
        method="banner_custom",
        language="en",
        actor="visitor:x",
        notice_text="Advertising cookies?",
    )
    cookie_receipt = receipts.build_receipt(cookie)
    assert cookie_receipt["piiPrincipalId"] == f"visitor:{cookie.visitor[:12]}"  # type: ignore[index]
    purpose = cookie_receipt["services"][0]["purposes"][0]
    assert purpose["purpose"] == "advertising"
    assert purpose["purposeCategory"] == ["cookies", "advertising"]
    assert cookie_receipt["noticeText"] == "Advertising cookies?"
    assert receipts.verify_receipt(cookie_receipt)


def test_a_receipt_reads_the_same_after_a_new_policy_version(
    given: ConsentEvent, customer: uuid.UUID
) -> None:
    from tests.consent.conftest import publish, variant_of_leman

    before = receipts.build_receipt(given)
    publish(variant_of_leman("2099-renamed", name="Renamed shop"))
    after = receipts.build_receipt(given)
    before.pop("signature"), after.pop("signature")
    assert before == after


def run_command(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("consent", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    except CommandError as exc:
        return 2, out.getvalue(), str(exc)
    return 0, out.getvalue(), err.getvalue()


def test_the_command_verifies_a_printed_receipt(given: ConsentEvent, tmp_path: Path) -> None:
    receipt = receipts.build_receipt(given)
    genuine = tmp_path / "receipt.json"
    genuine.write_text(json.dumps(receipt, ensure_ascii=False), encoding="utf-8")
    code, out, _ = run_command("verify-receipt", str(genuine))
    assert code == 0 and str(given.receipt_id) in out
    receipt["noticeText"] = "Something else"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(receipt), encoding="utf-8")
    code, _, err = run_command("verify-receipt", str(changed))
    assert code == 1 and "NOT a receipt" in err
    broken = tmp_path / "broken.json"
    broken.write_bytes(b"\xff{not json")
    code, _, err = run_command("verify-receipt", str(broken))
    assert code == 2 and "not a JSON receipt" in err
    code, _, err = run_command("verify-receipt", str(tmp_path / "missing.json"))
    assert code == 2 and "missing.json" in err
