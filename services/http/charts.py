"""Charts drawn on the server as SVG: no script, no library, no network. Each chart is an image with
a title and a description for screen readers; the page puts the exact figures in a table beside it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from markupsafe import Markup, escape

# Colours with at least 3:1 contrast on white (WCAG's for graphics); the console's channel colours.
COLOURS = {
    "sms": "#0f766e",
    "email": "#6d28d9",
    "call": "#8a3c00",
    "web": "#1d4ed8",
    "sent": "#5b6475",
    "delivered": "#0f766e",
    "opened": "#2f5bd3",
    "clicked": "#6d28d9",
    "bounced": "#b3261e",
    "unsubscribed": "#8a3c00",
    "complaints": "#7a1c16",
}
FALLBACK = "#475569"
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _colour(series: str) -> str:
    return COLOURS.get(series, FALLBACK)


def _svg(chart_id: str, width: int, height: int, title: str, description: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(description)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def legend(series: Sequence[str]) -> Markup:
    items = "".join(
        f'<li><span class="swatch" style="background:{_colour(s)}" aria-hidden="true"></span>{escape(s)}</li>'
        for s in series
    )
    return Markup(f'<ul class="legend">{items}</ul>')


def stacked_bars(
    chart_id: str, title: str, rows: Sequence[tuple[str, Mapping[str, int]]], series: Sequence[str]
) -> Markup:
    """One horizontal bar per row, a segment per series, its total at the end."""
    label_w, bar_w, row_h, width = 150, 400, 28, 610  # fits half the page
    peak = max([sum(values.values()) for _, values in rows] + [1])
    body = []
    for n, (label, values) in enumerate(rows):
        y = n * row_h + 4
        body.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" {FONT} fill="#1d2330">{escape(label[:28])}</text>'
        )
        x = float(label_w)
        for name in series:
            value = values.get(name, 0)
            if not value:
                continue
            w = value / peak * bar_w
            body.append(
                f'<rect x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" height="20" fill="{_colour(name)}">'
                f"<title>{escape(label)}, {escape(name)}: {value:,}</title></rect>"
            )
            x += w
        body.append(f'<text x="{x + 6:.1f}" y="{y + 15}" {FONT} fill="#1d2330">{sum(values.values()):,}</text>')
    total = sum(sum(v.values()) for _, v in rows)
    description = f"{len(rows)} bars, {total:,} in all; the table below gives every figure."
    return _svg(chart_id, width, max(len(rows), 1) * row_h + 8, title, description, body)


def rate_bars(
    chart_id: str,
    title: str,
    rates: Mapping[str, float | None],
    denominators: Mapping[str, Mapping[str, int | str]],
    counts: Mapping[str, int],
) -> Markup:
    """One bar per rate, 0 to 100 %, saying what it is over: "50 % · 1 of 2 delivered"."""
    label_w, bar_w, row_h, width = 110, 380, 26, 790
    body = []
    for n, (name, rate) in enumerate(rates.items()):
        y = n * row_h + 4
        over = denominators[name]
        body.append(
            f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end" {FONT} fill="#1d2330">{escape(name)}</text>'
        )
        body.append(f'<rect x="{label_w}" y="{y}" width="{bar_w}" height="18" fill="#eef0f4"/>')
        if rate:
            body.append(f'<rect x="{label_w}" y="{y}" width="{rate * bar_w:.1f}" height="18" fill="{_colour(name)}"/>')
        shown = "no rate" if rate is None else f"{rate:.0%}"
        text = f"{shown} · {counts.get(name, 0):,} of {over['people']:,} {over['indicator']}"
        body.append(f'<text x="{label_w + bar_w + 8}" y="{y + 14}" {FONT} fill="#1d2330">{escape(text)}</text>')
    description = "; ".join(
        f"{name} {'no rate' if rate is None else f'{rate:.0%}'} over {denominators[name]['indicator']}"
        for name, rate in rates.items()
    )
    return _svg(chart_id, width, len(rates) * row_h + 8, title, description, body)


def day_columns(
    chart_id: str, title: str, days: Sequence[tuple[date, Mapping[str, int]]], series: Sequence[str]
) -> Markup:
    """People per day: a group of columns a day, one per series, with the days along the bottom."""
    width, height, left, bottom, top = 790, 230, 44, 26, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max([v for _, values in days for v in values.values()] + [1])
    group_w = plot_w / max(len(days), 1)
    column_w = max(min(group_w * 0.8 / max(len(series), 1), 18), 1)
    body = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#9aa3b5"/>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" {FONT} fill="#5b6475">{peak:,}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" {FONT} fill="#5b6475">0</text>',
    ]
    label_every = max(1, len(days) // 8)
    for n, (day, values) in enumerate(days):
        x0 = left + n * group_w + (group_w - column_w * len(series)) / 2
        for k, name in enumerate(series):
            value = values.get(name, 0)
            if value:
                h = value / peak * plot_h
                body.append(
                    f'<rect x="{x0 + k * column_w:.1f}" y="{top + plot_h - h:.1f}" width="{column_w:.1f}" '
                    f'height="{h:.1f}" fill="{_colour(name)}"><title>{day.isoformat()}, {escape(name)}: {value:,}'
                    "</title></rect>"
                )
        if n % label_every == 0:
            body.append(
                f'<text x="{left + (n + 0.5) * group_w:.1f}" y="{height - 8}" text-anchor="middle" {FONT} '
                f'fill="#5b6475">{day.strftime("%d %b")}</text>'
            )
    description = f"{len(days)} days from {days[0][0].isoformat()} to {days[-1][0].isoformat()}" if days else "no day"
    return _svg(chart_id, width, height, title, description + "; the table below gives every figure.", body)
