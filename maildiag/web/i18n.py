"""Page wording in Norwegian (nb, the default) and English (en), and the language choice.

The language comes from ``?lang=``, then the ``lang`` cookie, then the configured default.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

_TEXT: dict[str, tuple[str, str]] = {
    "site.title": ("maildiag", "maildiag"),
    "site.tagline": (
        "Hvorfor kommer ikke e-posten for nytt passord fram – og bevisene for det.",
        "Why reset mails don't arrive, and the proof.",
    ),
    "nav.home": ("Forside", "Home"),
    "nav.spf": ("SPF-sjekk", "SPF check"),
    "nav.lang": ("English", "Norsk"),
    "home.intro": (
        "maildiag sjekker SPF, DKIM og DMARC for avsenderdomenene, tester levering og lager "
        "sjekklisten for support.",
        "maildiag checks SPF, DKIM and DMARC for the sender domains, tests delivery, and "
        "builds the support checklist.",
    ),
    "spf.heading": ("SPF-sjekk", "SPF check"),
    "spf.domain": ("Domene", "Domain"),
    "spf.ip": ("Klientens IP-adresse", "Client IP address"),
    "spf.sender": ("Avsenderadresse (MAIL FROM, valgfri)", "Sender address (MAIL FROM, optional)"),
    "spf.helo": ("HELO-navn (valgfritt)", "HELO name (optional)"),
    "spf.lint": ("Vis include-treet og funn", "Show the include tree and findings"),
    "spf.submit": ("Sjekk", "Check"),
    "error.heading": ("Noe var galt med forespørselen", "Something was wrong with the request"),
    "error.back": ("Tilbake", "Back"),
}


def lang_of(request: Request, default: str) -> str:
    """The language for this request: ``?lang=``, the cookie, or ``default``."""
    for candidate in (request.query_params.get("lang"), request.cookies.get("lang")):
        if candidate in ("nb", "en"):
            return candidate
    return default


def text(key: str, lang: str, **values: Any) -> str:
    """The wording for ``key`` in ``lang``; the key itself when unknown."""
    pair = _TEXT.get(key)
    if pair is None:
        return key
    value = pair[0] if lang == "nb" else pair[1]
    return value.format(**values) if values else value
