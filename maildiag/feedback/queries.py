"""The questions the reports page, its JSON API and the support checklist ask of the stored
reports, each answered as frozen values:

- per sender domain (the From domain) and period: messages by disposition and the DKIM, SPF
  and DMARC pass rates by day, the top source IPs (ours or not), the receivers that
  quarantined or rejected;
- TLS sessions and failures by reporter, MX host and result type;
- the records behind any of these, by source IP or by receiver (the drill-down);
- what one receiver reported about our senders over the last days (the checklist).

Aligned results are the receivers' own (``policy_evaluated``); DMARC passes when either is
aligned. Blocking SQLAlchemy Core, one read transaction per call.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from diag.feedback import DISPOSITIONS
from maildiag.feedback import models as m

_COUNTED_AS = {"pass": "none"}  # RFC 9990's "pass" disposition: no action taken
_r = m.records.c


@dataclass(frozen=True)
class Period:
    """Whole UTC days, ``start`` to ``end`` inclusive."""

    start: dt.date
    end: dt.date

    @classmethod
    def last_days(cls, days: int, today: dt.date) -> Period:
        """The ``days`` days that end with ``today``."""
        return cls(today - dt.timedelta(days=days - 1), today)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Tally:
    """Messages and how they fared: by disposition, and aligned DKIM, SPF and DMARC passes."""

    messages: int = 0
    dispositions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DISPOSITIONS, 0))
    dkim_pass: int = 0
    spf_pass: int = 0
    dmarc_pass: int = 0

    def add(self, count: int, disposition: str, dkim: str, spf: str) -> Tally:
        dispositions = dict(self.dispositions)
        counted = _COUNTED_AS.get(disposition, disposition)
        dispositions[counted] = dispositions.get(counted, 0) + count
        return Tally(
            messages=self.messages + count,
            dispositions=dispositions,
            dkim_pass=self.dkim_pass + (count if dkim == "pass" else 0),
            spf_pass=self.spf_pass + (count if spf == "pass" else 0),
            dmarc_pass=self.dmarc_pass + (count if "pass" in (dkim, spf) else 0),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "dispositions": dict(self.dispositions),
            "dkim_pass": self.dkim_pass,
            "spf_pass": self.spf_pass,
            "dmarc_pass": self.dmarc_pass,
            "dkim_rate": _rate(self.dkim_pass, self.messages),
            "spf_rate": _rate(self.spf_pass, self.messages),
            "dmarc_rate": _rate(self.dmarc_pass, self.messages),
        }


_GROUPS = (_r.disposition, _r.dkim, _r.spf)


def _tallies(
    engine: sa.Engine, key: sa.ColumnElement[Any], where: list[sa.ColumnElement[bool]]
) -> dict[Any, Tally]:
    """Records summed per ``key`` (and per outcome), folded into one Tally per key."""
    query = (
        sa.select(key, *_GROUPS, sa.func.sum(_r.count))
        .select_from(m.records.join(m.reports))
        .where(*where)
        .group_by(key, *_GROUPS)
    )
    tallies: dict[Any, Tally] = {}
    with engine.connect() as connection:
        for value, disposition, dkim, spf, count in connection.execute(query):
            tallies[value] = tallies.get(value, Tally()).add(int(count), disposition, dkim, spf)
    return tallies


def _domain_period(domain: str, period: Period) -> list[sa.ColumnElement[bool]]:
    return [_r.header_from == domain.lower(), _r.day.between(period.start, period.end)]


@dataclass(frozen=True)
class DomainTotal:
    domain: str
    messages: int


def sender_domains(engine: sa.Engine, period: Period) -> list[DomainTotal]:
    """Every From domain reported on in ``period``, most messages first."""
    total = sa.func.sum(_r.count)
    query = (
        sa.select(_r.header_from, total)
        .where(_r.day.between(period.start, period.end))
        .group_by(_r.header_from)
        .order_by(total.desc(), _r.header_from)
    )
    with engine.connect() as connection:
        return [DomainTotal(domain, int(n)) for domain, n in connection.execute(query)]


@dataclass(frozen=True)
class DayTally:
    day: dt.date
    tally: Tally

    def to_json(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), **self.tally.to_json()}


def daily(engine: sa.Engine, domain: str, period: Period) -> list[DayTally]:
    """Messages from ``domain`` per day: by disposition, and the pass rates."""
    tallies = _tallies(engine, _r.day, _domain_period(domain, period))
    return [DayTally(day, tallies[day]) for day in sorted(tallies)]


@dataclass(frozen=True)
class SourceIp:
    """A source IP that sent as ``domain``; ``ours`` when it is one of our egress IPs."""

    ip: str
    ours: bool
    tally: Tally

    def to_json(self) -> dict[str, Any]:
        return {"ip": self.ip, "ours": self.ours, **self.tally.to_json()}


def _networks(egress: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item, strict=False) for item in egress]


def top_source_ips(
    engine: sa.Engine, domain: str, period: Period, egress: Iterable[str], limit: int = 20
) -> list[SourceIp]:
    """The ``limit`` source IPs with the most messages from ``domain``, each marked as one of
    ``egress`` (our egress addresses or networks) or not: a forwarder or a spoofer.

    Raises ValueError for an entry of ``egress`` that is no address or network.
    """
    networks = _networks(egress)
    tallies = _tallies(engine, _r.source_ip, _domain_period(domain, period))
    ranked = sorted(tallies.items(), key=lambda item: (-item[1].messages, item[0]))[:limit]
    return [
        SourceIp(ip, any(ipaddress.ip_address(ip) in net for net in networks), tally)
        for ip, tally in ranked
    ]


@dataclass(frozen=True)
class Receiver:
    """A reporter and how many of ``domain``'s messages it quarantined and rejected."""

    org_name: str
    tally: Tally

    def to_json(self) -> dict[str, Any]:
        return {"org_name": self.org_name, **self.tally.to_json()}


def enforcing_receivers(engine: sa.Engine, domain: str, period: Period) -> list[Receiver]:
    """The receivers that quarantined or rejected messages from ``domain``, most first."""
    tallies = _tallies(engine, _r.org_name, _domain_period(domain, period))
    enforced = [Receiver(org, t) for org, t in tallies.items() if _enforced(t)]
    return sorted(enforced, key=lambda r: (-_enforced(r.tally), r.org_name))


def _enforced(tally: Tally) -> int:
    return tally.dispositions["quarantine"] + tally.dispositions["reject"]


@dataclass(frozen=True)
class TlsFailureGroup:
    org_name: str
    receiving_mx_hostname: str | None
    result_type: str
    sessions: int

    def to_json(self) -> dict[str, Any]:
        return {
            "org_name": self.org_name,
            "receiving_mx_hostname": self.receiving_mx_hostname,
            "result_type": self.result_type,
            "sessions": self.sessions,
        }


def _tls_where(period: Period, policy_domain: str | None) -> list[sa.ColumnElement[bool]]:
    p = m.tls_policies.c
    where: list[sa.ColumnElement[bool]] = [p.day.between(period.start, period.end)]
    if policy_domain is not None:
        where.append(p.policy_domain == policy_domain.lower())
    return where


def tls_failures(
    engine: sa.Engine, period: Period, policy_domain: str | None = None
) -> list[TlsFailureGroup]:
    """Failed TLS sessions by reporter, receiving MX host and result type, most first."""
    p, f = m.tls_policies.c, m.tls_failures.c
    sessions = sa.func.sum(f.failed_session_count)
    keys = (p.org_name, f.receiving_mx_hostname, f.result_type)
    query = (
        sa.select(*keys, sessions)
        .select_from(m.tls_failures.join(m.tls_policies))
        .where(*_tls_where(period, policy_domain))
        .group_by(*keys)
        .order_by(sessions.desc(), *keys)
    )
    with engine.connect() as connection:
        return [TlsFailureGroup(o, mx, t, int(n)) for o, mx, t, n in connection.execute(query)]


@dataclass(frozen=True)
class TlsSessions:
    org_name: str
    policy_domain: str
    successful: int
    failed: int

    def to_json(self) -> dict[str, Any]:
        return {
            "org_name": self.org_name,
            "policy_domain": self.policy_domain,
            "successful": self.successful,
            "failed": self.failed,
        }


def tls_sessions(
    engine: sa.Engine, period: Period, policy_domain: str | None = None
) -> list[TlsSessions]:
    """TLS sessions per reporter and policy domain, successful and failed."""
    p = m.tls_policies.c
    keys = (p.org_name, p.policy_domain)
    query = (
        sa.select(*keys, sa.func.sum(p.successful), sa.func.sum(p.failed))
        .where(*_tls_where(period, policy_domain))
        .group_by(*keys)
        .order_by(*keys)
    )
    with engine.connect() as connection:
        return [TlsSessions(o, d, int(s), int(f)) for o, d, s, f in connection.execute(query)]


@dataclass(frozen=True)
class RecordRow:
    """One stored aggregate record with the report it came from."""

    org_name: str
    report_id: str
    day: dt.date
    header_from: str
    source_ip: str
    count: int
    disposition: str
    dkim: str
    spf: str
    envelope_from: str | None
    envelope_to: str | None
    auth_results: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "org_name": self.org_name,
            "report_id": self.report_id,
            "day": self.day.isoformat(),
            "header_from": self.header_from,
            "source_ip": self.source_ip,
            "count": self.count,
            "disposition": self.disposition,
            "dkim": self.dkim,
            "spf": self.spf,
            "envelope_from": self.envelope_from,
            "envelope_to": self.envelope_to,
            "auth_results": self.auth_results,
        }


def _receiver(receiver: str) -> sa.ColumnElement[bool]:
    """A receiver named by its domain or its reporter name: the report's org name or contact
    domain, or the records' envelope recipient domain (RFC 9990 ``envelope_to``)."""
    name = receiver.strip().lower()
    return sa.or_(
        sa.func.lower(m.reports.c.org_name) == name,
        m.reports.c.email_domain == name,
        _r.envelope_to == name,
    )


def records(
    engine: sa.Engine,
    period: Period,
    *,
    domain: str | None = None,
    source_ip: str | None = None,
    receiver: str | None = None,
    limit: int = 200,
) -> list[RecordRow]:
    """The records behind the figures, most messages first: of ``domain``, from
    ``source_ip``, reported by ``receiver`` (any combination)."""
    where: list[sa.ColumnElement[bool]] = [_r.day.between(period.start, period.end)]
    if domain is not None:
        where.append(_r.header_from == domain.lower())
    if source_ip is not None:
        where.append(_r.source_ip == source_ip)
    if receiver is not None:
        where.append(_receiver(receiver))
    query = (
        sa.select(m.reports.c.report_id.label("report"), *m.records.c)
        .select_from(m.records.join(m.reports))
        .where(*where)
        .order_by(_r.count.desc(), _r.day.desc(), _r.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [_record_row(row) for row in connection.execute(query).mappings()]


def _record_row(row: Any) -> RecordRow:
    return RecordRow(
        org_name=row["org_name"],
        report_id=row["report"],
        day=row["day"],
        header_from=row["header_from"],
        source_ip=row["source_ip"],
        count=int(row["count"]),
        disposition=row["disposition"],
        dkim=row["dkim"],
        spf=row["spf"],
        envelope_from=row["envelope_from"],
        envelope_to=row["envelope_to"],
        auth_results=row["auth_results"],
    )


@dataclass(frozen=True)
class Observation:
    """What a receiver reported about one stream of our mail: ``messages`` from
    ``source_ip`` as ``header_from``, with these aligned results and this disposition."""

    org_name: str
    header_from: str
    source_ip: str
    disposition: str
    dkim: str
    spf: str
    messages: int

    def to_json(self) -> dict[str, Any]:
        return {
            "org_name": self.org_name,
            "header_from": self.header_from,
            "source_ip": self.source_ip,
            "disposition": self.disposition,
            "dkim": self.dkim,
            "spf": self.spf,
            "messages": self.messages,
        }


def receiver_observations(
    engine: sa.Engine,
    receiver: str,
    sender_domains: Iterable[str],
    today: dt.date,
    days: int = 7,
) -> list[Observation]:
    """What ``receiver`` (a recipient domain such as outlook.com, or a reporter's name)
    reported about mail from ``sender_domains`` in the ``days`` days up to ``today``: one
    Observation per source IP, From domain, disposition and aligned results, failures and
    most messages first."""
    period = Period.last_days(days, today)
    domains = sorted({d.lower() for d in sender_domains})
    keys = (_r.org_name, _r.header_from, _r.source_ip, _r.disposition, _r.dkim, _r.spf)
    query = (
        sa.select(*keys, sa.func.sum(_r.count))
        .select_from(m.records.join(m.reports))
        .where(
            _r.day.between(period.start, period.end),
            _r.header_from.in_(domains),
            _receiver(receiver),
        )
        .group_by(*keys)
    )
    with engine.connect() as connection:
        found = [Observation(*row[:6], messages=int(row[6])) for row in connection.execute(query)]
    return sorted(found, key=_worst_first)


def _worst_first(o: Observation) -> tuple[int, int, str, str]:
    failed = (o.dkim != "pass") + (o.spf != "pass") + (o.disposition in ("quarantine", "reject"))
    return (-failed, -o.messages, o.source_ip, o.header_from)
