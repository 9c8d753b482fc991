"""Shared fixtures: a fresh engine on its own database per test (SQLite, or PostgreSQL: see tests/databases.py),
a settable clock, actors."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from cli.demo import create_demo_users, load_scenarios
from engine import Engine

from tests.databases import SERVER_URL, created_databases, database_url, drop_all, drop_databases, fast_hasher

REPO = Path(__file__).resolve().parent.parent
PROCESSES = REPO / "processes"


class Clock:
    """An injectable clock that tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: Any) -> None:
        self.now += timedelta(**kwargs)


def pytest_report_header() -> str:
    return f"databases: PostgreSQL, one per test, on {SERVER_URL}" if SERVER_URL else "databases: SQLite, one per test"


@pytest.fixture(scope="session", autouse=True)
def _session_databases() -> Iterator[None]:
    """On PostgreSQL, drop whatever databases the session created."""
    yield
    drop_all()


@pytest.fixture(autouse=True)
def _test_databases() -> Iterator[None]:
    """On PostgreSQL, drop the databases a test created when it ends (those of wider fixtures stay)."""
    before = set(created_databases())
    yield
    drop_databases([name for name in created_databases() if name not in before])


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 23, 9, 0, 0))


def make_engine(tmp_path: Path, clock: Clock, **overrides: Any) -> Engine:
    """An engine on a fresh copy of the seeded database: the shipped processes deployed, the demo users there
    (another ``processes_dir`` gets its diagrams deployed on top)."""
    config = {"database_url": database_url(tmp_path, "test.db", seeded=True), "documents_dir": tmp_path / "documents"}
    config.update(overrides)
    engine = Engine(config, clock=clock, password_hasher=fast_hasher())  # type: ignore[arg-type]
    if "processes_dir" in overrides:
        engine.deploy_shipped()
    return engine


@pytest.fixture
def engine(tmp_path: Path, clock: Clock) -> Iterator[Engine]:
    eng = make_engine(tmp_path, clock)
    yield eng
    eng.dispose()


@pytest.fixture
def bare_engine(tmp_path: Path, clock: Clock) -> Iterator[Engine]:
    """An engine with the schema and the demo users but nothing deployed (for gate and deploy tests)."""
    eng = Engine({"database_url": database_url(tmp_path, "bare.db"), "documents_dir": tmp_path / "docs"},
                 clock=clock, password_hasher=fast_hasher())  # type: ignore[arg-type]
    eng.init_schema()
    create_demo_users(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def scenarios() -> dict[str, Any]:
    return {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}


# ----------------------------------------------------------------------------- web

import re  # noqa: E402

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402

from webui import create_app  # noqa: E402

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


class Staff:
    """A test client that behaves like a person with a browser: logs in, carries the CSRF token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.username: str | None = None

    def csrf_token(self) -> str:
        page = self.client.get("/login").get_data(as_text=True)
        match = CSRF_INPUT.search(page)
        assert match, "login page has no CSRF token"
        return match.group(1)

    def login(self, username: str, password: str = "baozhuang") -> "Staff":
        response = self.client.post("/login", data={"username": username, "password": password,
                                                    "csrf_token": self.csrf_token()})
        assert response.status_code == 302, f"login as {username} failed: {response.status_code}"
        self.username = username
        return self

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, **kwargs)

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """POST a form with the CSRF token added (pass csrf=False to leave it out)."""
        payload = dict(data or {})
        if kwargs.pop("csrf", True):
            payload.setdefault("csrf_token", self.csrf_token())
        return self.client.post(url, data=payload, **kwargs)


@pytest.fixture
def app(engine: Engine) -> Flask:
    return create_app({"TESTING": True, "SECRET_KEY": "test-secret"}, engine=engine)


@pytest.fixture
def client(app: Flask) -> Staff:
    return Staff(app.test_client())


@pytest.fixture
def staff(app: Flask) -> Callable[[str], Staff]:
    """Log a fresh client in as a user: ``staff("manager1")``."""
    return lambda username: Staff(app.test_client()).login(username)
