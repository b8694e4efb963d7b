"""Password-reset tokens: issue, peek, consume (once), invalidate.

Owns the ``reset_tokens`` rows. A token is 256 random bits; only its SHA-256 is stored.
Consuming is one conditional UPDATE whose row count decides, so two concurrent consumers
cannot both win. Functions flush but never commit; the caller owns the transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from reset.errors import TokenError
from reset.models import ResetToken
from reset.secret import Secret, hash_secret

log = logging.getLogger(__name__)

# OWASP Forgot Password Cheat Sheet: tokens "should expire after an appropriate period".
DEFAULT_TOKEN_TTL = dt.timedelta(minutes=30)
MAX_TOKEN_LENGTH = 256  # input size limit for a token taken from a URL or form


@dataclasses.dataclass(frozen=True)
class IssuedToken:
    """A freshly issued token: the secret (masked in repr) and when it stops working."""

    secret: Secret
    user_id: int
    expires_at: dt.datetime


def _digest(token: str | Secret) -> str | None:
    raw = token.reveal() if isinstance(token, Secret) else token
    if not raw or len(raw) > MAX_TOKEN_LENGTH:
        return None
    return hash_secret(raw)


def issue_token(
    session: Session, user_id: int, *, now: dt.datetime, ttl: dt.timedelta = DEFAULT_TOKEN_TTL
) -> IssuedToken:
    """Issue a new token for ``user_id``; every older unused token of that user stops working."""
    invalidate_tokens(session, user_id, now=now)
    secret = Secret.generate()
    expires_at = now + ttl
    session.add(
        ResetToken(token_hash=secret.digest(), user_id=user_id, created=now, expires_at=expires_at)
    )
    session.flush()
    log.info("token.issued user_id=%s expires_at=%s", user_id, expires_at.isoformat())
    return IssuedToken(secret=secret, user_id=user_id, expires_at=expires_at)


def invalidate_tokens(session: Session, user_id: int, *, now: dt.datetime) -> int:
    """Mark every unused token of ``user_id`` as used; returns how many."""
    result = session.execute(
        update(ResetToken)
        .where(ResetToken.user_id == user_id, ResetToken.used_at.is_(None))
        .values(used_at=now),
        execution_options={"synchronize_session": False},
    )
    count: int = result.rowcount  # type: ignore[attr-defined]
    return count


def peek_token(session: Session, token: str | Secret, *, now: dt.datetime) -> int | None:
    """The user id a still-usable token belongs to, or None. Never consumes (for GET)."""
    digest = _digest(token)
    if digest is None:
        return None
    row = session.scalars(select(ResetToken).where(ResetToken.token_hash == digest)).one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    return row.user_id


def consume_token(session: Session, token: str | Secret, *, now: dt.datetime) -> int:
    """Use the token up and return its user id; exactly one concurrent caller can succeed.

    Raises TokenError(reason="unknown"|"expired"|"used"). The decision is the row count of
    ``UPDATE ... WHERE used_at IS NULL AND expires_at > now``; the reason is looked up after.
    """
    digest = _digest(token)
    if digest is None:
        raise TokenError(reason="unknown")
    result = session.execute(
        update(ResetToken)
        .where(
            ResetToken.token_hash == digest,
            ResetToken.used_at.is_(None),
            ResetToken.expires_at > now,
        )
        .values(used_at=now),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        user_id = session.scalars(
            select(ResetToken.user_id).where(ResetToken.token_hash == digest)
        ).one()
        log.info("token.consumed user_id=%s", user_id)
        return user_id
    reason = token_state(session, token, now=now)
    log.info("token.refused reason=%s", reason)
    raise TokenError(reason=reason)


def token_state(session: Session, token: str | Secret, *, now: dt.datetime) -> str:
    """``usable``, ``unknown``, ``expired`` or ``used``: why a token does or does not work.

    An invalidated token (a newer one was issued, or the password changed) counts as used.
    """
    digest = _digest(token)
    row = (
        None
        if digest is None
        else session.execute(
            select(ResetToken.used_at, ResetToken.expires_at).where(ResetToken.token_hash == digest)
        ).one_or_none()
    )
    if row is None:
        return "unknown"
    if row.used_at is not None:
        return "used"
    return "expired" if row.expires_at <= now else "usable"
