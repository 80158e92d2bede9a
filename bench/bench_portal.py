"""Server time of the customer privacy center and of the cookie banner's endpoints against the
budgets of ARCHITECTURE.md ("portal and console pages p95 ≤ 50 ms server time with realistic
data"; "cookie banner JS + CSS ≤ 6 KB gzipped"), run by `make bench`.

    .venv/bin/python bench/bench_portal.py                   # SQLite in a temp dir, ~1-1.5 min
    .venv/bin/python bench/bench_portal.py --requests 500
    .venv/bin/python bench/bench_portal.py --database-url postgresql://user@127.0.0.1/pledge_bench
                                                             # ~2 min on 2 cores
    .venv/bin/python bench/bench_portal.py --profile         # + cProfile of every page

Set-up as bench_console.py: a temporary PLEDGE_VAR_DIR (own keyring and SQLite file) or the given
empty PostgreSQL database, migrate, publish the leman-jewelry preset. Then a shop of
`--customers` people: `--demo-customers` of them through `seed_demo_customers` (orders, guarantee
cards, consents in the ledger), the rest through the CSV importer; `--visitors` anonymous cookie
choices in the ledger and three months of page-view counts. The customer under test is one of
the demo customers who registers with the email the shop holds (so the account joins that
profile), verifies it and signs in through /me/login/ like anyone; the bench gives them more
orders, a consent history (given and withdrawn, several times) and `--customer-events` audit
events of staff reading their data over the past year.

Each page is requested through Django's test Client, warm (WARM_UP requests first), then
`--requests` rounds that request every page once (interleaved, so that other work on the machine
hits all pages alike); the figure is the time from request to response inside the process (no
network), with the process's CPU time beside it. A page
whose p95 misses the budget is profiled (cProfile, bench/results/profile-portal-<page>.txt); with
`--profile` every page is. The banner's size is gzip level 9 of each file (as `gzip -9n`),
summed, as tests/banner/test_assets.py counts it. Writes bench/results/portal.json.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gzip
import io
import json
import pstats
import random
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
sys.path.insert(0, str(REPO))

from bench import bench_console  # noqa: E402
from bench.bench_console import analyze  # noqa: E402
from bench.bench_vault import Figure, machine, print_table  # noqa: E402

PRESET = "leman-jewelry"
BUDGET_P95_MS = 50.0
BUDGET_BANNER_BYTES = 6 * 1024  # JS + CSS, each gzip -9 (tests/banner/test_assets.py)
BANNER_ASSETS = REPO / "src" / "pledge" / "consent" / "assets"
WARM_UP = 20
PROFILED_REQUESTS = 50
HOST = "localhost"  # a host the settings allow (the test Client's "testserver" is not)
SHOP_ORIGIN = "https://leman.jewelry"  # the preset's controller.website: allowed by the banner
PASSWORD = "harbour lantern pepper 42"
ADDRESS = "198.51.100.23"
EXTRA_ORDERS = 12  # a loyal customer of a jewellery shop: rings, a watch, repairs…
HISTORY_ROUNDS = 4  # give + withdraw per consent purpose, then a last give of the first one
STAFF = (("sales", "order_fulfilment"), ("customer_service", "complaints"), ("owner", "guarantee"))
PAGE_PATHS = 60  # distinct shop pages counted by the beacon
PAGE_DAYS = 90


def setup_django(args: argparse.Namespace) -> Path:
    return bench_console.setup_django(args, prefix="pledge-bench-portal-")


def note(message: str, started: float) -> None:
    print(f"  {message} in {time.perf_counter() - started:.1f} s", file=sys.stderr)


# -- the shop -----------------------------------------------------------------------------------


def seed_shop(args: argparse.Namespace, var_dir: Path) -> list[uuid.UUID]:
    """`--customers` customers: demo ones (orders, guarantees, consents), the rest imported.
    Returns the demo customers' ids."""
    from bench.datagen import write_customers_csv
    from pledge.vault.access import Actor
    from pledge.vault.demo_data import DEMO_REF_PREFIX, seed_demo_customers
    from pledge.vault.importer import import_customers
    from pledge.vault.models import Customer

    started = time.perf_counter()
    demo = min(args.demo_customers, args.customers)
    seed_demo_customers(demo)
    note(f"seeded {demo:,} demo customers (orders, guarantees, consents)", started)
    rest = args.customers - demo
    if rest > 0:
        started = time.perf_counter()
        path = write_customers_csv(var_dir / "customers.csv", rest, ref_prefix="imp-")
        result = import_customers(
            path, purpose="order_fulfilment", actor=Actor(kind="system", id="import:bench")
        )
        assert result.imported == rest and result.rejected == 0, result
        note(f"imported {rest:,} more customers", started)
    return list(
        Customer.objects.filter(external_ref__startswith=DEMO_REF_PREFIX)
        .order_by("external_ref")
        .values_list("id", flat=True)
    )


def seed_visitors(count: int) -> None:
    """Anonymous cookie choices in the ledger, as the banner posts them, and page-view counts."""
    from django.db import transaction
    from django.utils import timezone

    from pledge.consent.banner import build_config, consent_categories, notice_text
    from pledge.consent.models import PageViewCount
    from pledge.consent.services import record_cookie_choice, visitor_key
    from pledge.policy.enforcement import enforced_policy

    started = time.perf_counter()
    enforced = enforced_policy()
    categories = consent_categories(enforced)
    texts = {
        lang: notice_text(build_config(enforced, lang, policy_url=f"https://{HOST}/privacy/"))
        for lang in ("vi", "en")
    }
    rng = random.Random(11)
    with transaction.atomic():
        for _ in range(count):
            visitor = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            kind = rng.random()  # about half accept all, a third reject all, the rest choose
            if kind < 0.5:
                method, choices = "banner_accept_all", dict.fromkeys(categories, True)
            elif kind < 0.85:
                method, choices = "banner_reject_all", dict.fromkeys(categories, False)
            else:
                method, choices = "banner_custom", {c: rng.random() < 0.5 for c in categories}
            lang = "vi" if rng.random() < 0.7 else "en"
            record_cookie_choice(
                visitor_id=visitor,
                customer_id=None,
                choices=choices,
                method=method,
                language=lang,
                actor=f"visitor:{visitor_key(visitor)[:12]}",
                notice_text=texts[lang],
            )
    note(f"recorded {count:,} anonymous cookie choices", started)
    started = time.perf_counter()
    today = timezone.localdate()
    # The counts the beacon (count_page_view) leaves behind, written in one go.
    PageViewCount.objects.bulk_create(
        PageViewCount(
            day=today - dt.timedelta(days=day + 1),
            path=f"/products/{page}",
            count=rng.randint(1, 400),
        )
        for day in range(PAGE_DAYS)
        for page in range(PAGE_PATHS)
    )
    note(f"counted page views of {PAGE_PATHS} pages over {PAGE_DAYS} days", started)


# -- the customer under test ----------------------------------------------------------------------


@dataclass
class Subject:
    customer_id: uuid.UUID
    receipt_id: uuid.UUID


def register_customer(candidates: list[uuid.UUID]) -> tuple[uuid.UUID, str]:
    """Register and verify an account with the email of a demo customer; the verification joins
    the account to that customer's profile (vault.accounts.link_to_profile)."""
    from django.db import transaction

    from pledge.accounts import customers
    from pledge.accounts.models import CustomerAccount
    from pledge.policy.services import active_version
    from pledge.vault.accounts import find_account

    links = customers.Links(
        verify=lambda token: f"http://{HOST}/me/verify/{token}/",
        reset=lambda token: f"http://{HOST}/me/password-reset/{token}/",
        login=f"http://{HOST}/me/login/",
        reset_request=f"http://{HOST}/me/password-reset/",
        sessions=f"http://{HOST}/me/sessions/",
    )
    version = active_version()
    policy_version = version.version if version is not None else ""
    for index, candidate in enumerate(candidates):
        email = profile_values(candidate).get("email")
        if not email:
            continue
        address = f"2001:db8:{index:x}::1"
        customers.register(
            email=email,
            password=PASSWORD,
            language="vi",
            address=address,
            links=links,
            policy_version=policy_version,
        )
        found = find_account(email)
        assert found is not None
        with transaction.atomic():
            account = CustomerAccount.objects.select_for_update().get(pk=found[1])
            token = customers.make_verify_token(account, policy_version)
        verified = customers.verify_email(token=token, password=PASSWORD, address=address)
        assert verified is not None
        if verified.customer_id == candidate:
            return candidate, email
    raise SystemExit("bench: no demo customer could be joined to an account")


def customer_history(customer_id: uuid.UUID, language: str, events: int) -> uuid.UUID:
    """More orders, a consent history, and `events` reads by staff over the past year. Returns
    the receipt id of the customer's latest consent."""
    from django.db import transaction
    from django.utils import timezone

    from pledge.audit.events import EventType
    from pledge.audit.models import AuditEvent
    from pledge.audit.services import EventSpec, record_events
    from pledge.consent.models import ConsentEvent
    from pledge.consent.services import give_consent, withdraw_consent
    from pledge.vault import services
    from pledge.vault.access import Actor
    from pledge.vault.demo_data import SyntheticCustomers
    from pledge.vault.models import Order

    started = time.perf_counter()
    shop = Actor(kind="system", id="bench-shop")
    people = SyntheticCustomers(97)
    fields = profile_values(customer_id)
    have = Order.objects.filter(customer_id=customer_id).count()
    with transaction.atomic():
        for n in range(EXTRA_ORDERS):
            order = people.order(f"BENCH-{n + 1:04d}")
            order_id = services.place_order(
                actor=shop,
                purpose="order_fulfilment",
                customer_id=customer_id,
                number=order.number,
                items=order.items,
                total=order.total,
                currency=order.currency,
                fields=fields,
                placed_at=order.placed_at,
            )
            issued_on = timezone.localdate(order.placed_at)
            services.issue_guarantee(
                actor=shop,
                purpose="guarantee",
                customer_id=customer_id,
                number=f"BH-BENCH-{n + 1}",
                product=order.items[0]["name"],
                issued_on=issued_on,
                valid_until=issued_on + dt.timedelta(days=365),
                order_id=order_id,
            )
    actor = f"customer:{customer_id}"
    purposes = ("customer_database", "service_notices")
    for _ in range(HISTORY_ROUNDS):
        for purpose in purposes:
            give_consent(
                customer_id=customer_id,
                purpose=purpose,
                method="privacy_center",
                actor=actor,
                channel="privacy_center",
                language=language,
            )
            withdraw_consent(
                customer_id=customer_id,
                purpose=purpose,
                method="privacy_center",
                actor=actor,
                channel="privacy_center",
                language=language,
            )
    latest = give_consent(
        customer_id=customer_id,
        purpose=purposes[0],
        method="privacy_center",
        actor=actor,
        channel="privacy_center",
        language=language,
    )
    ledger = ConsentEvent.objects.filter(customer_id=customer_id).count()
    note(
        f"gave the customer {have + EXTRA_ORDERS} orders and {ledger} consent events",
        started,
    )

    started = time.perf_counter()
    rng = random.Random(5)
    read_types = (EventType.CUSTOMER_READ, EventType.ORDERS_READ, EventType.GUARANTEE_LOOKUP)
    first = (AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0) + 1
    specs = []
    for _ in range(events):
        role, purpose = rng.choice(STAFF)
        specs.append(
            EventSpec(
                rng.choice(read_types),
                actor=f"staff:{rng.randint(1, 6)}",
                actor_role=role,
                customer_id=customer_id,
                purpose=purpose,
                fields=("email", "phone", "address")[: rng.randint(1, 3)],
            )
        )
    for start in range(0, len(specs), 5_000):
        record_events(specs[start : start + 5_000])
    # Spread over the past year, oldest first (moved back after appending, as bench_console does;
    # the bench never verifies this chain).
    now = timezone.now()
    per_day = events // 365 + 1
    with transaction.atomic():
        for day in range(365):
            low = first + day * per_day
            AuditEvent.objects.filter(seq__gte=low, seq__lt=low + per_day).update(
                at=now - dt.timedelta(days=365 - day, hours=rng.randint(0, 12))
            )
    note(f"appended {events:,} staff reads of the customer over a year", started)
    return latest.receipt_id


def profile_values(customer_id: uuid.UUID) -> dict[str, str]:
    """The customer's own profile values, as the shop sends them with an order."""
    from pledge.vault import services
    from pledge.vault.access import SUBJECT_ACCESS, Actor

    view = services.read_customer(
        actor=Actor(kind="customer", id=str(customer_id)),
        purpose=SUBJECT_ACCESS,
        customer_id=customer_id,
    )
    return {k: str(v) for k, v in view.fields.items() if v}


def signed_in_client(email: str) -> Any:
    from django.test import Client

    client = Client(HTTP_HOST=HOST, HTTP_ACCEPT_LANGUAGE="vi")
    response = client.post(
        "/me/login/", {"email": email, "password": PASSWORD}, REMOTE_ADDR=ADDRESS
    )
    assert response.status_code == 302, response.status_code
    return client


# -- timing -------------------------------------------------------------------------------------


@dataclass
class Page:
    key: str
    label: str
    fetch: Callable[[int], Any]
    status: int = 200


def warm(page: Page) -> str | None:
    """WARM_UP requests; None if the page answers as expected, else why not (an endpoint that is
    still being written is reported, not timed)."""
    try:
        for i in range(WARM_UP):
            response = page.fetch(i)
            if response.status_code != page.status:
                return f"answered {response.status_code}, not {page.status}"
    except Exception as error:  # say what it did, and measure the others
        return f"failed: {type(error).__name__}: {error}"[:200]
    return None


def timed(pages: list[Page], requests: int) -> dict[str, tuple[list[float], list[float]]]:
    """`requests` rounds, each requesting every page once, so that a burst of other work on the
    machine hits all pages alike. Per page: wall-clock times and this process's CPU times (with
    SQLite the database works inside the process, so the CPU time is what a busy machine moves
    least), in ms."""
    times: dict[str, tuple[list[float], list[float]]] = {p.key: ([], []) for p in pages}
    for i in range(requests):
        for page in pages:
            started, used = time.perf_counter(), time.process_time()
            response = page.fetch(WARM_UP + i)
            wall = (time.perf_counter() - started) * 1000
            cpu = (time.process_time() - used) * 1000
            assert response.status_code == page.status, (page.key, response.status_code)
            times[page.key][0].append(wall)
            times[page.key][1].append(cpu)
    return times


def profile(page: Page, requests: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(requests):
        page.fetch(10_000 + i)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)
    path = RESULTS / f"profile-portal-{page.key}.txt"
    path.write_text(out.getvalue())
    return str(path)


def figures(key: str, label: str, wall: list[float], cpu: list[float]) -> list[Figure]:
    cuts = statistics.quantiles(wall, n=100)
    cpu_cuts = statistics.quantiles(cpu, n=100)
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
        Figure(f"{key}_cpu_p50_ms", f"{label}, CPU time p50", cpu_cuts[49], "ms"),
        Figure(f"{key}_cpu_p95_ms", f"{label}, CPU time p95", cpu_cuts[94], "ms"),
    ]


def banner_size() -> list[Figure]:
    sizes = {
        name: len(gzip.compress((BANNER_ASSETS / name).read_bytes(), 9, mtime=0))
        for name in ("banner.js", "banner.css")
    }
    total = sum(sizes.values())
    return [
        Figure("banner_js_gzip_bytes", "banner.js, gzip -9", sizes["banner.js"], "B"),
        Figure("banner_css_gzip_bytes", "banner.css, gzip -9", sizes["banner.css"], "B"),
        Figure(
            "banner_gzip_bytes",
            "cookie banner JS + CSS, gzip -9",
            total,
            "B",
            f"≤ {BUDGET_BANNER_BYTES:,} B",
            total <= BUDGET_BANNER_BYTES,
        ),
    ]


def pages(client: Any, anonymous: Any, subject: Subject) -> list[Page]:
    from pledge.consent.banner import consent_categories
    from pledge.policy.enforcement import enforced_policy

    enforced = enforced_policy()
    categories = consent_categories(enforced)
    rng = random.Random(3)

    def choice(i: int) -> Any:
        everything = i % 3 != 2
        body = {
            "visitor": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "choices": {
                c: (i % 2 == 0) if everything else (c == categories[0]) for c in categories
            },
            "method": ("banner_accept_all" if i % 2 == 0 else "banner_reject_all")
            if everything
            else "banner_custom",
            "language": "vi",
            "policy_hash": enforced.content_hash,
        }
        return anonymous.post(
            "/consent/choices",
            json.dumps(body),
            content_type="application/json",
            HTTP_ORIGIN=SHOP_ORIGIN,
        )

    return [
        Page("portal_home", "/me/ (home)", lambda i: client.get("/me/")),
        Page("portal_data", "/me/data/ (my data, audited read)", lambda i: client.get("/me/data/")),
        Page("portal_consents", "/me/consents/", lambda i: client.get("/me/consents/")),
        Page("portal_marketing", "/me/marketing/", lambda i: client.get("/me/marketing/")),
        Page(
            "portal_access_log", "/me/access-log/ (page 1)", lambda i: client.get("/me/access-log/")
        ),
        Page(
            "portal_access_log_deep",
            "/me/access-log/?page=40",
            lambda i: client.get("/me/access-log/?page=40"),
        ),
        Page("portal_policy", "/me/policy/", lambda i: client.get("/me/policy/")),
        Page(
            "portal_receipt",
            "/me/receipts/<id>/ (signed receipt)",
            lambda i: client.get(f"/me/receipts/{subject.receipt_id}/"),
        ),
        Page(
            "banner_config",
            "/consent/config.json (anonymous, cross-origin)",
            lambda i: anonymous.get("/consent/config.json?lang=vi", HTTP_ORIGIN=SHOP_ORIGIN),
        ),
        Page(
            "banner_beacon",
            "POST /consent/beacon (page view)",
            lambda i: anonymous.post(f"/consent/beacon?p=/products/{i % PAGE_PATHS}"),
            status=204,
        ),
        Page("banner_choices", "POST /consent/choices (new visitor)", choice),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description="Pledge privacy center and banner timings")
    parser.add_argument("--database-url", default=None, help="postgresql://… (empty throwaway)")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument(
        "--demo-customers", type=int, default=2_000, help="of them with orders and consents"
    )
    parser.add_argument("--visitors", type=int, default=2_000, help="anonymous cookie choices")
    parser.add_argument(
        "--customer-events", type=int, default=3_000, help="staff reads of the tested customer"
    )
    parser.add_argument("--requests", type=int, default=300, help="per page (at least 100)")
    parser.add_argument("--profile", action="store_true", help="cProfile every page")
    parser.add_argument("--output", type=Path, default=RESULTS / "portal.json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary var dir")
    args = parser.parse_args()
    args.requests = max(100, args.requests)

    started = time.perf_counter()
    began = dt.datetime.now(dt.UTC)
    var_dir = setup_django(args)
    info = machine(var_dir)
    print(
        f"bench portal: {info['database']} · {info['nproc']} cores {info['cpu']} · "
        f"load {info['load_average_at_start'][0]:.2f}",
        file=sys.stderr,
    )
    results: list[Figure] = banner_size()
    skipped: dict[str, str] = {}
    profiles: dict[str, str] = {}
    RESULTS.mkdir(parents=True, exist_ok=True)
    try:
        from django.test import Client

        from pledge.audit.models import AuditEvent
        from pledge.consent.models import ConsentEvent
        from pledge.vault.models import Customer

        demo = seed_shop(args, var_dir)
        seed_visitors(args.visitors)
        started_signup = time.perf_counter()
        customer_id, email = register_customer(random.Random(9).sample(demo, min(20, len(demo))))
        note("registered, verified and joined an account to a demo customer", started_signup)
        receipt_id = customer_history(customer_id, "vi", args.customer_events)
        analyze()
        subject = Subject(customer_id, receipt_id)
        client = signed_in_client(email)
        anonymous = Client(HTTP_HOST=HOST, HTTP_ACCEPT_LANGUAGE="vi")
        counts = (
            f"{Customer.objects.count():,} customers, "
            f"{ConsentEvent.objects.count():,} ledger events, "
            f"{AuditEvent.objects.count():,} audit events "
            f"({AuditEvent.objects.filter(customer_id=customer_id).count():,} of the customer)"
        )
        print(f"  data: {counts}", file=sys.stderr)
        info["data"] = counts
        measured = []
        for page in pages(client, anonymous, subject):
            why = warm(page)
            if why is None:
                measured.append(page)
            else:
                skipped[page.key] = why
                print(f"  {page.label}: NOT MEASURED, {why}", file=sys.stderr)
        started_timing = time.perf_counter()
        times = timed(measured, args.requests)
        note(f"{args.requests} rounds of {len(measured)} pages", started_timing)
        for page in measured:
            page_figures = figures(page.key, page.label, *times[page.key])
            results += page_figures
            print(
                f"  {page.label}: p50 {page_figures[0].value:.1f} ms, "
                f"p95 {page_figures[1].value:.1f} ms, CPU p50 {page_figures[2].value:.1f} ms, "
                f"CPU p95 {page_figures[3].value:.1f} ms",
                file=sys.stderr,
            )
            if args.profile or page_figures[1].met is False:
                profiles[page.key] = profile(page, PROFILED_REQUESTS)
    finally:
        if not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)
    seconds = time.perf_counter() - started
    print_table(results)
    for key, why in skipped.items():
        print(f"not measured: {key}: {why}")
    for key, path in profiles.items():
        print(f"profile of {key}: {path}")
    missed = [f.label for f in results if f.met is False]
    print(f"{len(missed)} budget(s) missed" + (": " + "; ".join(missed) if missed else ""))
    report = {
        "started_at": began.isoformat(timespec="seconds"),
        "duration_s": round(seconds, 1),
        "machine": info,
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "figures": [asdict(f) for f in results],
        "not_measured": skipped,
        "profiles": profiles,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.output} ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
