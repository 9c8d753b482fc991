"""Alembic environment: runs against the connection or URL the engine hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from engine.store.schema import include_object
from engine.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    """Run online migrations on the given connection, or on a URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True,
                          include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
