"""Bar charts as inline SVG, drawn here so the dashboard needs no chart library, no build step and no CDN.

A chart is a pure function of its bars: the same values give the same markup, which the tests read back (each
bar is a `<rect class="bar">` whose `data-value` and height carry the value). Heights are linear from zero, so
bars compare by length; every label and title is XML-escaped, since model names come from users.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from headwater.errors import InvalidRequestError

PLOT_TOP = 40.0
"""Room above the plot for the title."""
PLOT_BOTTOM = 44.0
"""Room below the plot for the bars' labels."""
PLOT_LEFT = 8.0


@dataclass(frozen=True)
class Bar:
    """One bar: what it is (a day, a model) and its value."""

    label: str
    value: float


def bar_heights(values: Sequence[float], plot_height: float) -> list[float]:
    """Each value's bar height: the largest value fills `plot_height`, zero is no bar, all zeros are all empty.
    A negative or non-finite value is refused (impacts are never negative), naming the bar's position."""
    for index, value in enumerate(values):
        if not math.isfinite(value) or value < 0:
            raise InvalidRequestError(
                f"bar {index} has value {value!r}; a bar chart needs finite values ≥ 0 (drop or zero that bar)",
                param="value",
            )
    top = max(values, default=0.0)
    return [value / top * plot_height if top > 0 else 0.0 for value in values]


def format_value(value: float) -> str:
    """Three significant digits, in the scientific form only for very small or large numbers."""
    if value == 0:
        return "0"
    return f"{value:.3g}" if 1e-3 <= abs(value) < 1e6 else f"{value:.2e}"


def bar_chart(bars: Sequence[Bar], title: str, unit: str, width: float = 640, height: float = 240) -> str:
    """An SVG bar chart of `bars`, left to right, with each value above its bar and its label below."""
    plot_height = height - PLOT_TOP - PLOT_BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width:g} {height:g}" '
        f'width="{width:g}" height="{height:g}" aria-label={quoteattr(f"{title} ({unit})")}>',
        f'<text class="chart-title" x="{PLOT_LEFT:g}" y="18">{escape(title)} ({escape(unit)})</text>',
    ]
    if not bars:
        parts.append(f'<text class="chart-empty" x="{width / 2:g}" y="{height / 2:g}" text-anchor="middle">')
        parts.append("no data yet</text></svg>")
        return "".join(parts)
    slot = (width - 2 * PLOT_LEFT) / len(bars)
    bar_width = min(80.0, max(2.0, slot * 0.7))
    baseline = PLOT_TOP + plot_height
    for index, (bar, bar_height) in enumerate(
        zip(bars, bar_heights([b.value for b in bars], plot_height), strict=True)
    ):
        x = PLOT_LEFT + index * slot + (slot - bar_width) / 2
        middle = x + bar_width / 2
        label, value = escape(bar.label), format_value(bar.value)
        parts.append(
            f'<rect class="bar" x="{x:.2f}" y="{baseline - bar_height:.2f}" width="{bar_width:.2f}" '
            f'height="{bar_height:.2f}" data-label={quoteattr(bar.label)} data-value="{float(bar.value)!r}">'
            f"<title>{label}: {value} {escape(unit)}</title></rect>"
            f'<text class="bar-value" x="{middle:.2f}" y="{baseline - bar_height - 4:.2f}" '
            f'text-anchor="middle">{value}</text>'
            f'<text class="bar-label" x="{middle:.2f}" y="{baseline + 16:.2f}" text-anchor="middle">'
            f"{escape(_shorten(bar.label, slot))}</text>"
        )
    parts.append(
        f'<line class="axis" x1="{PLOT_LEFT:g}" x2="{width - PLOT_LEFT:g}" y1="{baseline:g}" y2="{baseline:g}"/></svg>'
    )
    return "".join(parts)


def _shorten(label: str, room: float) -> str:
    """The label cut to what fits under its bar (about 7 px a character), with an ellipsis when cut."""
    fits = max(3, int(room / 7))
    return label if len(label) <= fits else label[: fits - 1] + "…"
