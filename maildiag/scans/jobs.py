"""The chunks of a queued scan as jobs: claiming one, renewing the claim, marking it done.

PostgreSQL: the claimer locks one claimable row with ``SELECT … FOR UPDATE SKIP LOCKED``, so
any number of workers take distinct chunks without waiting on each other. SQLite has one
writer at a time: the claim is a compare-and-set ``UPDATE`` on the row's state and owner, and
the one whose update changed the row has it. A claim older than the lease is claimable again
(its worker died); since every domain's result is written once, the new owner scans only what
the dead one left. These three functions are the whole job interface: moving the scan onto
a job engine means one job per chunk calling the scan of that chunk.
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
    """Claim the first claimable chunk of any scan for ``owner``; None when there is none."""
    query = (
        sa.select(scan_chunks.c.scan_id, scan_chunks.c.chunk, scan_chunks.c.claimed_at)
        .where(_claimable(now, lease))
        .order_by(scan_chunks.c.scan_id, scan_chunks.c.chunk)
        .limit(1)
    )
    if engine.dialect.name == "postgresql":
        with engine.begin() as db:
            row = db.execute(query.with_for_update(skip_locked=True)).first()
            if row is None:
                return None
            _take(db, row.scan_id, row.chunk, owner, now, None)
            return Claim(int(row.scan_id), int(row.chunk), owner)
    for _ in range(8):  # SQLite: lost races retry with the next candidate
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
    """Set the claim; on SQLite only if the row still holds the claim time ``seen``."""
    where = [scan_chunks.c.scan_id == scan_id, scan_chunks.c.chunk == chunk]
    if db.dialect.name != "postgresql":
        where.append(
            scan_chunks.c.claimed_at.is_(None) if seen is None else scan_chunks.c.claimed_at == seen
        )
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
