"""Helpers for the reliability proofs: API channels in-process and over real HTTP, a killable server, and a
fingerprint of everything an action may write (to prove a rejected request wrote nothing).

Databases come from the shared ``engine`` fixture (SQLite or PostgreSQL, see tests/databases.py); a server
subprocess is pointed at the same database through ``BAOZHUANG_DATABASE_URL``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import MetaData, func, select

from engine import Engine

from tests.conftest import REPO

API = "/api/v1"
BAOZHUANG = Path(sys.executable).with_name("baozhuang")
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


# ----------------------------------------------------------------------------- a real server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """``baozhuang serve`` (waitress) as a subprocess on loopback, on a given database; killable."""

    def __init__(self, database_url: str, documents: Path, log: Path) -> None:
        self.env = {**os.environ, "BAOZHUANG_DATABASE_URL": database_url, "BAOZHUANG_DOCUMENTS_DIR": str(documents),
                    "PYTHONUNBUFFERED": "1"}
        self.log = log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another ``baozhuang`` command on the same database."""
        return subprocess.run([str(BAOZHUANG), *args], capture_output=True, text=True, timeout=120, cwd=REPO,
                              env=self.env)

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([str(BAOZHUANG), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                                             "--threads", "8"], stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                            env=self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, _ = self.request("GET", API + "/openapi.json", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("server did not start:\n" + self.log.read_text(errors="replace"))

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, no rollback: the process is simply gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def request(self, method: str, path: str, body: Any = None, token: str | None = None,
                timeout: float = 30) -> tuple[int, Any]:
        """One HTTP request on a fresh connection: (status, parsed JSON body or None)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            payload = None
            if body is not None:
                payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            try:
                return response.status, json.loads(raw)
            except ValueError:
                return response.status, None
        finally:
            conn.close()


@pytest.fixture
def live_server(engine: Engine, tmp_path: Path) -> Iterator[LiveServer]:
    """A server on the ``engine`` fixture's database (not started: the test starts, kills, restarts it)."""
    server = LiveServer(engine.config.database_url, Path(engine.config.documents_dir), tmp_path / "server.log")
    yield server
    server.stop()
