"""A sweep killed in the middle (SIGKILL, a real `pledge retention sweep` process) and run again
ends in exactly the state an uninterrupted sweep reaches (issue 8 acceptance; P17).

Two copies of one installation (database, key store, keyring) with the same 3,000 customers: on
the first the sweep runs to its end; on the second it is killed after it reported a few committed
batches, then run again. The copies must then hold the same values, indexes, erased customers and
data keys, and the resumed run's report must count what the uninterrupted one counted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.notify.installation import MigratedDatabase, _postgresql_admin
from tests.notify.installation import migrated_database as migrated_database
from tests.security.helpers import PLEDGE, RESULT_MARK, pledge_env, run_pledge, shell_result

CUSTOMERS = 3000
BATCH = 50  # 60 batches: the kill lands well inside the run

_GENERATE = """
from django.utils import timezone
from tests.retention.shop import generate, publish_retention_policy
today = timezone.localdate()
publish_retention_policy(today)
generate({count}, today=today)
"""

_STATE = f"""
import json
from pledge.retention.models import RetentionRun
from pledge.vault.keystore import keystore
from pledge.vault.models import Customer
from tests.retention.shop import state
values, indexes, erased = state()
store = keystore()
keys = {{str(c): store.generations(c) for c in Customer.objects.values_list("pk", flat=True)}}
runs = [
    {{"status": r.status, "deleted": r.deleted, "kept": r.kept, "erased": r.customers_erased,
      "seen": r.customers_seen, "batches": r.batches, "resumed": r.resumed}}
    for r in RetentionRun.objects.filter(dry_run=False).order_by("started_at")
]
print({RESULT_MARK!r} + json.dumps({{
    "values": sorted("|".join(map(str, v)) for v in values),
    "indexes": sorted("|".join(map(str, i)) for i in indexes),
    "erased": sorted(str(e) for e in erased),
    "keys": keys,
    "runs": runs,
}}))
"""


@dataclass
class Copy:
    var_dir: Path
    env: dict[str, str]

    def shell(self, code: str) -> Any:
        return shell_result(run_pledge(self.var_dir, "shell", "-c", code, env=self.env))

    def sweep(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(PLEDGE), "retention", "sweep", "--batch", str(BATCH)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )


@pytest.fixture
def two_copies(
    migrated_database: MigratedDatabase,
    tmp_path: Path,
) -> Iterator[tuple[Copy, Copy]]:
    first = tmp_path / "first"
    first.mkdir(mode=0o700)
    extra = {"PYTHONPATH": str(REPO_ROOT), "PLEDGE_LOG_LEVEL": "WARNING"}
    names: list[str] = []
    port = migrated_database.postgresql_port
    if migrated_database.sqlite_file is not None:
        shutil.copyfile(migrated_database.sqlite_file, first / "pledge.sqlite3")
        env = pledge_env(first, **extra)
    else:
        names = [f"ret_{uuid.uuid4().hex[:8]}", f"ret_{uuid.uuid4().hex[:8]}"]
        with _postgresql_admin(port) as admin:
            admin.execute(
                f'CREATE DATABASE "{names[0]}" TEMPLATE "{migrated_database.postgresql_template}"'
            )
        url = f"postgresql://postgres@127.0.0.1:{port}/{names[0]}"
        env = pledge_env(first, DATABASE_URL=url, **extra)
    run_pledge(first, "shell", "-c", _GENERATE.format(count=CUSTOMERS), env=env, timeout=120)
    second = tmp_path / "second"
    shutil.copytree(first, second)
    if names:
        with _postgresql_admin(port) as admin:
            admin.execute(f'CREATE DATABASE "{names[1]}" TEMPLATE "{names[0]}"')
        url = f"postgresql://postgres@127.0.0.1:{port}/{names[1]}"
        env2 = pledge_env(second, DATABASE_URL=url, **extra)
    else:
        env2 = pledge_env(second, **extra)
    try:
        yield Copy(first, env), Copy(second, env2)
    finally:
        if names:
            with _postgresql_admin(port) as admin:
                for name in names:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_sweep_killed_midway_and_run_again_ends_as_an_uninterrupted_one(
    two_copies: tuple[Copy, Copy],
) -> None:
    whole, killed = two_copies
    process = whole.sweep()
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    reference = whole.shell(_STATE)

    process = killed.sweep()
    assert process.stdout is not None
    reported = 0
    for line in process.stdout:
        if line.startswith("batch "):
            reported += 1
        if reported == 3:
            os.kill(process.pid, signal.SIGKILL)
            break
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    midway = killed.shell(_STATE)
    [interrupted] = midway["runs"]
    assert interrupted["status"] == "running"
    assert 3 <= interrupted["batches"] < CUSTOMERS // BATCH
    assert midway["values"] != reference["values"]  # the kill left work undone

    process = killed.sweep()
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "finished" in out
    after = killed.shell(_STATE)

    for part in ("values", "indexes", "erased"):
        assert after[part] == reference[part], part
    # Data keys: the same customers hold keys, of as many generations (numbers may differ: an
    # erasure rolled back by the kill had already reserved its next generation).
    assert {c: len(g) for c, g in after["keys"].items()} == {
        c: len(g) for c, g in reference["keys"].items()
    }
    [resumed] = after["runs"]
    [uninterrupted] = reference["runs"]
    assert resumed["status"] == uninterrupted["status"] == "finished"
    assert resumed["resumed"] == 1
    for part in ("deleted", "kept", "erased", "seen"):
        assert resumed[part] == uninterrupted[part], part
    assert json.dumps(reference["erased"])  # erased customers exist in this shop
    assert reference["erased"]
