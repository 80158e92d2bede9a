"""`pledge audit verify`: exit 0 when the chain is intact, 1 naming the first bad event."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.audit.verify import verify_chain


class Command(BaseCommand):
    help = "Verify the audit log's hash chain and signed checkpoints."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="check every event and checkpoint")
        verify.add_argument("--json", action="store_true", help="machine-readable result")
        verify.add_argument(
            "--no-record",
            action="store_true",
            help="do not append an audit:verified event when the chain is intact",
        )
        verify.add_argument("--actor", default="system:audit-verify", help="who runs it")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        result = verify_chain()
        seconds = time.perf_counter() - started
        if result.ok and not options["no_record"]:
            # Proof of the check itself (issue 4's dashboard shows when and by whom).
            record_event(
                EventType.AUDIT_VERIFIED,
                actor=options["actor"],
                details={"events": result.events, "head": result.head_hash[:16]},
            )
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": result.ok,
                        "events": result.events,
                        "checkpoints": result.checkpoints,
                        "last_seq": result.last_seq,
                        "head_hash": result.head_hash,
                        "bad_seq": result.bad_seq,
                        "problem": result.problem,
                        "seconds": round(seconds, 3),
                    }
                )
            )
        elif result.ok:
            self.stdout.write(
                f"audit log intact: {result.events} events, {result.checkpoints} signed "
                f"checkpoints, head {result.head_hash[:16]}… ({seconds:.2f} s)"
            )
        else:
            self.stderr.write(f"audit log NOT intact: first bad event {result.bad_seq}")
            self.stderr.write(f"  {result.problem}")
        if not result.ok:
            raise SystemExit(1)
