"""What a query returns: Answer with its rcode as data, the record values, the query log."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import dns.exception
import dns.name

DEFAULT_NEGATIVE_TTL = 60  # used when a negative answer carries no SOA (RFC 2308 §5)
MAX_CACHE_TTL = 3600
MAX_CNAME_CHAIN = 8  # MemoryResolver: CNAMEs followed before it reports a loop (RFC 1034 §3.6.2)


class Rcode(StrEnum):
    """What a completed query found: records, no such name, or the name without that type."""

    NOERROR = "NOERROR"
    NXDOMAIN = "NXDOMAIN"
    NODATA = "NODATA"


@dataclass(frozen=True)
class MX:
    """One MX record. ``exchange`` is ``""`` for the null MX of RFC 7505."""

    preference: int
    exchange: str

    def __str__(self) -> str:
        return f"{self.preference} {self.exchange or '.'}"


@dataclass(frozen=True)
class TXT:
    """One TXT (or type-99 SPF) record: its character-strings, kept apart (RFC 7208 §3.3)."""

    strings: tuple[bytes, ...]

    @property
    def text(self) -> str:
        """The strings concatenated without separators; non-UTF-8 bytes become U+FFFD."""
        return b"".join(self.strings).decode("utf-8", "replace")

    def __str__(self) -> str:
        return self.text


Record = str | MX | TXT
"""A/AAAA addresses, PTR/CNAME/NS targets, and SOA and TLSA text (presentation form) are
``str``; MX and TXT are values."""


@dataclass(frozen=True)
class Answer:
    """The outcome of one query. Names are lower-case and carry no trailing dot.

    ``authenticated`` is the AD bit of the reply: the resolver asked says it validated the
    answer with DNSSEC (RFC 4035 §3.2.3, RFC 6840 §5.7). It is only as trustworthy as the
    path to that resolver (RFC 7672 §2.1.1): a local validating resolver, or a trusted one.
    """

    name: str
    rdtype: str
    rcode: Rcode
    records: tuple[Record, ...] = ()
    ttl: int = 0
    elapsed: float = 0.0
    canonical_name: str = ""
    authenticated: bool = False

    @property
    def texts(self) -> tuple[str, ...]:
        """The TXT records' concatenated text."""
        return tuple(r.text for r in self.records if isinstance(r, TXT))

    @property
    def txt_records(self) -> tuple[TXT, ...]:
        return tuple(r for r in self.records if isinstance(r, TXT))

    @property
    def mx_records(self) -> tuple[MX, ...]:
        return tuple(r for r in self.records if isinstance(r, MX))

    @property
    def strings(self) -> tuple[str, ...]:
        """Address and name records (A, AAAA, PTR, CNAME, NS, SOA) as text."""
        return tuple(r for r in self.records if isinstance(r, str))

    @property
    def exists(self) -> bool:
        """True unless the name does not exist (NODATA means the name exists)."""
        return self.rcode is not Rcode.NXDOMAIN


@dataclass(frozen=True)
class QueryLogEntry:
    """One query as evidence: what was asked, what came back, how long it took."""

    name: str
    rdtype: str
    outcome: str  # an Rcode value, or "error:<reason>"
    elapsed: float
    cached: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.rdtype,
            "outcome": self.outcome,
            "elapsed_ms": round(self.elapsed * 1000, 2),
            "cached": self.cached,
        }


class Resolver(Protocol):
    """What every check needs from DNS."""

    async def query(self, name: str, rdtype: str) -> Answer:
        """Answer ``name``/``rdtype``; NXDOMAIN and NODATA are answers. Raises ``DnsError``."""
        ...


def normalize_name(name: str) -> str:
    """Lower-case, no trailing dot; IDN U-labels become A-labels."""
    name = name.strip().rstrip(".").lower()
    if not name.isascii():
        try:
            name = dns.name.from_unicode(name).to_text(omit_final_dot=True).lower()
        except (dns.exception.DNSException, UnicodeError, ValueError):
            return name
    return name
