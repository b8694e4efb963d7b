"""The product's wording in Norwegian (nb) and English (en), for pages and the command line.

The wording lives in ``maildiag/locale/<lang>/LC_MESSAGES/maildiag.po`` (msgid: the stable
key, msgstr: a ``str.format`` template), read with Babel once per process. ``reason`` words a
``diag.errors.InputError``: the one-line reason of exit 2 and of a 4xx.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from babel.messages.pofile import read_po

from diag.errors import InputError

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


def text(key: str, lang: str, **values: object) -> str:
    """The wording for ``key`` in ``lang``; the key itself when unknown."""
    value = catalog("nb" if lang == "nb" else "en").get(key)
    if value is None:
        return key
    return value.format(**values) if values else value


def reason(error: InputError, lang: str) -> str:
    """The wording of ``error`` in ``lang``; a value that is itself an InputError (the line a
    bad entry is on, wrapping what is wrong with it) is worded in the same language."""
    values = {
        name: reason(value, lang) if isinstance(value, InputError) else value
        for name, value in error.values.items()
    }
    return text(error.key, lang, **values)
