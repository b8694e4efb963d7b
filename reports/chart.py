"""An SVG chart that needs no JavaScript: a sender domain's messages per day, stacked by the
receivers' disposition (none, quarantine, reject), with the DMARC pass rate as a line.

A small model (``Chart``: size, bars, the rate line and axis labels) built from plain values;
the page includes its template in place, so the one autoescaping Environment writes it. The
words (title, description, legend) come from the caller in the page's language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from reports.environment import render

WIDTH = 640
HEIGHT = 250
LEFT, RIGHT = 48, 600  # the plot's x range
TOP, BOTTOM = 28, 200  # the plot's y range
BAR_SHARE = 0.6  # of each day's slot
MAX_LABELS = 10  # day labels under the bars, at most
DISPOSITIONS = ("none", "quarantine", "reject")
CHART = "reports.chart.svg.j2"


@dataclass(frozen=True)
class ChartDay:
    """One day's figures: messages by disposition and the DMARC pass rate (None: no mail)."""

    day: dt.date
    none: int
    quarantine: int
    reject: int
    dmarc_rate: float | None


@dataclass(frozen=True)
class Segment:
    """One disposition's part of a day's bar."""

    disposition: str
    x: float
    y: float
    width: float
    height: float
    count: int


@dataclass(frozen=True)
class Chart:
    """What the template draws: the bars, the rate line's points and the labels."""

    template: str
    width: int
    height: int
    segments: tuple[Segment, ...]
    rate_points: str  # "x,y x,y …" for a polyline
    day_labels: tuple[tuple[float, str], ...]
    top: int  # messages at the top of the scale
    words: dict[str, str]


def _scale(peak: int) -> int:
    """A round number at or above ``peak`` for the top of the scale."""
    step = 1
    while step * 10 < peak:
        step *= 10
    return max(step, -(-peak // step) * step)


def _segments(x: float, width: float, day: ChartDay, top: int) -> list[Segment]:
    found, base = [], float(BOTTOM)
    for name in DISPOSITIONS:
        count = int(getattr(day, name))
        height = (BOTTOM - TOP) * count / top if top else 0.0
        if count:
            found.append(Segment(name, x, base - height, width, height, count))
        base -= height
    return found


def disposition_chart(days: Sequence[ChartDay], words: dict[str, str]) -> Chart:
    """The chart of ``days`` (oldest first). ``words`` holds ``title``, ``desc``, ``none``,
    ``quarantine``, ``reject`` and ``rate`` in the page's language."""
    top = _scale(max((d.none + d.quarantine + d.reject for d in days), default=0))
    slot = (RIGHT - LEFT) / max(1, len(days))
    every = max(1, -(-len(days) // MAX_LABELS))
    segments: list[Segment] = []
    points, labels = [], []
    for index, day in enumerate(days):
        x = LEFT + index * slot
        segments += _segments(x + slot * (1 - BAR_SHARE) / 2, slot * BAR_SHARE, day, top)
        if day.dmarc_rate is not None:
            y = BOTTOM - (BOTTOM - TOP) * day.dmarc_rate
            points.append(f"{x + slot / 2:.1f},{y:.1f}")
        if index % every == 0:
            labels.append((x + slot / 2, day.day.strftime("%m-%d")))
    return Chart(
        CHART, WIDTH, HEIGHT, tuple(segments), " ".join(points), tuple(labels), top, dict(words)
    )


def disposition_chart_svg(days: Sequence[ChartDay], words: dict[str, str]) -> str:
    """The chart as an SVG element of its own."""
    return render(CHART, svg=disposition_chart(days, words))


__all__ = ["Chart", "ChartDay", "Segment", "disposition_chart", "disposition_chart_svg"]
