"""Browser tests: a real server (waitress, subprocess) on loopback and Debian's Chromium via Playwright.

Playwright never downloads a browser here: it drives /usr/bin/chromium (installed by scripts/setup.sh).
Screenshots of key pages go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.databases import database_url
from tests.live import LiveServer

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("BAOZHUANG_CHROMIUM", "/usr/bin/chromium")


def initialised_server(root: Path) -> LiveServer:
    """A real server, started, on a database its own ``baozhuang init`` set up."""
    server = LiveServer(root, database_url(root, "browser.db", empty=True))
    server.cli("init")
    server.start()
    return server


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server for the session's browser tests."""
    server = initialised_server(tmp_path_factory.mktemp("live"))
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
