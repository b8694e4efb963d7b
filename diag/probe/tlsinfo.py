"""What a mail server's TLS certificate says: subject, issuer, names, expiry, and whether it
names the host we asked for (RFC 6125 §6.4 matching, one left-most wildcard label). Pure.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from diag.jsonvalue import JsonObject


@dataclass(frozen=True)
class CertificateFacts:
    """The facts the probe reports about a server certificate (never a pass/fail by itself)."""

    subject: str = ""
    issuer: str = ""
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    not_before: str = ""
    not_after: str = ""
    expired: bool = False
    self_signed: bool = False
    name_matches: bool = False
    error: str = ""

    def to_dict(self) -> JsonObject:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "san_names": list(self.dns_names),
            "san_addresses": list(self.ip_addresses),
            "not_before": self.not_before,
            "not_after": self.not_after,
            "expired": self.expired,
            "self_signed": self.self_signed,
            "name_matches": self.name_matches,
            "error": self.error,
        }


@dataclass(frozen=True)
class TlsSession:
    """STARTTLS as it happened: offered, established, protocol, cipher and the certificate.

    ``chain`` holds the certificates the server sent, DER, its own first (for DANE matching
    and chain validation); ``to_dict`` gives only their number.
    """

    offered: bool = False
    established: bool = False
    version: str = ""
    cipher: str = ""
    verified: bool | None = None
    certificate: CertificateFacts | None = None
    error: str = ""
    chain: tuple[bytes, ...] = field(default=(), repr=False)

    def to_dict(self) -> JsonObject:
        return {
            "offered": self.offered,
            "established": self.established,
            "version": self.version,
            "cipher": self.cipher,
            "verified": self.verified,
            "certificate": self.certificate.to_dict() if self.certificate else None,
            "chain_length": len(self.chain),
            "error": self.error,
        }


def certificate_facts(der: bytes, host: str, *, now: datetime | None = None) -> CertificateFacts:
    """Facts from a DER certificate for ``host`` (a name or an IP). Never raises."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        return CertificateFacts(error=f"unreadable certificate: {exc}")
    names: list[str] = []
    addresses: list[str] = []
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        names = [n.lower() for n in san.get_values_for_type(x509.DNSName)]  # type: ignore[attr-defined]
        addresses = [str(a) for a in san.get_values_for_type(x509.IPAddress)]  # type: ignore[attr-defined]
    except (x509.ExtensionNotFound, ValueError):
        pass
    moment = now or datetime.now(UTC)
    after = cert.not_valid_after_utc
    return CertificateFacts(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        dns_names=tuple(names),
        ip_addresses=tuple(addresses),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=after.isoformat(),
        expired=after < moment or cert.not_valid_before_utc > moment,
        self_signed=cert.issuer == cert.subject,
        name_matches=name_matches(host, names, addresses),
    )


def name_matches(host: str, dns_names: list[str], addresses: list[str]) -> bool:
    """True when ``host`` is one of the names (or addresses) the certificate is for."""
    host = host.lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return any(_dns_match(host, pattern) for pattern in dns_names)
    return any(ipaddress.ip_address(a) == ip for a in addresses)


def _dns_match(host: str, pattern: str) -> bool:
    pattern = pattern.rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return host == pattern


__all__ = ["CertificateFacts", "TlsSession", "certificate_facts", "name_matches"]
