"""A small DNS message codec for the resolver's fast path: one question out, common answers in.

``encode_query`` builds the query dnspython's resolver would send (RD and AD, EDNS0 with a
1232-byte payload); ``decode_answer`` reads a reply into the resolver's ``Answer`` values for
A, AAAA, TXT, SPF, MX, PTR and NS, with the reply's AD bit. It is pure and declines (returns
``None``, or raises ``Declined``) whatever it does not handle exactly as dnspython would: the
caller then asks through dnspython.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

import dns.ipv4
import dns.ipv6

from diag.names import MAX_LABEL_LENGTH
from diag.resolver.answer import DEFAULT_NEGATIVE_TTL, MX, TXT, Rcode, Record

A, NS, CNAME, SOA, PTR, MX_TYPE, TXT_TYPE, AAAA, OPT, SPF = 1, 2, 5, 6, 12, 15, 16, 28, 41, 99
TYPE_CODES = {
    "A": A,
    "NS": NS,
    "PTR": PTR,
    "MX": MX_TYPE,
    "TXT": TXT_TYPE,
    "AAAA": AAAA,
    "SPF": SPF,
}
"""The types the fast path answers; every other type goes through dnspython."""
CLASS_IN = 1
EDNS_PAYLOAD = 1232  # the resolver's advertised UDP size (DNS flag day 2020)
MAX_CHAIN = 16  # CNAMEs dnspython follows within one response before ChainTooLong
MAX_NAME = 255  # RFC 1035 §2.3.4
MAX_TTL = 0x7FFFFFFF  # RFC 2181 §8
MAX_POINTERS = 16  # compression pointers followed in one name (dnspython's limit)

_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")  # type, class, TTL, RDLENGTH (RFC 1035 §4.1.3)
_ADDRESS_LENGTH = {A: 4, AAAA: 16}
_QR, _TC, _RD, _AD = 0x8000, 0x0200, 0x0100, 0x0020
_OPCODE_MASK, _RCODE_MASK = 0x7800, 0x000F
_NOERROR, _NXDOMAIN, _YXDOMAIN = 0, 3, 6
_OPT_RR = b"\x00" + struct.pack("!HHIH", OPT, EDNS_PAYLOAD, 0, 0)
# dnspython writes these label bytes as they are; any other byte is escaped in its text form
_PLAIN = frozenset(range(0x21, 0x7F)) - frozenset(b'"().;\\@$')


class Declined(Exception):
    """The message is not one the fast path reads exactly as dnspython would."""


class Truncated(Declined):
    """The reply has TC set: the question must be asked again over TCP (RFC 7766)."""


class ServerFailure(Declined):
    """The server answered with an error rcode (SERVFAIL, REFUSED, NOTIMP, FORMERR, ...)."""

    def __init__(self, rcode: int) -> None:
        super().__init__(f"rcode {rcode}")
        self.rcode = rcode


@dataclass(frozen=True)
class Decoded:
    """A reply to our question: its rcode as data, the records at the end of any CNAME chain."""

    rcode: Rcode
    records: tuple[Record, ...]
    ttl: int
    canonical_name: str
    authenticated: bool = False  # the reply's AD bit (RFC 4035 §3.2.3)


def encode_name(name: str) -> bytes | None:
    """The wire form of a normalized name (no trailing dot), or None if it needs dnspython."""
    if not name or not name.isascii():
        return None
    wire = bytearray()
    for label in name.split("."):
        raw = label.encode("ascii")
        if not raw or len(raw) > MAX_LABEL_LENGTH or not _PLAIN.issuperset(raw):
            return None
        wire.append(len(raw))
        wire += raw
    wire.append(0)
    return bytes(wire) if len(wire) <= MAX_NAME else None


def encode_query(msg_id: int, qname_wire: bytes, rdtype: int) -> bytes:
    """One question with RD and AD set (AD asks a validating resolver to say whether it
    validated the answer, RFC 6840 §5.7) and an EDNS0 OPT record (as
    ``Resolver.use_edns(0, 0, 1232)``)."""
    header = _HEADER.pack(msg_id, _RD | _AD, 1, 0, 0, 1)
    return header + qname_wire + struct.pack("!HH", rdtype, CLASS_IN) + _OPT_RR


def decode_answer(data: bytes, msg_id: int, qname_wire: bytes, rdtype: int) -> Decoded | None:
    """Read the reply to (``msg_id``, ``qname_wire``, ``rdtype``).

    Returns None for a datagram that is not that reply (dnspython ignores those and keeps
    waiting). Raises ``Truncated`` when TC is set, ``ServerFailure`` for an error rcode, and
    ``Declined`` for other replies it leaves to dnspython: YXDOMAIN, an NXDOMAIN with answers,
    records it does not decode, anything malformed.
    """
    if len(data) < _HEADER.size:
        return None
    rid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
    if rid != msg_id or not flags & _QR or flags & _OPCODE_MASK:
        return None
    if qdcount != 1:
        raise Declined("not one question")  # dnspython accepts some error replies without one
    end = _HEADER.size + len(qname_wire) + 4
    ours = (
        len(data) >= end
        and data[_HEADER.size : end - 4].lower() == qname_wire.lower()
        and data[end - 4 : end] == struct.pack("!HH", rdtype, CLASS_IN)
    )
    if flags & _TC:  # dnspython may take even a cut or garbled truncated reply for ours
        raise Truncated("truncated") if ours else Declined("truncated, question unclear")
    if not ours:
        return None
    reader = _Reader(data, end)
    answers = [reader.record() for _ in range(ancount)]
    authority = [reader.record() for _ in range(nscount)]
    extended = 0
    opts = 0
    for rtype, _, ttl, _, _ in (reader.record() for _ in range(arcount)):
        if rtype == OPT:
            opts += 1
            extended = ttl >> 24
    if reader.offset != len(data) or opts > 1:
        raise Declined("trailing data or several OPT records")
    if any(r[0] == OPT for r in (*answers, *authority)):
        raise Declined("OPT outside the additional section")
    rcode = (extended << 4) | (flags & _RCODE_MASK)
    if rcode == _NXDOMAIN:
        if answers:
            raise Declined("NXDOMAIN at the end of a CNAME chain")
        ttl = _negative_ttl(data, authority)
        return Decoded(Rcode.NXDOMAIN, (), ttl, "", authenticated=bool(flags & _AD))
    if rcode == _YXDOMAIN:
        raise Declined("YXDOMAIN")
    if rcode != _NOERROR:
        raise ServerFailure(rcode)
    decoded = _resolve_chain(data, rdtype, answers, authority)
    return replace(decoded, authenticated=True) if flags & _AD else decoded


_Raw = tuple[int, int, int, int, int]  # type, class, TTL, rdata offset, owner name offset


def _resolve_chain(data: bytes, rdtype: int, answers: list[_Raw], authority: list[_Raw]) -> Decoded:
    """From the question's name through any CNAMEs to the ``rdtype`` records (or NODATA)."""
    owner = _read_name(data, _HEADER.size)[0].lower()
    for _ in range(MAX_CHAIN + 1):
        here = [r for r in answers if _read_name(data, r[4])[0].lower() == owner]
        matching = [r for r in here if r[0] == rdtype]
        if matching:
            records, ttl = _records(data, matching, rdtype)
            return Decoded(Rcode.NOERROR, records, ttl, _text(owner))
        cnames = [r for r in here if r[0] == CNAME]
        if not cnames:
            return Decoded(Rcode.NODATA, (), _negative_ttl(data, authority), _text(owner))
        if len(cnames) > 1:
            raise Declined("several CNAMEs at one name")
        owner = _read_name(data, cnames[0][3])[0].lower()
    raise Declined("CNAME chain too long")


def _records(data: bytes, raws: list[_Raw], rdtype: int) -> tuple[tuple[Record, ...], int]:
    """The rrset's distinct values in wire order and its TTL (the smallest, as dnspython)."""
    values: list[Record] = []
    for _, _, _, rdata, _ in raws:
        value = _rdata(data, rdata, rdtype)
        if value not in values:
            values.append(value)
    return tuple(values), min(r[2] for r in raws)


def _rdata(data: bytes, offset: int, rdtype: int) -> Record:
    """The value of a record ``_check_rdata`` has accepted."""
    end = offset + int.from_bytes(data[offset - 2 : offset], "big")
    if rdtype == A:
        return str(dns.ipv4.inet_ntoa(data[offset:end]))
    if rdtype == AAAA:
        return str(dns.ipv6.inet_ntoa(data[offset:end]))
    if rdtype in (TXT_TYPE, SPF):
        return TXT(_strings(data[offset:end]))
    if rdtype == MX_TYPE:
        text = _text(_read_name(data, offset + 2)[0].lower())
        return MX(int.from_bytes(data[offset : offset + 2], "big"), "" if text == "." else text)
    return _text(_read_name(data, offset)[0].lower())


def _strings(rdata: bytes) -> tuple[bytes, ...]:
    """TXT character-strings (RFC 1035 §3.3.14); dnspython refuses an empty TXT record."""
    strings: list[bytes] = []
    at = 0
    while at < len(rdata):
        end = at + 1 + rdata[at]
        if end > len(rdata):
            raise Declined("TXT string runs past its record")
        strings.append(rdata[at + 1 : end])
        at = end
    if not strings:
        raise Declined("empty TXT record")
    return tuple(strings)


def _negative_ttl(data: bytes, authority: list[_Raw]) -> int:
    """min(SOA TTL, SOA MINIMUM) of the first SOA in the authority section (RFC 2308 §5)."""
    for rtype, _, ttl, rdata, _ in authority:
        if rtype == SOA:
            _, after = _read_name(data, rdata)
            _, after = _read_name(data, after)
            minimum = int.from_bytes(data[after + 16 : after + 20], "big")
            return min(ttl, minimum)
    return DEFAULT_NEGATIVE_TTL


def _text(name: bytes) -> str:
    """dnspython's ``to_text(omit_final_dot=True)`` for names whose labels need no escaping."""
    if not name:
        return "."
    if not _PLAIN.issuperset(name.replace(b".", b"")):
        raise Declined("a name dnspython would escape")
    return name.decode("ascii")


def _read_name(data: bytes, offset: int) -> tuple[bytes, int]:
    """The dotted name at ``offset`` (no trailing dot) and the offset just past it.

    Compression pointers follow dnspython's rules (RFC 1035 §4.1.4 leaves them open): each
    points before the previous target, what it points to ends before the part of the name
    that holds the pointer, and at most ``MAX_POINTERS`` are followed.
    """
    labels: list[bytes] = []
    after = -1
    size = 1
    start, end = offset, len(data)
    for _ in range(MAX_POINTERS + 1):
        while True:
            if offset >= end:
                raise Declined("name runs past its bounds")
            length = data[offset]
            if length == 0:
                return b".".join(labels), offset + 1 if after < 0 else after
            if length >= 0xC0:
                break
            if length > MAX_LABEL_LENGTH:
                raise Declined("unknown label type")
            label = data[offset + 1 : offset + 1 + length]
            if offset + 1 + length > end or b"." in label:
                raise Declined("label runs past its bounds or holds a dot")
            size += length + 1
            if size > MAX_NAME:
                raise Declined("name too long")
            labels.append(label)
            offset += 1 + length
        if offset + 1 >= end:
            raise Declined("pointer runs past its bounds")
        target = ((length & 0x3F) << 8) | data[offset + 1]
        if target >= start:
            raise Declined("compression pointer not backwards")
        if after < 0:
            after = offset + 2
        offset, end, start = target, start, target
    raise Declined("too many compression pointers")


class _Reader:
    """Walks resource records, keeping where each record's owner name and RDATA start."""

    def __init__(self, data: bytes, offset: int) -> None:
        self.data = data
        self.offset = offset

    def record(self) -> _Raw:
        owner = self.offset
        _, after = _read_name(self.data, owner)
        if after + _RR_FIXED.size > len(self.data):
            raise Declined("record header runs past the message")
        rtype, rclass, ttl, length = _RR_FIXED.unpack_from(self.data, after)
        rdata = after + _RR_FIXED.size
        if rdata + length > len(self.data):
            raise Declined("record data runs past the message")
        if rtype == OPT:
            if self.data[owner] != 0 or length:
                raise Declined("OPT record with an owner name or options")
        elif rclass != CLASS_IN:
            raise Declined("a record of another class")
        else:
            _check_rdata(self.data, rtype, rdata, length)
            if ttl > MAX_TTL:
                ttl = 0  # RFC 2181 §8: a TTL with the top bit set is taken as zero
        self.offset = rdata + length
        return rtype, rclass, ttl, rdata, owner


def _check_rdata(data: bytes, rtype: int, offset: int, length: int) -> None:
    """Refuse RDATA dnspython would refuse (it parses every record of a reply); types whose
    checks are not written here are refused too."""
    end = offset + length
    if rtype in _ADDRESS_LENGTH:
        if length != _ADDRESS_LENGTH[rtype]:
            raise Declined("address record of the wrong length")
    elif rtype in (TXT_TYPE, SPF):
        _strings(data[offset:end])
    elif rtype in (NS, CNAME, PTR, MX_TYPE, SOA):
        at = offset + 2 if rtype == MX_TYPE else offset
        _, at = _read_name(data, at)
        if rtype == SOA:
            _, at = _read_name(data, at)
            at += 20  # serial, refresh, retry, expire, minimum (RFC 1035 §3.3.13)
        if at != end:
            raise Declined("record data of the wrong length")
    else:
        raise Declined(f"record type {rtype}")
