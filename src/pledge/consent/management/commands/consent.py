"""`pledge consent`: operator tools of the consent ledger.

- `pledge consent verify-receipt FILE` — exit 0 when a receipt (JSON, as the privacy center gives
  it) is exactly what this Pledge signed, 1 otherwise (an auditor's or a customer's check).
- `pledge consent rebuild-state` — rebuild the derived consent state from the ledger.
- `pledge consent expire` — expire cookie consents now (the worker does it on its own).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pledge.consent.receipts import verify_receipt
from pledge.consent.services import expire_due, rebuild_state

MAX_RECEIPT_BYTES = 1_000_000


class Command(BaseCommand):
    help = "Consent ledger tools: verify a receipt, rebuild the state, expire cookie consents."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify-receipt", help="check a receipt's signature")
        verify.add_argument("file", type=Path, help="the receipt, as JSON")
        sub.add_parser("rebuild-state", help="rebuild the current state from the ledger")
        sub.add_parser("expire", help="expire cookie consents older than the setting")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "rebuild-state":
            self.stdout.write(f"consent state rebuilt: {rebuild_state()} rows")
            return
        if action == "expire":
            self.stdout.write(f"cookie consents expired: {expire_due()}")
            return
        path: Path = options["file"]
        try:
            raw = path.read_bytes()[: MAX_RECEIPT_BYTES + 1]
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}") from None
        if len(raw) > MAX_RECEIPT_BYTES:
            raise CommandError(f"{path}: larger than {MAX_RECEIPT_BYTES:,} bytes")
        try:
            receipt = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            raise CommandError(f"{path}: not a JSON receipt") from None
        if not isinstance(receipt, dict) or not verify_receipt(receipt):
            self.stderr.write(
                f"{path}: NOT a receipt signed by this Pledge, or it was changed after signing"
            )
            raise SystemExit(1)
        self.stdout.write(
            f"{path}: genuine receipt {receipt.get('consentReceiptID')} "
            f"({receipt.get('action')}, {receipt.get('purposeKey')})"
        )
