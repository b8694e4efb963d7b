"""What the app's table modules share: the constraint names and the id column type.

The feedback reports', the watch's and the bulk scans' tables each live on their own MetaData
(``maildiag.db`` lists them for the migrations); with one naming convention their constraints
read alike in the database.
"""

from __future__ import annotations

import sqlalchemy as sa

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(constraint_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""A row id: 64 bits on PostgreSQL, SQLite's INTEGER (its rowid) there."""
