"""The tables of a bulk scan: the scan itself, its domains (one row each, with the result once
scanned) and its chunks (the jobs that ``maildiag worker`` processes claim with ``--queue``).

SQLAlchemy Core tables on their own MetaData (the migrations include it), the same on SQLite
and PostgreSQL. A domain row is written once with its result; a scan resumes from the rows
that have none.
"""

from __future__ import annotations

import sqlalchemy as sa

from diag.names import MAX_NAME_LENGTH
from maildiag.tables import ID, NAMING_CONVENTION

MAX_SOURCE = 255  # the file name or ``accounts`` a scan was made from
MAX_CODES = 1024  # finding codes of one domain, space-separated
MAX_OWNER = 64  # a claimer's name: host:pid:random
SCAN_STATES = ("running", "queued", "done")
CHUNK_STATES = ("queued", "claimed", "done")

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


scans = sa.Table(
    "scans",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("source", sa.String(MAX_SOURCE), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("entries", sa.Integer, nullable=False),
    sa.CheckConstraint(_in("state", SCAN_STATES), name="state"),
)
"""One row per scan. ``fingerprint`` (SHA-256 of the domain list) finds the unfinished scan of
the same input that ``--resume`` continues."""

scan_domains = sa.Table(
    "scan_domains",
    metadata,
    sa.Column("scan_id", ID, sa.ForeignKey("scans.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("domain", sa.String(MAX_NAME_LENGTH), nullable=False),
    sa.Column("entries", sa.Integer, nullable=False),
    sa.Column("chunk", sa.Integer, nullable=False),
    sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("status", sa.String(16), nullable=True),  # ok | warning | problem
    sa.Column("provider", sa.String(32), nullable=True),
    sa.Column("codes", sa.String(MAX_CODES), nullable=True),  # error and warning codes
    sa.Column("result", sa.JSON, nullable=True),  # the domain's JSON line
    sa.Index("ix_scan_domains_scan_id_chunk", "scan_id", "chunk"),
    sa.Index("ix_scan_domains_scan_id_domain", "scan_id", "domain", unique=True),
)
"""One row per distinct domain of a scan, in input order; the result columns stay NULL until
the domain is scanned."""

scan_chunks = sa.Table(
    "scan_chunks",
    metadata,
    sa.Column("scan_id", ID, sa.ForeignKey("scans.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("chunk", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(MAX_OWNER), nullable=True),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint(_in("state", CHUNK_STATES), name="state"),
    sa.Index("ix_scan_chunks_state", "state"),
)
"""The jobs of a queued scan: each chunk of domains is claimed by one worker at a time; a claim
older than the lease is taken over (its worker died), and its unscanned domains are scanned
then."""
