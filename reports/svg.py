"""SVG pictures that need no JavaScript: an SPF include tree and a delivery timeline.

Built from plain dicts (``SpfLint.to_dict()["tree"]``, timeline events) and rendered through the
one autoescaping Environment, so record text and header values are escaped in the SVG.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reports.environment import render
from reports.i18n import format_when

ROW = 22  # pixels per row
INDENT = 18  # pixels per include level
WIDTH = 640
MAX_NODES = 200  # rows drawn; a tree bigger than this is cut with a note
MAX_LABEL = 90  # characters of a record shown per row


@dataclass(frozen=True)
class TimelineEvent:
    """One moment on a delivery timeline: when, what (a short label) and how it went."""

    at: dt.datetime
    label: str
    status: str = "ok"  # ok | warning | problem


def _walk(node: Mapping[str, Any], depth: int) -> Iterator[tuple[int, Mapping[str, Any]]]:
    yield depth, node
    for child in node.get("children", ()):
        yield from _walk(child, depth + 1)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def spf_tree_svg(tree: Mapping[str, Any], *, lang: str = "en") -> str:
    """The include tree as an SVG: one row per node, indented by depth, problems marked."""
    rows = []
    for index, (depth, node) in enumerate(_walk(tree, 0)):
        if index >= MAX_NODES:
            break
        record = str(node.get("record") or "")
        rows.append(
            {
                "x": 8 + depth * INDENT,
                "y": 18 + index * ROW,
                "domain": str(node.get("domain", "")),
                "lookups": node.get("lookups", 0),
                "record": _clip(record),
                "problem": str(node.get("problem") or ""),
                "depth": depth,
            }
        )
    height = 12 + ROW * max(1, len(rows))
    return render(
        "checklist.spf_tree.svg.j2", {"rows": rows, "width": WIDTH, "height": height}, lang=lang
    )


def timeline_svg(events: Sequence[TimelineEvent], *, lang: str = "en") -> str:
    """Events oldest first on a vertical line, with the time since the first one; times in
    UTC, formatted for ``lang`` by Babel."""
    ordered = sorted(events, key=lambda e: e.at)
    first = ordered[0].at if ordered else None
    rows = []
    for index, event in enumerate(ordered[:MAX_NODES]):
        offset = (event.at - first).total_seconds() if first is not None else 0.0
        rows.append(
            {
                "y": 18 + index * ROW,
                "time": format_when(event.at, lang),
                "offset": f"+{offset:.0f} s",
                "label": _clip(event.label),
                "status": event.status if event.status in ("ok", "warning", "problem") else "ok",
            }
        )
    height = 12 + ROW * max(1, len(rows))
    return render(
        "checklist.timeline.svg.j2", {"rows": rows, "width": WIDTH, "height": height}, lang=lang
    )


__all__ = ["TimelineEvent", "spf_tree_svg", "timeline_svg"]
