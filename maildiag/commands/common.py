"""Helpers shared by the CLI commands: input validation, the resolver, and reading input.

Bad usage or unreadable input raises ``diag.errors.InputError`` with a ``usage.*`` key; the
command line answers it with exit 2 and the key's one-line wording.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

from diag import names
from diag.errors import InputError
from diag.resolver import DnsPythonResolver
from maildiag.settings import Settings


def make_resolver(settings: Settings) -> DnsPythonResolver:
    """The resolver every command uses: the configured nameservers, or the system's."""
    try:
        return DnsPythonResolver(settings.nameservers or None, timeout=settings.dns_timeout)
    except ValueError as exc:
        raise InputError("usage.bad_nameserver", detail=str(exc)) from exc


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


def read_input(path: str, limit: int) -> bytes:
    """Bytes from a file or ``-`` (stdin), at most ``limit``. Raises InputError."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with Path(path).open("rb") as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        raise InputError("usage.cannot_read", path=path, detail=str(exc.strerror or exc)) from exc
    if len(data) > limit:
        raise InputError("usage.too_large", path=path, limit=limit)
    return data
