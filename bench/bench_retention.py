"""The retention sweep's rate (issue 8 item 4; P17): customers and values per second, run by
`make bench`.

    .venv/bin/python bench/bench_retention.py                      # SQLite, 100,000 customers
    .venv/bin/python bench/bench_retention.py --postgresql         # a throwaway PostgreSQL
    .venv/bin/python bench/bench_retention.py --customers 20000    # a quick look
    .venv/bin/python bench/bench_retention.py --batch 2000         # customers per transaction

1. A shop is written with the retention tests' generator (tests/retention/shop.py: the vault's
   own primitives, a data key per customer in the key store, values sealed by
   `CustomerKey.encrypt`, blind indexes of email and phone): customers over seven years, 0-3
   orders each with delivery details, invoices on half the completed orders, ~4% dormant for
   more than five years. The policy is preset B plus the tests' duration rules (whole customer
   5 years after their last activity, delivery details 2 years after the order's completion,
   profile phone 4 years after it was written, invoices 1 year, which the law's 10-year hold
   overrides). PostgreSQL then gets `ANALYZE` (a shop's tables have statistics; freshly loaded
   ones do not, and the first queries would be planned blind).
2. Timed, one after the other on the same shop: a dry run (plans everything, changes nothing), the
   sweep (erases the dormant customers set-wise, deletes the single due values, keeps what the
   hold keeps), and a second sweep (finds nothing). Each at `--batch` customers a transaction
   (default: PLEDGE_RETENTION_BATCH, 500). Wall time and process CPU time.
3. The end state is checked against the generator's own expectation (as the acceptance test
   does), so a fast wrong sweep fails the bench.

Figures: customers swept a second, encrypted values examined a second (every value of every
customer is read by the planner, none decrypted), values deleted a second (single values and
erased customers' values), customers erased a second. Writes bench/results/retention.json (or
retention-postgresql.json); the figures are kept in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
sys.path.insert(0, str(REPO))

from bench.bench_rights import PRESET, ThrowawayPostgres, log, setup_django  # noqa: E402
from bench.bench_vault import Figure, machine, print_table  # noqa: E402

DEFAULT_CUSTOMERS = 100_000


def timed(call: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run(args: argparse.Namespace, run_dir: Path, started: float, began: dt.datetime) -> int:
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone
    from tests.retention.shop import (
        expected_after_sweep,
        generate,
        ids,
        publish_retention_policy,
        state,
    )

    from pledge.retention.sweep import sweep
    from pledge.vault.models import EncryptedValue

    info = machine(run_dir)
    log(
        f"bench: {info['database']} · {info['nproc']} cores {info['cpu']} · "
        f"load {info['load_average_at_start'][0]:.2f}"
    )
    batch = args.batch or settings.PLEDGE_RETENTION_BATCH
    today = timezone.localdate()
    publish_retention_policy(today)
    log(f"bench: writing {args.customers:,} customers…")
    manifest, generate_s, _ = timed(lambda: generate(args.customers, today=today))
    if connection.vendor == "postgresql":
        # A shop's tables have statistics (autovacuum); a table loaded a moment ago has none yet.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    values = EncryptedValue.objects.count()
    expected = expected_after_sweep(manifest, today)
    log(f"  {generate_s:.0f} s; {values:,} encrypted values")

    dry, dry_s, dry_cpu = timed(lambda: sweep(dry_run=True, batch=batch))
    done, sweep_s, sweep_cpu = timed(lambda: sweep(batch=batch))
    again, again_s, again_cpu = timed(lambda: sweep(batch=batch))

    left, indexes, erased = state()
    if ids(erased) != ids(expected.erased) or left != expected.values:
        raise SystemExit("bench: the sweep did not remove exactly what was due")
    if indexes != expected.indexes or again.total_deleted or again.total_erased:
        raise SystemExit("bench: the sweep left lookup indexes, or the second sweep found work")
    gone = values - len(left)

    figures = [
        Figure("sweep_customers_s", "sweep: customers a second", args.customers / sweep_s, "/s"),
        Figure("sweep_values_s", "sweep: values examined a second", values / sweep_s, "/s"),
        Figure(
            "sweep_deleted_s",
            "sweep: values deleted a second",
            gone / sweep_s,
            "/s",
            note=f"{gone:,} values, {done.total_erased:,} customers erased",
        ),
        Figure("sweep_s", "sweep: wall time", sweep_s, "s", note=f"CPU {sweep_cpu:.1f} s"),
        Figure("dry_run_customers_s", "dry run: customers a second", args.customers / dry_s, "/s"),
        Figure("dry_run_s", "dry run: wall time", dry_s, "s", note=f"CPU {dry_cpu:.1f} s"),
        Figure(
            "second_sweep_customers_s",
            "second sweep (nothing due): customers a second",
            (args.customers - len(expected.erased)) / again_s,
            "/s",
            note=f"CPU {again_cpu:.1f} s",
        ),
        Figure("generate_s", "writing the shop", generate_s, "s"),
    ]
    for f in figures:
        shown = f"{f.value:,.1f}" if f.value < 10 else f"{f.value:,.0f}"
        log(f"  {f.label}: {shown} {f.unit} {f.note}")
    print_table(figures)
    seconds = time.perf_counter() - started
    report = {
        "started_at": began.isoformat(timespec="seconds"),
        "duration_s": round(seconds, 1),
        "machine": info,
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "batch": batch,
        "shop": {
            "customers": args.customers,
            "encrypted_values": values,
            "erased": done.total_erased,
            "deleted": done.deleted,
            "kept": done.kept,
            "dry_run": {"erased": dry.total_erased, "deleted": dry.total_deleted},
        },
        "figures": [asdict(f) for f in figures],
    }
    output = args.output or RESULTS / (
        "retention-postgresql.json" if info["database"] == "postgresql" else "retention.json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {output} ({seconds:.0f} s)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="Pledge retention sweep rate")
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--batch", type=int, default=None, help="customers per transaction")
    parser.add_argument("--database-url", default=None, help="postgresql://… (empty throwaway)")
    parser.add_argument(
        "--postgresql", action="store_true", help="start a throwaway PostgreSQL server"
    )
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the run's directory")
    args = parser.parse_args()
    if args.postgresql and args.database_url:
        parser.error("give --postgresql or --database-url, not both")
    if args.customers < 1_000:
        parser.error("at least 1,000 customers")
    if args.batch is not None and not 1 <= args.batch <= 100_000:
        parser.error("--batch must be between 1 and 100000")

    started = time.perf_counter()
    began = dt.datetime.now(dt.UTC)
    server: ThrowawayPostgres | None = None
    run_dir = Path(tempfile.mkdtemp(prefix="pledge-bench-retention-"))
    try:
        if args.postgresql:
            server = ThrowawayPostgres(run_dir / "pg")
            server.init()
            # The server's defaults (durable commits): the sweep is measured as it runs.
            server.start()
            args.database_url = server.create_database("pledge_bench")
            log(f"bench: PostgreSQL started on 127.0.0.1:{server.port}")
        setup_django(args.database_url, run_dir / "var", PRESET, fresh=True)
        return run(args, run_dir, started, began)
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            log(f"  kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
