"""The headers report: one view-model over a ``HeaderReport`` (hops, authentication,
verdicts, conclusion), rendered as text, Markdown, HTML or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from diag.headers import AuthenticationEntry, HeaderReport, Hop
from reports.environment import render_report
from reports.vocabulary import FORMATS, Format, JsonObject, Language, ReportKind, language
from reports.wording import RecipientWorded

HEADERS_FORMATS = FORMATS[ReportKind.HEADERS]
_TEMPLATES = {
    Format.TEXT: "headers.txt.j2",
    Format.MARKDOWN: "headers.md.j2",
    Format.HTML: "headers.html.j2",
}


@dataclass(frozen=True)
class HopRow:
    """One Received hop as shown; ``at`` in ISO 8601, ``clock_skew`` when the delay is negative."""

    from_host: str
    by_host: str
    with_protocol: str
    at: str | None
    delay_seconds: float | None

    @property
    def clock_skew(self) -> bool:
        return self.delay_seconds is not None and self.delay_seconds < 0

    @property
    def delay(self) -> str:
        """The delay as shown: ``+7 s``, ``+0 s``, ``-15 s`` (clock skew); ``""`` when unknown."""
        return "" if self.delay_seconds is None else _signed_seconds(self.delay_seconds)


def _signed_seconds(seconds: float) -> str:
    """``seconds`` with its sign, in whole seconds (RFC 5322 §3.3 dates have no fractions):
    ``+394 s``, ``+0 s``, ``-15 s``."""
    rounded = round(seconds)
    return f"{'-' if rounded < 0 else '+'}{abs(rounded)} s"


@dataclass(frozen=True)
class AuthRow:
    """One Authentication-Results (or ARC) field as shown: each method's summary result."""

    receiver: str
    source: str
    instance: int | None
    spf: str | None
    dkim: str | None
    dmarc: str | None
    arc: str | None
    compauth: str | None


@dataclass(frozen=True)
class HeadersView(RecipientWorded):
    """The header analysis as reported; ``source`` names the input (a file name or ``-``)."""

    lang: Language
    report: HeaderReport
    hops: tuple[HopRow, ...]
    authentication: tuple[AuthRow, ...]
    source: str = ""


def _hop(hop: Hop) -> HopRow:
    at = hop.at.isoformat() if hop.at else None
    return HopRow(hop.from_host, hop.by_host, hop.with_protocol, at, hop.delay_seconds)


def _auth(entry: AuthenticationEntry) -> AuthRow:
    methods = (entry.summary(m) for m in ("spf", "dkim", "dmarc", "arc", "compauth"))
    return AuthRow(entry.receiver, entry.source, entry.instance, *methods)


def headers_view(report: HeaderReport, *, lang: str, source: str = "") -> HeadersView:
    """The view of ``report`` in ``lang``. Raises ValueError for an unknown language."""
    hops = tuple(_hop(h) for h in report.hops)
    auth = tuple(_auth(a) for a in report.authentication)
    return HeadersView(language(lang), report, hops, auth, source)


def headers_json(view: HeadersView) -> JsonObject:
    """The ``headers`` JSON of DESIGN.md: ``hops``, ``total_delay_seconds``,
    ``authentication``, ``verdicts``, ``conclusion`` and ``findings``."""
    return view.report.to_dict()


def render_headers(view: HeadersView, *, fmt: str = Format.TEXT) -> str:
    """Render ``view`` as text, markdown, html (autoescaped) or json.

    Raises ValueError for another format.
    """
    return render_report(ReportKind.HEADERS, fmt, _TEMPLATES, lambda: headers_json(view), v=view)


__all__ = [
    "HEADERS_FORMATS",
    "AuthRow",
    "HeadersView",
    "HopRow",
    "headers_json",
    "headers_view",
    "render_headers",
]
