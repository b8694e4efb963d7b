"""MemoryResolver: answers from zone data in memory, for tests and offline analysis; strict
mode fails the test on any query the zone does not mention."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from diag.errors import DnsError
from diag.resolver.answer import (
    MAX_CNAME_CHAIN,
    Answer,
    QueryLogEntry,
    Rcode,
    Record,
    normalize_name,
)

ZoneData = Mapping[str, Mapping[str, Sequence[Record]]]
"""Records by name and type: ``{"example.com": {"TXT": [TXT((b"v=spf1 -all",))]}}``."""


class UnexpectedQuery(AssertionError):
    """A strict MemoryResolver was asked something its zone does not mention."""


@dataclass
class MemoryResolver:
    """An in-memory resolver for tests and offline analysis.

    Names in ``zone`` exist; their ancestors exist as empty non-terminals (NODATA). In strict
    mode a query for any other name raises ``UnexpectedQuery`` (an AssertionError, so the test
    fails) unless the name is listed in ``nxdomain``; otherwise it is NXDOMAIN. ``errors`` maps
    ``(name, rdtype)`` (rdtype ``"*"`` for any) to a DnsError reason such as ``"timeout"``.
    Answers for the names in ``authenticated`` carry the AD bit, as a validating resolver's
    would for a signed zone (through a CNAME, only when every name on the way is listed).
    Every query is logged in ``log``.
    """

    zone: ZoneData
    strict: bool = True
    nxdomain: Iterable[str] = ()
    errors: Mapping[tuple[str, str], str] = field(default_factory=dict)
    ttl: int = 300
    authenticated: Iterable[str] = ()
    log: list[QueryLogEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._zone = {
            normalize_name(n): {t.upper(): tuple(rs) for t, rs in types.items()}
            for n, types in self.zone.items()
        }
        self._nx = {normalize_name(n) for n in self.nxdomain}
        self._ents = {
            ".".join(name.split(".")[i:])
            for name in self._zone
            for i in range(1, name.count(".") + 1)
        }
        self._errors = {(normalize_name(n), t.upper()): r for (n, t), r in self.errors.items()}
        self._signed = frozenset(normalize_name(n) for n in self.authenticated)

    @property
    def queries(self) -> list[tuple[str, str]]:
        """The (name, type) pairs asked so far, in order."""
        return [(e.name, e.rdtype) for e in self.log]

    async def query(self, name: str, rdtype: str) -> Answer:
        qname = normalize_name(name)
        rdtype = rdtype.upper()
        reason = self._errors.get((qname, rdtype)) or self._errors.get((qname, "*"))
        if reason:
            self.log.append(QueryLogEntry(qname, rdtype, f"error:{reason}", 0.0))
            raise DnsError(qname=qname, rdtype=rdtype, reason=reason)
        try:
            answer = self._answer(qname, rdtype)
        except DnsError as exc:
            self.log.append(QueryLogEntry(qname, rdtype, f"error:{exc.reason}", 0.0))
            raise DnsError(
                qname=qname, rdtype=rdtype, reason=exc.reason, detail=exc.detail
            ) from None
        self.log.append(QueryLogEntry(qname, rdtype, answer.rcode.value, 0.0))
        return answer

    def _answer(self, qname: str, rdtype: str, depth: int = 0) -> Answer:
        types = self._zone.get(qname)
        signed = qname in self._signed
        if types is None:
            if qname in self._ents:
                return Answer(qname, rdtype, Rcode.NODATA, (), self.ttl, authenticated=signed)
            if self.strict and qname not in self._nx:
                raise UnexpectedQuery(f"unexpected DNS query {qname} {rdtype}")
            return Answer(qname, rdtype, Rcode.NXDOMAIN, (), self.ttl, authenticated=signed)
        records = types.get(rdtype, ())
        if not records and "CNAME" in types and rdtype != "CNAME":
            if depth >= MAX_CNAME_CHAIN:
                detail = f"more than {MAX_CNAME_CHAIN} CNAMEs, at {qname}"
                raise DnsError(qname=qname, rdtype=rdtype, reason="cname_loop", detail=detail)
            target = normalize_name(str(types["CNAME"][0]))
            followed = self._answer(target, rdtype, depth + 1)
            canonical = followed.canonical_name or target
            secure = signed and followed.authenticated
            records = followed.records
            return Answer(qname, rdtype, followed.rcode, records, self.ttl, 0.0, canonical, secure)
        rcode = Rcode.NOERROR if records else Rcode.NODATA
        return Answer(qname, rdtype, rcode, tuple(records), self.ttl, 0.0, qname, signed)
