"""Alembic owns the schema: the migrations produce exactly the models, and init is repeatable."""

from __future__ import annotations

from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine import Conflict, Engine
from engine.store.schema import include_object
from engine.store.models import Base, User


def test_migrations_match_the_models(bare_engine: Engine) -> None:
    with bare_engine.store.sa_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_init_twice_changes_nothing(bare_engine: Engine) -> None:
    from alembic.script import ScriptDirectory

    from engine.store.schema import alembic_config

    bare_engine.init_schema()
    bare_engine.init_schema()
    head = ScriptDirectory.from_config(alembic_config(bare_engine.store.url)).get_current_head()
    with bare_engine.store.sa_engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head


def test_a_unique_key_taken_first_by_another_transaction_is_a_conflict_and_nothing_is_written(
        bare_engine: Engine) -> None:
    # What two simultaneous deploys of one process (or two new users of one name) meet on PostgreSQL.
    bare_engine.create_user("twin", "甲", ["front_desk"], "pw")
    with pytest.raises(Conflict, match="对方已先完成"):
        with bare_engine.store.transaction() as s:
            s.add(User(username="other", display_name="乙", password_hash="x", roles="front_desk", active=True,
                       created_at=datetime(2026, 11, 23)))
            s.flush()
            s.add(User(username="twin", display_name="丙", password_hash="x", roles="front_desk", active=True,
                       created_at=datetime(2026, 11, 23)))
    assert [u.username for u in bare_engine.users() if u.username in ("twin", "other")] == ["twin"]
