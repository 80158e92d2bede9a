"""Server time of the staff console's busiest pages against the budget of ARCHITECTURE.md
("portal and console pages p95 ≤ 50 ms server time with realistic data"), run by `make bench`.

    .venv/bin/python bench/bench_console.py                  # SQLite in a temp dir, ~1 min
    .venv/bin/python bench/bench_console.py --requests 500
    .venv/bin/python bench/bench_console.py --database-url postgresql://user@127.0.0.1/pledge_bench

Set-up as bench_vault.py: a temporary PLEDGE_VAR_DIR (own keyring and SQLite file) or the given
empty PostgreSQL database, migrate, publish the leman-jewelry preset, then the demo data
(`seed_demo_customers`: customers, orders, guarantee cards, consents) and a few break-glass
accesses so that the owner's dashboard has its list to decrypt. Each page is requested through
Django's test Client by a signed-in staff member with a verified second factor, warm (a few
requests first), `--requests` times; the figure is the time from request to rendered response
inside the process (no network). Writes bench/results/console.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
sys.path.insert(0, str(REPO))

from bench.bench_vault import Figure, machine, print_table  # noqa: E402

PRESET = "leman-jewelry"
BUDGET_P95_MS = 50.0
WARM_UP = 20
BREAK_GLASS_ACCESSES = 10


def setup_django(args: argparse.Namespace, prefix: str = "pledge-bench-console-") -> Path:
    """A throwaway var dir and database (or the empty one `--database-url` names), migrated,
    with the preset published. Shared by the page benchmarks."""
    var_dir = Path(tempfile.mkdtemp(prefix=prefix))
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

    from pledge.policy.loader import load_policy
    from pledge.policy.services import publish_policy
    from pledge.vault.models import Customer

    call_command("migrate", interactive=False, verbosity=0)
    if Customer.objects.exists():
        raise SystemExit("bench: give an empty, throwaway database")
    loaded = load_policy(PRESET)
    publish_policy(loaded, actor="bench", effective_date=loaded.policy.effective_date)
    return var_dir


def seed(customers: int) -> list[uuid.UUID]:
    from pledge.vault.demo_data import seed_demo_customers
    from pledge.vault.models import Customer

    started = time.perf_counter()
    seed_demo_customers(customers)
    print(
        f"  seeded {customers} demo customers in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return list(Customer.objects.order_by("id").values_list("id", flat=True))


def staff_client(role: str) -> tuple[Any, Any]:
    """A test client signed in as a new staff member of `role`, second factor verified."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from pledge.accounts.models import StaffProfile
    from pledge.vault.access import Actor

    email = f"{role}@bench.example.com"
    user = get_user_model().objects.create_user(username=email, email=email, password=None)
    StaffProfile.objects.create(user=user, role=role, created_by="bench")
    device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    # The host the settings allow (the test Client's default "testserver" is not).
    client = Client(HTTP_HOST="localhost", HTTP_ACCEPT_LANGUAGE="vi")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client, Actor(kind="staff", id=str(user.pk), role=role)


def lookup_values(ids: list[uuid.UUID], count: int) -> tuple[list[str], list[str]]:
    """Emails and guarantee numbers of some demo customers, as the shop's staff would type them.
    Read with the customers' own access (the bench, not a staff view, needs them whole)."""
    from pledge.vault import services
    from pledge.vault.access import SUBJECT_ACCESS, Actor
    from pledge.vault.models import GuaranteeCard, RecordKind
    from pledge.vault.store import customer_key, read_values

    rng = random.Random(4)
    emails = []
    for cid in rng.sample(ids, min(count, len(ids))):
        view = services.read_customer(
            actor=Actor(kind="customer", id=str(cid)), purpose=SUBJECT_ACCESS, customer_id=cid
        )
        if "email" in view.fields:
            emails.append(view.fields["email"])
    numbers = []
    for card in GuaranteeCard.objects.order_by("id")[:count]:
        values = read_values(
            customer_key(card.customer_id), RecordKind.GUARANTEE, [card.id], ["guarantee_number"]
        )
        numbers.append(values[card.id]["guarantee_number"])
    return emails, numbers


def spread_reads(count: int) -> None:
    """A busy shop's log: `count` read events spread evenly over the chart's 14 days (moved
    back in time after appending; the bench never verifies this chain)."""
    from django.utils import timezone

    from pledge.audit.events import EventType
    from pledge.audit.models import AuditEvent
    from pledge.audit.services import EventSpec, record_events

    purposes = ("order_fulfilment", "guarantee", "transaction_confirmation", "complaints")
    first = (AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0) + 1
    started = time.perf_counter()
    for start in range(0, count, 5_000):
        record_events(
            [
                EventSpec(
                    EventType.CUSTOMER_READ,
                    actor="api:bench",
                    purpose=purposes[(start + i) % len(purposes)],
                    fields=("email",),
                )
                for i in range(min(5_000, count - start))
            ]
        )
    per_day = count // 14 + 1
    now = timezone.now()
    for day in range(14):
        low = first + day * per_day
        AuditEvent.objects.filter(seq__gte=low, seq__lt=low + per_day).update(
            at=now - dt.timedelta(days=13 - day, minutes=5)
        )
    analyze()
    print(
        f"  appended and spread {count:,} reads in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )


def analyze() -> None:
    """PostgreSQL: fresh planner statistics, as autovacuum keeps them on a live database (right
    after a bulk load they still describe an empty table, and the planner picks table scans)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def timed(fetch: Callable[[int], Any], requests: int) -> list[float]:
    """Warm up, then time `requests` calls of `fetch(i)` (each a request of the test client)."""
    for i in range(WARM_UP):
        response = fetch(i)
        assert response.status_code == 200, response.status_code
    timings = []
    for i in range(requests):
        started = time.perf_counter()
        response = fetch(WARM_UP + i)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return timings


def figures(key: str, label: str, timings: list[float]) -> list[Figure]:
    cuts = statistics.quantiles(timings, n=100)
    return [
        Figure(f"{key}_p50_ms", f"{label}, p50", cuts[49], "ms"),
        Figure(
            f"{key}_p95_ms",
            f"{label}, p95",
            cuts[94],
            "ms",
            f"≤ {BUDGET_P95_MS:.0f} ms",
            cuts[94] <= BUDGET_P95_MS,
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description="Pledge console page timings")
    parser.add_argument("--database-url", default=None, help="postgresql://… (empty throwaway)")
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--requests", type=int, default=300, help="per page (at least 200)")
    parser.add_argument(
        "--log-reads", type=int, default=100_000, help="then a busy log: N reads over 14 days"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "console.json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary var dir")
    args = parser.parse_args()
    args.requests = max(200, args.requests)

    started = time.perf_counter()
    began = dt.datetime.now(dt.UTC)
    var_dir = setup_django(args)
    info = machine(var_dir)
    print(
        f"bench console: {info['database']} · {info['nproc']} cores {info['cpu']}", file=sys.stderr
    )
    results: list[Figure] = []
    try:
        from pledge.audit.models import AuditEvent
        from pledge.vault.breakglass import break_glass_read

        ids = seed(args.customers)
        owner, owner_actor = staff_client("owner")
        service, _ = staff_client("customer_service")
        for cid in ids[:BREAK_GLASS_ACCESSES]:
            break_glass_read(
                actor=owner_actor,
                customer_id=cid,
                fields=["address"],
                reason="Bench: the courier needs the full address to redeliver the parcel.",
            )
        analyze()
        emails, numbers = lookup_values(ids, args.requests)
        rng = random.Random(7)
        order = [rng.choice(ids) for _ in range(args.requests + WARM_UP)]

        views = timed(
            lambda i: service.get(f"/console/customers/{order[i]}/?purpose=order_fulfilment"),
            args.requests,
        )
        results += figures("console_customer", "customer view (order_fulfilment)", views)
        # Searches are POSTed (a looked-up value never goes into a URL).
        searches = timed(
            lambda i: service.post(
                "/console/customers/",
                {"by": "email", "purpose": "order_fulfilment", "value": emails[i % len(emails)]},
            ),
            args.requests,
        )
        results += figures("console_search_email", "search by email (1 result)", searches)
        guarantees = timed(
            lambda i: service.post(
                "/console/customers/",
                {
                    "by": "guarantee_number",
                    "purpose": "guarantee",
                    "value": numbers[i % len(numbers)],
                },
            ),
            args.requests,
        )
        results += figures("console_search_guarantee", "search by guarantee number", guarantees)
        # Last: by now the chart has the reads of the requests above to aggregate.
        events = AuditEvent.objects.count()
        board = timed(lambda i: owner.get("/console/"), args.requests)
        results += figures("console_dashboard", f"owner's dashboard ({events:,} events)", board)
        if args.log_reads:
            spread_reads(args.log_reads)
            events = AuditEvent.objects.count()
            busy = timed(lambda i: owner.get("/console/"), args.requests)
            label = f"owner's dashboard, {args.log_reads:,} more reads over 14 days"
            results += figures("console_dashboard_busy", label, busy)
    finally:
        if not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)
    for f in results:
        print(f"  {f.label}: {f.value:.2f} {f.unit}", file=sys.stderr)
    seconds = time.perf_counter() - started
    print_table(results)
    missed = [f.label for f in results if f.met is False]
    print(f"{len(missed)} budget(s) missed" + (": " + "; ".join(missed) if missed else ""))
    report = {
        "started_at": began.isoformat(timespec="seconds"),
        "duration_s": round(seconds, 1),
        "machine": info,
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "figures": [asdict(f) for f in results],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.output} ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
