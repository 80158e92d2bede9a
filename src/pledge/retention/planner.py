"""What is due for a batch of customers on a given day (rules.py says how each rule counts).

A handful of indexed queries per batch (customers, their orders, invoices, payments, guarantee
cards, accounts and encrypted values, each by customer id), then pure computation: nothing here
writes, and nothing is decrypted. The queries are raw SQL returning the database's own values
(see `RawId`, `_Days`): a sweep reads every value of every customer, and the ORM's conversions
were most of its time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils import timezone

from pledge.accounts.models import CustomerAccount, CustomerSession
from pledge.consent.models import ConsentEvent
from pledge.retention.rules import DATED_RECORDS, CompiledRule, RetentionRules, earliest
from pledge.vault.erasure import Hold, hold_end
from pledge.vault.models import (
    Customer,
    EncryptedValue,
    GuaranteeCard,
    Invoice,
    Order,
    Payment,
)
from pledge.vault.store import as_uuid, uuid_param

COMPLETED = str(Order.Status.COMPLETED)
_CHUNK = 500


@dataclass(frozen=True)
class DueValue:
    pk: int
    customer_id: uuid.UUID
    record_kind: str
    record_id: uuid.UUID
    field: str
    rule: str


@dataclass
class BatchPlan:
    # customer -> the whole-customer rule that is due
    erase: dict[uuid.UUID, str] = field(default_factory=dict)
    # single values that are due and held by no legal hold
    delete: list[DueValue] = field(default_factory=list)
    # (hold key, "record_kind.field") -> values due under a rule that a legal hold keeps
    kept: Counter[tuple[str, str]] = field(default_factory=Counter)
    # For a dry run of the erasures: what each would delete and keep ("<kind> fields", as the
    # erasure report counts encrypted values).
    erase_values: dict[uuid.UUID, Counter[str]] = field(default_factory=dict)
    erase_kept: dict[uuid.UUID, Counter[tuple[str, str]]] = field(default_factory=dict)

    def value_counts(self) -> Counter[tuple[str, str]]:
        return Counter((d.rule, f"{d.record_kind}.{d.field}") for d in self.delete)


# Ids as the database returns them in raw SQL (a UUID on PostgreSQL, 32 hex digits on SQLite):
# the planner reads hundreds of thousands of rows a sweep, and building a UUID for each id the ORM
# returns was most of a sweep's time. Ids are converted only for what is due.
RawId = Any


@dataclass
class _Facts:
    """The dates of a batch's customers and records, as local days (keyed by raw ids)."""

    created: dict[RawId, dt.date]
    # record id -> (its day, its order's id or None)
    records: dict[RawId, tuple[dt.date, RawId | None]]
    order_day: dict[RawId, dt.date]
    completed_orders: set[RawId]
    last_activity: dict[RawId, dt.date]
    last_completed: dict[RawId, dt.date]
    closed: dict[RawId, dt.date]
    # Customers whose processing is restricted at their request or by their objection (GDPR
    # Art 18, 21): their data is kept, not swept, until the restriction is lifted.
    restricted: set[RawId] = field(default_factory=set)


class _Days:
    """Raw date and time values (text on SQLite, objects on PostgreSQL) -> local days, cached
    (a customer's values mostly share one write time)."""

    def __init__(self) -> None:
        self.zone = timezone.get_current_timezone()
        self.cache: dict[Any, dt.date] = {}

    def __call__(self, raw: Any) -> dt.date:
        day = self.cache.get(raw)
        if day is None:
            value = raw
            if isinstance(value, str):
                if len(value) == 10:
                    value = dt.date.fromisoformat(value)
                else:
                    # SQLite holds UTC without an offset (Django's SQLite backend, USE_TZ).
                    value = dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
            if isinstance(value, dt.datetime):
                if value.tzinfo is None:
                    value = value.replace(tzinfo=dt.UTC)
                day = value.astimezone(self.zone).date()
            else:
                day = value
            self.cache[raw] = day
        return day


def _col(model: Any, name: str) -> str:
    return str(connection.ops.quote_name(model._meta.get_field(name).column))


def _select(model: Any, names: tuple[str, ...], by: str, extra: str = "") -> str:
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(_col(model, n) for n in names)
    return f"SELECT {columns} FROM {table} WHERE {_col(model, by)} IN ({{marks}}){extra}"  # noqa: S608


def _rows(sql: str, raw_ids: list[RawId]) -> Iterator[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        for start in range(0, len(raw_ids), _CHUNK):
            chunk = raw_ids[start : start + _CHUNK]
            cursor.execute(sql.format(marks=", ".join(["%s"] * len(chunk))), chunk)
            yield from cursor.fetchall()


def _facts(raw_ids: list[RawId], day: _Days) -> _Facts:
    created = {
        pk: day(at) for pk, at in _rows(_select(Customer, ("id", "created_at"), "id"), raw_ids)
    }
    records: dict[RawId, tuple[dt.date, RawId | None]] = {}
    order_day: dict[RawId, dt.date] = {}
    completed: set[RawId] = set()
    last_activity = dict(created)
    last_completed: dict[RawId, dt.date] = {}
    orders = _select(Order, ("id", "customer", "placed_at", "status"), "customer")
    for order_id, customer_id, placed_at, status in _rows(orders, raw_ids):
        placed = day(placed_at)
        order_day[order_id] = placed
        records[order_id] = (placed, order_id)
        if placed > last_activity.get(customer_id, placed):
            last_activity[customer_id] = placed
        if status == COMPLETED:
            completed.add(order_id)
            if placed > last_completed.get(customer_id, dt.date.min):
                last_completed[customer_id] = placed
    for model, date_field in (
        (Invoice, "issued_at"),
        (Payment, "at"),
        (GuaranteeCard, "issued_on"),
    ):
        sql = _select(model, ("id", "order", date_field), "customer")
        for record_id, order_id, at in _rows(sql, raw_ids):
            records[record_id] = (day(at), order_id)
    closed: dict[RawId, dt.date] = {}
    accounts = _select(
        CustomerAccount,
        ("customer", "disabled_at"),
        "customer",
        f" AND {_col(CustomerAccount, 'disabled_at')} IS NOT NULL",
    )
    for customer_id, disabled_at in _rows(accounts, raw_ids):
        closed[customer_id] = day(disabled_at)
    # Activity is also the customer signing in to the privacy center and giving or withdrawing a
    # consent, not only ordering (security review: a customer who signs in but never orders was
    # swept on "N years from your last activity").
    for customer_id, seen in _rows(_last_sessions_sql(), raw_ids):
        _later(last_activity, customer_id, day(seen))
    consent = _select(ConsentEvent, ("customer_id", "at"), "customer_id")
    for customer_id, at in _rows(consent, raw_ids):
        _later(last_activity, customer_id, day(at))
    restricted_sql = _select(
        Customer,
        ("id",),
        "id",
        f" AND {_col(Customer, 'restricted_at')} IS NOT NULL"
        f" AND {_col(Customer, 'restriction_reason')} IN ('request', 'objection')",
    )
    restricted = {row[0] for row in _rows(restricted_sql, raw_ids)}
    return _Facts(
        created,
        records,
        order_day,
        completed,
        last_activity,
        last_completed,
        closed,
        restricted,
    )


def _later(days: dict[RawId, dt.date], key: RawId, day: dt.date) -> None:
    if day > days.get(key, day):
        days[key] = day


def _last_sessions_sql() -> str:
    sessions = connection.ops.quote_name(CustomerSession._meta.db_table)
    accounts = connection.ops.quote_name(CustomerAccount._meta.db_table)
    customer = f"a.{_col(CustomerAccount, 'customer')}"
    seen = f"s.{_col(CustomerSession, 'last_seen_at')}"
    joined = f"s.{_col(CustomerSession, 'account')} = a.{_col(CustomerAccount, 'id')}"
    return (
        f"SELECT {customer}, {seen} FROM {sessions} s JOIN {accounts} a ON {joined} "  # noqa: S608
        f"WHERE {customer} IN ({{marks}})"
    )


def _customer_anchor(rule: CompiledRule, customer_id: RawId, facts: _Facts) -> dt.date | None:
    anchor = rule.anchor
    if anchor in ("collection", "fiscal_year_end"):
        return facts.created.get(customer_id)
    if anchor == "last_activity":
        return facts.last_activity.get(customer_id)
    if anchor == "order_completion":
        return facts.last_completed.get(customer_id)
    if anchor == "account_closure":
        return facts.closed.get(customer_id)
    return None  # purpose_end: never by the calendar


def _value_anchor(
    rule: CompiledRule,
    customer_id: RawId,
    record_kind: str,
    record_id: RawId,
    written: dt.date,
    facts: _Facts,
) -> dt.date | None:
    anchor = rule.anchor
    record = facts.records.get(record_id) if record_kind in DATED_RECORDS else None
    if anchor in ("collection", "fiscal_year_end"):
        return record[0] if record is not None else written
    if anchor == "last_activity":
        return facts.last_activity.get(customer_id)
    if anchor == "order_completion":
        if record_kind in DATED_RECORDS:
            order_id = record[1] if record is not None else None
            if order_id is None or order_id not in facts.completed_orders:
                return None
            return facts.order_day[order_id]
        return facts.last_completed.get(customer_id)
    if anchor == "account_closure":
        return facts.closed.get(customer_id)
    return None


def _hold_start(
    customer_id: RawId, record_kind: str, record_id: RawId, facts: _Facts
) -> dt.date | None:
    # As vault/erasure.py's `_record_dates`: the record's own date, else the customer's creation.
    if record_kind in DATED_RECORDS:
        record = facts.records.get(record_id)
        return record[0] if record is not None else None
    return facts.created.get(customer_id)


def plan_batch(ids: list[uuid.UUID], rules: RetentionRules, today: dt.date) -> BatchPlan:
    plan = BatchPlan()
    day = _Days()
    raw_ids = [uuid_param(i) for i in ids]
    by_raw = dict(zip(raw_ids, ids, strict=True))
    facts = _facts(raw_ids, day)
    erasing: dict[RawId, str] = {}
    for raw in raw_ids:
        if raw in facts.restricted:
            continue
        ends = []
        for rule in rules.customer_rules:
            anchor = _customer_anchor(rule, raw, facts)
            if anchor is not None:
                ends.append((rule.end(anchor), rule.key))
        due = earliest(ends)
        if due is not None and due[0] <= today:
            erasing[raw] = due[1]
            plan.erase[by_raw[raw]] = due[1]

    covering: dict[tuple[str, str], list[CompiledRule]] = {}
    holding: dict[str, list[Hold]] = {}
    values = _select(
        EncryptedValue,
        ("id", "customer", "record_kind", "record_id", "field", "updated_at"),
        "customer",
    )
    for pk, raw_customer, record_kind, record_id, name, updated_at in _rows(values, raw_ids):
        if raw_customer in facts.restricted:
            continue
        if raw_customer in erasing:
            # What the erasure will do with it (counted for a dry run).
            customer_id = by_raw[raw_customer]
            hold = _held_by(raw_customer, record_kind, record_id, rules, holding, facts, today)
            if hold is None:
                plan.erase_values.setdefault(customer_id, Counter())[f"{record_kind} fields"] += 1
            else:
                category = f"{record_kind}.{name}"
                plan.erase_kept.setdefault(customer_id, Counter())[(hold, category)] += 1
            continue
        key = (record_kind, name)
        applicable = covering.get(key)
        if applicable is None:
            applicable = covering[key] = rules.rules_for(record_kind, name)
        if not applicable:
            continue
        written = day(updated_at)
        ends = []
        for rule in applicable:
            anchor = _value_anchor(rule, raw_customer, record_kind, record_id, written, facts)
            if anchor is not None:
                ends.append((rule.end(anchor), rule.key))
        due = earliest(ends)
        if due is None or due[0] > today:
            continue
        hold = _held_by(raw_customer, record_kind, record_id, rules, holding, facts, today)
        if hold is not None:
            # P13: what the law makes the shop keep stays.
            plan.kept[(hold, f"{record_kind}.{name}")] += 1
            continue
        plan.delete.append(
            DueValue(pk, by_raw[raw_customer], record_kind, as_uuid(record_id), name, due[1])
        )
    for customer_id in plan.erase:
        plan.erase_values.setdefault(customer_id, Counter())
        plan.erase_kept.setdefault(customer_id, Counter())
    return plan


def _held_by(
    customer_id: RawId,
    record_kind: str,
    record_id: RawId,
    rules: RetentionRules,
    holding: dict[str, list[Hold]],
    facts: _Facts,
    today: dt.date,
) -> str | None:
    """The legal hold that keeps this value longest today, if any."""
    holds = holding.get(record_kind)
    if holds is None:
        holds = holding[record_kind] = [h for h in rules.holds if record_kind in h.records]
    if not holds:
        return None
    start = _hold_start(customer_id, record_kind, record_id, facts)
    if start is None:
        return None
    best: tuple[dt.date, str] | None = None
    for hold in holds:
        until = hold_end(hold, start)
        if until > today and (best is None or until > best[0]):
            best = (until, hold.key)
    return best[1] if best is not None else None
