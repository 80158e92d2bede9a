"""The console dashboard (issue 4 item 4): honest counts, audit chain status, consent rates and
the chart of reads per purpose per day, checked against the database."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pledge.audit.events import EventType, Outcome
from pledge.audit.models import AuditEvent
from pledge.audit.services import record_event
from pledge.consent.models import ConsentState
from pledge.consent.services import give_consent, withdraw_consent
from pledge.console import charts, selectors
from pledge.vault import breakglass, services
from pledge.vault.access import Actor
from tests.console.staffing import login_staff, make_staff


def new_customers(actor: Actor, count: int) -> list[uuid.UUID]:
    return [
        services.collect_customer(
            actor=actor,
            purpose="order_fulfilment",
            fields={"full_name": f"Khách {i}", "email": f"khach{i}@example.com"},
        )
        for i in range(count)
    ]


def dashboard(client: Client, role: str = "owner", lang: str = "en") -> str:
    login_staff(client, make_staff(role))
    response = client.get("/console/", HTTP_ACCEPT_LANGUAGE=lang)
    assert response.status_code == 200
    return response.content.decode()


def test_every_role_has_a_dashboard(client: Client, leman: Any) -> None:
    for role in ("owner", "customer_service", "sales", "accounting", "auditor"):
        html = dashboard(client, role)
        assert "Dashboard" in html


def test_pending_work_counts_are_real(client: Client, leman: Any) -> None:
    html = dashboard(client)
    # Data-subject requests (issue 6), complaints (issue 7) and incidents (issue 8) are enabled:
    # real counts.
    for key in ("requests", "complaints", "incidents"):
        stat = re.search(rf'data-pending="{key}">\s*<strong>(.*?)</strong>', html, re.S)
        assert stat is not None, key
        assert re.sub(r"<[^>]+>", "", stat.group(1)).split() == ["0"], key


def test_incidents_count_for_the_owner_only(client: Client, leman: Any) -> None:
    from pledge.incidents import services as incidents

    owner = make_staff("owner")
    now = timezone.now()
    incidents.record_incident(
        actor=Actor(kind="staff", id=str(owner.pk), role="owner"),
        detected_at=now - dt.timedelta(hours=50),
        occurred_from=now - dt.timedelta(hours=60),
        occurred_to=now - dt.timedelta(hours=55),
        nature="A staff session of the sales role was used from an unknown device.",
        systems=["console"],
    )
    work = selectors.incident_work()
    # 50 h after detection: the 24 h clock is overdue, the 72 h one past half time.
    assert (work.count, work.at_risk, work.overdue) == (1, 1, 1)
    assert work.roles == frozenset({"owner"})
    html = dashboard(client)
    stat = re.search(r'data-pending="incidents">\s*<strong>(.*?)</strong>', html, re.S)
    assert stat is not None
    assert re.sub(r"<[^>]+>", "", stat.group(1)).split() == ["1"]
    assert 'data-pending="incidents"' not in dashboard(client, "sales")


def test_the_page_is_translated(client: Client, leman: Any) -> None:
    html = dashboard(client, lang="vi")
    assert '<html lang="vi">' in html


def test_consent_rates_match_the_database(client: Client, leman: Any, shop_api: Actor) -> None:
    ids = new_customers(shop_api, 5)
    for cid in ids[:3]:
        give_consent(customer_id=cid, purpose="customer_database", method="t", actor="t")
    # Two consents of one customer count once; a withdrawn one does not count.
    give_consent(customer_id=ids[0], purpose="customer_database", method="t", actor="t")
    withdraw_consent(customer_id=ids[2], purpose="customer_database", method="t", actor="t")
    give_consent(customer_id=ids[4], purpose="service_notices", method="t", actor="t")
    html = dashboard(client)
    consent_purposes = [p.key for p in leman.policy.purposes if p.basis == "consent"]
    for purpose in consent_purposes:
        live = (
            ConsentState.objects.filter(purpose=purpose, live=True)
            .values("customer_id")
            .distinct()
            .count()
        )
        row = re.search(rf'<tr data-consent="{purpose}">(.*?)</tr>', html, re.S)
        assert row is not None, purpose
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
        assert cells[:2] == [str(live), "5"], purpose
    assert {r.purpose: r.live for r in selectors.consent_rates(leman)} == {
        "customer_database": 2,
        "service_notices": 1,
    }
    assert "40.0 %" in html  # customer_database: 2 of 5


def test_audit_status_never_verified(client: Client, leman: Any) -> None:
    html = dashboard(client)
    head = AuditEvent.objects.count()
    assert 'data-audit="never"' in html
    assert f"Never verified yet: {head} events not yet checked." in html


def test_audit_status_names_who_verified_and_counts_events_since(
    client: Client, leman: Any, shop_api: Actor
) -> None:
    verifier = make_staff("auditor", "vy.auditor@leman.test")
    record_event(
        EventType.AUDIT_VERIFIED, actor=f"staff:{verifier.pk}", details={"events": 41, "head": "ab"}
    )
    new_customers(shop_api, 3)
    status = selectors.audit_status()
    verified = AuditEvent.objects.get(type="audit:verified")
    assert status.events_since == AuditEvent.objects.filter(seq__gt=verified.seq).count() == 3
    assert status.verified_by == f"staff:{verifier.pk}"
    html = dashboard(client)
    assert 'data-audit="verified"' in html
    assert "vy.auditor@leman.test" in html
    assert "41 events checked" in html and "3 events since." in html


def test_audit_status_reads_only_the_events_since_the_last_load(
    leman: Any, django_assert_num_queries: Any
) -> None:
    record_event(EventType.CUSTOMER_READ, actor="staff:1", purpose="order_fulfilment")
    assert selectors.audit_status().verified_at is None
    with django_assert_num_queries(2):  # the head, and the remembered head is still there
        assert selectors.audit_status().verified_at is None
    record_event(EventType.AUDIT_VERIFIED, actor="system:cli", details={"events": 7})
    record_event(EventType.CUSTOMER_READ, actor="staff:1", purpose="order_fulfilment")
    with django_assert_num_queries(3):  # + the events appended since
        status = selectors.audit_status()
    assert (status.verified_by, status.verified_events, status.events_since) == (
        "system:cli",
        7,
        1,
    )
    assert status.head_seq == AuditEvent.objects.count()
    # Another log (here: the head rewritten) is read from the start again.
    AuditEvent.objects.filter(seq=status.head_seq).update(hash="0" * 64)
    assert selectors.audit_status().verified_by == "system:cli"


def test_a_refused_or_failed_verification_is_not_a_verification(leman: Any) -> None:
    record_event(EventType.AUDIT_VERIFIED, actor="system:cli", outcome=Outcome.FAILED)
    assert selectors.audit_status().verified_at is None


def _reads_on(day: dt.date, purpose: str, count: int, type_: EventType) -> None:
    at = timezone.make_aware(dt.datetime.combine(day, dt.time(12, 0)))
    for _ in range(count):
        event = record_event(
            type_, actor="staff:1", actor_role="sales", purpose=purpose, fields=["email"]
        )
        # The chart groups by day; move the event there (the chain is not verified here).
        AuditEvent.objects.filter(seq=event.seq).update(at=at)


def test_the_chart_has_one_bar_per_day_and_purpose_with_reads(client: Client, leman: Any) -> None:
    today = timezone.localdate()
    _reads_on(today, "order_fulfilment", 3, EventType.CUSTOMER_READ)
    _reads_on(today, "guarantee", 1, EventType.GUARANTEE_LOOKUP)
    _reads_on(today - dt.timedelta(days=2), "order_fulfilment", 2, EventType.ORDERS_READ)
    _reads_on(today - dt.timedelta(days=13), "complaints", 4, EventType.CUSTOMER_LOOKUP)
    _reads_on(today - dt.timedelta(days=14), "complaints", 9, EventType.CUSTOMER_READ)  # too old
    record_event(  # a refusal is not a read
        EventType.CUSTOMER_READ, actor="staff:1", purpose="payment", outcome=Outcome.REFUSED
    )
    record_event(EventType.CUSTOMER_CREATED, actor="api:x", purpose="order_fulfilment")

    daily = selectors.accesses_per_day(leman)
    assert daily.counts == {
        (today, "order_fulfilment"): 3,
        (today, "guarantee"): 1,
        (today - dt.timedelta(days=2), "order_fulfilment"): 2,
        (today - dt.timedelta(days=13), "complaints"): 4,
    }
    assert daily.purposes == ["order_fulfilment", "guarantee", "complaints"]  # policy order
    assert len(daily.days) == 14 and daily.days[-1] == today

    html = dashboard(client)
    svg = re.search(r"<svg .*?</svg>", html, re.S)
    assert svg is not None
    bars = re.findall(r'<rect class="bar"[^>]*data-day="([\d-]+)" data-purpose="([a-z_]+)"', svg[0])
    assert sorted(bars) == sorted((d.isoformat(), p) for d, p in daily.counts)
    assert 'role="img"' in svg[0] and "<title id=" in svg[0] and "<desc id=" in svg[0]
    assert "10 reads in all" in svg[0]
    # The table fallback holds the same numbers.
    table = re.search(r"<details>.*?</details>", html, re.S)
    assert table is not None
    assert table[0].count("<tr>") == 1 + 14
    assert leman.policy.purpose("guarantee").name.en in table[0]


def test_the_days_before_today_are_counted_once(leman: Any, django_assert_num_queries: Any) -> None:
    today = timezone.localdate()
    _reads_on(today - dt.timedelta(days=3), "order_fulfilment", 2, EventType.CUSTOMER_READ)
    first = selectors.accesses_per_day(leman)
    _reads_on(today, "order_fulfilment", 1, EventType.CUSTOMER_READ)
    with django_assert_num_queries(2):  # the last event before today, and today's reads
        second = selectors.accesses_per_day(leman)
    assert second.counts == {**first.counts, (today, "order_fulfilment"): 1}


def test_no_reads_no_chart(client: Client, leman: Any) -> None:
    html = dashboard(client)
    assert "<svg" not in html and "No reads of customer data in the last 14 days." in html


def queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_the_dashboard_runs_a_fixed_number_of_queries(
    client: Client, leman: Any, shop_api: Actor
) -> None:
    ids = new_customers(shop_api, 3)
    owner = Actor(kind="staff", id="1", role="owner")
    for cid in ids:
        breakglass.break_glass_read(
            actor=owner, customer_id=cid, fields=["email"], reason="A reason long enough here."
        )
    login_staff(client, make_staff("owner"))
    queries(client, "/console/customers/")  # session housekeeping of the first request
    # What every console page costs (session, user, second factor, staff profile…): measured on
    # the search form, which queries nothing of its own.
    baseline = queries(client, "/console/customers/")
    # The dashboard's own: the flagged and the acknowledged break-glass accesses (2) and one data
    # key per customer among them (3; at most 10, the list's length); the audit head, the
    # remembered position, the events since (3); the chart: the last event before today, the
    # days before today unless cached, today (3); staff emails (1); consent rates (2); the
    # complaints count (1); the incidents' count and their clocks' marks (2).
    assert queries(client, "/console/") - baseline <= 2 + 3 + 3 + 3 + 1 + 2 + 1 + 2


# -- the chart alone --------------------------------------------------------------------------


def test_stacked_bars_draws_one_rect_per_nonzero_count_and_escapes_labels() -> None:
    days = [dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(3)]
    counts = {(days[0], "a"): 2, (days[0], "b"): 0, (days[2], "b"): 5}
    svg = str(
        charts.stacked_bars(
            chart_id="c",
            title="Reads <per> day",
            description="desc & more",
            days=days,
            series=[("a", "A <script>"), ("b", "B")],
            counts=counts,
        )
    )
    assert svg.count('<rect class="bar"') == 2
    assert "<script>" not in svg and "A &lt;script&gt;" in svg
    assert '<title id="c-title">Reads &lt;per&gt; day</title>' in svg
    assert 'aria-labelledby="c-title c-desc"' in svg
    assert "style=" not in svg  # the CSP forbids inline styles


@pytest.mark.parametrize(
    ("value", "top"),
    [(0, 1), (1, 1), (2, 2), (3, 3), (7, 8), (9, 10), (10, 10), (11, 20), (23, 30), (480, 500)],
)
def test_the_axis_ends_on_a_round_number(value: int, top: int) -> None:
    assert charts.nice_ceiling(value) == top
