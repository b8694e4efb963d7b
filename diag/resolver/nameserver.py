"""A nameserver as the command line and the settings name it."""

from __future__ import annotations

import ipaddress

MAX_PORT = 65535


def parse_nameserver(spec: str, default_port: int = 53) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[V6]:PORT`` or a bare IPv6 address, HOST an IP address and
    PORT 1–65535 (a resolver is named by its address, RFC 1035 §4.2; a host name would need a
    resolver to find it). Raises ValueError naming what is wrong."""
    text = spec.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"not HOST[:PORT]: {spec!r}")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"not an IP address: {spec!r} (use HOST[:PORT], e.g. 127.0.0.1:5300)"
        ) from None
    if not port_text:
        return str(address), default_port
    if not port_text.isdigit() or not 1 <= int(port_text) <= MAX_PORT:
        raise ValueError(f"not a port 1-{MAX_PORT}: {spec!r}")
    return str(address), int(port_text)


__all__ = ["MAX_PORT", "parse_nameserver"]
