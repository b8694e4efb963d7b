"""Prometheus metrics: what one app counts itself (requests by route template and status,
reset requests by outcome, DNS query latency), what the database holds for every process
(outbox depth and the age of its oldest waiting row, deliveries by reply class, sink mail by
folder, failed jobs), read when ``/metrics`` is scraped, and what long-running work in this
process reports through two functions: ``scan_progress`` and ``job_failed``.

Those two write to this process's own registry (``PROCESS``), like prometheus_client's
default one, so a scan or a job reports without being handed the app; everything else
belongs to the ``Metrics`` object that ``create_app`` builds.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

import reset
import smtp_sink
from diag.resolver import Answer, Resolver

log = logging.getLogger(__name__)

# DNS answers come from a cache in microseconds or from a server in up to the timeout.
DNS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
WAITING = ("queued", "deferred", "sending")
REPLY_CLASSES = ("2xx", "4xx", "5xx", "connection")

PROCESS = CollectorRegistry()
_SCAN = Gauge(
    "maildiag_scan_domains",
    "Domains of a running scan, by state (done or total)",
    ["scan", "state"],
    registry=PROCESS,
)
_JOB_FAILURES = Counter(
    "maildiag_process_job_failures", "Jobs of this process that failed", ["job"], registry=PROCESS
)


def scan_progress(scan_id: str, *, done: int, total: int) -> None:
    """Report that scan ``scan_id`` has checked ``done`` of ``total`` domains."""
    _SCAN.labels(scan_id, "done").set(done)
    _SCAN.labels(scan_id, "total").set(total)


def scan_finished(scan_id: str) -> None:
    """Drop a finished scan's series."""
    for state in ("done", "total"):
        try:
            _SCAN.remove(scan_id, state)
        except KeyError:
            continue


def job_failed(job: str) -> None:
    """Count one failure of a background job named ``job`` in this process."""
    _JOB_FAILURES.labels(job).inc()


class Metrics:
    """One app's metrics: its registry and the series it counts itself."""

    def __init__(self, engine: sa.Engine | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "maildiag_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.reset_requests = Counter(
            "maildiag_reset_requests",
            "Forgot-password form submissions by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.dns_latency = Histogram(
            "maildiag_dns_query_seconds",
            "DNS query latency",
            ["rdtype"],
            buckets=DNS_BUCKETS,
            registry=self.registry,
        )
        if engine is not None:
            self.registry.register(DatabaseCollector(engine))

    def exposition(self) -> bytes:
        """The text format of this app's series and this process's."""
        return generate_latest(self.registry) + generate_latest(PROCESS)

    def timed(self, resolver: Resolver) -> Resolver:
        """``resolver`` with each query's latency observed."""
        return TimedResolver(resolver, self.dns_latency.labels)


class TimedResolver:
    """A Resolver that observes how long each query of the one it wraps takes."""

    def __init__(self, inner: Resolver, histogram: Callable[[str], Histogram]) -> None:
        self.inner = inner
        self._histogram = histogram

    async def query(self, name: str, rdtype: str) -> Answer:
        started = time.perf_counter()
        try:
            return await self.inner.query(name, rdtype)
        finally:
            self._histogram(rdtype.upper()).observe(time.perf_counter() - started)


class DatabaseCollector(Collector):
    """Series read from the database at scrape time, so they count every process's work:
    outbox rows by status, the oldest waiting row's age, delivery attempts by reply class,
    sink mail by folder, and outbox mails that failed for good (as job failures)."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.engine = engine
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def collect(self) -> Iterator[Metric]:
        try:
            with self.engine.connect() as conn:
                yield from self._outbox(conn)
                yield from self._deliveries(conn)
                yield from self._sink(conn)
        except sa.exc.SQLAlchemyError as exc:  # a scrape must not fail with the database
            log.warning("metrics.database_unreadable error=%s", type(exc).__name__)

    def _outbox(self, conn: sa.Connection) -> Iterator[Metric]:
        outbox = reset.OutboxMessage
        counts = dict(
            conn.execute(sa.select(outbox.status, sa.func.count()).group_by(outbox.status)).all()
        )
        depth = GaugeMetricFamily(
            "maildiag_outbox_rows", "Outbox rows by status", labels=["status"]
        )
        for status in reset.OUTBOX_STATUSES:
            depth.add_metric([status], counts.get(status, 0))
        yield depth
        oldest = conn.scalar(
            sa.select(sa.func.min(outbox.created)).where(outbox.status.in_(WAITING))
        )
        age = GaugeMetricFamily(
            "maildiag_outbox_oldest_age_seconds", "Age of the oldest waiting outbox row (0: none)"
        )
        age.add_metric([], _age(oldest, self.clock()))
        yield age
        failures = CounterMetricFamily(
            "maildiag_job_failures", "Background jobs that failed for good", labels=["job"]
        )
        failures.add_metric(["outbox"], counts.get("failed", 0))
        yield failures

    def _deliveries(self, conn: sa.Connection) -> Iterator[Metric]:
        entry = reset.DeliveryLogEntry
        klass = sa.case(
            (entry.code.is_(None), "connection"),
            (entry.code < 300, "2xx"),
            (entry.code < 500, "4xx"),
            else_="5xx",
        )
        attempts = sa.and_(  # not a local decision, an interrupted attempt or a late DSN
            entry.relay != "local",
            entry.outcome != reset.INTERRUPTED,
            sa.or_(entry.code.is_not(None), entry.outcome != "bounced"),
        )
        query = sa.select(klass, sa.func.count()).where(attempts)
        counts: dict[str, int] = dict(conn.execute(query.group_by(klass)).all())
        family = CounterMetricFamily(
            "maildiag_deliveries", "Delivery attempts by reply class", labels=["class"]
        )
        for name in REPLY_CLASSES:
            family.add_metric([name], counts.get(name, 0))
        yield family

    def _sink(self, conn: sa.Connection) -> Iterator[Metric]:
        mailboxes = smtp_sink.SinkTables.of(smtp_sink.metadata).mailboxes
        if not sa.inspect(conn).has_table(mailboxes.name):
            return
        query = sa.select(mailboxes.c.folder, sa.func.count()).group_by(mailboxes.c.folder)
        family = CounterMetricFamily(
            "maildiag_sink_messages", "Mail the sink filed, by verdict (folder)", labels=["verdict"]
        )
        for folder, count in conn.execute(query).all():
            family.add_metric([str(folder)], count)
        yield family


def _age(oldest: dt.datetime | None, now: dt.datetime) -> float:
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:  # SQLite keeps naive UTC
        oldest = oldest.replace(tzinfo=dt.UTC)
    return max(0.0, (now - oldest).total_seconds())
