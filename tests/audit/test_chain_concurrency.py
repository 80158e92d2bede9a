"""Appenders running at the same time cannot fork the audit chain (docs/audit.md: appends are
serialised; SQLite transactions start IMMEDIATE, PostgreSQL takes an advisory lock).

PostgreSQL: two threads, each with its own connection, append at once to the suite's server.
SQLite: two real `pledge shell` processes append at once to one database file.
Either way the result is one chain 1..N that `verify_chain` accepts, checkpoints included.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from pledge.audit.events import EventType
from tests.security.helpers import PLEDGE, RESULT_MARK, pledge_env, run_pledge, shell_result

REPO_ROOT = Path(__file__).resolve().parents[2]
PER_WRITER = 50


@pytest.mark.postgresql_only
def test_two_threads_appending_at_once_do_not_fork_the_chain(
    transactional_db: None, settings: Any
) -> None:
    from django.db import connection, connections

    from pledge.audit.models import AuditCheckpoint, AuditEvent
    from pledge.audit.services import EventSpec, record_event, record_events
    from pledge.audit.verify import verify_chain

    assert connection.vendor == "postgresql"
    settings.PLEDGE_AUDIT_CHECKPOINT_EVERY = 10
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            start.wait(timeout=30)
            for i in range(PER_WRITER):
                if i % 10 == 9:
                    # Batches interleave with single events.
                    record_events(
                        [
                            EventSpec(EventType.AUDIT_VERIFIED, actor=f"system:{name}"),
                            EventSpec(EventType.AUDIT_VERIFIED, actor=f"system:{name}"),
                        ]
                    )
                else:
                    record_event(EventType.AUDIT_VERIFIED, actor=f"system:{name}", details={"i": i})
        except BaseException as exc:  # reported below, with the thread's name
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("t1", "t2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []

    total = 2 * (PER_WRITER + PER_WRITER // 10)
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, total + 1))
    per_writer = {a: AuditEvent.objects.filter(actor=a).count() for a in ("system:t1", "system:t2")}
    assert per_writer == {"system:t1": total // 2, "system:t2": total // 2}
    # The two writers really interleaved (otherwise the test proves little).
    actors = list(AuditEvent.objects.order_by("seq").values_list("actor", flat=True))
    switches = sum(1 for x, y in pairwise(actors) if x != y)
    assert switches > 2, "the writers did not overlap"
    assert list(AuditCheckpoint.objects.values_list("seq", flat=True)) == list(
        range(10, total + 1, 10)
    )
    result = verify_chain()
    assert result.ok, result.problem
    assert result.events == total


WRITER_SCRIPT = """
import json, os, time
from pathlib import Path
from pledge.audit.events import EventType
from pledge.audit.services import record_event
go = Path(os.environ["TEST_GO_FILE"])
Path(os.environ["TEST_READY_FILE"]).touch()
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.005)
name = os.environ["TEST_WRITER"]
for i in range(int(os.environ["TEST_EVENTS"])):
    record_event(EventType.AUDIT_VERIFIED, actor="system:" + name, details={"i": i})
    time.sleep(0.002)  # like requests, appends come with gaps: the other writer gets turns
from tests.security.helpers import RESULT_MARK
print(RESULT_MARK + json.dumps(name))
"""


def test_two_processes_appending_at_once_do_not_fork_the_chain(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    base = pledge_env(var_dir, PLEDGE_AUDIT_CHECKPOINT_EVERY="10", PYTHONPATH=str(REPO_ROOT))
    run_pledge(var_dir, "migrate", "--no-input", "-v", "0", env=base)
    go = tmp_path / "go"
    procs = []
    for name in ("p1", "p2"):
        env = {
            **base,
            "TEST_GO_FILE": str(go),
            "TEST_READY_FILE": str(tmp_path / f"ready-{name}"),
            "TEST_WRITER": name,
            "TEST_EVENTS": str(PER_WRITER * 4),
        }
        procs.append(
            subprocess.Popen(
                [str(PLEDGE), "shell", "--no-imports", "-c", WRITER_SCRIPT],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{n}").exists() for n in ("p1", "p2")):
        assert time.monotonic() < deadline, "the writers did not start"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert RESULT_MARK in out

    check = run_pledge(
        var_dir,
        "shell",
        "--no-imports",
        "-c",
        "import json\n"
        "from pledge.audit.models import AuditEvent as E\n"
        f"print({RESULT_MARK!r} + json.dumps(["
        "list(E.objects.order_by('seq').values_list('seq', flat=True)),"
        "list(E.objects.order_by('seq').values_list('actor', flat=True))]))",
        env=base,
    )
    seqs, actors = shell_result(check)  # type: ignore[misc]
    total = 2 * PER_WRITER * 4
    assert seqs == list(range(1, total + 1))
    assert actors.count("system:p1") == actors.count("system:p2") == total // 2
    switches = sum(1 for x, y in pairwise(actors) if x != y)
    assert switches > 2, "the writers did not overlap"

    verified = run_pledge(var_dir, "audit", "verify", "--json", "--no-record", env=base)
    result = json.loads(verified.stdout)
    assert result["ok"] is True, result
    assert (result["events"], result["checkpoints"]) == (total, total // 10)
