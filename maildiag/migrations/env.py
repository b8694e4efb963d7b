"""Alembic environment: runs migrations on the engine handed over in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from maildiag.db import TARGET_METADATA, ours

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # pragma: no cover - only when run through the alembic command line
    from maildiag.db import create_engine
    from maildiag.settings import load_settings

    engine = create_engine(load_settings().database)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=list(TARGET_METADATA),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=ours,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
