"""A stacked bar chart drawn as SVG on the server: no JavaScript, no library, nothing inline that
the Content-Security-Policy would block (colours are presentation attributes, not `style`).

Accessible by construction: the `<svg>` is `role="img"` labelled by its `<title>` and `<desc>`,
each bar carries a `<title>` (a tooltip for the mouse), and the page puts the same numbers in a
table for screen readers and for anyone who would rather read.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Okabe-Ito: distinguishable with the common colour-vision deficiencies (yellow left out: too
# light on white).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#999999")
INK = "#5b6475"
GRID = "#d9dee7"
# Drawn small with large type, so that scaled down to a phone's width the text stays readable.
WIDTH = 520
PLOT_HEIGHT = 180
LEFT, RIGHT, TOP = 40, 18, 14
AXIS_LABELS = 30
LEGEND_ROW = 22
LEGEND_COLUMNS = 2
FONT_SIZE = 13
STEPS = (1, 2, 3, 4, 5, 6, 8, 10)


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 3, 4, 5, 6, 8 × 10^k at least `value`: an axis that ends on a round
    number without leaving half the plot empty."""
    if value <= 1:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in STEPS:
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def _day_label(day: dt.date) -> str:
    return f"{day.day}/{day.month}"


def stacked_bars(
    *,
    chart_id: str,
    title: str,
    description: str,
    days: Sequence[dt.date],
    series: Sequence[tuple[str, str]],
    counts: Mapping[tuple[dt.date, str], int],
    day_label: Callable[[dt.date], str] = _day_label,
) -> SafeString:
    """One bar per day, stacked by series (`(key, label)` in drawing order); one `<rect>` per
    (day, series) with a count above zero."""
    legend_rows = math.ceil(len(series) / LEGEND_COLUMNS) if series else 0
    height = TOP + PLOT_HEIGHT + AXIS_LABELS + legend_rows * LEGEND_ROW + 6
    plot_width = WIDTH - LEFT - RIGHT
    slot = plot_width / max(1, len(days))
    bar = slot * 0.7
    label_every = 1 if slot >= 40 else 2
    totals = [sum(counts.get((d, key), 0) for key, _ in series) for d in days]
    top = nice_ceiling(max(totals, default=0))
    scale = PLOT_HEIGHT / top
    base = TOP + PLOT_HEIGHT

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" id="{chart_id}" '
        'font-family="Noto Sans, Segoe UI, Roboto, system-ui, sans-serif" '
        f'font-size="{FONT_SIZE}">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    # Horizontal grid with the axis values: 0, half, top (whole numbers only).
    ticks = sorted({0, top // 2, top}) if top >= 2 else [0, top]
    for tick in ticks:
        y = base - tick * scale
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{INK}">{tick}</text>'
        )
    for i, day in enumerate(days):
        x = LEFT + i * slot + (slot - bar) / 2
        y = float(base)
        for index, (key, label) in enumerate(series):
            n = counts.get((day, key), 0)
            if n <= 0:
                continue
            h = n * scale
            y -= h
            out.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour(index)}" data-day="{day.isoformat()}" data-purpose="{escape(key)}">'
                f"<title>{escape(day_label(day))} · {escape(label)}: {n}</title></rect>"
            )
        if (len(days) - 1 - i) % label_every == 0:  # the latest day always has its label
            out.append(
                f'<text x="{LEFT + i * slot + slot / 2:.1f}" y="{base + 18}" '
                f'text-anchor="middle" fill="{INK}">{escape(day_label(day))}</text>'
            )
    legend_top = base + AXIS_LABELS
    column = plot_width / LEGEND_COLUMNS
    for index, (_, label) in enumerate(series):
        row, col = divmod(index, LEGEND_COLUMNS)
        lx = LEFT + col * column
        ly = legend_top + row * LEGEND_ROW
        short = label if len(label) <= 30 else label[:28] + "…"
        out.append(
            f'<rect x="{lx:.1f}" y="{ly:.1f}" width="12" height="12" fill="{colour(index)}"/>'
            f'<text x="{lx + 17:.1f}" y="{ly + 11:.1f}" fill="{INK}">{escape(short)}</text>'
        )
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every text above is escaped
