"""A bulk scan in the database: creating it from a stream of domains, reading the domains not
yet scanned, writing results once, progress, and the tallies its summary is made of.

Blocking SQLAlchemy Core; async callers run these in a thread. Nothing here holds a whole
scan in memory: domains go in and come out in batches, tallies are counted in the database
or over a streamed column.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from maildiag.scans.models import MAX_CODES, MAX_SOURCE, scan_chunks, scan_domains, scans

BATCH = 1000  # rows per INSERT and per page of pending domains


@dataclass(frozen=True)
class Pending:
    """A domain of a scan still to be scanned: its place in the input and how many entries
    named it."""

    position: int
    domain: str
    entries: int


@dataclass(frozen=True)
class Outcome:
    """One scanned domain as stored: its status, provider, problem codes and JSON line."""

    position: int
    status: str
    provider: str
    codes: tuple[str, ...]
    result: dict[str, object]


@dataclass(frozen=True)
class ScanInfo:
    """A scan's row and its progress (``done`` domains of ``total``)."""

    id: int
    source: str
    state: str
    total: int
    entries: int
    done: int
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def finished(self) -> bool:
        return self.state == "done"


@dataclass(frozen=True)
class Tally:
    """A scan's counts: domains and entries scanned, by status, provider and problem code."""

    domains: int
    entries: int
    statuses: Counter[str]
    providers: Counter[str]
    problems: Counter[str]


def create_scan(
    engine: sa.Engine,
    domains: Iterable[str],
    *,
    source: str,
    fingerprint: str,
    chunk_size: int,
    queued: bool,
    now: dt.datetime,
) -> int:
    """Store a new scan of ``domains`` (one per input entry, repeats allowed), in one
    transaction, a batch at a time: a repeated domain adds to its row's ``entries``, a new
    one gets the next position. With ``queued`` also the chunks for the workers. Returns the
    scan id; memory stays one batch whatever the input's size."""
    with engine.begin() as db:
        inserted = db.execute(
            sa.insert(scans).values(
                created_at=now,
                source=source[:MAX_SOURCE],
                fingerprint=fingerprint,
                state="queued" if queued else "running",
                total=0,
                entries=0,
            )
        ).inserted_primary_key
        assert inserted is not None
        scan_id = int(inserted[0])
        total = entries = 0
        source_iter = iter(domains)
        while batch := Counter(itertools.islice(source_iter, BATCH)):
            total += _add_domains(db, scan_id, batch, total, chunk_size)
            entries += batch.total()
        chunks = (total + chunk_size - 1) // chunk_size
        if queued and chunks:
            db.execute(
                sa.insert(scan_chunks),
                [{"scan_id": scan_id, "chunk": c, "state": "queued"} for c in range(chunks)],
            )
        db.execute(
            sa.update(scans).where(scans.c.id == scan_id).values(total=total, entries=entries)
        )
    return int(scan_id)


def _add_domains(
    db: sa.Connection, scan_id: int, batch: Counter[str], start: int, chunk_size: int
) -> int:
    """Count ``batch`` (domain -> entries, in first-seen order) into the scan; returns how
    many of its domains were new."""
    known = set(
        db.execute(
            sa.select(scan_domains.c.domain).where(
                scan_domains.c.scan_id == scan_id, scan_domains.c.domain.in_(list(batch))
            )
        ).scalars()
    )
    if known:
        db.execute(
            sa.update(scan_domains)
            .where(scan_domains.c.scan_id == scan_id, scan_domains.c.domain == sa.bindparam("d"))
            .values(entries=scan_domains.c.entries + sa.bindparam("n")),
            [{"d": d, "n": batch[d]} for d in known],
        )
    new = [d for d in batch if d not in known]
    if new:
        db.execute(
            sa.insert(scan_domains),
            [
                {
                    "scan_id": scan_id,
                    "position": start + i,
                    "domain": d,
                    "entries": batch[d],
                    "chunk": (start + i) // chunk_size,
                }
                for i, d in enumerate(new)
            ],
        )
    return len(new)


def unfinished_scan(engine: sa.Engine, fingerprint: str) -> int | None:
    """The newest unfinished scan of the input with ``fingerprint``, if any."""
    query = (
        sa.select(scans.c.id)
        .where(scans.c.fingerprint == fingerprint, scans.c.state != "done")
        .order_by(scans.c.id.desc())
        .limit(1)
    )
    with engine.connect() as db:
        found = db.execute(query).scalar()
    return None if found is None else int(found)


def pending(
    engine: sa.Engine, scan_id: int, *, chunk: int | None = None
) -> Iterator[list[Pending]]:
    """Batches of the scan's unscanned domains in input order (of one ``chunk`` if given),
    each read in its own short transaction (keyset by position)."""
    after = -1
    while True:
        query = (
            sa.select(scan_domains.c.position, scan_domains.c.domain, scan_domains.c.entries)
            .where(
                scan_domains.c.scan_id == scan_id,
                scan_domains.c.scanned_at.is_(None),
                scan_domains.c.position > after,
            )
            .order_by(scan_domains.c.position)
            .limit(BATCH)
        )
        if chunk is not None:
            query = query.where(scan_domains.c.chunk == chunk)
        with engine.connect() as db:
            batch = [Pending(p, d, n) for p, d, n in db.execute(query)]
        if not batch:
            return
        yield batch
        after = batch[-1].position


def save_outcomes(
    engine: sa.Engine, scan_id: int, outcomes: Sequence[Outcome], *, now: dt.datetime
) -> int:
    """Write the results of ``outcomes``; a domain that already has one keeps it (a domain's
    result is written once). Returns how many were written."""
    if not outcomes:
        return 0
    statement = (
        sa.update(scan_domains)
        .where(
            scan_domains.c.scan_id == scan_id,
            scan_domains.c.position == sa.bindparam("p"),
            scan_domains.c.scanned_at.is_(None),
        )
        .values(
            scanned_at=now,
            status=sa.bindparam("s"),
            provider=sa.bindparam("v"),
            codes=sa.bindparam("c"),
            result=sa.bindparam("r"),
        )
    )
    rows = [
        {
            "p": o.position,
            "s": o.status,
            "v": o.provider,
            "c": " ".join(o.codes)[:MAX_CODES],
            "r": o.result,
        }
        for o in outcomes
    ]
    with engine.begin() as db:
        return int(db.execute(statement, rows).rowcount)


def finish_if_done(engine: sa.Engine, scan_id: int, *, now: dt.datetime) -> bool:
    """Mark the scan done when no domain is left unscanned. Returns whether it is done."""
    left = sa.exists().where(scan_domains.c.scan_id == scan_id, scan_domains.c.scanned_at.is_(None))
    with engine.begin() as db:
        db.execute(
            sa.update(scans)
            .where(scans.c.id == scan_id, scans.c.state != "done", ~left)
            .values(state="done", finished_at=now)
        )
        state = db.execute(sa.select(scans.c.state).where(scans.c.id == scan_id)).scalar()
    return state == "done"


def scan_info(engine: sa.Engine, scan_id: int) -> ScanInfo | None:
    """The scan's row and how many of its domains have a result (None for no such scan)."""
    done = (
        sa.select(sa.func.count())
        .where(scan_domains.c.scan_id == scan_id, scan_domains.c.scanned_at.is_not(None))
        .scalar_subquery()
    )
    query = sa.select(scans, done.label("done")).where(scans.c.id == scan_id)
    with engine.connect() as db:
        row = db.execute(query).mappings().first()
    if row is None:
        return None
    return ScanInfo(
        id=int(row["id"]),
        source=row["source"],
        state=row["state"],
        total=int(row["total"]),
        entries=int(row["entries"]),
        done=int(row["done"]),
        created_at=_utc(row["created_at"]),
        finished_at=_utc(row["finished_at"]) if row["finished_at"] is not None else None,
    )


def tally(engine: sa.Engine, scan_id: int) -> Tally:
    """The counts of the scan's scanned domains; problem codes are streamed, not loaded."""
    scanned = sa.and_(scan_domains.c.scan_id == scan_id, scan_domains.c.scanned_at.is_not(None))
    with engine.connect() as db:
        domains, entries = db.execute(
            sa.select(
                sa.func.count(), sa.func.coalesce(sa.func.sum(scan_domains.c.entries), 0)
            ).where(scanned)
        ).one()
        statuses = _group(db, scan_domains.c.status, scanned)
        providers = _group(db, scan_domains.c.provider, scanned)
        problems: Counter[str] = Counter()
        codes = db.execution_options(yield_per=BATCH).execute(
            sa.select(scan_domains.c.codes).where(scanned, scan_domains.c.codes != "")
        )
        for (text,) in codes:
            problems.update(set(text.split()))
    return Tally(int(domains), int(entries), statuses, providers, problems)


def results(
    engine: sa.Engine, scan_id: int, *, offset: int = 0, limit: int = BATCH
) -> list[dict[str, object]]:
    """One page of the scan's results (JSON lines) in input order."""
    query = (
        sa.select(scan_domains.c.result)
        .where(scan_domains.c.scan_id == scan_id, scan_domains.c.scanned_at.is_not(None))
        .order_by(scan_domains.c.position)
        .offset(offset)
        .limit(limit)
    )
    with engine.connect() as db:
        return [dict(r) for (r,) in db.execute(query)]


def results_in_order(
    engine: sa.Engine, scan_id: int, *, after: int = -1, limit: int = BATCH
) -> list[tuple[int, dict[str, object]]]:
    """The results (position, JSON line) that follow position ``after`` in input order, up to
    the first domain still without one: what can be printed of a scan that workers are still
    scanning without printing anything out of order. Keyset-paged by position."""
    mine = [scan_domains.c.scan_id == scan_id, scan_domains.c.position > after]
    gap = (
        sa.select(scan_domains.c.position)
        .where(*mine, scan_domains.c.scanned_at.is_(None))
        .order_by(scan_domains.c.position)
        .limit(1)
        .scalar_subquery()
    )
    query = (
        sa.select(scan_domains.c.position, scan_domains.c.result)
        .where(*mine, sa.or_(gap.is_(None), scan_domains.c.position < gap))
        .order_by(scan_domains.c.position)
        .limit(limit)
    )
    with engine.connect() as db:
        return [(int(position), dict(r)) for position, r in db.execute(query)]


def _group(
    db: sa.Connection, column: sa.Column[str], where: sa.ColumnElement[bool]
) -> Counter[str]:
    rows = db.execute(sa.select(column, sa.func.count()).where(where).group_by(column))
    return Counter({str(key): int(n) for key, n in rows})


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
