"""Bulk scans: each domain's MX, null MX and provider, looked up concurrently and streamed in
input order, either straight to the caller or into the database (``maildiag.scans``), where
an interrupted scan resumes and queued chunks are scanned by workers: on PostgreSQL as jobs
of the job engine (``queue_scan``, ``register_scan_jobs``), on SQLite claimed by the workers
(``run_scan_jobs``).

Memory stays flat with the number of domains: domains are read and scanned a batch at a
time, each batch with a fresh resolver (a resolver's cache and query log grow with its use),
and at most ``concurrency × WINDOW`` results wait for their turn.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import hashlib
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from diag.errors import InputError
from diag.findings import ERROR, WARNING, worst_severity
from diag.mx import MxReport, lookup_mx
from diag.resolver import Resolver
from maildiag.scans import (
    Claim,
    Outcome,
    Pending,
    ScanInfo,
    Tally,
    claim_chunk,
    complete,
    finish_if_done,
    open_chunks,
    pending,
    renew,
    results,
    save_outcomes,
    scan_info,
    start_chunk,
    tally,
)
from maildiag.services.inputs import parse_domain
from reports import ScanCounts, ScanRow, ScanView, scan_row, scan_view

if TYPE_CHECKING:
    from maildiag.jobs import Jobs

log = logging.getLogger(__name__)
WINDOW = 4  # results kept waiting for an earlier, slower domain: concurrency × WINDOW at most
BATCH = 1000  # domains per resolver (its cache and log are dropped after each batch)
SAVE_EVERY = 200  # results written to the database per transaction
CHUNK_SIZE = 500  # domains per job of a queued scan
LEASE = dt.timedelta(seconds=60)  # SQLite: a claim not renewed for this long is taken over
IDLE_POLL = 1.0  # SQLite: seconds a worker waits when no chunk is queued
CHUNK_JOB = "scan.chunk"  # the job engine's job for one chunk (PostgreSQL)
NEW_RESOLVER = Callable[[], Resolver]
OnSaved = Callable[[Sequence[Outcome]], Awaitable[None]]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def fingerprint(domains: Iterable[tuple[str, int]]) -> str:
    """SHA-256 over the scan's input (domains and their entry counts, in order)."""
    digest = hashlib.sha256()
    for domain, entries in domains:
        digest.update(f"{domain}\t{entries}\n".encode())
    return digest.hexdigest()


def domain_summary(report: MxReport, entries: int) -> dict[str, Any]:
    """One domain's JSON line: status, MX facts, provider and findings."""
    severity = worst_severity(report.findings)
    status = "problem" if severity is ERROR else "warning" if severity is WARNING else "ok"
    return {
        "domain": report.domain,
        "entries": entries,
        "status": status,
        "null_mx": report.null_mx,
        "implicit_mx": report.implicit,
        "can_receive": report.can_receive,
        "provider": report.provider if report.hosts else "unknown",
        "hosts": [h.name for h in report.hosts],
        "findings": [f.to_dict() for f in report.findings],
    }


def outcome_of(item: Pending, report: MxReport) -> Outcome:
    """``item``'s result as stored and printed."""
    line = domain_summary(report, item.entries)
    codes = tuple(f.code for f in report.findings if f.severity in (ERROR, WARNING))
    return Outcome(item.position, line["status"], line["provider"], codes, line)


async def scan_in_order(
    items: Iterable[Pending],
    resolver: Resolver,
    *,
    concurrency: int,
    allow_private: bool = False,
) -> AsyncIterator[Outcome]:
    """The outcome of each of ``items``, in their order, at most ``concurrency`` lookups at a
    time; a slow domain holds back at most ``concurrency × WINDOW`` finished ones."""
    gate = asyncio.Semaphore(concurrency)

    async def one(domain: str) -> MxReport:
        async with gate:
            return await lookup_mx(domain, resolver, allow_private=allow_private)

    window: collections.deque[tuple[Pending, asyncio.Future[MxReport]]] = collections.deque()
    try:
        for item in items:
            window.append((item, asyncio.ensure_future(one(item.domain))))
            if len(window) >= concurrency * WINDOW:
                first, task = window.popleft()
                yield outcome_of(first, await task)
        while window:
            first, task = window.popleft()
            yield outcome_of(first, await task)
    finally:
        for _, task in window:
            task.cancel()


async def scan_stream(
    items: Iterable[Pending], new_resolver: NEW_RESOLVER, *, concurrency: int, allow_private: bool
) -> AsyncIterator[Outcome]:
    """``scan_in_order`` over ``items`` a batch at a time, each batch with a new resolver."""
    source = iter(items)
    while batch := list(itertools.islice(source, BATCH)):
        resolver = new_resolver()
        async for outcome in scan_in_order(
            batch, resolver, concurrency=concurrency, allow_private=allow_private
        ):
            yield outcome


def numbered(domains: Iterable[tuple[str, int]]) -> Iterator[Pending]:
    """``(domain, entries)`` pairs as pending items, numbered in order."""
    return (Pending(i, d, n) for i, (d, n) in enumerate(domains))


class Tallier:
    """Counts outcomes as they stream by, into the ``Tally`` a recorded scan reads back."""

    def __init__(self) -> None:
        self.domains = self.entries = 0
        self.statuses: collections.Counter[str] = collections.Counter()
        self.providers: collections.Counter[str] = collections.Counter()
        self.problems: collections.Counter[str] = collections.Counter()

    def add(self, outcome: Outcome) -> None:
        entries = outcome.result.get("entries", 1)
        self.domains += 1
        self.entries += entries if isinstance(entries, int) else 1
        self.statuses[outcome.status] += 1
        self.providers[outcome.provider] += 1
        self.problems.update(set(outcome.codes))

    def tally(self) -> Tally:
        return Tally(self.domains, self.entries, self.statuses, self.providers, self.problems)


async def run_recorded(
    engine: sa.Engine,
    scan_id: int,
    new_resolver: NEW_RESOLVER,
    *,
    concurrency: int,
    allow_private: bool,
    chunk: int | None = None,
    on_saved: OnSaved | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
) -> int:
    """Scan the scan's (or one chunk's) domains that have no result yet, writing results every
    ``SAVE_EVERY``; ``on_saved`` sees each written group. Returns how many were written."""
    batches = pending(engine, scan_id, chunk=chunk)
    written = 0

    async def save(group: list[Outcome]) -> None:
        nonlocal written
        written += await asyncio.to_thread(save_outcomes, engine, scan_id, group, now=clock())
        if on_saved is not None and group:
            await on_saved(group)

    while (batch := await asyncio.to_thread(next, batches, None)) is not None:
        group: list[Outcome] = []
        async for outcome in scan_in_order(
            batch, new_resolver(), concurrency=concurrency, allow_private=allow_private
        ):
            group.append(outcome)
            if len(group) >= SAVE_EVERY:
                await save(group)
                group = []
        await save(group)
    await asyncio.to_thread(finish_if_done, engine, scan_id, now=clock())
    return written


async def run_chunk(
    engine: sa.Engine,
    claim: Claim,
    new_resolver: NEW_RESOLVER,
    *,
    concurrency: int,
    allow_private: bool,
    on_saved: OnSaved | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
) -> None:
    """Scan the claimed chunk's domains that have no result yet, mark the chunk done, and the
    scan when it was the last."""
    await run_recorded(
        engine,
        claim.scan_id,
        new_resolver,
        concurrency=concurrency,
        allow_private=allow_private,
        chunk=claim.chunk,
        on_saved=on_saved,
        clock=clock,
    )
    await asyncio.to_thread(complete, engine, claim)
    await asyncio.to_thread(finish_if_done, engine, claim.scan_id, now=clock())


async def queue_scan(jobs: Jobs, engine: sa.Engine, scan_id: int) -> int:
    """Enqueue a ``scan.chunk`` job for each chunk of the scan that is not done (PostgreSQL);
    a chunk whose job still waits in the queue is not queued twice. Returns how many were
    queued. Needs ``jobs.opened``."""
    queued = 0
    for chunk in await asyncio.to_thread(open_chunks, engine, scan_id):
        lock = f"{CHUNK_JOB}:{scan_id}:{chunk}"
        if await jobs.enqueue_once(CHUNK_JOB, lock, scan_id=scan_id, chunk=chunk) is not None:
            queued += 1
    return queued


def register_scan_jobs(
    jobs: Jobs,
    engine: sa.Engine,
    new_resolver: NEW_RESOLVER,
    *,
    owner: str,
    concurrency: int,
    allow_private: bool = False,
) -> None:
    """Register the ``scan.chunk`` job in the worker's ``jobs``: it scans one chunk through
    ``run_chunk``. Run again (its worker died, see ``jobs.retry_stalled``), it scans only
    the chunk's domains without a result."""

    @jobs.job(CHUNK_JOB)
    async def scan_chunk(scan_id: int, chunk: int) -> None:
        claim = await asyncio.to_thread(start_chunk, engine, scan_id, chunk, owner, now=utc_now())
        await run_chunk(
            engine, claim, new_resolver, concurrency=concurrency, allow_private=allow_private
        )


async def run_scan_jobs(
    engine: sa.Engine,
    new_resolver: NEW_RESOLVER,
    *,
    owner: str,
    concurrency: int,
    allow_private: bool = False,
    lease: dt.timedelta = LEASE,
    clock: Callable[[], dt.datetime] = utc_now,
) -> int:
    """Claim and scan queued chunks until none is left to claim (SQLite, where there is no
    durable job queue); returns how many chunks this call finished. The worker calls it in
    its loop and sleeps when it returns 0."""
    finished = 0
    while claim := await asyncio.to_thread(claim_chunk, engine, owner, now=clock(), lease=lease):
        await run_chunk(
            engine,
            claim,
            new_resolver,
            concurrency=concurrency,
            allow_private=allow_private,
            on_saved=_renewer(engine, claim, clock),
            clock=clock,
        )
        finished += 1
    return finished


def _renewer(engine: sa.Engine, claim: Claim, clock: Callable[[], dt.datetime]) -> OnSaved:
    async def renew_claim(_: Sequence[Outcome]) -> None:
        await asyncio.to_thread(renew, engine, claim, now=clock())

    return renew_claim


def account_addresses(engine: sa.Engine) -> Callable[[], Iterator[str]]:
    """A way to read the domain of every registered user's address, streamed from the
    accounts table (one domain per account; the scan counts repeats once). An address whose
    domain is not a valid name is skipped (and logged)."""
    import reset

    def read() -> Iterator[str]:
        query = sa.select(reset.User.email).order_by(reset.User.id)
        with engine.connect() as db:
            for (email,) in db.execution_options(yield_per=1000).execute(query):
                try:  # the same syntax and A-labels as a scan file's entries
                    yield parse_domain(str(email).rpartition("@")[2])
                except InputError:
                    log.info("scan.account_skipped reason=domain_syntax")

    return read


async def scan_jobs_forever(
    engine: sa.Engine,
    new_resolver: NEW_RESOLVER,
    stop: asyncio.Event,
    *,
    owner: str,
    concurrency: int,
    allow_private: bool = False,
    lease: dt.timedelta = LEASE,
    idle: float = IDLE_POLL,
) -> None:
    """``maildiag worker``'s scan loop: ``run_scan_jobs`` until ``stop``, waiting ``idle``
    seconds whenever there was nothing to claim."""
    while not stop.is_set():
        done = await run_scan_jobs(
            engine,
            new_resolver,
            owner=owner,
            concurrency=concurrency,
            allow_private=allow_private,
            lease=lease,
        )
        if not done:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), idle)


@dataclass(frozen=True)
class ScanStatus:
    """What the scan page and its JSON show: the scan, its summary so far, one page of rows."""

    info: ScanInfo
    summary: ScanView
    rows: tuple[ScanRow, ...]
    page: int
    pages: int


def scan_counts(counts: Tally, total: int, scan_id: int | None, source: str) -> ScanCounts:
    """The summary's input from a scan's ``Tally``."""
    return ScanCounts(
        domains=counts.domains,
        entries=counts.entries,
        statuses=counts.statuses,
        providers=counts.providers,
        problems=counts.problems,
        total=total,
        scan_id=scan_id,
        source=source,
    )


PAGE_ROWS = 50  # domains per page of the scan page's table


def scan_status(engine: sa.Engine, scan_id: int, *, lang: str, page: int = 1) -> ScanStatus | None:
    """The scan ``scan_id`` as its page shows it (blocking; run it in a thread): progress,
    the summary of what is done, and the ``page``-th ``PAGE_ROWS`` results in input order.
    None for no such scan."""
    info = scan_info(engine, scan_id)
    if info is None:
        return None
    counts = tally(engine, scan_id)
    pages = max(1, -(-info.done // PAGE_ROWS))
    chosen = min(max(page, 1), pages)
    lines = results(engine, scan_id, offset=(chosen - 1) * PAGE_ROWS, limit=PAGE_ROWS)
    summary = scan_view(scan_counts(counts, info.total, info.id, info.source), lang=lang)
    return ScanStatus(
        info, summary, tuple(scan_row(line, lang=lang) for line in lines), chosen, pages
    )
