"""PROXY protocol (v1 text, v2 binary) from trusted load balancers.

aiosmtpd parses the header itself (``proxy_protocol_timeout``); this module decides which peers
may send one and what client address it gives. Only a peer inside a trusted network is asked
for a PROXY header, and only then is the header's source address used for verdicts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from aiosmtpd.proxy_protocol import ProxyData

from smtp_sink.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``["127.0.0.1", "10.0.0.0/8"]`` as networks. Raises ``ConfigError``."""
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as error:
            raise ConfigError(str(error), key="proxy_trusted") from error
    return tuple(networks)


def is_trusted(peer_ip: str, networks: Iterable[Network]) -> bool:
    """True when ``peer_ip`` lies in one of ``networks``."""
    try:
        address = ipaddress.ip_address(peer_ip.split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in net for net in networks)


@dataclass(frozen=True)
class ProxiedPeer:
    """The client a PROXY header names; None fields for LOCAL (v2) or UNKNOWN (v1)."""

    ip: str | None
    port: int | None
    version: int


def proxied_peer(data: ProxyData) -> ProxiedPeer | None:
    """The client named by a valid PROXY header, or None when the header is not usable."""
    if not data.valid or data.version is None:
        return None
    src = data.src_addr
    if src is None:
        return ProxiedPeer(None, None, data.version)
    text = str(src)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return None
    return ProxiedPeer(text, data.src_port, data.version)
