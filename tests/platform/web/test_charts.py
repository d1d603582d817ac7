"""The dashboard's SVG bar charts: values become bar heights in proportion, labels are escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from headwater.errors import InvalidRequestError
from headwater.platform.web.charts import PLOT_BOTTOM, PLOT_TOP, Bar, bar_chart, bar_heights, format_value

SVG = "{http://www.w3.org/2000/svg}"


def bars_of(svg: str) -> list[tuple[str, float, float]]:
    """(label, value, height) of each bar, read back from the markup."""
    root = ET.fromstring(svg)
    return [
        (rect.get("data-label"), float(rect.get("data-value")), float(rect.get("height")))
        for rect in root.iter(f"{SVG}rect")
        if rect.get("class") == "bar"
    ]


def test_heights_are_proportional_to_values_with_the_largest_filling_the_plot():
    assert bar_heights([1.0, 2.0, 4.0, 0.0], 100) == [25.0, 50.0, 100.0, 0.0]
    assert bar_heights([0.0, 0.0], 100) == [0.0, 0.0]
    assert bar_heights([], 100) == []


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_a_negative_or_non_finite_value_is_refused_naming_its_bar(bad):
    with pytest.raises(InvalidRequestError, match="bar 1 has value"):
        bar_heights([1.0, bad], 100)


def test_the_chart_draws_one_bar_per_value_on_a_common_baseline():
    svg = bar_chart([Bar("2026-12-01", 3e-4), Bar("2026-12-02", 6e-4), Bar("2026-12-03", 1.5e-4)], "GHG", "kg")
    plot = 240 - PLOT_TOP - PLOT_BOTTOM
    assert bars_of(svg) == [
        ("2026-12-01", 3e-4, pytest.approx(plot / 2, abs=0.01)),
        ("2026-12-02", 6e-4, pytest.approx(plot, abs=0.01)),
        ("2026-12-03", 1.5e-4, pytest.approx(plot / 4, abs=0.01)),
    ]
    root = ET.fromstring(svg)
    bottoms = [float(r.get("y")) + float(r.get("height")) for r in root.iter(f"{SVG}rect")]
    assert bottoms == [pytest.approx(PLOT_TOP + plot, abs=0.02)] * 3
    assert "GHG (kg)" in svg and ">3.00e-04<" in svg  # title and the value over the first bar


def test_labels_are_escaped_and_an_empty_chart_says_so():
    svg = bar_chart([Bar('<m&"x>', 1.0)], "per model", "kWh")
    assert bars_of(svg) == [('<m&"x>', 1.0, pytest.approx(240 - PLOT_TOP - PLOT_BOTTOM))]
    assert "<m&" not in svg
    empty = bar_chart([], "per day", "kWh")
    assert "no data yet" in empty and not re.search(r'class="bar"', empty)
    ET.fromstring(empty)


def test_values_are_formatted_to_three_significant_digits():
    assert [format_value(v) for v in (0.0, 0.012345, 12.345, 1234567.0, 2e-7)] == [
        "0",
        "0.0123",
        "12.3",
        "1.23e+06",
        "2.00e-07",
    ]
