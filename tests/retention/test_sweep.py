"""The retention sweep on a frozen day (issue 8 acceptance, P17): it removes exactly what is due,
keeps what a legal hold keeps, changes nothing in a dry run, and finds nothing the second time.

The expectation is computed by tests/retention/shop.py from the dates it generated, with plain
calendar arithmetic, not by retention/.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from pledge.audit.events import EventType
from pledge.audit.models import AuditEvent
from pledge.retention.models import RetentionRun, RunStatus
from pledge.retention.sweep import sweep
from pledge.vault.keystore import keystore
from pledge.vault.models import Customer
from tests.retention.shop import expected_after_sweep, generate, ids, state

pytestmark = pytest.mark.django_db(transaction=True)

# RETENTION_TEST_CUSTOMERS=100000 runs the acceptance scale (slow: see docs/retention.md).
ACCEPTANCE_CUSTOMERS = int(os.environ.get("RETENTION_TEST_CUSTOMERS", "100000"))


def test_a_sweep_over_the_shop_removes_exactly_what_is_due(
    retention_policy: None, settings: Any
) -> None:
    settings.PLEDGE_RETENTION_BATCH = 2000
    manifest = generate(ACCEPTANCE_CUSTOMERS)
    expected = expected_after_sweep(manifest)
    assert expected.erased and expected.deleted_order_values and expected.deleted_phones
    before = state()

    dry = sweep(dry_run=True)
    assert state() == before  # a dry run changes nothing…
    assert dry.status == RunStatus.FINISHED and dry.dry_run
    # …and counts what the sweep will do.
    assert dry.customers_erased == {"inactive_customers": len(expected.erased)}
    assert dry.deleted["delivery_details"] == {
        "order.address": expected.deleted_order_values // 2,
        "order.phone": expected.deleted_order_values // 2,
    }
    assert dry.deleted["profile_phone"] == {"profile.phone": expected.deleted_phones}

    run = sweep()
    values, indexes, erased = state()
    assert ids(erased) == ids(expected.erased)
    assert values == expected.values
    assert indexes == expected.indexes
    assert run.status == RunStatus.FINISHED and not run.dry_run
    assert run.customers_seen == ACCEPTANCE_CUSTOMERS
    assert run.customers_erased == {"inactive_customers": len(expected.erased)}
    assert run.deleted["delivery_details"] == dry.deleted["delivery_details"]
    assert run.deleted["profile_phone"] == dry.deleted["profile_phone"]
    # Held data kept: invoices (Accounting Law Art 41), whether due under `invoice_copies` or
    # kept through an erasure.
    assert run.kept == {"invoices-10-years": {"invoice.payment_history": expected.kept_invoices}}
    # Erased customers' keys: only the generation holding their invoices is left.
    store = keystore()
    for customer in Customer.objects.filter(erased_at__isnull=False)[:50]:
        assert store.generations(customer.pk) == (
            [customer.key_generation] if customer.held_until else []
        )

    again = sweep()
    assert state() == (values, indexes, erased)
    assert again.pk != run.pk and again.total_deleted == 0 and again.total_erased == 0
    finished = AuditEvent.objects.filter(type=EventType.RETENTION_SWEEP_FINISHED)
    assert finished.count() == 3
    started = AuditEvent.objects.filter(type=EventType.RETENTION_SWEEP_STARTED)
    assert started.count() == 3
    assert RetentionRun.objects.count() == 3
