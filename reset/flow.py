"""The "forgot password" flow: request, the worker's decision, and completing a reset.

Design (OWASP Forgot Password Cheat Sheet, "consistent response" and "timing"):
``request_reset`` never looks the address up. For every well-formed address it does the same
work (normalize, one INSERT of a ``reset_request`` outbox row) and returns None, so the HTTP
response cannot depend on whether an account exists. The worker then runs
``prepare_reset_mail`` out of band: for an unknown (or disabled) address it marks the row
``discarded`` (reason ``no_account``) and mails nobody, so strangers are never mailed; for an
account it issues the token and renders the mail just before sending (worded as a
set-password mail when the row's ``purpose`` is ``set_password``: a new account's). The token
thus never rests in the outbox in clear; the row keeps a redacted copy of what was sent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from sqlalchemy.orm import Session

from reset.accounts import end_sessions, find_user, normalize_address, set_password
from reset.errors import PolicyViolationError, TokenError
from reset.mail import ComposedMail, MailComposer
from reset.models import LANGUAGES, OutboxMessage, User
from reset.outbox import OutboxJob, enqueue
from reset.passwords import PasswordHasher
from reset.policy import PasswordPolicy
from reset.secret import Secret
from reset.tokens import (
    DEFAULT_TOKEN_TTL,
    consume_token,
    invalidate_tokens,
    issue_token,
    peek_token,
    token_state,
)

log = logging.getLogger(__name__)

NO_ACCOUNT = "no_account"


def request_reset(
    session: Session,
    address: str,
    *,
    now: dt.datetime,
    language: str = "nb",
    client_ip: str | None = None,
) -> None:
    """Queue a reset request for ``address``; the same work whether or not it has an account.

    Raises InvalidAddressError only for text that is not an address at all, which does not
    depend on any account. Rate limiting (``reset.ratelimit``) and the captcha come before.
    """
    recipient = normalize_address(address)
    payload = {"language": language if language in LANGUAGES else "nb"}
    if client_ip is not None:
        payload["client_ip"] = client_ip
    enqueue(
        session,
        kind="reset_request",
        recipient=recipient,
        now=now,
        language=payload["language"],
        payload=payload,
    )
    log.info("reset.requested")


def prepare_reset_mail(
    session: Session,
    job: OutboxJob,
    composer: MailComposer,
    *,
    now: dt.datetime,
    token_ttl: dt.timedelta = DEFAULT_TOKEN_TTL,
) -> ComposedMail | None:
    """The worker's step for a ``reset_request`` row: None (row discarded) or the mail to send.

    Issuing the token invalidates the user's older tokens; every attempt issues a fresh one,
    so a retried mail carries a working link and an earlier one stops working.
    """
    user = find_user(session, job.recipient)
    row = session.get(OutboxMessage, job.id)
    if user is None or row is None or user.disabled_at is not None:
        return None
    issued = issue_token(session, user.id, now=now, ttl=token_ttl)
    mail = composer.reset_mail(
        to=user.email,
        token=issued.secret,
        language=job.payload.get("language") or user.language,
        outbox_id=job.id,
        now=now,
        valid_for=token_ttl,
        kind="set_password" if job.payload.get("purpose") == "set_password" else "reset",
    )
    row.raw = mail.redacted
    row.message_id = mail.message_id
    session.flush()
    return mail


def user_for_token(session: Session, token: str | Secret, *, now: dt.datetime) -> User | None:
    """The account a still-usable token belongs to, or None; never consumes (for GET)."""
    user_id = peek_token(session, token, now=now)
    return None if user_id is None else session.get(User, user_id)


@dataclasses.dataclass(frozen=True)
class ResetOutcome:
    """A completed reset: whose password changed, and how many other sessions ended."""

    user_id: int
    sessions_ended: int
    notice_outbox_id: int


def complete_reset(
    session: Session,
    token: str | Secret,
    password: str,
    confirmation: str,
    *,
    now: dt.datetime,
    policy: PasswordPolicy,
    hasher: PasswordHasher,
) -> ResetOutcome:
    """Set a new password with a reset token (the POST of /reset-password).

    The policy is checked before the token is touched, so a refused password leaves the
    link usable. Then the token is consumed atomically, the hash replaced, every token
    invalidated, every session ended and a "password changed" notice queued.
    Raises PolicyViolationError or TokenError(reason=unknown|expired|used).
    """
    user = user_for_token(session, token, now=now)
    if user is None:
        raise TokenError(reason=token_state(session, token, now=now))
    report = policy.check(password, confirmation, context=_context(user))
    if not report.ok:
        raise PolicyViolationError(report=report)
    consume_token(session, token, now=now)
    return _apply_password(session, user, password, now=now, hasher=hasher, keep=None)


def change_password(
    session: Session,
    user: User,
    password: str,
    confirmation: str,
    *,
    now: dt.datetime,
    policy: PasswordPolicy,
    hasher: PasswordHasher,
    keep_session: str | Secret | None = None,
) -> ResetOutcome:
    """A logged-in change: like a reset, but the current session may stay open."""
    report = policy.check(password, confirmation, context=_context(user))
    if not report.ok:
        raise PolicyViolationError(report=report)
    return _apply_password(session, user, password, now=now, hasher=hasher, keep=keep_session)


def _context(user: User) -> tuple[str, ...]:
    local, _, domain = user.email.partition("@")
    return (local, domain.split(".")[0])


def _apply_password(
    session: Session,
    user: User,
    password: str,
    *,
    now: dt.datetime,
    hasher: PasswordHasher,
    keep: str | Secret | None,
) -> ResetOutcome:
    set_password(session, user, password, hasher=hasher, now=now)
    invalidate_tokens(session, user.id, now=now)
    ended = end_sessions(session, user.id, now=now, keep=keep)
    notice = enqueue(
        session,
        kind="password_changed",
        recipient=user.email,
        now=now,
        language=user.language,
        payload={"changed_at": now.isoformat()},
    )
    log.info("reset.password_changed user_id=%s sessions_ended=%s", user.id, ended)
    return ResetOutcome(user_id=user.id, sessions_ended=ended, notice_outbox_id=notice.id)
