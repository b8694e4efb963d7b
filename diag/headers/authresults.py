"""Authentication-Results and ARC-Authentication-Results (RFC 8601, RFC 8617 §4.1.1) as data.

The ``authres`` package parses first; real-world values it refuses (a trailing ``;``, an
unknown version, quoted specials in a reason) go through a tolerant parser here. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import authres

from diag.headers.fields import comments, strip_comments
from diag.jsonvalue import JsonObject

# Values longer than this, or with more ``=`` than MAX_AUTHRES_PAIRS, skip authres: its parser
# grows quadratically with the properties in one resinfo, and real values stay far below both.
MAX_AUTHRES_LENGTH = 2048
MAX_AUTHRES_PAIRS = 64
MAX_VALUE_LENGTH = 8192  # read no further into one value (real ones stay under 2 KB)
_ARC_INSTANCE = re.compile(r"^\s*i\s*=\s*(\d+)\s*;", re.IGNORECASE)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|=|[^\s="]+')
_KEY_VALUE = re.compile(r"(\w+)\s*=\s*(\w+)")


@dataclass(frozen=True)
class MethodResult:
    """One ``method=result`` clause with its reason and ``ptype.property=value`` pairs."""

    method: str
    result: str
    reason: str = ""
    properties: tuple[tuple[str, str], ...] = ()
    comment: str = ""

    def prop(self, name: str) -> str:
        """The value of the property ``name`` (``header.d``), or ``""``."""
        return next((v for k, v in self.properties if k.lower() == name.lower()), "")

    def to_dict(self) -> JsonObject:
        return {
            "method": self.method,
            "result": self.result,
            "reason": self.reason,
            "properties": dict(self.properties),
            "comment": self.comment,
        }


@dataclass(frozen=True)
class AuthenticationEntry:
    """One Authentication-Results (or ARC-Authentication-Results) field."""

    receiver: str
    results: tuple[MethodResult, ...] = ()
    source: str = "Authentication-Results"
    instance: int | None = None
    parser: str = "authres"
    raw: str = ""
    parsed: bool = True
    extras: dict[str, str] = field(default_factory=dict)

    def method(self, name: str) -> tuple[MethodResult, ...]:
        return tuple(r for r in self.results if r.method.lower() == name)

    def summary(self, name: str) -> str | None:
        """``pass`` when any ``name`` clause passes, else the first one's result; None if absent."""
        found = self.method(name)
        if not found:
            return None
        if any(r.result == "pass" for r in found):
            return "pass"
        return found[0].result

    def to_dict(self) -> JsonObject:
        compauth = self.method("compauth")
        return {
            "receiver": self.receiver,
            "spf": self.summary("spf"),
            "dkim": self.summary("dkim"),
            "dmarc": self.summary("dmarc"),
            "arc": self.summary("arc"),
            "compauth": self.summary("compauth"),
            "compauth_reason": compauth[0].reason if compauth else "",
            "dmarc_disposition": self.extras.get("dis", ""),
            "dmarc_policy": self.extras.get("p", ""),
            "source": self.source,
            "instance": self.instance,
            "parser": self.parser,
            "results": [r.to_dict() for r in self.results],
        }


def parse_authentication_results(value: str, *, arc: bool = False) -> AuthenticationEntry:
    """Parse one field value. Never raises: an unreadable value gives ``parsed=False``."""
    source = "ARC-Authentication-Results" if arc else "Authentication-Results"
    instance = None
    body = " ".join(value[:MAX_VALUE_LENGTH].split())
    match = _ARC_INSTANCE.match(body)
    if match:  # ARC's i= prefix (RFC 8617 §4.1.1); some receivers put it in plain AR too
        instance = int(match[1])
        body = body[match.end() :]
    extras = _dmarc_comment_values(body)
    try:
        if len(body) > MAX_AUTHRES_LENGTH or body.count("=") > MAX_AUTHRES_PAIRS:
            raise ValueError("too large for authres")
        header = authres.AuthenticationResultsHeader.parse_value(body)
        results = tuple(_from_authres(r) for r in header.results)
        receiver = str(header.authserv_id or "")
        parser = "authres"
    except Exception:  # authres raises several unrelated exception types for bad input
        receiver, results = _tolerant(body)
        parser = "tolerant"
    return AuthenticationEntry(
        receiver=receiver.lower(),
        results=results,
        source=source,
        instance=instance,
        parser=parser,
        raw=value,
        parsed=bool(receiver),
        extras=extras,
    )


def _from_authres(result: Any) -> MethodResult:
    props = tuple((f"{p.type}.{p.name}", str(p.value)) for p in result.properties)
    return MethodResult(
        method=str(result.method).lower(),
        result=str(result.result).lower(),
        reason=str(result.reason or ""),
        properties=props,
        comment=str(getattr(result, "result_comment", "") or ""),
    )


def _tolerant(body: str) -> tuple[str, tuple[MethodResult, ...]]:
    """authserv-id [version] *( ";" resinfo ), read leniently (RFC 8601 §2.2)."""
    segments = _split_outside_quotes(strip_comments(body))
    head = segments[0].split()
    receiver = head[0] if head else ""
    results = []
    for segment in segments[1:]:
        result = _tolerant_resinfo(segment)
        if result is not None:
            results.append(result)
    return receiver, tuple(results)


def _tolerant_resinfo(segment: str) -> MethodResult | None:
    tokens = _TOKEN.findall(segment)
    pairs: list[tuple[str, str]] = []
    i = 0
    while i + 2 < len(tokens):
        if tokens[i + 1] == "=":
            pairs.append((tokens[i], _unquote(tokens[i + 2])))
            i += 3
        else:
            i += 1
    if not pairs or "." in pairs[0][0]:
        return None
    method, result = pairs[0]
    reason = next((v for k, v in pairs[1:] if k.lower() == "reason"), "")
    props = tuple((k, v) for k, v in pairs[1:] if "." in k)
    return MethodResult(method.split("/")[0].lower(), result.lower(), reason, props)


def _split_outside_quotes(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()] or [""]


def _unquote(token: str) -> str:
    if token.startswith('"'):
        return re.sub(r"\\(.)", r"\1", token[1:].removesuffix('"'))
    return token


def _dmarc_comment_values(body: str) -> dict[str, str]:
    """``p=``, ``sp=``, ``dis=`` from the comment after ``dmarc=`` (Google), or ``action=``."""
    match = re.search(r"\bdmarc\s*=\s*\w+\s*(\([^)]*\))?([^;]*)", body, re.IGNORECASE)
    if match is None:
        return {}
    values: dict[str, str] = {}
    for comment in comments(match[0]):
        values.update({k.lower(): v.upper() for k, v in _KEY_VALUE.findall(comment)})
    action = re.search(r"\baction\s*=\s*(\w+)", match[2] or "", re.IGNORECASE)
    if action and "dis" not in values:
        values["dis"] = action[1].upper()
    return values


__all__ = ["AuthenticationEntry", "MethodResult", "parse_authentication_results"]
