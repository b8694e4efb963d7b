"""The recipient report: one view-model over the MX report, the optional SMTP probe and the
transport-security report (``MxReport.to_dict()``, ``ProbeReport.to_dict()``,
``TransportReport.to_dict()``), rendered as text, Markdown, HTML or JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reports.catalog_recipient import detail_text, finding_text, translate_recipient
from reports.environment import render

RECIPIENT_FORMATS = ("text", "markdown", "html", "json")
SEVERITY_MARKS = {"ok": "✔", "error": "✘", "warning": "!", "info": "·"}


@dataclass(frozen=True)
class RecipientView:
    """The recipient (an address or a bare domain), its MX report, the probe, if run, and
    its transport security (MTA-STS, TLS-RPT, DANE, STARTTLS), if checked."""

    subject: str
    domain: str
    address: str | None
    mx: Mapping[str, Any]
    probe: Mapping[str, Any] | None
    transport: Mapping[str, Any] | None = None

    @property
    def findings(self) -> list[Mapping[str, Any]]:
        probe = list(self.probe.get("findings", ())) if self.probe else []
        transport = list(self.transport.get("findings", ())) if self.transport else []
        return [*self.mx.get("findings", ()), *probe, *transport]

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.get("severity") == "error")

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "domain": self.domain,
            "mx": dict(self.mx),
            "probe": dict(self.probe) if self.probe is not None else None,
            "transport": dict(self.transport) if self.transport is not None else None,
            "findings": self.findings,
        }


def build_recipient_view(
    mx: Mapping[str, Any],
    probe: Mapping[str, Any] | None = None,
    *,
    address: str | None = None,
    transport: Mapping[str, Any] | None = None,
) -> RecipientView:
    """A view from ``MxReport.to_dict()`` and, when they ran, ``ProbeReport.to_dict()`` and
    ``TransportReport.to_dict()``."""
    domain = str(mx.get("domain", ""))
    return RecipientView(address or domain, domain, address, mx, probe, transport)


def render_recipient_template(template: str, context: Mapping[str, Any], *, lang: str) -> str:
    """Render through the shared Environment with this area's catalog in scope.

    Raises ValueError for an unknown language.
    """
    return render(
        template,
        {**context, "severity_mark": SEVERITY_MARKS},
        lang=lang,
        translate=translate_recipient,
        finding_text=finding_text,
        detail_text=detail_text,
    )


def render_recipient(view: RecipientView, *, fmt: str = "text", lang: str = "nb") -> str:
    """Render ``view`` as text, markdown, html (autoescaped) or json.

    Raises ValueError for another format or language.
    """
    if fmt == "json":
        return json.dumps(view.to_dict(), indent=2, ensure_ascii=False) + "\n"
    template = {
        "text": "recipient.txt.j2",
        "markdown": "recipient.md.j2",
        "html": "recipient.html.j2",
    }.get(fmt)
    if template is None:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(RECIPIENT_FORMATS)}")
    return render_recipient_template(template, {"v": view}, lang=lang)


__all__ = [
    "RECIPIENT_FORMATS",
    "RecipientView",
    "build_recipient_view",
    "render_recipient",
    "render_recipient_template",
]
