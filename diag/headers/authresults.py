"""Authentication-Results and ARC-Authentication-Results (RFC 8601, RFC 8617 §4.1.1) as data.

The ``authres`` package parses first; real-world values it refuses (a trailing ``;``, an
unknown version, quoted specials in a reason) go through a tolerant parser here. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import authres

from diag.headers.fields import Segment, split_segments
from diag.jsonvalue import JsonObject

# Values longer than this, or with more ``=`` than MAX_AUTHRES_PAIRS, skip authres: its parser
# grows quadratically with the properties in one resinfo, and real values stay far below both.
MAX_AUTHRES_LENGTH = 2048
MAX_AUTHRES_PAIRS = 64
MAX_VALUE_LENGTH = 8192  # read no further into one value (real ones stay under 2 KB)
_ARC_INSTANCE = re.compile(r"^\s*i\s*=\s*(\d+)\s*;", re.IGNORECASE)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|=|[^\s="]+')
_METHOD_RESULT = re.compile(
    r"^\s*([A-Za-z0-9_-]+)(?:/\d+)?\s*=\s*([A-Za-z0-9_-]+)"
)  # RFC 8601 §2.2
_COMMENT_VALUE = re.compile(r"\b(p|sp|dis|pct)\s*=\s*([A-Za-z0-9_.-]+)", re.IGNORECASE)
_ACTION = re.compile(r"(?<![\w.])action\s*=\s*([A-Za-z0-9_.-]+)", re.IGNORECASE)


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
    """Parse one field value. Never raises: an unreadable value gives ``parsed=False``.

    Comments are never read as results (RFC 8601 §2.2 allows CFWS anywhere): Gmail's
    ``arc=pass (i=1 ... dmarc=pass ...)`` says nothing about its own ``dmarc=`` result. The
    comment that follows a result is kept with it, and the ``p=``/``sp=``/``dis=`` in the
    comment of the real ``dmarc=`` result (Gmail), or its ``action=`` (Microsoft), go to
    ``extras``.
    """
    source = "ARC-Authentication-Results" if arc else "Authentication-Results"
    instance = None
    body = " ".join(value[:MAX_VALUE_LENGTH].split())
    match = _ARC_INSTANCE.match(body)
    if match:  # ARC's i= prefix (RFC 8617 §4.1.1); some receivers put it in plain AR too
        instance = int(match[1])
        body = body[match.end() :]
    segments = split_segments(body)
    try:
        if len(body) > MAX_AUTHRES_LENGTH or body.count("=") > MAX_AUTHRES_PAIRS:
            raise ValueError("too large for authres")
        header = authres.AuthenticationResultsHeader.parse_value(body)
        results = tuple(_from_authres(r) for r in header.results)
        if [r.method for r in results] != _opened_methods(segments[1:]):
            raise ValueError("authres read the results differently from the comment-aware split")
        receiver = str(header.authserv_id or "")
        parser = "authres"
    except Exception:  # authres raises several unrelated exception types for bad input
        receiver, results = _tolerant(segments)
        parser = "tolerant"
    return AuthenticationEntry(
        receiver=receiver.lower(),
        results=_with_comments(results, segments),
        source=source,
        instance=instance,
        parser=parser,
        raw=value,
        parsed=bool(receiver) or bool(results),
        extras=_dmarc_extras(segments),
    )


def _from_authres(result: Any) -> MethodResult:
    props = tuple((f"{p.type}.{p.name}", str(p.value)) for p in result.properties)
    return MethodResult(
        method=str(result.method).lower(),
        result=str(result.result).lower(),
        reason=str(result.reason or ""),
        properties=props,
    )


def _tolerant(segments: list[Segment]) -> tuple[str, tuple[MethodResult, ...]]:
    """authserv-id [version] *( ";" resinfo ), read leniently (RFC 8601 §2.2).

    Microsoft 365 leaves the authserv-id out (``spf=pass (...) smtp.mailfrom=...; ...``): a
    first part that is already a ``method=result`` is read as a result, the receiver left empty.
    """
    head = segments[0].text
    if _method_result(head) is not None:
        receiver, resinfos = "", segments
    else:
        words = head.split()
        receiver, resinfos = (words[0] if words else ""), segments[1:]
    results = (_tolerant_resinfo(s.text) for s in resinfos)
    return receiver, tuple(r for r in results if r is not None)


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


def _unquote(token: str) -> str:
    if token.startswith('"'):
        return re.sub(r"\\(.)", r"\1", token[1:].removesuffix('"'))
    return token


def _method_result(text: str) -> tuple[str, str] | None:
    """The ``method=result`` that opens a resinfo (comments already taken out), or None."""
    match = _METHOD_RESULT.match(text)
    return (match[1].lower(), match[2].lower()) if match else None


def _opened_methods(segments: list[Segment]) -> list[str]:
    return [m[0] for m in map(_method_result, (s.text for s in segments)) if m is not None]


def _with_comments(
    results: tuple[MethodResult, ...], segments: list[Segment]
) -> tuple[MethodResult, ...]:
    """Each result with the first comment of its own resinfo (matched by method, in order)."""
    notes: dict[str, list[str]] = {}
    for segment in segments:
        opened = _method_result(segment.text)
        if opened is not None:
            notes.setdefault(opened[0], []).append(" ".join(segment.comments[:1]))
    out = []
    for result in results:
        queue = notes.get(result.method, [])
        comment = queue.pop(0) if queue else ""
        out.append(replace(result, comment=comment) if comment else result)
    return tuple(out)


def _dmarc_extras(segments: list[Segment]) -> dict[str, str]:
    """``p=``, ``sp=``, ``dis=`` from the comment of the ``dmarc=`` result itself (Google), or
    its ``action=`` property (Microsoft), as ``dis``. Comments of other results are not read."""
    for segment in segments:
        opened = _method_result(segment.text)
        if opened is None or opened[0] != "dmarc":
            continue
        values: dict[str, str] = {}
        for comment in segment.comments:
            for key, val in _COMMENT_VALUE.findall(comment):
                values.setdefault(key.lower(), val.upper())
        action = _ACTION.search(segment.text)
        if action and "dis" not in values:
            values["dis"] = action[1].upper()
        return values
    return {}


__all__ = ["AuthenticationEntry", "MethodResult", "parse_authentication_results"]
