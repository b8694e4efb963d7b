"""The chunks of a queued scan: their state (queued, claimed by an owner, done) and, on SQLite,
the claims that hand them out.

PostgreSQL: each chunk is a job on the job engine (``maildiag.jobs``, job ``scan.chunk``),
which hands it to one worker and back to the queue when that worker dies; the job records
who works the chunk (``start_chunk``) and that it is done (``complete``). ``open_chunks``
lists the chunks that still need their job.

SQLite (the embedded mode has no durable job queue): workers claim chunks here. SQLite has
one writer at a time: the claim is a compare-and-set ``UPDATE`` on the row's state and
owner, and the one whose update changed the row has it. A claim older than the lease is
claimable again (its worker died). Either way every domain's result is written once, so
whoever takes a chunk over scans only what the one before left.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from maildiag.scans.models import scan_chunks, scans


@dataclass(frozen=True)
class Claim:
    """A chunk of a scan, claimed by ``owner``."""

    scan_id: int
    chunk: int
    owner: str


def _claimable(now: dt.datetime, lease: dt.timedelta) -> sa.ColumnElement[bool]:
    return sa.or_(
        scan_chunks.c.state == "queued",
        sa.and_(scan_chunks.c.state == "claimed", scan_chunks.c.claimed_at < now - lease),
    )


def claim_chunk(
    engine: sa.Engine, owner: str, *, now: dt.datetime, lease: dt.timedelta
) -> Claim | None:
    """Claim the first claimable chunk of any scan for ``owner``; None when there is none.
    SQLite's claim; on PostgreSQL the job engine hands out the chunks."""
    query = (
        sa.select(scan_chunks.c.scan_id, scan_chunks.c.chunk, scan_chunks.c.claimed_at)
        .where(_claimable(now, lease))
        .order_by(scan_chunks.c.scan_id, scan_chunks.c.chunk)
        .limit(1)
    )
    for _ in range(8):  # lost races retry with the next candidate
        with engine.begin() as db:
            row = db.execute(query).first()
            if row is None:
                return None
            if _take(db, row.scan_id, row.chunk, owner, now, row.claimed_at):
                return Claim(int(row.scan_id), int(row.chunk), owner)
    return None


def _take(
    db: sa.Connection,
    scan_id: int,
    chunk: int,
    owner: str,
    now: dt.datetime,
    seen: dt.datetime | None,
) -> bool:
    """Set the claim, only if the row still holds the claim time ``seen``."""
    where = [
        scan_chunks.c.scan_id == scan_id,
        scan_chunks.c.chunk == chunk,
        scan_chunks.c.claimed_at.is_(None) if seen is None else scan_chunks.c.claimed_at == seen,
    ]
    done = db.execute(
        sa.update(scan_chunks).where(*where).values(state="claimed", owner=owner, claimed_at=now)
    )
    db.execute(
        sa.update(scans)
        .where(scans.c.id == scan_id, scans.c.state == "queued")
        .values(state="running")
    )
    return bool(done.rowcount == 1)


def renew(engine: sa.Engine, claim: Claim, *, now: dt.datetime) -> bool:
    """Extend ``claim``'s lease; False when another worker has taken the chunk over."""
    with engine.begin() as db:
        done = db.execute(
            sa.update(scan_chunks)
            .where(
                scan_chunks.c.scan_id == claim.scan_id,
                scan_chunks.c.chunk == claim.chunk,
                scan_chunks.c.owner == claim.owner,
                scan_chunks.c.state == "claimed",
            )
            .values(claimed_at=now)
        )
    return bool(done.rowcount == 1)


def complete(engine: sa.Engine, claim: Claim) -> None:
    """Mark ``claim``'s chunk done (whoever holds it: its domains all have results)."""
    with engine.begin() as db:
        db.execute(
            sa.update(scan_chunks)
            .where(scan_chunks.c.scan_id == claim.scan_id, scan_chunks.c.chunk == claim.chunk)
            .values(state="done")
        )


def start_chunk(
    engine: sa.Engine, scan_id: int, chunk: int, owner: str, *, now: dt.datetime
) -> Claim:
    """Record that ``owner`` works the chunk (the job engine gave it its job) and that the
    scan runs."""
    with engine.begin() as db:
        db.execute(
            sa.update(scan_chunks)
            .where(scan_chunks.c.scan_id == scan_id, scan_chunks.c.chunk == chunk)
            .values(state="claimed", owner=owner, claimed_at=now)
        )
        db.execute(
            sa.update(scans)
            .where(scans.c.id == scan_id, scans.c.state == "queued")
            .values(state="running")
        )
    return Claim(scan_id, chunk, owner)


def open_chunks(engine: sa.Engine, scan_id: int) -> list[int]:
    """The scan's chunks that are not done, in order."""
    query = (
        sa.select(scan_chunks.c.chunk)
        .where(scan_chunks.c.scan_id == scan_id, scan_chunks.c.state != "done")
        .order_by(scan_chunks.c.chunk)
    )
    with engine.connect() as db:
        return [int(chunk) for chunk in db.execute(query).scalars()]
