"""Small, dependency-free SVG charts for the HTML report.

Static SVG (no script needed to draw it) renders in any browser, prints, and survives
being mailed around; each point carries a ``<title>`` so hovering shows its value.
Every label is escaped: job and branch names come from CI configuration, not from us.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 36
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

Formatter = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    color: str
    values: Sequence[float | None]


def nice_step(span: float, ticks: int = 4) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) covering `span` in `ticks`."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return float(factor * power)
    return float(10 * power)


def _open(chart_id: str, title: str) -> list[str]:
    return [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]


def _empty(parts: list[str]) -> str:
    parts.append(
        f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
        "No data in this window</text></svg>"
    )
    return "\n".join(parts)


def _y_axis(parts: list[str], top: float, fmt: Formatter) -> Callable[[float], float]:
    step = nice_step(top)
    top = step * math.ceil(top / step) if top > 0 else step
    value = 0.0
    while value <= top + step / 2:
        y = TOP + PLOT_H - value / top * PLOT_H
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(value))}</text>"
        )
        value += step
    return lambda v: TOP + PLOT_H - v / top * PLOT_H


def _x_positions(count: int) -> list[float]:
    if count == 1:
        return [LEFT + PLOT_W / 2]
    return [LEFT + PLOT_W * i / (count - 1) for i in range(count)]


def _x_labels(parts: list[str], labels: Sequence[str], xs: Sequence[float]) -> None:
    every = max(1, math.ceil(len(labels) / 8))
    for index in range(0, len(labels), every):
        parts.append(
            f'<text class="tick" x="{xs[index]:.1f}" y="{TOP + PLOT_H + 18}" '
            f'text-anchor="middle">{escape(labels[index][5:])}</text>'
        )


def _legend(parts: list[str], series: Sequence[Series]) -> None:
    x = LEFT
    for item in series:
        parts.append(
            f'<rect x="{x}" y="8" width="12" height="4" fill="{item.color}"/>'
            f'<text class="legend" x="{x + 16}" y="14">{escape(item.name)}</text>'
        )
        x += 24 + 8 * len(item.name)


def line_chart(
    chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series], fmt: Formatter
) -> str:
    """Lines over days; a day without a value breaks the line rather than inventing one."""
    parts = _open(chart_id, title)
    known = [v for s in series for v in s.values if v is not None]
    if not labels or not known:
        return _empty(parts)
    to_y = _y_axis(parts, max(known), fmt)
    xs = _x_positions(len(labels))
    _x_labels(parts, labels, xs)
    for item in series:
        path, pen_down = [], False
        for x, value in zip(xs, item.values, strict=True):
            if value is None:
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{x:.1f},{to_y(value):.1f}")
            pen_down = True
        parts.append(f'<path class="line" d="{" ".join(path)}" stroke="{item.color}" fill="none"/>')
        for x, label, value in zip(xs, labels, item.values, strict=True):
            if value is not None:
                parts.append(
                    f'<circle class="point" cx="{x:.1f}" cy="{to_y(value):.1f}" r="3" '
                    f'fill="{item.color}"><title>{escape(label)} {escape(item.name)}: '
                    f"{escape(fmt(value))}</title></circle>"
                )
    _legend(parts, series)
    parts.append("</svg>")
    return "\n".join(parts)


def rate_color(rate: float) -> str:
    return "#2e9e5b" if rate >= 0.9 else "#e0a526" if rate >= 0.7 else "#d64545"


def rate_bars(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    rates: Sequence[float | None],
    counts: Sequence[int],
) -> str:
    """One bar per day, 0-100 %, green / amber / red at 90 % and 70 %."""
    parts = _open(chart_id, title)
    if not any(r is not None for r in rates):
        return _empty(parts)
    to_y = _y_axis(parts, 1.0, lambda v: f"{v * 100:.0f}%")
    slot = PLOT_W / len(labels)
    xs = [LEFT + slot * (i + 0.5) for i in range(len(labels))]
    _x_labels(parts, labels, xs)
    for x, label, value, count in zip(xs, labels, rates, counts, strict=True):
        if value is None:
            continue
        y = to_y(value)
        parts.append(
            f'<rect class="bar" x="{x - slot * 0.4:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}" '
            f'height="{TOP + PLOT_H - y:.1f}" fill="{rate_color(value)}">'
            f"<title>{escape(label)}: {value * 100:.1f}% of {count} runs</title></rect>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def ranked_bars(
    chart_id: str, title: str, rows: Sequence[tuple[str, float, str]], color: str
) -> str:
    """Horizontal bars, longest first: (label, value, tooltip) per row."""
    height = max(HEIGHT, TOP + 26 * len(rows) + 12)
    parts = _open(chart_id, title)
    parts[0] = parts[0].replace(f"0 0 {WIDTH} {HEIGHT}", f"0 0 {WIDTH} {height}")
    if not rows:
        return _empty(parts)
    label_w = 260
    top = max(value for _, value, _ in rows) or 1.0
    for index, (label, value, tip) in enumerate(rows):
        y = TOP + index * 26
        width = (WIDTH - label_w - 60) * value / top
        short = label if len(label) <= 40 else label[:39] + "…"
        parts.append(
            f'<text class="tick" x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(short)}</text>"
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{max(width, 2):.1f}" '
            f'height="18" fill="{color}"><title>{escape(tip)}</title></rect>'
            f'<text class="value" x="{label_w + max(width, 2) + 6:.1f}" y="{y + 16}">'
            f"{value:g}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
