"""Helpers shared by the CLI commands: input validation, the resolver, and reading input."""

from __future__ import annotations

import ipaddress
import re
import sys
from pathlib import Path

from diag.resolver import DnsPythonResolver, normalize_name
from maildiag.settings import Settings

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
MAX_DOMAIN_LENGTH = 253  # RFC 1035 §2.3.4


class UsageError(ValueError):
    """Bad usage or unreadable input: exit 2 with this one-line reason."""


def make_resolver(settings: Settings) -> DnsPythonResolver:
    """The resolver every command uses: the configured nameservers, or the system's."""
    try:
        return DnsPythonResolver(settings.nameservers or None, timeout=settings.dns_timeout)
    except ValueError as exc:
        raise UsageError(f"bad --nameserver: {exc}") from exc


def parse_ip(text: str) -> str:
    """A normalized IP address. Raises UsageError."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise UsageError(f"not an IP address: {text!r}") from None


def parse_domain(text: str) -> str:
    """A syntactically valid domain name (IDN allowed). Raises UsageError."""
    name = normalize_name(text)
    labels = name.split(".")
    if (
        not name
        or len(name) > MAX_DOMAIN_LENGTH
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
    ):
        raise UsageError(f"not a domain name: {text!r}")
    return name


def parse_address(text: str) -> str:
    """An e-mail address with a valid domain. Raises UsageError."""
    local, at, domain = text.strip().rpartition("@")
    if (
        not at or not local or len(local) > 64 or any(c.isspace() for c in local)
    ):  # RFC 5321 §4.5.3.1.1
        raise UsageError(f"not an e-mail address: {text!r}")
    return f"{local}@{parse_domain(domain)}"


def read_input(path: str, limit: int) -> bytes:
    """Bytes from a file or ``-`` (stdin), at most ``limit``. Raises UsageError."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with Path(path).open("rb") as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise UsageError(f"{path} is larger than the {limit}-byte limit")
    return data
