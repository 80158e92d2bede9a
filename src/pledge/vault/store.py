"""Encrypted storage primitives shared by the vault services: data keys, values, blind indexes.

Only vault services call these, after `access.authorize`; nothing here checks a purpose.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Model, Q

from pledge.keyring import UnwrapFailed, load_keyring
from pledge.vault.crypto import (
    CustomerKey,
    DecryptionFailed,
    blind_index,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
)
from pledge.vault.errors import NotFound, VaultError
from pledge.vault.keystore import StoredKey, keystore
from pledge.vault.models import BlindIndex, Customer, EncryptedValue, RecordKind
from pledge.vault.normalise import INDEXED_FIELDS, index_value


class KeyUnavailable(VaultError):
    """The customer's data key is gone (erased) or does not open (wrong keyring)."""

    status = 410
    code = "data-key-unavailable"
    title = "The customer's data can no longer be decrypted"


_INSERT_SQL: dict[tuple[type[Model], str], tuple[str, list[Field[Any, Any]]]] = {}


def fast_insert(objs: Sequence[Model]) -> None:
    """INSERT model instances with one executemany, skipping the ORM's per-query compiler.

    Used on the write path of every collect (budget: 2,000 encrypted writes/s); values are
    prepared by the model fields themselves, exactly as `save()` would.
    """
    if not objs:
        return
    model = type(objs[0])
    cached = _INSERT_SQL.get((model, connection.vendor))
    if cached is None:
        fields = [f for f in model._meta.concrete_fields if not f.auto_created or f.primary_key]
        fields = [
            f for f in fields if not (f.primary_key and f.get_internal_type() == "BigAutoField")
        ]
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        marks = ", ".join(["%s"] * len(fields))
        table = connection.ops.quote_name(model._meta.db_table)
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608 - identifiers
        cached = _INSERT_SQL[(model, connection.vendor)] = (sql, fields)
    sql, fields = cached
    rows = [[f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields] for obj in objs]
    with connection.cursor() as cursor:
        if len(rows) == 1:
            cursor.execute(sql, rows[0])
        else:
            cursor.executemany(sql, rows)


def create_data_key(customer_id: uuid.UUID, generation: int = 0) -> CustomerKey:
    """A new data key for the customer, stored (wrapped) in the key store before it is used.

    It is written before the caller's database transaction commits: if that transaction rolls
    back, the key is left without a customer, which decrypts nothing (no ciphertext under it was
    committed) and is harmless.
    """
    raw = new_data_key()
    version, wrapped = wrap_data_key(raw, customer_id)
    keystore().put([StoredKey(customer_id, generation, version, wrapped)])
    return CustomerKey.from_bytes(customer_id, raw)


def uuid_param(value: uuid.UUID) -> Any:
    """A UUID as raw SQL wants it: native on PostgreSQL, 32 hex digits on SQLite (as Django)."""
    return value if connection.features.has_native_uuid_field else value.hex


def as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


_KEY_SQL = f"SELECT key_generation, language FROM {Customer._meta.db_table} WHERE id = %s"  # noqa: S608
_VALUES_SQL = (
    f"SELECT record_id, field, ciphertext FROM {EncryptedValue._meta.db_table} "  # noqa: S608
    "WHERE customer_id = %s AND record_kind = %s AND record_id = %s"
)


def customer_key(customer_id: uuid.UUID) -> CustomerKey:
    return customer_key_and_language(customer_id)[0]


def customer_key_and_language(customer_id: uuid.UUID) -> tuple[CustomerKey, str]:
    """The customer's unwrapped data key and language (hot path of every read): the generation in
    use from the database, the wrapped key from the key store."""
    with connection.cursor() as cursor:
        cursor.execute(_KEY_SQL, [uuid_param(customer_id)])
        row = cursor.fetchone()
    if row is None:
        raise NotFound(f"no customer {customer_id}")
    return generation_key(customer_id, int(row[0])), row[1]


def generation_key(customer_id: uuid.UUID, generation: int) -> CustomerKey:
    """One generation of the customer's data key, unwrapped."""
    stored = keystore().get(customer_id, generation)
    if stored is None:
        raise KeyUnavailable("this customer's data key was destroyed (erased)")
    try:
        return unwrap_data_key(stored[0], stored[1], customer_id)
    except UnwrapFailed as exc:
        raise KeyUnavailable(str(exc)) from None


def encrypted_rows(
    key: CustomerKey, record_kind: str, record_id: uuid.UUID, values: Mapping[str, Any]
) -> list[EncryptedValue]:
    return [
        EncryptedValue(
            customer_id=key.customer_id,
            record_kind=record_kind,
            record_id=record_id,
            field=field,
            ciphertext=key.encrypt(record_kind, record_id, field, value),
        )
        for field, value in values.items()
    ]


def index_rows(
    customer_id: uuid.UUID,
    record_kind: str,
    record_id: uuid.UUID,
    values: Mapping[str, Any],
    *,
    region: str,
) -> list[BlindIndex]:
    keyring = load_keyring()
    rows = []
    for field in INDEXED_FIELDS:
        value = values.get(field)
        if isinstance(value, str):
            rows.append(
                BlindIndex(
                    customer_id=customer_id,
                    kind=field,
                    digest=blind_index(field, index_value(field, value, region), keyring),
                    record_kind=record_kind,
                    record_id=record_id,
                )
            )
    return rows


def upsert_values(
    key: CustomerKey,
    record_kind: str,
    record_id: uuid.UUID,
    values: Mapping[str, Any],
    *,
    region: str,
) -> None:
    """Replace the given fields (a None value removes the field and its index)."""
    kept = {f: v for f, v in values.items() if v is not None}
    changed = list(values)
    EncryptedValue.objects.filter(
        record_kind=record_kind, record_id=record_id, field__in=changed
    ).delete()
    BlindIndex.objects.filter(
        record_kind=record_kind, record_id=record_id, kind__in=changed
    ).delete()
    EncryptedValue.objects.bulk_create(encrypted_rows(key, record_kind, record_id, kept))
    BlindIndex.objects.bulk_create(
        index_rows(key.customer_id, record_kind, record_id, kept, region=region)
    )


def read_values(
    key: CustomerKey,
    record_kind: str,
    record_ids: Iterable[uuid.UUID],
    fields: Iterable[str],
) -> dict[uuid.UUID, dict[str, Any]]:
    """Decrypt the given fields of the given records: {record_id: {field: value}}."""
    ids = list(record_ids)
    wanted = list(fields)
    out: dict[uuid.UUID, dict[str, Any]] = {rid: {} for rid in ids}
    if not ids or not wanted:
        return out
    rows: Iterable[tuple[Any, str, Any]]
    if len(ids) == 1:
        # One record (a profile read): raw SQL, as this runs on every read.
        with connection.cursor() as cursor:
            cursor.execute(
                _VALUES_SQL, [uuid_param(key.customer_id), record_kind, uuid_param(ids[0])]
            )
            fetched = cursor.fetchall()
        wanted_set = set(wanted)
        rows = [(ids[0], f, blob) for _, f, blob in fetched if f in wanted_set]
    else:
        rows = EncryptedValue.objects.filter(
            customer_id=key.customer_id,
            record_kind=record_kind,
            field__in=wanted,
            record_id__in=ids,
        ).values_list("record_id", "field", "ciphertext")
    for record_id, field, blob in rows:
        try:
            out[record_id][field] = key.decrypt(record_kind, record_id, field, bytes(blob))
        except DecryptionFailed as exc:
            # A value that does not decrypt was moved or tampered with: never show it.
            raise VaultError(str(exc)) from None
    return out


def find_by_index(
    kind: str, normalised: str, record_kind: str = RecordKind.PROFILE
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(customer id, record id) pairs whose `kind` value normalises to `normalised`.

    The truncated blind index gives candidates (crypto.INDEX_DIGEST_BYTES); each is confirmed by
    decrypting its value, so a lookup never returns someone whose digest merely collides.
    Nothing decrypted leaves this function; the caller's own event records the lookup.
    """
    digest = blind_index(kind, normalised)
    candidates = list(
        BlindIndex.objects.filter(Q(kind=kind) & Q(digest=digest) & Q(record_kind=record_kind))
        .order_by("customer_id")
        .values_list("customer_id", "record_id")
    )
    return confirm_matches(kind, normalised, record_kind, candidates)


def confirm_matches(
    kind: str,
    normalised: str | set[str],
    record_kind: str,
    candidates: Sequence[tuple[uuid.UUID, uuid.UUID]],
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """The candidates whose decrypted `kind` value normalises to `normalised` (or one of them)."""
    wanted = {normalised} if isinstance(normalised, str) else normalised
    by_customer: dict[uuid.UUID, list[uuid.UUID]] = {}
    for customer_id, record_id in candidates:
        by_customer.setdefault(as_uuid(customer_id), []).append(as_uuid(record_id))
    matches: list[tuple[uuid.UUID, uuid.UUID]] = []
    for customer_id, record_ids in by_customer.items():
        try:
            key = customer_key(customer_id)
        except (KeyUnavailable, NotFound):
            continue  # erased meanwhile: nothing of theirs can match
        values = read_values(key, record_kind, record_ids, [kind])
        for record_id in record_ids:
            value = values[record_id].get(kind)
            if isinstance(value, str) and _normalised(kind, value) in wanted:
                matches.append((customer_id, record_id))
    return matches


def _normalised(kind: str, value: str) -> str:
    # Stored phones are E.164 and need no region; the others ignore it.
    return index_value(kind, value, "VN")


class OutboxCustomerKeys:
    """Wraps outbox message keys under the customer's data key (registered in vault/apps.py):
    the outbox knows nothing of customers, the vault lends it this one operation."""

    def wrap(self, customer_id: uuid.UUID, key: bytes, aad: bytes) -> bytes:
        return customer_key(customer_id).encrypt_bytes(aad, key)

    def unwrap(self, customer_id: uuid.UUID, wrapped: bytes, aad: bytes) -> bytes:
        return customer_key(customer_id).decrypt_bytes(aad, wrapped)
