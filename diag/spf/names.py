"""Domain-name rules SPF applies before querying (RFC 7208 §4.3, §7.3) and reverse names.

Pure helpers; no DNS.
"""

from __future__ import annotations

import ipaddress
import re

from diag.names import MAX_LABEL_LENGTH, MAX_NAME_LENGTH

_LABEL = re.compile(r"[!-\-/-Z\\^-~]+\Z")  # printable ASCII except '.', '[', ']' (no literals)


def is_valid_domain(domain: str) -> bool:
    """A multi-label name of 1-63 character labels, not a domain literal (RFC 7208 §4.3)."""
    labels = domain[:-1].split(".") if domain.endswith(".") else domain.split(".")
    if len(labels) < 2 or len(domain) > MAX_NAME_LENGTH + 1:
        return False
    return all(len(label) <= MAX_LABEL_LENGTH and _LABEL.match(label) for label in labels)


def is_queryable_name(name: str) -> bool:
    """A name a DNS query can be composed from: 1-63 octet labels, 253 in all (RFC 1035 §2.3.4).

    Target names from macro expansion may hold any visible characters and spaces (§7.3).
    """
    if not name or len(name) > MAX_NAME_LENGTH or not name.isascii():
        return False
    labels = name.split(".")
    return "" not in labels and max(map(len, labels)) <= MAX_LABEL_LENGTH


def fit_domain(name: str) -> str:
    """Drop one trailing dot, then whole labels from the left until 253 characters fit (§7.3)."""
    name = name[:-1] if name.endswith(".") else name
    while len(name) > MAX_NAME_LENGTH and "." in name:
        name = name.split(".", 1)[1]
    return name


def reverse_name(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The in-addr.arpa or ip6.arpa name of an address (RFC 7208 §5.5)."""
    return ip.reverse_pointer
