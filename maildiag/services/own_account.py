"""A signed-in person's own account: what the account page shows (address, language, last
password change, open sessions) and what it changes (the language; one session or all).

Sessions live in the database (SQLite or PostgreSQL), whether or not Redis is configured:
Redis holds only rate-limit counters and solved captchas, never a session, so ending a
session's row ends it for every app replica. Owns no request handling.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from sqlalchemy.orm import Session

import reset
from maildiag.services.accounts import ResetServices, in_transaction

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class OpenSession:
    """One live session as its owner sees it. ``handle`` names it in the page's forms: the
    stored hash of its id, which cannot be used to sign in."""

    handle: str
    created: dt.datetime
    last_seen: dt.datetime
    current: bool


@dataclasses.dataclass(frozen=True)
class AccountOverview:
    """The account page's facts (no hash, no session secrets)."""

    email: str
    role: str
    language: str
    password_changed_at: dt.datetime
    sessions: tuple[OpenSession, ...]


def _overview(session: Session, user_id: int, current: str, now: dt.datetime) -> AccountOverview:
    user = session.get(reset.User, user_id)
    if user is None:
        raise LookupError(user_id)
    rows = reset.open_sessions(session, user_id, now=now)
    sessions = tuple(
        OpenSession(row.id_hash, row.created, row.last_seen or row.created, row.id_hash == current)
        for row in rows
    )
    return AccountOverview(user.email, user.role, user.language, user.password_changed_at, sessions)


async def account_overview(svc: ResetServices, user_id: int, session_id: str) -> AccountOverview:
    """What the account page shows to the holder of ``session_id``. Raises LookupError when
    the account is gone."""
    current, now = reset.hash_secret(session_id), svc.clock()
    return await in_transaction(svc, lambda s: _overview(s, user_id, current, now))


async def change_language(svc: ResetServices, user_id: int, language: str) -> None:
    """Store ``language`` (nb or en) for the account. Raises reset.AccountError
    (reason="bad_language") for another one."""

    def work(session: Session) -> None:
        user = session.get(reset.User, user_id)
        if user is not None:
            reset.set_language(session, user, language)

    await in_transaction(svc, work)


async def end_one_session(svc: ResetServices, user_id: int, handle: str) -> bool:
    """End the account's session ``handle``; False when it is not one of its open sessions."""
    now = svc.clock()
    return await in_transaction(svc, lambda s: reset.end_session(s, user_id, handle, now=now))


async def end_every_session(svc: ResetServices, user_id: int) -> int:
    """Sign the account out everywhere, this session included; returns how many ended."""
    now = svc.clock()
    ended = await in_transaction(svc, lambda s: reset.end_sessions(s, user_id, now=now))
    log.info("account.signed_out_everywhere user_id=%s count=%s", user_id, ended)
    return ended
