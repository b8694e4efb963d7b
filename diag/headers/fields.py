"""Splitting pasted headers or a whole message into header fields (RFC 5322 §2.2), tolerantly.

Pure: text in, fields out. Malformed lines are counted, never raised; the body is left alone,
so a header-like line in the body is never read as a header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_FIELDS = 2000  # more header fields than any real message carries; the rest are ignored
MAX_FIELD_LENGTH = 64 * 1024  # one unfolded field's value, after which it is cut
_NAME = re.compile(r"^([!-9;-~]+)[ \t]*:")  # RFC 5322 §3.6.8 ftext, with obs-FWS before the colon


@dataclass(frozen=True)
class HeaderBlock:
    """The header fields in order (top first), the body if one followed, and what was skipped."""

    fields: tuple[tuple[str, str], ...]
    body: str | None
    malformed_lines: int = 0
    truncated: bool = False

    def values(self, name: str) -> list[str]:
        """Every value of the field ``name`` (case-insensitive), top first."""
        wanted = name.lower()
        return [v for n, v in self.fields if n.lower() == wanted]

    def first(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None


def to_text(raw: bytes | str) -> str:
    """Bytes as text: UTF-8 where valid, Latin-1 otherwise (8-bit headers exist in the wild)."""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def parse_header_block(raw: bytes | str) -> HeaderBlock:
    """The header fields of ``raw`` (pasted headers or a whole message). Never raises.

    A leading mbox ``From `` line and leading blank lines are skipped; the first empty line
    ends the header block. Folded lines are unfolded with their whitespace kept as one space.
    """
    text = to_text(raw).replace("\r\n", "\n").replace("\r", "\n").lstrip("\n\ufeff")
    lines = text.split("\n")
    if lines and lines[0].startswith("From ") and not _NAME.match(lines[0]):
        lines = lines[1:]
    fields: list[tuple[str, list[str]]] = []
    malformed = 0
    truncated = False
    body: str | None = None
    for index, line in enumerate(lines):
        if line.strip() == "":
            rest = lines[index + 1 :]
            body = "\n".join(rest) if rest else None
            break
        if line[0] in " \t":
            if fields:
                fields[-1][1].append(line.strip())
            else:
                malformed += 1
            continue
        match = _NAME.match(line)
        if match is None:
            malformed += 1
            continue
        if len(fields) >= MAX_FIELDS:
            truncated = True
            continue
        fields.append((match[1], [line[match.end() :].strip()]))
    unfolded = []
    for name, parts in fields:
        value = " ".join(p for p in parts if p)
        if len(value) > MAX_FIELD_LENGTH:
            value, truncated = value[:MAX_FIELD_LENGTH], True
        unfolded.append((name, value))
    return HeaderBlock(tuple(unfolded), body, malformed, truncated)


def strip_comments(value: str) -> str:
    """``value`` without RFC 5322 §3.2.2 comments (nested, with quoted-pairs); quoted strings
    are kept as they are. An unclosed comment runs to the end."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if quoted:
            out.append(char)
            quoted = char != '"'
            continue
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            if depth == 0:
                out.append(" ")
        elif depth == 0:
            out.append(char)
            quoted = char == '"'
    return "".join(out)


def comments(value: str) -> list[str]:
    """The top-level comments of ``value``, in order (their text without the parentheses)."""
    found: list[str] = []
    depth = 0
    current: list[str] = []
    quoted = False
    for char in value:
        if depth == 0 and char == '"':
            quoted = not quoted
        if quoted:
            continue
        if char == "(":
            if depth:
                current.append(char)
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            if depth == 0:
                found.append("".join(current).strip())
                current = []
            else:
                current.append(char)
        elif depth:
            current.append(char)
    return found


@dataclass(frozen=True)
class Segment:
    """One ``;``-separated part of a structured value: its text with the comments taken out
    (each replaced by a space, quoted strings kept) and its top-level comments in order."""

    text: str
    comments: tuple[str, ...] = ()


def split_segments(value: str, separator: str = ";") -> list[Segment]:
    """``value`` split at ``separator`` outside comments and quoted strings (RFC 5322 §3.2.2,
    §3.2.4: comments nest, a quoted-pair escapes one character in either, and a ``"`` inside a
    comment or a ``(`` inside a quoted string is ordinary text). An unclosed comment or quoted
    string runs to the end. Never raises."""
    segments: list[Segment] = []
    text: list[str] = []
    found: list[str] = []
    comment: list[str] = []
    depth = 0
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
            (comment if depth else text).append(char)
        elif char == "\\":
            escaped = True
            if not depth:
                text.append(char)
        elif depth:
            depth += (char == "(") - (char == ")")
            if depth:
                comment.append(char)
            else:
                found.append("".join(comment).strip())
                comment = []
                text.append(" ")
        elif quoted:
            text.append(char)
            quoted = char != '"'
        elif char == "(":
            depth = 1
        elif char == separator:
            segments.append(Segment("".join(text).strip(), tuple(found)))
            text, found = [], []
        else:
            text.append(char)
            quoted = char == '"'
    if depth:
        found.append("".join(comment).strip())
    segments.append(Segment("".join(text).strip(), tuple(found)))
    return segments


__all__ = [
    "HeaderBlock",
    "Segment",
    "comments",
    "parse_header_block",
    "split_segments",
    "strip_comments",
    "to_text",
]
