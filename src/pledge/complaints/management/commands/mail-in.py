"""`pledge mail-in`: the inbound mail listener of the complaints desk (issue 7; docs/complaints.md,
"Inbound mail").

    pledge mail-in --port 2525                  # SMTP on 127.0.0.1:2525
    pledge mail-in --lmtp --port 2424           # LMTP (Postfix `lmtp:inet:127.0.0.1:2424`)
    pledge mail-in --host 0.0.0.0 --port 2525   # listen beyond this machine (behind a firewall)

The shop's mail server forwards complaint mail here; each message is vetted and filed by
`pledge.complaints.mailin`. The file name holds a hyphen so that the command is `mail-in`
(Django imports command modules by name; `import.py` in the vault does the same). SIGTERM or
SIGINT stops the listener after the messages in progress.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pledge.complaints.mailin import MailInController, log


class Command(BaseCommand):
    help = "Receive complaint emails over SMTP (or LMTP) and file them as complaints."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, required=True, help="port to listen on")
        parser.add_argument("--lmtp", action="store_true", help="speak LMTP instead of SMTP")

    def handle(self, *args: Any, **options: Any) -> None:
        port = options["port"]
        if not 0 < port < 65536:
            raise CommandError("--port must be between 1 and 65535")
        protocol = "LMTP" if options["lmtp"] else "SMTP"
        # aiosmtpd logs every connection at INFO, and the lines of a message at DEBUG: only its
        # warnings go to our log (the listener's own lines name the rules, never the sender).
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        controller = MailInController(host=options["host"], port=port, lmtp=options["lmtp"])
        stopping = threading.Event()

        def stop(signum: int, frame: FrameType | None) -> None:
            log.info("mail-in: %s received, stopping", signal.strsignal(signum))
            stopping.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, stop)
        try:
            controller.start()
        except (OSError, RuntimeError) as exc:
            raise CommandError(
                f"cannot listen on {options['host']}:{port} ({type(exc).__name__}: {exc})"
            ) from None
        log.info("mail-in: listening for %s on %s:%d", protocol, options["host"], port)
        try:
            stopping.wait()
        finally:
            controller.stop()
            log.info("mail-in: stopped")
