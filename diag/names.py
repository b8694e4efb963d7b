"""Domain names and mail addresses as users type them: the limits, and the one parser of each.

Pure: text in, a normalized value out, or ``InputError`` naming what is wrong. It does not
look anything up; whether a domain exists is for the checks that use the name.
"""

from __future__ import annotations

from dataclasses import dataclass

import idna

from diag.errors import InputError

MAX_NAME_LENGTH = 253  # RFC 1035 §2.3.4, RFC 2181 §11: 255 octets on the wire, 253 as text
MAX_LABEL_LENGTH = 63  # RFC 1035 §2.3.4
MAX_ADDRESS_LENGTH = 254  # RFC 5321 §4.5.3.1.3: a path of 256 octets less its angle brackets
MAX_LOCAL_PART_LENGTH = 64  # RFC 5321 §4.5.3.1.1

# Never part of an unquoted address: space, the RFC 5322 §3.2.3 specials other than "@" and
# ".", and (below) every control character. Quoted local parts are not accepted.
_FORBIDDEN = frozenset(' \t\r\n<>()[]\\,;:"')

__all__ = [
    "MAX_ADDRESS_LENGTH",
    "MAX_LABEL_LENGTH",
    "MAX_LOCAL_PART_LENGTH",
    "MAX_NAME_LENGTH",
    "Address",
    "parse_address",
    "parse_domain",
]


@dataclass(frozen=True)
class Address:
    """``local@domain``: the local part as given (RFC 5321 §2.4 lets it be case-sensitive),
    the domain lower-cased without a trailing dot."""

    local: str
    domain: str

    def __str__(self) -> str:
        return f"{self.local}@{self.domain}"


def parse_domain(text: str, *, underscore: bool = False) -> str:
    """The domain in lower-case A-label form: two labels or more, each 1-63 letters, digits
    and hyphens (and ``_`` when ``underscore``, as in ``_spf.example.com``), no hyphen at
    either end; 253 characters at most.

    Raises InputError ``domain.missing``, ``domain.too_long`` (``n``) or ``domain.invalid``
    (``reason``: ``idna``, ``single_label``, ``label_length`` or ``label_characters``).
    """
    name = text.strip().rstrip(".").lower()
    if not name:
        raise InputError("domain.missing")
    if len(name) > MAX_NAME_LENGTH:
        raise InputError("domain.too_long", n=MAX_NAME_LENGTH)
    if not name.isascii():
        name = _a_labels(name)
    labels = name.split(".")
    if len(labels) < 2:
        raise InputError("domain.invalid", reason="single_label")
    for label in labels:
        _check_label(label, underscore=underscore)
    return name


def _a_labels(name: str) -> str:
    try:
        encoded = idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InputError("domain.invalid", reason="idna") from exc
    if len(encoded) > MAX_NAME_LENGTH:
        raise InputError("domain.too_long", n=MAX_NAME_LENGTH)
    return encoded


def _check_label(label: str, *, underscore: bool) -> None:
    if not label or len(label) > MAX_LABEL_LENGTH:
        raise InputError("domain.invalid", reason="label_length")
    allowed = "-_" if underscore else "-"
    if label[0] == "-" or label[-1] == "-" or not all(c.isalnum() or c in allowed for c in label):
        raise InputError("domain.invalid", reason="label_characters")


def parse_address(text: str) -> Address:
    """``local@domain`` with surrounding space removed and the domain lower-cased. The domain
    is only checked for empty labels here; pass ``address.domain`` to ``parse_domain`` where
    it must be a domain a mail can be sent to.

    Raises InputError ``address.invalid`` with ``reason`` (``empty``, ``too_long``,
    ``forbidden_character``, ``missing_local_part``, ``local_part_too_long``, ``bad_domain``)
    and ``position``, the 0-based offset of the problem (None for an empty address).
    """
    body = text.strip()
    if not body:
        raise InputError("address.invalid", reason="empty", position=None)
    if len(body) > MAX_ADDRESS_LENGTH:
        raise _invalid("too_long", MAX_ADDRESS_LENGTH)
    for i, char in enumerate(body):
        if char in _FORBIDDEN or ord(char) < 32 or ord(char) == 127:
            raise _invalid("forbidden_character", i)
    local, at, domain = body.rpartition("@")
    if not at or not local:
        raise _invalid("missing_local_part", 0)
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise _invalid("local_part_too_long", MAX_LOCAL_PART_LENGTH)
    if "@" in local:
        raise _invalid("forbidden_character", local.index("@"))
    domain = domain.lower().rstrip(".")
    if not domain or any(not label for label in domain.split(".")):
        raise _invalid("bad_domain", len(local) + 1)
    return Address(local, domain)


def _invalid(reason: str, position: int) -> InputError:
    return InputError("address.invalid", reason=reason, position=position)
