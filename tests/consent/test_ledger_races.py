"""Two changes of one customer's consent at the same moment (P04): the derived state must end on
the ledger's latest event, even for the customer's very first choice on a purpose, when there is
no state row yet to lock.

PostgreSQL only (the suite's server, two threads with a connection each): SQLite transactions
start IMMEDIATE, so two writers never overlap there at all.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections
from django.db.models.signals import post_save

from pledge.consent import services as consent
from pledge.consent.models import ConsentEvent, ConsentState

WAIT = 30  # seconds: a bound against a hung test, never a timing assertion


def _advisory_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return int(cursor.fetchone()[0])


@pytest.mark.postgresql_only
def test_a_first_give_and_a_first_objection_at_once_keep_state_and_ledger_equal(
    transactional_db: None, marketing: Any, new_customer: Callable[..., uuid.UUID]
) -> None:
    assert connection.vendor == "postgresql"
    customer = new_customer()
    giver_appended = threading.Event()
    go_on = threading.Event()
    objector_done = threading.Event()
    errors: list[BaseException] = []

    def pause_the_giver(sender: Any, instance: ConsentEvent, created: bool, **_: Any) -> None:
        # The giver has appended its event and not yet written the state: hold it there.
        if threading.current_thread().name == "giver" and created:
            giver_appended.set()
            go_on.wait(WAIT)

    def giver() -> None:
        try:
            consent.give_consent(
                customer_id=customer,
                purpose="promotions",
                method="checkbox",
                actor="t",
                notice_text="Yes, send me offers.",
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def objector() -> None:
        try:
            consent.withdraw_consent(
                customer_id=customer,
                purpose="promotions",
                method="one_click",
                actor="t",
                channel="email",
                notice_text="Stop sending me offers.",
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            objector_done.set()
            connections.close_all()

    post_save.connect(pause_the_giver, sender=ConsentEvent)
    try:
        first = threading.Thread(target=giver, name="giver")
        first.start()
        assert giver_appended.wait(WAIT)
        second = threading.Thread(target=objector, name="objector")
        second.start()
        # Let the objector run until it finishes or waits for the giver's lock.
        deadline = time.monotonic() + WAIT
        while not objector_done.is_set() and _advisory_waiters() == 0:
            assert time.monotonic() < deadline, "the objector neither finished nor waited"
            time.sleep(0.01)
        go_on.set()
        first.join(WAIT)
        second.join(WAIT)
    finally:
        go_on.set()
        post_save.disconnect(pause_the_giver, sender=ConsentEvent)
    assert not first.is_alive() and not second.is_alive()
    assert errors == []

    events = list(ConsentEvent.objects.filter(customer_id=customer).order_by("id"))
    state = ConsentState.objects.select_related("event").get(
        customer_id=customer, purpose="promotions"
    )
    # The state is the ledger's latest event, and the objection (last in the ledger) stands.
    assert state.event_id == events[-1].pk
    assert state.live == (events[-1].action == ConsentEvent.Action.GIVEN)
    assert [e.action for e in events] == ["given", "withdrawn"]
    assert consent.objection_stands(customer, "promotions")
    assert consent.rebuild_state() >= 1
    rebuilt = ConsentState.objects.get(customer_id=customer, purpose="promotions")
    assert (rebuilt.event_id, rebuilt.live) == (state.event_id, state.live)
