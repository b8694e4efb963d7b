"""Message catalogs as Babel PO files, read once at runtime, and the one lookup for reports.

A domain ships ``locale/<lang>/LC_MESSAGES/<domain>.po`` per language (``nb`` and ``en``).
The msgid is the stable message id and the msgstr its text, a ``str.format`` template over
named placeholders such as ``{domain}``. A message's ``#:`` reference names the module whose
lookups own it (its *area*), so a module can ask whether a key is one of its own.

The files are parsed with ``babel.messages.pofile.read_po``; no compile step is needed.
"""

from __future__ import annotations

import datetime as dt
import functools
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from babel import Locale
from babel.dates import format_datetime
from babel.messages.pofile import read_po

MESSAGE_LANGUAGES = ("nb", "en")
DEFAULT_LANGUAGE = "en"  # any language other than nb reads the English text
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "reports"
# The Babel locale used to format dates and times for each message language.
DATE_LOCALES: Mapping[str, str] = MappingProxyType({"nb": "nb_NO", "en": "en_GB"})


def _text_language(lang: str) -> str:
    return "nb" if lang == "nb" else DEFAULT_LANGUAGE


def placeholders(template: str) -> frozenset[str]:
    """The named fields of a ``str.format`` template (``{a} {b!r:>3}`` -> ``{"a", "b"}``).

    Raises ValueError for a template ``str.format`` cannot parse (an unmatched brace).
    """
    names = set()
    for _literal, name, _spec, _conversion in string.Formatter().parse(template):
        if name is not None:
            names.add(name.split(".", 1)[0].split("[", 1)[0])
    return frozenset(names)


class _Default(dict[str, object]):
    def __init__(self, values: Mapping[str, object], missing: str) -> None:
        super().__init__(values)
        self.missing = missing

    def __missing__(self, key: str) -> str:
        return self.missing


def fill(template: str, values: Mapping[str, object], *, missing: str | None = None) -> str:
    """``template`` formatted with ``values``; a field without a value shows as ``missing``,
    or raises KeyError when ``missing`` is None."""
    if missing is None:
        return template.format_map(dict(values))
    return template.format_map(_Default(values, missing))


def _pairs(texts: Mapping[str, Mapping[str, str]]) -> Mapping[str, tuple[str, str]]:
    nb, en = texts.get("nb", {}), texts.get("en", {})
    return MappingProxyType({k: (nb[k], en[k]) for k in nb if k in en})


@dataclass(frozen=True)
class Messages:
    """One domain's catalogs: the text per language and key, and the keys of each area."""

    domain: str
    texts: Mapping[str, Mapping[str, str]]  # lang -> key -> template
    areas: Mapping[str, Mapping[str, Mapping[str, str]]]  # area -> lang -> key -> template
    _pairs: Mapping[str | None, Mapping[str, tuple[str, str]]] = field(repr=False)

    def get(self, key: str, lang: str) -> str | None:
        """The raw template for ``key`` (nb for ``nb``, English otherwise); None when unknown."""
        return self.texts.get(_text_language(lang), {}).get(key)

    def translate(self, key: str, lang: str, **values: object) -> str:
        """The text for ``key`` in ``lang`` formatted with ``values``; the key when unknown.

        Without values the template is returned as it is; with values a missing one raises
        KeyError, as ``str.format`` does.
        """
        template = self.get(key, lang)
        if template is None:
            return key
        return fill(template, values) if values else template

    def keys(self, area: str | None = None) -> frozenset[str]:
        """Every message id, or those of one area (in either language)."""
        texts = self.texts if area is None else self.areas.get(area, {})
        return frozenset().union(*(frozenset(t) for t in texts.values()))

    def pairs(self, area: str | None = None) -> Mapping[str, tuple[str, str]]:
        """``key -> (nb, en)`` for every message (of ``area``) both languages have."""
        return self._pairs.get(area, MappingProxyType({}))

    def language(self, lang: str, area: str | None = None) -> Mapping[str, str]:
        """``key -> text`` in ``lang`` (exactly nb or en), for every message or one area's.

        Raises KeyError for another language.
        """
        if area is None:
            return self.texts[lang]
        return self.areas.get(area, {}).get(lang, MappingProxyType({}))


def _entries(path: Path, lang: str, domain: str) -> Iterable[tuple[str, str, tuple[str, ...]]]:
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=domain)
    for message in catalog:
        if not message.id or not isinstance(message.id, str):
            continue  # the header entry; no plural forms are used
        if not isinstance(message.string, str) or not message.string or message.fuzzy:
            continue  # untranslated: the lookup falls back to the key
        yield message.id, message.string, tuple(str(place) for place, _ in message.locations)


def load_messages(locale_dir: Path, domain: str) -> Messages:
    """Read ``<locale_dir>/<lang>/LC_MESSAGES/<domain>.po`` for nb and en.

    Raises OSError when a file cannot be read and babel's PoFileError when one is malformed.
    """
    texts: dict[str, Mapping[str, str]] = {}
    areas: dict[str, dict[str, dict[str, str]]] = {}
    for lang in MESSAGE_LANGUAGES:
        path = locale_dir / lang / "LC_MESSAGES" / f"{domain}.po"
        found: dict[str, str] = {}
        for key, text, places in _entries(path, lang, domain):
            found[key] = text
            for place in places:
                areas.setdefault(place, {}).setdefault(lang, {})[key] = text
        texts[lang] = MappingProxyType(found)
    area_texts = {
        area: MappingProxyType({lang: MappingProxyType(t) for lang, t in by_lang.items()})
        for area, by_lang in areas.items()
    }
    pairs: dict[str | None, Mapping[str, tuple[str, str]]] = {None: _pairs(texts)}
    pairs.update({area: _pairs(by_lang) for area, by_lang in area_texts.items()})
    return Messages(
        domain=domain,
        texts=MappingProxyType(texts),
        areas=MappingProxyType(area_texts),
        _pairs=MappingProxyType(pairs),
    )


@functools.cache
def messages(locale_dir: Path = LOCALE_DIR, domain: str = DOMAIN) -> Messages:
    """The catalogs of ``domain`` under ``locale_dir``, loaded once per process."""
    return load_messages(locale_dir, domain)


def translate(key: str, lang: str, **values: object) -> str:
    """The reports text for ``key`` in ``lang`` formatted with ``values``; the key when unknown."""
    return messages().translate(key, lang, **values)


def known_keys() -> frozenset[str]:
    """Every message id of the shared report wording (``reports/catalog.py``'s area)."""
    return messages().keys("reports/catalog.py")


def catalog_problems(found: Messages) -> list[str]:
    """What is inconsistent between the nb and en catalogs: keys only one language has,
    placeholders that differ, templates ``str.format`` cannot parse, and a ``#:`` reference
    (area) that only one language gives a key."""
    problems: list[str] = []
    nb, en = found.texts.get("nb", {}), found.texts.get("en", {})
    for key in sorted(set(nb) ^ set(en)):
        where = "nb" if key in nb else "en"
        problems.append(f"{found.domain}: {key!r} is only in {where}")
    for area, by_lang in sorted(found.areas.items()):
        in_nb, in_en = set(by_lang.get("nb", {})), set(by_lang.get("en", {}))
        for key in sorted((in_nb ^ in_en) & set(nb) & set(en)):
            where = "nb" if key in in_nb else "en"
            problems.append(f"{found.domain}: {key!r} is referenced from {area} only in {where}")
    for key in sorted(set(nb) & set(en)):
        try:
            mine, theirs = placeholders(nb[key]), placeholders(en[key])
        except ValueError as exc:
            problems.append(f"{found.domain}: {key!r} is not a valid template: {exc}")
            continue
        if mine != theirs:
            problems.append(
                f"{found.domain}: {key!r} placeholders differ: "
                f"nb {sorted(mine)} vs en {sorted(theirs)}"
            )
    return problems


def format_when(when: dt.datetime, lang: str, *, width: str = "medium") -> str:
    """A date and time shown to people, in UTC, formatted by Babel for ``lang``
    (``width`` is a Babel format: short, medium, long or a CLDR pattern)."""
    locale = Locale.parse(DATE_LOCALES[_text_language(lang)])
    return f"{format_datetime(when, width, tzinfo=dt.UTC, locale=locale)} UTC"


__all__ = [
    "DATE_LOCALES",
    "DOMAIN",
    "LOCALE_DIR",
    "MESSAGE_LANGUAGES",
    "Messages",
    "catalog_problems",
    "fill",
    "format_when",
    "known_keys",
    "load_messages",
    "messages",
    "placeholders",
    "translate",
]
