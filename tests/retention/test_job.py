"""The worker's daily sweep (`sweep_due`, jobs.py) and `pledge retention sweep`'s arguments."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pledge.retention import sweep as sweep_module
from pledge.retention.models import RetentionRun, RunStatus
from pledge.retention.sweep import sweep_due
from tests.retention.shop import NOW, generate, state

pytestmark = pytest.mark.django_db


def test_the_job_sweeps_a_turn_at_a_time_then_once_a_day(
    retention_policy: None, settings: Any, monkeypatch: pytest.MonkeyPatch, frozen: Any
) -> None:
    settings.PLEDGE_RETENTION_BATCH = 10
    monkeypatch.setattr(sweep_module, "JOB_BATCHES_PER_TURN", 2)
    generate(45, batch=45)

    assert sweep_due(NOW) == 20  # two batches of ten, then the turn ends
    [run] = RetentionRun.objects.all()
    assert run.status == RunStatus.RUNNING and run.customers_seen == 20
    assert sweep_due(NOW) == 20
    assert sweep_due(NOW) == 5
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED and run.customers_seen == 45
    assert run.resumed == 2

    # Done for today; tomorrow's turn starts a new run (what was erased is not walked again).
    assert sweep_due(NOW) == 0
    assert RetentionRun.objects.count() == 1
    frozen.shift(dt.timedelta(days=1))
    assert sweep_due(NOW + dt.timedelta(days=1)) > 0
    assert RetentionRun.objects.count() == 2


def test_the_job_deletes_nothing_without_a_policy_in_force(db: None, frozen: Any) -> None:
    assert sweep_due(NOW) == 0
    assert not RetentionRun.objects.exists()


def test_the_command_dry_run_reports_and_changes_nothing(retention_policy: None) -> None:
    generate(60, batch=60)
    before = state()
    out = io.StringIO()
    call_command("retention", "sweep", "--dry-run", "--batch", "25", stdout=out)
    assert state() == before
    text = out.getvalue()
    assert "dry run (nothing changed)" in text and "60 customers seen" in text
    assert "erased inactive_customers" in text
    assert "@example.com" not in text  # counts only


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--batch", "0"], "--batch must be between 1 and 100000"),
        (["--batch", "100001"], "--batch must be between 1 and 100000"),
        (["--actor", ""], "--actor must be 1 to 120 characters"),
        (["--actor", "x" * 121], "--actor must be 1 to 120 characters"),
    ],
)
def test_the_command_refuses_bad_arguments(
    retention_policy: None, arguments: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("retention", "sweep", *arguments)
    assert not RetentionRun.objects.exists()


def test_the_command_refuses_to_sweep_without_a_policy(db: None) -> None:
    with pytest.raises(CommandError, match="no retention sweep"):
        call_command("retention", "sweep")
    assert not RetentionRun.objects.exists()
