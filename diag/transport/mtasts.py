"""MTA-STS (RFC 8461): the ``_mta-sts`` TXT record, the policy body, and the MX pattern rule.

Pure: text or bytes in, frozen values out. Fetching the policy is ``diag.transport.fetch``;
judging it against a domain's MX hosts is ``diag.transport.check``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from diag.errors import MtaStsSyntaxError
from diag.transport.tags import EXT_NAME, EXT_VALUE, WSP, Field, check_value, split_fields

RECORD_PREFIX = "_mta-sts"  # RFC 8461 §3.1: the TXT record lives at _mta-sts.<domain>
POLICY_HOST_PREFIX = "mta-sts"  # RFC 8461 §3.2: the policy host is mta-sts.<domain>
POLICY_PATH = "/.well-known/mta-sts.txt"  # RFC 8461 §3.2
STS_VERSION = "v=STSv1"  # RFC 8461 §3.1 sts-version
POLICY_VERSION = "STSv1"  # RFC 8461 §3.2 sts-policy-version-value
MODES = ("enforce", "testing", "none")  # RFC 8461 §3.2 sts-policy-mode-value
MAX_AGE_LIMIT = 31_557_600  # RFC 8461 §3.2: "maximum value of 31557600" seconds (a year)
MAX_POLICY_BYTES = 64 * 1024  # RFC 8461 §3.3: a sender may cap the body; 64 KiB is the norm
_ID = re.compile(r"[A-Za-z0-9]{1,32}")  # RFC 8461 §3.1 sts-id
_MAX_AGE = re.compile(r"[0-9]{1,10}")  # RFC 8461 §3.2 sts-policy-max-age-value
# RFC 8461 §3.2 sts-policy-mx-value: ["*."] Domain, Domain as RFC 5321 §4.1.2 (LDH labels)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_MX_PATTERN = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*")
_MX_CHARS = re.compile(r"[A-Za-z0-9.*-]")
# RFC 8461 §3.2 sts-policy-ext-value: no control characters, no leading or trailing space
_POLICY_VALUE = re.compile(r"[^\x00-\x20\x7f](?:[^\x00-\x1f\x7f]*[^\x00-\x20\x7f])?")
_POLICY_CHARS = re.compile(r"[^\x00-\x1f\x7f]")


@dataclass(frozen=True)
class MtaStsRecord:
    """The ``_mta-sts`` TXT record: the policy's ``id`` and any extension fields."""

    id: str
    extensions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MtaStsPolicy:
    """A policy body: mode, max_age (seconds), the MX patterns, and extension fields."""

    mode: str
    max_age: int
    mx: tuple[str, ...] = ()
    extensions: tuple[tuple[str, str], ...] = ()

    def matches(self, host: str) -> bool:
        """True when the MX host name matches one of the policy's patterns."""
        return any(mx_matches(pattern, host) for pattern in self.mx)


def is_sts_record(text: str) -> bool:
    """RFC 8461 §3.1: TXT records that do not begin with ``v=STSv1`` are not MTA-STS records."""
    return text.startswith(STS_VERSION)


def parse_record(text: str) -> MtaStsRecord:
    """The ``_mta-sts`` TXT record (RFC 8461 §3.1). The first ``id`` counts.

    Raises MtaStsSyntaxError at the character that breaks the grammar, or when ``id`` is missing.
    """
    fields = split_fields(text, STS_VERSION, MtaStsSyntaxError)
    record_id = ""
    extensions: list[tuple[str, str]] = []
    for field in fields:
        if field.name == "id":
            check_value(field, _ID, text, MtaStsSyntaxError)
            record_id = record_id or field.value
        else:
            check_value(field, EXT_VALUE, text, MtaStsSyntaxError)
            extensions.append((field.name, field.value))
    if not record_id:
        raise MtaStsSyntaxError("the record has no id", text=text, position=len(text))
    return MtaStsRecord(record_id, tuple(extensions))


def parse_policy(body: bytes | str) -> MtaStsPolicy:
    """A policy body (RFC 8461 §3.2): ``key: value`` lines ended by LF or CRLF.

    ``version``, ``mode`` and ``max_age`` are required, and ``mx`` unless the mode is ``none``.
    Of every field but ``mx`` the first occurrence counts; unknown fields are kept as
    extensions (and ignored, as the RFC says). Empty lines are skipped. Raises
    MtaStsSyntaxError, with the position in the text, for a body over ``MAX_POLICY_BYTES``,
    bytes that are not UTF-8, a line that is not ``key: value``, or a value out of its grammar.
    """
    text = _decode(body)
    fields: list[Field] = []
    offset = 0
    for line in text.split("\n"):
        stripped = line[:-1] if line.endswith("\r") else line
        if stripped:
            fields.append(_policy_field(text, offset, stripped))
        offset += len(line) + 1
    return _policy_from_fields(text, fields)


def _decode(body: bytes | str) -> str:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > MAX_POLICY_BYTES:
        detail = f"the policy is larger than {MAX_POLICY_BYTES} bytes"
        raise MtaStsSyntaxError(detail, position=MAX_POLICY_BYTES)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MtaStsSyntaxError("the policy is not UTF-8", position=exc.start) from None


def _policy_field(text: str, offset: int, line: str) -> Field:
    name, colon, rest = line.partition(":")
    if not colon or not EXT_NAME.fullmatch(name):
        raise MtaStsSyntaxError("a policy line must be key: value", text=text, position=offset)
    value = rest.lstrip(WSP).rstrip(WSP)
    start = offset + len(name) + 1 + (len(rest) - len(rest.lstrip(WSP)))
    field = Field(name, value, start)
    check_value(field, _POLICY_VALUE, text, MtaStsSyntaxError, _POLICY_CHARS)
    return field


def _policy_from_fields(text: str, fields: Sequence[Field]) -> MtaStsPolicy:
    first: dict[str, Field] = {}
    patterns: list[str] = []
    extensions: list[tuple[str, str]] = []
    for field in fields:
        if field.name == "mx":
            check_value(field, _MX_PATTERN, text, MtaStsSyntaxError, _MX_CHARS)
            patterns.append(field.value.lower())
        elif field.name not in first:
            first[field.name] = field
            if field.name not in ("version", "mode", "max_age"):
                extensions.append((field.name, field.value))
    version, mode, max_age = (_required(first, n, text) for n in ("version", "mode", "max_age"))
    if version.value != POLICY_VERSION:
        raise _bad(version, f"the version must be {POLICY_VERSION}", text)
    if mode.value not in MODES:
        raise _bad(mode, f"the mode must be one of {', '.join(MODES)}", text)
    check_value(max_age, _MAX_AGE, text, MtaStsSyntaxError)
    if not patterns and mode.value != "none":
        raise MtaStsSyntaxError("a policy needs mx lines", text=text, position=len(text))
    return MtaStsPolicy(mode.value, int(max_age.value), tuple(patterns), tuple(extensions))


def _required(first: dict[str, Field], name: str, text: str) -> Field:
    if name not in first:
        raise MtaStsSyntaxError(f"the policy has no {name}", text=text, position=len(text))
    return first[name]


def _bad(field: Field, message: str, text: str) -> MtaStsSyntaxError:
    return MtaStsSyntaxError(message, text=text, position=field.position)


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 §4.1: ``mail.example.com`` matches itself; ``*.example.net`` matches exactly
    one more label to its left (``mx1.example.net``, not ``example.net`` nor
    ``a.b.example.net``). Case does not matter; a trailing dot is ignored."""
    pattern = pattern.lower().rstrip(".")
    host = host.lower().rstrip(".")
    if not pattern.startswith("*."):
        return host == pattern
    label, dot, rest = host.partition(".")
    return bool(label) and bool(dot) and rest == pattern[2:]


def policy_url(domain: str) -> str:
    """``https://mta-sts.<domain>/.well-known/mta-sts.txt`` (RFC 8461 §3.2)."""
    return f"https://{POLICY_HOST_PREFIX}.{domain}{POLICY_PATH}"


__all__ = [
    "MAX_AGE_LIMIT",
    "MAX_POLICY_BYTES",
    "MODES",
    "MtaStsPolicy",
    "MtaStsRecord",
    "is_sts_record",
    "mx_matches",
    "parse_policy",
    "parse_record",
    "policy_url",
]
