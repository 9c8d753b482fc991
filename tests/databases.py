"""Test databases: a SQLite file per test, or with ``BAOZHUANG_TEST_DATABASE_URL`` a PostgreSQL database per test.

``BAOZHUANG_TEST_DATABASE_URL`` names a PostgreSQL server (``postgresql+psycopg://postgres@127.0.0.1:55432/postgres``,
what ``scripts/pg.sh start`` prints). The schema is migrated once per session into a template database; each
test's database is a ``CREATE DATABASE … TEMPLATE`` copy of it, dropped when the test ends.

A database is named by a folder and a file name, like the SQLite file it stands for: asking twice for the
same folder and name gives the same database, so a test can open it again from another engine or process.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine as SAEngine, make_url

SERVER_URL = os.environ.get("BAOZHUANG_TEST_DATABASE_URL", "").strip()
ON_POSTGRES = bool(SERVER_URL)


class _Server:
    """The PostgreSQL server the tests create and drop their databases on."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.admin: SAEngine = create_engine(self.url, isolation_level="AUTOCOMMIT", pool_size=1)
        self.session_tag = f"{os.getpid()}_{os.urandom(3).hex()}"
        self.template: str | None = None
        self.created: list[str] = []

    def url_of(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def exists(self, name: str) -> bool:
        with self.admin.connect() as conn:
            return conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}) is not None

    def create(self, name: str, template: str, *, per_test: bool = True) -> None:
        with self.admin.connect() as conn:
            # A template must have no other sessions: end any a finished fixture left in its pool.
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :t AND pid <> pg_backend_pid()"), {"t": template})
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        if per_test:
            self.created.append(name)

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def schema_template(self) -> str:
        """A database migrated to the newest schema, built on first use."""
        if self.template is None:
            from engine.store.schema import upgrade
            from engine.store.models import Store

            name = f"tmpl_{self.session_tag}"
            self.create(name, "template0", per_test=False)
            store = Store(self.url_of(name))
            try:
                upgrade(store)
            finally:
                store.dispose()
            self.template = name
        return self.template


_server: _Server | None = _Server(SERVER_URL) if ON_POSTGRES else None


def _pg_name(folder: Path, name: str) -> str:
    digest = hashlib.sha1(f"{folder.resolve()}/{name}".encode()).hexdigest()[:20]
    return f"t_{digest}"


def database_url(folder: Path, name: str = "test.db", *, empty: bool = False, copy_of: str | None = None) -> str:
    """The URL of the test database called ``name`` in ``folder``, created on first use.

    On SQLite: ``sqlite:///folder/name`` (the engine creates the file). On PostgreSQL: a new database holding
    the migrated schema, or nothing at all with ``empty=True`` (for ``init`` and "not initialised" tests).
    ``copy_of``: start as a copy of that test database (a SQLite file is copied if not there yet).
    """
    if _server is None:
        path = folder / name
        if copy_of is not None and not path.exists():
            shutil.copyfile(make_url(copy_of).database or "", path)
        return f"sqlite:///{path}"
    db = _pg_name(folder, name)
    if not _server.exists(db):
        if copy_of is not None:
            template = make_url(copy_of).database or ""
        elif empty:
            template = "template0"
        else:
            template = _server.schema_template()
        _server.create(db, template)
    return _server.url_of(db)


def created_databases() -> list[str]:
    """Names of the test databases created so far and not yet dropped."""
    return list(_server.created) if _server is not None else []


def drop_databases(names: list[str]) -> None:
    """Drop these test databases (closing any session still on them)."""
    if _server is not None:
        for name in names:
            _server.drop(name)


def drop_all() -> None:
    """Drop every database this session created, the template last."""
    if _server is not None:
        drop_databases(list(_server.created))
        if _server.template is not None:
            _server.drop(_server.template)
            _server.template = None
        _server.admin.dispose()
