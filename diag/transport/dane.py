"""DANE for SMTP (RFC 7672, RFC 6698, RFC 7671): TLSA records read from their presentation
form, which of them an SMTP client may use, and whether one matches a server's certificate
chain. Pure: text and DER bytes in, values out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from diag.errors import TlsaSyntaxError

SMTP_TLSA_PREFIX = "_25._tcp"  # RFC 7672 §2.2.3: TLSA records of an MX host on port 25
USAGES = {0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE"}  # RFC 7218 §2.1
SELECTORS = {0: "Cert", 1: "SPKI"}  # RFC 7218 §2.2
MATCHING_TYPES = {0: "Full", 1: "SHA2-256", 2: "SHA2-512"}  # RFC 7218 §2.3
DANE_TA, DANE_EE = 2, 3
DIGEST_LENGTHS = {1: 32, 2: 64}  # RFC 6698 §2.1.3: SHA-256 and SHA-512 digests
MAX_FIELD = 255  # RFC 6698 §2.1: usage, selector and matching type are one octet each
_HEX = re.compile(r"[0-9A-Fa-f]+")
_NUMBER = re.compile(r"[0-9]{1,3}")


@dataclass(frozen=True)
class Tlsa:
    """One TLSA record: certificate usage, selector, matching type and the association data."""

    usage: int
    selector: int
    matching_type: int
    data: bytes

    def __str__(self) -> str:
        return f"{self.usage} {self.selector} {self.matching_type} {self.data.hex()}"

    @property
    def label(self) -> str:
        """The RFC 7218 mnemonic: ``DANE-EE(3) SPKI(1) SHA2-256(1)``."""
        names = (
            (USAGES, self.usage),
            (SELECTORS, self.selector),
            (MATCHING_TYPES, self.matching_type),
        )
        return " ".join(f"{table.get(value, '?')}({value})" for table, value in names)


def parse_tlsa(text: str) -> Tlsa:
    """``3 1 1 <hex>`` (RFC 6698 §2.2): three numbers, then the data in hex, which may be split
    by spaces. Raises TlsaSyntaxError at the field that is out of its grammar."""
    parts = text.split()
    if len(parts) < 4:
        raise TlsaSyntaxError("a TLSA record has four fields", text=text, position=len(text))
    numbers = []
    at = 0
    for part in parts[:3]:
        at = text.index(part, at)
        if not _NUMBER.fullmatch(part) or int(part) > MAX_FIELD:
            raise TlsaSyntaxError("expected a number 0-255", text=text, position=at)
        numbers.append(int(part))
        at += len(part)
    data = "".join(parts[3:])
    start = text.index(parts[3], at)
    if not _HEX.fullmatch(data) or len(data) % 2:
        raise TlsaSyntaxError("the data must be hexadecimal octets", text=text, position=start)
    return Tlsa(numbers[0], numbers[1], numbers[2], bytes.fromhex(data))


def unusable_reason(record: Tlsa) -> str | None:
    """Why an SMTP client may not use ``record``, or None when it may.

    ``pkix_usage``: PKIX-TA(0) and PKIX-EE(1) are not for SMTP (RFC 7672 §3.1.3);
    ``unknown_usage``, ``unknown_selector``, ``unknown_matching_type`` (RFC 7671 §4:
    unusable); ``digest_length``: a digest of the wrong size for its matching type.
    """
    if record.usage in (0, 1):
        return "pkix_usage"
    if record.usage not in USAGES:
        return "unknown_usage"
    if record.selector not in SELECTORS:
        return "unknown_selector"
    if record.matching_type not in MATCHING_TYPES:
        return "unknown_matching_type"
    expected = DIGEST_LENGTHS.get(record.matching_type)
    if expected is not None and len(record.data) != expected:
        return "digest_length"
    return None


def matches(record: Tlsa, chain: Sequence[bytes]) -> bool:
    """True when a usable ``record`` matches the DER certificate ``chain`` (leaf first).

    DANE-EE(3) is compared with the server's own certificate only; DANE-TA(2) with the
    certificates the server sent above it, which must include the trust anchor (RFC 7672
    §3.1.2). The chain's signatures are not checked here.
    """
    if unusable_reason(record) is not None or not chain:
        return False
    candidates = chain[:1] if record.usage == DANE_EE else chain[1:]
    return any(_association(der, record) == record.data for der in candidates)


def _association(der: bytes, record: Tlsa) -> bytes | None:
    """The certificate's data as ``record`` selects and digests it (RFC 6698 §2.1.2-2.1.3)."""
    if record.selector == 0:
        selected = der
    else:
        try:
            key = x509.load_der_x509_certificate(der).public_key()
        except (ValueError, UnsupportedAlgorithm):
            return None
        selected = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if record.matching_type == 1:
        return hashlib.sha256(selected).digest()
    if record.matching_type == 2:
        return hashlib.sha512(selected).digest()
    return selected


def tlsa_name(host: str) -> str:
    """``_25._tcp.<mx host>``: where an MX host's TLSA records are (RFC 7672 §2.2.3)."""
    return f"{SMTP_TLSA_PREFIX}.{host.rstrip('.').lower()}"


__all__ = [
    "DANE_EE",
    "DANE_TA",
    "Tlsa",
    "matches",
    "parse_tlsa",
    "tlsa_name",
    "unusable_reason",
]
