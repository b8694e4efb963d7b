"""SPF record syntax (RFC 7208 §4.5, §4.6, §12): pure parsing into frozen terms.

Owns record selection (``is_spf_record``) and the grammar, including macro-string syntax and
CIDR lengths. It never queries DNS and never expands macros; ``evaluate`` does both.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from diag.errors import SpfSyntaxError

VERSION = "v=spf1"  # RFC 7208 §4.5
MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})  # RFC 7208 §4.6.4
QUALIFIERS = "+-~?"  # RFC 7208 §4.6.2
MAX_CIDR4 = 32  # RFC 7208 §5.6
MAX_CIDR6 = 128  # RFC 7208 §5.6
MACRO_LETTERS = frozenset("slodiphcrtv")  # RFC 7208 §7.2
EXPLANATION_ONLY_LETTERS = frozenset("crt")  # RFC 7208 §7.2: allowed only in exp text
MACRO_DELIMITERS = frozenset(".-+,/_=")  # RFC 7208 §7.1

_MODIFIER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")  # RFC 7208 §12 "name"
_MECHANISM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_DUAL_CIDR = re.compile(r"(?:/(\d+))?(?://(\d+))?\Z")
_SINGLE_CIDR = re.compile(r"/(\d+)\Z")
_TOPLABEL = re.compile(
    r"(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9\-]*[A-Za-z0-9])\Z"
)
_MACRO_EXPAND = re.compile(r"%\{([A-Za-z])(\d*)([rR]?)([.\-+,/_=]*)\}")
_MACRO_TOKEN = re.compile(r"%\{[^}]*\}|%.|.")
# Runs of macro-string characters that need no further check: visible ASCII except '%'
# (RFC 7208 §7.1 macro-literal), and with the space for explain-strings.
_LITERAL_RUN = re.compile(r"[!-$&-~]*")
_EXPLAIN_RUN = re.compile(r"[ -$&-~]*")
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"  # no leading zeros, like ipaddress
_DOTTED_QUAD = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}\Z")
PARSE_CACHE_SIZE = 512  # distinct record texts whose parse is kept for reuse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Mechanism:
    """One directive: qualifier, mechanism name and its arguments, as written."""

    qualifier: str
    name: str
    domain_spec: str | None
    network: Network | None
    cidr4: int | None
    cidr6: int | None
    position: int
    text: str

    @property
    def counts_lookup(self) -> bool:
        """True for the terms that cause DNS queries (RFC 7208 §4.6.4)."""
        return self.name in LOOKUP_MECHANISMS


@dataclass(frozen=True)
class Modifier:
    """One ``name=value`` term; ``value`` is the macro-string as written."""

    name: str
    value: str
    position: int
    text: str


Term = Mechanism | Modifier


@dataclass(frozen=True)
class SpfRecord:
    """A parsed ``v=spf1`` record: its terms in order."""

    text: str
    terms: tuple[Term, ...]

    @property
    def mechanisms(self) -> tuple[Mechanism, ...]:
        return tuple(t for t in self.terms if isinstance(t, Mechanism))

    @property
    def modifiers(self) -> tuple[Modifier, ...]:
        return tuple(t for t in self.terms if isinstance(t, Modifier))

    @property
    def redirect(self) -> Modifier | None:
        return self._modifier("redirect")

    @property
    def exp(self) -> Modifier | None:
        return self._modifier("exp")

    def _modifier(self, name: str) -> Modifier | None:
        return next((m for m in self.modifiers if m.name == name), None)


def is_spf_record(text: str) -> bool:
    """Record selection (RFC 7208 §4.5): ``v=spf1`` in any case, then a space or the end."""
    head = text[: len(VERSION)]
    return head.lower() == VERSION and text[len(VERSION) : len(VERSION) + 1] in ("", " ")


def parse_spf(text: str) -> SpfRecord:
    """Parse one SPF record.

    Raises ``SpfSyntaxError`` (with the offending character's position) for anything outside
    the RFC 7208 §12 grammar, non-ASCII text, unknown mechanisms, bad CIDR lengths and
    duplicate ``redirect``/``exp`` modifiers.
    """
    if not is_spf_record(text):
        raise SpfSyntaxError("record does not start with v=spf1", text=text, position=0)
    _check_ascii(text)
    terms = tuple(_parse_term(text, word, start) for word, start in _split_terms(text))
    _check_duplicates(text, terms)
    return SpfRecord(text=text, terms=terms)


@functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
def parse_spf_cached(text: str) -> SpfRecord:
    """``parse_spf`` for evaluation, reusing the parse of a record text seen recently.

    Safe to share: ``parse_spf`` is a pure function of ``text`` and its result is frozen
    all the way down. A text that fails to parse is not kept (the error is raised afresh).
    """
    return parse_spf(text)


def _check_ascii(text: str) -> None:
    if text.isascii():
        return
    for index, char in enumerate(text):
        if not char.isascii():
            raise SpfSyntaxError("non-ASCII character", text=text, position=index)


def _split_terms(text: str) -> list[tuple[str, int]]:
    """The space-separated words after the version, with their offsets (RFC 7208 §4.6.1)."""
    words: list[tuple[str, int]] = []
    offset = 0
    for word in text.split(" "):
        if word:
            words.append((word, offset))
        offset += len(word) + 1
    return words[1:]


def _check_duplicates(text: str, terms: tuple[Term, ...]) -> None:
    seen: set[str] = set()
    for term in terms:
        if isinstance(term, Modifier) and term.name in ("redirect", "exp"):
            if term.name in seen:
                message = f"{term.name}= appears more than once (RFC 7208 §6)"
                raise SpfSyntaxError(message, text=text, position=term.position)
            seen.add(term.name)


def _parse_term(text: str, word: str, start: int) -> Term:
    modifier = _MODIFIER_NAME.match(word) if "=" in word else None
    if modifier and word[modifier.end() : modifier.end() + 1] == "=":
        return _parse_modifier(text, word, start, modifier.end())
    return _parse_mechanism(text, word, start)


def _parse_modifier(text: str, word: str, start: int, name_end: int) -> Modifier:
    name = word[:name_end].lower()
    value = word[name_end + 1 :]
    offset = start + name_end + 1
    if name in ("redirect", "exp"):
        _check_domain_spec(text, value, offset)
    else:
        check_macro_string(value, text=text, offset=offset)
    return Modifier(name=name, value=value, position=start, text=word)


def _parse_mechanism(text: str, word: str, start: int) -> Mechanism:
    qualifier = word[0] if word[0] in QUALIFIERS else ""
    body_start = len(qualifier)
    match = _MECHANISM_NAME.match(word, body_start)
    if match is None:
        raise SpfSyntaxError("expected a mechanism", text=text, position=start + body_start)
    name = match.group().lower()
    if name not in MECHANISMS:
        raise SpfSyntaxError(f"unknown mechanism {name!r}", text=text, position=start + body_start)
    args = _Args(text, word[match.end() :], start + match.end())
    return Mechanism(qualifier or "+", name, *_ARG_PARSERS[name](args), start, word)


class _Args:
    """What follows a mechanism name, and where it starts in the record text."""

    __slots__ = ("offset", "rest", "text")

    def __init__(self, text: str, rest: str, offset: int) -> None:
        self.text = text
        self.rest = rest
        self.offset = offset

    def fail(self, message: str, index: int = 0) -> SpfSyntaxError:
        return SpfSyntaxError(message, text=self.text, position=self.offset + index)


_Parsed = tuple[str | None, Network | None, int | None, int | None]
_ArgParser = Callable[[_Args], _Parsed]


def _args_none(args: _Args) -> _Parsed:
    if args.rest:
        raise args.fail("this mechanism takes no argument")
    return None, None, None, None


def _args_required_domain(args: _Args) -> _Parsed:
    if not args.rest.startswith(":"):
        raise args.fail("expected ':' and a domain-spec")
    _check_domain_spec(args.text, args.rest[1:], args.offset + 1)
    return args.rest[1:], None, None, None


def _args_optional_domain(args: _Args) -> _Parsed:
    if not args.rest:
        return None, None, None, None
    return _args_required_domain(args)


def _args_dual_cidr(args: _Args) -> _Parsed:
    cidr = _DUAL_CIDR.search(args.rest)
    assert cidr is not None  # the pattern matches the empty suffix
    head = _Args(args.text, args.rest[: cidr.start()], args.offset)
    domain_spec = _args_optional_domain(head)[0]
    cidr4 = _cidr_value(args, cidr, 1, MAX_CIDR4)
    cidr6 = _cidr_value(args, cidr, 2, MAX_CIDR6)
    return domain_spec, None, cidr4, cidr6


def _cidr_value(args: _Args, match: re.Match[str], group: int, limit: int) -> int | None:
    digits = match.group(group)
    if digits is None:
        return None
    if (digits.startswith("0") and digits != "0") or int(digits) > limit:
        raise args.fail(f"invalid CIDR length /{digits} (0-{limit})", match.start(group))
    return int(digits)


def _args_ip(version: int) -> _ArgParser:
    def parse(args: _Args) -> _Parsed:
        if not args.rest.startswith(":"):
            raise args.fail(f"expected ':' and an IPv{version} network")
        cidr = _SINGLE_CIDR.search(args.rest)
        end = cidr.start() if cidr else len(args.rest)
        limit = MAX_CIDR4 if version == 4 else MAX_CIDR6
        prefix = _cidr_value(args, cidr, 1, limit) if cidr else None
        network = _ip_network(args, args.rest[1:end], version, prefix)
        return (None, network, prefix, None) if version == 4 else (None, network, None, prefix)

    return parse


def _ip_network(args: _Args, address: str, version: int, prefix: int | None) -> Network:
    # Parsing as the expected version only: an address of the other version (or none) is
    # the same error either way.
    quad = _DOTTED_QUAD.match(address) if version == 4 else None
    if quad:  # the common case, without re-validation
        a, b, c, d = quad.groups()
        value = int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d)
        return ipaddress.IPv4Network((value, MAX_CIDR4 if prefix is None else prefix), strict=False)
    parsed: ipaddress.IPv4Address | ipaddress.IPv6Address
    try:
        parsed = ipaddress.IPv4Address(address) if version == 4 else ipaddress.IPv6Address(address)
    except ValueError:
        raise args.fail(f"invalid IPv{version} address {address!r}", 1) from None
    if version == 4 and address.count(".") != 3:
        raise args.fail(f"invalid IPv{version} address {address!r}", 1)
    length = parsed.max_prefixlen if prefix is None else prefix
    if version == 4:
        return ipaddress.IPv4Network((int(parsed), length), strict=False)
    if "%" in address:  # a scoped IPv6 address: keep the text round trip for the scope
        return ipaddress.ip_network(f"{parsed}/{length}", strict=False)
    return ipaddress.IPv6Network((int(parsed), length), strict=False)


_ARG_PARSERS = {
    "all": _args_none,
    "include": _args_required_domain,
    "exists": _args_required_domain,
    "a": _args_dual_cidr,
    "mx": _args_dual_cidr,
    "ptr": _args_optional_domain,
    "ip4": _args_ip(4),
    "ip6": _args_ip(6),
}


def _check_domain_spec(text: str, spec: str, offset: int) -> None:
    """domain-spec = macro-string domain-end (RFC 7208 §7.1); no c/r/t macros outside exp text."""
    if not spec:
        raise SpfSyntaxError("empty domain-spec", text=text, position=offset)
    check_macro_string(spec, text=text, offset=offset, explanation=False)
    if _ends_with_macro(spec):
        return
    label = spec[:-1] if spec.endswith(".") else spec
    dot = label.rfind(".")
    if dot < 0 or not _TOPLABEL.match(label, dot + 1):
        raise SpfSyntaxError(
            "domain-spec must end in a macro or a valid top label",
            text=text,
            position=offset + max(dot, 0),
        )


def _ends_with_macro(spec: str) -> bool:
    if "%" not in spec:
        return False
    tokens = _MACRO_TOKEN.findall(spec)
    return bool(tokens) and tokens[-1].startswith("%")


def check_macro_string(
    spec: str, *, text: str | None = None, offset: int = 0, explanation: bool | None = None
) -> None:
    """Validate macro-string syntax (RFC 7208 §7.1).

    ``explanation=False`` also rejects the explanation-only letters c, r and t; ``True``
    allows spaces (explain-string); ``None`` checks the grammar only. Raises SpfSyntaxError.
    """
    literal = _EXPLAIN_RUN if explanation else _LITERAL_RUN
    end = len(spec)
    run = literal.match(spec)
    index = run.end() if run else 0
    if index == end:
        return
    source = spec if text is None else text
    while index < end:
        index = _check_macro_char(spec, index, source, offset, explanation)
        run = literal.match(spec, index)
        if run:
            index = run.end()


def _check_macro_char(
    spec: str, index: int, source: str, offset: int, explanation: bool | None
) -> int:
    char = spec[index]
    if char == "%":
        return _check_macro_expand(spec, index, source, offset, explanation)
    if not ("!" <= char <= "~" or (char == " " and explanation)):
        raise SpfSyntaxError(f"invalid character {char!r}", text=source, position=offset + index)
    return index + 1


def _check_macro_expand(
    spec: str, index: int, source: str, offset: int, explanation: bool | None
) -> int:
    if spec[index + 1 : index + 2] in ("%", "_", "-"):
        return index + 2
    match = _MACRO_EXPAND.match(spec, index)
    if match is None:
        raise SpfSyntaxError("invalid macro", text=source, position=offset + index)
    letter = match.group(1).lower()
    if letter not in MACRO_LETTERS:
        raise SpfSyntaxError(
            f"unknown macro letter {letter!r}", text=source, position=offset + index + 2
        )
    if explanation is False and letter in EXPLANATION_ONLY_LETTERS:
        raise SpfSyntaxError(
            f"macro %{{{letter}}} is allowed only in explanation text",
            text=source,
            position=offset + index + 2,
        )
    if match.group(2) and int(match.group(2)) == 0:
        position = offset + index + 3
        raise SpfSyntaxError(
            "macro digit transformer must be nonzero", text=source, position=position
        )
    return match.end()
