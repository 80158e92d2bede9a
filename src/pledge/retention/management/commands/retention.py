"""`pledge retention sweep [--dry-run] [--batch N]`: delete what the policy keeps no longer (P17).

Takes up an unfinished run where it stopped (after a crash) or starts one; prints one line per
committed batch, then the run's proof-of-deletion report (counts only, no personal data)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pledge.retention.models import RetentionRun
from pledge.retention.sweep import BatchOutcome, SweepUnavailable, sweep


class Command(BaseCommand):
    help = "Retention sweeps: delete or crypto-shred what the policy's retention rules make due."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        p = sub.add_parser("sweep", help="run (or take up) a retention sweep")
        p.add_argument(
            "--dry-run", action="store_true", help="count what is due and change nothing"
        )
        p.add_argument("--batch", type=int, help="customers per transaction")
        p.add_argument("--actor", default="system:retention", help="who runs it (audit log)")

    def handle(self, *args: Any, **options: Any) -> None:
        batch = options["batch"]
        if batch is not None and not 1 <= batch <= 100_000:
            raise CommandError("--batch must be between 1 and 100000")
        actor = str(options["actor"])
        if not actor or len(actor) > 120:
            raise CommandError("--actor must be 1 to 120 characters")

        def progress(run: RetentionRun, outcome: BatchOutcome) -> None:
            if not outcome.finished:
                self.stdout.write(
                    f"batch {run.batches}: {outcome.customers} customers, "
                    f"{outcome.deleted} values deleted, {outcome.erased} customers erased"
                )
                self.stdout.flush()

        try:
            run = sweep(dry_run=options["dry_run"], actor=actor, batch=batch, progress=progress)
        except SweepUnavailable as exc:
            raise CommandError(f"no retention sweep: {exc}") from None
        what = "dry run (nothing changed)" if run.dry_run else "sweep"
        self.stdout.write(
            f"retention {what} {run.pk} finished: {run.customers_seen} customers seen, "
            f"{run.total_erased} erased, {run.total_deleted} items deleted, "
            f"{run.total_kept} kept under a legal hold"
        )
        for title, table in (("deleted", run.deleted), ("kept", run.kept)):
            for key, per in table.items():
                for category, n in per.items():
                    self.stdout.write(f"  {title} {key} {category}: {n}")
        for key, n in run.customers_erased.items():
            self.stdout.write(f"  erased {key}: {n} customers")
        if run.open_ended:
            self.stdout.write(
                "  rules that never end by the calendar (not swept): " + ", ".join(run.open_ended)
            )
