"""The Host header allowlist of every web app (pages, API, and the sink's): a request whose
Host is not listed gets 400, so a browser tricked by DNS rebinding into sending a page's
requests to a loopback-only app is refused.

Starlette's ``TrustedHostMiddleware`` compares the host without its port. Owns no state.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware.trustedhost import TrustedHostMiddleware

from maildiag.settings import Settings, host_pattern

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_ANY_ADDRESS = ("", "0.0.0.0", "::")  # a wildcard bind listens on loopback too


def _on_loopback(host: str) -> bool:
    if host in _ANY_ADDRESS or host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(settings: Settings) -> list[str]:
    """The hosts the app answers: ``settings.allowed_hosts`` when set, else the host of
    ``public_base_url`` and the bound address (with every loopback name when that is a
    loopback or wildcard address)."""
    if settings.allowed_hosts:
        return list(settings.allowed_hosts)
    hosts = [host_pattern(urlsplit(settings.public_base_url).hostname or "localhost")]
    bound = settings.http_host.strip()
    hosts += LOOPBACK_NAMES if _on_loopback(bound) else [host_pattern(bound)]
    return list(dict.fromkeys(hosts))


def add_host_check(app: FastAPI, settings: Settings) -> None:
    """Answer 400 to every request whose Host header is not in ``allowed_hosts(settings)``."""
    app.add_middleware(
        TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings), www_redirect=False
    )


__all__ = ["LOOPBACK_NAMES", "add_host_check", "allowed_hosts"]
