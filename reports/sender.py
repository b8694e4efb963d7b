"""The sender report: one view-model over the sender reports' JSON (configured identities or
bare domains), rendered as text, Markdown, HTML (autoescaped) or JSON with pass/fail marks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reports.catalog_auth import finding_text, translate_auth
from reports.environment import render

SENDER_FORMATS = ("text", "markdown", "html", "json")
STATUS_MARKS = {"ok": "✔", "problem": "✘", "warning": "!", "not_checked": "!"}
SEVERITY_MARKS = {"ok": "✔", "error": "✘", "warning": "!", "info": "·"}


@dataclass(frozen=True)
class SenderView:
    """Every sender report shown, in order, and all their findings."""

    reports: tuple[Mapping[str, Any], ...]
    sections: tuple[str, ...]

    @property
    def findings(self) -> list[Mapping[str, Any]]:
        return [f for report in self.reports for f in report.get("findings", ())]

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.get("severity") == "error")

    def to_dict(self) -> dict[str, Any]:
        return {"findings": self.findings, "identities": [dict(r) for r in self.reports]}


def build_sender_view(reports: Sequence[Mapping[str, Any]], sections: Sequence[str]) -> SenderView:
    """A view from ``SenderReport.to_dict()`` values; ``sections`` gives the display order."""
    return SenderView(tuple(reports), tuple(sections))


def render_sender(view: SenderView, *, fmt: str = "text", lang: str = "nb") -> str:
    """Render ``view`` as text, markdown, html or json.

    Raises ValueError for another format or language.
    """
    if fmt == "json":
        return json.dumps(view.to_dict(), indent=2, ensure_ascii=False) + "\n"
    template = {"text": "sender.txt.j2", "markdown": "sender.md.j2", "html": "sender.html.j2"}.get(
        fmt
    )
    if template is None:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(SENDER_FORMATS)}")
    return render_auth_template(template, {"v": view}, lang=lang)


def render_auth_template(template: str, context: Mapping[str, Any], *, lang: str) -> str:
    """Render through the shared Environment with this area's catalog (and marks) in scope."""
    marks = {"status_mark": STATUS_MARKS, "severity_mark": SEVERITY_MARKS}
    return render(
        template,
        {**context, **marks},
        lang=lang,
        translate=translate_auth,
        finding_text=finding_text,
    )
