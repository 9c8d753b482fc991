"""Helpers for the reliability proofs: API channels in-process and over real HTTP, a killable server, and a
fingerprint of everything an action may write (to prove a rejected request wrote nothing).

Databases come from the shared ``engine`` fixture (SQLite or PostgreSQL, see tests/databases.py); a server
subprocess is pointed at the same database through ``BAOZHUANG_DATABASE_URL``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import MetaData, func, select

from engine import Engine

from tests.live import LiveServer

API = "/api/v1"
CHINESE = re.compile(r"[\u4e00-\u9fff]")

class Api:
    """A channel calling the JSON API in-process with one user's token."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(API + path, headers=self.headers, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        if body is not None:
            kwargs["json"] = body
        return self.client.post(API + path, headers=self.headers, **kwargs)

    def post_raw(self, path: str, payload: bytes, content_type: str = "application/json") -> Any:
        return self.client.post(API + path, headers=self.headers, data=payload, content_type=content_type)


@pytest.fixture
def api(app: Flask, engine: Engine) -> Callable[[str], Api]:
    """An API channel acting as a user: ``api("frontdesk")``."""
    return lambda username: Api(app.test_client(), engine.create_api_token(username, "可靠性测试", by="admin"))


class Fingerprint:
    """What an action may write, read back: the application rows of one application in full (its header,
    workflow rows, work items, audit events, documents) and the row count of every table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.meta = MetaData()
        self.meta.reflect(engine.store.sa_engine)

    def __call__(self, app_no: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with self.engine.store.sa_engine.connect() as conn:
            for name, table in sorted(self.meta.tables.items()):
                out[name] = conn.execute(select(func.count()).select_from(table)).scalar_one()
            if app_no is not None:
                apps = self.meta.tables["applications"]
                row = conn.execute(select(apps).where(apps.c.app_no == app_no)).one()
                out["application"] = repr(tuple(row))
                for name, table in sorted(self.meta.tables.items()):
                    if "application_id" in table.c:
                        rows = conn.execute(select(table).where(table.c.application_id == row.id)).all()
                        out[f"{name}.rows"] = hashlib.sha256(
                            "\n".join(sorted(repr(tuple(r)) for r in rows)).encode()).hexdigest()
        return out


def assert_chinese_error(response: Any, status: int) -> dict[str, Any]:
    """The response is a JSON error with this status and a Chinese message; returns the error object."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    body = response.get_json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), response.get_data(as_text=True)[:500]
    error = body["error"]
    assert error["status"] == status and CHINESE.search(error["message"]), error
    return dict(error)


@pytest.fixture
def live_server(engine: Engine, tmp_path: Path) -> Iterator[LiveServer]:
    """A server on the ``engine`` fixture's database (not started: the test starts, kills, restarts it)."""
    server = LiveServer(tmp_path / "server", engine.config.database_url, documents=engine.config.documents)
    yield server
    server.stop()
