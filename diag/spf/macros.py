"""SPF macro expansion (RFC 7208 §7): pure, with the context passed in.

Owns the macro letters, the transformers (digits, ``r``, delimiters) and URL-escaping of
upper-case letters. It never queries DNS: the evaluator resolves ``%{p}`` beforehand and
passes the validated name in ``MacroContext.validated_ptr``.
"""

from __future__ import annotations

import ipaddress
import re
import time
import urllib.parse
from dataclasses import dataclass

from diag.spf.parse import check_macro_string

UNKNOWN = "unknown"  # RFC 7208 §7.3: %{p} with no validated name, and the default %{r}
_MACRO = re.compile(r"%\{([A-Za-z])(\d*)([rR]?)([.\-+,/_=]*)\}|%%|%_|%-")
_ESCAPES = {"%%": "%", "%_": " ", "%-": "%20"}  # RFC 7208 §7.3


@dataclass(frozen=True)
class MacroContext:
    """The values macros expand to: the identities of one check_host() evaluation."""

    sender: str
    local_part: str
    sender_domain: str
    domain: str
    ip: str
    helo: str
    receiver: str = UNKNOWN
    now: int | None = None
    validated_ptr: str | None = None

    def value(self, letter: str) -> str:
        """The raw value of one macro letter (lower-case), before transformers."""
        address = ipaddress.ip_address(self.ip)
        values = {
            "s": self.sender,
            "l": self.local_part,
            "o": self.sender_domain,
            "d": self.domain,
            "i": _dotted_ip(address),
            "p": self.validated_ptr or UNKNOWN,
            "v": "in-addr" if address.version == 4 else "ip6",
            "h": self.helo,
            "c": str(address),
            "r": self.receiver,
            "t": str(int(time.time()) if self.now is None else self.now),
        }
        return values[letter]


def uses_macro(spec: str, letter: str) -> bool:
    """True when ``spec`` contains a ``%{x...}`` macro for ``letter`` (either case)."""
    return any(m.group(1) and m.group(1).lower() == letter for m in _MACRO.finditer(spec))


def expand_macros(spec: str, ctx: MacroContext, *, explanation: bool = False) -> str:
    """Expand every macro in ``spec`` (RFC 7208 §7.3).

    ``explanation=True`` is for exp= TXT text: spaces and the letters c, r, t are allowed.
    Raises SpfSyntaxError when ``spec`` is not a valid macro-string.
    """
    check_macro_string(spec, explanation=explanation)
    return _MACRO.sub(lambda match: _expand_one(match, ctx), spec)


def _expand_one(match: re.Match[str], ctx: MacroContext) -> str:
    if match.group(1) is None:
        return _ESCAPES[match.group()]
    letter, digits, reverse, delimiters = match.groups()
    value = transform(ctx.value(letter.lower()), digits, bool(reverse), delimiters)
    if letter.isupper():
        return urllib.parse.quote(value, safe="")  # RFC 7208 §7.3: RFC 3986 unreserved only
    return value


def transform(value: str, digits: str, reverse: bool, delimiters: str) -> str:
    """Split on the delimiters ('.' by default), reverse, keep the right-most N, join with '.'."""
    if not (digits or reverse or delimiters):
        return value
    parts = re.split("[" + re.escape(delimiters or ".") + "]", value)
    if reverse:
        parts.reverse()
    if digits:
        parts = parts[-int(digits) :]
    return ".".join(parts)


def _dotted_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """%{i}: dotted quad for IPv4, dot-separated nibbles for IPv6 (RFC 7208 §7.3)."""
    if address.version == 4:
        return str(address)
    return ".".join(address.exploded.replace(":", ""))
