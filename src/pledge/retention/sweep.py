"""The retention sweep (issue 8 item 4; P17): what the policy keeps no longer goes, in batches.

A run walks the customers not yet erased in primary-key order, PLEDGE_RETENTION_BATCH at a time.
Each batch is one transaction that locks the run's row (PostgreSQL: `SELECT … FOR UPDATE`;
SQLite: transactions start IMMEDIATE and hold the write lock), reads the run's cursor, plans what
is due for the batch's customers (planner.py, rules.py), carries it out, and moves the cursor and
the counts on in the same commit. So:

- resumable: a process killed at any moment leaves the cursor at the last committed batch, and
  the next `sweep()` takes the same run up there; the uncommitted batch rolled back whole;
- idempotent: what a batch deleted is gone and erased customers are skipped, so a second run finds
  nothing to do (values a legal hold keeps are counted as kept again, and stay);
- safe with several workers: each batch holds the run's lock, and sees the cursor the previous
  batch committed.

What goes: a customer whose whole-customer rule is due is erased as an erasure request erases
them (`vault.erasure.erase_customer`: crypto-shredding, keeping, re-encrypted, what a legal hold
keeps; recipients are told through its hooks); a single due value is deleted with its lookup
index. (Backups taken before keep that value under the customer's live key until they rotate out;
whole customers are crypto-shredded, so their backups die at once.)

Every run is a proof-of-deletion report (RetentionRun: counts per rule and category, no personal
data) between `retention:sweep_started` and `retention:sweep_finished` events. A dry run plans
exactly as a run does and changes nothing but its own report.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pledge.audit.events import EventType
from pledge.audit.services import EventSpec, record_event, record_events
from pledge.retention.models import RetentionRun, RunStatus
from pledge.retention.planner import BatchPlan, plan_batch
from pledge.retention.rules import RetentionRules, compile_rules
from pledge.retention.shred import erase_customers
from pledge.vault.access import Actor, policy
from pledge.vault.errors import PolicyNotInForce
from pledge.vault.models import BlindIndex, Customer, EncryptedValue

SYSTEM_RETENTION = Actor(kind="system", id="retention")
# The worker sweeps at most this many batches a turn, so the outbox is not held up behind a long
# run; the next turn takes the run up where this one stopped.
JOB_BATCHES_PER_TURN = 20
_DELETE_CHUNK = 500


@dataclass(frozen=True)
class BatchOutcome:
    finished: bool
    customers: int
    deleted: int
    erased: int


class SweepUnavailable(RuntimeError):
    """No policy is in force: which rules and holds apply is unknown, so nothing is deleted."""


def _rules() -> tuple[RetentionRules, str]:
    try:
        enforced = policy()
    except PolicyNotInForce as exc:
        raise SweepUnavailable(str(exc)) from None
    return compile_rules(enforced), enforced.version


def open_run(*, dry_run: bool) -> RetentionRun | None:
    return (
        RetentionRun.objects.filter(status=RunStatus.RUNNING, dry_run=dry_run)
        .order_by("started_at")
        .first()
    )


@transaction.atomic
def take_up_run(*, dry_run: bool, actor: str, rules: RetentionRules, version: str) -> RetentionRun:
    """The unfinished run of this kind (taken up where it stopped), or a new one."""
    run = (
        RetentionRun.objects.select_for_update()
        .filter(status=RunStatus.RUNNING, dry_run=dry_run)
        .order_by("started_at")
        .first()
    )
    if run is not None:
        run.resumed += 1
        run.save(update_fields=["resumed"])
    else:
        now = timezone.now()
        run = RetentionRun.objects.create(
            started_at=now,
            as_of=timezone.localdate(now),
            dry_run=dry_run,
            actor=actor,
            policy_version=version[:300],
            rules=[r.as_dict() for r in rules.rules],
            open_ended=list(rules.open_ended),
        )
    record_event(
        EventType.RETENTION_SWEEP_STARTED,
        actor=actor,
        record=f"retention:{run.pk}",
        details={"run": str(run.pk), "dry_run": run.dry_run, "resumed": run.resumed > 0},
    )
    return run


def sweep(
    *,
    dry_run: bool = False,
    actor: str = SYSTEM_RETENTION.label,
    batch: int | None = None,
    max_batches: int | None = None,
    progress: Callable[[RetentionRun, BatchOutcome], None] | None = None,
) -> RetentionRun:
    """Run (or take up) a sweep; returns the run, finished unless `max_batches` stopped it."""
    rules, version = _rules()
    size = batch or settings.PLEDGE_RETENTION_BATCH
    run = take_up_run(dry_run=dry_run, actor=actor, rules=rules, version=version)
    done = 0
    while max_batches is None or done < max_batches:
        outcome = sweep_batch(run.pk, rules, size)
        done += 1
        if progress is not None:
            run.refresh_from_db()
            progress(run, outcome)
        if outcome.finished:
            break
    run.refresh_from_db()
    return run


@transaction.atomic
def sweep_batch(run_id: uuid.UUID, rules: RetentionRules, size: int) -> BatchOutcome:
    """One batch in one transaction: plan, delete, move the checkpoint on."""
    run = RetentionRun.objects.select_for_update().get(pk=run_id)
    if run.status == RunStatus.FINISHED:
        return BatchOutcome(finished=True, customers=0, deleted=0, erased=0)
    ids: list[uuid.UUID] = []
    if rules.sweeps_anything:
        # Rules that never end by the calendar need no walk through the customers.
        page = Customer.objects.filter(erased_at__isnull=True).order_by("pk")
        if run.cursor is not None:
            page = page.filter(pk__gt=run.cursor)
        ids = list(page.values_list("pk", flat=True)[:size])
    if not ids:
        _finish(run)
        return BatchOutcome(finished=True, customers=0, deleted=0, erased=0)

    plan = plan_batch(ids, rules, run.as_of)
    deleted: dict[str, Counter[str]] = defaultdict(Counter)
    kept: dict[str, Counter[str]] = defaultdict(Counter)
    erased: Counter[str] = Counter()
    for (hold, category), n in plan.kept.items():
        kept[hold][category] += n
    for (rule, category), n in plan.value_counts().items():
        deleted[rule][category] += n
    if run.dry_run:
        for customer_id, rule in plan.erase.items():
            erased[rule] += 1
            for category, n in plan.erase_values[customer_id].items():
                deleted[rule][category] += n
            for (hold, category), n in plan.erase_kept[customer_id].items():
                kept[hold][category] += n
    else:
        _erase(plan, run, erased, deleted, kept)
        _delete_values(plan, run)

    run.cursor = ids[-1]
    run.batches += 1
    run.customers_seen += len(ids)
    run.deleted = _merge(run.deleted, deleted)
    run.kept = _merge(run.kept, kept)
    run.customers_erased = dict(Counter(run.customers_erased) + erased)
    run.save(
        update_fields=[
            "cursor",
            "batches",
            "customers_seen",
            "deleted",
            "kept",
            "customers_erased",
        ]
    )
    return BatchOutcome(
        finished=False,
        customers=len(ids),
        deleted=sum(sum(c.values()) for c in deleted.values()),
        erased=sum(erased.values()),
    )


def _erase(
    plan: BatchPlan,
    run: RetentionRun,
    erased: Counter[str],
    deleted: dict[str, Counter[str]],
    kept: dict[str, Counter[str]],
) -> None:
    # All of the batch's erasures at once (retention/shred.py: what `erase_customer` does, with
    # one key-store write for the batch instead of three per customer). Customers erased
    # meanwhile (a request) are skipped: nothing is left for this rule.
    reports = erase_customers(actor=SYSTEM_RETENTION, customer_ids=list(plan.erase))
    for customer_id, report in reports.items():
        rule = plan.erase[customer_id]
        erased[rule] += 1
        for item in report.deleted:
            deleted[rule][item.category] += item.count
        for k in report.kept:
            kept[k.hold][f"{k.record_kind}.{k.field}"] += k.count


def _delete_values(plan: BatchPlan, run: RetentionRun) -> None:
    if not plan.delete:
        return
    pks = [d.pk for d in plan.delete]
    for start in range(0, len(pks), _DELETE_CHUNK):
        EncryptedValue.objects.filter(pk__in=pks[start : start + _DELETE_CHUNK]).delete()
    # The lookup index of a deleted value would still say who has that email or phone.
    by_field: dict[tuple[str, str], list[uuid.UUID]] = defaultdict(list)
    for d in plan.delete:
        by_field[(d.record_kind, d.field)].append(d.record_id)
    for (record_kind, field), record_ids in by_field.items():
        for start in range(0, len(record_ids), _DELETE_CHUNK):
            BlindIndex.objects.filter(
                record_kind=record_kind,
                kind=field,
                record_id__in=record_ids[start : start + _DELETE_CHUNK],
            ).delete()
    # Every write of personal data is audited: one event per customer, field names and counts.
    per_customer: dict[uuid.UUID, dict[str, Counter[str]]] = defaultdict(
        lambda: defaultdict(Counter)
    )
    for d in plan.delete:
        per_customer[d.customer_id][d.rule][f"{d.record_kind}.{d.field}"] += 1
    record_events(
        [
            EventSpec(
                type=EventType.CUSTOMER_UPDATED,
                actor=SYSTEM_RETENTION.label,
                customer_id=customer_id,
                record=f"retention:{run.pk}",
                fields=sorted({c.split(".", 1)[1] for per in by_rule.values() for c in per}),
                details={
                    "retention_run": str(run.pk),
                    "deleted": {rule: dict(per) for rule, per in sorted(by_rule.items())},
                },
            )
            for customer_id, by_rule in sorted(per_customer.items())
        ]
    )


def _merge(
    stored: dict[str, dict[str, int]], new: dict[str, Counter[str]]
) -> dict[str, dict[str, int]]:
    out = {key: dict(per) for key, per in stored.items()}
    for key, per in new.items():
        merged = Counter(out.get(key, {}))
        merged.update(per)
        out[key] = dict(sorted(merged.items()))
    return dict(sorted(out.items()))


def _finish(run: RetentionRun) -> None:
    run.status = RunStatus.FINISHED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    record_event(
        EventType.RETENTION_SWEEP_FINISHED,
        actor=run.actor,
        record=f"retention:{run.pk}",
        details={
            "run": str(run.pk),
            "dry_run": run.dry_run,
            "counts": {
                "customers_seen": run.customers_seen,
                "customers_erased": run.customers_erased,
                "deleted": run.deleted,
                "kept": run.kept,
            },
        },
    )


def sweep_due(now: dt.datetime) -> int:
    """Worker job (once a day): take up an unfinished run, or start today's if none ran today.

    At most JOB_BATCHES_PER_TURN batches a turn; returns how many customers it went through."""
    today = timezone.localdate(now)
    if open_run(dry_run=False) is None:
        ran_today = RetentionRun.objects.filter(dry_run=False, as_of=today).exists()
        if ran_today:
            return 0
    seen = 0

    def count(run: RetentionRun, outcome: BatchOutcome) -> None:
        nonlocal seen
        seen += outcome.customers

    try:
        sweep(max_batches=JOB_BATCHES_PER_TURN, progress=count)
    except SweepUnavailable:
        return 0  # never delete by guesswork: which rules and holds apply is unknown
    return seen
