"""SMTP TLS Reporting (RFC 8460 §3): the ``_smtp._tls`` TXT record and where it asks for
reports. Pure: text in, a frozen value out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from diag.errors import TlsRptSyntaxError
from diag.transport.tags import EXT_VALUE, WSP, Field, check_value, split_fields

RECORD_PREFIX = "_smtp._tls"  # RFC 8460 §3: the TXT record lives at _smtp._tls.<domain>
TLSRPT_VERSION = "v=TLSRPTv1"  # RFC 8460 §3 tlsrpt-version
REPORT_SCHEMES = ("mailto", "https")  # RFC 8460 §3: "rua" takes mailto: and https: URIs
# RFC 3986 §3.1 scheme, then a part without the separators "," and ";" or whitespace
# (RFC 8460 §3: commas and exclamation points in a URI must be percent-encoded)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s,;!]+")
_URI_CHARS = re.compile(r"[^\s,;!]")


@dataclass(frozen=True)
class TlsRptRecord:
    """Where the domain wants TLS reports (``rua``), and any extension fields."""

    rua: tuple[str, ...]
    extensions: tuple[tuple[str, str], ...] = ()

    @property
    def unsupported(self) -> tuple[str, ...]:
        """The report URIs whose scheme is neither mailto nor https: senders skip them."""
        return tuple(uri for uri in self.rua if not supported_uri(uri))


def is_tlsrpt_record(text: str) -> bool:
    """RFC 8460 §3: TXT records that do not begin with ``v=TLSRPTv1`` are discarded."""
    return text.startswith(TLSRPT_VERSION)


def parse_record(text: str) -> TlsRptRecord:
    """The ``_smtp._tls`` TXT record (RFC 8460 §3). The first ``rua`` counts.

    Raises TlsRptSyntaxError at the character that breaks the grammar, or when ``rua`` is
    missing.
    """
    fields = split_fields(text, TLSRPT_VERSION, TlsRptSyntaxError)
    rua: tuple[str, ...] = ()
    extensions: list[tuple[str, str]] = []
    for field in fields:
        if field.name == "rua":
            uris = _uris(field, text)
            rua = rua or uris
        else:
            check_value(field, EXT_VALUE, text, TlsRptSyntaxError)
            extensions.append((field.name, field.value))
    if not rua:
        raise TlsRptSyntaxError("the record has no rua", text=text, position=len(text))
    return TlsRptRecord(rua, tuple(extensions))


def _uris(field: Field, text: str) -> tuple[str, ...]:
    """``tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)``, each checked at its own position."""
    uris: list[str] = []
    at = field.position
    for part in field.value.split(","):
        start = at + len(part) - len(part.lstrip(WSP))
        uri = Field("rua", part.strip(WSP), start)
        check_value(uri, _URI, text, TlsRptSyntaxError, _URI_CHARS)
        uris.append(uri.value)
        at += len(part) + 1
    return tuple(uris)


def supported_uri(uri: str) -> bool:
    """A ``mailto:`` URI with an address, or an ``https:`` URI with a host (RFC 8460 §3)."""
    scheme, _, rest = uri.partition(":")
    if scheme.lower() == "mailto":
        local, at, domain = rest.partition("?")[0].rpartition("@")
        return bool(local) and bool(at) and bool(domain)
    if scheme.lower() == "https":
        try:
            return bool(urlsplit(uri).hostname)
        except ValueError:
            return False
    return False


__all__ = [
    "REPORT_SCHEMES",
    "TlsRptRecord",
    "is_tlsrpt_record",
    "parse_record",
    "supported_uri",
]
