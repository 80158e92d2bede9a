"""A real installation for the outbox's crash and concurrency tests: `pledge` subprocesses (migrate,
shell, worker) on a database of their own, sending to the test's SMTP server.

SQLite: a file database in a throw-away var dir (the suite's own test database lives in memory,
where no other process can see it). PostgreSQL: a fresh database on the suite's server. Either
way each process configures itself from its environment alone, like a real deployment; the test
reads the outcome through `pledge shell`, and kills the worker where it wants to.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, requested_test_db
from tests.security.helpers import PLEDGE, RESULT_MARK, pledge_env, run_pledge, shell_result
from tests.smtp import SMTPServer

DELIVER = "pledge.notify.delivery.deliver_due"
RESET = "accounts/email/password_reset"

_COLUMNS = (
    "id, idempotency_key, status, attempts, sealed IS NOT NULL, wrapped_key IS NOT NULL, "
    "last_error, worker"
)


@dataclass
class Installation:
    var_dir: Path
    env: dict[str, str]
    database: str  # "sqlite" (var_dir/pledge.sqlite3) or a PostgreSQL database name
    postgresql_url: str = ""

    def pledge(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_pledge(self.var_dir, *args, env=self.env, check=check, timeout=60)

    def script(self, code: str) -> Any:
        return shell_result(self.pledge("shell", "-c", code))

    def enqueue(
        self,
        count: int = 1,
        *,
        to: str = "lan.nguyen@example.vn",
        url: str = "https://privacy.shop.example/reset/abc/",
        prefix: str = "m",
    ) -> list[str]:
        """Queue `count` messages (keys prefix-000, prefix-001, …), each in its own transaction."""
        code = f"""
import json
from django.db import transaction
from pledge.notify.services import enqueue
ids = []
for n in range({count}):
    with transaction.atomic():
        ids.append(str(enqueue(
            to={to!r}, template={RESET!r}, language="en",
            context={{"shop": "Leman Jewelry", "url": {url!r}, "hours": 1}},
            idempotency_key=f"{prefix}-{{n:03d}}",
        ).id))
print({RESULT_MARK!r} + json.dumps(ids))
"""
        ids = self.script(code)
        assert isinstance(ids, list)
        return ids

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement on the installation's database, from the test process."""
        if self.database == "sqlite":
            connection = sqlite3.connect(self.var_dir / "pledge.sqlite3", timeout=20)
            try:
                with connection:
                    return connection.execute(statement.replace("%s", "?"), params).fetchall()
            finally:
                connection.close()
        import psycopg

        with psycopg.connect(self.postgresql_url, autocommit=True) as connection:
            cursor = connection.execute(statement, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    def rows(self) -> list[dict[str, Any]]:
        """The outbox table, read straight from the database."""
        found = self.sql(f"SELECT {_COLUMNS} FROM notify_outboxmessage ORDER BY idempotency_key")
        return [
            {
                "id": str(uuid.UUID(str(r[0]))),
                "key": r[1],
                "status": r[2],
                "attempts": r[3],
                "sealed": bool(r[4]),
                "wrapped_key": bool(r[5]),
                "last_error": r[6],
                "worker": r[7],
            }
            for r in found
        ]

    def let_leases_run_out(self) -> int:
        """What waiting PLEDGE_OUTBOX_LEASE_SECONDS would do, without the wait: every lease
        ends a second ago."""
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        # SQLite: the text form Django stores (UTC); PostgreSQL: a timestamptz.
        value: Any = past.strftime("%Y-%m-%d %H:%M:%S.%f") if self.database == "sqlite" else past
        self.sql(
            "UPDATE notify_outboxmessage SET lease_until = %s WHERE lease_until IS NOT NULL", value
        )
        return len([r for r in self.sql("SELECT lease_until FROM notify_outboxmessage") if r[0]])

    def worker(self, *args: str) -> subprocess.Popen[str]:
        """`pledge worker --once --jobs deliver_due ARGS…`, started (not waited for)."""
        return subprocess.Popen(
            [str(PLEDGE), "worker", "--once", "--jobs", DELIVER, *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def run_worker(self, *args: str) -> subprocess.CompletedProcess[str]:
        process = self.worker(*args)
        stdout, stderr = process.communicate(timeout=60)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def finished(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Wait for a worker process; its exit code and its log (stderr)."""
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


@dataclass(frozen=True)
class MigratedDatabase:
    """A database migrated once per session; each installation starts from a copy of it."""

    sqlite_file: Path | None
    postgresql_template: str
    postgresql_port: int


def _postgresql_admin(port: int) -> Any:
    import psycopg

    return psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
    )


@pytest.fixture(scope="session")
def migrated_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MigratedDatabase]:
    var_dir = tmp_path_factory.mktemp("notify-migrated")
    if requested_test_db() != "postgresql":
        run_pledge(var_dir, "migrate", "--verbosity", "0", env=pledge_env(var_dir))
        yield MigratedDatabase(var_dir / "pledge.sqlite3", "", 0)
        return
    port = request.getfixturevalue("pledge_postgresql").port
    name = f"notify_template_{uuid.uuid4().hex[:8]}"
    with _postgresql_admin(port) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql://postgres@127.0.0.1:{port}/{name}"
        run_pledge(
            var_dir, "migrate", "--verbosity", "0", env=pledge_env(var_dir, DATABASE_URL=url)
        )
        yield MigratedDatabase(None, name, port)
    finally:
        with _postgresql_admin(port) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def installation(
    migrated_database: MigratedDatabase, smtp_server: SMTPServer, tmp_path: Path
) -> Iterator[Installation]:
    var_dir = tmp_path / "var"
    var_dir.mkdir(mode=0o700)
    settings = {
        "PLEDGE_EMAIL_HOST": "127.0.0.1",
        "PLEDGE_EMAIL_PORT": str(smtp_server.port),
        "PLEDGE_EMAIL_FROM": "pledge@shop.example",
        "PLEDGE_EMAIL_TIMEOUT": "10",
        "PLEDGE_LOG_LEVEL": "INFO",
        # Test jobs (tests/notify/jobs.py) are importable by the worker.
        "PYTHONPATH": str(REPO_ROOT),
    }
    if migrated_database.sqlite_file is not None:
        shutil.copyfile(migrated_database.sqlite_file, var_dir / "pledge.sqlite3")
        yield Installation(var_dir, pledge_env(var_dir, **settings), "sqlite")
        return
    port = migrated_database.postgresql_port
    name = f"notify_{uuid.uuid4().hex[:12]}"
    with _postgresql_admin(port) as admin:
        admin.execute(
            f'CREATE DATABASE "{name}" TEMPLATE "{migrated_database.postgresql_template}"'
        )
    url = f"postgresql://postgres@127.0.0.1:{port}/{name}"
    try:
        yield Installation(var_dir, pledge_env(var_dir, DATABASE_URL=url, **settings), name, url)
    finally:
        with _postgresql_admin(port) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rows_by_key(installation: Installation) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in installation.rows()}
