"""The consent ledger is append-only in the database itself (P04): raw SQL cannot rewrite an event,
and on PostgreSQL cannot delete one either (migration consent 0004)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from pledge.consent import services as consent
from pledge.consent.models import ConsentEvent, LedgerIsAppendOnly


def test_raw_sql_cannot_rewrite_a_consent_event(leman: Any, customer: uuid.UUID) -> None:
    event = consent.give_consent(
        customer_id=customer, purpose="customer_database", method="checkbox", actor="t"
    )
    table = connection.ops.quote_name(ConsentEvent._meta.db_table)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"UPDATE {table} SET action = 'withdrawn' WHERE id = %s", [event.pk])
    event.refresh_from_db()
    assert (event.action, event.method) == ("given", "checkbox")
    # The ORM refuses before the database is asked.
    with pytest.raises(LedgerIsAppendOnly):
        ConsentEvent.objects.filter(pk=event.pk).update(method="forged")


@pytest.mark.postgresql_only
def test_raw_sql_cannot_delete_a_consent_event_on_postgresql(
    leman: Any, customer: uuid.UUID
) -> None:
    event = consent.give_consent(
        customer_id=customer, purpose="customer_database", method="checkbox", actor="t"
    )
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        ConsentEvent.objects.filter(pk=event.pk)._raw_delete(connection.alias)  # type: ignore[attr-defined]
    assert ConsentEvent.objects.filter(pk=event.pk).exists()
