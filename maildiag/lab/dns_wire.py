"""The lab DNS server's answers: a compiled zone and the wire messages built from it.

Pure: a query message in, a response message (or bytes) out; no sockets and no awaits.
It never answers for the live DNS: it only knows the ``ZoneData`` it was given.

Zone apex rule (where the synthetic SOA lives): the closest ancestor-or-self of the query name
that has an explicit SOA record in the zone; otherwise the *shortest* suffix of the query name
that is itself a name in the zone (``legacy.visma.example`` and ``visma.example`` both present
means the apex is ``visma.example``); otherwise, for names outside every zone name, the last
two labels of the query name (``in-addr.arpa``, ``nowhere.example``).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.MX
import dns.rrset

from diag.resolver import MX, TXT, Record, ZoneData

CLASSIC_UDP_LIMIT = 512  # RFC 1035 §4.2.1: UDP messages are limited to 512 octets
OUR_EDNS_PAYLOAD = 1232  # the DNS Flag Day 2020 recommendation for EDNS UDP payload
MAX_TXT_STRING = 255  # RFC 1035 §3.3: a <character-string> holds at most 255 octets
MAX_CNAME_CHAIN = 8  # how many CNAMEs the server follows before it stops (loop protection)
HEADER = struct.Struct("!HHHHHH")  # RFC 1035 §4.1.1: id, flags, qd, an, ns, ar counts
RR_FIXED = struct.Struct("!HHIH")  # RFC 1035 §4.1.3: type, class, TTL, RDLENGTH
OPT_EMPTY = struct.Struct("!BHHIH")  # RFC 6891 §6.1.2: root name, OPT, payload, TTL, RDLENGTH
QUESTION_POINTER = b"\xc0\x0c"  # RFC 1035 §4.1.4: the name at offset 12, the question's
_QUERY_FLAGS = dns.flags.RD | dns.flags.CD | dns.flags.AD  # what a plain query may set
_FAST_LABEL = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")

_IN = dns.rdataclass.IN
_SOA = dns.rdatatype.SOA
_CNAME = dns.rdatatype.CNAME


def to_name(text: str) -> dns.name.Name:
    """``text`` as an absolute, lower-case name. Raises ``ValueError`` for an invalid name."""
    try:
        return dns.name.from_text(text.strip().rstrip(".") + ".").canonicalize()
    except (dns.exception.DNSException, UnicodeError) as exc:
        raise ValueError(f"bad name {text!r}: {exc}") from exc


def to_rdtype(text: str) -> dns.rdatatype.RdataType:
    """A record type by name (``TXT``, ``type65280``). Raises ``ValueError`` for unknown ones."""
    try:
        return dns.rdatatype.from_text(text.upper())
    except (dns.exception.DNSException, ValueError) as exc:
        raise ValueError(f"unknown record type {text!r}") from exc


def split_txt(data: bytes) -> tuple[bytes, ...]:
    """Split ``data`` into character-strings of at most 255 octets (RFC 7208 §3.3)."""
    if not data:
        return (b"",)
    return tuple(data[i : i + MAX_TXT_STRING] for i in range(0, len(data), MAX_TXT_STRING))


def record_to_rdata(rdtype: str, record: Record) -> dns.rdata.Rdata:
    """Turn one zone record into dnspython rdata.

    Raises ``ValueError`` when the record does not fit the type.
    """
    code = to_rdtype(rdtype)
    if isinstance(record, TXT):
        if code not in (dns.rdatatype.TXT, dns.rdatatype.SPF):
            raise ValueError(f"a TXT value given for type {rdtype}")
        return _txt(code, [piece for s in record.strings for piece in split_txt(s)])
    if isinstance(record, MX):
        if code != dns.rdatatype.MX:
            raise ValueError(f"an MX value given for type {rdtype}")
        exchange = to_name(record.exchange) if record.exchange else dns.name.root
        mx: dns.rdata.Rdata = dns.rdtypes.ANY.MX.MX(  # type: ignore[no-untyped-call]
            _IN, code, record.preference, exchange
        )
        return mx
    if code in (dns.rdatatype.TXT, dns.rdatatype.SPF):
        return _txt(code, split_txt(record.encode()))
    try:
        return dns.rdata.from_text(_IN, code, record, origin=dns.name.root, relativize=False)
    except (dns.exception.DNSException, UnicodeError) as exc:
        raise ValueError(f"bad {rdtype} record {record!r}: {exc}") from exc


def _txt(code: dns.rdatatype.RdataType, strings: Sequence[bytes]) -> dns.rdata.Rdata:
    cls: Any = dns.rdata.get_rdata_class(_IN, code)  # type: ignore[no-untyped-call]
    rdata: dns.rdata.Rdata = cls(_IN, code, list(strings) or [b""])
    return rdata


class CompiledZone:
    """``ZoneData`` turned into rdata once, with the names, empty non-terminals and apexes.

    Raises ``ValueError`` from the constructor when a record does not fit its type.
    """

    def __init__(self, zone: ZoneData, ttl: int = 300) -> None:
        self.ttl = ttl
        self._nodes: dict[dns.name.Name, dict[int, list[dns.rdata.Rdata]]] = {}
        for owner, types in zone.items():
            node = self._nodes.setdefault(to_name(owner), {})
            for rdtype, records in types.items():
                rdatas = node.setdefault(to_rdtype(rdtype), [])
                rdatas.extend(record_to_rdata(rdtype.upper(), r) for r in records)
        self._ents = {
            owner.split(depth)[1] for owner in self._nodes for depth in range(2, len(owner.labels))
        }
        self._wire: dict[tuple[dns.name.Name, int], tuple[int, bytes]] = {}
        self._soa_wires: dict[dns.name.Name, bytes] = {}

    def answer_wire(self, name: dns.name.Name, rdtype: int) -> tuple[int, bytes] | None:
        """The answer section for ``name``/``rdtype`` when the zone holds that RRset itself
        (no CNAME to follow, not ANY): how many records and their wire form, each owned by a
        pointer to the question's name and with its RDATA uncompressed. None otherwise.
        Rendered once per RRset."""
        cached = self._wire.get((name, rdtype))
        if cached is not None:
            return cached
        rdatas = self._nodes.get(name, {}).get(rdtype)
        if not rdatas or rdtype == dns.rdatatype.ANY:
            return None
        rrset = dns.rrset.from_rdata_list(name, self.ttl, rdatas)  # duplicates dropped
        parts = []
        for rdata in rrset:
            data = rdata.to_wire()
            parts.append(QUESTION_POINTER + RR_FIXED.pack(rdtype, _IN, self.ttl, len(data)) + data)
        rendered = (len(parts), b"".join(parts))
        self._wire[(name, rdtype)] = rendered
        return rendered

    def sections_wire(self, name: dns.name.Name, rdtype: int) -> tuple[int, int, int, bytes] | None:
        """What ``fill`` puts in a response for ``name``/``rdtype``, as ``(rcode, answer
        count, authority count, the records' wire form)``, when no CNAME is involved: the
        RRset (``answer_wire``), or no such name (NXDOMAIN) or no such type (NODATA) with the
        apex's SOA in the authority section. None for what only ``fill`` answers: a CNAME to
        follow or to return, ANY, and SOA."""
        if rdtype in (dns.rdatatype.ANY, _SOA, _CNAME):
            return None
        node = self._nodes.get(name)
        if node is not None:
            found = self.answer_wire(name, rdtype)
            if found is not None:
                return dns.rcode.NOERROR, found[0], 0, found[1]
            if _CNAME in node:
                return None
        rcode = dns.rcode.NOERROR if self.exists(name) else dns.rcode.NXDOMAIN
        return rcode, 0, 1, self._soa_wire(self.apex(name))

    def _soa_wire(self, apex: dns.name.Name) -> bytes:
        """The SOA record of ``apex`` for a negative answer, uncompressed; rendered once per
        apex that is a name of the zone (an apex made up from a query name outside the zone
        is rendered each time, so that questions cannot grow the cache)."""
        cached = self._soa_wires.get(apex)
        if cached is not None:
            return cached
        owner = apex.to_wire()
        assert owner is not None  # no file given: the bytes
        rendered = b"".join(
            owner + RR_FIXED.pack(_SOA, _IN, self.ttl, len(data)) + data
            for data in (rdata.to_wire() for rdata in self.soa(apex))
        )
        if apex in self._nodes:
            self._soa_wires[apex] = rendered
        return rendered

    def exists(self, name: dns.name.Name) -> bool:
        """True for names in the zone and their ancestors (empty non-terminals)."""
        return name in self._nodes or name in self._ents

    def apex(self, name: dns.name.Name) -> dns.name.Name:
        """The apex whose SOA goes into negative answers for ``name`` (see the module rule)."""
        suffixes = list(_suffixes(name))
        for suffix in suffixes:
            if _SOA in self._nodes.get(suffix, {}):
                return suffix
        for suffix in reversed(suffixes):
            if suffix in self._nodes:
                return suffix
        return suffixes[-2] if len(suffixes) >= 2 else name

    def soa(self, name: dns.name.Name) -> dns.rrset.RRset:
        """The SOA RRset of ``name``'s apex: the zone's own, or a synthetic one."""
        apex = self.apex(name)
        rdatas = self._nodes.get(apex, {}).get(_SOA)
        if not rdatas:
            text = f"ns.{apex} hostmaster.{apex} 1 3600 600 86400 {self.ttl}"
            rdatas = [dns.rdata.from_text(_IN, _SOA, text)]
        return dns.rrset.from_rdata_list(apex, self.ttl, rdatas)

    def fill(self, response: dns.message.Message, qname: dns.name.Name, rdtype: int) -> None:
        """Put the authoritative answer for ``qname``/``rdtype`` into ``response``.

        CNAMEs are followed inside the zone up to ``MAX_CNAME_CHAIN`` links; a chain that comes
        back to a name already seen stops there (the client sees the loop).
        """
        response.flags |= dns.flags.AA
        name, seen = qname, set[dns.name.Name]()
        while True:
            node = self._nodes.get(name)
            if node is None:
                if not self.exists(name):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                response.authority.append(self.soa(name))
                return
            found = self._rrsets(name, node, rdtype)
            if found:
                response.answer.extend(found)
                return
            if _CNAME not in node or rdtype == _CNAME:
                response.authority.append(self.soa(name))
                return
            response.answer.append(dns.rrset.from_rdata_list(name, self.ttl, node[_CNAME]))
            seen.add(name)
            target = node[_CNAME][0].target  # type: ignore[attr-defined]
            if target in seen or len(seen) > MAX_CNAME_CHAIN:
                return
            name = target

    def _rrsets(
        self, name: dns.name.Name, node: dict[int, list[dns.rdata.Rdata]], rdtype: int
    ) -> list[dns.rrset.RRset]:
        if rdtype == dns.rdatatype.ANY:
            return [dns.rrset.from_rdata_list(name, self.ttl, rs) for rs in node.values() if rs]
        rdatas = node.get(rdtype)
        if rdatas:
            return [dns.rrset.from_rdata_list(name, self.ttl, rdatas)]
        if rdtype == _SOA and self.apex(name) == name:
            return [self.soa(name)]
        return []


def _suffixes(name: dns.name.Name) -> Iterator[dns.name.Name]:
    """``a.b.c.`` -> ``a.b.c.``, ``b.c.``, ``c.`` (never the root)."""
    for depth in range(len(name.labels), 1, -1):
        yield name.split(depth)[1]


def make_response(query: dns.message.Message) -> dns.message.Message:
    """An empty response to ``query`` that echoes its question and EDNS."""
    response = dns.message.make_response(query, our_payload=OUR_EDNS_PAYLOAD)
    response.flags &= ~dns.flags.RA
    return response


def udp_limit(query: dns.message.Message) -> int:
    """The largest UDP response the client accepts (RFC 6891 §6.2.5)."""
    if query.edns >= 0:
        return max(CLASSIC_UDP_LIMIT, query.payload)
    return CLASSIC_UDP_LIMIT


def to_wire_limited(response: dns.message.Message, limit: int) -> bytes:
    """``response`` as wire bytes; if it exceeds ``limit``, an empty copy with TC set."""
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        return truncated(response)


def truncated(response: dns.message.Message) -> bytes:
    """The response with its sections emptied and TC set (RFC 2181 §9)."""
    response.answer.clear()
    response.authority.clear()
    response.additional.clear()
    response.flags |= dns.flags.TC
    return response.to_wire()


def header_only(data: bytes, rcode: dns.rcode.Rcode) -> bytes | None:
    """A bare header answering the raw query ``data`` with ``rcode`` (FORMERR, SERVFAIL).

    None when there is nothing to answer: no complete header, or not a query (QR set)
    (RFC 1035 §4.1.1).
    """
    if len(data) < HEADER.size:
        return None
    query_id, flags = struct.unpack("!HH", data[:4])
    if flags & dns.flags.QR:
        return None
    opcode_bits = flags & 0x7800
    return HEADER.pack(query_id, dns.flags.QR | opcode_bits | rcode, 0, 0, 0, 0)


def garbage(query: dns.message.Message) -> bytes:
    """A reply that matches ``query``'s id and question but whose answer cannot be parsed.

    The TC bit is set, so a stub resolver that drops unparseable UDP datagrams still retries
    over TCP; there the same malformed message comes back and the client fails to parse it.
    After the question comes a compression pointer past the end and random bytes.
    """
    wire = bytes(query.to_wire())
    question_end = HEADER.size + _question_length(query)
    flags = dns.flags.QR | dns.flags.AA | dns.flags.TC
    header = HEADER.pack(query.id, flags, 1, 3, 0, 0)
    return header + wire[HEADER.size : question_end] + b"\xff\xff" + os.urandom(24)


def _question_length(query: dns.message.Message) -> int:
    if not query.question:
        return 0
    return len(query.question[0].name.to_wire() or b"") + 4


def rcode_only(query: dns.message.Message, rcode: dns.rcode.Rcode) -> bytes:
    """A response carrying only ``rcode`` (SERVFAIL, REFUSED, NOTIMP, FORMERR)."""
    response = make_response(query)
    response.set_rcode(rcode)
    return response.to_wire()


def answer(zone: CompiledZone, query: dns.message.Message) -> dns.message.Message:
    """The authoritative response to a parsed ``query``."""
    response = make_response(query)
    if query.opcode() != dns.opcode.QUERY:
        response.set_rcode(dns.rcode.NOTIMP)
    elif len(query.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
    elif query.question[0].rdclass != _IN:
        response.set_rcode(dns.rcode.REFUSED)
    else:
        question = query.question[0]
        zone.fill(response, question.name.canonicalize(), question.rdtype)
    return response


def fast_reply(
    zone: CompiledZone, data: bytes, *, tcp_limit: int | None = None
) -> tuple[str, bytes] | None:
    """The reply to the raw query ``data`` without dnspython's parsing and rendering, when it
    is a plain one: one IN question, answered by an RRset of the zone, NXDOMAIN or NODATA
    (``CompiledZone.sections_wire``), no other record but an EDNS version 0 OPT without
    options or DO. Returns the question's name (lower case, for the faults) and the reply,
    or None for the general path (``answer``), which gives the same answer. Never raises for
    any input.

    The reply is what ``answer`` gives, rendered differently: the answer records point at
    the question's name (as name compression does), the SOA's owner is written out and no
    RDATA is compressed, so it is never smaller; one over the limit (``tcp_limit`` over TCP,
    the client's over UDP) goes to the general path, which compresses and truncates.
    """
    if len(data) < HEADER.size + 5:
        return None
    query_id, flags, qdcount, ancount, nscount, arcount = HEADER.unpack_from(data)
    if flags & ~_QUERY_FLAGS or qdcount != 1 or ancount or nscount or arcount > 1:
        return None  # QR, another opcode, TC, an rcode, or more than a question and an OPT
    labels: list[bytes] = []
    at = HEADER.size
    while (length := data[at]) != 0:
        if (
            length > 63
            or at + 1 + length >= len(data)
            or not _FAST_LABEL.issuperset(data[at + 1 : at + 1 + length])
        ):
            return None  # a pointer, an extended label type, cut short, or an unusual byte
        labels.append(data[at + 1 : at + 1 + length].lower())
        at += 1 + length
    end = at + 5  # the root label, QTYPE and QCLASS
    if not labels or at + 1 - HEADER.size > 255 or len(data) < end:
        return None
    qtype, qclass = struct.unpack_from("!HH", data, at + 1)
    if qclass != _IN:
        return None
    payload: int | None = None
    if arcount:
        if len(data) != end + OPT_EMPTY.size:
            return None
        root, rrtype, payload, ttl, rdlength = OPT_EMPTY.unpack_from(data, end)
        if root or rrtype != dns.rdatatype.OPT or ttl or rdlength:
            return None  # not an OPT, an extended rcode, version or DO bit, or options
    elif len(data) != end:
        return None
    try:
        name = dns.name.Name([*labels, b""])
    except dns.exception.DNSException:
        return None
    sections = zone.sections_wire(name, qtype)
    if sections is None:
        return None
    rcode, answers, authorities, records = sections
    reply_flags = dns.flags.QR | dns.flags.AA | (flags & dns.flags.RD) | rcode
    opt = b"" if payload is None else OPT_EMPTY.pack(0, dns.rdatatype.OPT, OUR_EDNS_PAYLOAD, 0, 0)
    header = HEADER.pack(query_id, reply_flags, 1, answers, authorities, 0 if opt == b"" else 1)
    reply = header + data[HEADER.size : end] + records + opt
    limit = CLASSIC_UDP_LIMIT if payload is None else max(CLASSIC_UDP_LIMIT, payload)
    if len(reply) > (limit if tcp_limit is None else tcp_limit):
        return None
    return b".".join(labels).decode("ascii"), reply


def question_name(query: dns.message.Message) -> str:
    """The query's name, lower-case without the trailing dot ("" when there is no question)."""
    if not query.question:
        return ""
    return query.question[0].name.to_text(omit_final_dot=True).lower()


__all__ = (
    "CompiledZone",
    "answer",
    "fast_reply",
    "garbage",
    "header_only",
    "make_response",
    "question_name",
    "rcode_only",
    "record_to_rdata",
    "split_txt",
    "to_name",
    "to_rdtype",
    "to_wire_limited",
    "truncated",
    "udp_limit",
)
