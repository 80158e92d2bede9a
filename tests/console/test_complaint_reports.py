"""Complaint reports in the console (issue 7, item 5; P21): SLA attainment per month and per
channel, the median time to the first answer, open at risk, the chart, the CSV export, the period
filter and who may see them, with the clock frozen on Saturday 20 March 2027, 10:00 in Hồ Chí Minh
City.

The complaints are filed through `file_complaint` and then moved on by updating their rows, as the
handling service would (first answer, the first round's verdict, status, due times).

    month  channel         case  received (shop)  first answer  verdict   status
    Jan    staff_phone     S0    31 Jan 23:30     after 10 h    in time   closed
    Feb    privacy_center  P1    2 Feb 09:00      after 2 h     in time   answered
    Feb    privacy_center  P2    3 Feb 09:00      after 30 h    breached  closed
    Feb    staff_phone     S1    10 Feb 09:00     after 5 h     in time   closed
    Mar    privacy_center  P3    1 Mar 00:30      after 1.5 h   in time   answered
    Mar    staff_phone     S2    2 Mar 09:00      -             breached  in progress (overdue)
    Mar    staff_phone     S3    18 Mar 09:00     -             -         acknowledged (at risk)
    Mar    privacy_center  P4    19 Mar 15:00     -             -         acknowledged

S0 is 16:30 UTC on 31 January and P3 17:30 UTC on 28 February: a report cut in UTC would move P3
into February. OLD (March 2026) is outside the default twelve months.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from playwright.sync_api import expect

from pledge.audit.models import AuditEvent
from pledge.complaints import reports, services
from pledge.complaints.models import Complaint, ComplaintStatus
from pledge.vault.access import Actor
from tests.console.staffing import NAME, login_staff, make_staff, seed_customer

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = dt.datetime(2027, 3, 20, 10, 0, tzinfo=HCM)
PAGE = "/console/complaints/reports/"
CSV_URL = "/console/complaints/reports.csv"
TEXT = "Tôi nhận được email quảng cáo dù đã từ chối; xin giải thích."
PHONE_DESK = Actor(kind="staff", id="77", role="customer_service")


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2027) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=HCM)


@dataclass(frozen=True)
class Case:
    name: str
    channel: str
    received: dt.datetime
    wait: dt.timedelta | None  # time to the first answer
    sla_met: bool | None
    status: str


H = dt.timedelta(hours=1)
CASES = [
    Case("S0", "staff_phone", at(1, 31, 23, 30), 10 * H, True, ComplaintStatus.CLOSED),
    Case("P1", "privacy_center", at(2, 2, 9), 2 * H, True, ComplaintStatus.ANSWERED),
    Case("P2", "privacy_center", at(2, 3, 9), 30 * H, False, ComplaintStatus.CLOSED),
    Case("S1", "staff_phone", at(2, 10, 9), 5 * H, True, ComplaintStatus.CLOSED),
    Case("P3", "privacy_center", at(3, 1, 0, 30), 1.5 * H, True, ComplaintStatus.ANSWERED),
    Case("S2", "staff_phone", at(3, 2, 9), None, False, ComplaintStatus.IN_PROGRESS),
    Case("S3", "staff_phone", at(3, 18, 9), None, None, ComplaintStatus.ACKNOWLEDGED),
    Case("P4", "privacy_center", at(3, 19, 15), None, None, ComplaintStatus.ACKNOWLEDGED),
    Case("OLD", "privacy_center", at(3, 10, 9, year=2026), 3 * H, True, ComplaintStatus.CLOSED),
]
# The open ones' clocks, set so that "now" falls where the case needs it.
CLOCKS = {
    "S2": (at(3, 3, 9), at(3, 5, 17)),  # 50 % point, due: overdue
    "S3": (NOW - H, NOW + 5 * H),  # past 50 %, not yet due: at risk
    "P4": (NOW + H, NOW + 10 * H),  # not yet at 50 %: not at risk
}


@pytest.fixture
def frozen() -> Iterator[None]:
    # The whole test runs at NOW (sign-in included, so the staff session is fresh at NOW).
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def customer_id(leman: Any, shop_api: Actor, frozen: None) -> uuid.UUID:
    return seed_customer(shop_api)


def file(customer_id: uuid.UUID, case: Case) -> Complaint:
    actor = (
        Actor(kind="customer", id=str(customer_id))
        if case.channel == "privacy_center"
        else PHONE_DESK
    )
    complaint = services.file_complaint(
        actor=actor,
        customer_id=customer_id,
        channel=case.channel,
        text=TEXT,
        received_at=case.received,
    )
    changes: dict[str, Any] = {"status": case.status, "sla_met": case.sla_met}
    if case.wait is not None:
        changes["first_answered_at"] = changes["answered_at"] = case.received + case.wait
    if case.sla_met is False:
        changes["breached_at"] = complaint.due_at
    if case.name in CLOCKS:
        changes["escalate_50_at"], changes["due_at"] = CLOCKS[case.name]
    Complaint.objects.filter(pk=complaint.pk).update(**changes)
    return complaint


@pytest.fixture
def filed(customer_id: uuid.UUID) -> dict[str, Complaint]:
    return {case.name: file(customer_id, case) for case in CASES}


def client_as(role: str, language: str = "en") -> Client:
    client = Client(headers={"accept-language": language})
    login_staff(client, make_staff(role))
    return client


def cells(html: str, month: str, channel: str) -> dict[str, str]:
    """The numbers of one table row, by column (`data-col`)."""
    row = re.search(
        rf'<tr data-month="{month}" data-channel="{channel}"[^>]*>(.*?)</tr>', html, re.S
    )
    assert row is not None, f"no row {month} {channel}"
    return dict(re.findall(r'data-col="(\w+)">([^<]*)</td>', row.group(1)))


# -- the selectors ----------------------------------------------------------------------------


def test_p21_attainment_per_month_and_channel(filed: dict[str, Complaint]) -> None:
    report = reports.sla_attainment(now=NOW, months=3, tz=HCM)
    assert [m.month for m in report.months] == [
        dt.date(2027, 1, 1),
        dt.date(2027, 2, 1),
        dt.date(2027, 3, 1),
    ]
    jan, feb, mar = report.months
    by_channel = {m.month: {r.channel: r for r in m.channels} for m in report.months}

    def numbers(row: reports.Attainment) -> tuple[Any, ...]:
        return (
            row.filed,
            row.answered,
            row.in_time,
            row.breached,
            row.still_open,
            row.attainment,
            row.median_hours,
        )

    # S0 was received at 23:30 on 31 January in the shop (16:30 UTC): January.
    assert numbers(jan.total) == (1, 1, 1, 0, 0, 100.0, 10.0)
    feb_p = by_channel[feb.month]["privacy_center"]
    assert numbers(feb_p) == (2, 2, 1, 1, 0, 50.0, 16.0)  # median of 2 h and 30 h
    assert numbers(by_channel[feb.month]["staff_phone"]) == (1, 1, 1, 0, 0, 100.0, 5.0)
    assert numbers(feb.total) == (3, 3, 2, 1, 0, 66.7, 5.0)
    # P3 (00:30 on 1 March in the shop, still February in UTC) counts in March.
    assert numbers(by_channel[mar.month]["privacy_center"]) == (2, 1, 1, 0, 1, 100.0, 1.5)
    # Nothing answered: no median; S2's breach is decided, S3 is not yet.
    assert numbers(by_channel[mar.month]["staff_phone"]) == (2, 0, 0, 1, 2, 0.0, None)
    assert numbers(mar.total) == (4, 1, 1, 1, 3, 50.0, 1.5)
    # Channels with nothing are zeros with no attainment ("—"), not 0 % or 100 %.
    email = by_channel[mar.month]["email"]
    assert numbers(email) == (0, 0, 0, 0, 0, None, None)
    assert [r.channel for r in mar.active_channels] == ["privacy_center", "staff_phone"]
    # The period: every answered complaint's wait (10, 2, 30, 5, 1.5 h) for its median.
    assert numbers(report.period_total) == (8, 5, 4, 2, 3, 66.7, 5.0)


def test_the_default_period_is_twelve_months_and_leaves_older_complaints_out(
    filed: dict[str, Complaint],
) -> None:
    report = reports.sla_attainment(now=NOW, months=reports.DEFAULT_MONTHS, tz=HCM)
    assert report.months[0].month == dt.date(2026, 4, 1)
    assert report.months[-1].month == dt.date(2027, 3, 1)
    assert report.start == dt.datetime(2026, 4, 1, tzinfo=HCM)
    assert report.period_total.filed == 8  # OLD (March 2026) is outside
    one = reports.sla_attainment(now=NOW, months=1, tz=HCM)
    assert [m.month for m in one.months] == [dt.date(2027, 3, 1)]
    assert one.period_total.filed == 4
    thirty_six = reports.sla_attainment(now=NOW, months=36, tz=HCM)
    assert thirty_six.period_total.filed == 9


def test_open_at_risk_counts_and_lists_overdue_first(filed: dict[str, Complaint]) -> None:
    risk = reports.open_at_risk(now=NOW)
    assert risk.at_risk == {"staff_phone": 1}
    assert risk.overdue == {"staff_phone": 1}
    assert [c.id for c in risk.complaints] == [filed["S2"].id, filed["S3"].id]
    assert [c.overdue for c in risk.complaints] == [True, False]
    assert risk.complaints[0].reference == str(filed["S2"].id)[:8]
    assert not risk.truncated
    # Answered, closed and not-yet-at-risk complaints are not listed; a complaint answered after
    # its breach is no longer open.
    Complaint.objects.filter(pk=filed["S2"].pk).update(status=ComplaintStatus.ANSWERED)
    assert reports.open_at_risk(now=NOW).overdue == {"staff_phone": 0}
    short = reports.open_at_risk(now=NOW, limit=0)
    assert short.complaints == [] and short.truncated


@pytest.mark.parametrize("value", ["0", "37", "-1", "abc", "1.5", "12a", "١٢", " 99 ", "1e1"])
def test_parse_months_refuses_what_is_not_1_to_36(value: str) -> None:
    with pytest.raises(reports.PeriodInvalid, match="from 1 to 36"):
        reports.parse_months(value)


def test_parse_months_reads_blank_as_the_default() -> None:
    assert reports.parse_months(None) == 12
    assert reports.parse_months("") == 12
    assert reports.parse_months(" 7 ") == 7
    assert reports.parse_months("36") == 36


# -- the page ---------------------------------------------------------------------------------


def test_the_page_shows_the_table_the_chart_and_open_at_risk(
    filed: dict[str, Complaint],
) -> None:
    response = client_as("customer_service").get(PAGE, {"months": "3"})
    assert response.status_code == 200
    html = response.content.decode()
    assert cells(html, "2027-02", "privacy_center") == {
        "filed": "2",
        "answered": "2",
        "in_time": "1",
        "breached": "1",
        "still_open": "0",
        "attainment": "50.0 %",
        "median_hours": "16.0",
    }
    assert cells(html, "2027-02", "all")["attainment"] == "66.7 %"
    assert cells(html, "2027-03", "staff_phone")["median_hours"] == "—"
    assert cells(html, "2027-03", "all")["still_open"] == "3"
    assert cells(html, "all", "all")["filed"] == "8"
    # Channels that received nothing in a month have no row of their own.
    assert 'data-month="2027-03" data-channel="email"' not in html
    assert 'data-month="2027-01" data-channel="privacy_center"' not in html
    # Newest month first.
    assert html.index('data-month="2027-03"') < html.index('data-month="2027-02"')
    # The chart: an accessible SVG, one bar segment per non-zero (month, series).
    assert 'role="img"' in html and 'aria-labelledby="sla-chart-title sla-chart-desc"' in html
    assert "SLA attainment per month, last 3 months" in html
    assert "66.7 % of the decided complaints were answered in time." in html
    bars = re.findall(r'<rect class="bar"[^>]*data-day="([\d-]+)" data-purpose="(\w+)"', html)
    assert sorted(bars) == sorted(
        [
            ("2027-01-01", "in_time"),
            ("2027-02-01", "in_time"),
            ("2027-02-01", "breached"),
            ("2027-03-01", "in_time"),
            ("2027-03-01", "breached"),
            ("2027-03-01", "undecided"),
        ]
    )
    assert "3/27 · not decided yet: 2" in html
    # Open at risk: per channel and listed, linked to the complaint, no text, no customer.
    risk = re.search(r'data-risk-channel="staff_phone">(.*?)</tr>', html, re.S)
    assert risk is not None
    assert re.findall(r'data-count="(\w+)">(\d+)<', risk.group(1)) == [
        ("at_risk", "1"),
        ("overdue", "1"),
    ]
    listed = re.findall(r'<tr data-complaint="([0-9a-f-]+)"', html)
    assert listed == [str(filed["S2"].id), str(filed["S3"].id)]
    assert f'href="/console/complaints/{filed["S2"].id}/"' in html
    assert f"<code>{str(filed['S2'].id)[:8]}</code>" in html
    assert str(filed["P4"].id) not in html
    assert TEXT not in html and NAME not in html
    assert f'href="{CSV_URL}?months=3"' in html


def test_the_page_defaults_to_twelve_months(filed: dict[str, Complaint]) -> None:
    html = client_as("owner").get(PAGE).content.decode()
    assert "SLA attainment per month, last 12 months" in html
    assert 'name="months" value="12"' in html
    assert cells(html, "all", "all")["filed"] == "8"
    assert 'data-month="2026-03"' not in html


def test_an_empty_report_says_so(customer_id: uuid.UUID) -> None:
    html = client_as("owner").get(PAGE, {"months": "2"}).content.decode()
    assert "No complaint was received in the last 2 months." in html
    assert "<svg" not in html
    assert cells(html, "all", "all") == {
        "filed": "0",
        "answered": "0",
        "in_time": "0",
        "breached": "0",
        "still_open": "0",
        "attainment": "—",
        "median_hours": "—",
    }
    assert "No open complaint is at risk or overdue." in html


@pytest.mark.parametrize("value", ["0", "37", "abc", "-3", "2.5", "x" * 5000])
def test_a_bad_period_is_a_400_naming_the_problem(customer_id: uuid.UUID, value: str) -> None:
    client = client_as("owner")
    page = client.get(PAGE, {"months": value})
    assert page.status_code == 400
    html = page.content.decode()
    assert "The period must be a whole number of months from 1 to 36." in html
    assert 'data-error="months"' in html and 'aria-invalid="true"' in html
    assert "Traceback" not in html and "<svg" not in html
    download = client.get(CSV_URL, {"months": value})
    assert download.status_code == 400
    assert download["Content-Type"].startswith("text/plain")
    assert download.content.decode() == (
        "The period must be a whole number of months from 1 to 36."
    )


def test_the_page_renders_in_vietnamese(filed: dict[str, Complaint]) -> None:
    response = client_as("customer_service", "vi").get(PAGE, {"months": "3"})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="vi"' in html
    # Vietnamese numbers: a decimal comma.
    assert cells(html, "2027-02", "all")["attainment"] == "66,7 %"
    assert cells(html, "2027-02", "privacy_center")["median_hours"] == "16,0"
    bad = client_as("owner", "vi").get(PAGE, {"months": "99"})
    assert bad.status_code == 400


def test_the_query_count_does_not_grow_with_the_complaints(
    customer_id: uuid.UUID, filed: dict[str, Complaint]
) -> None:
    client = client_as("owner")
    client.get(PAGE, {"months": "3"})  # the first request of a session writes its own rows
    with CaptureQueriesContext(connection) as few:
        assert client.get(PAGE, {"months": "3"}).status_code == 200
    for i in range(12):
        base = CASES[i % len(CASES)]
        case = Case(
            f"extra{i}", base.channel, base.received + i * H, base.wait, base.sla_met, base.status
        )
        file(customer_id, case)
    with CaptureQueriesContext(connection) as many:
        response = client.get(PAGE, {"months": "3"})
    assert response.status_code == 200
    assert cells(response.content.decode(), "all", "all")["filed"] != "8"
    assert len(many) == len(few)
    # The report's own queries: the aggregate, the answered complaints' times, the open ones'
    # aggregate and their list.
    complaint_queries = [q for q in many if "complaints_complaint" in q["sql"]]
    assert len(complaint_queries) == 4


# -- the CSV ----------------------------------------------------------------------------------


def test_the_csv_has_a_row_per_month_and_channel_and_the_totals(
    filed: dict[str, Complaint],
) -> None:
    response = client_as("customer_service", "vi").get(CSV_URL, {"months": "3"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="complaint-sla-2027-01-to-2027-03.csv"'
    )
    assert not response.content.startswith(b"\xef\xbb\xbf")  # no BOM
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    # English, machine-readable, whatever the staff member's language.
    assert list(rows[0]) == [
        "month",
        "channel",
        "filed",
        "answered",
        "answered_in_time",
        "breached",
        "still_open",
        "attainment_percent",
        "median_hours_to_first_answer",
    ]
    channels = ["privacy_center", "web_form", "staff_phone", "email", "all"]
    # 3 months × (4 channels + totals), then the period's 4 channels + totals.
    assert [(r["month"], r["channel"]) for r in rows] == [
        (month, channel)
        for month in ("2027-01", "2027-02", "2027-03", "all")
        for channel in channels
    ]
    table = {(r["month"], r["channel"]): r for r in rows}
    assert table[("2027-02", "privacy_center")] == {
        "month": "2027-02",
        "channel": "privacy_center",
        "filed": "2",
        "answered": "2",
        "answered_in_time": "1",
        "breached": "1",
        "still_open": "0",
        "attainment_percent": "50.0",
        "median_hours_to_first_answer": "16.0",
    }
    assert table[("2027-02", "all")]["attainment_percent"] == "66.7"
    assert table[("2027-03", "staff_phone")]["median_hours_to_first_answer"] == ""
    assert table[("2027-03", "email")]["attainment_percent"] == ""
    assert table[("all", "all")]["filed"] == "8"
    assert table[("all", "all")]["median_hours_to_first_answer"] == "5.0"
    # Nothing a spreadsheet would run as a formula (OWASP CSV injection).
    assert not any(cell[:1] in "=+-@" for r in rows for cell in r.values() if cell)
    assert TEXT not in response.content.decode() and str(filed["S2"].id) not in (
        response.content.decode()
    )


def test_the_csv_defaults_to_twelve_months(filed: dict[str, Complaint]) -> None:
    response = client_as("owner").get(CSV_URL)
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    assert rows[0]["month"] == "2026-04"
    assert len(rows) == 13 * 5


def test_reports_record_no_audit_event(filed: dict[str, Complaint]) -> None:
    """Aggregates with no personal data: no access to audit, as the dashboard's (module doc)."""
    client = client_as("owner")
    before = AuditEvent.objects.count()
    assert client.get(PAGE).status_code == 200
    assert client.get(CSV_URL).status_code == 200
    assert AuditEvent.objects.count() == before


# -- who --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "customer_service"])
def test_handlers_and_the_owner_see_the_reports(customer_id: uuid.UUID, role: str) -> None:
    client = client_as(role)
    assert client.get(PAGE).status_code == 200
    assert client.get(CSV_URL).status_code == 200


@pytest.mark.parametrize("role", ["sales", "accounting", "auditor"])
def test_other_roles_are_refused(filed: dict[str, Complaint], role: str) -> None:
    client = client_as(role)
    page = client.get(PAGE)
    assert page.status_code == 403
    assert "66.7" not in page.content.decode()
    download = client.get(CSV_URL)
    assert download.status_code == 403
    assert "attachment" not in download.get("Content-Disposition", "")


def test_anonymous_visitors_go_to_the_login(customer_id: uuid.UUID) -> None:
    client = Client()
    for url in (PAGE, CSV_URL):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/?next=")


def test_the_reports_are_read_only(customer_id: uuid.UUID) -> None:
    response = client_as("owner").post(PAGE, {"months": "3"})
    assert response.status_code == 405


# -- in a browser -----------------------------------------------------------------------------


@pytest.mark.browser
def test_the_page_in_a_browser_in_vietnamese(
    leman: Any,
    shop_api: Actor,
    live_server: Any,
    new_page: Any,
    screenshot: Any,
) -> None:
    # The clock ticks here: the browser's own timers need time to pass. The cases sit hours away
    # from every boundary, so a few seconds change nothing.
    with time_machine.travel(NOW, tick=True):
        customer = seed_customer(shop_api)
        complaints = {case.name: file(customer, case) for case in CASES}
        client = login_staff(Client(), make_staff("customer_service"))
        page = new_page(locale="vi-VN")
        page.context.add_cookies(
            [
                {
                    "name": "sessionid",
                    "value": client.cookies["sessionid"].value,
                    "url": live_server.url,
                }
            ]
        )
        page.goto(f"{live_server.url}{PAGE}?months=3")
        # Vietnamese: the page's language and its number format (the words follow the catalog).
        expect(page.locator("html")).to_have_attribute("lang", "vi")
        chart = page.get_by_role("img", name=re.compile("SLA"))
        expect(chart).to_be_visible()
        expect(chart.locator("rect.bar")).to_have_count(6)
        total = page.locator('tr[data-month="2027-02"][data-channel="all"] [data-col="attainment"]')
        expect(total).to_have_text("66,7 %")
        overdue = page.locator(f'tr[data-complaint="{complaints["S2"].id}"]')
        expect(overdue).to_contain_text(str(complaints["S2"].id)[:8])
        screenshot(page, "console-complaint-reports-vi")
        with page.expect_download() as download:
            page.locator("a[data-csv]").click()
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
        assert rows[0]["month"] == "2027-01" and len(rows) == 4 * 5
