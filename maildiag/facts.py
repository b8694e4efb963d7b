"""Account facts for the support audience, read from the reset database: the user, each reset
request (its outbox row and the token issued for it) and the delivery log of those rows.

Only support may see these; the self-service and admin paths never call this module.
Raises ``FactsError`` when the database cannot be read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

import reset
from diag.checklist import AccountFacts, DeliveryFact, ResetRequestFact

log = logging.getLogger(__name__)

MAX_REQUESTS = 20  # the newest reset requests shown to support


class FactsError(RuntimeError):
    """The reset database could not be read; ``reason`` says why."""

    def __init__(self, *, reason: str) -> None:
        self.reason = reason
        super().__init__(f"cannot read the reset database: {reason}")


def _token_for(
    tokens: Sequence[reset.ResetToken], since: object, until: object
) -> reset.ResetToken | None:
    """The last token issued for a request: created at or after it, before the next one."""
    chosen = None
    for token in tokens:
        if token.created >= since and (until is None or token.created < until):  # type: ignore[operator]
            chosen = token
    return chosen


def facts_in(session: Session, address: str) -> AccountFacts:
    """``account_facts`` inside an open session (the support pages' own transaction)."""
    user = reset.find_user(session, address)
    key = reset.address_key(address)
    outbox = reset.OutboxMessage
    rows = session.scalars(
        sa.select(outbox)
        .where(sa.func.lower(outbox.recipient) == key)
        .where(outbox.kind == "reset_request")
        .order_by(outbox.created.desc(), outbox.id.desc())
        .limit(MAX_REQUESTS)
    ).all()
    tokens: Sequence[reset.ResetToken] = []
    if user is not None:
        tokens = session.scalars(
            sa.select(reset.ResetToken)
            .where(reset.ResetToken.user_id == user.id)
            .order_by(reset.ResetToken.created)
        ).all()
    ids = [row.id for row in rows]
    entries: Sequence[reset.DeliveryLogEntry] = []
    if ids:
        log_table = reset.DeliveryLogEntry
        entries = session.scalars(
            sa.select(log_table)
            .where(log_table.outbox_id.in_(ids))
            .order_by(log_table.at, log_table.id)
        ).all()
    resets = []
    for index, row in enumerate(rows):  # newest first: the next request is the one before
        token = _token_for(tokens, row.created, rows[index - 1].created if index else None)
        resets.append(
            ResetRequestFact(
                requested_at=row.created,
                outbox_id=row.id,
                status=row.status,
                token_expires_at=None if token is None else token.expires_at,
                token_used_at=None if token is None else token.used_at,
            )
        )
    deliveries = tuple(
        DeliveryFact(
            at=entry.at,
            relay=entry.relay,
            code=entry.code,
            enhanced_status=entry.enhanced_status or "",
            text=entry.text,
            queue_id=entry.queue_id or "",
            outbox_id=entry.outbox_id,
            bounced=entry.outcome == "bounced",
            bounce_reason=entry.text if entry.outcome == "bounced" else "",
            interrupted=entry.outcome == reset.INTERRUPTED,
        )
        for entry in entries
    )
    email = user.email if user is not None else key
    return AccountFacts(user is not None, email, tuple(resets), deliveries)


def account_facts(engine: sa.Engine, address: str) -> AccountFacts:
    """What the reset database knows about ``address`` (support only).

    Raises ``FactsError`` when the database cannot be read (missing tables, no connection)
    and ``reset.InvalidAddressError`` for a malformed address.
    """
    try:
        with Session(engine) as session:
            return facts_in(session, address)
    except sa.exc.SQLAlchemyError as exc:
        log.warning("facts.read_failed error=%s", type(exc).__name__)
        raise FactsError(reason=str(exc.orig if hasattr(exc, "orig") else exc)[:200]) from exc


__all__ = ["FactsError", "account_facts", "facts_in"]
