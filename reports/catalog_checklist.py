"""The checklist's and the test send's wording in Norwegian (nb) and English (en).

The text lives in ``reports/locale/<lang>/LC_MESSAGES/reports.po`` among the messages
referenced from this module. Keys: ``title.<item>`` names an item; ``<item>.<status>`` is the
next step for that status; ``status.*``, ``provider.*``, ``allowlist.*``, ``audience.*``,
``timeline.*`` and ``ui.*`` are labels. Values are ``str.format`` templates over ``address``,
``senders``, ``provider``, ``reply`` and the like. The seed's advice (spam/"søppelpost", the
company mail server, the two sender addresses, lønningsansvarlig) is worded there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from reports.i18n import MESSAGE_LANGUAGES, messages

AREA = "reports/catalog_checklist.py"


class _Languages(Mapping[str, Mapping[str, str]]):
    """``lang -> key -> text`` for this module's messages, read-only, from the PO files."""

    def __getitem__(self, lang: str) -> Mapping[str, str]:
        if lang not in MESSAGE_LANGUAGES:
            raise KeyError(lang)
        return messages().language(lang, AREA)

    def __iter__(self) -> Iterator[str]:
        return iter(MESSAGE_LANGUAGES)

    def __len__(self) -> int:
        return len(MESSAGE_LANGUAGES)


class _Conjunction(Mapping[str, str]):
    """``lang -> "og" | "and"``: the word that joins the last two names of a list."""

    def __getitem__(self, lang: str) -> str:
        return CHECKLIST_CATALOG[lang]["conjunction.and"]

    def __iter__(self) -> Iterator[str]:
        return iter(MESSAGE_LANGUAGES)

    def __len__(self) -> int:
        return len(MESSAGE_LANGUAGES)


CHECKLIST_CATALOG: Mapping[str, Mapping[str, str]] = _Languages()
CONJUNCTION: Mapping[str, str] = _Conjunction()

__all__ = ["AREA", "CHECKLIST_CATALOG", "CONJUNCTION"]
