"""Shared fixtures: a fresh engine on its own SQLite database per test, a settable clock, actors."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest

from engine import Engine
from engine.demo import create_demo_users, load_scenarios

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


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 23, 9, 0, 0))


def make_engine(tmp_path: Path, clock: Clock, **overrides: Any) -> Engine:
    """An engine on a fresh SQLite database with the shipped processes deployed and demo users."""
    config = {"database_url": f"sqlite:///{tmp_path / 'test.db'}", "documents_dir": tmp_path / "documents"}
    config.update(overrides)
    engine = Engine(config, clock=clock)
    engine.init_schema()
    engine.deploy_shipped("system")
    create_demo_users(engine)
    return engine


@pytest.fixture
def engine(tmp_path: Path, clock: Clock) -> Iterator[Engine]:
    eng = make_engine(tmp_path, clock)
    yield eng
    eng.dispose()


@pytest.fixture
def bare_engine(tmp_path: Path, clock: Clock) -> Iterator[Engine]:
    """An engine with the schema but nothing deployed (for gate and deploy tests)."""
    eng = Engine({"database_url": f"sqlite:///{tmp_path / 'bare.db'}", "documents_dir": tmp_path / "docs"},
                 clock=clock)
    eng.init_schema()
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def scenarios() -> dict[str, Any]:
    return {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}
