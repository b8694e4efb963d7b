"""The outbox table: enqueue mails and claim due rows for sending.

Owns the queue mechanics only (who may take which row, and when). Rendering is
``reset.mail``; sending and the delivery log are ``reset.delivery``. Claiming uses
``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers share one queue, and
one conditional UPDATE per row on SQLite, whose writers are serialized anyway. A claimed row
is ``sending`` with a lease: if its worker dies, the row is due again when the lease ends.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from reset.models import OUTBOX_KINDS, OutboxMessage

log = logging.getLogger(__name__)

DEFAULT_LEASE = dt.timedelta(minutes=5)
_CLAIMABLE = ("queued", "deferred", "sending")


@dataclasses.dataclass(frozen=True)
class OutboxJob:
    """A claimed outbox row as a plain value, safe to hand to another thread or task."""

    id: int
    kind: str
    recipient: str
    language: str
    payload: Mapping[str, str]
    raw: bytes | None
    attempts: int
    created: dt.datetime

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


def _due(now: dt.datetime) -> tuple[object, ...]:
    return (OutboxMessage.status.in_(_CLAIMABLE), OutboxMessage.next_attempt_at <= now)


def claim_batch(
    session: Session, n: int, now: dt.datetime, *, lease: dt.timedelta = DEFAULT_LEASE
) -> list[OutboxMessage]:
    """Claim up to ``n`` due rows (oldest due first) and mark them ``sending`` until now+lease.

    Commit right after, so other workers see the claim. A row is never claimed twice while
    its lease runs.
    """
    order = (OutboxMessage.next_attempt_at, OutboxMessage.id)
    ids_query = select(OutboxMessage.id).where(*_due(now)).order_by(*order).limit(n)  # type: ignore[arg-type]
    claimed: list[int] = []
    if session.get_bind().dialect.name == "postgresql":
        claimed = list(session.scalars(ids_query.with_for_update(skip_locked=True)))
        if claimed:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(claimed))
                .values(status="sending", next_attempt_at=now + lease),
                execution_options={"synchronize_session": False},
            )
    else:
        tried: set[int] = set()
        while len(claimed) < n:
            query = ids_query.where(OutboxMessage.id.not_in(tried)) if tried else ids_query
            candidates = session.scalars(query.limit(n - len(claimed))).all()
            if not candidates:
                break
            for row_id in candidates:
                tried.add(row_id)
                result = session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row_id, *_due(now))  # type: ignore[arg-type]
                    .values(status="sending", next_attempt_at=now + lease),
                    execution_options={"synchronize_session": False},
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(row_id)
    if not claimed:
        return []
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(claimed))
        .order_by(*order)
        .execution_options(populate_existing=True)
    ).all()
    log.debug("outbox.claimed count=%s", len(rows))
    return list(rows)
