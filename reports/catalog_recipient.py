"""Wording for the recipient (MX and SMTP probe) and headers reports, in Norwegian (nb) and
English (en). Keyed by stable message ids; findings by ``finding.<code>``, header verdict
details by ``detail.<code>``. A missing evidence value shows as ``?`` rather than failing.
The text lives in ``reports/locale/<lang>/LC_MESSAGES/reports.po`` (the messages referenced
from this module), read through ``reports.i18n``.
"""

from __future__ import annotations

from collections.abc import Mapping

from diag.findings import Finding
from diag.jsonvalue import json_object
from reports.catalog import AreaPairs
from reports.i18n import fill, messages, translate

AREA = "reports/catalog_recipient.py"
CATALOG: Mapping[str, tuple[str, str]] = AreaPairs(AREA)


def _shown(value: object) -> object:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return "-" if value is None else value


def translate_recipient(key: str, lang: str, **values: object) -> str:
    """The text for ``key``: this catalog first, then the shared one; the key when unknown."""
    if key not in CATALOG:
        return translate(key, lang, **values)
    text = messages().get(key, lang) or key
    return fill(text, {k: _shown(v) for k, v in values.items()}, missing="?")


# Evidence values that are codes, worded per language: (code prefix, evidence key, key prefix).
_WORDED_VALUES = (
    ("headers.", "reason", "headers.reason."),
    ("bounce.", "meaning", "bounce.meaning."),
    ("mta_sts.", "reason", "transport.reason."),
    ("mta_sts.", "problems", "transport.problem."),
    ("dane.", "problems", "transport.problem."),
)


def _worded(value: object, prefix: str, lang: str) -> object:
    if isinstance(value, list | tuple):
        return [_worded(v, prefix, lang) for v in value]
    key = f"{prefix}{value}"
    return translate_recipient(key, lang) if key in CATALOG else value


def finding_text(finding: Finding, lang: str) -> str:
    """A finding's sentence from its code and evidence (as its JSON gives them, codes among
    them worded); its own summary when the code is unknown."""
    code = finding.code
    evidence: dict[str, object] = dict(json_object(finding.evidence))
    for code_prefix, name, prefix in _WORDED_VALUES:
        if code.startswith(code_prefix) and name in evidence:
            evidence[name] = _worded(evidence[name], prefix, lang)
    key = f"finding.{code}"
    if key in CATALOG:
        return translate_recipient(key, lang, **evidence)
    return finding.summary


def detail_text(code: str, lang: str) -> str:
    """A verdict detail's plain-language meaning; ``""`` when there is no wording for it."""
    key = f"detail.{code}"
    return translate_recipient(key, lang) if key in CATALOG else ""


def recipient_keys() -> frozenset[str]:
    """Every message id in this catalog (tests check both languages are filled)."""
    return messages().keys(AREA)


__all__ = ["CATALOG", "detail_text", "finding_text", "recipient_keys", "translate_recipient"]
