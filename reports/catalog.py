"""Wording for reports in Norwegian (nb) and English (en), keyed by stable message ids.

Findings are identified by code; their sentences live here, so improving wording never
breaks a test that asserts codes.
"""

from __future__ import annotations

from typing import Any

_CATALOG: dict[str, tuple[str, str]] = {
    # key: (nb, en)
    "spf.title": ("SPF-sjekk for {domain}", "SPF check for {domain}"),
    "spf.client": ("Klient-IP", "Client IP"),
    "spf.sender": ("Avsender", "Sender"),
    "spf.result": ("Resultat", "Result"),
    "spf.explanation": ("Forklaring", "Explanation"),
    "spf.matched": ("Traff", "Matched"),
    "spf.no_match": ("ingen mekanisme traff", "no mechanism matched"),
    "spf.lookups": ("DNS-oppslag", "DNS lookups"),
    "spf.void_lookups": ("Tomme oppslag", "Void lookups"),
    "spf.trace": ("Slik ble resultatet funnet", "How the result was reached"),
    "spf.tree": ("Include-treet", "The include tree"),
    "spf.networks": ("Autoriserte nettverk", "Authorized networks"),
    "findings": ("Funn", "Findings"),
    "findings.none": ("Ingen funn", "No findings"),
    "result.pass": ("godkjent (pass)", "PASS"),
    "result.fail": ("avvist (fail)", "FAIL"),
    "result.softfail": ("mykt avvist (softfail)", "SOFTFAIL"),
    "result.neutral": ("nøytral (neutral)", "NEUTRAL"),
    "result.none": ("ingen SPF-post (none)", "NONE (no SPF record)"),
    "result.permerror": ("permanent feil (permerror)", "PERMERROR"),
    "result.temperror": ("midlertidig feil (temperror)", "TEMPERROR"),
    "severity.error": ("FEIL", "ERROR"),
    "severity.warning": ("ADVARSEL", "WARNING"),
    "severity.info": ("INFO", "INFO"),
    "severity.ok": ("OK", "OK"),
}


def translate(key: str, lang: str, **values: Any) -> str:
    """The text for ``key`` in ``lang``, formatted with ``values``; the key itself when unknown."""
    pair = _CATALOG.get(key)
    if pair is None:
        return key
    text = pair[0] if lang == "nb" else pair[1]
    return text.format(**values) if values else text


def known_keys() -> frozenset[str]:
    """Every message id in the catalog (tests check both languages are filled)."""
    return frozenset(_CATALOG)
