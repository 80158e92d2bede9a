"""No plaintext at rest (ARCHITECTURE.md, security invariants): the raw database files never hold a
queued message's recipient, link or text, before or after it is sent; nor do the logs.

SQLite: a real installation's files (`installation.py`) are read while the test keeps a connection
open, so the WAL is read before any checkpoint folds it away. PostgreSQL: CHECKPOINT, then every
file of the server's data directory. Each scan first finds plain-column controls (the template
name, the idempotency key) in the same bytes, or it would prove nothing.
"""

from __future__ import annotations

import secrets
import sqlite3
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pytest

from tests.notify.installation import RESET, Installation, finished
from tests.security.helpers import Scanner, files_under, text_forms
from tests.smtp import SMTPServer, body_of

SENTENCE = "To choose a new password, open this link"


def _held_open(installation: Installation) -> AbstractContextManager[Any]:
    """On SQLite, a connection that stays open so that the WAL is not checkpointed away."""
    if installation.database != "sqlite":
        return nullcontext()
    connection = sqlite3.connect(installation.var_dir / "pledge.sqlite3")
    connection.execute("SELECT count(*) FROM notify_outboxmessage").fetchall()
    return connection  # closing() on exit


def _database_files(installation: Installation) -> dict[str, bytes]:
    if installation.database == "sqlite":
        return {p.name: p.read_bytes() for p in installation.var_dir.glob("pledge.sqlite3*")}
    installation.sql("CHECKPOINT")
    [(data_directory,)] = installation.sql("SHOW data_directory")
    return {str(p): p.read_bytes() for p in files_under(Path(data_directory))}


def test_the_database_files_never_hold_the_recipient_or_the_text(
    installation: Installation, smtp_server: SMTPServer
) -> None:
    tag = secrets.token_hex(6)
    address = f"nguyen.van.{tag}@example.vn"
    link = f"https://privacy.shop.example/reset/tok-{tag}/"
    scanner = Scanner(
        {"address": text_forms(address), "link": text_forms(link), "text": text_forms(SENTENCE)}
    )
    key = f"scan-{tag}"

    def scan(files: dict[str, bytes]) -> list[str]:
        everything = b"".join(files.values())
        # The scan reads the right bytes: plain columns of the message are there.
        assert RESET.encode() in everything and key.encode() in everything
        return [hit for name, data in files.items() for hit in scanner.scan_bytes(data, name)]

    held = _held_open(installation)
    with held:
        installation.enqueue(to=address, url=link, prefix=f"scan-{tag}")
        queued = _database_files(installation)
        if installation.database == "sqlite":
            assert "pledge.sqlite3-wal" in queued, sorted(queued)
        assert scan(queued) == []

        code, log = finished(installation.worker())
        assert code == 0, log
        [received] = smtp_server.mailbox.messages
        assert received["To"] == address and link in body_of(received)
        assert scan(_database_files(installation)) == []
        # The worker's log names the message, never its address, link or text.
        assert scanner.scan_bytes(log.encode(), "worker log") == []
        assert "sent" in log
    if isinstance(held, sqlite3.Connection):
        held.close()
        assert scan(_database_files(installation)) == []


@pytest.mark.parametrize("value", ["lan@example.vn", "Reset your password"])
def test_the_scanner_finds_a_planted_value(value: str) -> None:
    scanner = Scanner({"value": text_forms(value)})
    assert scanner.scan_bytes(b"\x00page" + value.encode() + b"\x00", "x")
    assert scanner.scan_bytes(value.upper().encode("utf-16-le"), "x")
