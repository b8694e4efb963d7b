"""The recipient report: one view-model over the ``MxReport``, the optional SMTP probe's
``ProbeReport`` and the ``TransportReport`` (MTA-STS, TLS-RPT, DANE, STARTTLS), rendered as
text, Markdown, HTML or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from diag.findings import Finding
from diag.mx import MxReport
from diag.probe import ProbeReport
from diag.transport import TransportReport
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
    """The recipient (an address or a bare domain), its MX report, the probe, if run, and its
    transport security, if checked."""

    lang: Language
    subject: str
    domain: str
    address: str | None
    mx: MxReport
    probe: ProbeReport | None
    transport: TransportReport | None = None

    @property
    def findings(self) -> tuple[Finding, ...]:
        probe = self.probe.findings if self.probe is not None else ()
        transport = self.transport.findings if self.transport is not None else ()
        return (*self.mx.findings, *probe, *transport)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")


def recipient_view(
    mx: MxReport,
    *,
    lang: str,
    probe: ProbeReport | None = None,
    address: str | None = None,
    transport: TransportReport | None = None,
) -> RecipientView:
    """The view of ``mx`` and, when they ran, ``probe`` and ``transport``, in ``lang``.

    Raises ValueError for an unknown language.
    """
    subject = address or mx.domain
    return RecipientView(language(lang), subject, mx.domain, address, mx, probe, transport)


def recipient_json(view: RecipientView) -> JsonObject:
    """``{address, domain, mx, probe, transport, findings}``, the probe and the transport
    null when they did not run."""
    return {
        "address": view.address,
        "domain": view.domain,
        "mx": view.mx.to_dict(),
        "probe": view.probe.to_dict() if view.probe is not None else None,
        "transport": view.transport.to_dict() if view.transport is not None else None,
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
