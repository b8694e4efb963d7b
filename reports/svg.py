"""SVG pictures that need no JavaScript: an SPF include tree and a delivery timeline.

Each is a small model (``Picture``: its template, size and rows) built from plain values
(an SPF tree as its JSON gives it, timeline events); a report's template includes the
picture's template in place, and ``spf_tree_svg``/``timeline_svg`` render one on its own.
Either way the one autoescaping Environment escapes record text and header values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from reports.environment import render
from reports.i18n import format_when
from reports.vocabulary import Language, language

ROW = 22  # pixels per row
INDENT = 18  # pixels per include level
WIDTH = 640
MAX_NODES = 200  # rows drawn; a tree bigger than this is cut with a note
MAX_LABEL = 90  # characters of a record shown per row
SPF_TREE = "checklist.spf_tree.svg.j2"
TIMELINE = "checklist.timeline.svg.j2"
_TIMELINE_STATUSES = ("ok", "warning", "problem")


@dataclass(frozen=True)
class TimelineEvent:
    """One moment on a delivery timeline: when, what (a short label) and how it went."""

    at: dt.datetime
    label: str
    status: str = "ok"  # ok | warning | problem


@dataclass(frozen=True)
class TreeRow:
    """One SPF record of the tree: where it is drawn, its domain, lookups, record and problem."""

    x: int
    y: int
    domain: str
    lookups: object
    record: str
    problem: str
    depth: int


@dataclass(frozen=True)
class TimelineRow:
    """One event of the timeline: where it is drawn, when, how long after the first, what."""

    y: int
    time: str
    offset: str
    label: str
    status: str


@dataclass(frozen=True)
class Picture:
    """An SVG picture: the template that draws it, its size and its rows."""

    template: str
    width: int
    height: int
    rows: tuple[TreeRow, ...] | tuple[TimelineRow, ...]


def _children(node: Mapping[str, object]) -> Iterator[Mapping[str, object]]:
    children = node.get("children")
    for child in children if isinstance(children, list | tuple) else ():
        if isinstance(child, Mapping):
            yield child


def _walk(node: Mapping[str, object], depth: int) -> Iterator[tuple[int, Mapping[str, object]]]:
    yield depth, node
    for child in _children(node):
        yield from _walk(child, depth + 1)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _height(rows: int) -> int:
    return 12 + ROW * max(1, rows)


def _tree_row(index: int, depth: int, node: Mapping[str, object]) -> TreeRow:
    return TreeRow(
        x=8 + depth * INDENT,
        y=18 + index * ROW,
        domain=str(node.get("domain", "")),
        lookups=node.get("lookups", 0),
        record=_clip(str(node.get("record") or "")),
        problem=str(node.get("problem") or ""),
        depth=depth,
    )


def spf_tree_picture(tree: Mapping[str, object]) -> Picture:
    """The include tree (``SpfNode.to_dict()``): one row per node, indented by depth."""
    rows = tuple(
        _tree_row(index, depth, node)
        for index, (depth, node) in zip(range(MAX_NODES), _walk(tree, 0), strict=False)
    )
    return Picture(SPF_TREE, WIDTH, _height(len(rows)), rows)


def timeline_picture(events: Sequence[TimelineEvent], *, lang: Language) -> Picture:
    """Events oldest first on a vertical line, with the time since the first one; times in
    UTC, formatted for ``lang`` by Babel."""
    ordered = sorted(events, key=lambda e: e.at)
    rows = tuple(
        TimelineRow(
            y=18 + index * ROW,
            time=format_when(event.at, lang),
            offset=f"+{(event.at - ordered[0].at).total_seconds():.0f} s",
            label=_clip(event.label),
            status=event.status if event.status in _TIMELINE_STATUSES else "ok",
        )
        for index, event in enumerate(ordered[:MAX_NODES])
    )
    return Picture(TIMELINE, WIDTH, _height(len(rows)), rows)


def spf_tree_svg(tree: Mapping[str, object]) -> str:
    """The include tree as an SVG document of its own."""
    return render(SPF_TREE, svg=spf_tree_picture(tree))


def timeline_svg(events: Sequence[TimelineEvent], *, lang: str = "en") -> str:
    """The timeline as an SVG document of its own. Raises ValueError for an unknown language."""
    return render(TIMELINE, svg=timeline_picture(events, lang=language(lang)))


__all__ = [
    "Picture",
    "TimelineEvent",
    "TimelineRow",
    "TreeRow",
    "spf_tree_picture",
    "spf_tree_svg",
    "timeline_picture",
    "timeline_svg",
]
