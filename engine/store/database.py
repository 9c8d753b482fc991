"""The database: one SQLAlchemy engine per Engine, and the unit of work every action runs in.

Data access, one style per kind of work:

* the hot path (steps, task lists, sweeps, field work, supervision) uses Core statements over the
  Table constants of :mod:`engine.store.tables`, on a plain connection (:meth:`Store.begin`,
  :meth:`Store.read`): no ORM bookkeeping where every statement counts;
* administrative records (accounts, versions, drafts, calendar, meetings' minutes) may use ORM sessions
  (:meth:`Store.transaction`, :meth:`Store.reading`) over :mod:`engine.store.models`.

Either way one user action is one transaction: commit on success, everything rolled back on any error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Insert, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine as SAEngine
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.orm import Session, sessionmaker

from ..errors import ConfigurationError, Conflict, InvalidInput


READ_ONLY = "baozhuang_read_only"
"""Execution option marking a connection that only reads (SQLite then begins without taking the write lock)."""


SQLITE_SYNCHRONOUS = "FULL"
"""SQLite's durability: with FULL every commit is on disk (the WAL is synced) before the step is answered, so
a power loss loses nothing that was acknowledged. NORMAL would sync only at checkpoints: faster, but the last
steps answered 200 could vanish with the power (``bench.run`` prints what FULL costs)."""


def make_engine(url: str) -> SAEngine:
    """Create the SQLAlchemy engine; SQLite gets WAL, FULL synchronous commits, foreign keys and a busy timeout."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30}
    try:
        sa_engine = create_engine(url, **kwargs)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigurationError(
            f"数据库地址无效：{url!r}（{exc}）。例如 sqlite:///instance/baozhuang.db 或 postgresql+psycopg://用户@主机/库"
        ) from exc
    if sa_engine.dialect.name == "sqlite":

        @event.listens_for(sa_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL: readers never block writers; FULL: each commit is synced before it is answered.
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(sa_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock up front: two people completing one task queue up instead of
            # failing on a stale WAL snapshot; the second then sees the task already completed.
            # A read (Store.read) takes no lock: in WAL mode it never waits for a writer.
            read_only = conn.get_execution_options().get(READ_ONLY, False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return sa_engine


class Store:
    """Owns the database engine and hands out one transaction per user action."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sa_engine = make_engine(url)
        self._sessions = sessionmaker(self.sa_engine, expire_on_commit=False)
        self._reading_sessions = sessionmaker(self.sa_engine.execution_options(**{READ_ONLY: True}),
                                              expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll everything back on any error."""
        session = self._sessions()
        try:
            with _schema_errors(self.url), session.begin():
                yield session
        finally:
            session.close()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A unit of work on a plain connection (no ORM session): the hot paths, where the session's own
        bookkeeping costs more than their statements."""
        with _schema_errors(self.url), self.sa_engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A plain connection for reading (one snapshot; nothing it did is kept)."""
        with _schema_errors(self.url), self.sa_engine.connect() as conn:
            conn = conn.execution_options(**{READ_ONLY: True})
            try:
                yield conn
            finally:
                conn.rollback()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session."""
        session = self._reading_sessions()
        try:
            with _schema_errors(self.url):
                yield session
        finally:
            session.rollback()
            session.close()

    def upsert(self, table: Table, key: tuple[str, ...], replace: tuple[str, ...] = ()) -> Insert:
        """An INSERT that, when a row with the same ``key`` exists, sets the ``replace`` columns from the new row
        instead (or leaves the row alone when there are none): one statement for rows new and old, on SQLite
        and PostgreSQL alike (``ON CONFLICT``)."""
        dialect = postgresql if self.sa_engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table)
        if not replace:
            return statement.on_conflict_do_nothing(index_elements=list(key))
        return statement.on_conflict_do_update(index_elements=list(key),
                                               set_={c: statement.excluded[c] for c in replace})

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.sa_engine.dispose()


_MISSING_SCHEMA = ("no such table", "does not exist", "unable to open database")


@contextmanager
def _schema_errors(url: str) -> Iterator[None]:
    """A database that was never initialised, or cannot be opened, is a configuration problem.

    A value the database refuses (PostgreSQL: a NUL character, text longer than its column; SQLite accepts
    both) came from outside: it is bad input, not a server error."""
    try:
        yield
    except DataError as exc:
        text = str(exc.orig) if exc.orig is not None else str(exc)
        raise InvalidInput(f"数据无法保存：含有不允许的字符（如 NUL）或超出长度（{text}）") from exc
    except IntegrityError as exc:
        # A unique key taken by a transaction that committed first (two deploys of one process, two new users
        # of one name at the same moment on PostgreSQL; SQLite queues writers instead): the other one won.
        raise Conflict("与他人同时进行的操作冲突，对方已先完成；请刷新后重试") from exc
    except (OperationalError, ProgrammingError) as exc:
        text = str(exc.orig) if exc.orig is not None else str(exc)
        if any(marker in text for marker in _MISSING_SCHEMA):
            raise ConfigurationError(f"数据库尚未初始化或无法打开（{url}）：请先运行 baozhuang init。详情：{text}") from exc
        raise
