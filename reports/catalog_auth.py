"""Wording for the sender report and the authenticate verdict, in Norwegian (nb) and English (en).

Keyed by stable message ids; findings by ``finding.<code>``, formatted with their evidence.
The text lives in ``reports/locale/<lang>/LC_MESSAGES/reports.po`` (the messages referenced
from this module), read through ``reports.i18n``.
A missing evidence value shows as ``?`` rather than failing the report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from diag.findings import Finding
from diag.jsonvalue import json_object
from reports.catalog import AREA as SHARED_AREA
from reports.catalog import AreaPairs
from reports.i18n import fill, messages, translate

AREA = "reports/catalog_auth.py"
CATALOG: Mapping[str, tuple[str, str]] = AreaPairs(AREA)


_METHOD_RESULT = re.compile(r"auth\.(spf|dkim|dmarc|arc)_(\w+)$")


def _shown(value: object) -> object:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return "-" if value is None else value


def translate_auth(key: str, lang: str, **values: object) -> str:
    """The text for ``key``: this catalog first, then the shared one; the key when unknown."""
    if key not in CATALOG:
        return translate(key, lang, **values)
    text = messages().get(key, lang) or key
    return fill(text, {k: _shown(v) for k, v in values.items()}, missing="?") if values else text


def finding_text(finding: Finding, lang: str) -> str:
    """A finding's sentence from its code and evidence (as its JSON gives them); its own
    summary when the code is unknown."""
    code = finding.code
    evidence: dict[str, object] = dict(json_object(finding.evidence))
    key = f"finding.{code}"
    if key in CATALOG:
        return translate_auth(key, lang, **evidence)
    method = _METHOD_RESULT.match(code)
    if method is not None:
        result = f"auth.result.{method[1]}"
        if method[1] == "spf" and not evidence.get("domain"):
            result = (
                "auth.result.spf_no_domain"  # null MAIL FROM and no HELO name: nothing to check
            )
        return translate_auth(result, lang, **{**evidence, "result": method[2]})
    if key in messages().keys(SHARED_AREA):
        return translate(key, lang)
    return finding.summary


def auth_keys() -> frozenset[str]:
    """Every message id in this catalog (tests check both languages are filled)."""
    return messages().keys(AREA)
