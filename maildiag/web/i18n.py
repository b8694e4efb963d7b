"""Page wording in Norwegian (nb, the default) and English (en), and the language choice.

The wording lives in ``maildiag/locale/<lang>/LC_MESSAGES/maildiag.po`` (msgid: the stable
key, msgstr: a ``str.format`` template), read with Babel once per process. The language comes
from ``?lang=``, then the ``lang`` cookie, then the configured default.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from babel.messages.pofile import read_po
from fastapi import Request

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "maildiag"
LANGUAGES = ("nb", "en")


@functools.cache
def catalog(lang: str) -> Mapping[str, str]:
    """``key -> text`` for ``lang`` (nb or en), read once from its PO file.

    Raises KeyError for another language, OSError when the file is missing.
    """
    if lang not in LANGUAGES:
        raise KeyError(lang)
    with (LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as handle:
        po = read_po(handle, locale=lang, domain=DOMAIN)
    return MappingProxyType(
        {
            m.id: m.string
            for m in po
            if m.id and isinstance(m.id, str) and isinstance(m.string, str) and m.string
            if not m.fuzzy
        }
    )


def lang_of(request: Request, default: str) -> str:
    """The language for this request: ``?lang=``, the cookie, or ``default``."""
    for candidate in (request.query_params.get("lang"), request.cookies.get("lang")):
        if candidate in ("nb", "en"):
            return candidate
    return default


def text(key: str, lang: str, **values: Any) -> str:
    """The wording for ``key`` in ``lang``; the key itself when unknown."""
    value = catalog("nb" if lang == "nb" else "en").get(key)
    if value is None:
        return key
    return value.format(**values) if values else value
