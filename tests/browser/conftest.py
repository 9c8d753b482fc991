"""Browser tests: a real server (waitress, subprocess) on loopback and Debian's Chromium via Playwright.

Playwright never downloads a browser here: it drives /usr/bin/chromium (installed by scripts/setup.sh).
Screenshots of key pages go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.databases import database_url

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("BAOZHUANG_CHROMIUM", "/usr/bin/chromium")
BAOZHUANG = Path(sys.executable).with_name("baozhuang")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The real application served by waitress on a fresh database."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = database_url(root, "browser.db", empty=True)
        self.base = [str(BAOZHUANG), "--db", self.db, "--documents", str(root / "documents")]
        self.process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        done = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=300, cwd=REPO)
        assert done.returncode == 0, done.stderr + done.stdout
        return done.stdout

    def start(self) -> None:
        self.cli("init")
        log = open(self.root / "server.log", "wb")
        self.process = subprocess.Popen([*self.base, "serve", "--port", str(self.port)], stdout=log,
                                        stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/login", timeout=1).read()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        raise RuntimeError("server did not start: " + (self.root / "server.log").read_text(errors="replace"))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("live"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} 不存在：浏览器测试需要 Debian 的 chromium（scripts/setup.sh 会安装）")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])
        yield chromium
        chromium.close()


class Person:
    """One member of staff at a browser tab."""

    def __init__(self, page: Any, server: LiveServer) -> None:
        self.page = page
        self.server = server
        self.console_errors: list[str] = []
        page.on("console", lambda msg: self.console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))

    def go(self, path: str) -> Any:
        return self.page.goto(self.server.url + path)

    def login(self, username: str, password: str = "baozhuang") -> "Person":
        # Leave the current page first: a late response of it (the diagram's JSON, say) would set the old
        # session cookie again after clear_cookies, and the login page would then show someone signed in.
        self.page.goto("about:blank")
        self.page.context.clear_cookies()
        self.go("/login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        with self.page.expect_navigation():  # wait for the POST's answer, not the login page already loaded
            self.page.locator("main button[type=submit]").click()
        assert "/login" not in self.page.url, f"login as {username} failed"
        return self

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def person(browser: Any, live_server: LiveServer) -> Iterator[Person]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield Person(page, live_server)
    context.close()
