"""The test-send report: one view-model over ``TestSendResult`` values, rendered as text,
Markdown, HTML or JSON in nb or en.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from diag.testsend import TestSendResult
from reports.catalog_checklist import CHECKLIST_CATALOG
from reports.environment import LANGUAGES, render

FORMATS = ("text", "markdown", "html", "json")
_TEMPLATES = {"text": "testsend.txt.j2", "markdown": "testsend.md.j2", "html": "testsend.html.j2"}


@dataclass(frozen=True)
class TestSendView:
    """Every test send's outcome, in one language."""

    __test__ = False

    lang: str
    results: tuple[Mapping[str, Any], ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def all_pass(self) -> bool:
        return all(r["would_reach_inbox"] for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        findings = [f for r in self.results for f in r["findings"]]
        return {
            "results": [dict(r) for r in self.results],
            "would_reach_inbox": self.all_pass,
            "findings": findings,
        }


def testsend_view(results: Sequence[TestSendResult], *, lang: str) -> TestSendView:
    """The view of ``results`` in ``lang``. Raises ValueError for an unknown language."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}")
    catalog = CHECKLIST_CATALOG[lang]
    labels = {k.removeprefix("ui."): v for k, v in catalog.items() if k.startswith("ui.")}
    labels.update({k: v for k, v in catalog.items() if k.startswith(("folder.", "testsend."))})
    return TestSendView(lang, tuple(r.to_dict() for r in results), labels)


def render_testsend(view: TestSendView, *, fmt: str) -> str:
    """``view`` as text, markdown, html (standalone) or json. Raises ValueError otherwise."""
    if fmt == "json":
        return json.dumps(view.to_dict(), ensure_ascii=False, indent=2) + "\n"
    if fmt not in _TEMPLATES:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return render(_TEMPLATES[fmt], {"view": view, "labels": view.labels}, lang=view.lang)


__all__ = ["FORMATS", "TestSendView", "render_testsend", "testsend_view"]
