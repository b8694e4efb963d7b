"""Received fields (RFC 5321 §4.4, RFC 5322 §3.6.7) as hops, oldest first, with the delay
each hop added and the message's total time in transit. Pure; never raises for bad input.
"""

from __future__ import annotations

import email.utils
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from diag.findings import INFO, WARNING, Finding
from diag.headers.fields import comments, strip_comments
from diag.jsonvalue import JsonObject

MAX_HOPS = 100  # RFC 5321 §6.3 suggests 100 Received fields as a loop limit
SLOW_HOP_SECONDS = 900  # a hop slower than this is shown as a delay worth explaining
_CLAUSE = re.compile(r"(?:^|\s)(from|by|via|with|id|for)\s+(\S+)", re.IGNORECASE)
_BRACKET_IP = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]")
_OBS_YEAR = re.compile(r"(\d{1,2}\s+[A-Za-z]{3}\s+)(\d{2,3})(?=\s)")  # RFC 5322 §4.3 obs-year
_LEAP_SECOND = re.compile(r"(\d{1,2}:\d{2}):60(?=\s|$)")  # RFC 5322 §3.3: second may be 60


@dataclass(frozen=True)
class Hop:
    """One Received field: who handed the message to whom, how, and when."""

    from_host: str = ""
    from_ip: str = ""
    by_host: str = ""
    with_protocol: str = ""
    id: str = ""
    for_address: str = ""
    at: datetime | None = None
    delay_seconds: float | None = None
    raw: str = ""

    def to_dict(self) -> JsonObject:
        return {
            "from": self.from_host,
            "from_ip": self.from_ip,
            "by": self.by_host,
            "with": self.with_protocol,
            "id": self.id,
            "for": self.for_address,
            "at": self.at.isoformat() if self.at else None,
            "delay_seconds": self.delay_seconds,
            "clock_skew": self.delay_seconds is not None and self.delay_seconds < 0,
        }


def parse_received(value: str) -> Hop:
    """One Received value as a Hop (fields it lacks stay empty). Never raises."""
    head, semicolon, date_text = value.rpartition(";")
    if not semicolon:
        head, date_text = value, ""
    clauses = strip_comments(head)
    found: dict[str, str] = {}
    for match in _CLAUSE.finditer(clauses):
        found.setdefault(match[1].lower(), match[2])
    from_ip = _comment_ip(head.split(" by ", 1)[0]) if "from" in found else ""
    return Hop(
        from_host=found.get("from", "").strip("[]").lower() if "from" in found else "",
        from_ip=from_ip or _literal_ip(found.get("from", "")),
        by_host=found.get("by", "").lower(),
        with_protocol=found.get("with", "").upper(),
        id=found.get("id", "").rstrip(";"),
        for_address=found.get("for", "").strip("<>;"),
        at=parse_date(date_text),
        raw=value,
    )


def _comment_ip(text: str) -> str:
    """The sending IP from the from-clause's comment: ``[192.0.2.1]`` or a bare address."""
    for comment in comments(text):
        bracketed = _BRACKET_IP.search(comment)
        if bracketed:
            return bracketed[1]
        for token in comment.replace(",", " ").split():
            try:
                return str(ipaddress.ip_address(token.strip("[]")))
            except ValueError:
                continue
    return ""


def _literal_ip(text: str) -> str:
    match = _BRACKET_IP.fullmatch(text)
    return match[1] if match else ""


def parse_date(text: str) -> datetime | None:
    """An RFC 5322 §3.3 date-time (obsolete forms too) as an aware datetime, or None."""
    text = strip_comments(text).strip()
    if not text:
        return None
    text = _OBS_YEAR.sub(_four_digit_year, text, count=1)
    text = _LEAP_SECOND.sub(r"\1:59", text, count=1)
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # "-0000": no zone information; read as UTC (RFC 5322 §3.3)
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _four_digit_year(match: re.Match[str]) -> str:
    """RFC 5322 §4.3: a two-digit year below 50 is 20xx, else 19xx; a three-digit year has 1900
    added. (The standard library reads 50-68 as 2050-2068 and keeps three digits as they are.)"""
    year = int(match[2])
    if len(match[2]) == 2 and year < 50:
        return f"{match[1]}{2000 + year}"
    return f"{match[1]}{1900 + year}"


def parse_hops(values: Sequence[str]) -> tuple[tuple[Hop, ...], float | None, list[Finding]]:
    """Hops oldest first from Received values given top first, the total delay, and findings.

    A hop's delay is the time since the previous dated hop; a negative delay is clock skew
    between the two servers and is flagged, not hidden.
    """
    findings: list[Finding] = []
    if len(values) > MAX_HOPS:
        findings.append(
            Finding(
                "headers.too_many_hops",
                WARNING,
                f"{len(values)} Received fields; only the newest {MAX_HOPS} are read",
                {"count": len(values), "limit": MAX_HOPS},
                rfc="RFC 5321 §6.3",
            )
        )
    parsed = [parse_received(v) for v in reversed(values[:MAX_HOPS])]
    hops: list[Hop] = []
    previous: datetime | None = None
    for number, hop in enumerate(parsed, start=1):
        delay = None
        if hop.at is not None and previous is not None:
            delay = (hop.at - previous).total_seconds()
            findings.extend(_delay_findings(number, hop, delay))
        if hop.at is None:
            findings.append(
                Finding(
                    "headers.hop_undated",
                    INFO,
                    f"hop {number} has no readable date",
                    {"hop": number, "by": hop.by_host},
                    rfc="RFC 5321 §4.4",
                )
            )
        else:
            previous = hop.at
        hops.append(_with_delay(hop, delay))
    dated = [h.at for h in hops if h.at is not None]
    total = (dated[-1] - dated[0]).total_seconds() if len(dated) >= 2 else None
    return tuple(hops), total, findings


def _with_delay(hop: Hop, delay: float | None) -> Hop:
    return Hop(
        hop.from_host,
        hop.from_ip,
        hop.by_host,
        hop.with_protocol,
        hop.id,
        hop.for_address,
        hop.at,
        delay,
        hop.raw,
    )


def _delay_findings(number: int, hop: Hop, delay: float) -> list[Finding]:
    evidence = {"hop": number, "by": hop.by_host, "from": hop.from_host, "seconds": delay}
    if delay < 0:
        return [
            Finding(
                "headers.clock_skew",
                WARNING,
                f"hop {number} is dated {-delay:.0f} s before the previous one (clock skew)",
                {**evidence, "skew_seconds": -delay},
            )
        ]
    if delay >= SLOW_HOP_SECONDS:
        return [
            Finding(
                "headers.slow_hop",
                WARNING,
                f"hop {number} took {delay:.0f} s",
                evidence,
            )
        ]
    return []


__all__ = ["Hop", "parse_date", "parse_hops", "parse_received"]
