"""The disposition chart: bars stacked by disposition on a round scale, the DMARC rate line
only through days with mail, thinned day labels, and its words escaped."""

from __future__ import annotations

import datetime as dt
import re

from reports import ChartDay, disposition_chart, disposition_chart_svg

WORDS = {
    "title": "<script>x</script>",
    "desc": "d",
    "none": "Delivered",
    "quarantine": "Quarantined",
    "reject": "Rejected",
    "rate": "Passed DMARC",
}
DAY = dt.date(2026, 12, 1)


def test_bars_stack_on_a_round_scale_and_the_line_skips_days_without_mail() -> None:
    days = [ChartDay(DAY, 30, 5, 2, 0.5), ChartDay(DAY + dt.timedelta(days=1), 0, 0, 0, None)]
    chart = disposition_chart(days, WORDS)
    assert chart.top == 40
    heights = {s.disposition: round(s.height, 1) for s in chart.segments}
    assert heights == {"none": 129.0, "quarantine": 21.5, "reject": 8.6}
    bottoms = [round(s.y + s.height, 1) for s in chart.segments]
    assert bottoms == [200.0, 71.0, 49.5]  # each part sits on the one below
    assert chart.rate_points.count(",") == 1
    assert chart.rate_points.endswith(",114.0")


def test_at_most_ten_day_labels() -> None:
    days = [ChartDay(DAY + dt.timedelta(days=n), 1, 0, 0, 1.0) for n in range(90)]
    assert len(disposition_chart(days, WORDS).day_labels) == 10


def test_the_svg_is_accessible_and_escapes_its_words() -> None:
    svg = disposition_chart_svg([ChartDay(DAY, 1, 1, 1, 1 / 3)], WORDS)
    assert 'role="img" aria-labelledby="chart-title chart-desc"' in svg
    assert "<script>" not in svg
    assert "&lt;script&gt;x&lt;/script&gt;" in svg
    assert len(re.findall(r"<rect x=\S+ y=", svg)) == 3  # the bars, not the legend
    assert "style=" not in svg  # the CSP allows no inline styles
