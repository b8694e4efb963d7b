"""The SPF report: one view-model built from check_host's ``SpfResult`` (and lint's
``SpfLint``), rendered as text, Markdown, HTML or JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from diag.checklist import jsonable
from diag.findings import Finding
from diag.spf import SpfLint, SpfResult, TraceStep
from reports.environment import render_report
from reports.vocabulary import FORMATS, Format, JsonObject, Language, ReportKind, language
from reports.wording import AuthWorded

SPF_FORMATS = FORMATS[ReportKind.SPF]
_TEMPLATES = {Format.TEXT: "spf.txt.j2", Format.MARKDOWN: "spf.md.j2", Format.HTML: "spf.html.j2"}


@dataclass(frozen=True)
class TraceRow:
    """One step of the evaluation as shown; ``records`` the TXT records a lookup found."""

    kind: str
    depth: int
    text: str
    outcome: str
    records: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpfView(AuthWorded):
    """Everything an SPF report shows, in one language."""

    lang: Language
    domain: str
    ip: str
    sender: str
    result: SpfResult
    trace: tuple[TraceRow, ...]
    findings: tuple[Finding, ...]
    lint: SpfLint | None = None


def _row(step: TraceStep) -> TraceRow:
    # A lookup lists its records; other steps may count them (exp=, RFC 7208 §6.2).
    records = step.detail.get("records")
    shown = tuple(str(r) for r in records) if isinstance(records, list | tuple) else ()
    return TraceRow(step.kind, step.depth, step.text, step.outcome, shown)


def _merged(found: Iterable[Finding], more: Iterable[Finding]) -> tuple[Finding, ...]:
    """``found``, then each of ``more`` that is not already there (same code and evidence)."""
    findings = list(found)
    seen = {(f.code, str(jsonable(f.evidence))) for f in findings}
    findings += [f for f in more if (f.code, str(jsonable(f.evidence))) not in seen]
    return tuple(findings)


def spf_view(
    result: SpfResult, *, lang: str, ip: str, sender: str, lint: SpfLint | None = None
) -> SpfView:
    """The view of ``result`` (and ``lint``'s findings too) in ``lang``.

    Raises ValueError for an unknown language.
    """
    return SpfView(
        lang=language(lang),
        domain=result.domain,
        ip=ip,
        sender=sender,
        result=result,
        trace=tuple(_row(step) for step in result.trace),
        findings=_merged(result.findings, lint.findings if lint is not None else ()),
        lint=lint,
    )


def spf_json(view: SpfView) -> JsonObject:
    """The ``spf`` JSON of DESIGN.md: ``result``, ``explanation``, ``lookups``,
    ``void_lookups``, ``trace``, ``findings`` (and ``lint`` when it ran)."""
    data: JsonObject = {
        "domain": view.domain,
        "ip": view.ip,
        "sender": view.sender,
        **view.result.to_dict(),
        "findings": [f.to_dict() for f in view.findings],
    }
    if view.lint is not None:
        data["lint"] = view.lint.to_dict()
    return data


def render_spf(view: SpfView, *, fmt: str = Format.TEXT) -> str:
    """Render ``view`` as ``fmt`` (text, markdown, html or json). Raises ValueError for others."""
    return render_report(ReportKind.SPF, fmt, _TEMPLATES, lambda: spf_json(view), v=view)


__all__ = ["SPF_FORMATS", "SpfView", "TraceRow", "render_spf", "spf_json", "spf_view"]
