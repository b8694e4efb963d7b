"""A tiny zone-file-like text format for the lab and for tests, parsed into ``ZoneData``.

One record per line: ``name TYPE value``. TXT and SPF values are one or more quoted strings
(each kept as its own character-string; ``\\"``, ``\\\\`` and ``\\DDD`` escapes), MX is
``preference exchange`` (``0 .`` is the null MX), other types take their presentation format.
``;`` starts a comment outside quotes. Names are absolute (a trailing dot is optional) unless
a ``$ORIGIN name`` line is in effect: then ``@`` is the origin and names without a trailing dot
are relative to it. An optional class ``IN`` may stand between name and type. No TTLs: the
server gives every record the same TTL. Pure: text in, data out.
"""

from __future__ import annotations

import ipaddress
import re

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from diag.errors import ParseError
from diag.resolver import MX, TXT, Record, ZoneData
from maildiag.lab.dns_wire import record_to_rdata, to_name

_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^\s";]+)|(;.*)|(".*))')
_ESCAPE = re.compile(rb"\\(\d{3}|.)", re.DOTALL)
_NAME_TYPES = frozenset({"CNAME", "PTR", "NS", "DNAME"})


class _Line:
    """The tokens of one line: (text, start column, quoted)."""

    def __init__(self, number: int, text: str) -> None:
        self.number = number
        self.text = text
        self.tokens: list[tuple[str, int, bool]] = []
        pos = 0
        while pos < len(text) and text[pos:].strip():
            match = _TOKEN.match(text, pos)
            if match is None or match.group(4) is not None:
                start = text.index('"', pos) if match is not None else pos
                raise self.error("unterminated quoted string", start)
            if match.group(3) is not None:
                break
            quoted = match.group(1) is not None
            value = match.group(1) if quoted else match.group(2)
            self.tokens.append((value, match.start(1 if quoted else 2), quoted))
            pos = match.end()

    def error(self, message: str, position: int) -> ParseError:
        return ParseError(f"line {self.number}: {message}", text=self.text, position=position)


def parse_zone_text(text: str) -> ZoneData:
    """Parse the lab zone format (see the module docstring) into ``ZoneData``.

    Raises ``ParseError`` (with the line's text and the column) for anything it cannot read.
    """
    zone: dict[str, dict[str, list[Record]]] = {}
    origin = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _Line(number, raw)
        if not line.tokens:
            continue
        first, column, _ = line.tokens[0]
        if first.upper() == "$ORIGIN":
            if len(line.tokens) != 2:
                raise line.error("$ORIGIN takes one name", column)
            origin = _absolute(line.tokens[1][0], "")
            try:
                to_name(origin)
            except ValueError as exc:
                raise line.error(str(exc), line.tokens[1][1]) from None
            continue
        owner, rdtype, record = _record(line, origin)
        zone.setdefault(owner, {}).setdefault(rdtype, []).append(record)
    return zone


def _record(line: _Line, origin: str) -> tuple[str, str, Record]:
    tokens = line.tokens
    if tokens[0][0] == "@" and not origin:
        raise line.error("@ needs a $ORIGIN line before it", tokens[0][1])
    owner = _absolute(tokens[0][0], origin)
    try:
        to_name(owner)
    except ValueError as exc:
        raise line.error(str(exc), tokens[0][1]) from None
    rest = tokens[1:]
    if rest and rest[0][0].upper() == "IN" and not rest[0][2]:
        rest = rest[1:]
    if not rest:
        raise line.error("expected a record type", len(line.text.rstrip()))
    type_text, type_column, _ = rest[0]
    rdtype = type_text.upper()
    try:
        dns.rdatatype.from_text(rdtype)
    except (dns.rdatatype.UnknownRdatatype, ValueError):
        raise line.error(f"unknown record type {type_text!r}", type_column) from None
    values = rest[1:]
    if not values:
        raise line.error(f"{rdtype} needs a value", len(line.text.rstrip()))
    record = _value(line, rdtype, values, origin)
    try:
        record_to_rdata(rdtype, record)
    except ValueError as exc:
        raise line.error(str(exc), values[0][1]) from None
    return owner, rdtype, record


def _value(line: _Line, rdtype: str, values: list[tuple[str, int, bool]], origin: str) -> Record:
    first, column, _ = values[0]
    if rdtype in ("TXT", "SPF"):
        try:
            return TXT(tuple(_unescape(v) for v, _, _ in values))
        except ValueError:
            raise line.error("a \\DDD escape above 255", column) from None
    if any(quoted for _, _, quoted in values):
        raise line.error(f"quoted strings are only for TXT and SPF, not {rdtype}", column)
    if rdtype == "MX":
        if len(values) != 2 or not first.isdigit() or int(first) > 0xFFFF:
            raise line.error("MX takes a preference (0-65535) and an exchange", column)
        exchange = "" if values[1][0] == "." else _absolute(values[1][0], origin)
        return MX(int(first), exchange)
    if rdtype in ("A", "AAAA"):
        return _address(line, rdtype, values)
    if rdtype in _NAME_TYPES:
        if len(values) != 1:
            raise line.error(f"{rdtype} takes one name", values[-1][1])
        return _absolute(first, origin)
    text = " ".join(v for v, _, _ in values)
    if not origin:
        return text
    try:  # make the names inside the value absolute under $ORIGIN
        rdata = dns.rdata.from_text(
            dns.rdataclass.IN, rdtype, text, origin=dns.name.from_text(origin), relativize=False
        )
    except (dns.exception.DNSException, ValueError) as exc:
        raise line.error(f"bad {rdtype} record {text!r}: {exc}", column) from None
    return rdata.to_text()


def _address(line: _Line, rdtype: str, values: list[tuple[str, int, bool]]) -> str:
    text, column, _ = values[0]
    if len(values) != 1:
        raise line.error(f"{rdtype} takes one address", values[1][1])
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise line.error(f"not an IP address: {text!r}", column) from None
    if address.version != (4 if rdtype == "A" else 6):
        raise line.error(f"{rdtype} needs an IPv{4 if rdtype == 'A' else 6} address", column)
    return str(address)


def _absolute(name: str, origin: str) -> str:
    if name == "@":
        return origin
    if name.endswith(".") or not origin:
        return name.rstrip(".").lower()
    return f"{name}.{origin}".lower()


def _unescape(text: str) -> bytes:
    def replace(match: re.Match[bytes]) -> bytes:
        escaped = match.group(1)
        return bytes([int(escaped)]) if escaped.isdigit() else escaped

    return _ESCAPE.sub(replace, text.encode("utf-8"))
