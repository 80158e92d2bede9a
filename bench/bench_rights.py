"""Export and erasure of one customer among 1,000,000 customers with 5,000,000 orders, against the
budget of ARCHITECTURE.md ("export or erase one customer among 1,000,000 customers / 5,000,000
orders / 10,000,000 audit events: p95 ≤ 100 ms"), run by `make bench`.

    .venv/bin/python bench/bench_rights.py                     # SQLite, 5-7 min, ~13 GB of disk
    .venv/bin/python bench/bench_rights.py --postgresql        # a throwaway PostgreSQL, 6-9 min
    .venv/bin/python bench/bench_rights.py --customers 100000  # a quick look, ~1.5 min
    .venv/bin/python bench/bench_rights.py --keep              # then: --reuse DIR (measure again)
    .venv/bin/python bench/bench_rights.py --database-url postgresql://user@host/empty_db
    .venv/bin/python bench/bench_rights.py --profile           # + cProfile of both calls

1. A shop is generated straight into the database: customers (each with their own data key in the
   key store, 2-4 encrypted profile values, blind indexes of email, phone and name), orders (one
   encrypted delivery value each), invoices (`--invoice-share`), consents with their ledger rows
   and derived state (`--consent-share`) and a hash-chained audit log (`--audit-per-customer`
   events a customer on average, checkpoints signed). Rows are written as `vault/importer.py`
   writes an import (one prepared INSERT stepped by executemany on SQLite, COPY on PostgreSQL), in
   one transaction per `--batch` customers, and made with the vault's own primitives (the data
   key wrapped by `wrap_data_key`, values sealed as `CustomerKey.encrypt` seals them, with the
   associated data of their record and field, `blind_index`, `audit.chain`), so that every
   generated customer is one the vault, the export and the erasure read like any other (the
   measured calls decrypt every value of their customer). Plaintexts come from a pool of synthetic
   people (Faker, `vault/demo_data.py`); each customer's email and phone are their own. A second
   process makes the rows while this one writes them. Customer ids are made in sorted order and
   each batch's rows are spread (`spread`): index inserts stay local, while one customer's rows,
   like a real customer's, lie on different pages. The tables' secondary indexes are dropped for
   the load and built again from their own definitions after it.
2. Target customers are picked at random among those with orders, an invoice and a consent; the
   shop's backend then gives each, through the real services, a recent order with the buyer's
   details, a guarantee card, a card payment, an identity-document copy, three staff reads and a
   data-subject request, so every part of the package and of the erasure has rows to handle.
3. Warm (after `--warmup` calls of each), `--calls` rounds: `build_package(...).zip_bytes()` for
   one target, `erase_customer` for another (erasure destroys, so no customer is erased twice).
   Wall and process CPU time per call, p50 and p95. Then a sample of calls again under
   `CaptureQueriesContext` (query counts, time in SQL) and the plan of each of their statements
   (`EXPLAIN QUERY PLAN` / `EXPLAIN`), flagging any full scan of a generated (large) table.

The data lives in a temporary directory (SQLite file, key store, keyring; the PostgreSQL server's
data directory with `--postgresql`) removed at the end unless `--keep`. SQLite loads with its
journal off and `synchronous=OFF`, then returns to WAL and `synchronous=NORMAL` (settings.py) for
the measurement; the throwaway PostgreSQL server loads with `fsync=off` and is restarted with its
default configuration before the measurement, and the load is flushed to disk first. Writes
bench/results/rights.json (or rights-postgresql.json); the figures are kept in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import glob
import io
import json
import os
import pstats
import pwd
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
sys.path.insert(0, str(REPO))

from bench.bench_vault import Figure, machine, print_table  # noqa: E402
from pledge.audit.events import EventType  # noqa: E402 - an enum only, no Django set-up

PRESET = "leman-jewelry"
BUDGET_P95_MS = 100.0
# The budget's scale, measured by `make bench` itself (~8 min on SQLite; docs/benchmarks.md).
DEFAULT_CUSTOMERS = 1_000_000
# Disk the data set takes per customer (SQLite file and key store; PostgreSQL: ~12.3 kB).
BYTES_PER_CUSTOMER = 13_500
ORDERS_PER_CUSTOMER = 5
MAX_ORDERS = 9
PEOPLE_POOL = 2_000
ITEM_POOL = 500
HISTORY_SECONDS = 3 * 365 * 86_400
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
# Rows of one customer, made one after the other, are written this many apart (`spread`).
SPREAD_STRIDE = 97
# Calls of each profiled with --profile, or when a budget is missed.
PROFILE_CALLS = 20
# Tables with at least this many generated rows count as large in the plan check.
LARGE_TABLE_ROWS = 50_000
# What a --keep run records for --reuse, in its directory.
RUN_FILE = "run.json"
PG_CTL_WRAPPER = REPO / "scripts" / "pg_ctl_as_postgres.sh"
PG_OS_USER = os.environ.get("PLEDGE_PG_USER", "postgres")
PG_DB_USER = "postgres"
# Only while loading the throwaway server; it is restarted with its defaults to be measured.
PG_LOAD_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "16GB",
    "checkpoint_timeout": "1h",
    "shared_buffers": "1GB",
    "maintenance_work_mem": "512MB",
    "autovacuum": "off",
}

# The tables the generator fills (their indexes are rebuilt after the load).
LOADED_TABLES = (
    "vault_customer",
    "vault_encryptedvalue",
    "vault_blindindex",
    "vault_order",
    "vault_invoice",
    "consent_consentevent",
    "consent_consentstate",
    "audit_auditevent",
)
ORDER_COLUMNS = ("id", "customer", "number", "placed_at", "status", "currency", "total", "items")
INVOICE_COLUMNS = ("id", "customer", "order", "number", "issued_at", "total", "tax", "currency")
AUDIT_COLUMNS = (
    "seq",
    "at",
    "type",
    "actor",
    "actor_role",
    "customer_id",
    "record",
    "purpose",
    "fields",
    "outcome",
    "details",
    "canonical",
    "prev_hash",
    "hash",
)
CHECKPOINT_COLUMNS = ("seq", "hash", "at", "key_id", "signature")
CUSTOMER_CREATED = EventType.CUSTOMER_CREATED.value
ORDER_PLACED = EventType.ORDER_PLACED.value
INVOICE_ISSUED = EventType.INVOICE_ISSUED.value
CONSENT_GIVEN = EventType.CONSENT_GIVEN.value
CUSTOMER_READ = EventType.CUSTOMER_READ.value
PROFILE_ORDER = ("address", "email", "full_name", "phone")
ORDER_STATUSES = (("completed", 0.6), ("shipped", 0.15), ("paid", 0.1), ("placed", 0.1))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- a throwaway PostgreSQL server ------------------------------------------------------------


class ThrowawayPostgres:
    """A PostgreSQL server for this run only, from the machine's binaries, started as
    tests/conftest.py starts the suite's: through scripts/pg_ctl_as_postgres.sh, which runs pg_ctl
    as the unprivileged `postgres` user when we are root (PostgreSQL refuses to run as root).
    Listens on 127.0.0.1 and a socket in `base` (the run's directory); `stop` stops it (the
    run's directory is removed with everything in it)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.datadir = self.base / "data"
        self.socket_dir = self.base / "socket"
        self.logfile = self.base / "postgresql.log"
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam(PG_OS_USER)
            except KeyError:
                raise SystemExit(
                    f"bench: as root, PostgreSQL runs as the system user {PG_OS_USER!r}, which "
                    "does not exist (install the postgresql package or set PLEDGE_PG_USER)"
                ) from None
            # The server's user must reach its directory (the run's directory is root's, 0700).
            self.base.parent.chmod(0o711)
            for path in (self.base, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.running = False
        self.env = dict(os.environ)
        if not self.env.get("PLEDGE_PG_CTL"):
            found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_pg_major)
            if found:
                self.env["PLEDGE_PG_CTL"] = found[-1]

    def _pg_ctl(self, *args: str) -> None:
        result = subprocess.run(
            [str(PG_CTL_WRAPPER), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            raise SystemExit(
                f"bench: pg_ctl {args[0]} failed ({result.returncode}):\n{result.stdout}"
                f"{result.stderr}\n--- postgresql.log ---\n{tail}"
            )

    def init(self) -> None:
        self._pg_ctl(
            "initdb", "-s", "-D", str(self.datadir), "-o", f"--username={PG_DB_USER} --auth=trust"
        )

    def start(self, settings: dict[str, str] | None = None) -> None:
        options = [
            f"-c port={self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.socket_dir}",
            *(f"-c {k}={v}" for k, v in (settings or {}).items()),
        ]
        self._pg_ctl(
            "start", "-w", "-s", "-D", str(self.datadir), "-l", str(self.logfile), "-o",
            " ".join(options),
        )  # fmt: skip
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._pg_ctl("stop", "-s", "-m", "fast", "-D", str(self.datadir))
            self.running = False

    def url(self, name: str) -> str:
        return f"postgresql://{PG_DB_USER}@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=PG_DB_USER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _pg_major(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


# -- set-up -----------------------------------------------------------------------------------


def setup_django(database_url: str | None, var_dir: Path, preset: str, *, fresh: bool) -> None:
    """Django on the run's var dir (its own SQLite file, keyring and key store) or the given
    database; a fresh run migrates, checks the database is empty and publishes the preset."""
    os.environ["PLEDGE_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "pledge.settings"
    os.environ.setdefault("PLEDGE_LOG_LEVEL", "WARNING")
    os.environ.pop("PLEDGE_KEYSTORE_PATH", None)  # the run's own key store, under var_dir
    if database_url:
        os.environ["DATABASE_URL"] = database_url
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
    if not fresh:
        return
    if Customer.objects.exists() or AuditEvent.objects.exists():
        raise SystemExit(
            "bench: the database already holds customers or audit events; give an empty, "
            "throwaway database (this bench writes millions of rows and leaves them)"
        )
    loaded = load_policy(preset)
    publish_policy(loaded, actor="bench", effective_date=loaded.policy.effective_date)


@dataclass(frozen=True)
class Shape:
    """What the policy in force lets the shop hold, hence what generated customers hold."""

    profile_purpose: str
    profile_fields: tuple[str, ...]
    order_purpose: str
    order_fields: tuple[str, ...]
    # Buyer details printed on invoices: the values a legal hold keeps through an erasure.
    invoice_purpose: str
    invoice_fields: tuple[str, ...]
    guarantee_purpose: str | None
    payment_purpose: str | None
    document_purpose: str | None
    consent_purposes: tuple[str, ...]

    @property
    def purposes(self) -> frozenset[str]:
        named = (
            self.profile_purpose,
            self.order_purpose,
            self.invoice_purpose,
            self.guarantee_purpose,
            self.payment_purpose,
            self.document_purpose,
            *self.consent_purposes,
        )
        return frozenset(p for p in named if p)


def policy_shape() -> Shape:
    from pledge.vault.access import policy
    from pledge.vault.demo_data import SYNTHETIC_FIELDS

    enforced = policy()
    collects = enforced.collects
    records = enforced.field_records

    def held_on(name: str, kind: str) -> bool:
        kinds = records.get(name, frozenset())
        return not kinds or kind in kinds

    def fakeable(purpose: str, kind: str) -> tuple[str, ...]:
        return tuple(
            sorted(
                f for f in collects.get(purpose, ()) if f in SYNTHETIC_FIELDS and held_on(f, kind)
            )
        )

    def collecting(name: str) -> str | None:
        return next((p for p in contract if name in collects.get(p, ())), None)

    contract = [p.key for p in enforced.policy.purposes if p.basis == "contract"]
    profile = max(contract, key=lambda p: len(fakeable(p, "profile")))
    order = collecting("purchase_history")
    invoicing = [p for p in contract if any("invoice" in records.get(f, ()) for f in collects[p])]
    if order is None or not invoicing:
        raise SystemExit("bench: the policy records no purchases or no invoices")
    invoice = max(invoicing, key=lambda p: len(fakeable(p, "invoice")))
    return Shape(
        profile_purpose=profile,
        profile_fields=fakeable(profile, "profile"),
        order_purpose=order,
        order_fields=fakeable(order, "order"),
        invoice_purpose=invoice,
        invoice_fields=fakeable(invoice, "invoice"),
        guarantee_purpose=collecting("guarantee_number"),
        payment_purpose=collecting("card"),
        document_purpose=collecting("id_document"),
        consent_purposes=tuple(p.key for p in enforced.policy.purposes if p.basis == "consent"),
    )


# -- writing rows -----------------------------------------------------------------------------


class Writer:
    """Raw bulk writes on Django's connection, as vault/importer.py writes an import: one prepared
    INSERT stepped by executemany on SQLite, COPY on PostgreSQL (docs/benchmarks.md: the ORM's
    bulk_create costs ~50 µs a row, which at ~20 rows a customer would be most of the run)."""

    def __init__(self) -> None:
        from django.db import connection

        self.connection = connection
        self.pg = connection.vendor == "postgresql"
        self._sql: dict[tuple[str, tuple[str, ...]], str] = {}
        self.index_s = 0.0

    def columns(self, model: Any, fields: Sequence[str]) -> list[str]:
        return [model._meta.get_field(f).column for f in fields]

    def write(self, model: Any, fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        key = (model._meta.db_table, tuple(fields))
        quote = self.connection.ops.quote_name
        table = quote(model._meta.db_table)
        names = ", ".join(quote(c) for c in self.columns(model, fields))
        if self.pg:
            copy_sql = f"COPY {table} ({names}) FROM STDIN"
            with self.connection.cursor() as cursor, cursor.cursor.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        sql = self._sql.get(key)
        if sql is None:
            marks = ", ".join("?" * len(fields))
            sql = self._sql[key] = f"INSERT INTO {table} ({names}) VALUES ({marks})"
        self.connection.ensure_connection()
        self.connection.connection.executemany(sql, rows)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []

    def secondary_indexes(self, tables: Sequence[str]) -> list[tuple[str, str]]:
        """(name, CREATE statement) of the tables' indexes that back no primary key or unique
        constraint (Django's own indexes, exactly as its migrations made them)."""
        if self.pg:
            return [
                (str(name), str(sql))
                for name, sql in self.execute(
                    "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                    "FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
                    "WHERE t.relname = ANY(%s) AND NOT EXISTS "
                    "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
                    "ORDER BY 1",
                    [list(tables)],
                )
            ]
        marks = ", ".join(["%s"] * len(tables))
        return [
            (str(name), str(sql))
            for name, sql in self.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND tbl_name IN ({marks}) ORDER BY name",
                list(tables),
            )
        ]

    @contextmanager
    def load_mode(self, tables: Sequence[str]) -> Iterator[None]:
        """Settings for the bulk load only; the measurement runs with the project's own.

        The tables' secondary indexes are dropped for the load and built again from their own
        definitions at the end: one sort per index instead of millions of random B-tree inserts
        (the primary keys and unique constraints stay, and are checked row by row)."""
        connection = self.connection
        connection.ensure_connection()
        if self.pg:
            self.execute("SET synchronous_commit TO off")
            try:
                # Foreign keys are not checked row by row while loading rows that are consistent
                # by construction (as pg_restore --disable-triggers); needs a superuser.
                self.execute("SET session_replication_role TO replica")
                log("  (foreign-key triggers off while loading)")
            except Exception:
                log("  (not a superuser: foreign keys are checked while loading)")
        else:
            raw = connection.connection
            for pragma in (
                "journal_mode=OFF",
                "synchronous=OFF",
                "cache_size=-1000000",
                "temp_store=MEMORY",
            ):
                raw.execute(f"PRAGMA {pragma}")
        indexes = self.secondary_indexes(tables)
        for name, _ in indexes:
            self.execute(f"DROP INDEX {name}")
        try:
            yield
        finally:
            began = time.perf_counter()
            for _, sql in indexes:
                self.execute(sql)
            self.index_s = time.perf_counter() - began
            log(f"  {len(indexes)} indexes built again in {self.index_s:,.0f} s")
            if not self.pg:
                connection.connection.execute("PRAGMA journal_mode=WAL")
                connection.connection.execute("PRAGMA synchronous=NORMAL")
            connection.close()  # the next connection has the project's settings only


# -- the generated shop -----------------------------------------------------------------------
#
# Rows are made in a second process while this one writes (two cores: generation and SQLite each
# keep one busy). They travel as plain values (text, bytes, numbers): UUIDs as 32 hex digits and
# times as text, which both SQLite (Django's spelling) and PostgreSQL's COPY take as they are.


@dataclass(frozen=True)
class Person:
    name: str
    slug: str
    address: str
    name_digest: bytes
    name_plain: bytes  # the encoded value (crypto.encode_value), encrypted for each customer
    address_plain: bytes


@dataclass(frozen=True)
class Candidate:
    """A generated customer with orders, an invoice and a consent: a possible target."""

    id: uuid.UUID
    index: int
    language: str
    person: int


@dataclass
class Counts:
    customers: int = 0
    values: int = 0
    indexes: int = 0
    orders: int = 0
    invoices: int = 0
    consents: int = 0
    audit_events: int = 0
    checkpoints: int = 0


@dataclass
class Batch:
    keys: list[tuple[bytes, int, bytes]] = field(default_factory=list)  # id, version, wrapped
    customers: list[tuple[Any, ...]] = field(default_factory=list)
    values: list[tuple[Any, ...]] = field(default_factory=list)
    indexes: list[tuple[Any, ...]] = field(default_factory=list)
    orders: list[tuple[Any, ...]] = field(default_factory=list)
    invoices: list[tuple[Any, ...]] = field(default_factory=list)
    consents: list[tuple[Any, ...]] = field(default_factory=list)
    # (type, actor, role, customer hex, record, purpose, fields, details) until chained, then rows
    events: list[tuple[Any, ...]] = field(default_factory=list)
    checkpoints: list[tuple[Any, ...]] = field(default_factory=list)
    candidates: list[tuple[bytes, int, str, int]] = field(default_factory=list)


def email_of(person: Person, index: int) -> str:
    return f"{person.slug}.{index}@example.com"


def phone_of(index: int) -> str:
    """A valid Vietnamese mobile number of the customer's own: prefix and a scrambled subscriber
    number (a bijection of the index, so two customers never share one)."""
    from pledge.vault.demo_data import MOBILE_PREFIXES

    prefix = MOBILE_PREFIXES[index % len(MOBILE_PREFIXES)]
    return f"+84{prefix}{(index // len(MOBILE_PREFIXES) * 7_654_321 + 1_234_567) % 10**7:07d}"


def new_id() -> tuple[str, str]:
    """A random (version 4) UUID as (32 hex digits, the canonical hyphenated text), without the
    cost of a uuid.UUID object: millions of them."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return h, f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def spread(rows: list[Any]) -> list[Any]:
    """The rows reordered so that neighbours end up far apart (every SPREAD_STRIDE-th row, then
    the next…): one customer's rows, made together, land on different pages of a table, as a real
    customer's rows, written months apart, do. A permutation by slicing: cheaper than shuffle."""
    return [row for start in range(SPREAD_STRIDE) for row in rows[start::SPREAD_STRIDE]]


def plain_ascii(value: str) -> bytes:
    """crypto.encode_value of an email or E.164 phone (ASCII letters, digits, . @ +): the JSON
    string, without paying for json.dumps per value (checked against encode_value at start)."""
    return f'"{value}"'.encode()


class ShopGenerator:
    """The generated shop. Set up in the main process (it reads and writes a little: consent
    notices, the audit chain's head); `produce` runs in the producer process and touches no
    database; `load` (main process) writes what it produces."""

    def __init__(self, writer: Writer, shape: Shape, args: argparse.Namespace) -> None:
        from pledge.audit.chain import at_text
        from pledge.audit.services import _HEAD_SQL
        from pledge.consent.notices import purpose_data_types, render_purpose_notice
        from pledge.consent.services import store_notice
        from pledge.keyring import load_keyring
        from pledge.vault.access import policy
        from pledge.vault.crypto import blind_index, encode_value, field_aad
        from pledge.vault.demo_data import PRODUCTS, SyntheticCustomers, ascii_slug
        from pledge.vault.normalise import index_value, normalise_email

        self.writer = writer
        self.pg = writer.pg
        self.shape = shape
        self.args = args
        self.rng = random.Random(args.seed)
        self.keyring = load_keyring()
        self.enforced = policy()
        self.region = self.enforced.policy.phone_region
        # Times are whole seconds since the Unix epoch (UTC) until written: see `stamp`.
        self.now = int(time.time())
        self._days: dict[int, str] = {}
        self.importer = f"system:import:{args.seed}"
        self.order_field = "address" if "address" in shape.order_fields else shape.order_fields[0]
        self.invoice_event_fields = ",".join(sorted({*shape.invoice_fields, "payment_history"}))
        self.counts = Counts()
        self.candidates: list[Candidate] = []
        self.wrote_s = self.waited_s = 0.0
        log(f"  pool of {PEOPLE_POOL:,} synthetic people (Faker)…")
        people = SyntheticCustomers(args.seed)
        self.people: list[Person] = []
        for i in range(PEOPLE_POOL):
            p = people.customer(i)
            name_key = index_value("full_name", p.full_name, self.region)
            self.people.append(
                Person(
                    p.full_name,
                    ascii_slug(p.full_name),
                    p.address,
                    blind_index("full_name", name_key, self.keyring),
                    encode_value(p.full_name),
                    encode_value(p.address),
                )
            )
        sample_email, sample_phone = email_of(self.people[1], 1), phone_of(1)
        assert plain_ascii(sample_email) == encode_value(sample_email)
        assert plain_ascii(sample_phone) == encode_value(sample_phone)
        assert normalise_email(sample_email) == sample_email
        assert index_value("phone", sample_phone, self.region) == sample_phone
        sample_id = uuid.uuid4()
        assert f"pledge/v1|order|{sample_id}|address|{sample_id}".encode() == field_aad(
            "order", sample_id, "address", sample_id
        )
        moment = dt.datetime(2026, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
        assert self.stamp(int(moment.timestamp()))[1] == at_text(moment)
        self.items: list[tuple[str, str, str]] = []  # items JSON, total, tax
        for _ in range(ITEM_POOL):
            items = []
            total = Decimal(0)
            for sku, name, price in self.rng.sample(PRODUCTS, self.rng.randint(1, 3)):
                quantity = self.rng.randint(1, 2)
                items.append(
                    {"sku": sku, "name": name, "quantity": quantity, "unit_price": str(price)}
                )
                total += Decimal(price) * quantity
            tax = (total * Decimal("0.08")).quantize(Decimal("1"))
            # As Django's JSONField writes it (json.dumps, ASCII escapes).
            self.items.append((json.dumps(items), f"{total}.00", f"{tax}.00"))
        self.notices: dict[tuple[str, str], int] = {}
        self.data_types: dict[str, str] = {}
        for key in shape.consent_purposes:
            declared = self.enforced.purpose(key)
            assert declared is not None
            self.data_types[key] = json.dumps(purpose_data_types(declared))
            for language in ("vi", "en"):
                self.notices[(key, language)] = store_notice(
                    render_purpose_notice(self.enforced.policy, declared, language),
                    language=language,
                    policy_version=self.enforced.version,
                ).pk
        head = writer.execute(_HEAD_SQL)
        self.seq, self.prev = (int(head[0][0]), str(head[0][1])) if head else (0, "0" * 64)
        self.every = self._checkpoint_every()

    @staticmethod
    def _checkpoint_every() -> int:
        from django.conf import settings

        return int(settings.PLEDGE_AUDIT_CHECKPOINT_EVERY)

    def stamp(self, epoch: int) -> tuple[str, str]:
        """(a column's spelling, the audit chain's spelling) of a UTC time in whole seconds since
        the epoch. The column: Django's naive UTC text on SQLite, with its offset for PostgreSQL's
        COPY. The chain: `audit.chain.at_text`. Formatted by hand: millions of them."""
        day, second = divmod(epoch, 86_400)
        date = self._days.get(day)
        if date is None:
            date = self._days[day] = dt.date.fromordinal(EPOCH_ORDINAL + day).isoformat()
        hour, rest = divmod(second, 3600)
        clock = f"{hour:02d}:{rest // 60:02d}:{rest % 60:02d}"
        column = f"{date} {clock}+00:00" if self.pg else f"{date} {clock}"
        return column, f"{date}T{clock}.000000+00:00"

    # -- one customer (producer process) ---------------------------------------------------------

    def _customer(self, batch: Batch, index: int, cid: uuid.UUID, n_orders: int) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        from pledge.vault.crypto import CIPHERTEXT_VERSION, NONCE_BYTES, blind_index, wrap_data_key

        rng = self.rng
        random_ = rng.random
        shape = self.shape
        stamp = self.stamp
        hcid = cid.hex
        scid = str(cid)
        person_no = index % len(self.people)
        person = self.people[person_no]
        language = "en" if random_() < 0.2 else "vi"
        created = self.now - int(random_() * HISTORY_SECONDS)
        created_col = stamp(created)[0]
        raw = os.urandom(32)  # crypto.new_data_key: 256 random bits
        version, wrapped = wrap_data_key(raw, cid, self.keyring)
        batch.keys.append((cid.bytes, version, wrapped))
        encrypt = AESGCM(raw).encrypt
        nonces = os.urandom(NONCE_BYTES * (4 + n_orders + len(shape.invoice_fields)))
        used = 0

        def seal(kind: str, record_id: str, name: str, plaintext: bytes) -> bytes:
            # CustomerKey.encrypt: a fresh nonce, the associated data of crypto.field_aad (checked
            # at start), the plaintext already encoded (crypto.encode_value).
            nonlocal used
            nonce = nonces[used : used + NONCE_BYTES]
            used += NONCE_BYTES
            aad = f"pledge/v1|{kind}|{record_id}|{name}|{scid}".encode()
            return CIPHERTEXT_VERSION + nonce + encrypt(nonce, plaintext, aad)

        batch.customers.append(
            (hcid, created_col, created_col, language, f"bg-{index:07d}", 0, None, None, None, "")
        )
        email = email_of(person, index)
        phone = phone_of(index)
        plains = {"email": plain_ascii(email), "phone": plain_ascii(phone)}
        if random_() < 0.9:
            plains["full_name"] = person.name_plain
        if random_() < 0.6:
            plains["address"] = person.address_plain
        profile = [f for f in PROFILE_ORDER if f in plains and f in shape.profile_fields]
        for name in profile:
            blob = seal("profile", scid, name, plains[name])
            batch.values.append((hcid, "profile", hcid, name, blob, created_col))
        keyring = self.keyring
        if "email" in profile:
            digest = blind_index("email", email, keyring)  # its own normal form (checked)
            batch.indexes.append((hcid, "email", digest, "profile", hcid))
        if "phone" in profile:
            digest = blind_index("phone", phone, keyring)  # E.164 already
            batch.indexes.append((hcid, "phone", digest, "profile", hcid))
        if "full_name" in profile:
            batch.indexes.append((hcid, "full_name", person.name_digest, "profile", hcid))
        profile_fields = ",".join(profile)
        events = batch.events
        events.append(
            (
                CUSTOMER_CREATED,
                self.importer,
                "",
                hcid,
                "",
                shape.profile_purpose,
                profile_fields,
                '{"source":"import"}',
            )
        )
        # One value on each order: the delivery address where the policy keeps one on orders.
        order_field = self.order_field
        order_plain = {
            "address": person.address_plain,
            "full_name": person.name_plain,
            "email": plains["email"],
            "phone": plains["phone"],
        }[order_field]
        order_event_fields = f"{order_field},purchase_history"
        first_order: tuple[str, str, int, str, str] | None = None
        span = max(1, self.now - created)
        for k in range(n_orders):
            hoid, soid = new_id()
            placed = created + int(random_() * span)
            placed_col = stamp(placed)[0]
            items, total, tax = self.items[int(random_() * ITEM_POOL)]
            roll = random_()
            status = "cancelled"
            for name, share in ORDER_STATUSES:
                if roll < share:
                    status = name
                    break
                roll -= share
            batch.orders.append(
                (hoid, hcid, f"BG{index:07d}-{k + 1}", placed_col, status, "VND", total, items)
            )
            blob = seal("order", soid, order_field, order_plain)
            batch.values.append((hcid, "order", hoid, order_field, blob, placed_col))
            events.append(
                (
                    ORDER_PLACED,
                    "api:bench-shop",
                    "",
                    hcid,
                    f"order:{soid}",
                    shape.order_purpose,
                    order_event_fields,
                    "",
                )
            )
            if first_order is None:
                first_order = (hoid, soid, placed, total, tax)
        has_invoice = first_order is not None and random_() < self.args.invoice_share
        if has_invoice:
            assert first_order is not None
            hoid, _, placed, total, tax = first_order
            hiid, siid = new_id()
            issued_col = stamp(placed + 3600)[0]
            batch.invoices.append(
                (hiid, hcid, hoid, f"HD{index:07d}", issued_col, total, tax, "VND")
            )
            for name in shape.invoice_fields:
                plain = person.name_plain if name == "full_name" else plains.get(name, b'""')
                blob = seal("invoice", siid, name, plain)
                batch.values.append((hcid, "invoice", hiid, name, blob, issued_col))
            events.append(
                (
                    INVOICE_ISSUED,
                    "api:bench-shop",
                    "",
                    hcid,
                    f"invoice:{siid}",
                    shape.invoice_purpose,
                    self.invoice_event_fields,
                    "",
                )
            )
        has_consent = bool(shape.consent_purposes) and random_() < self.args.consent_share
        if has_consent:
            purpose = shape.consent_purposes[int(random_() * len(shape.consent_purposes))]
            hreceipt, sreceipt = new_id()
            batch.consents.append(
                (
                    hreceipt,
                    hcid,
                    None,
                    purpose,
                    "given",
                    self.notices[(purpose, language)],
                    self.enforced.version,
                    self.enforced.content_hash,
                    "checkbox",
                    "web",
                    language,
                    self.data_types[purpose],
                    stamp(created + 300)[0],
                    "api:bench-shop",
                )
            )
            details = json.dumps(
                {
                    "channel": "web",
                    "method": "checkbox",
                    "policy_version": self.enforced.version,
                    "receipt": sreceipt,
                },
                sort_keys=True,
                separators=(",", ":"),
            )
            events.append((CONSENT_GIVEN, "api:bench-shop", "", hcid, "", purpose, "", details))
        # Staff reads make up the rest of the customer's share of the audit log.
        extra = self.args.audit_per_customer - (1 + n_orders + has_invoice + has_consent)
        reads = int(extra) + (random_() < extra - int(extra)) if extra > 0 else 0
        for _ in range(reads):
            events.append(
                (
                    CUSTOMER_READ,
                    f"staff:{1 + int(random_() * 8)}",
                    "sales",
                    hcid,
                    "",
                    shape.profile_purpose,
                    profile_fields,
                    "",
                )
            )
        if has_invoice and has_consent:
            batch.candidates.append((cid.bytes, index, language, person_no))

    def _chain(self, batch: Batch, step: float) -> None:
        """Number, date and hash-chain the batch's events, spread (a customer's events lie apart
        in the log, as over time); sign a checkpoint every N events."""
        from pledge.audit.chain import canonical, chain_hash, checkpoint_message

        start = self.now - HISTORY_SECONDS
        rows: list[tuple[Any, ...]] = []
        seq, prev = self.seq, self.prev
        signing = self.keyring.signing_key
        key_id = self.keyring.signing_key_id
        stamp = self.stamp
        for type_, actor, role, hcid, record, purpose, fields, details in spread(batch.events):
            seq += 1
            at_col, at_text = stamp(start + int(seq * step))
            text = canonical(
                seq, at_text, type_, actor, role, hcid, record, purpose, fields, "ok", details
            )
            digest = chain_hash(prev, text)
            rows.append(
                (
                    seq,
                    at_col,
                    type_,
                    actor,
                    role,
                    hcid,
                    record,
                    purpose,
                    fields,
                    "ok",
                    details,
                    text,
                    prev,
                    digest,
                )
            )
            if seq % self.every == 0:
                signature = signing.sign(checkpoint_message(seq, digest)).hex()
                batch.checkpoints.append((seq, digest, at_col, key_id, signature))
            prev = digest
        self.seq, self.prev = seq, prev
        batch.events = rows

    def order_counts(self, customers: int) -> list[int]:
        """1-9 orders a customer, exactly ORDERS_PER_CUSTOMER on average."""
        counts = [self.rng.randint(1, MAX_ORDERS) for _ in range(customers)]
        gap = ORDERS_PER_CUSTOMER * customers - sum(counts)
        while gap:
            i = self.rng.randrange(customers)
            if gap > 0 and counts[i] < MAX_ORDERS:
                counts[i] += 1
                gap -= 1
            elif gap < 0 and counts[i] > 1:
                counts[i] -= 1
                gap += 1
        return counts

    def produce(self, customers: int, out: Any) -> None:
        """The producer process: batches of rows, in order, then None."""
        ids = sorted(uuid.uuid4() for _ in range(customers))
        orders = self.order_counts(customers)
        step = (HISTORY_SECONDS - 86_400) / max(1, int(customers * self.args.audit_per_customer))
        size = self.args.batch
        for first in range(0, customers, size):
            batch = Batch()
            for index in range(first, min(customers, first + size)):
                self._customer(batch, index, ids[index], orders[index])
            self._chain(batch, step)
            batch.customers = spread(batch.customers)
            batch.values = spread(batch.values)
            batch.indexes = spread(batch.indexes)
            batch.orders = spread(batch.orders)
            out.put(batch)
        out.put(None)

    # -- writing (main process) --------------------------------------------------------------

    def _write(self, batch: Batch) -> None:
        from django.db import transaction

        from pledge.audit.models import AuditCheckpoint, AuditEvent
        from pledge.consent.models import ConsentEvent, ConsentState
        from pledge.vault.importer import (
            CONSENT_EVENT_COLUMNS,
            CUSTOMER_COLUMNS,
            INDEX_COLUMNS,
            VALUE_COLUMNS,
        )
        from pledge.vault.keystore import StoredKey, keystore
        from pledge.vault.models import BlindIndex, Customer, EncryptedValue, Invoice, Order

        w = self.writer
        # The keys first, as the importer: a batch that then fails leaves keys that decrypt
        # nothing, never ciphertext without its key.
        keystore().put(StoredKey(uuid.UUID(bytes=c), 0, v, k) for c, v, k in batch.keys)
        with transaction.atomic():
            w.write(Customer, CUSTOMER_COLUMNS, batch.customers)
            w.write(EncryptedValue, VALUE_COLUMNS, batch.values)
            w.write(BlindIndex, INDEX_COLUMNS, batch.indexes)
            w.write(Order, ORDER_COLUMNS, batch.orders)
            w.write(Invoice, INVOICE_COLUMNS, batch.invoices)
            if batch.consents:
                ledger = ConsentEvent._meta.db_table
                last = w.execute(f"SELECT COALESCE(MAX(id), 0) FROM {ledger}")[0][0]
                w.write(ConsentEvent, CONSENT_EVENT_COLUMNS, batch.consents)
                state = ConsentState._meta.db_table
                # The derived state of the new `given` events (one writer: their ids are larger).
                w.execute(
                    f"INSERT INTO {state} (customer_id, visitor, purpose, live, event_id, "
                    f"updated_at) SELECT customer_id, NULL, purpose, %s, id, at FROM {ledger} "
                    "WHERE id > %s",
                    [True, last],
                )
            w.write(AuditEvent, AUDIT_COLUMNS, batch.events)
            w.write(AuditCheckpoint, CHECKPOINT_COLUMNS, batch.checkpoints)
        c = self.counts
        c.customers += len(batch.customers)
        c.values += len(batch.values)
        c.indexes += len(batch.indexes)
        c.orders += len(batch.orders)
        c.invoices += len(batch.invoices)
        c.consents += len(batch.consents)
        c.audit_events += len(batch.events)
        c.checkpoints += len(batch.checkpoints)
        self.candidates += [
            Candidate(uuid.UUID(bytes=c), index, language, person)
            for c, index, language, person in batch.candidates
        ]

    def load(self, customers: int) -> None:
        """Fork the producer (it inherits this set-up; Django's connection is closed first, so the
        child never shares it), then write each batch it sends."""
        import multiprocessing

        from django.db import connection

        connection.close()
        context = multiprocessing.get_context("fork")
        queue = context.Queue(maxsize=2)
        producer = context.Process(target=self.produce, args=(customers, queue), daemon=True)
        producer.start()
        started = time.perf_counter()
        try:
            with self.writer.load_mode(LOADED_TABLES):
                while True:
                    began = time.perf_counter()
                    batch = queue.get(timeout=600)
                    self.waited_s += time.perf_counter() - began
                    if batch is None:
                        break
                    began = time.perf_counter()
                    self._write(batch)
                    self.wrote_s += time.perf_counter() - began
                    done = self.counts.customers
                    seconds = time.perf_counter() - started
                    log(
                        f"  {done:,}/{customers:,} customers, {self.counts.orders:,} orders, "
                        f"{self.counts.audit_events:,} audit events · {seconds:,.0f} s "
                        f"(writing {self.wrote_s:,.0f} s, waiting for rows {self.waited_s:,.0f} s)"
                        f" · ETA {seconds / done * (customers - done):,.0f} s"
                    )
            if self.pg:
                # As autovacuum would in time: statistics for the planner, the visibility map.
                log("  VACUUM ANALYZE…")
                self.writer.execute("VACUUM ANALYZE")
        finally:
            producer.join(timeout=10)
            if producer.is_alive():
                producer.terminate()
        if producer.exitcode not in (0, None):
            raise SystemExit(f"bench: the row producer failed (exit {producer.exitcode})")


# -- targets ----------------------------------------------------------------------------------

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001"
    "0d0a2db40000000049454e44ae426082"
)


def enrich(gen: ShopGenerator, target: Candidate, kind: str) -> uuid.UUID:
    """Through the real services, what a recent buyer has besides the generated history: an order
    with the buyer's details, its guarantee card and card payment, an identity-document copy,
    three staff reads of the profile, and a data-subject request (`kind`). Returns the request."""
    from pledge.rights.services import file_request
    from pledge.vault import services
    from pledge.vault.access import Actor
    from pledge.vault.documents import store_id_document
    from pledge.vault.payments import CardInput, authorize_payment

    shape = gen.shape
    api = Actor(kind="api", id="bench-shop", purposes=shape.purposes)
    person = gen.people[target.person]
    values = {
        "full_name": person.name,
        "address": person.address,
        "email": email_of(person, target.index),
        "phone": phone_of(target.index),
    }
    cid = target.id
    order_id = services.place_order(
        actor=api,
        purpose=shape.order_purpose,
        customer_id=cid,
        number=f"WEB{target.index:07d}",
        items=[
            {"sku": "RG-18K-01", "name": "Nhẫn vàng 18K", "quantity": 1, "unit_price": "5200000"}
        ],
        total="5200000",
        fields={f: values[f] for f in shape.order_fields},
    )
    today = dt.date.today()  # noqa: DTZ011 - a synthetic date
    if shape.guarantee_purpose:
        services.issue_guarantee(
            actor=api,
            purpose=shape.guarantee_purpose,
            customer_id=cid,
            number=f"BH-{target.index:07d}",
            product="Nhẫn vàng 18K",
            issued_on=today,
            valid_until=today + dt.timedelta(days=365),
            order_id=order_id,
        )
    if shape.payment_purpose:
        authorize_payment(
            actor=api,
            purpose=shape.payment_purpose,
            customer_id=cid,
            order_id=order_id,
            card=CardInput(
                number="4111 1111 1111 1111",
                expiry_month=12,
                expiry_year=2030,
                holder=person.slug.replace(".", " ").upper(),
                cvc="123",
            ),
        )
    if shape.document_purpose:
        store_id_document(
            actor=api,
            purpose=shape.document_purpose,
            customer_id=cid,
            content=PNG,
            content_type="image/png",
        )
    sales = Actor(kind="staff", id="bench-sales", role="sales")
    for _ in range(3):
        services.read_customer(actor=sales, purpose=shape.profile_purpose, customer_id=cid)
    request = file_request(
        actor=Actor(kind="customer", id=str(cid)),
        customer_id=cid,
        kind=kind,
        channel="privacy_center",
    )
    return request.id


def unused_candidates(pool: int) -> list[Candidate]:
    """Generated customers with an invoice and a live consent that no earlier measurement of a
    kept data set used (a target files a request; an erased one is erased)."""
    from django.db import connection

    from pledge.consent.models import ConsentState
    from pledge.rights.models import DataSubjectRequest
    from pledge.vault.models import Customer, Invoice
    from pledge.vault.store import as_uuid

    sql = (
        f"SELECT c.id, c.external_ref, c.language FROM {Customer._meta.db_table} c "
        "WHERE c.erased_at IS NULL AND c.external_ref LIKE %s "
        f"AND EXISTS (SELECT 1 FROM {Invoice._meta.db_table} i WHERE i.customer_id = c.id) "
        f"AND EXISTS (SELECT 1 FROM {ConsentState._meta.db_table} s "
        "WHERE s.customer_id = c.id AND s.live) "
        f"AND NOT EXISTS (SELECT 1 FROM {DataSubjectRequest._meta.db_table} r "
        "WHERE r.customer_id = c.id)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, ["bg-%"])
        found = cursor.fetchall()
    candidates = []
    for cid, ref, language in found:
        index = int(str(ref)[3:])
        candidates.append(Candidate(as_uuid(cid), index, str(language), index % pool))
    return candidates


# -- measuring --------------------------------------------------------------------------------


@dataclass
class Timings:
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float) -> None:
        self.wall_ms.append(wall * 1000)
        self.cpu_ms.append(cpu * 1000)


def quantiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100)
    return cuts[49], cuts[94]


def export_once(target: Candidate, language: str | None = None) -> int:
    from pledge.rights.export import build_package
    from pledge.vault.access import Actor

    package = build_package(
        actor=Actor(kind="customer", id=str(target.id)),
        customer_id=target.id,
        language=language or target.language,
    )
    return len(package.zip_bytes())


def erase_once(target: Candidate, request_id: uuid.UUID | None) -> Any:
    from pledge.vault.access import Actor
    from pledge.vault.erasure import erase_customer

    return erase_customer(
        actor=Actor(kind="staff", id="1", role="owner"),
        customer_id=target.id,
        request_id=request_id,
    )


def timed(call: Callable[[], Any], timings: Timings) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    timings.add(time.perf_counter() - wall, time.process_time() - cpu)
    return result


@dataclass
class Sampled:
    """Calls run again under CaptureQueriesContext: query counts, SQL time, statements."""

    queries: list[int] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    keystore_ms: list[float] = field(default_factory=list)
    statements: list[dict[str, str]] = field(default_factory=list)


def sample(call: Callable[[], Any], sampled: Sampled) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from pledge.vault.keystore import keystore

    spent = 0.0
    in_store = 0.0

    def clock(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        # CaptureQueriesContext keeps times to the millisecond; these queries take less.
        nonlocal spent
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent += time.perf_counter() - began

    def store_clock(method: Callable[..., Any]) -> Callable[..., Any]:
        def timed_method(*args: Any, **kwargs: Any) -> Any:
            nonlocal in_store
            began = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                in_store += time.perf_counter() - began

        return timed_method

    # The key store is a SQLite file of its own (synchronous=FULL, a WAL checkpoint after each
    # shred): its time is apart from the database's.
    store = keystore()
    wanted = ("get", "put", "generations", "next_generation", "queue_shred", "destroy")
    methods = [name for name in (*wanted, "drop_pending") if hasattr(store, name)]
    for name in methods:
        setattr(store, name, store_clock(getattr(store, name)))
    try:
        with CaptureQueriesContext(connection) as ctx, connection.execute_wrapper(clock):
            call()
    finally:
        for name in methods:
            delattr(store, name)
    sampled.queries.append(len(ctx.captured_queries))
    sampled.sql_ms.append(spent * 1000)
    sampled.keystore_ms.append(in_store * 1000)
    if not sampled.statements:
        sampled.statements = list(ctx.captured_queries)


def explain(statements: list[dict[str, str]], large: set[str]) -> list[dict[str, Any]]:
    """The plan of each SELECT/UPDATE/DELETE of a call; `full_scan` names the large tables read
    whole (SQLite: SCAN without a usable index; PostgreSQL: Seq Scan)."""
    from django.db import connection

    report = []
    for query in statements:
        sql = query["sql"]
        verb = sql.lstrip().split(None, 1)[0].upper()
        if verb not in ("SELECT", "UPDATE", "DELETE", "WITH"):
            continue
        prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
        try:
            with connection.cursor() as cursor:
                cursor.execute(prefix + sql)
                rows = cursor.fetchall()
        except Exception as exc:
            report.append({"sql": sql[:300], "plan": [f"(not explained: {exc})"], "full_scan": []})
            continue
        if connection.vendor == "sqlite":
            plan = [str(r[-1]) for r in rows]
            scans = []
            # "SCAN t" in the order the query wants, with a LIMIT and no filter, reads only the
            # first rows (the audit head: ORDER BY seq DESC LIMIT 1 on the rowid).
            stops_early = (
                " LIMIT " in sql
                and " WHERE " not in sql
                and not any("TEMP B-TREE" in line for line in plan)
            )
            for line in plan:
                words = line.split()
                if words[:1] == ["SCAN"] and len(words) > 1 and not stops_early:
                    name = words[1]
                    # An alias ("c") stands for a table of the statement: count it as large
                    # when the statement names a large table.
                    if name in large or (
                        not name.startswith(("vault_", "audit_", "consent_"))
                        and name not in ("CONSTANT",)
                        and any(t in sql for t in large)
                    ):
                        scans.append(line)
        else:
            plan = [str(r[0]) for r in rows]
            scans = [
                line.strip()
                for line in plan
                if "Seq Scan on " in line
                and line.split("Seq Scan on ", 1)[1].split()[0].strip('"') in large
            ]
        report.append({"sql": sql[:300], "plan": plan, "full_scan": scans})
    return report


def profile_calls(calls: Sequence[Callable[[], Any]], name: str) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for call in calls:
        call()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
    from django.db import connection

    path = RESULTS / f"profile-rights-{connection.vendor}-{name}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue())
    return str(path)


def table_rows(large_models: Sequence[Any]) -> dict[str, int]:
    return {m._meta.db_table: m._default_manager.count() for m in large_models}


# -- main -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description="Pledge export and erasure latency at scale")
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--database-url", default=None, help="postgresql://… (empty throwaway)")
    parser.add_argument(
        "--postgresql", action="store_true", help="start a throwaway PostgreSQL server"
    )
    parser.add_argument("--preset", default=PRESET, help="policy preset (default: preset B)")
    parser.add_argument("--calls", type=int, default=200, help="timed calls of each (≥ 200)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--query-sample", type=int, default=10)
    parser.add_argument("--batch", type=int, default=10_000, help="customers per transaction")
    parser.add_argument("--invoice-share", type=float, default=0.2)
    parser.add_argument("--consent-share", type=float, default=0.4)
    parser.add_argument("--audit-per-customer", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--profile", action="store_true", help=f"cProfile {PROFILE_CALLS} calls of each"
    )
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the run's directory")
    parser.add_argument(
        "--reuse",
        type=Path,
        metavar="DIR",
        help="measure again on the data set a --keep run left in DIR (no generation)",
    )
    args = parser.parse_args()
    if args.postgresql and args.database_url:
        parser.error("give --postgresql or --database-url, not both")
    if args.calls < 20 or args.customers < 1_000:
        parser.error("at least 20 calls and 1,000 customers")
    if args.reuse is not None:
        recorded = args.reuse / RUN_FILE
        if not recorded.exists():
            parser.error(f"{args.reuse} holds no data set of this bench ({RUN_FILE})")
        kept = json.loads(recorded.read_text())
        args.seed, args.preset, args.customers = kept["seed"], kept["preset"], kept["customers"]
        args.postgresql = (args.reuse / "pg").exists()
        args.keep = True  # asked for again: never removed by a re-measurement

    needed = BYTES_PER_CUSTOMER * args.customers * 1.2
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if args.reuse is None and args.database_url is None and free < needed:
        parser.error(
            f"{args.customers:,} customers need ~{needed / 1e9:.0f} GB in {tempfile.gettempdir()}"
            f" ({free / 1e9:.0f} GB free): give fewer --customers or another TMPDIR"
        )

    started = time.perf_counter()
    began = dt.datetime.now(dt.UTC)
    server: ThrowawayPostgres | None = None
    run_dir = args.reuse or Path(tempfile.mkdtemp(prefix="pledge-bench-rights-"))
    try:
        if args.postgresql:
            server = ThrowawayPostgres(run_dir / "pg")
            if args.reuse is None:
                server.init()
                server.start(PG_LOAD_SETTINGS)
                args.database_url = server.create_database("pledge_bench")
                log(f"bench: PostgreSQL started on 127.0.0.1:{server.port} (load settings)")
            else:
                server.start()
                args.database_url = server.url("pledge_bench")
        setup_django(args.database_url, run_dir / "var", args.preset, fresh=args.reuse is None)
        return run(args, run_dir, server, started, began)
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            log(f"  kept {run_dir} (measure again: --reuse {run_dir})")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)


def run(
    args: argparse.Namespace,
    run_dir: Path,
    server: ThrowawayPostgres | None,
    started: float,
    began: dt.datetime,
) -> int:
    from django.db import connection

    from pledge.audit.models import AuditEvent
    from pledge.consent.models import ConsentEvent, ConsentState
    from pledge.vault.keystore import keystore
    from pledge.vault.models import BlindIndex, Customer, EncryptedValue, Invoice, Order

    var_dir = run_dir / "var"
    info = machine(var_dir)
    vendor = connection.vendor
    log(
        f"bench: {vendor} · {info['nproc']} cores {info['cpu']} · "
        f"load {info['load_average_at_start'][0]:.2f} · {args.customers:,} customers"
    )
    shape = policy_shape()
    writer = Writer()
    gen = ShopGenerator(writer, shape, args)
    if args.reuse is None:
        generation_started = time.perf_counter()
        gen.load(args.customers)
        generated_s = time.perf_counter() - generation_started
        index_s = writer.index_s
        (run_dir / RUN_FILE).write_text(
            json.dumps(
                {
                    "seed": args.seed,
                    "preset": args.preset,
                    "customers": args.customers,
                    "generation_s": generated_s,
                    "index_build_s": index_s,
                    "generated": asdict(gen.counts),
                }
            )
        )
    else:
        recorded = json.loads((run_dir / RUN_FILE).read_text())
        generated_s, index_s = recorded["generation_s"], recorded["index_build_s"]
        gen.counts = Counts(**recorded["generated"])
        gen.candidates = unused_candidates(len(gen.people))
        log(f"  measuring again on {run_dir} ({len(gen.candidates):,} customers not used yet)")
    if server is not None and args.reuse is None:
        # Measured on the server's default configuration (fsync on, shared_buffers 128 MB).
        connection.close()
        server.stop()
        server.start()
        log("  PostgreSQL restarted with its default configuration")
    # The load leaves gigabytes of dirty pages (SQLite wrote with synchronous=OFF); while the
    # kernel writes them back, every fsync (each erasure makes several in the key store) waits
    # behind them. A shop's database is not being bulk-loaded when it erases someone: flush first.
    sync_started = time.perf_counter()
    os.sync()
    synced_s = time.perf_counter() - sync_started
    log(f"  flushed the load to disk in {synced_s:,.0f} s")
    large_models = (
        Customer,
        EncryptedValue,
        BlindIndex,
        Order,
        Invoice,
        ConsentEvent,
        ConsentState,
        AuditEvent,
    )
    rows = table_rows(large_models)
    log(f"  generated in {generated_s:,.0f} s: " + ", ".join(f"{t} {n:,}" for t, n in rows.items()))
    db_bytes = database_bytes(var_dir)

    # Targets: random customers with orders, an invoice and a consent.
    rng = random.Random(args.seed + 1)
    wanted = 2 * (args.calls + args.warmup) + args.query_sample + PROFILE_CALLS
    if len(gen.candidates) < wanted:
        raise SystemExit(
            f"bench: {len(gen.candidates)} candidates, {wanted} needed: more customers"
        )
    targets = rng.sample(gen.candidates, wanted)
    to_export = targets[: args.calls + args.warmup]
    to_erase = targets[args.calls + args.warmup : 2 * (args.calls + args.warmup)]
    to_sample_erase = targets[2 * (args.calls + args.warmup) :][: args.query_sample]
    to_profile = targets[2 * (args.calls + args.warmup) + args.query_sample :]
    enrich_started = time.perf_counter()
    requests: dict[uuid.UUID, uuid.UUID] = {}
    for t in to_export:
        enrich(gen, t, "access")
    for t in (*to_erase, *to_sample_erase, *to_profile):
        requests[t.id] = enrich(gen, t, "erasure")
    enriched_s = time.perf_counter() - enrich_started
    log(f"  {len(targets)} targets given their recent history ({enriched_s:.0f} s)")

    # Warm, then interleaved: a burst of other work on the machine hits both alike.
    load_before = os.getloadavg()
    for language in ("vi", "en"):  # both languages' templates and translations loaded
        export_once(to_export[0], language)
    for t in to_export[: args.warmup]:
        export_once(t)
    for t in to_erase[: args.warmup]:
        erase_once(t, requests[t.id])
    exports, erasures = Timings(), Timings()
    sizes: list[int] = []
    kept: Counter[str] = Counter()
    for x, e in zip(to_export[args.warmup :], to_erase[args.warmup :], strict=True):
        sizes.append(timed(partial(export_once, x), exports))
        report = timed(partial(erase_once, e, requests[e.id]), erasures)
        for item in report.kept:
            kept[f"{item.record_kind}.{item.field}"] += item.count
    load_after = os.getloadavg()
    # Erasure really shredded: no target keeps the key generation its values were written with.
    store = keystore()
    for e in to_erase:
        assert 0 not in store.generations(e.id), "an erased customer's first key survived"

    export_q, erase_q = Sampled(), Sampled()
    for t in to_export[args.warmup :][: args.query_sample]:
        sample(partial(export_once, t), export_q)
    for t in to_sample_erase:
        sample(partial(erase_once, t, requests[t.id]), erase_q)
    large = {name for name, n in rows.items() if n >= LARGE_TABLE_ROWS}
    plans = {
        "export": explain(export_q.statements, large),
        "erasure": explain(erase_q.statements, large),
    }
    scans = {k: [p for p in v if p["full_scan"]] for k, v in plans.items()}

    figures: list[Figure] = []
    scale = f"{rows[Customer._meta.db_table]:,} customers / {rows[Order._meta.db_table]:,} orders"
    for name, timings, verb in (
        ("export", exports, "export: build_package + zip"),
        ("erasure", erasures, "erasure: erase_customer"),
    ):
        p50, p95 = quantiles(timings.wall_ms)
        cpu50, cpu95 = quantiles(timings.cpu_ms)
        figures.append(Figure(f"{name}_p50_ms", f"{verb}, p50", p50, "ms"))
        figures.append(
            Figure(
                f"{name}_p95_ms",
                f"{verb}, p95",
                p95,
                "ms",
                f"≤ {BUDGET_P95_MS:.0f} ms",
                p95 <= BUDGET_P95_MS,
                scale,
            )
        )
        figures.append(Figure(f"{name}_cpu_p50_ms", f"{verb}, process CPU p50", cpu50, "ms"))
        figures.append(Figure(f"{name}_cpu_p95_ms", f"{verb}, process CPU p95", cpu95, "ms"))
    for name, sampled in (("export", export_q), ("erasure", erase_q)):
        figures.append(
            Figure(
                f"{name}_queries",
                f"{name}: SQL queries per call (max of {len(sampled.queries)})",
                max(sampled.queries),
                "",
                note=f"min {min(sampled.queries)}",
            )
        )
        figures.append(
            Figure(
                f"{name}_sql_ms",
                f"{name}: time in SQL per call, median (sampled calls)",
                statistics.median(sampled.sql_ms),
                "ms",
            )
        )
        figures.append(
            Figure(
                f"{name}_keystore_ms",
                f"{name}: time in the key store per call, median (sampled calls)",
                statistics.median(sampled.keystore_ms),
                "ms",
            )
        )
    figures.append(
        Figure("package_kb", "package size, median", statistics.median(sizes) / 1024, "KiB")
    )
    for f in figures:
        log(f"  {f.label}: {f.value:,.2f} {f.unit}")

    profiles: dict[str, str] = {}
    missed = [f for f in figures if f.met is False]
    if args.profile or missed:
        sample_export = to_export[args.warmup :][:PROFILE_CALLS]
        profiles["export"] = profile_calls(
            [partial(export_once, t) for t in sample_export], "export"
        )
        profiles["erasure"] = profile_calls(
            [partial(erase_once, t, requests[t.id]) for t in to_profile], "erasure"
        )

    seconds = time.perf_counter() - started
    print_table(figures)
    for name, found in scans.items():
        if found:
            print(f"{name}: full scans of large tables in {len(found)} statement(s):")
            for p in found:
                print(f"  {p['sql'][:160]}\n    {'; '.join(p['full_scan'])}")
        else:
            print(f"{name}: no full scan of a large table ({len(plans[name])} statements planned)")
    print(
        f"{len([f for f in figures if f.met is False])} budget(s) missed"
        + "".join(f"; {f.label}" for f in figures if f.met is False)
    )
    report = {
        "started_at": began.isoformat(timespec="seconds"),
        "duration_s": round(seconds, 1),
        "generation_s": round(generated_s, 1),
        "index_build_s": round(index_s, 1),
        "reused": str(args.reuse) if args.reuse else None,
        "sync_s": round(synced_s, 1),
        "machine": info,
        "load_average_during_measure": [load_before, load_after],
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "scale": {
            **rows,
            "database_bytes": db_bytes,
            "keystore_keys": sum(store.count_by_version().values()),
        },
        "generated": asdict(gen.counts),
        "shape": asdict(shape) | {"purposes": sorted(shape.purposes)},
        "kept_by_erasures": dict(kept),
        "figures": [asdict(f) for f in figures],
        "queries": {
            "export": export_q.queries,
            "erasure": erase_q.queries,
        },
        "plans": plans,
        "full_scans": scans,
        "profiles": profiles,
    }
    output = args.output or RESULTS / (
        "rights.json" if vendor == "sqlite" else "rights-postgresql.json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"wrote {output} ({seconds:.0f} s, generation {generated_s:.0f} s)")
    return 0


def database_bytes(var_dir: Path) -> int | None:
    from django.db import connection

    if connection.vendor == "sqlite":
        return sum(p.stat().st_size for p in var_dir.glob("pledge.sqlite3*"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return int(cursor.fetchone()[0])


if __name__ == "__main__":
    raise SystemExit(main())
