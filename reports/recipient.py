"""The recipient report: one view-model over the ``MxReport`` and the optional SMTP probe's
``ProbeReport``, rendered as text, Markdown, HTML or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from diag.findings import Finding
from diag.mx import MxReport
from diag.probe import ProbeReport
from reports.environment import render_report
from reports.vocabulary import FORMATS, Format, JsonObject, Language, ReportKind, language
from reports.wording import RecipientWorded

RECIPIENT_FORMATS = FORMATS[ReportKind.RECIPIENT]
_TEMPLATES = {
    Format.TEXT: "recipient.txt.j2",
    Format.MARKDOWN: "recipient.md.j2",
    Format.HTML: "recipient.html.j2",
}


@dataclass(frozen=True)
class RecipientView(RecipientWorded):
    """The recipient (an address or a bare domain), its MX report and the probe, if run."""

    lang: Language
    subject: str
    domain: str
    address: str | None
    mx: MxReport
    probe: ProbeReport | None

    @property
    def findings(self) -> tuple[Finding, ...]:
        probe = self.probe.findings if self.probe is not None else ()
        return (*self.mx.findings, *probe)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")


def recipient_view(
    mx: MxReport, *, lang: str, probe: ProbeReport | None = None, address: str | None = None
) -> RecipientView:
    """The view of ``mx`` and, when the probe ran, ``probe``, in ``lang``.

    Raises ValueError for an unknown language.
    """
    return RecipientView(language(lang), address or mx.domain, mx.domain, address, mx, probe)


def recipient_json(view: RecipientView) -> JsonObject:
    """``{address, domain, mx, probe, findings}``, the probe null when it did not run."""
    return {
        "address": view.address,
        "domain": view.domain,
        "mx": view.mx.to_dict(),
        "probe": view.probe.to_dict() if view.probe is not None else None,
        "findings": [f.to_dict() for f in view.findings],
    }


def render_recipient(view: RecipientView, *, fmt: str = Format.TEXT) -> str:
    """Render ``view`` as text, markdown, html (autoescaped) or json.

    Raises ValueError for another format.
    """
    return render_report(
        ReportKind.RECIPIENT, fmt, _TEMPLATES, lambda: recipient_json(view), v=view
    )


__all__ = [
    "RECIPIENT_FORMATS",
    "RecipientView",
    "recipient_json",
    "recipient_view",
    "render_recipient",
]
