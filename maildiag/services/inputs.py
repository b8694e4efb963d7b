"""Input parsing shared by every adapter: addresses, domains and IP addresses as the CLI and
the pages take them, each refused with a reason.

Two spellings of bad input live here until they become one: ``UsageError`` (the CLI's
one-line reason, exit 2) and ``InputError`` (an i18n key and its values, a 4xx with the nb/en
wording). Pure: no I/O, no accounts are looked at.
"""

from __future__ import annotations

import ipaddress
import re

import idna

import reset
from diag.resolver import normalize_name
from maildiag.services.wording import text

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
MAX_DOMAIN_LENGTH = 253  # RFC 1035 §2.3.4
MAX_ADDRESS = 254  # RFC 5321 §4.5.3.1.3 path length less the angle brackets
MAX_DOMAIN = 253  # RFC 1035 §2.3.4 (255 octets on the wire, 253 as text)
MAX_LABEL = 63  # RFC 1035 §2.3.4
MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1
POSTMASTER = "postmaster"  # RFC 5321 §4.5.1: every domain that takes mail must accept it


class UsageError(ValueError):
    """Bad usage or unreadable input: exit 2 with this one-line reason."""


class InputError(ValueError):
    """Unusable input; ``key`` names the i18n wording, ``values`` fill it in."""

    def __init__(self, key: str, **values: str | int) -> None:
        self.key = key
        self.values = values
        super().__init__(f"{key} {values}" if values else key)

    def text(self, lang: str) -> str:
        return text(self.key, lang, **self.values)


def parse_ip(given: str) -> str:
    """A normalized IP address. Raises UsageError."""
    try:
        return str(ipaddress.ip_address(given.strip()))
    except ValueError:
        raise UsageError(f"not an IP address: {given!r}") from None


def parse_domain(given: str) -> str:
    """A syntactically valid domain name (IDN allowed). Raises UsageError."""
    name = normalize_name(given)
    labels = name.split(".")
    if (
        not name
        or len(name) > MAX_DOMAIN_LENGTH
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
    ):
        raise UsageError(f"not a domain name: {given!r}")
    return name


def parse_address(given: str) -> str:
    """An e-mail address with a valid domain. Raises UsageError."""
    local, at, domain = given.strip().rpartition("@")
    if not at or not local or len(local) > MAX_LOCAL_PART or any(c.isspace() for c in local):
        raise UsageError(f"not an e-mail address: {given!r}")
    return f"{local}@{parse_domain(domain)}"


def clean_address(given: str) -> str:
    """The normalized address. Raises InputError with the reason; never looks at accounts."""
    if not given.strip():
        raise InputError("checklist.address_missing")
    if len(given) > MAX_ADDRESS:
        raise InputError("checklist.address_too_long", n=MAX_ADDRESS)
    if not given.isascii():
        raise InputError("checklist.address_non_ascii")
    try:
        address = reset.normalize_address(given)
    except reset.InvalidAddressError as exc:
        raise InputError("checklist.address_invalid", reason=exc.reason) from exc
    clean_domain(address.rpartition("@")[2])
    return address


def clean_domain(given: str) -> str:
    """The domain in lower-case A-label form. Raises InputError with the reason."""
    name = given.strip().rstrip(".").lower()
    if not name:
        raise InputError("checklist.domain_missing")
    if len(name) > MAX_DOMAIN:
        raise InputError("checklist.domain_too_long", n=MAX_DOMAIN)
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise InputError("checklist.domain_invalid", reason="idna") from exc
    labels = name.split(".")
    if len(labels) < 2:
        raise InputError("checklist.domain_invalid", reason="single_label")
    for label in labels:
        if not label or len(label) > MAX_LABEL:
            raise InputError("checklist.domain_invalid", reason="label_length")
        if label[0] == "-" or label[-1] == "-" or not all(c.isalnum() or c == "-" for c in label):
            raise InputError("checklist.domain_invalid", reason="label_characters")
    return name


def domain_target(domain: str) -> str:
    """The address a domain check is reported for: postmaster, which every mail domain must
    accept (RFC 5321 §4.5.1). Domain checks never send it in a RCPT TO."""
    return f"{POSTMASTER}@{domain}"
