"""Errors raised by the diagnostics engine.

Problems found in a domain under test are never raised: they become findings. These
exceptions are for transport failures and for input that cannot be read at all.

    DiagError
    ├── DnsError            a DNS transport failure (timeout, SERVFAIL, REFUSED, malformed answer,
    │                       CNAME loop); carries the query that failed
    ├── ParseError          text that does not follow its grammar; carries the position
    │   ├── SpfSyntaxError
    │   ├── DkimSyntaxError
    │   ├── DmarcSyntaxError
    │   ├── MtaStsSyntaxError   an MTA-STS TXT record or policy (RFC 8461 §3.1, §3.2)
    │   ├── TlsRptSyntaxError   a TLS-RPT TXT record (RFC 8460 §3)
    │   └── TlsaSyntaxError     a TLSA record's presentation form (RFC 6698 §2.2)
    ├── MimeStructureError  a message whose MIME tree is nested too deep or has too many parts
    ├── PolicyFetchError    an MTA-STS policy that could not be fetched; carries the URL and why
    ├── InputError          input a user gave that cannot be used (a domain, an address, a
    │                       file): a catalog ``key`` and the ``values`` its wording is filled with
    └── ReportRefused       a DMARC or TLS report (or its container) that is not read: a reason
                            code from ``diag.feedback.REASONS`` and where in the file it was

Every error takes keyword evidence and builds ``__str__`` from it.
"""

from __future__ import annotations


class DiagError(Exception):
    """Base class of every error the diagnostics engine raises."""


class DnsError(DiagError):
    """A DNS query could not be answered: never a statement about the record itself.

    ``reason`` is one of ``timeout``, ``servfail``, ``refused``, ``malformed``, ``cname_loop``,
    ``no_nameservers`` or ``error``.
    """

    def __init__(self, *, qname: str, rdtype: str, reason: str, detail: str = "") -> None:
        self.qname = qname
        self.rdtype = rdtype
        self.reason = reason
        self.detail = detail
        super().__init__(str(self))

    def __str__(self) -> str:
        tail = f": {self.detail}" if self.detail else ""
        return f"DNS {self.reason} for {self.qname} {self.rdtype}{tail}"


class ParseError(DiagError):
    """Text that does not follow its grammar. ``position`` is a 0-based character offset."""

    def __init__(self, message: str, *, text: str = "", position: int | None = None) -> None:
        self.message = message
        self.text = text
        self.position = position
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.position is None:
            return self.message
        return f"{self.message} at position {self.position}\n{self.text}\n{' ' * self.position}^"


class SpfSyntaxError(ParseError):
    """An SPF record that does not follow RFC 7208 §12."""


class DkimSyntaxError(ParseError):
    """A DKIM-Signature or key record that does not follow RFC 6376 §3."""


class DmarcSyntaxError(ParseError):
    """A DMARC record that does not follow RFC 9989."""


class MimeStructureError(DiagError):
    """A message whose MIME structure is refused before it is read to the end: ``reason`` is
    ``depth`` (containers nested deeper than ``limit``) or ``parts`` (more than ``limit``)."""

    def __init__(self, *, reason: str, limit: int) -> None:
        self.reason = reason
        self.limit = limit
        super().__init__(str(self))

    def __str__(self) -> str:
        what = "nested deeper than" if self.reason == "depth" else "more parts than"
        return f"the MIME structure is refused: {what} {self.limit}"


class MtaStsSyntaxError(ParseError):
    """An MTA-STS TXT record or policy body that does not follow RFC 8461 §3.1 or §3.2."""


class TlsRptSyntaxError(ParseError):
    """A TLS-RPT TXT record that does not follow RFC 8460 §3."""


class TlsaSyntaxError(ParseError):
    """A TLSA record whose presentation form does not follow RFC 6698 §2.2."""


class PolicyFetchError(DiagError):
    """The MTA-STS policy at ``url`` could not be fetched (RFC 8461 §3.3).

    ``reason`` is one of ``no_address``, ``forbidden_target``, ``connect``, ``tls_certificate``,
    ``tls``, ``timeout``, ``redirect``, ``http_status``, ``content_type``, ``too_large``,
    ``dns`` or ``protocol``; ``detail`` says more (a status line, a certificate error).
    """

    def __init__(self, *, url: str, reason: str, detail: str = "") -> None:
        self.url = url
        self.reason = reason
        self.detail = detail
        super().__init__(str(self))

    def __str__(self) -> str:
        tail = f": {self.detail}" if self.detail else ""
        return f"MTA-STS policy {self.url} not fetched ({self.reason}){tail}"


class InputError(DiagError, ValueError):
    """Input that cannot be used at all. ``key`` names the wording in the nb and en catalogs,
    ``values`` fill it in; adapters answer it with exit 2 or a 4xx, never a traceback. It is a
    ValueError too, as a malformed argument is."""

    def __init__(self, key: str, **values: object) -> None:
        self.key = key
        self.values = values
        super().__init__(str(self))

    def __str__(self) -> str:
        if not self.values:
            return self.key
        shown = (
            f"{name} {value!r}" if isinstance(value, str) else f"{name} {value}"
            for name, value in self.values.items()
        )
        return f"{self.key}: {', '.join(shown)}"


class ReportRefused(DiagError):
    """A feedback report, or the file or part holding it, that is refused: ``reason`` is a code
    from ``diag.feedback.REASONS``, ``detail`` the evidence (a field, a value, a limit) and
    ``where`` the place in the file (``"member a.xml"``, ``"message 2, part 3"``)."""

    def __init__(self, *, reason: str, detail: str = "", where: str = "") -> None:
        self.reason = reason
        self.detail = detail
        self.where = where
        super().__init__(str(self))

    def __str__(self) -> str:
        place = f"{self.where}: " if self.where else ""
        tail = f": {self.detail}" if self.detail else ""
        return f"{place}{self.reason}{tail}"

    def at(self, where: str) -> ReportRefused:
        """The same refusal, placed at ``where`` inside the place it already names."""
        inner = f"{where}, {self.where}" if self.where else where
        return ReportRefused(reason=self.reason, detail=self.detail, where=inner)
