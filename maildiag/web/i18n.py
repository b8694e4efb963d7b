"""Page wording in Norwegian (nb, the default) and English (en), and the language choice.

The wording is ``maildiag.catalog``'s, re-exported here for the pages. The language comes
from ``?lang=``, then the ``lang`` cookie, then the configured default.
"""

from __future__ import annotations

from fastapi import Request

from maildiag.catalog import LANGUAGES, catalog, reason, text

__all__ = ["LANGUAGES", "catalog", "lang_of", "reason", "text"]


def lang_of(request: Request, default: str) -> str:
    """The language for this request: ``?lang=``, the cookie, or ``default``."""
    for candidate in (request.query_params.get("lang"), request.cookies.get("lang")):
        if candidate in ("nb", "en"):
            return candidate
    return default
