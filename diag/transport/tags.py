"""The field grammar the MTA-STS and TLS-RPT TXT records share: a version, then ``name=value``
fields separated by ``*WSP ";" *WSP`` (RFC 8461 §3.1, RFC 8460 §3). Pure.

Only the separators and field names are read here; each record's parser checks its values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from diag.errors import ParseError

WSP = " \t"  # RFC 5234 B.1
# RFC 8461 §3.1 sts-ext-name, RFC 8460 §3 tlsrpt-ext-name: the same rule
EXT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
# RFC 8461 §3.1 sts-ext-value, RFC 8460 §3 tlsrpt-ext-value: visible ASCII but "=" and ";"
EXT_VALUE = re.compile(r"[\x21-\x3a\x3c\x3e-\x7e]+")


@dataclass(frozen=True)
class Field:
    """One ``name=value`` field; ``position`` is where its value starts in the record."""

    name: str
    value: str
    position: int


def split_fields(text: str, version: str, error: type[ParseError]) -> tuple[Field, ...]:
    """The fields after ``version`` (``v=STSv1``, ``v=TLSRPTv1``), in order.

    Raises ``error`` at the first character that breaks the grammar: a record that does not
    begin with ``version``, a field without ``=`` or with a bad name, whitespace that no
    ``;`` follows, or no field at all.
    """
    if not text.startswith(version):
        raise error(f"the record does not begin with {version}", text=text, position=0)
    at = len(version)
    fields: list[Field] = []
    while at < len(text):
        gap = at
        at = _skip_wsp(text, at)
        if at == len(text) or text[at] != ";":
            raise error("expected ';' between fields", text=text, position=gap)
        at = _skip_wsp(text, at + 1)
        if at == len(text):
            break  # a trailing separator is allowed
        end = text.find(";", at)
        body = text[at : len(text) if end < 0 else end].rstrip(WSP)
        fields.append(_field(text, at, body, error))
        at += len(body)
    if not fields:
        raise error(f"no field after {version}", text=text, position=len(text))
    return tuple(fields)


def _field(text: str, at: int, body: str, error: type[ParseError]) -> Field:
    name, equals, value = body.partition("=")
    if not equals:
        raise error("a field must be name=value", text=text, position=at)
    if not EXT_NAME.fullmatch(name):
        raise error(f"bad field name {name!r}", text=text, position=at)
    return Field(name, value, at + len(name) + 1)


def check_value(
    field: Field,
    pattern: re.Pattern[str],
    text: str,
    error: type[ParseError],
    chars: re.Pattern[str] | None = None,
) -> None:
    """Raise ``error`` unless ``pattern`` matches ``field``'s whole value. It points at the
    first character outside ``chars`` (one character of the value's alphabet; by default
    ``pattern`` itself), or at the value's start when every character is allowed there."""
    if pattern.fullmatch(field.value):
        return
    alphabet = chars or pattern
    bad = next((i for i, c in enumerate(field.value) if not alphabet.fullmatch(c)), 0)
    raise error(f"bad value for {field.name}", text=text, position=field.position + bad)


def _skip_wsp(text: str, at: int) -> int:
    while at < len(text) and text[at] in WSP:
        at += 1
    return at


__all__ = ["EXT_NAME", "EXT_VALUE", "WSP", "Field", "check_value", "split_fields"]
