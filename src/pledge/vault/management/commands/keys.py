"""`pledge keys status|rotate|rewrap|reapply-erasures`: master-key versions and the data keys they
wrap; after restoring a key-store backup, destroying again the keys of customers erased since."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pledge.keyring import KeyringError, load_keyring
from pledge.vault.erasure import reapply_erasures
from pledge.vault.keys import key_status, rewrap_data_keys, rotate_master_key


class Command(BaseCommand):
    help = "Show, rotate or finish rotating the master keys that wrap customers' data keys."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("status", help="master-key versions and how many data keys each wraps")
        for name, text in (
            ("rotate", "add a new master-key version and re-wrap every data key with it"),
            ("rewrap", "re-wrap data keys still under an older version (finish a rotation)"),
        ):
            p = sub.add_parser(name, help=text)
            p.add_argument("--batch", type=int, default=500, help="data keys per transaction")
            p.add_argument("--actor", default="system:keys", help="who runs it (audit log)")
        p = sub.add_parser(
            "reapply-erasures",
            help="after restoring a key-store backup: destroy again the keys of erased customers",
        )
        p.add_argument(
            "--orphans",
            action="store_true",
            help="also destroy the keys of customers the database does not know (deleted)",
        )
        p.add_argument("--batch", type=int, default=500, help="customers per batch")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "status":
            self._status()
            return
        batch = options["batch"]
        if not 1 <= batch <= 100_000:
            raise CommandError("--batch must be between 1 and 100000")
        if action == "reapply-erasures":
            self._reapply(orphans=options["orphans"], batch=batch)
            return

        def progress(n: int) -> None:
            self.stdout.write(f"  re-wrapped {n} data keys")

        try:
            if action == "rotate":
                report = rotate_master_key(actor=options["actor"], batch=batch, progress=progress)
                self.stdout.write(
                    f"master key version {report.version} is current; "
                    f"{report.rewrapped} data keys re-wrapped"
                )
            else:
                count = rewrap_data_keys(actor=options["actor"], batch=batch, progress=progress)
                self.stdout.write(f"{count} data keys re-wrapped")
        except KeyringError as exc:
            raise CommandError(str(exc)) from None
        self._status()

    def _reapply(self, *, orphans: bool, batch: int) -> None:
        report = reapply_erasures(orphans=orphans, batch=batch)
        self.stdout.write(
            f"{report.erased} erased customers checked; {report.destroyed} data keys destroyed"
            + (f" ({report.orphans} of customers the database does not know)" if orphans else "")
        )
        if report.held_keys_missing:
            # The erasure moved the held values to a key made after this backup: they are lost.
            raise CommandError(
                f"{report.held_keys_missing} erased customers have values under a legal hold but "
                "no key for them: the key-store backup predates their erasure, and the held "
                "records (e.g. invoices) can no longer be read"
            )

    def _status(self) -> None:
        keyring = load_keyring()
        counts = key_status()
        self.stdout.write(f"keyring: {keyring.source}")
        self.stdout.write(f"current master key version: {keyring.master.current_version()}")
        for version in keyring.master.versions():
            self.stdout.write(f"  version {version}: {counts.get(version, 0)} data keys")
        missing = sorted(set(counts) - set(keyring.master.versions()))
        if missing:
            raise CommandError(
                f"data keys are wrapped by master key versions missing from the keyring: {missing}"
            )
