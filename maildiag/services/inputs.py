"""Input parsing shared by every adapter: addresses, domains and IP addresses as the CLI and
the pages take them, each refused with ``diag.errors.InputError`` (an i18n key and its values:
exit 2 with a one-line reason on the command line, a 4xx with the nb/en wording on the web).
The syntax and its limits are ``diag.names``'. Pure: no I/O, no accounts are looked at.
"""

from __future__ import annotations

import ipaddress

from diag import names
from diag.errors import InputError

MAX_ADDRESS = names.MAX_ADDRESS_LENGTH  # what the forms take; the limit is diag.names'
MAX_DOMAIN = names.MAX_NAME_LENGTH
POSTMASTER = "postmaster"  # RFC 5321 §4.5.1: every domain that takes mail must accept it


def parse_ip(text: str) -> str:
    """A normalized IP address. Raises InputError."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise InputError("usage.not_ip", text=text) from None


def parse_domain(text: str) -> str:
    """A syntactically valid domain name (IDN allowed, ``_`` too). Raises InputError."""
    try:
        return names.parse_domain(text, underscore=True)
    except InputError:
        raise InputError("usage.not_domain", text=text) from None


def parse_address(text: str) -> str:
    """An e-mail address with a valid domain. Raises InputError."""
    try:
        address = names.parse_address(text)
    except InputError:
        raise InputError("usage.not_address", text=text) from None
    return f"{address.local}@{parse_domain(address.domain)}"


def clean_address(text: str) -> str:
    """The normalized address. Raises InputError with the reason; never looks at accounts."""
    if not text.strip():
        raise InputError("checklist.address_missing")
    if len(text) > MAX_ADDRESS:
        raise InputError("checklist.address_too_long", n=MAX_ADDRESS)
    if not text.isascii():
        raise InputError("checklist.address_non_ascii")
    address = names.parse_address(text)
    names.parse_domain(address.domain)
    return str(address)


def clean_domain(text: str) -> str:
    """The domain in lower-case A-label form. Raises InputError with the reason."""
    return names.parse_domain(text)


def domain_target(domain: str) -> str:
    """The address a domain check is reported for: postmaster, which every mail domain must
    accept (RFC 5321 §4.5.1). Domain checks never send it in a RCPT TO."""
    return f"{POSTMASTER}@{domain}"
