"""The database: one engine for the app, and its schema managed by Alembic migrations.

The sink's, the reset flow's, the feedback reports', the watch's and the bulk scans' tables
live on their own MetaData objects; the migrations in ``maildiag/migrations`` cover them all.
SQLite (WAL) by default, PostgreSQL at scale.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import reset
import smtp_sink
from maildiag import feedback, scans, watch
from maildiag.sink import records as sinkrecords

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
TARGET_METADATA = (
    reset.metadata,
    smtp_sink.metadata,
    sinkrecords.metadata,
    feedback.metadata,
    watch.metadata,
    scans.metadata,
)
JOB_ENGINE_PREFIX = "procrastinate_"  # the job engine's own tables (revision 0006, its SQL)


def ours(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name``: everything but the job engine's tables, which procrastinate's
    SQL defines and no model describes."""
    return not (type_ == "table" and (name or "").startswith(JOB_ENGINE_PREFIX))


def create_engine(url: str) -> sa.Engine:
    """The app's engine for ``url`` (SQLite files get WAL and synchronous=FULL)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return smtp_sink.create_store_engine(url)


def alembic_config(engine: sa.Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``. Raises alembic/SQLAlchemy errors on failure."""
    log.info(
        "db.migrate url=%s revision=%s", engine.url.render_as_string(hide_password=True), revision
    )
    command.upgrade(alembic_config(engine), revision)
