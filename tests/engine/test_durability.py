"""Nothing acknowledged is lost: the shipped SQLite database syncs every commit to disk before answering."""

from __future__ import annotations

from pathlib import Path

from engine import Engine

from tests.databases import fast_hasher

FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def test_the_shipped_sqlite_database_syncs_every_commit(tmp_path: Path) -> None:
    # Nothing configured but where the instance lives: the database a new installation gets.
    engine = Engine({"instance_dir": tmp_path / "instance"}, password_hasher=fast_hasher())  # type: ignore[arg-type]
    try:
        assert engine.config.database_url == f"sqlite:///{tmp_path / 'instance' / 'baozhuang.db'}"
        engine.init_schema()
        with engine.store.begin() as conn:  # the connection every step writes on
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == FULL
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        with engine.store.read() as conn:  # and every other pooled connection
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == FULL
        with engine.store.transaction() as session:
            assert session.connection().exec_driver_sql("PRAGMA synchronous").scalar() == FULL
    finally:
        engine.dispose()


def test_a_second_process_opening_the_database_syncs_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = Engine({"database_url": url, "documents_dir": tmp_path / "docs"})
    first.init_schema()
    second = Engine({"database_url": url, "documents_dir": tmp_path / "docs"})  # as another web process would
    try:
        with second.store.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == FULL
    finally:
        first.dispose()
        second.dispose()
