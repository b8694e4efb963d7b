"""The sink's database tables, on their own ``MetaData`` so the app's migrations can include them.

``metadata`` holds the tables under the default ``sink_`` prefix. ``build_metadata(prefix)``
makes the same tables under another prefix, for a shared database (one prefix per test run).
Engines for SQLite get WAL journaling and ``synchronous=FULL`` so a commit survives a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

DEFAULT_PREFIX = "sink_"
SQLITE_BUSY_TIMEOUT_MS = 30_000

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def build_metadata(prefix: str = DEFAULT_PREFIX) -> sa.MetaData:
    """A fresh ``MetaData`` holding the sink's tables named ``{prefix}messages`` and so on."""
    md = sa.MetaData()
    messages = sa.Table(
        f"{prefix}messages",
        md,
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("mail_from", sa.Text, nullable=False),
        sa.Column("rcpt_tos", sa.JSON, nullable=False),
        sa.Column("peer_ip", sa.String(64), nullable=False),
        sa.Column("peer_port", sa.Integer, nullable=True),
        sa.Column("proxied", sa.Boolean, nullable=False, default=False),
        sa.Column("helo", sa.Text, nullable=False, default=""),
        sa.Column("tls_version", sa.String(32), nullable=True),
        sa.Column("tls_cipher", sa.String(128), nullable=True),
        sa.Column("tls_bits", sa.Integer, nullable=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("added_headers", sa.LargeBinary, nullable=False),
        sa.Column("authentication_results", sa.Text, nullable=False, default=""),
        sa.Column("verdict", sa.JSON, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False, default=""),
        sa.Column("subject", sa.Text, nullable=False, default=""),
        sa.Column("from_header", sa.Text, nullable=False, default=""),
    )
    sa.Table(
        f"{prefix}mailboxes",
        md,
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column(
            "message_pk",
            _Id,
            sa.ForeignKey(messages.c.id, ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("address", sa.Text, nullable=False, index=True),
        sa.Column("folder", sa.String(16), nullable=False),
    )
    return md


metadata = build_metadata()


@dataclass(frozen=True)
class SinkTables:
    """The two tables of one prefix."""

    messages: sa.Table
    mailboxes: sa.Table

    @classmethod
    def of(cls, md: sa.MetaData, prefix: str = DEFAULT_PREFIX) -> SinkTables:
        """Pick the sink's tables out of ``md``."""
        return cls(md.tables[f"{prefix}messages"], md.tables[f"{prefix}mailboxes"])


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def create_store_engine(url: str | Path) -> Engine:
    """An engine for ``url``: a path means a SQLite file, otherwise an SQLAlchemy URL.

    SQLite engines run in WAL mode with ``synchronous=FULL`` on every connection.
    """
    if isinstance(url, Path) or "://" not in url:
        url = f"sqlite:///{Path(url)}"
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine
