"""Alembic environment: runs on the connection handed in by ``tagger_core.db.migrate``."""

from __future__ import annotations

from alembic import context

from tagger_core.db.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    from sqlalchemy import create_engine

    connection = create_engine(config.get_main_option("sqlalchemy.url")).connect()

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
