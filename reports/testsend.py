"""The test-send report: one view-model over ``TestSendResult`` values, rendered as text,
Markdown, HTML or JSON in nb or en.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from diag.findings import Finding
from diag.testsend import TestSendResult
from reports.catalog_checklist import CHECKLIST_CATALOG
from reports.environment import render_report
from reports.vocabulary import FORMATS, Format, JsonObject, Language, ReportKind, language

TESTSEND_FORMATS = FORMATS[ReportKind.TESTSEND]
_TEMPLATES = {
    Format.TEXT: "testsend.txt.j2",
    Format.MARKDOWN: "testsend.md.j2",
    Format.HTML: "testsend.html.j2",
}


@dataclass(frozen=True)
class TestSendView:
    """Every test send's outcome, in one language."""

    __test__ = False

    lang: Language
    results: tuple[TestSendResult, ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def all_pass(self) -> bool:
        return all(r.would_reach_inbox for r in self.results)

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every send's findings, then the findings on its content."""
        return tuple(f for r in self.results for f in (*r.findings, *r.content))


def testsend_view(results: Sequence[TestSendResult], *, lang: str) -> TestSendView:
    """The view of ``results`` in ``lang``. Raises ValueError for an unknown language."""
    chosen = language(lang)
    catalog = CHECKLIST_CATALOG[chosen]
    labels = {k.removeprefix("ui."): v for k, v in catalog.items() if k.startswith("ui.")}
    labels.update({k: v for k, v in catalog.items() if k.startswith(("folder.", "testsend."))})
    return TestSendView(chosen, tuple(results), labels)


def testsend_json(view: TestSendView) -> JsonObject:
    """``{results, would_reach_inbox, findings}``."""
    return {
        "results": [r.to_dict() for r in view.results],
        "would_reach_inbox": view.all_pass,
        "findings": [f.to_dict() for f in view.findings],
    }


def render_testsend(view: TestSendView, *, fmt: str) -> str:
    """``view`` as text, markdown, html (standalone) or json. Raises ValueError otherwise."""
    return render_report(
        ReportKind.TESTSEND,
        fmt,
        _TEMPLATES,
        lambda: testsend_json(view),
        view=view,
        labels=view.labels,
    )


__all__ = ["TESTSEND_FORMATS", "TestSendView", "render_testsend", "testsend_json", "testsend_view"]
