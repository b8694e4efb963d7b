"""The SPF report: one view-model built from check_host's (and lint's) JSON, rendered as
text, Markdown, HTML or JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reports.environment import render

FORMATS = ("text", "markdown", "html", "json")


@dataclass(frozen=True)
class SpfView:
    """Everything an SPF report shows."""

    domain: str
    ip: str
    sender: str
    result: Mapping[str, Any]
    lint: Mapping[str, Any] | None = None
    findings: tuple[Mapping[str, Any], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "domain": self.domain,
            "ip": self.ip,
            "sender": self.sender,
            **self.result,
            "findings": list(self.findings),
        }
        if self.lint is not None:
            data["lint"] = dict(self.lint)
        return data


def build_spf_view(
    result: Mapping[str, Any],
    *,
    ip: str,
    sender: str,
    lint: Mapping[str, Any] | None = None,
) -> SpfView:
    """A view from ``SpfResult.to_dict()`` and optionally ``SpfLint.to_dict()``."""
    findings = list(result.get("findings", ()))
    if lint is not None:
        seen = {(f.get("code"), str(f.get("evidence"))) for f in findings}
        for finding in lint.get("findings", ()):
            if (finding.get("code"), str(finding.get("evidence"))) not in seen:
                findings.append(finding)
    return SpfView(
        domain=str(result.get("domain", "")),
        ip=ip,
        sender=sender,
        result=result,
        lint=lint,
        findings=tuple(findings),
    )


def render_spf(view: SpfView, *, fmt: str = "text", lang: str = "nb") -> str:
    """Render ``view`` as ``fmt`` (text, markdown, html or json). Raises ValueError for others."""
    if fmt == "json":
        return json.dumps(view.to_dict(), indent=2, ensure_ascii=False) + "\n"
    template = {"text": "spf.txt.j2", "markdown": "spf.md.j2", "html": "spf.html.j2"}.get(fmt)
    if template is None:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return render(template, {"v": view, "r": view.result, "lint": view.lint}, lang=lang)
