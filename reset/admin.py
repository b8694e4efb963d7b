"""Operators' account administration: invite (an account with no password yet and a
set-password mail queued), change the role, disable, delete, and the audit of each change.

Owns the rows only; the callers (``maildiag.services.accounts``) own the transaction and say
who acts. A new account never gets a password from an operator: its hash is a marker no
password matches, and the set-password mail is a reset request with its own wording
(``purpose=set_password``), so it carries the same single-use token and link as a reset.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from reset.accounts import NO_PASSWORD, end_sessions, find_user, normalize_address
from reset.errors import AccountError
from reset.models import LANGUAGES, ROLES, AccountAudit, OutboxMessage, User

log = logging.getLogger(__name__)

SET_PASSWORD = "set_password"  # noqa: S105 (the purpose of a new account's reset request)
AUDIT_ACTIONS = ("add", "role", "disable", "enable", "delete", "import")


@dataclasses.dataclass(frozen=True)
class Invitation:
    """One account to create: a normalized address, its role and language."""

    email: str
    role: str = "user"
    language: str = "nb"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise AccountError(reason="bad_role", detail=self.role)
        if self.language not in LANGUAGES:
            raise AccountError(reason="bad_language", detail=self.language)


def invitation(address: str, role: str = "user", language: str = "nb") -> Invitation:
    """An Invitation for ``address``. Raises InvalidAddressError or AccountError."""
    return Invitation(normalize_address(address), role, language)


def existing_keys(session: Session, emails: Iterable[str]) -> set[str]:
    """The case-folded addresses among ``emails`` that already have an account."""
    keys = {email.casefold() for email in emails}
    if not keys:
        return set()
    return set(session.scalars(select(User.email_key).where(User.email_key.in_(keys))))


def invite(session: Session, wanted: Sequence[Invitation], *, now: dt.datetime) -> list[User]:
    """Create the accounts of ``wanted`` that do not exist yet, each with a set-password
    mail queued; the others are left as they are (so a repeated call changes nothing).
    Returns the accounts created."""
    taken = existing_keys(session, (w.email for w in wanted))
    users: dict[str, User] = {}
    for w in wanted:
        key = w.email.casefold()
        if key in taken or key in users:
            continue
        users[key] = User(
            email=w.email,
            email_key=key,
            password_hash=NO_PASSWORD,
            role=w.role,
            language=w.language,
            created=now,
            password_changed_at=now,
        )
    session.add_all(users.values())
    session.add_all(_set_password_row(user, now) for user in users.values())
    session.flush()
    log.info("account.invited count=%s", len(users))
    return list(users.values())


def _set_password_row(user: User, now: dt.datetime) -> OutboxMessage:
    payload = {"language": user.language, "purpose": SET_PASSWORD}
    return OutboxMessage(
        kind="reset_request",
        recipient=user.email,
        language=user.language,
        payload=json.dumps(payload, sort_keys=True),
        status="queued",
        attempts=0,
        next_attempt_at=now,
        created=now,
    )


def has_password(user: User) -> bool:
    """False for an account whose owner has not set a password yet."""
    return user.password_hash != NO_PASSWORD


def existing_user(session: Session, address: str) -> User:
    """The account for ``address``. Raises AccountError(reason="unknown")."""
    user = find_user(session, address)
    if user is None:
        raise AccountError(reason="unknown", detail=address)
    return user


def set_role(session: Session, user: User, role: str) -> str:
    """Give ``user`` the role ``role``; returns the old one. Raises AccountError."""
    if role not in ROLES:
        raise AccountError(reason="bad_role", detail=role)
    old, user.role = user.role, role
    session.flush()
    return old


def disable(session: Session, user: User, *, now: dt.datetime) -> int:
    """Disable ``user`` (no sign-in, no reset mail) and end its sessions; returns how many."""
    if user.disabled_at is None:
        user.disabled_at = now
    return end_sessions(session, user.id, now=now)


def enable(session: Session, user: User) -> None:
    """Let a disabled account sign in and get reset mail again."""
    user.disabled_at = None
    session.flush()


def remove(session: Session, user: User) -> None:
    """Delete ``user``; its sessions and tokens go with it (foreign keys cascade)."""
    session.execute(delete(User).where(User.id == user.id))
    session.expunge(user)


def audit(
    session: Session, *, actor: str, action: str, address: str, now: dt.datetime, detail: str = ""
) -> None:
    """Record that ``actor`` did ``action`` to ``address`` (an account, or an import's name)."""
    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    session.add(
        AccountAudit(
            at=now, actor=actor[:254], action=action, address=address[:254], detail=detail[:255]
        )
    )
    session.flush()
    log.info("account.audit action=%s", action)


def audit_trail(session: Session, *, limit: int = 50) -> list[AccountAudit]:
    """The newest ``limit`` audit records, newest first."""
    query = select(AccountAudit).order_by(AccountAudit.at.desc(), AccountAudit.id.desc())
    return list(session.scalars(query.limit(limit)))
