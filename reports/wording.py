"""What a report's template calls for its words: ``v.t(key, **values)``, ``v.finding_text(f)``
and the marks, from the view itself, so a template needs nothing but its view.

Each view model takes one of these as a base, which picks its area of the catalogs (shared;
sender and authenticate; recipient and headers) and reads its own ``lang``. Pure lookups.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

from diag.findings import Finding
from reports.catalog_auth import finding_text as auth_finding_text
from reports.catalog_auth import translate_auth
from reports.catalog_recipient import detail_text as recipient_detail_text
from reports.catalog_recipient import finding_text as recipient_finding_text
from reports.catalog_recipient import translate_recipient
from reports.i18n import translate
from reports.vocabulary import Language

SEVERITY_MARKS: Mapping[str, str] = MappingProxyType(
    {"ok": "✔", "error": "✘", "warning": "!", "info": "·"}
)
STATUS_MARKS: Mapping[str, str] = MappingProxyType(
    {"ok": "✔", "problem": "✘", "warning": "!", "not_checked": "!"}
)


class Worded:
    """The shared report wording (SPF labels, result names, severities) in ``self.lang``."""

    lang: Language
    severity_mark: ClassVar[Mapping[str, str]] = SEVERITY_MARKS

    def t(self, key: str, **values: object) -> str:
        """The text for ``key`` with ``values`` filled in; the key itself when unknown."""
        return translate(key, self.lang, **values)


class AuthWorded(Worded):
    """The sender report's and the authenticate verdict's wording, then the shared one."""

    status_mark: ClassVar[Mapping[str, str]] = STATUS_MARKS

    def t(self, key: str, **values: object) -> str:
        return translate_auth(key, self.lang, **values)

    def finding_text(self, finding: Finding) -> str:
        """The finding's sentence from its code and evidence."""
        return auth_finding_text(finding, self.lang)


class RecipientWorded(Worded):
    """The recipient report's and the header analysis' wording, then the shared one."""

    def t(self, key: str, **values: object) -> str:
        return translate_recipient(key, self.lang, **values)

    def finding_text(self, finding: Finding) -> str:
        """The finding's sentence from its code and evidence."""
        return recipient_finding_text(finding, self.lang)

    def detail_text(self, code: str) -> str:
        """A spam verdict detail's meaning; empty when there is no wording for it."""
        return recipient_detail_text(code, self.lang)


__all__ = ["SEVERITY_MARKS", "STATUS_MARKS", "AuthWorded", "RecipientWorded", "Worded"]
