"""Several workers running `expire_due` at once (PostgreSQL): rows another worker holds are
skipped, not waited for, and no consent expires twice."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import connection, connections, transaction

from pledge.consent import services
from pledge.consent.models import ConsentEvent, ConsentState

VISITORS = 30


def give_cookie_consents() -> dt.datetime:
    for i in range(VISITORS):
        services.record_cookie_choice(
            visitor_id=f"visitor-{i}",
            customer_id=None,
            choices={"analytics": True},
            method="banner_accept_all",
            language="vi",
            actor="visitor:test",
            notice_text="Cookies?",
        )
    latest = ConsentEvent.objects.order_by("-at").values_list("at", flat=True).first()
    assert latest is not None
    return latest


def in_thread(job: Any) -> Any:
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(job())
        except BaseException as exc:  # reported below
            result.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the worker waited for a lock it should have skipped"
    assert not isinstance(result[0], BaseException), result[0]
    return result[0]


@pytest.mark.postgresql_only
def test_a_worker_skips_what_another_holds_and_nothing_expires_twice(
    transactional_db: None, leman: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert connection.vendor == "postgresql"
    settings.PLEDGE_COOKIE_CONSENT_DAYS = 1
    monkeypatch.setattr(services, "EXPIRY_BATCH", 7)
    later = give_cookie_consents() + dt.timedelta(days=2)
    with transaction.atomic():
        # Another worker's claim: these rows are locked until this block ends.
        held = list(
            ConsentState.objects.select_for_update()
            .order_by("id")
            .values_list("id", flat=True)[:10]
        )
        assert in_thread(lambda: services.expire_due(later)) == VISITORS - len(held)
    assert ConsentState.objects.filter(live=True).count() == len(held)
    # Released: the next run expires the rest, a run after it finds nothing.
    assert in_thread(lambda: services.expire_due(later)) == len(held)
    assert services.expire_due(later) == 0
    expired = ConsentEvent.objects.filter(action="expired")
    assert expired.count() == VISITORS
    assert expired.values("visitor").distinct().count() == VISITORS
