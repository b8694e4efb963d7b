"""The authenticate report: a receiver's ``Verdict`` on one message with the SMTP envelope it
was judged under, rendered as text or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from diag.authenticate import Verdict
from reports.environment import render_report
from reports.vocabulary import FORMATS, Format, JsonObject, Language, ReportKind, language
from reports.wording import AuthWorded

AUTH_FORMATS = FORMATS[ReportKind.AUTHENTICATE]


@dataclass(frozen=True)
class ArcRow:
    """The ARC chain as shown: its validation result, how many sets, and why."""

    result: str
    instances: int
    reason: str


@dataclass(frozen=True)
class AuthenticateView(AuthWorded):
    """The verdict and the envelope (client IP, HELO, MAIL FROM) it was reached under."""

    lang: Language
    verdict: Verdict
    ip: str
    helo: str | None
    mail_from: str | None

    @property
    def arc(self) -> ArcRow:
        """The chain's result; ``none``, ``not_checked`` when no chain was validated."""
        arc = self.verdict.arc
        if arc is None:
            return ArcRow("none", 0, "not_checked")
        return ArcRow(arc.cv, arc.instances, arc.reason)


def authenticate_view(
    verdict: Verdict, *, lang: str, ip: str, helo: str | None, mail_from: str | None
) -> AuthenticateView:
    """The view of ``verdict`` in ``lang``. Raises ValueError for an unknown language."""
    return AuthenticateView(language(lang), verdict, ip, helo, mail_from)


def authenticate_json(view: AuthenticateView) -> JsonObject:
    """The ``authenticate`` JSON of DESIGN.md: ``spf``, ``dkim``, ``dmarc``, ``arc``,
    ``authentication_results`` and ``findings``."""
    return view.verdict.to_dict()


def render_authenticate(view: AuthenticateView, *, fmt: str = Format.TEXT) -> str:
    """Render ``view`` as text or json. Raises ValueError for another format."""
    templates = {Format.TEXT: "authenticate.txt.j2"}
    return render_report(
        ReportKind.AUTHENTICATE, fmt, templates, lambda: authenticate_json(view), v=view
    )


__all__ = [
    "AUTH_FORMATS",
    "ArcRow",
    "AuthenticateView",
    "authenticate_json",
    "authenticate_view",
    "render_authenticate",
]
