"""The policy's retention rules, compiled for the sweep (issue 8 item 4; P17; PDPL Art 3 storage
limitation).

A rule keeps some fields (or all) of some record kinds for a period counted from an anchor. Only
`duration` periods end by the calendar; `until_cancellation` (seeds B, E) ends with an erasure
request (rights/), `until_purpose_ends` (seed C) and `permanent` (seed D; linted) never end by the
calendar, so the sweep never deletes under them.

Anchors (the day a period starts), for one value held on a record:

- `collection`: a value on an order, invoice, payment or guarantee card counts from the record's
  own date (placed, issued, paid); any other value from when it was written.
- `last_activity`: the customer's last activity: their latest order, else their creation.
- `order_completion`: the value's order once completed (no completed order: not yet); a value on
  no order counts from the customer's latest completed order.
- `fiscal_year_end`: 31 December of the year `collection` gives (Accounting Law Art 12(1)).
- `account_closure`: when the customer's privacy-center account was closed (none: not yet).
- `purpose_end`: never by the calendar (a purpose ends by a decision, not a date).

The orders table keeps no completion time: an order's anchor under `order_completion` is the day it
was placed, counted only once its status is `completed`.

A rule naming the `profile` record with no field list covers the customer as a whole: when it is
due (anchors counted for the customer: `collection` = created), the customer is erased as an
erasure request erases them (crypto-shredding, vault/erasure.py), keeping what a legal hold keeps.

Legal holds (jurisdiction profiles' statutory holds, e.g. invoices 10 years from the end of the
fiscal year, Accounting Law 88/2015 Art 41; and the policy's rules with a `legal_hold`) override
every rule: a due value a hold still keeps stays. When several rules cover one value, the earliest
end wins (each is a promise to keep no longer).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from pledge.policy.enforcement import EnforcedPolicy
from pledge.vault.erasure import Hold, hold_end, legal_holds

# Records dated by a row of their own (the `collection` anchor of their values is that date).
DATED_RECORDS = frozenset({"order", "invoice", "payment", "guarantee"})
# Records tied to an order (the `order_completion` anchor is that order's).
ORDER_RECORDS = DATED_RECORDS


@dataclass(frozen=True)
class CompiledRule:
    """A retention rule that ends by the calendar."""

    key: str
    records: frozenset[str]
    fields: frozenset[str] | None  # None: every field held on those records
    amount: int
    unit: str
    anchor: str
    legal_hold: bool

    @property
    def whole_customer(self) -> bool:
        return "profile" in self.records and self.fields is None

    def covers(self, record_kind: str, field: str) -> bool:
        return record_kind in self.records and (self.fields is None or field in self.fields)

    def end(self, anchor_day: dt.date) -> dt.date:
        """The first day the data is no longer kept (as `erasure.hold_end` counts holds)."""
        return hold_end(self._as_hold, anchor_day)

    @cached_property
    def _as_hold(self) -> Hold:
        return Hold(
            key=self.key,
            records=self.records,
            amount=self.amount,
            unit=self.unit,
            start=self.anchor,
            reason={},
            article={},
        )

    def as_dict(self) -> dict[str, object]:
        """What a run's report records of the rule it applied (no personal data)."""
        return {
            "key": self.key,
            "records": sorted(self.records),
            "fields": sorted(self.fields) if self.fields is not None else [],
            "period": f"{self.amount} {self.unit}",
            "anchor": self.anchor,
            "legal_hold": self.legal_hold,
            "whole_customer": self.whole_customer,
        }


@dataclass(frozen=True)
class RetentionRules:
    rules: tuple[CompiledRule, ...]
    holds: tuple[Hold, ...]
    # Rules that never end by the calendar, by key (reported, never swept).
    open_ended: tuple[str, ...]

    @property
    def customer_rules(self) -> tuple[CompiledRule, ...]:
        return tuple(r for r in self.rules if r.whole_customer)

    def rules_for(self, record_kind: str, field: str) -> list[CompiledRule]:
        return [r for r in self.rules if r.covers(record_kind, field)]

    @property
    def sweeps_anything(self) -> bool:
        return bool(self.rules)


def compile_rules(enforced: EnforcedPolicy) -> RetentionRules:
    rules: list[CompiledRule] = []
    open_ended: list[str] = []
    for rule in enforced.policy.retention:
        period = rule.period
        if period.kind != "duration":
            open_ended.append(rule.key)
            continue
        if period.start == "purpose_end":
            open_ended.append(rule.key)
            continue
        rules.append(
            CompiledRule(
                key=rule.key,
                records=frozenset(rule.records),
                fields=frozenset(rule.fields) if rule.fields else None,
                amount=period.amount,
                unit=period.unit,
                anchor=period.start,
                legal_hold=rule.legal_hold is not None,
            )
        )
    return RetentionRules(
        rules=tuple(rules), holds=tuple(legal_holds(enforced)), open_ended=tuple(open_ended)
    )


def earliest(ends: Iterable[tuple[dt.date, str]]) -> tuple[dt.date, str] | None:
    """The earliest (end, rule key), ties broken by key so every run credits the same rule."""
    return min(ends, default=None)
