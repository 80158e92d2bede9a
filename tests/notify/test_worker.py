"""`pledge worker`: every job of pledge.jobs.JOBS (or --jobs), a missing job stops it at start-up,
a failing job is logged without its message while the others run, SIGTERM lets the current job
finish."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from pledge.jobs import JOBS
from pledge.management.commands.worker import load_job
from tests.notify.installation import Installation
from tests.security.helpers import PLEDGE


def worker(installation: Installation, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(PLEDGE), "worker", *args],
        env={**installation.env, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )


def outcome(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


@pytest.mark.parametrize(
    ("jobs", "problem"),
    [
        ("pledge.nowhere.deliver", "job pledge.nowhere.deliver: module pledge.nowhere cannot be"),
        ("tests.notify.jobs.missing", "tests.notify.jobs has no function missing"),
        ("tests.notify.jobs.not_a_function", "has no function not_a_function"),
        ("deliver", "give a dotted path"),
    ],
)
def test_a_missing_job_stops_the_worker_at_start_up_naming_it(
    installation: Installation, jobs: str, problem: str
) -> None:
    code, log = outcome(worker(installation, "--once", "--jobs", f"tests.notify.jobs.three,{jobs}"))
    assert code == 1
    assert problem in log
    assert "job tests.notify.jobs.three did" not in log  # nothing ran


def test_a_failing_job_is_logged_without_its_message_and_the_others_run(
    installation: Installation,
) -> None:
    code, log = outcome(
        worker(
            installation, "--once", "--jobs", "tests.notify.jobs.explode,tests.notify.jobs.three"
        )
    )
    assert code == 1  # --once says a job failed
    assert "job tests.notify.jobs.explode failed: ValueError at jobs.py:" in log
    assert "lan.nguyen" not in log and "could not be processed" not in log
    assert "job tests.notify.jobs.three did 3" in log
    assert "1 job(s) failed" in log


def test_the_interval_must_be_positive(installation: Installation) -> None:
    code, log = outcome(worker(installation, "--once", "--interval", "0"))
    assert code == 1 and "--interval must be more than 0 seconds" in log


def test_sigterm_lets_the_current_job_finish_then_stops(
    installation: Installation, tmp_path: Path
) -> None:
    process = worker(
        installation,
        "--jobs",
        "tests.notify.jobs.slow",
        "--interval",
        "0.1",
        NOTIFY_TEST_DIR=str(tmp_path),
    )
    deadline = time.monotonic() + 30
    while not (tmp_path / "started").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.stderr
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    (tmp_path / "release").touch()
    code, log = outcome(process)
    assert code == 0, log
    assert (tmp_path / "finished").read_text() == "yes"
    assert len((tmp_path / "started").read_text().splitlines()) == 1  # no round after the signal
    assert "stopping after the current job" in log and "worker: stopped" in log


def test_every_listed_job_can_be_loaded() -> None:
    # The default worker runs them all: a job listed in pledge/jobs.py must exist.
    for path in JOBS:
        assert callable(load_job(path)), path
