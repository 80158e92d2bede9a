"""The key store: each customer's data key, wrapped by the master key, apart from the database.

Why not a table in the database: a database backup taken before an erasure would still hold the
wrapped key, and the master key (which is not erased) would still unwrap it, so the erased data
would be readable from that backup. Keeping the data keys here, in a small SQLite file next to the
keyring (`PLEDGE_KEYSTORE_PATH`), means that destroying a customer's key destroys their data in the
live database *and* in every database backup (ARCHITECTURE.md security invariants; issue 6).

A customer may hold several generations of key for a moment: re-keying (P20) and erasure with a
legal hold write generation n+1, re-encrypt in the database transaction, then destroy generation
n once that transaction commits. `Customer.key_generation` in the database names the generation in
use. A shred that could not run (a crash between the commit and the delete) is left in
`pending_shreds` and finished by `flush_shreds`, which deletes a generation only when the database
no longer uses it, so a rolled-back erasure can never destroy a key still in use.

Deleted keys must not linger in free pages or the write-ahead log: `secure_delete` zeroes freed
content, and a TRUNCATE checkpoint after each shred folds the WAL back and empties it.
Durability: `synchronous=FULL`, so a key whose customer the database committed survives a power
cut (losing one would lose that customer's data).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_keys (
    customer_id BLOB NOT NULL,
    generation INTEGER NOT NULL,
    master_version INTEGER NOT NULL,
    wrapped BLOB NOT NULL,
    created_at TEXT NOT NULL,
    rewrapped_at TEXT,
    PRIMARY KEY (customer_id, generation)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS data_keys_master_version ON data_keys (master_version);
CREATE TABLE IF NOT EXISTS pending_shreds (
    customer_id BLOB NOT NULL,
    generation INTEGER NOT NULL,
    queued_at TEXT NOT NULL,
    PRIMARY KEY (customer_id, generation)
) WITHOUT ROWID;
"""


class KeyStoreError(Exception):
    """The key store cannot be opened or written."""


@dataclass(frozen=True)
class StoredKey:
    customer_id: uuid.UUID
    generation: int
    master_version: int
    wrapped: bytes


def _now() -> str:
    # A fixed width, so queue times compare as text (`flush_shreds`).
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


class KeyStore:
    """One SQLite file; one connection per thread (sqlite3 connections are not shared)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._ready = False
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Created 0600 before SQLite opens it (SQLite would use 0644 less the umask), so no
            # other account can read it even for a moment; its -wal and -shm take the same mode.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            if self.path.stat().st_mode & 0o077:
                self.path.chmod(0o600)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            with self._lock:
                if not self._ready:
                    conn.executescript(_SCHEMA)
                    self._ready = True
        except (OSError, sqlite3.Error) as exc:
            raise KeyStoreError(f"the key store {self.path} cannot be opened: {exc}") from None
        self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- reads ------------------------------------------------------------------------------

    def get(self, customer_id: uuid.UUID, generation: int) -> tuple[int, bytes] | None:
        row = (
            self._connect()
            .execute(
                "SELECT master_version, wrapped FROM data_keys "
                "WHERE customer_id = ? AND generation = ?",
                (customer_id.bytes, generation),
            )
            .fetchone()
        )
        return (int(row[0]), bytes(row[1])) if row else None

    def generations(self, customer_id: uuid.UUID) -> list[int]:
        rows = self._connect().execute(
            "SELECT generation FROM data_keys WHERE customer_id = ? ORDER BY generation",
            (customer_id.bytes,),
        )
        return [int(r[0]) for r in rows]

    def next_generation(self, customer_id: uuid.UUID, in_use: int) -> int:
        """The generation a new key of this customer gets: past the one in use and past any
        left behind by a rolled-back re-key or erasure (its key was written, its transaction
        was not), so a retry never collides with it."""
        return max([in_use, *self.generations(customer_id)]) + 1

    def holds_keys(self) -> bool:
        if not self.path.exists():
            return False
        return self._connect().execute("SELECT 1 FROM data_keys LIMIT 1").fetchone() is not None

    def customer_ids(
        self, *, after: uuid.UUID | None = None, limit: int = 1000, created_before: str = ""
    ) -> list[uuid.UUID]:
        """Customers holding a key, in id order after `after` (and, given `created_before`, only
        keys written before that time): for walking the whole store in batches."""
        rows = self._connect().execute(
            "SELECT DISTINCT customer_id FROM data_keys WHERE customer_id > ? "
            "AND (? = '' OR created_at < ?) ORDER BY customer_id LIMIT ?",
            ((after or uuid.UUID(int=0)).bytes, created_before, created_before, limit),
        )
        return [uuid.UUID(bytes=bytes(r[0])) for r in rows]

    def count_by_version(self) -> dict[int, int]:
        rows = self._connect().execute(
            "SELECT master_version, COUNT(*) FROM data_keys GROUP BY master_version"
        )
        return {int(v): int(n) for v, n in rows}

    def not_at_version(self, version: int, limit: int) -> list[StoredKey]:
        rows = self._connect().execute(
            "SELECT customer_id, generation, master_version, wrapped FROM data_keys "
            "WHERE master_version != ? ORDER BY customer_id, generation LIMIT ?",
            (version, limit),
        )
        return [
            StoredKey(uuid.UUID(bytes=bytes(c)), int(g), int(v), bytes(w)) for c, g, v, w in rows
        ]

    # -- writes -----------------------------------------------------------------------------

    def put(self, keys: Iterable[StoredKey]) -> None:
        """Insert new keys in one committed transaction (a duplicate is an error, never a swap)."""
        now = _now()
        rows = [(k.customer_id.bytes, k.generation, k.master_version, k.wrapped, now) for k in keys]
        if not rows:
            return
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO data_keys (customer_id, generation, master_version, wrapped, "
                "created_at) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK") if conn.in_transaction else None
            raise KeyStoreError(f"the key store refused new keys: {exc}") from None

    def rewrap(self, keys: Iterable[StoredKey]) -> None:
        """Replace the wrapping of existing keys (master-key rotation); the keys stay the same."""
        now = _now()
        rows = [(k.master_version, k.wrapped, now, k.customer_id.bytes, k.generation) for k in keys]
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "UPDATE data_keys SET master_version = ?, wrapped = ?, rewrapped_at = ? "
                "WHERE customer_id = ? AND generation = ?",
                rows,
            )
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise

    def queue_shred(self, customer_id: uuid.UUID, generation: int) -> None:
        self._connect().execute(
            "INSERT OR IGNORE INTO pending_shreds (customer_id, generation, queued_at) "
            "VALUES (?, ?, ?)",
            (customer_id.bytes, generation, _now()),
        )

    def pending_shreds_with_time(self, limit: int = 1000) -> list[tuple[uuid.UUID, int, str]]:
        rows = self._connect().execute(
            "SELECT customer_id, generation, queued_at FROM pending_shreds "
            "ORDER BY queued_at LIMIT ?",
            (limit,),
        )
        return [(uuid.UUID(bytes=bytes(c)), int(g), str(q)) for c, g, q in rows]

    def drop_pending(self, customer_id: uuid.UUID, generation: int) -> None:
        self._connect().execute(
            "DELETE FROM pending_shreds WHERE customer_id = ? AND generation = ?",
            (customer_id.bytes, generation),
        )

    def destroy(self, customer_id: uuid.UUID, generations: Iterable[int]) -> int:
        """Delete these generations of the customer's key and fold the WAL back: after this, no
        byte of them is left in the key store's files. Returns how many were deleted."""
        wanted = [(customer_id.bytes, g) for g in generations]
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            before = conn.total_changes
            conn.executemany(
                "DELETE FROM data_keys WHERE customer_id = ? AND generation = ?", wanted
            )
            deleted = conn.total_changes - before
            conn.executemany(
                "DELETE FROM pending_shreds WHERE customer_id = ? AND generation = ?", wanted
            )
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise
        self.checkpoint()
        return deleted

    # Batches of the two writes above, for the retention sweep (retention/shred.py): one
    # transaction, so one fsync and one checkpoint for a batch of customers instead of one each.

    def queue_shreds(self, pairs: Iterable[tuple[uuid.UUID, int]]) -> None:
        rows = [(c.bytes, g, _now()) for c, g in pairs]
        if not rows:
            return
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR IGNORE INTO pending_shreds (customer_id, generation, queued_at) "
                "VALUES (?, ?, ?)",
                rows,
            )
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise

    def destroy_many(self, pairs: Iterable[tuple[uuid.UUID, int]]) -> int:
        """`destroy` for many (customer, generation) pairs in one transaction and one checkpoint."""
        wanted = [(c.bytes, g) for c, g in pairs]
        if not wanted:
            return 0
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            before = conn.total_changes
            conn.executemany(
                "DELETE FROM data_keys WHERE customer_id = ? AND generation = ?", wanted
            )
            deleted = conn.total_changes - before
            conn.executemany(
                "DELETE FROM pending_shreds WHERE customer_id = ? AND generation = ?", wanted
            )
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise
        self.checkpoint()
        return deleted

    def generations_of(self, customer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[int]]:
        """`generations` for many customers in one query."""
        wanted = [c.bytes for c in customer_ids]
        out: dict[uuid.UUID, list[int]] = {}
        conn = self._connect()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = conn.execute(
                "SELECT customer_id, generation FROM data_keys "  # noqa: S608
                f"WHERE customer_id IN ({marks}) ORDER BY customer_id, generation",
                chunk,
            )
            for c, g in rows:
                out.setdefault(uuid.UUID(bytes=bytes(c)), []).append(int(g))
        return out

    def checkpoint(self) -> bool:
        """Copy the WAL into the file and truncate it. False when a reader kept it from finishing
        (the next shred or `flush_shreds` run tries again)."""
        busy, _, _ = self._connect().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return not busy


_stores: dict[Path, KeyStore] = {}
_stores_lock = threading.Lock()


def keystore() -> KeyStore:
    """The key store at `PLEDGE_KEYSTORE_PATH` (one object per path, so tests can point it away)."""
    path = Path(settings.PLEDGE_KEYSTORE_PATH)
    with _stores_lock:
        store = _stores.get(path)
        if store is None:
            store = _stores[path] = KeyStore(path)
        return store
