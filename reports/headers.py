"""The headers report: one view-model over ``HeaderReport.to_dict()`` (hops, authentication,
verdicts, conclusion), rendered as text, Markdown or JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reports.recipient import render_recipient_template

HEADERS_FORMATS = ("text", "markdown", "html", "json")


@dataclass(frozen=True)
class HeadersView:
    """The header analysis as reported; ``source`` names the input (a file name or ``-``)."""

    report: Mapping[str, Any]
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The ``headers`` JSON of DESIGN.md, unchanged."""
        return dict(self.report)


def build_headers_view(report: Mapping[str, Any], *, source: str = "") -> HeadersView:
    return HeadersView(report, source)


def render_headers(view: HeadersView, *, fmt: str = "text", lang: str = "nb") -> str:
    """Render ``view`` as text, markdown, html (autoescaped) or json.

    Raises ValueError for another format or language.
    """
    if fmt == "json":
        return json.dumps(view.to_dict(), indent=2, ensure_ascii=False) + "\n"
    template = {
        "text": "headers.txt.j2",
        "markdown": "headers.md.j2",
        "html": "headers.html.j2",
    }.get(fmt)
    if template is None:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(HEADERS_FORMATS)}")
    return render_recipient_template(template, {"v": view, "r": view.report}, lang=lang)


__all__ = ["HEADERS_FORMATS", "HeadersView", "build_headers_view", "render_headers"]
