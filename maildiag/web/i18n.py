"""The language of a request: ``?lang=``, then the ``lang`` cookie, then the configured
default. The wording itself is ``maildiag.services.wording``'s, re-exported for the pages.
"""

from __future__ import annotations

from fastapi import Request

from maildiag.services.wording import LANGUAGES, catalog, reason, text


def lang_of(request: Request, default: str) -> str:
    """The language for this request: ``?lang=``, the cookie, or ``default``."""
    for candidate in (request.query_params.get("lang"), request.cookies.get("lang")):
        if candidate in LANGUAGES:
            return candidate
    return default


__all__ = ["LANGUAGES", "catalog", "lang_of", "reason", "text"]
