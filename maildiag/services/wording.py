"""Product wording in Norwegian (nb, the default) and English (en): the page, form and error
texts every adapter shows.

The wording lives in ``maildiag/locale/<lang>/LC_MESSAGES/maildiag.po`` (msgid: the stable
key, msgstr: a ``str.format`` template), read with Babel once per process. Choosing the
language of a request is the web's business, not this module's.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from babel.messages.pofile import read_po

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
