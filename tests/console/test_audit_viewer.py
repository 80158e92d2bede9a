"""The console's audit viewer (issue 4, item 5): filters, keyset pages, CSV export, verify now.

Events are appended with the real `record_event`, so the chain stays intact unless a test
tampers with it on purpose (raw SQL: the attacker holds the database).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
import zoneinfo
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from pledge.audit import services as audit_services
from pledge.audit.events import EventType, Outcome
from pledge.audit.models import AuditEvent
from pledge.audit.selectors import AuditFilter, events_page
from pledge.audit.services import EventSpec, record_event, record_events
from pledge.console.views_audit import CSV_HEADER, EVENT_LABELS, EVENT_SOURCES
from tests.console.staffing import login_staff, make_staff

SHOP_TZ = zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")  # preset B's time zone (the schema default)
C1 = uuid.UUID("11111111-1111-4111-8111-111111111111")
C2 = uuid.UUID("22222222-2222-4222-8222-222222222222")
AUDIT_URL = "/console/audit/"
CSV_URL = "/console/audit.csv"
VERIFY_URL = "/console/audit/verify/"


# -- staff --------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    # Argon2 with OWASP parameters is slow by design; these tests sign in with force_login.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def owner(leman: Any) -> Any:
    return make_staff("owner", "chau.owner@leman.test")


@pytest.fixture
def auditor(leman: Any) -> Any:
    return make_staff("auditor", "an.auditor@leman.test")


@pytest.fixture
def auditor_client(client: Client, auditor: Any) -> Client:
    return login_staff(client, auditor)


# -- helpers ------------------------------------------------------------------------------------


def shown_seqs(response: Any) -> list[int]:
    return [int(s) for s in re.findall(r'<tr id="event-(\d+)"', response.content.decode())]


def link(response: Any, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', response.content.decode())
    return found.group(1).replace("&amp;", "&") if found else None


def seed(cs: Any, sales: Any) -> dict[str, int]:
    """Five events that differ in every filtered column; their seqs by name."""
    events = {
        "created": record_event(
            EventType.CUSTOMER_CREATED,
            actor="api:shop",
            customer_id=C1,
            purpose="order_fulfilment",
            fields=["full_name", "phone"],
        ),
        "read": record_event(
            EventType.CUSTOMER_READ,
            actor=f"staff:{cs.pk}",
            actor_role="customer_service",
            customer_id=C1,
            purpose="order_fulfilment",
            fields=["full_name"],
        ),
        "refused": record_event(
            EventType.ACCESS_REFUSED,
            actor=f"staff:{sales.pk}",
            actor_role="sales",
            customer_id=C2,
            purpose="payment",
            fields=["card"],
            outcome=Outcome.REFUSED,
            details={"rule": "role"},
        ),
        "consent": record_event(
            EventType.CONSENT_GIVEN,
            actor=f"customer:{C2}",
            customer_id=C2,
            purpose="service_notices",
        ),
        "keys": record_event(EventType.MASTER_KEY_ROTATED, actor="system:keyring"),
    }
    return {name: e.seq for name, e in events.items()}


@pytest.fixture
def seeded(leman: Any) -> dict[str, Any]:
    cs = make_staff("customer_service", "binh.cs@leman.test")
    sales = make_staff("sales", "dung.sales@leman.test")
    return {"seqs": seed(cs, sales), "cs": cs, "sales": sales}


# -- the page and its filters -------------------------------------------------------------------


def test_it_lists_events_newest_first(auditor_client: Client, seeded: dict[str, Any]) -> None:
    response = auditor_client.get(AUDIT_URL)
    assert response.status_code == 200
    shown = shown_seqs(response)
    assert shown == sorted(shown, reverse=True)
    assert set(seeded["seqs"].values()) <= set(shown)
    html = response.content.decode()
    # Staff actors are shown with their email; roles and purposes with the policy's names.
    assert "binh.cs@leman.test" in html
    assert "Customer service" in html or "Chăm sóc khách hàng" in html
    assert "vault:access_refused" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"customer": str(C1)}, {"created", "read"}),
        ({"customer": str(C2)}, {"refused", "consent"}),
        ({"purpose": "order_fulfilment"}, {"created", "read"}),
        ({"purpose": "payment"}, {"refused"}),
        ({"type": "vault:access_refused"}, {"refused"}),
        ({"type": "keys:master_rotated"}, {"keys"}),
        ({"outcome": "refused"}, {"refused"}),
        ({"actor": "api:shop"}, {"created"}),
        ({"actor": "system:keyring"}, {"keys"}),
        ({"customer": str(C1), "purpose": "order_fulfilment", "type": "vault:read"}, {"read"}),
        ({"customer": str(C2), "outcome": "ok"}, {"consent"}),
    ],
)
def test_each_filter_narrows_the_rows(
    auditor_client: Client, seeded: dict[str, Any], query: dict[str, str], expected: set[str]
) -> None:
    response = auditor_client.get(AUDIT_URL, query)
    assert response.status_code == 200
    seqs = seeded["seqs"]
    assert shown_seqs(response) == sorted((seqs[name] for name in expected), reverse=True)


def test_it_filters_by_staff_member_id_or_email(
    auditor_client: Client, seeded: dict[str, Any]
) -> None:
    sales = seeded["sales"]
    by_id = auditor_client.get(AUDIT_URL, {"actor": f"staff:{sales.pk}"})
    by_email = auditor_client.get(AUDIT_URL, {"actor": "DUNG.sales@leman.test"})
    assert shown_seqs(by_id) == shown_seqs(by_email) == [seeded["seqs"]["refused"]]


def test_it_filters_by_time_in_the_shop_time_zone(
    auditor_client: Client, leman: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seqs = {}
    for hhmmss in ("09:00:00", "10:30:20", "12:00:00"):
        at = dt.datetime.fromisoformat(f"2025-03-05T{hhmmss}").replace(tzinfo=SHOP_TZ)
        monkeypatch.setattr(audit_services, "timezone", SimpleNamespace(now=lambda at=at: at))
        seqs[hhmmss] = record_event(EventType.CONSENT_GIVEN, actor="system:test").seq
    monkeypatch.undo()

    # "To 10:30" covers the whole minute, in Ho Chi Minh City time (UTC+7).
    morning = auditor_client.get(
        AUDIT_URL, {"since": "2025-03-05T09:30", "until": "2025-03-05T10:30"}
    )
    assert shown_seqs(morning) == [seqs["10:30:20"]]
    assert 'datetime="2025-03-05T10:30:20+07:00"' in morning.content.decode()
    after_noon = auditor_client.get(AUDIT_URL, {"since": "2025-03-05T12:00:00"})
    assert seqs["12:00:00"] in shown_seqs(after_noon)
    assert seqs["10:30:20"] not in shown_seqs(after_noon)
    until_nine = auditor_client.get(AUDIT_URL, {"until": "2025-03-05T09:00:00"})
    assert shown_seqs(until_nine) == [seqs["09:00:00"]]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"customer": "not-a-uuid"}, "UUID"),
        ({"customer": "1' OR '1'='1"}, "UUID"),
        ({"since": "yesterday"}, "date"),
        ({"until": "2025-02-30T10:00"}, "date"),
        ({"since": "2025-03-05T12:00", "until": "2025-03-05T10:00"}, "later than"),
        ({"until": "9999-12-31T23:59"}, "between the years"),
        ({"since": "0001-01-01T00:00"}, "between the years"),
        ({"customer": "\x00"}, "UUID"),
        ({"actor": "staff:\x00"}, "Null characters are not allowed"),
        ({"actor": "nobody@leman.test"}, "No staff member has this email"),
        ({"actor": "root; DROP TABLE"}, "actor such as staff:12"),
        ({"purpose": "spying"}, "valid choice"),
        ({"type": "vault:everything"}, "valid choice"),
        ({"outcome": "maybe"}, "valid choice"),
        ({"before": "abc"}, "number"),
        ({"before": "-5"}, "greater than"),
        ({"before": "10", "after": "5"}, "start again"),
        ({"actor": "x" * 300}, "at most 254"),
    ],
)
def test_bad_filters_get_a_clear_400(
    auditor_client: Client, leman: Any, query: dict[str, str], message: str
) -> None:
    auditor_client.raise_request_exception = True
    response = auditor_client.get(AUDIT_URL, query, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    html = response.content.decode()
    assert "These filters cannot be used" in html
    assert message in html
    assert "Traceback" not in html
    assert shown_seqs(response) == []


def test_htmx_gets_the_results_alone_and_a_full_page_for_bad_input(
    auditor_client: Client, seeded: dict[str, Any]
) -> None:
    partial = auditor_client.get(AUDIT_URL, {"outcome": "refused"}, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert "<html" not in partial.content.decode()
    assert shown_seqs(partial) == [seeded["seqs"]["refused"]]
    bad = auditor_client.get(AUDIT_URL, {"customer": "nope"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 400
    assert bad["HX-Redirect"] == f"{AUDIT_URL}?customer=nope"


def test_values_are_escaped(auditor_client: Client, leman: Any) -> None:
    record_event(EventType.API_AUTH_REFUSED, actor="api:<b>x</b>", outcome=Outcome.REFUSED)
    html = auditor_client.get(AUDIT_URL).content.decode()
    assert "api:&lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>x</b>" not in html


# -- keyset pages -------------------------------------------------------------------------------


def test_pages_of_fifty_follow_the_keyset(auditor_client: Client, leman: Any) -> None:
    events = record_events(
        [EventSpec(type=EventType.CONSENT_GIVEN, actor="system:bulk") for _ in range(120)]
    )
    seqs = [e.seq for e in events][::-1]  # newest first
    first = auditor_client.get(AUDIT_URL, {"actor": "system:bulk"})
    assert shown_seqs(first) == seqs[:50]
    assert link(first, "prev") is None
    older = link(first, "next")
    assert older == f"{AUDIT_URL}?actor=system%3Abulk&before={seqs[49]}"

    second = auditor_client.get(older)
    assert shown_seqs(second) == seqs[50:100]
    third = auditor_client.get(link(second, "next"))
    assert shown_seqs(third) == seqs[100:]
    assert link(third, "next") is None

    back = auditor_client.get(link(third, "prev"))
    assert shown_seqs(back) == seqs[50:100]
    newest = auditor_client.get(link(second, "prev"))
    assert shown_seqs(newest) == seqs[:50]
    assert link(newest, "prev") is None


def test_an_empty_page_past_either_end_leads_back(leman: Any) -> None:
    seqs = [e.seq for e in record_events([EventSpec(EventType.CONSENT_GIVEN, "system:x")] * 3)]
    only = AuditFilter(actor="system:x")
    past_oldest = events_page(only, before=seqs[0])
    assert past_oldest.events == []
    assert past_oldest.newer_cursor is not None
    assert [e.seq for e in events_page(only, after=past_oldest.newer_cursor).events] == seqs[::-1]
    past_newest = events_page(only, after=seqs[-1])
    assert past_newest.events == []
    assert past_newest.older_cursor is not None
    assert [e.seq for e in events_page(only, before=past_newest.older_cursor).events] == seqs[::-1]


def test_the_page_costs_the_same_queries_for_many_staff(auditor_client: Client, leman: Any) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert auditor_client.get(AUDIT_URL).status_code == 200
        return len(captured.captured_queries)

    one = make_staff("sales")
    record_event(EventType.CUSTOMER_READ, actor=f"staff:{one.pk}", actor_role="sales")
    queries()  # the first request of a session also records the session (StaffSessionMiddleware)
    few = queries()
    for _ in range(8):
        user = make_staff("sales")
        record_events(
            [EventSpec(EventType.CUSTOMER_READ, f"staff:{user.pk}", actor_role="sales")] * 6
        )
    assert queries() == few


def test_every_event_type_has_a_label_and_a_group_in_the_filter() -> None:
    assert set(EVENT_LABELS) == set(EventType)
    assert {t.value.split(":")[0] for t in EventType} <= set(EVENT_SOURCES)


# -- CSV export ---------------------------------------------------------------------------------


def download(client: Client, query: dict[str, str]) -> tuple[Any, bytes]:
    response = client.get(CSV_URL, query)
    assert response.status_code == 200
    assert response.streaming
    return response, b"".join(response.streaming_content)


def test_csv_has_a_bom_a_header_and_the_filtered_rows(
    auditor_client: Client, auditor: Any, seeded: dict[str, Any]
) -> None:
    response, body = download(auditor_client, {"customer": str(C2)})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="pledge-audit-')
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_HEADER
    seqs = seeded["seqs"]
    assert [int(r[0]) for r in rows[1:]] == [seqs["refused"], seqs["consent"]]  # oldest first
    refused = dict(zip(CSV_HEADER, rows[1], strict=True))
    assert refused["type"] == "vault:access_refused"
    assert refused["actor"] == f"staff:{seeded['sales'].pk}"
    assert refused["customer_id"] == str(C2)
    assert refused["purpose"] == "payment"
    assert refused["fields"] == "card"
    assert refused["outcome"] == "refused"
    assert refused["details"] == '{"rule":"role"}'
    assert dt.datetime.fromisoformat(refused["at"]).utcoffset() == dt.timedelta(hours=7)
    assert len(refused["hash"]) == 64


def test_csv_cells_never_start_a_formula(auditor_client: Client, leman: Any) -> None:
    hostile = record_event(
        EventType.ACCESS_REFUSED,
        actor="api:shop",
        actor_role="-2+3",
        customer_id=C1,
        purpose='=HYPERLINK("http://evil.example","x")',
        fields=["@SUM(A1)", "+1"],
        outcome=Outcome.REFUSED,
    )
    _, body = download(auditor_client, {"customer": str(C1)})
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    (row,) = [r for r in rows if r["seq"] == str(hostile.seq)]
    assert row["purpose"] == '\'=HYPERLINK("http://evil.example","x")'
    assert row["actor_role"] == "'-2+3"
    assert row["fields"] == "'+1,@SUM(A1)"
    assert row["actor"] == "api:shop"


def test_the_export_is_audited_with_its_filters(
    auditor_client: Client, auditor: Any, seeded: dict[str, Any]
) -> None:
    _, body = download(auditor_client, {"customer": str(C1), "purpose": "order_fulfilment"})
    exported = AuditEvent.objects.order_by("-seq").first()
    assert exported is not None
    assert exported.type == EventType.AUDIT_EXPORTED
    assert exported.actor == f"staff:{auditor.pk}"
    assert exported.actor_role == "auditor"
    assert exported.customer_id == C1
    assert '"customer_id":"11111111-1111-4111-8111-111111111111"' in exported.details
    assert '"purpose":"order_fulfilment"' in exported.details
    # The export covers the log as it was asked for: not its own event.
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert str(exported.seq) not in {r["seq"] for r in rows}


def test_a_bad_csv_filter_gets_a_400_and_exports_nothing(
    auditor_client: Client, leman: Any
) -> None:
    before = AuditEvent.objects.count()
    response = auditor_client.get(CSV_URL, {"since": "soon"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "These filters cannot be used" in response.content.decode()
    assert AuditEvent.objects.count() == before


# -- verify now ---------------------------------------------------------------------------------


def test_verify_now_shows_an_intact_chain_and_records_the_check(
    client: Client, owner: Any, seeded: dict[str, Any]
) -> None:
    login_staff(client, owner)
    events = AuditEvent.objects.count()
    response = client.post(VERIFY_URL, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert "The audit log is intact." in html
    assert f"<dd>{events}</dd>" in html
    head = AuditEvent.objects.order_by("-seq").values_list("hash", flat=True)[1]
    assert f"<code>{head[:16]}…</code>" in html
    verified = AuditEvent.objects.order_by("-seq").first()
    assert verified is not None
    assert verified.type == EventType.AUDIT_VERIFIED
    assert verified.actor == f"staff:{owner.pk}"
    assert verified.actor_role == "owner"


def test_verify_now_with_htmx_answers_the_result_alone(
    auditor_client: Client, seeded: dict[str, Any]
) -> None:
    response = auditor_client.post(VERIFY_URL, HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert "The audit log is intact." in html
    assert "<html" not in html


def test_verify_now_names_the_first_bad_event_after_tampering(
    auditor_client: Client, seeded: dict[str, Any]
) -> None:
    bad = seeded["seqs"]["refused"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {AuditEvent._meta.db_table} SET outcome = 'ok' WHERE seq = %s",
            [bad],
        )
    events = AuditEvent.objects.count()
    response = auditor_client.post(VERIFY_URL, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert "The audit log is NOT intact." in html
    assert f">#{bad}</a>" in html
    assert f"event {bad} was changed" in html
    assert AuditEvent.objects.count() == events  # a broken chain is not "verified"


def test_verify_needs_a_post(auditor_client: Client, leman: Any) -> None:
    assert auditor_client.get(VERIFY_URL).status_code == 405


# -- who may see it -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["customer_service", "sales", "accounting"])
def test_roles_without_view_audit_get_403(client: Client, leman: Any, role: str) -> None:
    login_staff(client, make_staff(role))
    events = AuditEvent.objects.count()
    assert client.get(AUDIT_URL).status_code == 403
    assert client.get(CSV_URL).status_code == 403
    assert client.post(VERIFY_URL).status_code == 403
    assert AuditEvent.objects.count() == events  # nothing exported, nothing verified


@pytest.mark.parametrize("role", ["owner", "auditor"])
def test_roles_with_view_audit_get_in(client: Client, leman: Any, role: str) -> None:
    login_staff(client, make_staff(role))
    assert client.get(AUDIT_URL).status_code == 200
    assert client.get(CSV_URL).status_code == 200
    assert client.post(VERIFY_URL).status_code == 200


def test_anonymous_and_unverified_users_go_to_login(client: Client, leman: Any) -> None:
    for url in (AUDIT_URL, CSV_URL):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/console/login/?next={url}"
    client.force_login(make_staff("owner"))  # password only, no second factor
    assert client.get(AUDIT_URL).status_code == 302
    assert client.post(VERIFY_URL).status_code == 302
