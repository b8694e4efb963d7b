"""Tables of the reset flow on the package's own ``MetaData`` (``reset.metadata``).

Owns the schema only: users, login sessions, reset tokens, the outbox and the delivery log.
Behaviour lives in the service modules. Every timestamp is timezone-aware UTC in Python; the
``UtcDateTime`` type keeps that true on SQLite, which stores naive values.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from diag.names import MAX_ADDRESS_LENGTH

ROLES = ("user", "support", "admin")
LANGUAGES = ("nb", "en")
OUTBOX_STATUSES = ("queued", "sending", "sent", "deferred", "bounced", "failed", "discarded")
OUTBOX_KINDS = ("reset_request", "password_changed", "message")

CLAIM_OWNER_LENGTH = 64

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always aware UTC in Python, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware UTC datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: object, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    """Declarative base bound to ``reset.metadata``."""

    metadata = metadata


class User(Base):
    """An account. ``email`` is normalized; ``email_key`` is its case-folded lookup key."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role"),
        CheckConstraint(_in("language", LANGUAGES), name="language"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(MAX_ADDRESS_LENGTH))
    email_key: Mapped[str] = mapped_column(String(MAX_ADDRESS_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="user")
    language: Mapped[str] = mapped_column(String(2), default="nb")
    created: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    password_changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # set when an operator disables the account: no sign-in, no session, no reset mail
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, email={self.email!r}, role={self.role!r})"


class AccountAudit(Base):
    """One change an operator made to an account: who (``actor``), what, to whom, when.

    ``address`` is text, not a foreign key, so the record outlives a deleted account.
    """

    __tablename__ = "account_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(MAX_ADDRESS_LENGTH))
    action: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(MAX_ADDRESS_LENGTH))
    detail: Mapped[str] = mapped_column(String(255), default="")


class UserSession(Base):
    """A login session; only the SHA-256 hash of the session id is stored."""

    __tablename__ = "sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    # when the session last made a request, to the minute (``reset.SEEN_EVERY``)
    last_seen: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)


class ResetToken(Base):
    """A password-reset token; only the SHA-256 hash of the secret is stored."""

    __tablename__ = "reset_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)


class OutboxMessage(Base):
    """One mail to send; ``raw`` holds the message only when it holds no secret (``reset.flow``).

    While a worker holds the row (``sending``), ``claim_owner`` is its claim token and
    ``lease_until`` the end of the claim; ``attempt_started_at`` is set from just before a send
    until its outcome is recorded (see ``reset.outbox``).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
        CheckConstraint(_in("kind", OUTBOX_KINDS), name="kind"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(MAX_ADDRESS_LENGTH))
    language: Mapped[str] = mapped_column(String(2), default="nb")
    payload: Mapped[str] = mapped_column(Text, default="{}")
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    message_id: Mapped[str | None] = mapped_column(String(255), default=None)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    claim_owner: Mapped[str | None] = mapped_column(String(CLAIM_OWNER_LENGTH), default=None)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    attempt_started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)

    def __repr__(self) -> str:
        return (
            f"OutboxMessage(id={self.id!r}, kind={self.kind!r}, status={self.status!r}, "
            f"attempts={self.attempts!r})"
        )


class DeliveryLogEntry(Base):
    """One delivery attempt or bounce report for an outbox row, with the reply as evidence."""

    __tablename__ = "delivery_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    relay: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(16))
    code: Mapped[int | None] = mapped_column(Integer, default=None)
    enhanced_status: Mapped[str | None] = mapped_column(String(16), default=None)
    text: Mapped[str] = mapped_column(Text, default="")
    queue_id: Mapped[str | None] = mapped_column(String(128), default=None)
