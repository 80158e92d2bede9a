"""`pledge import customers FILE.csv --purpose P`: import customers from a CSV file.

Exit 0 when every row was imported or skipped (already present), 1 when some rows were rejected
(each reported by row number, field and rule, never its values), 2 when the file or the command
cannot be used as a whole (nothing is imported). See docs/vault.md and `vault/importer.py`.
"""

from __future__ import annotations

import csv
import sys
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import IO, Any, NoReturn

from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError
from tqdm import tqdm

from pledge.vault.access import Actor
from pledge.vault.errors import VaultError
from pledge.vault.importer import (
    DEFAULT_BATCH,
    MAX_BATCH,
    CsvLayout,
    ImportFileError,
    ImportResult,
    RowProblem,
    import_customers,
)

EXIT_REJECTED = 1
EXIT_FILE = 2
EXIT_INTERRUPTED = 130
# Problems printed to stderr; all of them go to --report.
SHOWN_PROBLEMS = 50
ACTOR_MAX_LENGTH = 60


class Command(BaseCommand):
    help = "Import customers from a UTF-8 CSV file, for a purpose of the policy in force."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="kind", required=True, parser_class=ArgumentParser)
        customers = sub.add_parser(
            "customers",
            help="one customer per row; columns are the policy's field keys",
            description=(
                "Columns: the policy's field keys the purpose collects (full_name, email, "
                "phone, …), optionally external_ref (or customer_ref: re-runs skip references "
                "already imported; without it, emails already in the vault are skipped) and "
                "language (vi/en). UTF-8, with or without BOM; lines of at most 64 KiB. "
                "Exit 0: all imported or skipped; 1: some rows rejected; 2: nothing imported."
            ),
        )
        customers.add_argument("file", type=Path, help="the CSV file")
        customers.add_argument("--purpose", required=True, help="the policy purpose collecting")
        customers.add_argument(
            "--actor", default="cli", help="who imports, kept on record as system:import:NAME"
        )
        customers.add_argument(
            "--batch",
            type=int,
            default=DEFAULT_BATCH,
            help=f"rows per transaction (1-{MAX_BATCH}, default {DEFAULT_BATCH})",
        )
        customers.add_argument(
            "--consent-method",
            default=None,
            help="for a purpose based on consent: how these customers consented (recorded)",
        )
        customers.add_argument(
            "--report", type=Path, default=None, help="write every rejected row to this CSV file"
        )
        customers.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        err: IO[str] = getattr(self.stderr, "_out", sys.stderr)
        path: Path = options["file"]
        actor_name: str = options["actor"]
        if not 1 <= len(actor_name) <= ACTOR_MAX_LENGTH or not actor_name.isprintable():
            self._fail(f"--actor must be 1-{ACTOR_MAX_LENGTH} printable characters")
        actor = Actor(kind="system", id=f"import:{actor_name}")
        report: _Report | None = None
        shown: list[RowProblem] = []
        problems = 0
        bar: tqdm[Any] | None = None

        def on_start(layout: CsvLayout) -> None:
            nonlocal bar
            bar = tqdm(
                total=layout.rows,
                unit=" rows",
                desc="import",
                file=err,
                disable=options["quiet"] or not err.isatty(),
                dynamic_ncols=True,
            )

        def on_progress(rows: int) -> None:
            if bar is not None:
                bar.update(rows)

        def on_reject(problem: RowProblem) -> None:
            nonlocal problems
            problems += 1
            if len(shown) < SHOWN_PROBLEMS:
                shown.append(problem)
            if report is not None:
                report.write(problem)

        started = time.monotonic()
        try:
            if options["report"]:
                report = _Report(options["report"])
            result = import_customers(
                path,
                purpose=options["purpose"],
                actor=actor,
                batch_size=options["batch"],
                consent_method=options["consent_method"],
                on_start=on_start,
                on_progress=on_progress,
                on_reject=on_reject,
            )
        except ImportFileError as exc:
            self._close(bar, report)
            where = f"{path}: line {exc.line}" if exc.line else str(path)
            self._fail(f"{where}: {exc.message}", committed=exc.committed)
        except VaultError as exc:
            self._close(bar, report)
            lines = [exc.message] + [
                f"  {p.field or '-'}: {p.rule}: {p.message}" for p in exc.problems
            ]
            self._fail("\n".join(lines))
        except OSError as exc:
            self._close(bar, report)
            self._fail(f"{exc.filename or path}: {exc.strerror or exc}")
        except DatabaseError as exc:
            self._close(bar, report)
            first = str(exc).splitlines()[0] if str(exc) else ""
            self._fail(
                f"database error ({type(exc).__name__}: {first}); whole batches committed "
                "before it stay, and a re-run skips them",
                committed=-1,
            )
        except KeyboardInterrupt:
            self._close(bar, report)
            err.write(
                "pledge import: interrupted; whole batches committed before it stay, and a "
                "re-run of the same command skips them\n"
            )
            raise SystemExit(EXIT_INTERRUPTED) from None
        self._close(bar, report)
        self._summarise(result, time.monotonic() - started, shown, problems, options["report"])
        if result.exit_code:
            raise SystemExit(result.exit_code)

    def _close(self, bar: tqdm[Any] | None, report: _Report | None) -> None:
        if bar is not None:
            bar.close()
        if report is not None:
            report.close()

    def _fail(self, message: str, *, committed: int = 0) -> NoReturn:
        if committed > 0:
            tail = f"{committed:,} customers were imported before it; a re-run skips them"
        elif committed < 0:
            tail = ""
        else:
            tail = "nothing was imported"
        self.stderr.write(f"pledge import: {message}" + (f"\n{tail}" if tail else ""))
        raise SystemExit(EXIT_FILE)

    def _summarise(
        self,
        result: ImportResult,
        seconds: float,
        shown: list[RowProblem],
        problems: int,
        report: Path | None,
    ) -> None:
        for p in shown:
            self.stderr.write(f"row {p.row}: {p.field or '-'}: {p.rule}: {p.message}")
        if problems > len(shown):
            more = f"… and {problems - len(shown):,} more problems"
            self.stderr.write(more + (f" (all in {report})" if report else " (see --report)"))
        rate = result.rows / seconds if seconds > 0 else 0.0
        self.stdout.write(
            f"{result.rows:,} rows: {result.imported:,} imported, {result.skipped:,} skipped "
            f"(already present, by {result.identity}), {result.rejected:,} rejected; "
            f"{seconds:.1f} s ({rate:,.0f} rows/s)"
        )


class _Report:
    """--report: one CSV line per problem of each rejected row; never a value of the row."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        self._writer = csv.writer(self._file)
        self._writer.writerow(["row", "field", "rule", "message"])

    def write(self, problem: RowProblem) -> None:
        self._writer.writerow([problem.row, problem.field or "", problem.rule, problem.message])

    def close(self) -> None:
        self._file.close()
