"""Benchmarks of the vault, the CSV import and the audit log against the budgets of
ARCHITECTURE.md ("Performance budgets"), run by `make bench`.

    .venv/bin/python bench/bench_vault.py                 # SQLite in a temp dir, ~1-3 min, 2 cores
    .venv/bin/python bench/bench_vault.py --full          # the import at 100,000 rows
    .venv/bin/python bench/bench_vault.py --database-url postgresql://user@127.0.0.1/pledge_bench
    .venv/bin/python bench/bench_vault.py --profile       # + cProfile of each figure

The bench sets Django up itself (a temporary PLEDGE_VAR_DIR with its own keyring and SQLite file,
or the given PostgreSQL database, which must be an empty throwaway one), migrates, publishes the
leman-jewelry preset and measures. Where a plain baseline exists (unencrypted rows of the same
columns in a table made only for the bench) the ratio is measured in the same run, since absolute
figures move with the machine. It prints a table and writes bench/results/latest.json; the figures
and the machine they came from are kept in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import datetime as dt
import io
import json
import os
import platform
import pstats
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
sys.path.insert(0, str(REPO))

PRESET = "leman-jewelry"
PURPOSE = "order_fulfilment"
BUDGET_WRITES = 2_000  # /s, ARCHITECTURE.md
BUDGET_READS = 5_000  # /s
BUDGET_IMPORT_S = 60.0  # for 100,000 customers
BUDGET_VERIFY = 500_000  # events/s
BUDGET_APPEND_MS = 0.2  # added to a request


@dataclass
class Figure:
    key: str
    label: str
    value: float
    unit: str
    budget: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class Bench:
    args: argparse.Namespace
    figures: list[Figure] = field(default_factory=list)
    profiles: dict[str, str] = field(default_factory=dict)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        shown = f"{figure.value:,.3f}" if figure.value < 10 else f"{figure.value:,.0f}"
        print(f"  {figure.label}: {shown} {figure.unit}", file=sys.stderr)
        return figure

    @contextmanager
    def measure(self, name: str) -> Iterator[None]:
        """cProfile the block when --profile is given (figures then include its overhead)."""
        if not self.args.profile:
            yield
            return
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            yield
        finally:
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
            self.profiles[name] = out.getvalue()


# -- set-up -----------------------------------------------------------------------------------


def setup_django(args: argparse.Namespace) -> Path:
    var_dir = Path(tempfile.mkdtemp(prefix="pledge-bench-"))
    os.environ["PLEDGE_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "pledge.settings"
    os.environ.setdefault("PLEDGE_LOG_LEVEL", "WARNING")
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    from pledge.audit.models import AuditEvent
    from pledge.policy.loader import load_policy
    from pledge.policy.services import publish_policy
    from pledge.vault.models import Customer

    call_command("migrate", interactive=False, verbosity=0)
    if Customer.objects.exists() or AuditEvent.objects.exists():
        raise SystemExit(
            "bench: the database already holds customers or audit events; give an empty, "
            "throwaway database (the bench adds ~250,000 rows and keeps them)"
        )
    loaded = load_policy(PRESET)
    publish_policy(loaded, actor="bench", effective_date=loaded.policy.effective_date)
    return var_dir


def plain_model() -> Any:
    """The baseline: the same columns, unencrypted, in a table of their own, with the indexes a
    shop's own table would have for the same lookups."""
    from django.db import connection, models

    class PlainCustomer(models.Model):
        id = models.UUIDField(primary_key=True, default=uuid.uuid4)
        created_at = models.DateTimeField(auto_now_add=True)
        full_name = models.CharField(max_length=200, db_index=True)
        email = models.CharField(max_length=254, db_index=True)
        phone = models.CharField(max_length=32, db_index=True)
        address = models.CharField(max_length=500)

        class Meta:
            app_label = "bench"
            db_table = "bench_plain_customer"

        def __str__(self) -> str:
            return str(self.id)

    with connection.schema_editor() as editor:
        editor.create_model(PlainCustomer)
    return PlainCustomer


def drop_plain(model: Any) -> None:
    from django.db import connection

    with connection.schema_editor() as editor:
        editor.delete_model(model)


# -- measurements -----------------------------------------------------------------------------


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def bench_writes(bench: Bench, plain: Any) -> list[uuid.UUID]:
    from bench.datagen import customers, write_fields
    from pledge.vault import services
    from pledge.vault.access import Actor

    n = bench.args.writes
    # Other people than the imported ones (their emails carry their index): lookups find one.
    rows = [write_fields(p) for p in customers(n, seed=7, ref_prefix="w-", start=1_000_001)]
    shop = Actor(kind="api", id="bench", purposes=frozenset({PURPOSE}))
    ids: list[uuid.UUID] = []
    with bench.measure("writes"):
        started = time.perf_counter()
        for fields in rows:
            ids.append(services.collect_customer(actor=shop, purpose=PURPOSE, fields=fields))
        encrypted = rate(n, time.perf_counter() - started)
    started = time.perf_counter()
    for fields in rows:
        plain.objects.create(**fields)
    baseline = rate(n, time.perf_counter() - started)
    bench.add(
        Figure(
            "write_per_s",
            f"encrypted customer writes via collect_customer ({len(rows[0])} fields, "
            "3 blind indexes, audit)",
            encrypted,
            "/s",
            f"≥ {BUDGET_WRITES:,}/s",
            encrypted >= BUDGET_WRITES,
        )
    )
    bench.add(Figure("plain_write_per_s", "plain ORM writes of the same rows", baseline, "/s"))
    bench.add(
        Figure("write_ratio", "encrypted write time / plain write time", baseline / encrypted, "×")
    )
    return ids


def bench_reads(bench: Bench, plain: Any, ids: list[uuid.UUID]) -> None:
    from pledge.vault import services
    from pledge.vault.access import Actor

    n = bench.args.reads
    rng = random.Random(1)
    sales = Actor(kind="staff", id="bench-sales", role="sales")
    wanted = [rng.choice(ids) for _ in range(n)]
    with bench.measure("reads"):
        started = time.perf_counter()
        for customer_id in wanted:
            services.read_customer(actor=sales, purpose=PURPOSE, customer_id=customer_id)
        checked = rate(n, time.perf_counter() - started)
    plain_ids = list(plain.objects.values_list("id", flat=True)[: len(ids)])
    wanted_plain = [rng.choice(plain_ids) for _ in range(n)]
    started = time.perf_counter()
    for pk in wanted_plain:
        plain.objects.get(pk=pk)
    baseline = rate(n, time.perf_counter() - started)
    bench.add(
        Figure(
            "read_per_s",
            "purpose-checked reads via read_customer (decrypt, mask, audit)",
            checked,
            "/s",
            f"≥ {BUDGET_READS:,}/s",
            checked >= BUDGET_READS,
        )
    )
    bench.add(Figure("plain_read_per_s", "plain ORM reads by primary key", baseline, "/s"))
    bench.add(Figure("read_ratio", "checked read time / plain read time", baseline / checked, "×"))


def bench_import(bench: Bench) -> None:
    from bench.datagen import write_customers_csv
    from pledge.vault.access import Actor
    from pledge.vault.importer import import_customers

    n = 100_000 if bench.args.full else bench.args.import_rows
    path = Path(os.environ["PLEDGE_VAR_DIR"]) / "customers.csv"
    started = time.perf_counter()
    write_customers_csv(path, n, ref_prefix="imp-")
    print(f"  (generated {n:,} CSV rows in {time.perf_counter() - started:.1f} s)", file=sys.stderr)
    with bench.measure("import"):
        started = time.perf_counter()
        result = import_customers(
            path, purpose=PURPOSE, actor=Actor(kind="system", id="import:bench")
        )
        seconds = time.perf_counter() - started
    assert result.imported == n and result.rejected == 0, result
    per_s = rate(n, seconds)
    projected = 100_000 / per_s
    bench.add(Figure("import_per_s", f"CSV import, {n:,} rows", per_s, "rows/s"))
    bench.add(
        Figure(
            "import_100k_s",
            "CSV import of 100,000 customers"
            + ("" if n == 100_000 else f" (projected from {n:,})"),
            projected if n != 100_000 else seconds,
            "s",
            f"≤ {BUDGET_IMPORT_S:.0f} s",
            (projected if n != 100_000 else seconds) <= BUDGET_IMPORT_S,
            "" if n == 100_000 else "linear projection; run with --full to measure it",
        )
    )


def bench_lookups(bench: Bench) -> None:
    from pledge.vault import services
    from pledge.vault.access import Actor
    from pledge.vault.models import Customer

    n = bench.args.lookups
    total = Customer.objects.count()
    # Emails of the imported customers, as the shop knows them (the CSV): nothing is decrypted.
    with open(Path(os.environ["PLEDGE_VAR_DIR"]) / "customers.csv", encoding="utf-8") as f:
        emails = [row["email"] for row in csv.DictReader(f)]
    emails = random.Random(2).sample(emails, min(n, len(emails)))
    sales = Actor(kind="staff", id="bench-sales", role="sales")
    timings: list[float] = []
    with bench.measure("lookups"):
        for email in emails:
            started = time.perf_counter()
            found = services.lookup_customers(actor=sales, purpose=PURPOSE, by="email", value=email)
            timings.append((time.perf_counter() - started) * 1000)
            assert len(found) == 1
    cuts = statistics.quantiles(timings, n=100)
    bench.add(
        Figure("lookup_p50_ms", f"lookup by email among {total:,} customers, p50", cuts[49], "ms")
    )
    bench.add(
        Figure("lookup_p95_ms", f"lookup by email among {total:,} customers, p95", cuts[94], "ms")
    )


def bench_audit(bench: Bench, plain: Any) -> None:
    from django.db import transaction

    from pledge.audit.events import EventType
    from pledge.audit.services import record_event

    n = bench.args.appends
    ids = [uuid.uuid4() for _ in range(n)]
    with bench.measure("appends"):
        started = time.perf_counter()
        for customer_id in ids:
            record_event(
                EventType.CUSTOMER_READ,
                actor="staff:bench",
                actor_role="sales",
                customer_id=customer_id,
                purpose=PURPOSE,
                fields=("email", "full_name", "phone"),
            )
        appends = rate(n, time.perf_counter() - started)
    bench.add(
        Figure("audit_append_per_s", "audit appends (record_event, own transaction)", appends, "/s")
    )

    # The added cost: the same small write transaction with and without one append, interleaved
    # in blocks so that drift of the machine hits both alike.
    row = {"full_name": "x", "email": "x@example.com", "phone": "+84912345678"}
    without = with_event = 0.0
    block = 250
    for start in range(0, n, block):
        chunk = ids[start : start + block]
        started = time.perf_counter()
        for _ in chunk:
            with transaction.atomic():
                plain.objects.create(address="", **row)
        without += time.perf_counter() - started
        started = time.perf_counter()
        for customer_id in chunk:
            with transaction.atomic():
                plain.objects.create(address="", **row)
                record_event(
                    EventType.CUSTOMER_UPDATED,
                    actor="staff:bench",
                    customer_id=customer_id,
                    purpose=PURPOSE,
                    fields=("email",),
                )
        with_event += time.perf_counter() - started
    added = (with_event - without) / n * 1000
    bench.add(
        Figure(
            "audit_append_added_ms",
            "added cost of one audit append to a write transaction",
            added,
            "ms",
            f"≤ {BUDGET_APPEND_MS} ms",
            added <= BUDGET_APPEND_MS,
        )
    )


def bench_verify(bench: Bench) -> None:
    from pledge.audit.events import EventType
    from pledge.audit.models import AuditEvent
    from pledge.audit.services import EventSpec, record_events
    from pledge.audit.verify import verify_chain

    target = bench.args.verify_events
    have = AuditEvent.objects.count()
    missing = max(0, target - have)
    spec = EventSpec(
        EventType.CUSTOMER_READ,
        actor="staff:bench",
        actor_role="sales",
        purpose=PURPOSE,
        fields=("email", "full_name"),
    )
    started = time.perf_counter()
    while missing > 0:
        count = min(5_000, missing)
        record_events([spec] * count)
        missing -= count
    filled = target - have
    if filled > 0:
        seconds = time.perf_counter() - started
        bench.add(
            Figure(
                "audit_bulk_append_per_s",
                "audit appends in batches of 5,000 (record_events)",
                rate(filled, seconds),
                "/s",
            )
        )
    best = float("inf")
    result = None
    with bench.measure("verify"):
        for _ in range(2):
            started = time.perf_counter()
            result = verify_chain()
            best = min(best, time.perf_counter() - started)
    assert result is not None and result.ok, result
    per_s = rate(result.events, best)
    bench.add(
        Figure(
            "verify_per_s",
            f"audit chain verification over {result.events:,} events (best of 2)",
            per_s,
            "events/s",
            f"≥ {BUDGET_VERIFY:,}/s",
            per_s >= BUDGET_VERIFY,
        )
    )


# -- report -----------------------------------------------------------------------------------


def machine(var_dir: Path) -> dict[str, Any]:
    from django.db import connection

    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return ""

    try:
        disk = subprocess.run(
            ["df", "-hT", str(var_dir)], capture_output=True, text=True, check=False
        ).stdout.splitlines()[-1]
    except (OSError, IndexError):
        disk = ""
    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": first("/proc/cpuinfo", "model name"),
        "ram": first("/proc/meminfo", "MemTotal"),
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "os": platform.platform(),
        "database": connection.vendor,
        "disk": " ".join(disk.split()),
    }
    if connection.vendor == "sqlite":
        info["sqlite"] = sqlite3.sqlite_version
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            info["postgresql"] = cursor.fetchone()[0]
    import django

    info["django"] = django.get_version()
    return info


def print_table(figures: list[Figure]) -> None:
    width = max(len(f.label) for f in figures)
    print()
    print(f"{'measure':<{width}}  {'figure':>16}  {'budget':<14}  met?")
    print("-" * (width + 42))
    for f in figures:
        value = f"{f.value:,.3f}" if f.value < 10 else f"{f.value:,.0f}"
        met = "" if f.met is None else ("yes" if f.met else "NO")
        print(f"{f.label:<{width}}  {value + ' ' + f.unit:>16}  {f.budget:<14}  {met}")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description="Pledge vault, import and audit benchmarks")
    parser.add_argument("--database-url", default=None, help="postgresql://… (empty throwaway)")
    parser.add_argument("--full", action="store_true", help="import 100,000 rows")
    parser.add_argument("--writes", type=int, default=5_000)
    parser.add_argument("--reads", type=int, default=5_000)
    parser.add_argument("--import-rows", type=int, default=20_000)
    parser.add_argument("--lookups", type=int, default=1_000)
    parser.add_argument("--appends", type=int, default=5_000)
    parser.add_argument("--verify-events", type=int, default=250_000)
    parser.add_argument("--profile", action="store_true", help="cProfile each measurement")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary var dir")
    args = parser.parse_args()
    if args.full:
        args.import_rows = 100_000

    started = time.perf_counter()
    began = dt.datetime.now(dt.UTC)
    var_dir = setup_django(args)
    bench = Bench(args)
    info = machine(var_dir)
    print(
        f"bench: {info['database']} · {info['nproc']} cores {info['cpu']} · "
        f"load {info['load_average_at_start'][0]:.2f}",
        file=sys.stderr,
    )
    plain = plain_model()
    try:
        ids = bench_writes(bench, plain)
        bench_reads(bench, plain, ids)
        bench_import(bench)
        bench_lookups(bench)
        bench_audit(bench, plain)
        bench_verify(bench)
    finally:
        drop_plain(plain)
        if not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)
    seconds = time.perf_counter() - started
    print_table(bench.figures)
    missed = [f.label for f in bench.figures if f.met is False]
    print(f"{len(missed)} budget(s) missed" + (": " + "; ".join(missed) if missed else ""))
    report = {
        "started_at": began.isoformat(timespec="seconds"),
        "duration_s": round(seconds, 1),
        "machine": info,
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "figures": [asdict(f) for f in bench.figures],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    for name, text in bench.profiles.items():
        (args.output.parent / f"profile-{name}.txt").write_text(text)
    print(f"wrote {args.output} ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
