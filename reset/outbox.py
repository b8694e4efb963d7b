"""The outbox table: enqueue mails, and the claim → attempt → finish protocol for sending them.

Owns the queue mechanics only (who may take which row, and when). Rendering is ``reset.mail``;
sending and the delivery log are ``reset.delivery``.

- **claim** (``claim_batch``): a worker takes due rows with a fresh claim token
  (``claim_owner``) and a lease (``lease_until``); ``SELECT ... FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, one conditional UPDATE per row on SQLite, whose writers are serialized anyway.
- **renew** (``renew_claims``): the worker's heartbeat extends the lease while it sends, so a
  slow relay never lets a live claim run out.
- **attempt** (``begin_attempt``): just before each send, one conditional UPDATE marks the row
  attempting; it matches only while the claim is still the worker's and its lease has not run
  out. When it matches nothing the worker must not send. So a row is sent at most once while a
  claim on it is alive.
- **finish** (``finish_claim``, through ``reset.delivery.record_attempt``) records the outcome
  and ends the claim; ``release_claims`` hands unattempted rows back at once on shutdown or
  error.

A claim dies with its worker: after a crash its rows are due again when the lease ends, and a
row whose attempt had begun gets an ``interrupted`` delivery-log entry when it is claimed again.
The limit: when the relay accepted a mail and the worker died before recording that, the row is
sent once more after the lease. Delivery is at-least-once at that boundary (no database commit
can be atomic with the relay's 250), and never twice while a claim is alive.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import secrets
from collections.abc import Mapping

from sqlalchemy import Row, Select, and_, case, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from reset.models import CLAIM_OWNER_LENGTH, OUTBOX_KINDS, DeliveryLogEntry, OutboxMessage

log = logging.getLogger(__name__)

DEFAULT_LEASE = dt.timedelta(minutes=5)
INTERRUPTED = "interrupted"  # the delivery-log outcome of an attempt that never finished
_WAITING = ("queued", "deferred")
_TOKEN_HEX = 12  # random hex digits in a claim token
_ORDER = (OutboxMessage.next_attempt_at, OutboxMessage.id)
# A due row as the claim reads it: its id, and who held it and since when an attempt ran.
_Found = Row[int, str | None, dt.datetime | None]
_Candidates = Select[int, str | None, dt.datetime | None]


@dataclasses.dataclass(frozen=True)
class OutboxJob:
    """A claimed outbox row as a plain value, safe to hand to another thread or task.

    ``owner`` is the claim it was taken under: ``begin_attempt`` and the finish need it.
    """

    id: int
    kind: str
    recipient: str
    language: str
    payload: Mapping[str, str]
    raw: bytes | None
    attempts: int
    created: dt.datetime
    owner: str = ""

    @classmethod
    def from_row(cls, row: OutboxMessage) -> OutboxJob:
        return cls(
            id=row.id,
            kind=row.kind,
            recipient=row.recipient,
            language=row.language,
            payload=json.loads(row.payload or "{}"),
            raw=row.raw,
            attempts=row.attempts,
            created=row.created,
            owner=row.claim_owner or "",
        )


def enqueue(
    session: Session,
    *,
    kind: str,
    recipient: str,
    now: dt.datetime,
    language: str = "nb",
    payload: Mapping[str, str] | None = None,
    raw: bytes | None = None,
) -> OutboxMessage:
    """Add a ``queued`` row due at ``now``. ``raw`` must not contain a secret (see reset.flow).

    Raises ValueError for a kind outside OUTBOX_KINDS.
    """
    if kind not in OUTBOX_KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    row = OutboxMessage(
        kind=kind,
        recipient=recipient,
        language=language,
        payload=json.dumps(dict(payload or {}), sort_keys=True),
        raw=raw,
        status="queued",
        attempts=0,
        next_attempt_at=now,
        created=now,
    )
    session.add(row)
    session.flush()
    log.debug("outbox.enqueued id=%s kind=%s", row.id, kind)
    return row


def new_owner(name: str = "") -> str:
    """A fresh claim token: ``name`` (who claims, for the logs) and random hex digits."""
    return f"{name[: CLAIM_OWNER_LENGTH - _TOKEN_HEX - 1]}/{secrets.token_hex(_TOKEN_HEX // 2)}"


def _due(now: dt.datetime) -> ColumnElement[bool]:
    """Waiting rows whose time has come, and claimed rows whose lease has run out."""
    row = OutboxMessage
    return or_(
        and_(row.status.in_(_WAITING), row.next_attempt_at <= now),
        and_(row.status == "sending", or_(row.lease_until.is_(None), row.lease_until <= now)),
    )


def _held(owner: str, now: dt.datetime) -> tuple[ColumnElement[bool], ...]:
    """The row is claimed by ``owner`` and the lease still runs."""
    row = OutboxMessage
    return (row.claim_owner == owner, row.status == "sending", row.lease_until > now)


def _update(session: Session, *where: ColumnElement[bool], **values: object) -> int:
    """One UPDATE of the outbox; returns how many rows matched."""
    result = session.execute(
        update(OutboxMessage).where(*where).values(**values),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of an UPDATE


def claim_batch(
    session: Session,
    n: int,
    now: dt.datetime,
    *,
    lease: dt.timedelta = DEFAULT_LEASE,
    owner: str | None = None,
) -> list[OutboxMessage]:
    """Claim up to ``n`` due rows (oldest due first) for ``owner`` (default: a fresh token).

    Claimed rows are ``sending`` with ``claim_owner`` set and a lease until now+lease. Commit
    right after, so other workers see the claim: a row is never claimed twice while its lease
    runs. A row whose last attempt began and never finished gets its ``interrupted``
    delivery-log entry here, in the claim's transaction.
    """
    row = OutboxMessage
    query = select(row.id, row.claim_owner, row.attempt_started_at).where(_due(now))
    query = query.order_by(*_ORDER).limit(n)
    claim = {"status": "sending", "claim_owner": owner or new_owner(), "lease_until": now + lease}
    if session.get_bind().dialect.name == "postgresql":
        claimed = _claim_locked(session, query, claim)
    else:
        claimed = _claim_each(session, query, claim, n, now)
    for found in claimed:
        if found.attempt_started_at is not None:
            _log_interrupted(session, found.id, found.attempt_started_at, now, found.claim_owner)
    if not claimed:
        return []
    rows = session.scalars(
        select(row)
        .where(row.id.in_([found.id for found in claimed]))
        .order_by(*_ORDER)
        .execution_options(populate_existing=True)
    ).all()
    log.debug("outbox.claimed count=%s owner=%s", len(rows), claim["claim_owner"])
    return list(rows)


def _claim_locked(session: Session, query: _Candidates, claim: dict[str, object]) -> list[_Found]:
    """PostgreSQL: lock the due rows no other transaction holds, then claim them all."""
    claimed = list(session.execute(query.with_for_update(skip_locked=True)))
    if claimed:
        _update(session, OutboxMessage.id.in_([found.id for found in claimed]), **claim)
    return claimed


def _claim_each(
    session: Session, query: _Candidates, claim: dict[str, object], n: int, now: dt.datetime
) -> list[_Found]:
    """SQLite: claim the candidates one conditional UPDATE at a time; one that another worker
    claimed since it was read is skipped, and the next ones are read."""
    row = OutboxMessage
    claimed: list[_Found] = []
    tried: set[int] = set()
    while len(claimed) < n:
        narrowed = query.where(row.id.not_in(tried)) if tried else query
        candidates = session.execute(narrowed.limit(n - len(claimed))).all()
        if not candidates:
            break
        for found in candidates:
            tried.add(found.id)
            same = row.claim_owner.is_not_distinct_from(found.claim_owner)
            if _update(session, row.id == found.id, _due(now), same, **claim):
                claimed.append(found)
    return claimed


def _log_interrupted(
    session: Session, outbox_id: int, started: dt.datetime, now: dt.datetime, owner: str | None
) -> None:
    """The delivery-log entry of an attempt that began and was never recorded; ends it."""
    _update(session, OutboxMessage.id == outbox_id, attempt_started_at=None)
    text = (
        f"attempt interrupted: started {started:%Y-%m-%dT%H:%M:%SZ} by {owner or 'a worker'}; "
        "no outcome recorded, and the relay may have accepted it, so the mail can arrive twice "
        "(at-least-once)"
    )
    session.add(
        DeliveryLogEntry(outbox_id=outbox_id, at=now, relay="local", outcome=INTERRUPTED, text=text)
    )
    log.warning("outbox.attempt_interrupted outbox_id=%s owner=%s", outbox_id, owner)


def begin_attempt(
    session: Session,
    outbox_id: int,
    owner: str,
    *,
    now: dt.datetime,
    lease: dt.timedelta = DEFAULT_LEASE,
) -> bool:
    """Mark ``owner``'s row attempting, just before its send: started now, one more attempt,
    the lease renewed.

    One conditional UPDATE, which matches only while ``owner`` holds the row, its lease runs
    and no attempt is under way. False means the claim is gone (the lease ran out, another
    worker took the row): do not send.
    """
    row = OutboxMessage
    return bool(
        _update(
            session,
            row.id == outbox_id,
            *_held(owner, now),
            row.attempt_started_at.is_(None),
            attempt_started_at=now,
            attempts=row.attempts + 1,
            lease_until=now + lease,
        )
    )


def renew_claims(
    session: Session, owner: str, *, now: dt.datetime, lease: dt.timedelta = DEFAULT_LEASE
) -> int:
    """The heartbeat: extend the lease of every row ``owner`` still holds; returns how many.

    A lease that has already run out stays out (the row may be another worker's by now).
    """
    return _update(session, *_held(owner, now), lease_until=now + lease)


def release_claims(session: Session, owner: str) -> int:
    """Hand back ``owner``'s rows that no attempt has begun on; returns how many.

    They are due again at once: ``queued`` when never tried, else ``deferred``, with their
    ``next_attempt_at`` as it was before the claim.
    """
    row = OutboxMessage
    return _update(
        session,
        row.claim_owner == owner,
        row.status == "sending",
        row.attempt_started_at.is_(None),
        status=case((row.attempts == 0, "queued"), else_="deferred"),
        claim_owner=None,
        lease_until=None,
    )


def finish_claim(session: Session, outbox_id: int, owner: str | None, **values: object) -> bool:
    """Set the row's outcome ``values`` and end its claim; False when ``owner`` lost it.

    With ``owner`` None the row is updated whoever holds it (a caller outside the claim
    protocol, or an outcome that must stand, such as an accepted mail).
    """
    row = OutboxMessage
    where = [row.id == outbox_id]
    if owner is not None:
        where += [row.claim_owner == owner, row.status == "sending"]
    ended = {"claim_owner": None, "lease_until": None, "attempt_started_at": None}
    return bool(_update(session, *where, **values, **ended))
