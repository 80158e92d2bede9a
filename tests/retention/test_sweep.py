"""The retention sweep on a frozen day (issue 8 acceptance, P17): it removes exactly what is due,
keeps what a legal hold keeps, changes nothing in a dry run, and finds nothing the second time.

The expectation is computed by tests/retention/shop.py from the dates it generated, with plain
calendar arithmetic, not by retention/.

Scale: 100,000 customers on SQLite (about a minute on a 2-core machine); 20,000 on PostgreSQL,
where writing the shop and three sweeps over it take about three times longer per customer
(a client/server round trip per batch query, and the server's own write-ahead log). Set
RETENTION_TEST_CUSTOMERS to choose another number on either.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from django.db import connection

from pledge.audit.events import EventType
from pledge.audit.models import AuditEvent
from pledge.retention.models import RetentionRun, RunStatus
from pledge.retention.sweep import sweep
from pledge.vault.keystore import keystore
from pledge.vault.models import Customer
from tests.retention.shop import expected_after_sweep, generate, ids, state

pytestmark = pytest.mark.django_db(transaction=True)


def acceptance_customers() -> int:
    """How many customers the shop has (see the module's docstring)."""
    default = "100000" if connection.vendor == "sqlite" else "20000"
    return int(os.environ.get("RETENTION_TEST_CUSTOMERS", default))


def test_a_sweep_over_the_shop_removes_exactly_what_is_due(
    retention_policy: None, settings: Any
) -> None:
    settings.PLEDGE_RETENTION_BATCH = 2000
    customers = acceptance_customers()
    manifest = generate(customers)
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
    assert run.customers_seen == customers
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


def test_restricted_customers_and_recent_sign_ins_or_consents_are_not_swept(
    retention_policy: None,
) -> None:
    """Security review: a customer who asked for restriction (GDPR Art 18) keeps their data, and
    signing in or giving a consent is activity as much as ordering is."""
    import datetime as dt

    from django.utils import timezone

    from pledge.accounts.models import CustomerAccount, CustomerSession
    from pledge.consent.services import give_consent

    manifest = generate(200)
    expected = expected_after_sweep(manifest)
    restricted, signed_in, consented, *others = sorted(expected.erased)
    assert others
    Customer.objects.filter(pk=restricted).update(
        restricted_at=timezone.now(), restriction_reason="request"
    )
    recently = timezone.now() - dt.timedelta(days=30)
    account = CustomerAccount.objects.create(
        id=uuid.uuid4(), customer_id=signed_in, created_at=recently
    )
    CustomerSession.objects.create(
        account=account, session_key="k" * 40, created_at=recently, last_seen_at=recently
    )
    give_consent(
        customer_id=consented,
        purpose="customer_database",
        method="checkbox",
        actor=f"customer:{consented}",
    )
    sweep()
    erased = set(Customer.objects.filter(erased_at__isnull=False).values_list("pk", flat=True))
    assert erased == set(others)
    assert Customer.objects.get(pk=restricted).erased_at is None
