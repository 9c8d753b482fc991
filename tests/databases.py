"""Test databases: a SQLite file per test, or with ``BAOZHUANG_TEST_DATABASE_URL`` a PostgreSQL database per test.

``BAOZHUANG_TEST_DATABASE_URL`` names a PostgreSQL server (``postgresql+psycopg://postgres@127.0.0.1:55432/postgres``,
what ``scripts/pg.sh start`` prints).

Building a database is the slow part of a test (ten migrations, three diagrams parsed and deployed, fifteen
demo users), so it is done once per session into a template: ``seeded`` (migrated, the shipped processes
deployed, the demo users and stations created) or merely migrated. Each test's database is a copy of one — a
file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL — dropped when the test ends.

A database is named by a folder and a file name, like the SQLite file it stands for: asking twice for the
same folder and name gives the same database, so a test can open it again from another engine or process.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
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
        self.seeded: str | None = None
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
            name = f"tmpl_{self.session_tag}"
            self.create(name, "template0", per_test=False)
            build(self.url_of(name), seeded=False)
            self.template = name
        return self.template

    def seeded_template(self) -> str:
        """A database migrated, with the shipped processes and demo users, built on first use."""
        if self.seeded is None:
            name = f"seed_{self.session_tag}"
            self.create(name, self.schema_template(), per_test=False)
            build(self.url_of(name), seeded=True)
            self.seeded = name
        return self.seeded


_server: _Server | None = _Server(SERVER_URL) if ON_POSTGRES else None
_sqlite_seeded: Path | None = None

FAST_HASHER_PARAMETERS = {"n": 2, "r": 1, "p": 1}
"""scrypt as in production, with the cheapest parameters: the demo users' hashes in test databases cost
nothing to make and still check with the production hasher (the parameters travel with each hash)."""


def fast_hasher() -> object:
    """The password hasher tests use: real scrypt, cheapest parameters."""
    from engine import Scrypt

    return Scrypt(**FAST_HASHER_PARAMETERS)


def build(url: str, *, seeded: bool) -> None:
    """Migrate a database; when ``seeded``, also deploy the shipped processes and create the demo users."""
    from cli.demo import create_demo_users
    from engine import Engine

    engine = Engine({"database_url": url, "documents_dir": Path(tempfile.gettempdir()) / "baozhuang-seed-docs"},
                    password_hasher=fast_hasher())  # type: ignore[arg-type]
    try:
        engine.init_schema()
        if seeded:
            engine.deploy_shipped()
            create_demo_users(engine)
            engine.optimize()
    finally:
        engine.dispose()


def _sqlite_seed_file() -> Path:
    """The session's seeded SQLite database, built on first use."""
    global _sqlite_seeded
    if _sqlite_seeded is None:
        folder = Path(tempfile.mkdtemp(prefix="baozhuang-seed-"))
        path = folder / "seeded.db"
        build(f"sqlite:///{path}", seeded=True)
        _sqlite_seeded = path
    return _sqlite_seeded


def _pg_name(folder: Path, name: str) -> str:
    digest = hashlib.sha1(f"{folder.resolve()}/{name}".encode()).hexdigest()[:20]
    return f"t_{digest}"


def database_url(folder: Path, name: str = "test.db", *, empty: bool = False, copy_of: str | None = None,
                 seeded: bool = False) -> str:
    """The URL of the test database called ``name`` in ``folder``, created on first use.

    ``seeded``: a copy of the session's seeded database (processes deployed, demo users). Otherwise, on SQLite,
    ``sqlite:///folder/name`` (the engine creates the file); on PostgreSQL a new database holding the migrated
    schema, or nothing at all with ``empty=True`` (for ``init`` and "not initialised" tests).
    ``copy_of``: start as a copy of that test database (a SQLite file is copied if not there yet).
    """
    if _server is None:
        path = folder / name
        if not path.exists():
            source = make_url(copy_of).database if copy_of is not None else (_sqlite_seed_file() if seeded else None)
            if source:
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, path)
        return f"sqlite:///{path}"
    db = _pg_name(folder, name)
    if not _server.exists(db):
        if copy_of is not None:
            template = make_url(copy_of).database or ""
        elif empty:
            template = "template0"
        elif seeded:
            template = _server.seeded_template()
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
    """Drop every database this session created, the templates last."""
    global _sqlite_seeded
    if _sqlite_seeded is not None:
        shutil.rmtree(_sqlite_seeded.parent, ignore_errors=True)
        _sqlite_seeded = None
    if _server is not None:
        drop_databases(list(_server.created))
        if _server.seeded is not None:
            _server.drop(_server.seeded)
            _server.seeded = None
        if _server.template is not None:
            _server.drop(_server.template)
            _server.template = None
        _server.admin.dispose()
