"""Wording for reports in Norwegian (nb) and English (en), keyed by stable message ids.

The text lives in ``reports/locale/<lang>/LC_MESSAGES/reports.po`` and is read through
``reports.i18n``; the messages referenced from this module are the shared report wording
(SPF report labels, result names, severities). Findings are identified by code; their
sentences live in the catalogs, so improving wording never breaks a test that asserts codes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from reports.i18n import known_keys, messages, translate

AREA = "reports/catalog.py"


class AreaPairs(Mapping[str, tuple[str, str]]):
    """A read-only ``key -> (nb, en)`` view of one area of the reports catalogs."""

    def __init__(self, area: str) -> None:
        self._area = area

    def _pairs(self) -> Mapping[str, tuple[str, str]]:
        return messages().pairs(self._area)

    def __getitem__(self, key: str) -> tuple[str, str]:
        return self._pairs()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._pairs())

    def __len__(self) -> int:
        return len(self._pairs())

    def __contains__(self, key: object) -> bool:
        return key in self._pairs()


_CATALOG: Mapping[str, tuple[str, str]] = AreaPairs(AREA)

__all__ = ["AREA", "AreaPairs", "known_keys", "translate"]
