"""The header block of a message as a receiver reads it, and the From domains DMARC needs.

Pure: bytes in, frozen values out. Tolerant of whatever arrives (bare LF, 8-bit bytes,
garbled lines, no body) and bounded (a field count and a byte limit); what was odd is named
in ``problems`` so the verdict can say why, never raised.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass

from diag.lines import header_end, split_lines

MAX_HEADER_FIELDS = 1000  # far above real mail; a bound on work, not an RFC limit
MAX_HEADER_BYTES = 256 * 1024  # RFC 5322 §2.1.1 lines are <= 998; real header blocks are < 64 KiB
_FIELD_NAME = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:")  # RFC 5322 §3.6.8 ftext, obs WSP
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)+$"
)

# Problem codes (stable; the verdict turns them into findings).
HEADER_LIMIT = "header_limit"  # more fields or bytes than the limits: only the first are read
GARBLED = "garbled_line"  # a line that is neither a field nor a continuation
EIGHT_BIT = "eight_bit"  # non-ASCII bytes in the header block (RFC 6532 UTF-8 or worse)
INVALID_UTF8 = "invalid_utf8"  # 8-bit header bytes that are not UTF-8
NO_FROM = "no_from"  # RFC 5322 §3.6: exactly one From field is required
MULTIPLE_FROM_FIELDS = "multiple_from_fields"
MULTIPLE_FROM_ADDRESSES = "multiple_from_addresses"  # allowed with Sender (RFC 5322 §3.6.2)
FROM_UNPARSEABLE = "from_unparseable"  # a From field with no usable domain


@dataclass(frozen=True)
class HeaderBlock:
    """The fields in order (name lower-case, value unfolded and decoded), and what was odd."""

    fields: tuple[tuple[str, str], ...]
    problems: tuple[str, ...]
    header_bytes: int

    def values(self, name: str) -> tuple[str, ...]:
        wanted = name.lower()
        return tuple(value for field_name, value in self.fields if field_name == wanted)

    @property
    def within_limits(self) -> bool:
        return HEADER_LIMIT not in self.problems


@dataclass(frozen=True)
class FromDomains:
    """The RFC5322.From domains DMARC evaluates (RFC 9989 §5.3.1), and why they may be odd."""

    domains: tuple[str, ...]
    addresses: tuple[str, ...]
    fields: int
    problems: tuple[str, ...]


def split_header(message: bytes) -> tuple[bytes, bytes]:
    """The header block and the body, at the first empty line (CRLF or bare LF)."""
    span = header_end(message)
    if span is None:
        return message, b""
    return message[: span[0]], message[span[1] :]


def parse_header_block(
    message: bytes, *, max_fields: int = MAX_HEADER_FIELDS, max_bytes: int = MAX_HEADER_BYTES
) -> HeaderBlock:
    """Read the header fields of ``message``; at most ``max_fields`` fields and ``max_bytes``."""
    block, _ = split_header(message)
    problems: list[str] = []
    if len(block) > max_bytes:
        problems.append(HEADER_LIMIT)
        block = block[:max_bytes]
    if not block.isascii():
        problems.append(EIGHT_BIT)
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(INVALID_UTF8)
    fields: list[tuple[str, list[bytes]]] = []
    for line in split_lines(block):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1].append(line)
            continue
        match = _FIELD_NAME.match(line)
        if match is None:
            if line.strip():
                problems.append(GARBLED)
            continue
        if len(fields) >= max_fields:
            problems.append(HEADER_LIMIT)
            break
        fields.append((match.group(1).decode("ascii").lower(), [line[match.end() :]]))
    parsed = tuple((name, _unfold(parts)) for name, parts in fields)
    return HeaderBlock(parsed, tuple(dict.fromkeys(problems)), len(block))


def _unfold(parts: list[bytes]) -> str:
    raw = b" ".join(part.strip(b"\r\n") for part in parts)
    return raw.decode("utf-8", "replace").strip()


def from_domains(block: HeaderBlock) -> FromDomains:
    """The domains of every address in every From field, lower-case, each once, in order."""
    values = block.values("from")
    problems: list[str] = []
    if not values:
        problems.append(NO_FROM)
    elif len(values) > 1:
        problems.append(MULTIPLE_FROM_FIELDS)
    addresses = [address for _, address in email.utils.getaddresses(list(values)) if address]
    domains: list[str] = []
    for address in addresses:
        domain = address.rpartition("@")[2].strip().rstrip(".").lower()
        if "@" not in address or not domain:
            problems.append(FROM_UNPARSEABLE)
        elif domain not in domains:
            domains.append(domain)  # an invalid name is kept: DMARC makes it a permerror
    if len(addresses) > 1:
        problems.append(MULTIPLE_FROM_ADDRESSES)
    if values and not domains:
        problems.append(FROM_UNPARSEABLE)
    problems = list(dict.fromkeys(problems))
    return FromDomains(tuple(domains), tuple(addresses), len(values), tuple(problems))


def is_domain(text: str) -> bool:
    """A syntactically plausible ASCII domain name of two labels or more."""
    return bool(_DOMAIN.match(text))
