"""Reading single values out of a report, the same way for every format: text that is cut at a
limit and safe to store, domains, IP addresses, counts, instants and enumerations. Each reader
raises ReportRefused naming the field. Pure.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import socket
from collections.abc import Collection

from diag.errors import ReportRefused

# No DMARC or TLS report can describe mail before 2000 (DMARC's first specification is from
# 2012) or after 2100; a date outside is a broken reporter or a forged report.
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
MAX_COUNT = 2**62  # a message or session count; fits a signed 64-bit column
MAX_NAME = 255  # a domain name (RFC 1035 §2.3.4), an org name, a report id
_DIGITS = re.compile(r"\d{1,20}")
# Code points that no database column should get from a report: controls other than tab and
# newline (PostgreSQL refuses NUL in text) and lone surrogates (not encodable as UTF-8), which
# JSON escapes and undecodable header bytes can produce.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def safe_text(value: str) -> str:
    """``value`` with the code points no column may hold replaced by U+FFFD."""
    return _UNSAFE.sub("\ufffd", value)


def optional_text(value: str | None, limit: int) -> str | None:
    """``value`` stripped and cut at ``limit`` characters; None when empty."""
    if value is None:
        return None
    text = value.strip()
    return text[:limit] if text else None


def required_text(value: str | None, name: str, limit: int = MAX_NAME) -> str:
    """``value`` stripped; refused (missing_field) when empty, (bad_value) when too long."""
    text = (value or "").strip()
    if not text:
        raise ReportRefused(reason="missing_field", detail=name)
    if len(text) > limit:
        raise ReportRefused(reason="bad_value", detail=f"{name} is longer than {limit}")
    return text


def domain(value: str | None, name: str) -> str:
    """A domain as reports give it, lower-cased without a trailing dot; required."""
    text = required_text(value, name).lower().rstrip(".")
    if not text:
        raise ReportRefused(reason="missing_field", detail=name)
    return text


def optional_domain(value: str | None, name: str) -> str | None:
    text = (value or "").strip()
    return domain(text, name) if text else None


def ip_address(value: str | None, name: str) -> str:
    """An IPv4 or IPv6 address in its canonical text form (``ipaddress``'s); required."""
    text = required_text(value, name, 64)
    try:
        # Most report addresses are IPv4 already in canonical form: the C parser proves that
        # in a fraction of ipaddress's time (a text that round-trips through it is canonical).
        if socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text)) == text:
            return text
    except (OSError, ValueError):  # not IPv4; ValueError: an embedded NUL
        pass
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ReportRefused(reason="bad_value", detail=f"{name} {text[:64]!r}") from None


def optional_ip(value: str | None, name: str) -> str | None:
    text = (value or "").strip()
    return ip_address(text, name) if text else None


def count(value: object, name: str) -> int:
    """A non-negative count: an int, or a string of digits."""
    if isinstance(value, bool):
        raise ReportRefused(reason="bad_value", detail=f"{name} is not a count")
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise ReportRefused(reason="bad_value", detail=f"{name} is not a count")
    return value


def word(value: str | None, name: str, allowed: Collection[str]) -> str:
    """An enumerated value, lower-cased; required and one of ``allowed``."""
    text = required_text(value, name, 64).lower()
    if text not in allowed:
        raise ReportRefused(reason="bad_value", detail=f"{name} {text!r}")
    return text


def optional_word(value: str | None, name: str, allowed: Collection[str]) -> str | None:
    text = (value or "").strip()
    return word(text, name, allowed) if text else None


def instant(value: dt.datetime, name: str) -> dt.datetime:
    """``value`` in UTC, refused (bad_date) outside [EARLIEST, LATEST)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    if not EARLIEST <= value < LATEST:
        raise ReportRefused(reason="bad_date", detail=f"{name} {value.isoformat()}")
    return value


def epoch(value: str | None, name: str) -> dt.datetime:
    """Seconds since the epoch, as DMARC aggregate reports give their range."""
    text = (value or "").strip()
    if not text:
        raise ReportRefused(reason="bad_date", detail=f"{name} is missing")
    if not _DIGITS.fullmatch(text) or int(text) >= LATEST.timestamp():
        raise ReportRefused(reason="bad_date", detail=f"{name} {text[:32]!r}")
    return instant(dt.datetime.fromtimestamp(int(text), dt.UTC), name)


def date_range(begin: dt.datetime, end: dt.datetime) -> None:
    """Refuse a range that ends before it begins."""
    if end < begin:
        raise ReportRefused(reason="bad_date", detail="the range ends before it begins")
