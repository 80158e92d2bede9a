"""Erasing many customers at once, for the retention sweep (P17, P18).

`vault.erasure.erase_customer` erases one customer per call: one key-store write (with its fsync)
for the queued shred, another for the destruction after commit and a WAL checkpoint, plus a score
of queries. A sweep over a shop's whole history may erase thousands of customers; doing that one
at a time made a 100,000-customer sweep take minutes. `erase_customers` does exactly what
`erase_customer` does, for each customer of a batch, set-wise, inside the caller's transaction:

1. values a legal hold still keeps (vault/erasure.py `legal_holds`, `hold_end`; the hold counts
   from the record's own date, else from when the customer was collected) are re-encrypted under
   a new key generation; the new keys are written in one key-store transaction;
2. every other value, blind index, identity document (files after commit), staff note, guarantee
   card, payment card and privacy-center account goes; live consents are withdrawn; unsent email
   is discarded;
3. the customer rows stay as pseudonymous ids, marked erased and restricted;
4. every generation but the held one is queued for shredding (one key-store transaction) and
   destroyed after commit (one more, and one WAL checkpoint); a crash in between leaves the queue
   entries, which `vault.shred.flush_shreds` finishes, as for a single erasure;
5. one `vault:erased` event per customer with the same details, and the erasure hooks
   (recipients told, request texts and complaint evidence forgotten) run for each.

It returns one `ErasureReport` per customer, as `erase_customer` would have.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from pledge.accounts.models import CustomerAccount
from pledge.audit.events import EventType
from pledge.audit.services import EventSpec, record_events
from pledge.consent.models import ConsentState
from pledge.consent.services import withdraw_consent
from pledge.notify.models import OutboxMessage
from pledge.notify.services import discard_for_customer
from pledge.vault.access import Actor, policy
from pledge.vault.crypto import CustomerKey, new_data_key, wrap_data_key
from pledge.vault.documents import DocumentUnreadable, _path_of, _remove
from pledge.vault.erasure import (
    ERASURE_HOOKS,
    ErasedItem,
    ErasureReport,
    Hold,
    KeptItem,
    hold_end,
    legal_holds,
)
from pledge.vault.errors import AccessRefused
from pledge.vault.keystore import StoredKey, keystore
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
from pledge.vault.store import generation_key, uuid_param

_CHUNK = 500


def _chunks(items: list[uuid.UUID]) -> Iterable[list[uuid.UUID]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _record_dates(customers: dict[uuid.UUID, Customer], kind: str) -> dict[uuid.UUID, dt.date]:
    """As vault/erasure.py `_record_dates`, for many customers: when each record started."""
    local = timezone.localdate
    ids = list(customers)
    out: dict[uuid.UUID, dt.date] = {}
    for chunk in _chunks(ids):
        if kind == RecordKind.INVOICE:
            invoices = Invoice.objects.filter(customer_id__in=chunk)
            out.update((rid, local(at)) for rid, at in invoices.values_list("id", "issued_at"))
        elif kind == RecordKind.ORDER:
            orders = Order.objects.filter(customer_id__in=chunk)
            out.update((rid, local(at)) for rid, at in orders.values_list("id", "placed_at"))
        elif kind == RecordKind.PAYMENT:
            payments = Payment.objects.filter(customer_id__in=chunk)
            out.update((rid, local(at)) for rid, at in payments.values_list("id", "at"))
        elif kind == RecordKind.GUARANTEE:
            out.update(
                GuaranteeCard.objects.filter(customer_id__in=chunk).values_list("id", "issued_on")
            )
        else:
            out.update((c.id, local(c.created_at)) for c in (customers[i] for i in chunk))
    return out


def _held_values(
    customers: dict[uuid.UUID, Customer], holds: list[Hold], today: dt.date
) -> dict[int, tuple[Hold, dt.date]]:
    """EncryptedValue pk -> (the hold keeping it, until when), as vault/erasure.py decides."""
    held: dict[int, tuple[Hold, dt.date]] = {}
    ids = list(customers)
    for hold in holds:
        for kind in hold.records:
            dates = _record_dates(customers, kind)
            for chunk in _chunks(ids):
                rows = EncryptedValue.objects.filter(
                    customer_id__in=chunk, record_kind=kind
                ).values_list("pk", "record_id")
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


def _per_customer(
    model: type, ids: list[uuid.UUID], field: str = "customer_id"
) -> Counter[uuid.UUID]:
    counts: Counter[uuid.UUID] = Counter()
    for chunk in _chunks(ids):
        rows = (
            model.objects.filter(**{f"{field}__in": chunk})  # type: ignore[attr-defined]
            .values_list(field)
            .annotate(n=Count("pk"))
            .order_by()
        )
        counts.update(dict(rows))
    return counts


def _delete_all(model: type, ids: list[uuid.UUID]) -> Counter[uuid.UUID]:
    counts = _per_customer(model, ids)
    if counts:
        for chunk in _chunks(ids):
            model.objects.filter(customer_id__in=chunk).delete()  # type: ignore[attr-defined]
    return counts


def erase_customers(
    *, actor: Actor, customer_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, ErasureReport]:
    """Erase these customers (those not already erased) in the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("erase_customers runs inside the caller's transaction")
    if actor.kind not in ("staff", "system"):
        raise AccessRefused("only staff (for a verified request) or the system erase customers")
    wanted = sorted(set(customer_ids))
    customers: dict[uuid.UUID, Customer] = {}
    for chunk in _chunks(wanted):
        customers.update(
            (c.pk, c)
            for c in Customer.objects.select_for_update()
            .filter(pk__in=chunk, erased_at__isnull=True)
            .order_by("pk")
        )
    if not customers:
        return {}
    ids = sorted(customers)
    now = timezone.now()
    today = timezone.localdate(now)
    store = keystore()
    generations = store.generations_of(ids)
    new_generation = {
        c: max([customers[c].key_generation, *generations.get(c, [])]) + 1 for c in ids
    }

    # 1. What a legal hold keeps moves to a new key generation (all new keys: one write).
    held = _held_values(customers, legal_holds(policy()), today)
    kept: dict[uuid.UUID, Counter[tuple[str, str, str, dt.date]]] = defaultdict(Counter)
    holds_by_key: dict[str, Hold] = {}
    if held:
        rows = list(EncryptedValue.objects.filter(pk__in=list(held)).order_by("pk"))
        new_keys: dict[uuid.UUID, CustomerKey] = {}
        stored: list[StoredKey] = []
        for customer_id in sorted({r.customer_id for r in rows}):
            raw = new_data_key()
            version, wrapped = wrap_data_key(raw, customer_id)
            stored.append(StoredKey(customer_id, new_generation[customer_id], version, wrapped))
            new_keys[customer_id] = CustomerKey.from_bytes(customer_id, raw)
        store.put(stored)
        old_keys = {c: generation_key(c, customers[c].key_generation) for c in new_keys}
        for row in rows:
            value = old_keys[row.customer_id].decrypt(
                row.record_kind, row.record_id, row.field, bytes(row.ciphertext)
            )
            row.ciphertext = new_keys[row.customer_id].encrypt(
                row.record_kind, row.record_id, row.field, value
            )
            hold, until = held[row.pk]
            holds_by_key[hold.key] = hold
            kept[row.customer_id][(row.record_kind, row.field, hold.key, until)] += 1
        _execute_many(
            EncryptedValue,
            ["ciphertext"],
            [(bytes(r.ciphertext), r.pk) for r in rows],
        )

    # 2. Everything else goes.
    deleted: dict[uuid.UUID, Counter[str]] = defaultdict(Counter)
    doomed: list[int] = []
    for chunk in _chunks(ids):
        for pk, customer_id, kind in EncryptedValue.objects.filter(
            customer_id__in=chunk
        ).values_list("pk", "customer_id", "record_kind"):
            if pk not in held:
                doomed.append(pk)
                deleted[customer_id][f"{kind} fields"] += 1
    for start in range(0, len(doomed), _CHUNK):
        EncryptedValue.objects.filter(pk__in=doomed[start : start + _CHUNK]).delete()
    for customer_id, n in _delete_all(BlindIndex, ids).items():
        deleted[customer_id]["lookup indexes"] += n

    files: list[Path] = []
    documents = _per_customer(IdDocument, ids)
    if documents:
        for chunk in _chunks(ids):
            for name in IdDocument.objects.filter(customer_id__in=chunk).values_list(
                "storage_name", flat=True
            ):
                with suppress(DocumentUnreadable):  # a name Pledge never wrote: touch no file
                    files.append(_path_of(name))
            IdDocument.objects.filter(customer_id__in=chunk).delete()
    for customer_id, n in documents.items():
        deleted[customer_id]["identity documents"] += n
    for model, category in (
        (StaffNote, "staff notes"),
        (GuaranteeCard, "guarantee cards"),
    ):
        for customer_id, n in _delete_all(model, ids).items():
            deleted[customer_id][category] += n
    for chunk in _chunks(ids):
        Payment.objects.filter(customer_id__in=chunk, method__isnull=False).update(method=None)
    for customer_id, n in _delete_all(PaymentMethod, ids).items():
        deleted[customer_id]["payment cards"] += n
    # The account's sessions and devices go with it (CASCADE).
    for customer_id, n in _delete_all(CustomerAccount, ids).items():
        deleted[customer_id]["privacy-center account"] += n
    for chunk in _chunks(ids):
        live = ConsentState.objects.filter(customer_id__in=chunk, live=True).values_list(
            "customer_id", "purpose"
        )
        for consenting, purpose in list(live):
            cid = uuid.UUID(str(consenting))
            withdraw_consent(
                customer_id=cid,
                purpose=purpose,
                method="erasure",
                actor=actor.label,
                channel="system",
                language=customers[cid].language,
            )
            deleted[cid]["consents (withdrawn; the ledger keeps the proof)"] += 1
    unsent: set[uuid.UUID] = set()
    for chunk in _chunks(ids):
        unsent.update(
            uuid.UUID(str(c))
            for c in OutboxMessage.objects.filter(
                customer_id__in=chunk,
                status__in=[OutboxMessage.Status.QUEUED, OutboxMessage.Status.SENDING],
            ).values_list("customer_id", flat=True)
            if c is not None
        )
    for cid in sorted(unsent):
        deleted[cid]["unsent emails"] += discard_for_customer(cid)

    # 3. The rows stay as pseudonymous ids.
    # One UPDATE a customer (raw executemany: the ORM's bulk_update builds a CASE per column).
    ops = connection.ops
    moment = ops.adapt_datetimefield_value(now)
    _execute_many(
        Customer,
        [
            "key_generation",
            "erased_at",
            "held_until",
            "restricted_at",
            "restriction_reason",
            "external_ref",
            "updated_at",
        ],
        [
            (
                new_generation[c],
                moment,
                ops.adapt_datefield_value(min((k[3] for k in kept.get(c, {})), default=None)),
                moment,
                ERASURE_REASON,
                None,
                moment,
                uuid_param(c),
            )
            for c in ids
        ],
    )

    # 4. Every generation but the held one is destroyed after commit.
    doomed_keys = [(c, g) for c in ids for g in generations.get(c, []) if g != new_generation[c]]
    store.queue_shreds(doomed_keys)
    transaction.on_commit(lambda: destroy_unused_many(doomed_keys), robust=True)
    for path in files:
        transaction.on_commit(lambda gone=path: _remove(gone), robust=True)  # type: ignore[misc]

    # 5. The reports, the audit log and the hooks.
    reports: dict[uuid.UUID, ErasureReport] = {}
    for c in ids:
        reports[c] = ErasureReport(
            customer_id=c,
            erased_at=now,
            deleted=[ErasedItem(k, n) for k, n in sorted(deleted[c].items()) if n],
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
                for (kind, field, hold_key, until), n in sorted(kept.get(c, Counter()).items())
            ],
        )
    record_events(
        [
            EventSpec(
                type=EventType.CUSTOMER_ERASED,
                actor=actor.label,
                actor_role=actor.role,
                customer_id=c,
                details={
                    "deleted": {d.category: d.count for d in reports[c].deleted},
                    "kept": [
                        {
                            "record": k.record_kind,
                            "field": k.field,
                            "count": k.count,
                            "until": str(k.until),
                        }
                        for k in reports[c].kept
                    ],
                },
            )
            for c in ids
        ]
    )
    for c in ids:
        for hook in ERASURE_HOOKS:
            hook(c, reports[c])
    return reports


def _execute_many(model: Any, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """UPDATE model SET columns… WHERE pk = the row's last parameter, for every row."""
    if not rows:
        return
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(model._meta.get_field(c).column)} = %s" for c in columns)
    table = quote(model._meta.db_table)
    key = quote(model._meta.pk.column)
    # Names from the model's own metadata, values as parameters.
    sql = f"UPDATE {table} SET {sets} WHERE {key} = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def destroy_unused_many(pairs: list[tuple[uuid.UUID, int]]) -> int:
    """As vault/shred.py `destroy_unused`, for many customers: destroy the generations the
    database no longer uses; drop the queue entries of those still in use (a rollback)."""
    if not pairs:
        return 0
    ids = sorted({c for c, _ in pairs})
    current: dict[uuid.UUID, int] = {}
    for chunk in _chunks(ids):
        current.update(Customer.objects.filter(pk__in=chunk).values_list("pk", "key_generation"))
    unused = [(c, g) for c, g in pairs if c not in current or current[c] != g]
    store = keystore()
    destroyed = store.destroy_many(unused)
    for c, g in pairs:
        if c in current and current[c] == g:
            store.drop_pending(c, g)
    return destroyed
