"""Jobs for the worker's tests (`pledge worker --jobs tests.notify.jobs.…`)."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path


def explode(now: datetime) -> int:
    # The message quotes personal data, as a careless exception might: the log must not.
    raise ValueError("lan.nguyen@example.vn could not be processed")


def three(now: datetime) -> int:
    return 3


def slow(now: datetime) -> int:
    """Note that it started, wait until the test releases it, note that it finished."""
    folder = Path(os.environ["NOTIFY_TEST_DIR"])
    with (folder / "started").open("a") as started:
        started.write(f"{now.isoformat()}\n")
    deadline = time.monotonic() + 30
    while not (folder / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    (folder / "finished").write_text("yes")
    return 1


not_a_function = 42
