"""`pledge worker`: run the background jobs of `pledge.jobs.JOBS` in a loop (ARCHITECTURE.md,
"Background jobs": a polling worker, no broker).

    pledge worker                       # every PLEDGE_WORKER_INTERVAL_SECONDS until SIGTERM
    pledge worker --once                # one round, for cron or a test; exit 1 if a job failed
    pledge worker --jobs pledge.notify.delivery.deliver_due --interval 2

Every job is safe with several workers at once and after a crash (docs/notify.md), so running two
workers is fine. SIGTERM or SIGINT lets the job in progress finish, then the worker stops; a second
signal stops it at once. One job's exception is logged (its class and where it was raised, never
its message, which could quote personal data) and the other jobs still run.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections
from django.utils import timezone

from pledge.jobs import JOBS

log = logging.getLogger("pledge.worker")
Job = Callable[[datetime], int]


def load_job(path: str) -> Job:
    """The function a dotted path names; CommandError naming the path when there is none."""
    module_name, _, name = path.rpartition(".")
    if not module_name:
        raise CommandError(f"job {path!r}: give a dotted path, e.g. pledge.notify.delivery.x")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CommandError(f"job {path}: module {module_name} cannot be imported ({exc})") from None
    job = getattr(module, name, None)
    if not callable(job):
        raise CommandError(f"job {path}: {module_name} has no function {name}")
    return job  # type: ignore[no-any-return]


def where(exc: BaseException) -> str:
    """Where an exception was raised, frame by frame, without its message or local values."""
    frames = traceback.extract_tb(exc.__traceback__)
    return " < ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in frames[::-1])


class Command(BaseCommand):
    help = "Run the background jobs (email outbox, consent expiry, account clean-up) in a loop."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run every job once, then stop")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="seconds between rounds (default PLEDGE_WORKER_INTERVAL_SECONDS)",
        )
        parser.add_argument(
            "--jobs",
            default="",
            help="comma-separated dotted paths to run instead of pledge.jobs.JOBS",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        interval = options["interval"]
        if interval is None:
            interval = float(settings.PLEDGE_WORKER_INTERVAL_SECONDS)
        if interval <= 0:
            raise CommandError("--interval must be more than 0 seconds")
        paths = [p.strip() for p in options["jobs"].split(",") if p.strip()] or list(JOBS)
        # Fail at start-up, naming the job, rather than at 3 a.m. in the middle of a loop.
        jobs = [(path, load_job(path)) for path in paths]

        stopping = threading.Event()
        previous: dict[signal.Signals, Any] = {}

        def stop(signum: int, frame: FrameType | None) -> None:
            log.info(
                "worker: %s received, stopping after the current job", signal.strsignal(signum)
            )
            stopping.set()
            for sig, handler in previous.items():  # a second signal acts at once
                signal.signal(sig, handler)

        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, stop)

        log.info("worker: running %s every %ss", ", ".join(paths), f"{interval:g}")
        try:
            while True:
                failures = self.run_round(jobs, stopping)
                if options["once"]:
                    if failures:
                        raise CommandError(f"{failures} job(s) failed; see the log")
                    return
                # Wait for the next round, or wake at once on a signal.
                if stopping.wait(interval):
                    return
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("worker: stopped")

    def run_round(self, jobs: list[tuple[str, Job]], stopping: threading.Event) -> int:
        failures = 0
        for path, job in jobs:
            if stopping.is_set():
                break
            # A connection broken by the database restarting (or by the last job) is replaced.
            close_old_connections()
            started = time.monotonic()
            try:
                done = job(timezone.now())
            except Exception as exc:
                failures += 1
                log.error("worker: job %s failed: %s at %s", path, type(exc).__name__, where(exc))
                continue
            finally:
                close_old_connections()
            elapsed = time.monotonic() - started
            level = logging.INFO if done else logging.DEBUG
            log.log(level, "worker: job %s did %s in %.2fs", path, done, elapsed)
        return failures
