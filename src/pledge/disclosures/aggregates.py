"""Sales and customer statistics safe to share (issue 8, item 3; P12; seed D's "thống kê, lập
báo cáo bán hàng định kỳ", P05).

A report counts orders per period (month or quarter, cut in the shop's time zone) and per group of
one dimension: order status, customer language, product category (the SKU up to its first "-")
or product (the SKU). Every dimension is a non-personal fact that sits in clear on the order or
customer row, so nothing is decrypted and no purpose-checked vault read is needed. Each cell of a
row counts *distinct customers*; the k-anonymity rule is about people, not orders.

Suppression (P12: "aggregated or anonymised information may be shared freely" only if no one can
be singled out); docs/aggregates.md says why each rule is needed:

1. **Primary.** A row (or a period's total) with fewer than k distinct customers is suppressed:
   every number of it is withheld, its customer count included. k is
   `settings.PLEDGE_AGGREGATE_K` (10); a report may ask for a larger k, never a smaller one.
2. **Complementary, inside a period.** The rows add up to the period's total, so total − shown
   rows = the hidden rows together. The smallest shown row is hidden too until the hidden rows
   together hold at least k distinct customers (a lower bound: their sum where the groups split
   the customers, as languages do; else the largest of them; all rows = the total's customers).
   If even that cannot be reached, the total is hidden.
3. **Across granularities.** A quarter row is the sum of its month rows: a quarter row (or
   total) is suppressed when any of its month rows is.
4. **Across reports.** Every report of a period shows the same total row (one shared query:
   non-cancelled orders of unrestricted customers), hidden by rules 1 and 3 only, so no two
   reports' totals differ; the status report's "cancelled" row stands outside the total.
   Category and product are one hierarchy: a category is hidden when one of its products is, and
   every product of a hidden category is hidden (`_contain`).

Limits, said in docs/aggregates.md: k-anonymity does not protect against comparing the same
report taken at two moments (one customer's late order, or a customer leaving the statistics when
processing of their data is restricted, changes the numbers by their own amounts).

Customers whose processing is restricted (GDPR Art 18; an erasure restricts what it keeps) are
left out: statistics are processing, and a restricted customer's data may only be stored.

Queries: GROUP BY in the database, whatever the data: per granularity one per dimension (two for
the item reports, category and product being suppressed together) and one for the totals; a
quarter report runs the month queries too (rule 3).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from django.conf import settings
from django.db import connection, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.policy.enforcement import EnforcedPolicy
from pledge.vault.models import Customer, Order

# --- what may be asked -------------------------------------------------------------------------

Granularity = Literal["month", "quarter"]
Suppression = Literal["fewer_than_k", "complementary"]

REPORTS: dict[str, Any] = {
    "status": gettext_lazy("Orders by status"),
    "language": gettext_lazy("Customers and sales by customer language"),
    "category": gettext_lazy("Sales by product category (SKU prefix)"),
    "product": gettext_lazy("Sales by product (SKU)"),
}
DIMENSIONS: dict[str, Any] = {
    "status": gettext_lazy("Order status"),
    "language": gettext_lazy("Customer language"),
    "category": gettext_lazy("Product category"),
    "product": gettext_lazy("Product (SKU)"),
}
# Reports counting item lines rather than whole orders (units sold, item revenue).
ITEM_REPORTS = frozenset({"category", "product"})
GRANULARITIES: dict[str, Any] = {"month": gettext_lazy("Month"), "quarter": gettext_lazy("Quarter")}
# granularity -> (default number of periods, maximum)
PERIODS: dict[str, tuple[int, int]] = {"month": (12, 36), "quarter": (4, 12)}
DEFAULT_REPORT = "status"
MAX_K = 1000
TOTAL = "all"  # the group of a period's total row

# Purposes that are statistics or sales reports (P05: "statistics and periodic sales reports";
# seed D's `sales_reports`). schema gap: a purpose cannot be marked as statistics, so its key
# says it; a `statistics: true` flag on the purpose is honoured too once the schema has one.
STATISTICS_PURPOSES = frozenset({"sales_reports", "statistics", "market_research"})


class ReportInvalid(ValueError):
    """A report parameter is malformed or out of range: `param` names it, `message` says why
    in the user's language."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass(frozen=True)
class ReportRequest:
    report: str
    granularity: Granularity
    periods: int
    k: int

    @property
    def label(self) -> str:
        """What the audit event names: machine-readable, no personal data."""
        return f"{self.report}/{self.granularity}/{self.periods}"


def minimum_k() -> int:
    return int(settings.PLEDGE_AGGREGATE_K)


def _whole_number(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    if len(raw) > 8 or not raw.isascii() or not raw.isdigit():
        raise ReportInvalid(
            name,
            _("%(name)s must be a whole number from %(low)d to %(high)d.")
            % {"name": name, "low": low, "high": high},
        )
    value = int(raw)
    if not low <= value <= high:
        raise ReportInvalid(
            name,
            _("%(name)s must be a whole number from %(low)d to %(high)d.")
            % {"name": name, "low": low, "high": high},
        )
    return value


def parse_request(params: Mapping[str, str]) -> ReportRequest:
    """The report asked for by query parameters `report`, `period`, `periods`, `k`."""
    report = (params.get("report") or DEFAULT_REPORT).strip()
    if report not in REPORTS:
        raise ReportInvalid(
            "report", _("report must be one of: %(choices)s.") % {"choices": ", ".join(REPORTS)}
        )
    granularity = (params.get("period") or "month").strip()
    if granularity not in GRANULARITIES:
        raise ReportInvalid("period", _("period must be month or quarter."))
    default, most = PERIODS[granularity]
    periods = _whole_number(params, "periods", default, 1, most)
    floor = minimum_k()
    raw_k = (params.get("k") or "").strip()
    if raw_k.isascii() and raw_k.isdigit() and len(raw_k) <= 8 and int(raw_k) < floor:
        # P12: the shop's k is a floor; a report may be stricter, never looser.
        raise ReportInvalid(
            "k",
            _(
                "k may not be below the shop's setting (%(k)d): "
                "smaller groups could identify people."
            )
            % {"k": floor},
        )
    k = _whole_number(params, "k", floor, floor, MAX_K)
    return ReportRequest(report, granularity, periods, k)  # type: ignore[arg-type]


# --- who may see them --------------------------------------------------------------------------


def statistics_purposes(enforced: EnforcedPolicy) -> frozenset[str]:
    """Purposes declared for statistics that read purchases (what the reports count)."""
    return frozenset(
        p.key
        for p in enforced.policy.purposes
        if (p.key in STATISTICS_PURPOSES or getattr(p, "statistics", False))
        and "purchase_history" in enforced.reads.get(p.key, frozenset())
    )


def statistics_roles(enforced: EnforcedPolicy) -> frozenset[str]:
    """The owner (the role managing staff) and the roles holding a statistics purpose."""
    owners = {r.key for r in enforced.policy.roles if "manage_staff" in r.console}
    purposes = statistics_purposes(enforced)
    holders = {role for p in purposes for role in enforced.roles.get(p, frozenset())}
    return frozenset(owners | holders)


# --- the numbers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Numbers:
    customers: int
    orders: int
    units: int | None  # item reports only
    revenue: Decimal


@dataclass
class Cell:
    group: str  # the dimension's value, or TOTAL
    numbers: Numbers
    suppressed: Suppression | None = None
    # False for a row the total does not count (the status report's "cancelled").
    in_total: bool = True

    @property
    def is_total(self) -> bool:
        return self.group == TOTAL

    @property
    def shown(self) -> Numbers | None:
        """The numbers, or None when they are withheld: what pages and files may use."""
        return None if self.suppressed else self.numbers


@dataclass
class Block:
    """One period in one currency: its rows and its total."""

    period: dt.date
    currency: str
    rows: list[Cell]
    total: Cell

    @property
    def cells(self) -> list[Cell]:
        """The rows the total counts, the total, then the rows outside it."""
        return [
            *(c for c in self.rows if c.in_total),
            self.total,
            *(c for c in self.rows if not c.in_total),
        ]


@dataclass(frozen=True)
class AggregateReport:
    request: ReportRequest
    blocks: list[Block]  # oldest first; rows by group
    first: dt.date
    last: dt.date
    suppressed_small: int = 0
    suppressed_complementary: int = 0
    has_units: bool = False
    timezone_name: str = ""

    @property
    def suppressed(self) -> int:
        return self.suppressed_small + self.suppressed_complementary


def period_start(day: dt.date, granularity: Granularity) -> dt.date:
    month = day.month if granularity == "month" else 3 * ((day.month - 1) // 3) + 1
    return dt.date(day.year, month, 1)


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def period_range(
    now: dt.datetime, granularity: Granularity, periods: int, tz: dt.tzinfo
) -> tuple[dt.date, dt.date]:
    """First day of the first period and of the last (current) one, in the shop's calendar."""
    last = period_start(now.astimezone(tz).date(), granularity)
    step = 1 if granularity == "month" else 3
    return add_months(last, -step * (periods - 1)), last


def _sku_sql() -> str:
    # An order without item lines (j.value NULL) joins the "" group, as does a line without SKU:
    # then the item rows together hold every customer of the total (rule 2 counts on it).
    if connection.vendor == "postgresql":
        return "COALESCE(j.value->>'sku', '')"
    return "COALESCE(json_extract(j.value, '$.sku'), '')"


def _group_sql(dimension: str) -> str:
    if dimension == "status":
        return "o.status"
    if dimension == "language":
        return "c.language"
    sku = _sku_sql()
    if dimension == "product":
        return sku
    if connection.vendor == "postgresql":
        return f"split_part({sku}, '-', 1)"
    cut = f"instr({sku}, '-')"
    return f"CASE WHEN {cut} > 0 THEN substr({sku}, 1, {cut} - 1) ELSE {sku} END"


def category_of(sku: str) -> str:
    """The category of a product, as `_group_sql("category")` cuts it in the database."""
    return sku.split("-", 1)[0]


ORDER_MEASURES = "COUNT(DISTINCT o.customer_id), COUNT(o.id), NULL, SUM(o.total)"


def _item_measures_sql() -> str:
    if connection.vendor == "postgresql":
        qty, price = "(j.value->>'quantity')::integer", "(j.value->>'unit_price')::numeric"
    else:
        qty = "CAST(json_extract(j.value, '$.quantity') AS INTEGER)"
        price = "CAST(json_extract(j.value, '$.unit_price') AS NUMERIC)"
    return (
        f"COUNT(DISTINCT o.customer_id), COUNT(DISTINCT o.id), COALESCE(SUM({qty}), 0), "
        f"COALESCE(SUM({qty} * {price}), 0)"
    )


def _from_sql(items: bool) -> str:
    orders, customers = Order._meta.db_table, Customer._meta.db_table
    base = f"{orders} o JOIN {customers} c ON c.id = o.customer_id"
    if not items:
        return base
    # LEFT: an order without item lines still counts (in the "" group), see `_sku_sql`.
    if connection.vendor == "postgresql":
        return f"{base} LEFT JOIN LATERAL jsonb_array_elements(o.items) AS j(value) ON true"
    return f"{base} LEFT JOIN json_each(o.items) AS j ON 1 = 1"


def _as_date(value: Any) -> dt.date:
    # SQLite's truncation gives text "YYYY-MM-DD HH:MM:SS"; PostgreSQL a timestamp.
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _money(value: Any) -> Decimal:
    # SQLite has no decimal type: sums come back as int or float; amounts have 2 decimals.
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


BlockKey = tuple[dt.date, str]  # period, currency
Key = tuple[dt.date, str, str]  # period, currency, group
Grouped = dict[BlockKey, dict[str, Numbers]]

# The status outside every total: cancelled orders are no sales (issue-8 review: a status total
# counting them, next to language/category totals that did not, gave the hidden "cancelled" row
# as status total − language total). The status report shows it as a row outside the total.
OUTSIDE_TOTAL = {"status": frozenset({Order.Status.CANCELLED.value})}


def dimensions_of(report: str) -> tuple[str, ...]:
    """The dimensions suppressed together: category and product are one hierarchy (rule 4)."""
    return ("category", "product") if report in ITEM_REPORTS else (report,)


def _grouped(
    report: str, granularity: Granularity, start: dt.datetime, end: dt.datetime, tzname: str
) -> tuple[dict[str, Grouped], dict[BlockKey, Numbers]]:
    """GROUP BY queries: one per dimension of `dimensions_of(report)`, and the period totals.

    The totals are one query shared by every report (non-cancelled orders of unrestricted
    customers, order amounts), so the status, language, category and product reports of a period
    show the very same total, hidden by the very same rule: no difference between two reports'
    totals exists to be computed."""
    # Django's own truncation SQL for the backend (what `Trunc` uses), cut in the shop's zone;
    # django-stubs type it as returning a str, Django 5 returns (sql, params).
    truncated: Any = connection.ops.datetime_trunc_sql(granularity, "o.placed_at", (), tzname)
    trunc: str = truncated[0]
    trunc_params: list[Any] = list(truncated[1])
    window = "o.placed_at >= %s AND o.placed_at < %s AND c.restricted_at IS NULL"
    window_params: list[Any] = [
        connection.ops.adapt_datetimefield_value(start),
        connection.ops.adapt_datetimefield_value(end),
    ]
    sales, sales_params = (
        f"{window} AND o.status <> %s",
        [
            *window_params,
            Order.Status.CANCELLED.value,
        ],
    )
    rows: dict[str, Grouped] = {}
    totals: dict[BlockKey, Numbers] = {}
    with connection.cursor() as cursor:
        for dimension in dimensions_of(report):
            items = dimension in ITEM_REPORTS
            measures = _item_measures_sql() if items else ORDER_MEASURES
            # The status report's rows include cancelled orders (a row outside the total).
            where, params = (
                (window, window_params) if dimension == "status" else (sales, sales_params)
            )
            cursor.execute(
                f"SELECT {trunc}, o.currency, {_group_sql(dimension)}, {measures} "  # noqa: S608
                f"FROM {_from_sql(items)} WHERE {where} GROUP BY 1, 2, 3",
                [*trunc_params, *params],
            )
            grouped: Grouped = defaultdict(dict)
            for row in cursor.fetchall():
                customers, orders, units, revenue = row[-4:]
                grouped[(_as_date(row[0]), str(row[1]))][str(row[2])] = Numbers(
                    int(customers),
                    int(orders),
                    None if units is None else int(units),
                    _money(revenue),
                )
            rows[dimension] = grouped
        cursor.execute(
            f"SELECT {trunc}, o.currency, {ORDER_MEASURES} "  # noqa: S608
            f"FROM {_from_sql(False)} WHERE {sales} GROUP BY 1, 2",
            [*trunc_params, *sales_params],
        )
        for row in cursor.fetchall():
            customers, orders, _units, revenue = row[-4:]
            totals[(_as_date(row[0]), str(row[1]))] = Numbers(
                int(customers), int(orders), None, _money(revenue)
            )
    return rows, totals


def _size(cell: Cell) -> tuple[int, Decimal, str]:
    return (cell.numbers.customers, cell.numbers.revenue, cell.group)


# Dimensions whose groups split the customers (a customer has one language): the hidden rows'
# customers add up. Elsewhere (a customer buys two products, has orders in two statuses) only the
# largest hidden row is sure to be distinct customers.
PARTITIONS = frozenset({"language"})


def hidden_customers(block: Block, partition: bool) -> int:
    """A lower bound on the distinct customers the block's hidden in-total rows hold together."""
    rows = [c for c in block.rows if c.in_total]
    hidden = [c for c in rows if c.suppressed]
    if not hidden:
        return 0
    if len(hidden) == len(rows):
        # Every customer of the total is in some in-total row (the "" group holds orders without
        # items), so all rows together hold exactly the total's customers.
        return block.total.numbers.customers
    if partition:
        return sum(c.numbers.customers for c in hidden)
    return max(c.numbers.customers for c in hidden)


def _complement(block: Block, k: int, *, partition: bool) -> None:
    """Rule 2: total − shown rows = the hidden rows together; they must hold at least k
    distinct customers, so the smallest shown row is hidden until they do (or, failing that, the
    total). Two rows of one customer each are not protection (issue-8 review)."""
    if block.total.suppressed:
        # A hidden total is hidden in every report (one shared query, rules 1 and 3 only), so
        # no report gives it: nothing can be subtracted from it.
        return
    while hidden_customers(block, partition) and hidden_customers(block, partition) < k:
        shown = [c for c in block.rows if c.in_total and not c.suppressed]
        if not shown:
            block.total.suppressed = "complementary"
            return
        min(shown, key=_size).suppressed = "complementary"


def _contain(categories: Block, products: Block, k: int) -> None:
    """Rule 4: a category row is the sum of its products' rows (units, revenue). A category with
    a hidden product is hidden (else category − shown products = the hidden product); then rule 2
    among the categories; then every product of a hidden category is hidden (else the sum of its
    products gives the category, and total − shown categories − it gives the one it protects).
    The product report's hidden rows are then exactly the products of the hidden categories, so
    they hold the same customers as those categories and rule 2 holds for them too."""
    by_name = {c.group: c for c in categories.rows}
    if categories.total.suppressed or products.total.suppressed:
        categories.total.suppressed = categories.total.suppressed or products.total.suppressed
        products.total.suppressed = categories.total.suppressed
    for product in products.rows:
        category = by_name.get(category_of(product.group))
        if category is None:  # cannot happen (same orders); never show what cannot be checked
            product.suppressed = product.suppressed or "complementary"
        elif product.suppressed and not category.suppressed:
            category.suppressed = "complementary"
    _complement(categories, k, partition=False)
    products.total.suppressed = categories.total.suppressed
    for product in products.rows:
        category = by_name.get(category_of(product.group))
        if category is not None and category.suppressed and not product.suppressed:
            product.suppressed = "complementary"


def _blocks(
    dimension: str,
    rows: Grouped,
    totals: Mapping[BlockKey, Numbers],
    k: int,
    hidden_below: frozenset[Key] = frozenset(),
) -> dict[BlockKey, Block]:
    """Blocks with rules 1 and 3 applied; `hidden_below`: the quarter cells (quarter's first
    day, currency, group; TOTAL for the total) of which some month cell is hidden (rule 3)."""
    outside = OUTSIDE_TOTAL.get(dimension, frozenset())
    blocks: dict[BlockKey, Block] = {}
    for period, currency in sorted({*rows, *totals}):
        groups = rows.get((period, currency), {})
        n_total = totals.get((period, currency)) or Numbers(0, 0, None, Decimal("0.00"))
        if dimension in ITEM_REPORTS:
            # Units are additive: the total's units are its rows' (both item reports agree).
            n_total = Numbers(
                n_total.customers,
                n_total.orders,
                sum(n.units or 0 for n in groups.values()),
                n_total.revenue,
            )
        cells = [
            Cell(g, n, "fewer_than_k" if n.customers < k else None, in_total=g not in outside)
            for g, n in sorted(groups.items())
        ]
        total = Cell(TOTAL, n_total, "fewer_than_k" if n_total.customers < k else None)
        for cell in [*cells, total]:
            # Rule 3: a quarter hides what any of its months hides.
            if cell.suppressed is None and (period, currency, cell.group) in hidden_below:
                cell.suppressed = "complementary"
        blocks[(period, currency)] = Block(period, currency, cells, total)
    return blocks


def _suppressed(
    report: str,
    granularity: Granularity,
    start: dt.datetime,
    end: dt.datetime,
    tzname: str,
    k: int,
    hidden_below: Mapping[str, frozenset[Key]],
) -> dict[str, dict[BlockKey, Block]]:
    rows, totals = _grouped(report, granularity, start, end, tzname)
    blocks = {
        d: _blocks(d, rows[d], totals, k, hidden_below.get(d, frozenset()))
        for d in dimensions_of(report)
    }
    if report in ITEM_REPORTS:
        for key, category_block in blocks["category"].items():
            product_block = blocks["product"].get(key)
            if product_block is not None:
                _contain(category_block, product_block, k)
    else:
        for block in blocks[report].values():
            _complement(block, k, partition=report in PARTITIONS)
    return blocks


def _hidden_keys(blocks: Mapping[BlockKey, Block]) -> frozenset[Key]:
    return frozenset(
        (period_start(b.period, "quarter"), b.currency, c.group)
        for b in blocks.values()
        for c in b.cells
        if c.suppressed
    )


def build_report(request: ReportRequest, *, now: dt.datetime, tz: dt.tzinfo) -> AggregateReport:
    """The report with every suppression applied; fixed number of queries (see module doc)."""
    first, last = period_range(now, request.granularity, request.periods, tz)
    step = 1 if request.granularity == "month" else 3
    start = dt.datetime.combine(first, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(add_months(last, step), dt.time(), tzinfo=tz)
    tzname = str(getattr(tz, "key", None) or tz)
    report, k = request.report, request.k
    suppressed = _suppressed(report, "month", start, end, tzname, k, {})
    if request.granularity == "quarter":
        hidden = {d: _hidden_keys(b) for d, b in suppressed.items()}
        suppressed = _suppressed(report, "quarter", start, end, tzname, k, hidden)
    blocks = [b for _key, b in sorted(suppressed[report].items())]
    cells = [c for b in blocks for c in b.cells]
    return AggregateReport(
        request=request,
        blocks=blocks,
        first=first,
        last=last,
        suppressed_small=sum(1 for c in cells if c.suppressed == "fewer_than_k"),
        suppressed_complementary=sum(1 for c in cells if c.suppressed == "complementary"),
        has_units=report in ITEM_REPORTS,
        timezone_name=tzname,
    )


# --- sharing it --------------------------------------------------------------------------------

CSV_HEADER = (
    "period",
    "currency",
    "group",
    "customers",
    "orders",
    "units",
    "revenue",
    "suppressed",
    "in_total",
)


def _csv_safe(text: str) -> str:
    # SKUs come from the shop's catalogue: a value a spreadsheet would run as a formula is
    # quoted (OWASP: CSV injection).
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def period_label(day: dt.date, granularity: Granularity) -> str:
    if granularity == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return f"{day:%Y-%m}"


def report_rows(report: AggregateReport) -> Iterable[list[str | int]]:
    for block in report.blocks:
        label = period_label(block.period, report.request.granularity)
        for cell in block.cells:
            n = cell.shown
            yield [
                label,
                block.currency,
                _csv_safe(cell.group),
                "" if n is None else n.customers,
                "" if n is None else n.orders,
                "" if n is None or n.units is None else n.units,
                "" if n is None else str(n.revenue),
                cell.suppressed or "",
                "yes" if cell.in_total else "no",
            ]


def report_csv(report: AggregateReport) -> str:
    """Machine-readable: English codes; a suppressed row keeps only its period, currency, group
    and the reason (`fewer_than_k` or `complementary`); `in_total` is "no" for a row the total
    does not count (the status report's cancelled orders)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(report_rows(report))
    return out.getvalue()


@transaction.atomic
def record_export(*, actor: str, actor_role: str, report: AggregateReport) -> None:
    """P12: an aggregate leaves the shop; the audit log keeps which report, its k and how many
    groups were withheld (no personal data: the report holds none)."""
    record_event(
        EventType.AGGREGATE_EXPORTED,
        actor=actor,
        actor_role=actor_role,
        details={
            "report": report.request.label,
            "k": report.request.k,
            "suppressed": report.suppressed,
        },
    )
