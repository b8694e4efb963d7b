"""Accounts and login sessions: address normalization, users, sessions, password changes.

Owns the rows of ``users`` and ``sessions``. Functions take a SQLAlchemy ``Session`` and an
explicit ``now``; they flush but never commit, so the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from diag.errors import InputError
from diag.names import parse_address
from reset.errors import AccountError, InvalidAddressError
from reset.models import LANGUAGES, ROLES, User, UserSession
from reset.passwords import PasswordHasher
from reset.secret import Secret, hash_secret

log = logging.getLogger(__name__)

DEFAULT_SESSION_TTL = dt.timedelta(hours=8)
SEEN_EVERY = dt.timedelta(minutes=1)  # ``last_seen`` is written at most this often per session
# not an argon2 hash, so no password matches it: the owner has not set a password yet
NO_PASSWORD = "!no-password"  # noqa: S105 (a marker, not a password)


def normalize_address(address: str) -> str:
    """Return ``address`` with surrounding space removed and the domain lower-cased.

    The local part is kept as given (RFC 5321 §2.4 lets it be case-sensitive); compare
    addresses with ``address_key``. Raises InvalidAddressError with the offending position.
    """
    try:
        return str(parse_address(address))
    except InputError as exc:
        position = exc.values.get("position")
        raise InvalidAddressError(
            reason=str(exc.values.get("reason", "invalid")),
            position=position if isinstance(position, int) else None,
        ) from None


def address_key(address: str) -> str:
    """The case-insensitive comparison key of an address (normalizes it first)."""
    return normalize_address(address).casefold()


def create_user(
    session: Session,
    address: str,
    password: str,
    *,
    hasher: PasswordHasher,
    now: dt.datetime,
    role: str = "user",
    language: str = "nb",
) -> User:
    """Create an account. Raises InvalidAddressError, or AccountError(reason="duplicate"|...)."""
    if role not in ROLES:
        raise AccountError(reason="bad_role", detail=role)
    if language not in LANGUAGES:
        raise AccountError(reason="bad_language", detail=language)
    email = normalize_address(address)
    user = User(
        email=email,
        email_key=email.casefold(),
        password_hash=hasher.hash(password),
        role=role,
        language=language,
        created=now,
        password_changed_at=now,
    )
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError as exc:
        raise AccountError(reason="duplicate", detail=email) from exc
    log.info("account.created user_id=%s role=%s", user.id, role)
    return user


def find_user(session: Session, address: str) -> User | None:
    """The account for ``address`` compared case-insensitively, or None (also for bad input)."""
    try:
        key = address_key(address)
    except InvalidAddressError:
        return None
    return session.scalars(select(User).where(User.email_key == key)).one_or_none()


def authenticate(
    session: Session, address: str, password: str, *, hasher: PasswordHasher
) -> User | None:
    """The account when ``password`` matches, else None; equal argon2 work either way (also
    for a disabled account and one whose password is not set yet)."""
    user = find_user(session, address)
    if user is None or user.disabled_at is not None or user.password_hash == NO_PASSWORD:
        hasher.verify_dummy(password)
        return None
    if not hasher.verify(user.password_hash, password):
        return None
    if hasher.needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def start_session(
    session: Session, user: User, *, now: dt.datetime, ttl: dt.timedelta = DEFAULT_SESSION_TTL
) -> Secret:
    """Open a login session; returns its secret id (only its hash is stored)."""
    secret = Secret.generate()
    row = UserSession(
        id_hash=secret.digest(), user_id=user.id, created=now, expires=now + ttl, last_seen=now
    )
    session.add(row)
    session.flush()
    return secret


def session_user(session: Session, session_id: str | Secret, *, now: dt.datetime) -> User | None:
    """The user of a live (not ended, not expired) session, or None. Marks the session as
    seen at ``now`` when its ``last_seen`` is older than ``SEEN_EVERY`` (so a busy session
    writes once a minute, not once a request)."""
    raw = session_id.reveal() if isinstance(session_id, Secret) else session_id
    row = session.get(UserSession, hash_secret(raw))
    if row is None or row.ended is not None or row.expires <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled_at is not None:
        return None
    if row.last_seen is None or now - row.last_seen >= SEEN_EVERY:
        row.last_seen = now
    return user


def open_sessions(session: Session, user_id: int, *, now: dt.datetime) -> list[UserSession]:
    """The live sessions of ``user_id``, the most recently seen first."""
    stmt = (
        select(UserSession)
        .where(UserSession.user_id == user_id, UserSession.ended.is_(None))
        .where(UserSession.expires > now)
        .order_by(UserSession.last_seen.desc(), UserSession.created.desc())
    )
    return list(session.scalars(stmt))


def end_session(session: Session, user_id: int, id_hash: str, *, now: dt.datetime) -> bool:
    """End the open session ``id_hash`` (its stored hash) when it belongs to ``user_id``;
    True when one ended. Someone else's session, or an unknown one, is left alone."""
    row = session.get(UserSession, id_hash)
    if row is None or row.user_id != user_id or row.ended is not None:
        return False
    row.ended = now
    session.flush()
    log.info("account.session_ended user_id=%s", user_id)
    return True


def end_sessions(
    session: Session,
    user_id: int,
    *,
    now: dt.datetime,
    keep: str | Secret | None = None,
) -> int:
    """End every open session of ``user_id`` except ``keep``; returns how many ended."""
    stmt = update(UserSession).where(UserSession.user_id == user_id, UserSession.ended.is_(None))
    if keep is not None:
        raw = keep.reveal() if isinstance(keep, Secret) else keep
        stmt = stmt.where(UserSession.id_hash != hash_secret(raw))
    result = session.execute(
        stmt.values(ended=now), execution_options={"synchronize_session": False}
    )
    count: int = result.rowcount  # type: ignore[attr-defined]
    log.info("account.sessions_ended user_id=%s count=%s", user_id, count)
    return count


def set_language(session: Session, user: User, language: str) -> None:
    """Store the language the account's pages and mails use. Raises AccountError
    (reason="bad_language") for a language other than nb or en."""
    if language not in LANGUAGES:
        raise AccountError(reason="bad_language", detail=language)
    user.language = language
    session.flush()


def set_password(
    session: Session, user: User, password: str, *, hasher: PasswordHasher, now: dt.datetime
) -> None:
    """Store a new hash and its change time. Callers check the policy first (``reset.flow``)."""
    user.password_hash = hasher.hash(password)
    user.password_changed_at = now
    session.flush()
