"""Alembic owns the schema: the migrations produce exactly the models, and init is repeatable."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine import Engine
from engine.schema import include_object
from engine.store import Base


def test_migrations_match_the_models(bare_engine: Engine) -> None:
    with bare_engine.store.sa_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_init_twice_changes_nothing(bare_engine: Engine) -> None:
    bare_engine.init_schema()
    bare_engine.init_schema()
    with bare_engine.store.sa_engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0009"
