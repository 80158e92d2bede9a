"""A shop with years of customers, written fast, and what its retention rules make due.

`generate` writes customers straight into the database with the vault's own primitives (a data
key per customer in the key store, values sealed by `CustomerKey.encrypt`, blind indexes by
`crypto.blind_index`), as bench/bench_rights.py does, with raw `executemany`, instead of a service
call per customer. People come from a small pool of `vault.demo_data.SyntheticCustomers` (Faker),
each with their own email. Every date is chosen by the generator and returned in a `Manifest`, from
which `expected_after_sweep` computes what must remain, independently of retention/: plain
calendar arithmetic on the rules below.

Also importable by a `pledge shell` subprocess (the crash test), which calls `generate` on its
own database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction

SHOP_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# The frozen "today" of the tests: noon in the shop's time zone.
TODAY = dt.date(2026, 6, 15)
NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=SHOP_TZ)

# The rules the tests add to preset B (which itself keeps everything "until cancellation").
RULES: list[dict[str, Any]] = [
    {
        "key": "inactive_customers",
        "records": ["profile"],
        "period": {"kind": "duration", "amount": 5, "unit": "years", "start": "last_activity"},
    },
    {
        "key": "delivery_details",
        "records": ["order"],
        "fields": ["address", "phone"],
        "period": {"kind": "duration", "amount": 2, "unit": "years", "start": "order_completion"},
    },
    {
        "key": "profile_phone",
        "records": ["profile"],
        "fields": ["phone"],
        "period": {"kind": "duration", "amount": 4, "unit": "years", "start": "collection"},
    },
    {
        # Invoices are due after a year under this rule, but the law keeps them 10 years from
        # the end of the fiscal year (vn-pdpl-2026: invoices-10-years): they must stay.
        "key": "invoice_copies",
        "records": ["invoice"],
        "period": {"kind": "duration", "amount": 1, "unit": "years", "start": "collection"},
    },
]
PROFILE_FIELDS = ("full_name", "email", "phone", "address")
ORDER_FIELDS = ("full_name", "address", "phone")
INVOICE_FIELDS = ("payment_history",)
INDEXED = ("email", "phone")
STATUSES = ("completed", "completed", "completed", "shipped", "cancelled", "placed")


def publish_retention_policy(today: dt.date = TODAY) -> None:
    """Preset B with RULES added, published and in force."""
    from pledge.policy.enforcement import clear_policy_cache
    from pledge.policy.loader import load_policy
    from pledge.policy.schema import RetentionRule
    from pledge.policy.services import publish_policy

    loaded = load_policy("leman-jewelry")
    rules = [*loaded.policy.retention, *(RetentionRule.model_validate(r) for r in RULES)]
    policy = loaded.policy.model_copy(
        update={"retention": rules, "version": f"{loaded.policy.version}-retention-test"}
    )
    clear_policy_cache()
    publish_policy(
        dataclasses.replace(loaded, policy=policy),
        actor="test",
        effective_date=today,
    )
    clear_policy_cache()


@dataclass
class OrderFacts:
    id: uuid.UUID
    placed: dt.date
    status: str
    invoice: uuid.UUID | None


@dataclass
class CustomerFacts:
    id: uuid.UUID
    created: dt.date
    phone_written: dt.date
    orders: list[OrderFacts] = field(default_factory=list)


@dataclass
class Manifest:
    customers: list[CustomerFacts]


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12, 0), tzinfo=SHOP_TZ)


_MOMENTS: dict[Any, Any] = {}


def _moment(value: Any) -> Any:
    """A date and time as the database takes it (cached: the shop's times are days at noon)."""
    if value not in _MOMENTS:
        _MOMENTS[value] = connection.ops.adapt_datetimefield_value(value)
    return _MOMENTS[value]


def _adapters(model: Any) -> tuple[list[Any], list[Any]]:
    """The model's columns and, for each, how a raw SQL parameter is made of a Python value:
    chosen once per model (the ORM's per-value `get_db_prep_save` was most of the generation)."""
    from django.db import models

    from pledge.vault.store import uuid_param

    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and f.auto_created)]
    adapters: list[Any] = []
    for f in fields:
        target = f.target_field if f.is_relation else f
        if isinstance(target, models.UUIDField):
            adapters.append(lambda v: None if v is None else uuid_param(v))
        elif isinstance(f, models.DateTimeField):
            adapters.append(_moment)
        elif isinstance(f, models.CharField | models.IntegerField | models.BooleanField):
            adapters.append(lambda v: v)
        else:
            adapters.append(lambda v, f=f: f.get_db_prep_save(v, connection))
    return fields, adapters


class _Table:
    """Rows of one model as raw SQL parameters: the given values, the fields' defaults for the
    rest (no model instances: building 100,000s of them was much of the generation's time)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.fields, adapters = _adapters(model)
        self.columns = [
            (a, f.attname, f.get_default()) for a, f in zip(adapters, self.fields, strict=True)
        ]
        self.rows: list[list[Any]] = []

    def add(self, **values: Any) -> None:
        self.rows.append(
            [a(values[name]) if name in values else a(d) for a, name, d in self.columns]
        )

    def flush(self) -> None:
        if self.rows:
            _insert_rows(self.model, self.fields, self.rows)
        self.rows = []


def _insert_rows(model: Any, fields: list[Any], rows: list[Any]) -> None:
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def _plan(count: int, seed: int, today: dt.date) -> list[CustomerFacts]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        dormant = rng.random() < 0.04
        # Most customers came in the last 4.5 years; a few dormant ones 5-7 years ago and never
        # ordered after their first year.
        age = rng.randrange(5 * 365 + 10, 7 * 365) if dormant else rng.randrange(0, 1640)
        created = today - dt.timedelta(days=age)
        span = min(age, 365) if dormant else age
        orders = []
        for _ in range(rng.randint(0, 3)):
            placed = created + dt.timedelta(days=rng.randrange(span + 1))
            status = rng.choice(STATUSES)
            invoiced = status == "completed" and rng.random() < 0.5
            orders.append(
                OrderFacts(uuid.uuid4(), placed, status, uuid.uuid4() if invoiced else None)
            )
        phone_written = created
        if rng.random() < 0.2:
            phone_written = created + dt.timedelta(days=rng.randrange(age + 1))
        out.append(CustomerFacts(uuid.uuid4(), created, phone_written, orders))
    return out


def generate(count: int, *, seed: int = 8, batch: int = 2000, today: dt.date = TODAY) -> Manifest:
    """Write `count` customers (one transaction per `batch`); returns what was written."""
    from pledge.keyring import load_keyring
    from pledge.vault.crypto import CustomerKey, blind_index, new_data_key, wrap_data_key
    from pledge.vault.demo_data import SyntheticCustomers
    from pledge.vault.keystore import StoredKey, keystore
    from pledge.vault.models import BlindIndex, Customer, EncryptedValue, Invoice, Order
    from pledge.vault.normalise import index_value
    from pledge.vault.store import uuid_param

    keyring = load_keyring()
    value_fields = [
        EncryptedValue._meta.get_field(n)
        for n in ("customer", "record_kind", "record_id", "field", "ciphertext", "updated_at")
    ]
    index_fields = [
        BlindIndex._meta.get_field(n)
        for n in ("customer", "kind", "digest", "record_kind", "record_id")
    ]
    moment = _moment
    native = connection.features.has_native_uuid_field
    _MOMENTS.clear()  # PostgreSQL and SQLite adapt differently: never reuse another run's
    customers, orders, invoices = _Table(Customer), _Table(Order), _Table(Invoice)
    # Blind indexes of the pool's phones, computed once (normalising a number is slow).
    phone_digest: dict[str, bytes] = {}
    people_source = SyntheticCustomers(seed, max_orders=0, now=NOW)
    pool = [people_source.customer(i, ref_prefix="ret-") for i in range(200)]
    facts = _plan(count, seed, today)
    for start in range(0, count, batch):
        chunk = facts[start : start + batch]
        keys: list[StoredKey] = []
        values: list[Any] = []
        indexes: list[Any] = []
        for n, c in enumerate(chunk, start=start):
            person = pool[n % len(pool)]
            raw = new_data_key()
            version, wrapped = wrap_data_key(raw, c.id, keyring)
            keys.append(StoredKey(c.id, 0, version, wrapped))
            key = CustomerKey.from_bytes(c.id, raw)
            created = _at(c.created)
            customers.add(
                id=c.id,
                created_at=created,
                updated_at=created,
                language=person.language,
                key_generation=0,
                restriction_reason="",
            )
            email = f"ret.{n}@example.com"
            profile = {
                "full_name": person.full_name,
                "email": email,
                "phone": person.phone,
                "address": person.address,
            }
            raw_id = uuid_param(c.id)
            for name, value in profile.items():
                written = _at(c.phone_written) if name == "phone" else created
                values.append(_value(key, "profile", c.id, name, value, moment(written), native))
            phone = person.phone
            if phone not in phone_digest:
                phone_digest[phone] = blind_index(
                    "phone", index_value("phone", phone, "VN"), keyring
                )
            for name, digest in (
                ("email", blind_index("email", index_value("email", email, "VN"), keyring)),
                ("phone", phone_digest[phone]),
            ):
                indexes.append((raw_id, name, digest, "profile", raw_id))
            for k, o in enumerate(c.orders):
                placed = _at(o.placed)
                when = moment(placed)
                orders.add(
                    id=o.id,
                    customer_id=c.id,
                    number=f"R{n:07d}-{k}",
                    placed_at=placed,
                    status=o.status,
                    currency="VND",
                    total=Decimal(1_450_000),
                    items=[{"sku": "NK-AG-03", "quantity": 1, "unit_price": "1450000"}],
                )
                for name in ORDER_FIELDS:
                    values.append(_value(key, "order", o.id, name, profile[name], when, native))
                if o.invoice is not None:
                    invoices.add(
                        id=o.invoice,
                        customer_id=c.id,
                        order_id=o.id,
                        number=f"INV{n:07d}-{k}",
                        issued_at=placed,
                        total=Decimal(1_450_000),
                        tax=Decimal(0),
                        currency="VND",
                    )
                    for name in INVOICE_FIELDS:
                        values.append(_value(key, "invoice", o.invoice, name, "paid", when, native))
        keystore().put(keys)
        with transaction.atomic():
            customers.flush()
            orders.flush()
            invoices.flush()
            _insert_rows(EncryptedValue, value_fields, values)
            _insert_rows(BlindIndex, index_fields, indexes)
    return Manifest(facts)


def _value(
    key: Any, kind: str, record_id: uuid.UUID, name: str, value: str, written: Any, native: bool
) -> tuple[Any, ...]:
    """An encrypted value's row as raw SQL parameters (`written`: already adapted; `native`: the
    database has a UUID type)."""
    if native:
        return (
            key.customer_id,
            kind,
            record_id,
            name,
            key.encrypt(kind, record_id, name, value),
            written,
        )
    return (
        key.customer_id.hex,
        kind,
        record_id.hex,
        name,
        key.encrypt(kind, record_id, name, value),
        written,
    )


# -- the expectation, computed without retention/ ------------------------------------------------


def _plus_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class Expected:
    erased: frozenset[uuid.UUID]
    # (customer id, record kind, record id, field), ids as 32 hex digits (as `state` gives them)
    values: frozenset[tuple[str, str, str, str]]
    indexes: frozenset[tuple[str, str]]  # (customer id, kind)
    deleted_order_values: int
    deleted_phones: int
    kept_invoices: int


def expected_after_sweep(manifest: Manifest, today: dt.date = TODAY) -> Expected:
    erased: set[uuid.UUID] = set()
    values: set[tuple[str, str, str, str]] = set()
    indexes: set[tuple[str, str]] = set()
    order_values = phones = kept = 0
    for c in manifest.customers:
        cid = c.id.hex
        last = max([c.created, *(o.placed for o in c.orders)])
        invoice_values = {
            (cid, "invoice", o.invoice.hex, f)
            for o in c.orders
            if o.invoice
            for f in INVOICE_FIELDS
        }
        # Invoices: 10 years from the end of their fiscal year, always ahead here.
        assert all(
            _plus_years(dt.date(o.placed.year, 12, 31), 10) > today for o in c.orders if o.invoice
        )
        if _plus_years(last, 5) <= today:
            # The erasure keeps every invoice the law still holds, due or not.
            kept += len(invoice_values)
            erased.add(c.id)
            values |= invoice_values
            continue
        for name in PROFILE_FIELDS:
            if name == "phone" and _plus_years(c.phone_written, 4) <= today:
                phones += 1
                continue
            values.add((cid, "profile", cid, name))
        for name in INDEXED:
            if name == "phone" and _plus_years(c.phone_written, 4) <= today:
                continue
            indexes.add((cid, name))
        for o in c.orders:
            for name in ORDER_FIELDS:
                due = (
                    name in ("address", "phone")
                    and o.status == "completed"
                    and _plus_years(o.placed, 2) <= today
                )
                if due:
                    order_values += 1
                else:
                    values.add((cid, "order", o.id.hex, name))
        kept += sum(1 for o in c.orders if o.invoice and _plus_years(o.placed, 1) <= today)
        values |= invoice_values
    return Expected(
        frozenset(erased), frozenset(values), frozenset(indexes), order_values, phones, kept
    )


def _hex(value: Any) -> str:
    # SQLite returns a UUID column as 32 hex digits, PostgreSQL as a UUID.
    return value if isinstance(value, str) else value.hex


def state() -> tuple[frozenset[Any], frozenset[Any], frozenset[str]]:
    """What the database holds now: value identities, index identities, erased customers (ids as
    32 hex digits; raw SQL: the ORM's UUID conversions made this slow at 100,000 customers)."""
    from pledge.vault.models import BlindIndex, Customer, EncryptedValue

    def rows(sql: str) -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    table = connection.ops.quote_name
    values = rows(
        "SELECT customer_id, record_kind, record_id, field FROM "
        + table(EncryptedValue._meta.db_table)
    )
    indexes = rows("SELECT customer_id, kind FROM " + table(BlindIndex._meta.db_table))
    erased = rows(
        "SELECT id FROM " + table(Customer._meta.db_table) + " WHERE erased_at IS NOT NULL"
    )
    if connection.vendor == "sqlite":
        return frozenset(values), frozenset(indexes), frozenset(r[0] for r in erased)
    return (
        frozenset((_hex(c), k, _hex(r), f) for c, k, r, f in values),
        frozenset((_hex(c), k) for c, k in indexes),
        frozenset(_hex(r[0]) for r in erased),
    )


def ids(items: Iterable[uuid.UUID | str]) -> list[str]:
    return sorted(i if isinstance(i, str) else i.hex for i in items)
