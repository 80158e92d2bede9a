"""Aggregate statistics safe to share (issue 8, item 3; P12): groups of fewer than k customers
are suppressed on the page and in the CSV, complementary suppression keeps them out of reach of
the totals, k cannot go below the setting, who may see them, the export's audit event.

The clock is frozen on 20 March 2027, 10:00 in Hồ Chí Minh City. Each customer buys one order of
one product (quantity 1), so a group's customers = its orders = its units:

    month  category  customers  price        what the k=10 report does
    Jan    RG        10         5,200,000    shown (exactly k)
    Jan    BR        12         9,900,000    shown
    Jan    WT        11         1,000,000    shown
    Feb    NK        9          1,450,000    suppressed: fewer than k (k - 1)
    Feb    ER        3          18,500,000   suppressed: fewer than k
    Feb    RG        15         5,200,000    suppressed: complementary (smallest shown row)
    Feb    BR        20         9,900,000    shown
    Mar    RG        15         5,200,000    shown
    Mar    NK        9          1,450,000    suppressed: fewer than k
    Mar    BR        12         9,900,000    suppressed: complementary (smallest shown row)
    Mar    ER        20         18,500,000   shown

A hidden set must hold k customers (rule 2). In February NK (9) and ER (3) may be the same
people (a customer can buy in two categories), so only 9 are sure: RG is hidden with them. In
March NK alone would be total − shown rows, so BR (12) is hidden with it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from pledge.audit.models import AuditEvent
from pledge.disclosures import aggregates
from pledge.vault.models import Customer, Order
from tests.console.staffing import login_staff, make_staff

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = dt.datetime(2027, 3, 20, 10, 0, tzinfo=HCM)
PAGE = "/console/aggregates/"
CSV_URL = "/console/aggregates.csv"
PRICES = {"RG": 5_200_000, "NK": 1_450_000, "ER": 18_500_000, "BR": 9_900_000}
_numbers = itertools.count(1)


def buy(
    month: int,
    category: str,
    customers: int,
    *,
    language: str = "vi",
    status: str = "paid",
    sku: str | None = None,
    price: int | None = None,
) -> list[uuid.UUID]:
    """`customers` new customers, each placing one order of one product of `category` (of `sku`
    when given: the whole SKU)."""
    people = Customer.objects.bulk_create([Customer(language=language) for _ in range(customers)])
    price = price or PRICES.get(category, 1_000_000)
    Order.objects.bulk_create(
        [
            Order(
                customer=person,
                number=f"AGG-{next(_numbers)}",
                # 1 March 00:30 in the shop is still February in UTC: months are the shop's.
                placed_at=dt.datetime(2027, month, 1 + i % 20, 0, 30, tzinfo=HCM),
                status=status,
                total=Decimal(price),
                items=[
                    {
                        "sku": sku or f"{category}-X-{i % 2}",
                        "name": "item",
                        "quantity": 1,
                        "unit_price": f"{price}.00",
                    }
                ],
            )
            for i, person in enumerate(people)
        ]
    )
    return [p.id for p in people]


@pytest.fixture
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def sales(leman: Any, frozen: None) -> None:
    # One product per category, so that the category rows are the product rows (rule 4 would
    # otherwise hide a category of two small products).
    for month, category, customers in [
        (1, "RG", 10),
        (1, "BR", 12),
        (1, "WT", 11),
        (2, "NK", 9),
        (2, "ER", 3),
        (2, "RG", 15),
        (2, "BR", 20),
        (3, "RG", 15),
        (3, "NK", 9),
        (3, "BR", 12),
        (3, "ER", 20),
    ]:
        buy(month, category, customers, sku=f"{category}-1")


def client_as(role: str, language: str = "en") -> Client:
    client = Client(headers={"accept-language": language})
    login_staff(client, make_staff(role))
    return client


@pytest.fixture
def owner(sales: None) -> Client:
    return client_as("owner")


def row_html(html: str, period: str, group: str) -> str:
    match = re.search(
        rf'<tr data-period="{re.escape(period)}" data-group="{re.escape(group)}"[^>]*>.*?</tr>',
        html,
        re.S,
    )
    assert match, f"no row {period} {group}"
    return match.group(0)


def cols(row: str) -> dict[str, str]:
    return dict(re.findall(r'data-col="(\w+)">([^<]*)<', row))


def parsed_csv(response: Any) -> dict[tuple[str, str], dict[str, str]]:
    body = response.content.decode("utf-8")
    reader = csv.DictReader(io.StringIO(body))
    assert tuple(reader.fieldnames or ()) == aggregates.CSV_HEADER
    return {(r["period"], r["group"]): r for r in reader}


def test_a_group_of_k_minus_one_is_suppressed_and_a_group_of_k_shown(owner: Client) -> None:
    html = owner.get(PAGE, {"report": "category"}).content.decode()
    nk = row_html(html, "2027-02", "NK")
    assert 'data-suppressed="fewer_than_k"' in nk
    assert "suppressed: fewer than 10 customers" in nk
    assert cols(nk) == {"suppressed": ""}  # no customers, orders, units or revenue cell
    # NK's February revenue (9 × 1,450,000) is nowhere on the page.
    assert "13050000" not in html
    rg = row_html(html, "2027-01", "RG")
    assert "data-suppressed" not in rg
    assert cols(rg) == {
        "customers": "10",
        "orders": "10",
        "units": "10",
        "revenue": "52000000.00",
    }
    # The page says how many groups were withheld and why.
    assert re.search(r'data-count="fewer_than_k"><strong>3<', html)
    assert re.search(r'data-count="complementary"><strong>2<', html)
    assert re.search(r'data-count="suppressed"><strong>5<', html)
    assert "complementary suppression" in html


def test_the_csv_withholds_the_same_values(owner: Client) -> None:
    response = owner.get(CSV_URL, {"report": "category"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "k10" in response["Content-Disposition"]
    rows = parsed_csv(response)
    nk = rows[("2027-02", "NK")]
    assert nk["suppressed"] == "fewer_than_k"
    assert [nk[c] for c in ("customers", "orders", "units", "revenue")] == ["", "", "", ""]
    assert "13050000" not in response.content.decode()
    assert rows[("2027-01", "RG")]["customers"] == "10"
    assert rows[("2027-01", "RG")]["revenue"] == "52000000.00"
    assert rows[("2027-02", "RG")]["suppressed"] == "complementary"
    assert rows[("2027-02", "all")]["customers"] == "47"
    assert rows[("2027-02", "all")]["suppressed"] == ""
    assert rows[("2027-02", "all")]["in_total"] == "yes"


def test_complementary_suppression_keeps_the_hidden_value_out_of_the_totals(
    owner: Client,
) -> None:
    rows = parsed_csv(owner.get(CSV_URL, {"report": "category"}))
    march = {g: r for (p, g), r in rows.items() if p == "2027-03"}
    assert {g: r["suppressed"] for g, r in march.items()} == {
        "BR": "complementary",
        "ER": "",
        "NK": "fewer_than_k",
        "RG": "",
        "all": "",
    }
    total = Decimal(march["all"]["revenue"])
    shown = sum(Decimal(r["revenue"]) for g, r in march.items() if g != "all" and r["revenue"])
    # What the totals give away is NK + BR together, never NK alone.
    nk_alone = Decimal(9 * PRICES["NK"])
    assert total - shown == nk_alone + 12 * PRICES["BR"]
    assert total - shown != nk_alone
    customers_left = int(march["all"]["customers"]) - sum(
        int(r["customers"]) for g, r in march.items() if g != "all" and r["customers"]
    )
    assert customers_left == 9 + 12


def test_a_partition_of_two_hides_both_rows(leman: Any, frozen: None) -> None:
    """Customer language splits the customers: with one group small, the other is hidden too,
    else total − shown = the small group."""
    buy(1, "RG", 10, language="vi")
    buy(1, "RG", 9, language="en")
    response = client_as("owner").get(CSV_URL, {"report": "language"})
    rows = parsed_csv(response)
    assert rows[("2027-01", "en")]["suppressed"] == "fewer_than_k"
    assert rows[("2027-01", "vi")]["suppressed"] == "complementary"
    assert rows[("2027-01", "vi")]["customers"] == ""
    assert rows[("2027-01", "all")]["customers"] == "19"


def test_a_quarter_hides_what_its_months_hide(owner: Client) -> None:
    """NK has 18 customers over the quarter, enough on its own, but a quarter row is the sum of
    its months: shown, it would give March's hidden NK as Q1 − January − February."""
    rows = parsed_csv(owner.get(CSV_URL, {"report": "category", "period": "quarter"}))
    q1 = {g: r for (p, g), r in rows.items() if p == "2027-Q1"}
    assert q1["NK"]["suppressed"] == "complementary"
    assert q1["NK"]["customers"] == ""
    assert q1["ER"]["suppressed"] == "complementary"  # hidden in February
    assert q1["RG"]["suppressed"] == "complementary"  # hidden in February
    assert q1["BR"]["suppressed"] == "complementary"  # hidden in March
    assert q1["WT"]["suppressed"] == ""
    assert q1["WT"]["customers"] == "11"
    assert q1["all"]["customers"] == str(10 + 12 + 11 + 9 + 3 + 15 + 20 + 15 + 9 + 12 + 20)


def test_a_larger_k_suppresses_more(owner: Client) -> None:
    rows = parsed_csv(owner.get(CSV_URL, {"report": "category", "k": "11"}))
    assert rows[("2027-01", "RG")]["suppressed"] == "fewer_than_k"
    events = AuditEvent.objects.filter(type="disclosures:aggregate_exported")
    assert json.loads(events.get().details)["k"] == 11


@pytest.mark.parametrize("k", ["9", "1", "0"])
def test_k_below_the_setting_is_refused(owner: Client, k: str) -> None:
    page = owner.get(PAGE, {"report": "category", "k": k})
    assert page.status_code == 400
    assert "k may not be below the shop&#x27;s setting (10)" in page.content.decode()
    assert 'data-error="k"' in page.content.decode()
    download = owner.get(CSV_URL, {"report": "category", "k": k})
    assert download.status_code == 400
    assert "k may not be below the shop's setting (10)" in download.content.decode()
    assert not AuditEvent.objects.filter(type="disclosures:aggregate_exported").exists()


def test_the_setting_is_the_floor(owner: Client, settings: Any) -> None:
    settings.PLEDGE_AGGREGATE_K = 12
    rows = parsed_csv(owner.get(CSV_URL, {"report": "category"}))
    assert rows[("2027-01", "RG")]["suppressed"] == "fewer_than_k"
    assert owner.get(CSV_URL, {"report": "category", "k": "11"}).status_code == 400


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"k": "ten"}, "k must be a whole number"),
        ({"k": "99999999999"}, "k must be a whole number"),
        ({"k": "-3"}, "k must be a whole number"),
        ({"k": "1001"}, "k must be a whole number"),
        ({"report": "customers_by_name"}, "report must be one of"),
        ({"period": "week"}, "period must be month or quarter"),
        ({"periods": "37"}, "periods must be a whole number from 1 to 36"),
        ({"period": "quarter", "periods": "13"}, "periods must be a whole number from 1 to 12"),
        ({"periods": "1.5"}, "periods must be a whole number"),
    ],
)
def test_bad_parameters_get_a_clear_400(owner: Client, params: dict[str, str], names: str) -> None:
    page = owner.get(PAGE, params)
    assert page.status_code == 400
    assert names in page.content.decode()
    download = owner.get(CSV_URL, params)
    assert download.status_code == 400
    assert names in download.content.decode()
    assert not AuditEvent.objects.filter(type="disclosures:aggregate_exported").exists()


def test_the_export_is_audited_without_personal_data(owner: Client) -> None:
    owner.get(PAGE, {"report": "category"})  # viewing: no event, the page holds no one
    assert not AuditEvent.objects.filter(type="disclosures:aggregate_exported").exists()
    owner.get(CSV_URL, {"report": "category", "period": "month", "periods": "3"})
    event = AuditEvent.objects.get(type="disclosures:aggregate_exported")
    assert event.actor_role == "owner"
    assert event.customer_id is None
    assert json.loads(event.details) == {"report": "category/month/3", "k": 10, "suppressed": 5}


def test_restricted_customers_are_left_out(leman: Any, frozen: None) -> None:
    """GDPR Art 18: a restricted customer's data is only stored; one of ten leaves → 9 < k."""
    people = buy(1, "RG", 10)
    Customer.objects.filter(id=people[0]).update(restricted_at=NOW)
    rows = parsed_csv(client_as("owner").get(CSV_URL, {"report": "status"}))
    assert rows[("2027-01", "paid")]["suppressed"] == "fewer_than_k"
    assert rows[("2027-01", "all")]["suppressed"] == "fewer_than_k"


def test_cancelled_orders_are_no_sales(leman: Any, frozen: None) -> None:
    buy(1, "RG", 10)
    buy(1, "RG", 10, status="cancelled")
    client = client_as("owner")
    sales = parsed_csv(client.get(CSV_URL, {"report": "category"}))
    assert sales[("2027-01", "all")]["orders"] == "10"
    statuses = parsed_csv(client.get(CSV_URL, {"report": "status"}))
    assert statuses[("2027-01", "cancelled")]["orders"] == "10"
    assert statuses[("2027-01", "cancelled")]["in_total"] == "no"
    assert statuses[("2027-01", "all")]["orders"] == "10"


def test_months_are_the_shops(leman: Any, frozen: None) -> None:
    """1 February 00:30 in Hồ Chí Minh City is 31 January in UTC: it counts in February."""
    buy(2, "RG", 10)
    rows = parsed_csv(client_as("owner").get(CSV_URL, {"report": "product"}))
    assert ("2027-01", "all") not in rows
    assert rows[("2027-02", "all")]["customers"] == "10"
    # product = the whole SKU: RG-X-0 and RG-X-1 have 5 customers each.
    assert rows[("2027-02", "RG-X-0")]["suppressed"] == "fewer_than_k"


def test_a_hostile_sku_cannot_become_a_formula(leman: Any, frozen: None) -> None:
    buy(1, "=HYPERLINK", 10)
    body = client_as("owner").get(CSV_URL, {"report": "category"}).content.decode()
    assert "\r\n2027-01,VND,'=HYPERLINK," in body


def test_the_number_of_queries_does_not_grow_with_the_data(leman: Any, frozen: None) -> None:
    client = client_as("owner")
    buy(1, "RG", 10)
    for period in ("month", "quarter"):
        client.get(PAGE, {"report": "product", "period": period})  # warm the session and policy
        with CaptureQueriesContext(connection) as few:
            client.get(PAGE, {"report": "product", "period": period})
        for category, month in itertools.product(("NK", "ER", "BR", "XY"), (2, 3)):
            buy(month, category, 11)
        with CaptureQueriesContext(connection) as many:
            client.get(PAGE, {"report": "product", "period": period})
        assert len(many) == len(few)


def test_periods_are_named_in_the_staff_language(sales: None) -> None:
    html = client_as("owner", "vi").get(PAGE, {"report": "category"}).content.decode()
    assert '<th scope="row">Tháng 2 2027</th>' in row_html(html, "2027-02", "NK")
    quarters = client_as("owner").get(PAGE, {"report": "category", "period": "quarter"})
    assert '<th scope="row">Q1 2027</th>' in row_html(quarters.content.decode(), "2027-Q1", "RG")


# --- who may see them --------------------------------------------------------------------------


def test_the_owner_sees_them(owner: Client) -> None:
    assert owner.get(PAGE).status_code == 200
    assert owner.get(CSV_URL).status_code == 200


@pytest.mark.parametrize("role", ["customer_service", "sales", "accounting", "auditor"])
def test_other_roles_of_preset_b_are_refused(sales: None, role: str) -> None:
    """Preset B declares no statistics purpose: the owner only."""
    client = client_as(role)
    assert client.get(PAGE).status_code == 403
    assert client.get(CSV_URL).status_code == 403
    assert not AuditEvent.objects.filter(type="disclosures:aggregate_exported").exists()


def test_anonymous_visitors_go_to_sign_in(sales: None) -> None:
    for url in (PAGE, CSV_URL):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/")


@pytest.fixture
def firstwatch(db: None) -> Iterator[Any]:
    """Preset D (1stwatch.vn), whose `sales_reports` purpose is held by the privacy officer."""
    from pledge.policy.enforcement import clear_policy_cache, enforced_policy
    from pledge.policy.loader import load_policy
    from pledge.policy.services import publish_policy

    clear_policy_cache()
    loaded = load_policy("1stwatch")
    publish_policy(loaded, actor="test", effective_date=loaded.policy.effective_date)
    clear_policy_cache()
    yield enforced_policy()
    clear_policy_cache()


def test_a_role_holding_a_statistics_purpose_sees_them(firstwatch: Any, frozen: None) -> None:
    assert aggregates.statistics_purposes(firstwatch) == {"sales_reports"}
    assert aggregates.statistics_roles(firstwatch) == {"owner", "privacy_officer"}
    buy(1, "RG", 10)
    officer = client_as("privacy_officer")
    assert officer.get(PAGE).status_code == 200
    assert officer.get(CSV_URL).status_code == 200
    assert client_as("auditor").get(PAGE).status_code == 403


# --- differencing across rows and reports (issue-8 security review) ----------------------------


def all_reports(client: Client, period: str = "month") -> dict[str, Any]:
    return {
        report: parsed_csv(client.get(CSV_URL, {"report": report, "period": period}))
        for report in aggregates.REPORTS
    }


def test_cancelled_orders_stay_outside_every_total(leman: Any, frozen: None) -> None:
    """One customer's 50,000,000 VND cancelled order was status total − language total: the
    status total counted cancelled orders, the others did not."""
    buy(1, "RG", 12)
    buy(1, "RG", 1, status="cancelled", price=50_000_000)
    client = client_as("owner")
    reports = all_reports(client)
    statuses, languages = reports["status"], reports["language"]
    cancelled = statuses[("2027-01", "cancelled")]
    assert cancelled["suppressed"] == "fewer_than_k"
    assert cancelled["revenue"] == ""
    assert cancelled["in_total"] == "no"
    for column in ("customers", "orders", "revenue"):
        assert statuses[("2027-01", "all")][column] == languages[("2027-01", "all")][column]
    assert statuses[("2027-01", "all")]["revenue"] == "62400000.00"
    html = client.get(PAGE, {"report": "status"}).content.decode()
    assert "data-outside-total" in row_html(html, "2027-01", "cancelled")
    assert "(not in the total)" in row_html(html, "2027-01", "cancelled")
    for period in ("month", "quarter"):
        for report in aggregates.REPORTS:
            body = client.get(CSV_URL, {"report": report, "period": period}).content.decode()
            assert "50000000" not in body
            assert "112400000" not in body  # the total with the cancelled order


def test_hidden_rows_together_hold_k_customers(leman: Any, frozen: None) -> None:
    """a (1 customer) and b (1 customer) hidden next to c (30): total − c − d gave a + b, two
    people's spending. The smallest shown row is hidden until the hidden rows hold k customers."""
    buy(1, "AA", 1, sku="AA-1", price=70_000_000)
    buy(1, "BB", 1, sku="BB-1", price=3_000_000)
    buy(1, "CC", 30, sku="CC-1", price=1_000_000)
    buy(1, "DD", 40, sku="DD-1", price=2_000_000)
    rows = parsed_csv(client_as("owner").get(CSV_URL, {"report": "category"}))
    jan = {g: r for (p, g), r in rows.items() if p == "2027-01"}
    assert {g: r["suppressed"] for g, r in jan.items()} == {
        "AA": "fewer_than_k",
        "BB": "fewer_than_k",
        "CC": "complementary",
        "DD": "",
        "all": "",
    }
    shown = sum(Decimal(r["revenue"]) for g, r in jan.items() if g != "all" and r["revenue"])
    # total − shown rows = a + b + c: two people's spending hidden among 30 others'.
    assert Decimal(jan["all"]["revenue"]) - shown == 70_000_000 + 3_000_000 + 30 * 1_000_000


def test_a_language_partition_adds_up_the_hidden_customers(leman: Any, frozen: None) -> None:
    """Languages split the customers, so 9 + 9 hidden hold 18 ≥ k and nothing more is hidden;
    with 9 alone the other row is hidden (rule 2 with the customers summed)."""
    buy(1, "RG", 9, language="vi")
    buy(1, "RG", 30, language="en")
    rows = parsed_csv(client_as("owner").get(CSV_URL, {"report": "language"}))
    assert rows[("2027-01", "vi")]["suppressed"] == "fewer_than_k"
    assert rows[("2027-01", "en")]["suppressed"] == "complementary"
    assert rows[("2027-01", "all")]["customers"] == "39"


def test_the_category_report_cannot_undo_the_product_report(leman: Any, frozen: None) -> None:
    """RG-B (3 customers) is hidden in the product report; shown, the category RG would give it
    as RG − RG-A − RG-C. A category with a hidden product is hidden, and so are all products of a
    hidden category."""
    buy(1, "RG", 12, sku="RG-A")
    buy(1, "RG", 3, sku="RG-B", price=40_000_000)
    buy(1, "RG", 30, sku="RG-C")
    buy(1, "BR", 11, sku="BR-A")
    buy(1, "BR", 25, sku="BR-B")
    client = client_as("owner")
    for period, label in (("month", "2027-01"), ("quarter", "2027-Q1")):
        products = parsed_csv(client.get(CSV_URL, {"report": "product", "period": period}))
        categories = parsed_csv(client.get(CSV_URL, {"report": "category", "period": period}))
        assert products[(label, "RG-B")]["suppressed"] == "fewer_than_k"
        assert categories[(label, "RG")]["suppressed"] == "complementary"
        assert categories[(label, "RG")]["revenue"] == ""
        assert products[(label, "RG-A")]["suppressed"] == "complementary"
        assert products[(label, "RG-C")]["suppressed"] == "complementary"
        assert categories[(label, "BR")]["suppressed"] == ""
        assert products[(label, "BR-A")]["suppressed"] == ""
        # The two reports agree: a category is shown exactly when all its products are.
        for (p, sku), row in products.items():
            if p == label and sku != "all":
                category = categories[(label, aggregates.category_of(sku))]
                assert bool(row["suppressed"]) == bool(category["suppressed"])
        assert products[(label, "all")] == categories[(label, "all")]


def test_every_report_shows_the_same_total(leman: Any, frozen: None) -> None:
    """The status, language, category and product reports of a period show one total: with an
    order without item lines and a cancelled one, no difference of two totals is one person."""
    buy(1, "RG", 12)
    buy(1, "BR", 11, sku="BR-1")
    buy(1, "RG", 2, status="cancelled")
    loner = Customer.objects.create(language="en")
    Order.objects.create(
        customer=loner,
        number="AGG-EMPTY",
        placed_at=dt.datetime(2027, 1, 5, 12, 0, tzinfo=HCM),
        status="paid",
        total=Decimal(7_000_000),
        items=[],
    )
    client = client_as("owner")
    for period, label in (("month", "2027-01"), ("quarter", "2027-Q1")):
        reports = all_reports(client, period)
        totals = {
            report: {c: rows[(label, "all")][c] for c in ("customers", "orders", "revenue")}
            | {"suppressed": rows[(label, "all")]["suppressed"]}
            for report, rows in reports.items()
        }
        expected = {
            "customers": "24",
            "orders": "24",
            "revenue": str(Decimal(12 * 5_200_000 + 11 * 9_900_000 + 7_000_000)) + ".00",
            "suppressed": "",
        }
        assert totals == dict.fromkeys(aggregates.REPORTS, expected)
        # The order without items is in the "" group of the item reports, hidden (1 customer).
        assert reports["category"][(label, "")]["suppressed"] == "fewer_than_k"
        assert reports["product"][(label, "")]["suppressed"] == "fewer_than_k"
