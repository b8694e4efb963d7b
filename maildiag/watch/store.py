"""The watch's history in the database: what each round found, which checks changed from
pass to fail or back, and the questions the ``/watch`` page and ``/metrics`` ask of it.

``changes`` is pure; the rest is blocking SQLAlchemy Core (call it off the event loop).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from maildiag.watch.models import results, runs

FAILED = "failed"
RECOVERED = "recovered"
MAX_RUNS_SHOWN = 200  # rounds a timeline may ask for at once

Key = tuple[str, str]  # (identity, check)


@dataclass(frozen=True)
class CheckState:
    """One check of one identity in one round: ``status`` is the sender report's section
    status (ok, warning, problem, not_checked); ``codes`` its problem and warning codes."""

    identity: str
    check: str
    status: str
    codes: tuple[str, ...] = ()
    change: str | None = None

    @property
    def key(self) -> Key:
        return (self.identity, self.check)

    @property
    def passed(self) -> bool | None:
        """True unless the check found a problem; None when it could not be judged."""
        return None if self.status == "not_checked" else self.status != "problem"


@dataclass(frozen=True)
class Round:
    """One stored watch round and its checks."""

    id: int
    started_at: dt.datetime
    elapsed_ms: int
    checks: tuple[CheckState, ...]

    @property
    def events(self) -> tuple[CheckState, ...]:
        return tuple(c for c in self.checks if c.change is not None)


def changes(previous: Mapping[Key, bool], states: Iterable[CheckState]) -> list[CheckState]:
    """``states`` with ``change`` set where a judged check differs from its last judged
    round: pass to fail is ``failed``, fail to pass ``recovered``. A check seen for the first
    time, or not judged now, is no event."""
    marked = []
    for state in states:
        before, now = previous.get(state.key), state.passed
        change = None
        if before is not None and now is not None and before != now:
            change = RECOVERED if now else FAILED
        marked.append(CheckState(state.identity, state.check, state.status, state.codes, change))
    return marked


def last_judged(engine: sa.Engine) -> dict[Key, bool]:
    """Each (identity, check)'s last judged outcome: True for pass, False for fail."""
    latest = (
        sa.select(sa.func.max(results.c.id))
        .where(results.c.status != "not_checked")
        .group_by(results.c.identity, results.c.check)
    )
    query = sa.select(results.c.identity, results.c.check, results.c.status).where(
        results.c.id.in_(latest)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {(r.identity, r.check): r.status != "problem" for r in rows}


def record_round(
    engine: sa.Engine, started_at: dt.datetime, elapsed_ms: int, checks: Sequence[CheckState]
) -> Round:
    """Store one round; returns it as stored."""
    events = sum(1 for c in checks if c.change is not None)
    with engine.begin() as connection:
        inserted = connection.execute(
            runs.insert().values(started_at=started_at, elapsed_ms=elapsed_ms, events=events)
        ).inserted_primary_key
        assert inserted is not None  # an INSERT always has a primary key
        run_id = inserted[0]
        if checks:
            connection.execute(
                results.insert(),
                [
                    {
                        "run_id": run_id,
                        "identity": c.identity,
                        "check": c.check,
                        "status": c.status,
                        "codes": list(c.codes),
                        "change": c.change,
                    }
                    for c in checks
                ],
            )
    return Round(int(run_id), started_at, elapsed_ms, tuple(checks))


def recent_rounds(engine: sa.Engine, limit: int = 50) -> list[Round]:
    """The last ``limit`` rounds (at most ``MAX_RUNS_SHOWN``), newest first."""
    limit = max(1, min(limit, MAX_RUNS_SHOWN))
    with engine.connect() as connection:
        run_rows = connection.execute(sa.select(runs).order_by(runs.c.id.desc()).limit(limit)).all()
        ids = [r.id for r in run_rows]
        rows = connection.execute(
            sa.select(results).where(results.c.run_id.in_(ids)).order_by(results.c.id)
        ).all()
    by_run: dict[int, list[CheckState]] = {i: [] for i in ids}
    for row in rows:
        by_run[row.run_id].append(
            CheckState(row.identity, row.check, row.status, tuple(row.codes), row.change)
        )
    return [Round(r.id, _aware(r.started_at), r.elapsed_ms, tuple(by_run[r.id])) for r in run_rows]


def event_counts(engine: sa.Engine) -> list[tuple[str, str, str, int]]:
    """(identity, check, change, count) for every kind of event ever recorded."""
    query = (
        sa.select(results.c.identity, results.c.check, results.c.change, sa.func.count())
        .where(results.c.change.is_not(None))
        .group_by(results.c.identity, results.c.check, results.c.change)
    )
    with engine.connect() as connection:
        return [(r[0], r[1], r[2], int(r[3])) for r in connection.execute(query)]


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
