"""What receivers report about our mail, as use cases: importing report files (the CLI, the
API and the sink's intake share ``import_sources``), the reports page's figures for one sender
domain and period, the records behind them, and what one receiver reported about the reset
senders for the checklist.

Blocking database work: adapters run these in a worker thread. Who may call which is the
adapters' decision (the page and the figures: support and admin; an import: admin).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from diag.checklist import ReceiverReport
from diag.errors import InputError
from maildiag import feedback
from maildiag.db import create_engine
from maildiag.feedback import IngestResult, Period, Source, models
from maildiag.settings import Settings

MAX_DAYS = 90  # the longest period the page and the API show at once
DEFAULT_DAYS = 7
CHECKLIST_DAYS = 7  # what a receiver reported in the last week goes to the checklist
MAX_RECORDS = 200  # records shown by one drill-down
MAX_DOMAIN = 253  # RFC 1035 §2.3.4
MAX_NAME = 255  # a reporter's name as stored
MAX_REJECTED = 50  # refused uploads listed at once


@dataclass(frozen=True)
class ImportSummary:
    """What became of one import: each report or refusal, and the counts."""

    results: tuple[IngestResult, ...]

    @property
    def accepted(self) -> int:
        return sum(1 for r in self.results if not r.refused and not r.duplicate)

    @property
    def duplicates(self) -> int:
        return sum(1 for r in self.results if r.duplicate)

    @property
    def refused(self) -> tuple[IngestResult, ...]:
        return tuple(r for r in self.results if r.refused)

    @property
    def reasons(self) -> dict[str, int]:
        """Refusals counted per reason code, most first."""
        return dict(Counter(str(r.reason) for r in self.refused).most_common())

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicate": self.duplicates,
            "rejected": len(self.refused),
            "reasons": self.reasons,
            "reports": [r.to_json() for r in self.results],
        }


def import_sources(engine: sa.Engine, sources: Iterable[Source | Path]) -> ImportSummary:
    """Import every report in ``sources`` (``Source`` values or paths); a refused file or
    part is kept as a rejected upload and the batch goes on. Raises only database errors."""
    return ImportSummary(tuple(feedback.ingest(engine, sources)))


def period_of(days: int, end: dt.date | None = None) -> Period:
    """The ``days`` whole UTC days ending with ``end`` (default today).

    Raises InputError for a number of days outside 1..MAX_DAYS.
    """
    if not 1 <= days <= MAX_DAYS:
        raise InputError("reports.bad_days", max=MAX_DAYS)
    return Period.last_days(days, end or dt.datetime.now(dt.UTC).date())


def clean_domain(text: str) -> str:
    """A sender or receiver domain as given in a query, lower-cased. Raises InputError."""
    name = text.strip().lower().rstrip(".")
    if not name or len(name) > MAX_DOMAIN or any(c.isspace() or c in "/\\?#" for c in name):
        raise InputError("reports.bad_domain")
    return name


def clean_receiver(text: str) -> str:
    """A receiver as a query names it: a recipient domain or a reporter's name as its reports
    give it ("Enterprise Outlook"), at most 255 characters. Raises InputError."""
    name = " ".join(text.split())
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise InputError("reports.bad_receiver")
    return name


def clean_ip(text: str) -> str:
    """A source IP as the reports store it. Raises InputError."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise InputError("reports.bad_ip") from None


def existing_database(settings: Settings) -> sa.Engine | None:
    """An engine on the configured database for a command that only reads reports, or None
    when it is a SQLite file that does not exist (reading must not create one)."""
    url = settings.database
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return None
    return create_engine(url)


def egress(settings: Settings) -> tuple[str, ...]:
    """Every configured sender identity's egress addresses: ours, in the reports."""
    return tuple(dict.fromkeys(ip for s in settings.senders for ip in s.egress_ips))


def _ours(ip: str, networks: Sequence[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
        return any(address in ipaddress.ip_network(n, strict=False) for n in networks)
    except ValueError:
        return False


@dataclass(frozen=True)
class DomainReport:
    """The reports page for one sender domain over one period."""

    domain: str
    period: Period
    days: tuple[feedback.DayTally, ...]
    total: feedback.Tally
    sources: tuple[feedback.SourceIp, ...]
    receivers: tuple[feedback.Receiver, ...]
    tls_failures: tuple[feedback.TlsFailureGroup, ...]
    tls_sessions: tuple[feedback.TlsSessions, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "start": self.period.start.isoformat(),
            "end": self.period.end.isoformat(),
            "total": self.total.to_json(),
            "days": [d.to_json() for d in self.days],
            "sources": [s.to_json() for s in self.sources],
            "receivers": [r.to_json() for r in self.receivers],
            "tls_failures": [f.to_json() for f in self.tls_failures],
            "tls_sessions": [s.to_json() for s in self.tls_sessions],
        }


def domain_report(
    engine: sa.Engine, settings: Settings, domain: str, period: Period
) -> DomainReport:
    """The figures for ``domain`` (a From domain) over ``period``."""
    days = feedback.daily(engine, domain, period)
    total = _summed(d.tally for d in days)
    return DomainReport(
        domain=domain,
        period=period,
        days=tuple(days),
        total=total,
        sources=tuple(feedback.top_source_ips(engine, domain, period, egress(settings))),
        receivers=tuple(feedback.enforcing_receivers(engine, domain, period)),
        tls_failures=tuple(feedback.tls_failures(engine, period, domain)),
        tls_sessions=tuple(feedback.tls_sessions(engine, period, domain)),
    )


def _summed(tallies: Iterable[feedback.Tally]) -> feedback.Tally:
    dispositions: Counter[str] = Counter()
    messages = dkim = spf = dmarc = 0
    for t in tallies:
        dispositions.update(t.dispositions)
        messages, dkim = messages + t.messages, dkim + t.dkim_pass
        spf, dmarc = spf + t.spf_pass, dmarc + t.dmarc_pass
    base = feedback.Tally()
    return feedback.Tally(
        messages=messages,
        dispositions={k: dispositions.get(k, 0) for k in base.dispositions},
        dkim_pass=dkim,
        spf_pass=spf,
        dmarc_pass=dmarc,
    )


def sender_domains(engine: sa.Engine, period: Period) -> list[feedback.DomainTotal]:
    """The From domains reported on in ``period``, most messages first."""
    return feedback.sender_domains(engine, period)


def record_rows(
    engine: sa.Engine,
    period: Period,
    *,
    domain: str | None = None,
    source_ip: str | None = None,
    receiver: str | None = None,
) -> list[feedback.RecordRow]:
    """The records behind the figures (the drill-down), at most ``MAX_RECORDS``: of
    ``domain``, from ``source_ip``, reported by ``receiver`` (empty or None: any).

    Raises InputError for a filter that is no domain or IP address.
    """
    return feedback.records(
        engine,
        period,
        domain=clean_domain(domain) if domain else None,
        source_ip=clean_ip(source_ip) if source_ip else None,
        receiver=clean_receiver(receiver) if receiver else None,
        limit=MAX_RECORDS,
    )


@dataclass(frozen=True)
class RejectedUpload:
    """A refused report file or part: when, which, where in it, why, and its size."""

    received_at: dt.datetime
    source: str
    location: str
    reason: str
    detail: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "received_at": self.received_at.isoformat(),
            "source": self.source,
            "where": self.location,
            "reason": self.reason,
            "detail": self.detail,
            "size": self.size,
        }


def rejected_uploads(engine: sa.Engine, limit: int = MAX_REJECTED) -> list[RejectedUpload]:
    """The ``limit`` refused files or parts received last, newest first."""
    r = models.rejected.c
    query = (
        sa.select(r.received_at, r.source, r.location, r.reason, r.detail, r.size)
        .order_by(r.received_at.desc(), r.id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        return [RejectedUpload(*row) for row in connection.execute(query)]


def receiver_reports(
    engine: sa.Engine, settings: Settings, recipient_domain: str, today: dt.date | None = None
) -> tuple[ReceiverReport, ...]:
    """What the receiver of ``recipient_domain`` reported in the last ``CHECKLIST_DAYS`` days
    about mail from the reset senders' domains, each source marked ours or not."""
    domains = [i.address.rpartition("@")[2] for i in settings.reset_identities]
    if not domains:
        return ()
    ours = egress(settings)
    found = feedback.receiver_observations(
        engine,
        recipient_domain,
        domains,
        today or dt.datetime.now(dt.UTC).date(),
        days=CHECKLIST_DAYS,
    )
    return tuple(
        ReceiverReport(
            reporter=o.org_name,
            header_from=o.header_from,
            source_ip=o.source_ip,
            ours=_ours(o.source_ip, ours),
            messages=o.messages,
            disposition=o.disposition,
            dkim=o.dkim,
            spf=o.spf,
        )
        for o in found
    )


__all__ = [
    "CHECKLIST_DAYS",
    "DEFAULT_DAYS",
    "MAX_DAYS",
    "DomainReport",
    "ImportSummary",
    "RejectedUpload",
    "clean_domain",
    "clean_ip",
    "clean_receiver",
    "domain_report",
    "egress",
    "existing_database",
    "import_sources",
    "period_of",
    "receiver_reports",
    "record_rows",
    "rejected_uploads",
    "sender_domains",
]
