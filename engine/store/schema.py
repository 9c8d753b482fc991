"""Schema management: Alembic upgrades the database to the newest revision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

from .database import Store
from .models import POSTGRESQL_ONLY_INDEXES

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic configuration pointing at our migrations and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's include_object hook: the PostgreSQL-only indexes of migration 0009 are not the models'."""
    return not (type_ == "index" and name in POSTGRESQL_ONLY_INDEXES)


def upgrade(store: Store) -> None:
    """Bring the schema up to the newest revision (idempotent)."""
    cfg = alembic_config(store.url)
    with store.sa_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
