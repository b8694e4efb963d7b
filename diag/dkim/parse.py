"""Pure parsers for DKIM-Signature header values and DKIM key records (RFC 6376 §3.2, §3.5, §3.6.1).

Text in, frozen values out: no DNS, no cryptographic verification. Every syntax problem raises
``DkimSyntaxError`` carrying the character position it points at.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from diag.errors import DkimSyntaxError
from diag.names import MAX_LABEL_LENGTH, MAX_NAME_LENGTH

REQUIRED_SIGNATURE_TAGS = ("v", "a", "b", "bh", "d", "h", "s")  # RFC 6376 §3.5
MAX_TIMESTAMP_DIGITS = 12  # RFC 6376 §3.5 t=, x=: 1*12DIGIT
MAX_LENGTH_DIGITS = 76  # RFC 6376 §3.5 l=: 1*76DIGIT
ED25519_KEY_BYTES = 32  # RFC 8463 §4: the raw 32-byte public key
KEY_PARSE_CACHE_SIZE = 256  # distinct key records kept parsed for verification

_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")  # RFC 6376 §3.2 tag-name
_WSP = " \t\r\n"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # controls other than FWS
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}\Z")  # RFC 6376 §2.4 base64string, FWS removed
_ALGORITHM = re.compile(r"[a-z][a-z0-9]*-[a-z][a-z0-9]*\Z")  # RFC 6376 §3.5 sig-a-tag-alg
_CANON = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*\Z")  # RFC 6376 §3.5 sig-c-tag-alg
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+\Z")  # RFC 5322 §3.6.8 ftext
_QUERY_METHOD = re.compile(r"[a-z][a-z0-9-]*(?:/[a-z0-9][a-z0-9-]*)?\Z")  # RFC 6376 §3.5 q=
_DIGITS = re.compile(r"[0-9]+\Z")
_LABEL = re.compile(r"(?:[A-Za-z0-9_]|[^\x00-\x7f])(?:[A-Za-z0-9_-]|[^\x00-\x7f])*\Z")


@dataclass(frozen=True)
class Tag:
    """One ``name=value`` of a tag-list; ``position`` is where the value starts."""

    name: str
    value: str
    position: int
    name_position: int


def parse_tag_list(text: str) -> tuple[Tag, ...]:
    """Split an RFC 6376 §3.2 tag-list into tags, values trimmed of surrounding FWS.

    Raises ``DkimSyntaxError`` for a tag without ``=``, a bad tag name, an empty tag between
    semicolons, a control character in a value, or a duplicate tag name (§3.2: "Tags with
    duplicate names MUST NOT occur within a single tag-list").
    """
    tags: list[Tag] = []
    seen: set[str] = set()
    start = 0
    specs = text.split(";")
    for index, spec in enumerate(specs):
        end = start + len(spec)
        if not spec.strip(_WSP):
            if index != len(specs) - 1:  # only a trailing ';' may leave an empty spec
                raise DkimSyntaxError("empty tag-spec", text=text, position=start)
            start = end + 1
            continue
        tags.append(_parse_tag_spec(text, spec, start, seen))
        start = end + 1
    return tuple(tags)


def _parse_tag_spec(text: str, spec: str, start: int, seen: set[str]) -> Tag:
    lead = len(spec) - len(spec.lstrip(_WSP))
    eq = spec.find("=")
    if eq < 0:
        raise DkimSyntaxError("tag without '='", text=text, position=start + lead)
    name = spec[:eq].strip(_WSP)
    if not _TAG_NAME.match(name):
        raise DkimSyntaxError(f"invalid tag name {name!r}", text=text, position=start + lead)
    if name in seen:
        raise DkimSyntaxError(f"duplicate tag {name}=", text=text, position=start + lead)
    seen.add(name)
    raw = spec[eq + 1 :]
    value = raw.strip(_WSP)
    value_position = start + eq + 1 + (len(raw) - len(raw.lstrip(_WSP)))
    control = _CONTROL.search(value)
    if control is not None:
        raise DkimSyntaxError(
            f"control character in {name}= value",
            text=text,
            position=value_position + control.start(),
        )
    return Tag(name, value, value_position, start + lead)


def _strip_fws(value: str) -> str:
    return "".join(value.split())


def _check_domain(text: str, tag: Tag, what: str) -> str:
    """A domain-name (or selector) value; returned lower-cased. RFC 6376 §3.5 d=, s=."""
    value = tag.value
    if not value or len(value) > MAX_NAME_LENGTH:
        raise DkimSyntaxError(f"{what} is empty or too long", text=text, position=tag.position)
    offset = 0
    for label in value.split("."):
        if not _LABEL.match(label) or len(label) > MAX_LABEL_LENGTH or label.endswith("-"):
            raise DkimSyntaxError(
                f"invalid {what} label {label!r}", text=text, position=tag.position + offset
            )
        offset += len(label) + 1
    return value.lower()


def _check_base64(text: str, tag: Tag, *, allow_empty: bool = False) -> str:
    value = _strip_fws(tag.value)
    if not value and allow_empty:
        return value
    if not value or not _BASE64.match(value) or len(value) % 4:
        raise DkimSyntaxError(f"{tag.name}= is not valid base64", text=text, position=tag.position)
    return value


def _check_number(text: str, tag: Tag, max_digits: int) -> int:
    if not _DIGITS.match(tag.value) or len(tag.value) > max_digits:
        raise DkimSyntaxError(
            f"{tag.name}= is not a decimal number of at most {max_digits} digits",
            text=text,
            position=tag.position,
        )
    return int(tag.value)


def _split_list(value: str, separator: str) -> tuple[str, ...]:
    return tuple(item.strip(_WSP) for item in value.split(separator))


@dataclass(frozen=True)
class DkimSignature:
    """A parsed DKIM-Signature header value (RFC 6376 §3.5). Names are lower-cased."""

    version: str
    algorithm: str
    signature: str
    body_hash: str
    header_canonicalization: str
    body_canonicalization: str
    domain: str
    headers: tuple[str, ...]
    selector: str
    identity: str | None = None
    length: int | None = None
    query_methods: tuple[str, ...] = ("dns/txt",)
    timestamp: int | None = None
    expiration: int | None = None
    copied_headers: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def key_name(self) -> str:
        """The DNS name of the key record (RFC 6376 §3.6.2.1)."""
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def agent_identifier(self) -> str:
        """``i=``, or its default ``@`` + ``d=`` (RFC 6376 §3.5)."""
        return self.identity if self.identity is not None else f"@{self.domain}"

    @property
    def canonicalization(self) -> str:
        return f"{self.header_canonicalization}/{self.body_canonicalization}"


def parse_signature(value: str) -> DkimSignature:
    """Parse a DKIM-Signature header field value.

    Raises ``DkimSyntaxError`` when the tag-list is malformed, a required tag (v a b bh d h s)
    is missing, or a tag value does not follow its RFC 6376 §3.5 grammar, including an ``i=``
    whose domain is not ``d=`` or a subdomain of it and an ``x=`` not later than ``t=``.
    """
    tags = parse_tag_list(value)
    by_name = {tag.name: tag for tag in tags}
    for name in REQUIRED_SIGNATURE_TAGS:
        if name not in by_name:
            raise DkimSyntaxError(f"missing required tag {name}=", text=value, position=len(value))
    if by_name["v"].value != "1":
        raise DkimSyntaxError("v= must be 1", text=value, position=by_name["v"].position)
    algorithm = by_name["a"].value.lower()
    if not _ALGORITHM.match(algorithm):
        raise DkimSyntaxError("invalid a= value", text=value, position=by_name["a"].position)
    domain = _check_domain(value, by_name["d"], "d= domain")
    header_canon, body_canon = _parse_canonicalization(value, by_name.get("c"))
    signature = DkimSignature(
        version="1",
        algorithm=algorithm,
        signature=_check_base64(value, by_name["b"]),
        body_hash=_check_base64(value, by_name["bh"]),
        header_canonicalization=header_canon,
        body_canonicalization=body_canon,
        domain=domain,
        headers=_parse_header_list(value, by_name["h"]),
        selector=_check_domain(value, by_name["s"], "s= selector"),
        identity=_parse_identity(value, by_name.get("i"), domain),
        length=_check_number(value, by_name["l"], MAX_LENGTH_DIGITS) if "l" in by_name else None,
        query_methods=_parse_query_methods(value, by_name.get("q")),
        timestamp=_optional_time(value, by_name.get("t")),
        expiration=_optional_time(value, by_name.get("x")),
        copied_headers=_split_list(by_name["z"].value, "|") if "z" in by_name else (),
        tags=tuple((tag.name, tag.value) for tag in tags),
    )
    if (
        signature.timestamp is not None
        and signature.expiration is not None
        and signature.expiration <= signature.timestamp
    ):
        # RFC 6376 §3.5 x=: "the value of the x= tag MUST be greater than the value of the t= tag"
        raise DkimSyntaxError("x= is not later than t=", text=value, position=by_name["x"].position)
    return signature


def _optional_time(text: str, tag: Tag | None) -> int | None:
    return None if tag is None else _check_number(text, tag, MAX_TIMESTAMP_DIGITS)


def _parse_canonicalization(text: str, tag: Tag | None) -> tuple[str, str]:
    if tag is None:
        return "simple", "simple"  # RFC 6376 §3.5 c= default
    parts = tag.value.lower().split("/")
    if len(parts) > 2 or not all(_CANON.match(part) for part in parts):
        raise DkimSyntaxError("invalid c= value", text=text, position=tag.position)
    return parts[0], parts[1] if len(parts) == 2 else "simple"


def _parse_header_list(text: str, tag: Tag) -> tuple[str, ...]:
    names = _split_list(tag.value, ":")
    for name in names:
        if not _FIELD_NAME.match(name):
            raise DkimSyntaxError(
                f"invalid h= field name {name!r}", text=text, position=tag.position
            )
    return tuple(name.lower() for name in names)


def _parse_identity(text: str, tag: Tag | None, domain: str) -> str | None:
    if tag is None:
        return None
    local, at, host = tag.value.rpartition("@")
    if not at:
        raise DkimSyntaxError("i= has no '@'", text=text, position=tag.position)
    host_tag = Tag("i", host, tag.position + len(local) + 1, tag.name_position)
    host = _check_domain(text, host_tag, "i= domain")
    if host != domain and not host.endswith("." + domain):
        raise DkimSyntaxError(
            "i= domain is not d= or a subdomain of it", text=text, position=host_tag.position
        )
    return tag.value


def _parse_query_methods(text: str, tag: Tag | None) -> tuple[str, ...]:
    if tag is None:
        return ("dns/txt",)
    methods = tuple(method.lower() for method in _split_list(tag.value, ":"))
    if not all(_QUERY_METHOD.match(method) for method in methods):
        raise DkimSyntaxError("invalid q= value", text=text, position=tag.position)
    return methods


@dataclass(frozen=True)
class DkimKey:
    """A parsed DKIM key record (RFC 6376 §3.6.1). ``public_key`` is ``""`` for a revoked key."""

    key_type: str = "rsa"
    public_key: str = ""
    version: str | None = None
    hash_algorithms: tuple[str, ...] | None = None
    service_types: tuple[str, ...] = ("*",)
    flags: tuple[str, ...] = ()
    notes: str = ""
    bits: int | None = None
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def revoked(self) -> bool:
        """An empty ``p=`` means the key has been revoked (RFC 6376 §3.6.1)."""
        return not self.public_key

    @property
    def testing(self) -> bool:
        """``t=y``: the domain is testing DKIM (RFC 6376 §3.6.1)."""
        return "y" in self.flags

    @property
    def strict(self) -> bool:
        """``t=s``: ``i=`` must use exactly the ``d=`` domain (RFC 6376 §3.6.1)."""
        return "s" in self.flags

    @property
    def for_email(self) -> bool:
        """Whether ``s=`` lets the key sign e-mail (``*`` or ``email``)."""
        return "*" in self.service_types or "email" in self.service_types

    def allows_hash(self, hash_name: str) -> bool:
        """Whether ``h=`` (absent means any) permits ``hash_name`` such as ``sha256``."""
        return self.hash_algorithms is None or hash_name.lower() in self.hash_algorithms

    @property
    def public_key_bytes(self) -> bytes:
        """``p=`` decoded (DER SubjectPublicKeyInfo for RSA, 32 raw bytes for Ed25519)."""
        return base64.b64decode(self.public_key)


def parse_key_record(text: str) -> DkimKey:
    """Parse a DKIM key record (the TXT at ``selector._domainkey.domain``).

    Raises ``DkimSyntaxError`` for a malformed tag-list, ``v=`` that is not first or not
    ``DKIM1``, a missing ``p=``, ``p=`` that is not base64, or (for ``k=rsa`` / ``k=ed25519``)
    a ``p=`` that is not a public key of that type. An unknown ``k=`` is not a syntax error:
    the key parses with ``bits=None`` and verifiers must ignore it.
    """
    tags = parse_tag_list(text)
    by_name = {tag.name: tag for tag in tags}
    version = by_name.get("v")
    if version is not None:
        if tags[0].name != "v":
            raise DkimSyntaxError("v= must be the first tag", text=text, position=version.position)
        if version.value != "DKIM1":
            raise DkimSyntaxError("v= must be DKIM1", text=text, position=version.position)
    if "p" not in by_name:
        raise DkimSyntaxError("missing required tag p=", text=text, position=len(text))
    public_key = _check_base64(text, by_name["p"], allow_empty=True)
    key_type = by_name["k"].value.lower() if "k" in by_name else "rsa"
    bits = _key_bits(text, by_name["p"], key_type, public_key) if public_key else None
    hashes = by_name.get("h")
    return DkimKey(
        key_type=key_type,
        public_key=public_key,
        version=version.value if version else None,
        hash_algorithms=_lower_list(hashes.value) if hashes else None,
        service_types=_lower_list(by_name["s"].value) if "s" in by_name else ("*",),
        flags=_lower_list(by_name["t"].value) if "t" in by_name else (),
        notes=by_name["n"].value if "n" in by_name else "",
        bits=bits,
        tags=tuple((tag.name, tag.value) for tag in tags),
    )


@functools.lru_cache(maxsize=KEY_PARSE_CACHE_SIZE)
def parse_key_record_cached(text: str) -> DkimKey:
    """``parse_key_record`` for verification, reusing the parse of a record text seen recently.

    Safe to share: ``parse_key_record`` is a pure function of ``text`` and its result is frozen
    all the way down. A text that fails to parse is not kept (the error is raised afresh).
    """
    return parse_key_record(text)


def _lower_list(value: str) -> tuple[str, ...]:
    return tuple(item.lower() for item in _split_list(value, ":") if item)


def _key_bits(text: str, tag: Tag, key_type: str, public_key: str) -> int | None:
    try:
        raw = base64.b64decode(public_key, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DkimSyntaxError("p= is not valid base64", text=text, position=tag.position) from exc
    if key_type == "ed25519":
        if len(raw) != ED25519_KEY_BYTES:
            raise DkimSyntaxError(
                "p= is not a 32-byte Ed25519 key", text=text, position=tag.position
            )
        return ED25519_KEY_BYTES * 8
    if key_type != "rsa":
        return None
    try:
        key = load_der_public_key(raw)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise DkimSyntaxError(
            "p= is not a DER RSA public key", text=text, position=tag.position
        ) from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise DkimSyntaxError("p= is not an RSA public key", text=text, position=tag.position)
    return int(key.key_size)
