"""The authenticate report: a receiver's verdict on one message (``Verdict.to_dict()``) with
the SMTP envelope it was judged under, rendered as text or JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reports.sender import render_auth_template

AUTH_FORMATS = ("text", "json")


@dataclass(frozen=True)
class AuthenticateView:
    """The verdict and the envelope (client IP, HELO, MAIL FROM) it was reached under."""

    verdict: Mapping[str, Any]
    ip: str
    helo: str | None
    mail_from: str | None

    def to_dict(self) -> dict[str, Any]:
        """The verdict's JSON, unchanged (the ``authenticate`` keys of DESIGN.md)."""
        return dict(self.verdict)


def build_authenticate_view(
    verdict: Mapping[str, Any], *, ip: str, helo: str | None, mail_from: str | None
) -> AuthenticateView:
    return AuthenticateView(verdict, ip, helo, mail_from)


def render_authenticate(view: AuthenticateView, *, fmt: str = "text", lang: str = "nb") -> str:
    """Render ``view`` as text or json. Raises ValueError for another format or language."""
    if fmt == "json":
        return json.dumps(view.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt != "text":
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(AUTH_FORMATS)}")
    return render_auth_template("authenticate.txt.j2", {"v": view, "r": view.verdict}, lang=lang)
