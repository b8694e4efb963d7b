"""DMARC record parsing (RFC 9989 §4.7-§4.8, plus RFC 7489 §6.3 tags): text in, frozen value out.

Pure: no DNS, no I/O. Problems in a record that is still a DMARC record become ``warnings``
(findings with the character position); only text that is not a DMARC record at all raises.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from diag.errors import DmarcSyntaxError
from diag.findings import ERROR, INFO, WARNING, Finding, Severity

Policy = Literal["none", "quarantine", "reject"]
POLICIES: tuple[Policy, ...] = ("none", "quarantine", "reject")  # RFC 9989 §4.8 dmarc-request
TAGS_9989 = frozenset({"v", "p", "sp", "np", "psd", "t", "adkim", "aspf", "rua", "ruf", "fo"})
REMOVED_TAGS = frozenset({"pct", "rf", "ri"})  # RFC 9989 Appendix C.5.2
DEFAULT_PCT = 100  # RFC 7489 §6.3 "pct"
DEFAULT_RI = 86400  # RFC 7489 §6.3 "ri"
DEFAULT_RF = ("afrf",)  # RFC 7489 §6.3 "rf"
DEFAULT_FO = ("0",)  # RFC 9989 §4.7 "fo"
SIZE_UNITS: Mapping[str, int] = MappingProxyType(
    {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
)  # RFC 7489 §6.2
_MAX_URIS_REPORTED = 32
PARSE_CACHE_SIZE = 256  # distinct record texts kept parsed for judging mail


def dmarc_finding(code: str, severity: Severity, rfc: str, **evidence: object) -> Finding:
    """A finding of this package: its summary is the code in words (reports word it properly)."""
    return Finding(
        code=code,
        severity=severity,
        summary=code.removeprefix("dmarc.").replace("_", " "),
        evidence=MappingProxyType(dict(evidence)),
        rfc=rfc,
    )


_WSP = " \t"
_VERSION = re.compile(r"v[ \t]*=[ \t]*", re.IGNORECASE)  # RFC 5234 §2.3: "v" is case-insensitive
_TAG = re.compile(r"([A-Za-z]+)[ \t]*=[ \t]*(.*)", re.DOTALL)
_VALUE_CHARS = re.compile(r"[\x20-\x3a\x3c-\x7e]+")  # RFC 9989 §4.8 dmarc-value
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")  # RFC 3986 §3.1
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@$&'()*+;=%]+")  # RFC 3986 §2 (no "," or "!")
_SIZE = re.compile(r"!([0-9]+)([kmgtKMGT]?)$")  # RFC 9989 §4.8 obs-dmarc-report-size
_LOCAL = re.compile(r"[A-Za-z0-9!#$&'*+/=?^_`{|}~.%-]+")  # RFC 5322 dot-atom text, %-escaped
_HOST = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_-]{1,63}"
)


class NotDmarcRecord(DmarcSyntaxError):
    """Text whose first tag is not exactly ``v=DMARC1``: not a DMARC record (RFC 9989 §4.7 "v")."""


@dataclass(frozen=True)
class ReportUri:
    """One entry of ``rua``/``ruf``: the URI, its mailto parts, the obsolete ``!size`` limit."""

    uri: str
    position: int
    scheme: str = ""
    address: str = ""
    host: str = ""
    size_limit: int | None = None
    problem: str = ""

    @property
    def valid(self) -> bool:
        return not self.problem

    def to_dict(self) -> dict[str, object]:
        return {
            "uri": self.uri,
            "scheme": self.scheme,
            "address": self.address,
            "host": self.host,
            "size_limit": self.size_limit,
            "problem": self.problem,
        }


_EMPTY_TAGS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class DmarcRecord:
    """A parsed DMARC record. Absent or invalid tags hold their default (``None`` for p/sp/np).

    ``malformed`` is set when part of the tag-list cannot be split into ``name=value`` tags;
    ``tags`` holds the raw values of the first occurrence of each tag, by lower-case name.
    """

    text: str
    p: Policy | None = None
    sp: Policy | None = None
    np: Policy | None = None
    psd: Literal["y", "n", "u"] = "u"
    t: bool = False
    adkim: Literal["r", "s"] = "r"
    aspf: Literal["r", "s"] = "r"
    rua: tuple[ReportUri, ...] = ()
    ruf: tuple[ReportUri, ...] = ()
    fo: tuple[str, ...] = DEFAULT_FO
    pct: int = DEFAULT_PCT
    rf: tuple[str, ...] = DEFAULT_RF
    ri: int = DEFAULT_RI
    tags: Mapping[str, str] = field(default_factory=lambda: _EMPTY_TAGS)
    malformed: bool = False
    policy_tag_invalid: bool = False
    warnings: tuple[Finding, ...] = ()

    @property
    def has_valid_rua(self) -> bool:
        return any(uri.valid for uri in self.rua)

    @property
    def applies(self) -> bool:
        """Whether DMARC processing happens with this record (RFC 9989 §4.10.1, D-10).

        A record without a valid ``p`` (absent or bad), or with a bad ``sp``/``np``, is acted
        on as ``p=none`` only when ``rua`` holds a valid URI; otherwise no DMARC processing.
        """
        return not self.policy_tag_invalid or self.has_valid_rua

    @property
    def effective_p(self) -> Policy:
        return "none" if self.policy_tag_invalid or self.p is None else self.p

    @property
    def effective_sp(self) -> Policy:
        """Policy for existing subdomains: ``sp``, else ``p`` (RFC 9989 §4.7 "sp")."""
        if self.policy_tag_invalid:
            return "none"
        return self.sp or self.effective_p

    @property
    def effective_np(self) -> Policy:
        """Policy for non-existent subdomains: ``np``, else ``sp``, else ``p`` (§4.7 "np")."""
        if self.policy_tag_invalid:
            return "none"
        return self.np or self.effective_sp

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "p": self.p,
            "sp": self.sp,
            "np": self.np,
            "psd": self.psd,
            "t": self.t,
            "adkim": self.adkim,
            "aspf": self.aspf,
            "rua": [u.to_dict() for u in self.rua],
            "ruf": [u.to_dict() for u in self.ruf],
            "fo": list(self.fo),
            "pct": self.pct,
            "rf": list(self.rf),
            "ri": self.ri,
            "tags": dict(self.tags),
            "malformed": self.malformed,
            "applies": self.applies,
            "warnings": [w.to_dict() for w in self.warnings],
        }


@functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
def parse_dmarc_cached(text: str) -> DmarcRecord:
    """``parse_dmarc``, reusing the parse of a record text seen recently.

    Safe to share: ``parse_dmarc`` is a pure function of ``text`` and its record is frozen all
    the way down (tuples, read-only mappings, frozen findings). A text that is not a DMARC
    record is not kept (``NotDmarcRecord`` is raised afresh).
    """
    return parse_dmarc(text)


def parse_dmarc(text: str) -> DmarcRecord:
    """Parse one DMARC record (the TXT strings already concatenated, RFC 9989 §4.5).

    WSP is allowed around ``=`` and ``;``; tag names and the keyword values are matched
    case-insensitively (RFC 5234 §2.3) but ``DMARC1`` is case-sensitive (§4.8 ``%s``).
    Duplicate tags keep their first value; unknown tags are ignored; values outside their
    grammar fall back to the default (§4.8). Each of these is reported in ``warnings``.

    Raises:
        NotDmarcRecord: the record does not start with ``v=DMARC1`` (leading WSP aside).
    """
    start = len(text) - len(text.lstrip(_WSP))
    version = _VERSION.match(text, start)
    if version is None:
        raise NotDmarcRecord("the first tag must be v=DMARC1", text=text, position=start)
    value_at = version.end()
    if not text.startswith("DMARC1", value_at):
        raise NotDmarcRecord("the version must be exactly DMARC1", text=text, position=value_at)
    after = value_at + len("DMARC1")
    rest = text[after:].lstrip(_WSP)
    if rest and not rest.startswith(";"):
        raise NotDmarcRecord("v=DMARC1 must end at ';'", text=text, position=after)
    builder = _Builder(text)
    if start:
        builder.warn("dmarc.leading_whitespace", WARNING, start=0, position=0)
    for name, value, name_at, value_at_ in _split_tags(text, after, builder):
        builder.tag(name, value, name_at, value_at_)
    return builder.build()


def _split_tags(text: str, offset: int, builder: _Builder) -> Iterator[tuple[str, str, int, int]]:
    """Split ``text[offset:]`` on ``;`` into (name, value, name position, value position)."""
    position = offset
    for chunk in text[offset:].split(";"):
        chunk_at = position
        position += len(chunk) + 1
        body = chunk.strip(_WSP)
        if not body:
            continue
        body_at = chunk_at + len(chunk) - len(chunk.lstrip(_WSP))
        match = _TAG.fullmatch(body)
        if match is None:
            builder.malformed(body, body_at)
            continue
        yield match.group(1).lower(), match.group(2), body_at, body_at + match.start(2)


class _Builder:
    """Accumulates tag values and findings while parsing one record."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.values: dict[str, object] = {}
        self.raw: dict[str, str] = {}
        self.warnings: list[Finding] = []
        self.is_malformed = False
        self.policy_invalid = False

    def warn(self, code: str, severity: Severity, **evidence: object) -> None:
        rfc = "RFC 9989 §4.8"
        if code == "dmarc.removed_tag":
            rfc = "RFC 9989 Appendix C.5.2"
        self.warnings.append(dmarc_finding(code, severity, rfc, **evidence))

    def malformed(self, body: str, position: int) -> None:
        self.is_malformed = True
        self.warn("dmarc.malformed_tag", ERROR, term=body, position=position)

    def tag(self, name: str, value: str, name_at: int, value_at: int) -> None:
        if name in self.raw or name == "v":
            self.warn("dmarc.duplicate_tag", WARNING, tag=name, position=name_at)
            return
        self.raw[name] = value
        if name in REMOVED_TAGS:
            self.warn("dmarc.removed_tag", WARNING, tag=name, value=value, position=name_at)
        elif name not in TAGS_9989:
            self.warn("dmarc.unknown_tag", INFO, tag=name, position=name_at)
            return
        value = value.rstrip(_WSP)
        parsed = _parse_value(name, value, value_at) if _VALUE_CHARS.fullmatch(value) else None
        if parsed is None:
            self.warn("dmarc.invalid_value", WARNING, tag=name, value=value, position=value_at)
            if name in ("p", "sp", "np"):
                self.policy_invalid = True
            return
        self.values[name] = parsed

    def build(self) -> DmarcRecord:
        if "p" not in self.raw:
            self.warn("dmarc.missing_p", WARNING, position=len(self.text))
            self.policy_invalid = True
        return DmarcRecord(
            text=self.text,
            tags=MappingProxyType(dict(self.raw)),
            malformed=self.is_malformed,
            policy_tag_invalid=self.policy_invalid,
            warnings=tuple(self.warnings),
            **self.values,  # type: ignore[arg-type]
        )


def _parse_value(name: str, value: str, position: int) -> object | None:
    """The typed value of one known tag, or ``None`` when it is outside its grammar."""
    lowered = value.lower()
    if name in ("p", "sp", "np"):
        return lowered if lowered in POLICIES else None
    if name == "psd":
        return lowered if lowered in ("y", "n", "u") else None
    if name == "t":
        return {"y": True, "n": False}.get(lowered)
    if name in ("adkim", "aspf"):
        return lowered if lowered in ("r", "s") else None
    if name in ("rua", "ruf"):
        return parse_report_uris(value, position)
    if name == "fo":
        return _parse_fo(lowered)
    if name == "pct":  # RFC 7489 §6.3: integer 0-100
        return int(value) if value.isdigit() and len(value) <= 3 and int(value) <= 100 else None
    if name == "ri":  # RFC 7489 §6.4: 1*32DIGIT
        return int(value) if value.isdigit() and len(value) <= 32 else None
    if name == "rf":  # RFC 7489 §6.4: Keyword *(WSP ":" WSP Keyword)
        formats = tuple(part.strip(_WSP) for part in lowered.split(":"))
        return formats if all(re.fullmatch(r"[a-z0-9-]+", f) for f in formats) else None
    return None


def _parse_fo(value: str) -> tuple[str, ...] | None:
    """RFC 9989 §4.8 dmarc-fo: 0/1 (mutually exclusive), d, s; each at most once."""
    options = tuple(part.strip(_WSP) for part in value.split(":"))
    if any(o not in ("0", "1", "d", "s") for o in options) or len(set(options)) != len(options):
        return None
    if "0" in options and "1" in options:
        return None
    return options


def parse_report_uris(value: str, position: int = 0) -> tuple[ReportUri, ...]:
    """Split a ``rua``/``ruf`` value on commas (RFC 9989 §4.8 dmarc-urilist).

    Never raises: a URI outside the grammar is kept with its ``problem`` set.
    """
    uris: list[ReportUri] = []
    offset = position
    for part in value.split(","):
        part_at = offset + len(part) - len(part.lstrip(_WSP))
        offset += len(part) + 1
        uris.append(parse_report_uri(part.strip(_WSP), part_at))
        if len(uris) >= _MAX_URIS_REPORTED:
            break
    return tuple(uris)


def parse_report_uri(text: str, position: int = 0) -> ReportUri:
    """One reporting URI with its optional ``!size`` suffix (RFC 7489 §6.2, RFC 9989 §4.8)."""
    size_limit: int | None = None
    uri = text
    size = _SIZE.search(text)
    if size is not None:
        size_limit = int(size.group(1)) * SIZE_UNITS[size.group(2).lower()]
        uri = text[: size.start()]
    scheme = _SCHEME.match(uri)
    if not uri:
        return ReportUri(text, position, problem="empty")
    if scheme is None or len(uri) == scheme.end():
        return ReportUri(text, position, problem="not_a_uri", size_limit=size_limit)
    if not _URI_CHARS.fullmatch(uri) or "!" in uri:
        return ReportUri(text, position, problem="invalid_characters", size_limit=size_limit)
    name = scheme.group(0)[:-1].lower()
    if name != "mailto":
        return ReportUri(text, position, scheme=name, size_limit=size_limit)
    address = uri[scheme.end() :].split("?", 1)[0]
    local, at, host = address.rpartition("@")
    problem = ""
    if not at or not _LOCAL.fullmatch(local) or ".." in local:
        problem = "invalid_address"
    elif not _HOST.fullmatch(host) or host.startswith("-") or ".." in host:
        problem = "invalid_domain"
    return ReportUri(
        text,
        position,
        scheme=name,
        address=address,
        host=host.lower().rstrip("."),
        size_limit=size_limit,
        problem=problem,
    )
