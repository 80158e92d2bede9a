"""Erasure by crypto-shredding (issue 6; P18; Decree 356/2025 Art 5; GDPR Art 17).

What erasing a customer does, in one database transaction:
1. Fields on records a legal hold keeps (invoices: Accounting Law 88/2015 Art 41) are decrypted
   and re-encrypted under a *new* generation of the customer's data key; nothing else is.
2. Every other encrypted value, every blind-index row, identity documents (rows now, files once
   the transaction commits), cards, guarantee cards and staff notes are deleted; the account,
   its sessions and devices go; live consents are withdrawn (the ledger stays as proof of what
   was agreed, holding no personal data); unsent email to the customer is discarded.
3. The customer row stays as a pseudonymous id (orders and invoices keep their non-personal
   facts: amounts, items, dates), marked erased and restricted to what the hold allows.
4. After commit, the old key generation is destroyed in the key store (vault/keystore.py). Every
   copy of the old ciphertexts, in the live database and in every backup taken before, is then
   undecryptable: that is what makes backups safe without rewriting them.

When a hold ends (`held_until` is the first such day), `expire_holds` deletes what it kept and
moves what other holds still keep to a new key generation; with the last, the last key goes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from pledge.accounts.models import CustomerAccount
from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.consent.models import ConsentState
from pledge.consent.services import withdraw_consent
from pledge.notify.services import discard_for_customer
from pledge.policy.enforcement import EnforcedPolicy
from pledge.policy.jurisdictions import load_profile
from pledge.vault.access import Actor, policy
from pledge.vault.crypto import CustomerKey
from pledge.vault.documents import DocumentUnreadable, _path_of, _remove
from pledge.vault.errors import AccessRefused, NotFound, PolicyNotInForce
from pledge.vault.keystore import keystore
from pledge.vault.models import (
    BlindIndex,
    Customer,
    EncryptedValue,
    GuaranteeCard,
    IdDocument,
    Invoice,
    Order,
    Payment,
    PaymentMethod,
    RecordKind,
    StaffNote,
)
from pledge.vault.restriction import ERASURE_REASON
from pledge.vault.shred import shred_after_commit
from pledge.vault.store import KeyUnavailable, create_data_key, generation_key

SYSTEM_ERASURE = Actor(kind="system", id="erasure")


@dataclass(frozen=True)
class ErasedItem:
    category: str
    count: int


@dataclass(frozen=True)
class KeptItem:
    record_kind: str
    field: str
    count: int
    hold: str
    reason: dict[str, str]
    article: dict[str, str]
    until: dt.date


@dataclass(frozen=True)
class ErasureReport:
    """What was deleted and what was kept, why and until when: field names and counts only."""

    customer_id: uuid.UUID
    erased_at: dt.datetime
    deleted: list[ErasedItem]
    kept: list[KeptItem]

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": str(self.customer_id),
            "erased_at": self.erased_at.isoformat(),
            "deleted": [asdict(d) for d in self.deleted],
            "kept": [{**asdict(k), "until": k.until.isoformat()} for k in self.kept],
        }


# Recipients who received the customer's data must be told of the erasure (GDPR Art 19; PDPL).
# The disclosures register (issue 8) appends its notifier here; each hook runs inside the erasure
# transaction with the report, and may queue outbox messages. Until then there is none.
ERASURE_HOOKS: list[Callable[[uuid.UUID, ErasureReport], None]] = []


@dataclass(frozen=True)
class Hold:
    key: str
    records: frozenset[str]
    amount: int
    unit: str  # "years" | "months" | "days"
    start: str
    reason: dict[str, str]
    article: dict[str, str]


def _text(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    dumped = value.model_dump() if hasattr(value, "model_dump") else value
    return {str(k): str(v) for k, v in dict(dumped).items() if v is not None}


def legal_holds(enforced: EnforcedPolicy) -> list[Hold]:
    """The holds in force: each jurisdiction profile's statutory holds, then the policy's own."""
    holds: list[Hold] = []
    for key in enforced.policy.jurisdictions:
        for hold in load_profile(key).retention_holds:
            holds.append(
                Hold(
                    key=hold.key,
                    records=frozenset(hold.records),
                    amount=hold.amount,
                    unit=hold.unit,
                    start=hold.start,
                    reason=_text(hold.summary),
                    article=_text(hold.article),
                )
            )
    for rule in enforced.policy.retention:
        period = rule.period
        if rule.legal_hold is None or getattr(period, "kind", None) != "duration":
            continue
        holds.append(
            Hold(
                key=rule.key,
                records=frozenset(rule.records),
                amount=period.amount,  # type: ignore[union-attr]
                unit=period.unit,  # type: ignore[union-attr]
                start=period.start,  # type: ignore[union-attr]
                reason=_text(rule.legal_hold.reason),
                article=_text(rule.legal_hold.article),
            )
        )
    return holds


def _add(day: dt.date, amount: int, unit: str) -> dt.date:
    if unit == "days":
        return day + dt.timedelta(days=amount)
    months = amount * 12 if unit == "years" else amount
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    month += 1
    # Clamp 29 February and month ends, as the deadline clock does.
    for last in (31, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=min(day.day, last))
        except ValueError:
            continue
    raise ValueError("unreachable")


def hold_end(hold: Hold, started: dt.date) -> dt.date:
    """The day a hold ends. The fiscal year is the calendar year (Accounting Law Art 12(1), the
    usual case); the hold counts from its last day."""
    base = dt.date(started.year, 12, 31) if hold.start == "fiscal_year_end" else started
    return _add(base, hold.amount, hold.unit)


def _record_dates(customer: Customer, kind: str) -> dict[uuid.UUID, dt.date]:
    """When each record of this kind started, for the hold's clock."""
    local = timezone.localdate
    if kind == RecordKind.INVOICE:
        invoices = Invoice.objects.filter(customer=customer).values_list("id", "issued_at")
        return {rid: local(at) for rid, at in invoices}
    if kind == RecordKind.ORDER:
        orders = Order.objects.filter(customer=customer).values_list("id", "placed_at")
        return {rid: local(at) for rid, at in orders}
    if kind == RecordKind.PAYMENT:
        payments = Payment.objects.filter(customer=customer).values_list("id", "at")
        return {rid: local(at) for rid, at in payments}
    if kind == RecordKind.GUARANTEE:
        return dict(GuaranteeCard.objects.filter(customer=customer).values_list("id", "issued_on"))
    # Profile and the rest: from when the customer was first collected.
    return {customer.id: local(customer.created_at)}


def _held_values(
    customer: Customer, holds: list[Hold], today: dt.date
) -> dict[int, tuple[Hold, dt.date]]:
    """EncryptedValue pk -> (the hold keeping it, until when), for holds not yet over."""
    held: dict[int, tuple[Hold, dt.date]] = {}
    for hold in holds:
        for kind in hold.records:
            dates = _record_dates(customer, kind)
            rows = EncryptedValue.objects.filter(customer=customer, record_kind=kind).values_list(
                "pk", "record_id"
            )
            for pk, record_id in rows:
                started = dates.get(record_id)
                if started is None:
                    continue
                until = hold_end(hold, started)
                if until <= today:
                    continue
                current = held.get(pk)
                if current is None or current[1] < until:
                    held[pk] = (hold, until)
    return held


def _check_actor(actor: Actor) -> None:
    # Erasure is carried out for a verified request (rights) or by the retention sweep.
    if actor.kind not in ("staff", "system"):
        raise AccessRefused("only staff (for a verified request) or the system erase customers")


def is_erased(customer_id: uuid.UUID) -> bool:
    return Customer.objects.filter(pk=customer_id, erased_at__isnull=False).exists()


@transaction.atomic
def erase_customer(
    *, actor: Actor, customer_id: uuid.UUID, request_id: uuid.UUID | None = None
) -> ErasureReport:
    """Erase a customer by crypto-shredding; keep (restricted) only what a legal hold keeps."""
    _check_actor(actor)
    if not isinstance(customer_id, uuid.UUID):
        raise NotFound(f"no customer {customer_id!r}")
    try:
        customer = Customer.objects.select_for_update().get(pk=customer_id)
    except Customer.DoesNotExist:
        raise NotFound(f"no customer {customer_id}") from None
    if customer.erased_at is not None:
        raise KeyUnavailable("this customer was already erased")
    enforced = policy()
    now = timezone.now()
    today = timezone.localdate(now)
    old_generation = customer.key_generation
    old_key = generation_key(customer_id, old_generation)
    new_generation = keystore().next_generation(customer_id, old_generation)

    held = _held_values(customer, legal_holds(enforced), today)
    kept_counter: Counter[tuple[str, str, str, dt.date]] = Counter()
    holds_by_key: dict[str, Hold] = {}
    if held:
        # The held values move to a new key generation; the old one is destroyed after commit.
        rows = list(EncryptedValue.objects.filter(pk__in=held))
        _rekey_values(rows, old_key, create_data_key(customer_id, new_generation))
        for row in rows:
            hold, until = held[row.pk]
            holds_by_key[hold.key] = hold
            kept_counter[(row.record_kind, row.field, hold.key, until)] += 1

    deleted: Counter[str] = Counter()
    for kind, n in Counter(
        EncryptedValue.objects.filter(customer=customer)
        .exclude(pk__in=held)
        .values_list("record_kind", flat=True)
    ).items():
        deleted[f"{kind} fields"] += n
    EncryptedValue.objects.filter(customer=customer).exclude(pk__in=held).delete()
    deleted["lookup indexes"] += BlindIndex.objects.filter(customer=customer).delete()[0]

    files: list[Path] = []
    for storage_name in IdDocument.objects.filter(customer=customer).values_list(
        "storage_name", flat=True
    ):
        # A name Pledge never wrote: delete the row, touch no file.
        with suppress(DocumentUnreadable):
            files.append(_path_of(storage_name))
    deleted["identity documents"] += IdDocument.objects.filter(customer=customer).delete()[0]
    deleted["staff notes"] += StaffNote.objects.filter(customer=customer).delete()[0]
    deleted["guarantee cards"] += GuaranteeCard.objects.filter(customer=customer).delete()[0]
    Payment.objects.filter(customer=customer, method__isnull=False).update(method=None)
    deleted["payment cards"] += PaymentMethod.objects.filter(customer=customer).delete()[0]
    accounts = CustomerAccount.objects.filter(customer=customer)
    deleted["privacy-center account"] += accounts.count()
    accounts.delete()  # its sessions and devices go with it (CASCADE)
    for purpose in ConsentState.objects.filter(customer_id=customer_id, live=True).values_list(
        "purpose", flat=True
    ):
        withdraw_consent(
            customer_id=customer_id,
            purpose=purpose,
            method="erasure",
            actor=actor.label,
            channel="system",
            language=customer.language,
        )
        deleted["consents (withdrawn; the ledger keeps the proof)"] += 1
    deleted["unsent emails"] += discard_for_customer(customer_id)

    # The day the first hold ends: `expire_holds` deletes what it kept then (the report tells
    # the customer each item's own end), and moves on to the next.
    held_until = min((k[3] for k in kept_counter), default=None)
    Customer.objects.filter(pk=customer_id).update(
        key_generation=new_generation,
        erased_at=now,
        held_until=held_until,
        restricted_at=now,
        restriction_reason=ERASURE_REASON,
        external_ref=None,
        updated_at=now,
    )
    # Every generation but the one holding the held values (if any) is destroyed after commit.
    shred_after_commit(
        customer_id, [g for g in keystore().generations(customer_id) if g != new_generation]
    )
    for path in files:
        # robust: the erasure has committed; a file left behind is an orphan that
        # `remove_orphan_files` deletes, unreadable anyway once the key is destroyed.
        transaction.on_commit(lambda gone=path: _remove(gone), robust=True)  # type: ignore[misc]

    report = ErasureReport(
        customer_id=customer_id,
        erased_at=now,
        deleted=[ErasedItem(c, n) for c, n in sorted(deleted.items()) if n],
        kept=[
            KeptItem(
                record_kind=kind,
                field=field,
                count=n,
                hold=hold_key,
                reason=holds_by_key[hold_key].reason,
                article=holds_by_key[hold_key].article,
                until=until,
            )
            for (kind, field, hold_key, until), n in sorted(kept_counter.items())
        ],
    )
    record_event(
        EventType.CUSTOMER_ERASED,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        record=f"request:{request_id}" if request_id else "",
        details={
            "deleted": {d.category: d.count for d in report.deleted},
            "kept": [
                {"record": k.record_kind, "field": k.field, "count": k.count, "until": str(k.until)}
                for k in report.kept
            ],
        },
    )
    for hook in ERASURE_HOOKS:
        hook(customer_id, report)
    return report


def _rekey_values(rows: list[EncryptedValue], old: CustomerKey, new: CustomerKey) -> None:
    """Re-encrypt these values under a new generation of the customer's key (in the caller's
    transaction): once the old generation is destroyed, every other copy of them is dead."""
    for row in rows:
        value = old.decrypt(row.record_kind, row.record_id, row.field, bytes(row.ciphertext))
        row.ciphertext = new.encrypt(row.record_kind, row.record_id, row.field, value)
    EncryptedValue.objects.bulk_update(rows, ["ciphertext"], batch_size=500)


def expire_holds(today: dt.date | None = None, *, batch: int = 200) -> int:
    """Destroy what erased customers' legal holds kept once each hold ends (worker job).

    Holds end at different times (an invoice of December and one of January end a year apart):
    the values whose hold is over are deleted and the rest move to a new key generation, so the
    old one, which also opened the deleted values in every backup, can be destroyed. When nothing
    is held any more, the customer's last key goes too. Returns how many customers were done."""
    day = today or timezone.localdate()
    try:
        holds = legal_holds(policy())
    except PolicyNotInForce:
        return 0  # which holds apply is unknown: never delete held records early
    done = 0
    ids = list(
        Customer.objects.filter(erased_at__isnull=False, held_until__lte=day)
        .order_by("held_until")
        .values_list("pk", flat=True)[:batch]
    )
    for customer_id in ids:
        with transaction.atomic():
            customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
            if customer is None or customer.held_until is None or customer.held_until > day:
                continue  # another worker did it meanwhile
            store = keystore()
            generations = store.generations(customer_id)
            new_generation = store.next_generation(customer_id, customer.key_generation)
            held = _held_values(customer, holds, day)
            kept = list(EncryptedValue.objects.filter(pk__in=held))
            if kept:
                _rekey_values(
                    kept,
                    generation_key(customer_id, customer.key_generation),
                    create_data_key(customer_id, new_generation),
                )
            values = EncryptedValue.objects.filter(customer=customer).exclude(pk__in=held).delete()
            Customer.objects.filter(pk=customer_id).update(
                key_generation=new_generation,
                held_until=min((until for _, until in held.values()), default=None),
            )
            shred_after_commit(customer_id, [g for g in generations if g != new_generation])
            record_event(
                EventType.HOLD_EXPIRED,
                actor=SYSTEM_ERASURE.label,
                customer_id=customer_id,
                details={"values": values[0], "kept": len(kept)},
            )
        done += 1
    return done


@dataclass(frozen=True)
class ReapplyReport:
    erased: int  # erased customers looked at
    destroyed: int  # keys destroyed again
    held_keys_missing: int  # erased customers under a hold whose key the key store lacks
    orphans: int  # keys destroyed of customers the database does not know


# A key younger than this may belong to a customer whose transaction has not committed yet.
_ORPHAN_SETTLE = dt.timedelta(minutes=10)


def reapply_erasures(
    *, orphans: bool = False, batch: int = 500, now: dt.datetime | None = None
) -> ReapplyReport:
    """Destroy again the keys a restored key-store backup brought back (`pledge keys
    reapply-erasures`).

    A key-store backup taken before an erasure holds the erased customer's old key: restored, it
    would open their data in every database backup again. The database remembers every erasure
    (`Customer.erased_at`; the audit log's `vault:erased` events name the same customers), so
    every generation of an erased customer's key but the one a legal hold uses is destroyed.
    With `orphans`, so are the keys of customers the database does not know (deleted ones,
    e.g. temporary account customers), once older than a running transaction could be."""
    store = keystore()
    erased = destroyed = missing = orphaned = 0
    last: uuid.UUID | None = None
    while True:
        page = Customer.objects.filter(erased_at__isnull=False).order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        ids = list(page.values_list("pk", flat=True)[:batch])
        if not ids:
            break
        last = ids[-1]
        for customer_id in ids:
            erased += 1
            with transaction.atomic():
                # Locked: an `expire_holds` moving this customer to a new generation is not
                # half-done (its new key written, the row not yet updated).
                customer = Customer.objects.select_for_update().get(pk=customer_id)
                generations = store.generations(customer_id)
                stale = [g for g in generations if g != customer.key_generation]
                if stale:
                    destroyed += store.destroy(customer_id, stale)
                if customer.held_until is not None and customer.key_generation not in generations:
                    missing += 1
    if orphans:
        cutoff = ((now or dt.datetime.now(dt.UTC)) - _ORPHAN_SETTLE).astimezone(dt.UTC)
        before = cutoff.isoformat(timespec="microseconds")
        after: uuid.UUID | None = None
        while True:
            held = store.customer_ids(after=after, limit=batch, created_before=before)
            if not held:
                break
            after = held[-1]
            known = set(Customer.objects.filter(pk__in=held).values_list("pk", flat=True))
            for customer_id in held:
                if customer_id not in known:
                    gone = store.destroy(customer_id, store.generations(customer_id))
                    destroyed += gone
                    orphaned += gone
    return ReapplyReport(erased, destroyed, missing, orphaned)


def expire_holds_job(now: dt.datetime) -> int:
    """Worker job: legal holds that ended today or before."""
    return expire_holds(timezone.localdate(now))
