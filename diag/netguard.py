"""The SSRF guard: which IP addresses an outbound diagnostic connection may reach.

The SMTP probe (and any other outbound connection) asks ``check_target`` before connecting.
Private, loopback, link-local, reserved and documentation addresses are refused unless the
operator allows them (the lab does); cloud metadata endpoints are refused always.
"""

from __future__ import annotations

import ipaddress

from diag.errors import DiagError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _nets(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# Cloud instance-metadata services: refused even when private targets are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "fd00:ec2::254",  # AWS IPv6 (Nitro)
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "169.254.170.2",  # AWS ECS task metadata
    )
)
NAT64_PREFIXES = _nets("64:ff9b::/96", "64:ff9b:1::/48")  # RFC 6052 §2.1, RFC 8215
SIXTOFOUR = _nets("2002::/16")  # RFC 3056 §2: the v4 address sits in bits 16..47
TEREDO = _nets("2001::/32")  # RFC 4380 §4

# (category, networks); the first match names the refusal. Order: most specific first.
_CATEGORIES: tuple[tuple[str, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]], ...] = (
    ("unspecified", _nets("0.0.0.0/32", "::/128")),
    ("this_network", _nets("0.0.0.0/8")),  # RFC 1122 §3.2.1.3
    ("loopback", _nets("127.0.0.0/8", "::1/128")),
    ("broadcast", _nets("255.255.255.255/32")),  # RFC 919
    ("link_local", _nets("169.254.0.0/16", "fe80::/10")),  # RFC 3927, RFC 4291 §2.5.6
    ("cgnat", _nets("100.64.0.0/10")),  # RFC 6598
    (
        "private",
        _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"),
    ),  # RFC 1918, 4193
    (
        "documentation",
        _nets(
            "192.0.2.0/24",
            "198.51.100.0/24",
            "203.0.113.0/24",  # RFC 5737
            "2001:db8::/32",  # RFC 3849
            "3fff::/20",  # RFC 9637
        ),
    ),
    ("multicast", _nets("224.0.0.0/4", "ff00::/8")),
    (
        "reserved",
        _nets(
            "192.0.0.0/24",  # RFC 6890 IETF protocol assignments
            "198.18.0.0/15",  # RFC 2544 benchmarking
            "240.0.0.0/4",  # RFC 1112 reserved
            "100::/64",  # RFC 6666 discard-only
            "fec0::/10",  # deprecated site-local, RFC 3879
            "2001:2::/48",  # RFC 5180 benchmarking
        ),
    ),
)
_LOCAL_CATEGORIES = frozenset({"private", "cgnat", "link_local", "documentation", "reserved"})


class ForbiddenTarget(DiagError):
    """An address the guard refuses to connect to; ``category`` says why (``private``,
    ``loopback``, ``metadata``, ``link_local``, ``cgnat``, ``multicast``, ``documentation``,
    ``reserved``, ``unspecified``, ``broadcast``, ``this_network`` or ``invalid``)."""

    def __init__(self, *, ip: str, category: str) -> None:
        self.ip = ip
        self.category = category
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"refusing to connect to {self.ip}: {self.category} address"


def classify(ip: str | IPAddress) -> str | None:
    """The guard's category for ``ip`` (``None`` for an ordinary public address).

    Embedded IPv4 addresses (IPv4-mapped, NAT64, 6to4, Teredo) are judged by the v4 address.
    Raises ValueError for text that is not an IP address.
    """
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(str(address).split("%")[0])
    if address in METADATA_ADDRESSES:
        return "metadata"
    embedded = _embedded_v4(address)
    if embedded is not None:
        inner = classify(embedded)
        if inner is not None:
            return inner
    for category, networks in _CATEGORIES:
        if any(address in net for net in networks):
            return category
    if not address.is_global:  # the IANA special-purpose registries' other non-global blocks
        return "reserved"
    return None


def _embedded_v4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if any(address in net for net in NAT64_PREFIXES):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def check_target(ip: str, *, allow_private: bool = False, allow_loopback: bool = False) -> None:
    """Return when ``ip`` may be connected to; raise ``ForbiddenTarget`` otherwise.

    ``allow_private`` admits private, CGNAT, link-local, documentation and reserved ranges
    (and loopback too, for the lab); ``allow_loopback`` admits loopback alone. Metadata
    endpoints, multicast, broadcast and unspecified addresses are refused always.
    """
    try:
        category = classify(ip.strip())
    except ValueError:
        raise ForbiddenTarget(ip=ip, category="invalid") from None
    if category is None:
        return
    if category == "loopback" and (allow_loopback or allow_private):
        return
    if category in _LOCAL_CATEGORIES and allow_private:
        return
    raise ForbiddenTarget(ip=ip, category=category)


__all__ = ["METADATA_ADDRESSES", "ForbiddenTarget", "check_target", "classify"]
