"""The sender report: one view-model over ``SenderReport`` values (configured identities or
bare domains), rendered as text, Markdown, HTML (autoescaped) or JSON with pass/fail marks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from diag.findings import Finding
from diag.senders import Section, SenderReport
from reports.environment import render_report
from reports.vocabulary import FORMATS, Format, JsonObject, Language, ReportKind, language
from reports.wording import AuthWorded

SENDER_FORMATS = FORMATS[ReportKind.SENDER]
_TEMPLATES = {
    Format.TEXT: "sender.txt.j2",
    Format.MARKDOWN: "sender.md.j2",
    Format.HTML: "sender.html.j2",
}


@dataclass(frozen=True)
class IdentityFacts:
    """What a configured identity sends with (empty for a bare domain)."""

    envelope_domain: str = ""
    dkim_domain: str = ""
    selectors: tuple[str, ...] = ()
    egress_ips: tuple[str, ...] = ()
    helo: str = ""


@dataclass(frozen=True)
class SenderRow:
    """One identity or domain as shown: its sections in display order and its own findings."""

    report: SenderReport
    identity: IdentityFacts
    sections: tuple[Section, ...]

    @property
    def kind(self) -> str:
        return self.report.kind

    @property
    def subject(self) -> str:
        return self.report.subject

    @property
    def status(self) -> str:
        """``problem`` when any finding is an error, else ``ok``."""
        return "problem" if self.report.has_errors else "ok"

    @property
    def general(self) -> tuple[Finding, ...]:
        """The findings that belong to no section."""
        return self.report.extra_findings


@dataclass(frozen=True)
class SenderView(AuthWorded):
    """Every sender report shown, in order, in one language."""

    lang: Language
    rows: tuple[SenderRow, ...]

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for row in self.rows for f in row.report.findings)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")


def _texts(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def _identity(facts: Mapping[str, object]) -> IdentityFacts:
    return IdentityFacts(
        envelope_domain=str(facts.get("envelope_domain") or ""),
        dkim_domain=str(facts.get("dkim_domain") or ""),
        selectors=_texts(facts.get("selectors")),
        egress_ips=_texts(facts.get("egress_ips")),
        helo=str(facts.get("helo") or ""),
    )


def _row(report: SenderReport, sections: Sequence[str]) -> SenderRow:
    shown = tuple(s for key in sections if (s := report.section(key)) is not None)
    return SenderRow(report, _identity(report.identity), shown)


def sender_view(
    reports: Sequence[SenderReport], *, lang: str, sections: Sequence[str]
) -> SenderView:
    """The view of ``reports`` in ``lang``, each showing its ``sections`` in that order.

    Raises ValueError for an unknown language.
    """
    return SenderView(language(lang), tuple(_row(r, sections) for r in reports))


def sender_json(view: SenderView) -> JsonObject:
    """``{findings, identities}``: every report's JSON and all their findings."""
    return {
        "findings": [f.to_dict() for f in view.findings],
        "identities": [row.report.to_dict() for row in view.rows],
    }


def render_sender(view: SenderView, *, fmt: str = Format.TEXT) -> str:
    """Render ``view`` as text, markdown, html or json. Raises ValueError for another format."""
    return render_report(ReportKind.SENDER, fmt, _TEMPLATES, lambda: sender_json(view), v=view)


__all__ = [
    "SENDER_FORMATS",
    "IdentityFacts",
    "SenderRow",
    "SenderView",
    "render_sender",
    "sender_json",
    "sender_view",
]
