"""The customer progress page on a phone, against the real server: a customer who mistypes the digits a few
times is asked to wait some seconds — never locked out — and then sees where the application stands."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cli.demo import load_scenarios

from tests.browser.conftest import ARTIFACTS, LiveServer
from tests.conftest import PROCESSES


def accept(live_server: LiveServer, folder: Path) -> str:
    """An LV application accepted at the counter (its contact phone ends in the scenario's digits)."""
    scenario = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}["lv_residential"]
    data = folder / "accept.json"
    data.write_text(json.dumps(scenario.start, ensure_ascii=False), encoding="utf-8")
    match = re.search(r"\b(LV\d{14})\b", live_server.cli("start", "lv", "--data", str(data), "--as", "frontdesk"))
    assert match
    return match.group(1)


def test_a_customer_who_mistypes_waits_seconds_then_sees_the_progress(browser: Any, live_server: LiveServer,
                                                                       tmp_path: Path) -> None:
    app_no = accept(live_server, tmp_path)
    phone = json.loads((tmp_path / "accept.json").read_text(encoding="utf-8"))["contact_phone"]
    digits = re.sub(r"\D", "", phone)[-4:]
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()
    page.set_default_timeout(15_000)

    def look_up(tail: str) -> None:
        page.goto(live_server.url + "/progress")
        page.fill("input[name=app_no]", app_no)
        page.fill("input[name=phone_tail]", tail)
        with page.expect_navigation():
            page.click("button[type=submit]")

    try:
        for wrong in ("0000", "1111", "2222", "3333", "4444"):
            look_up(wrong)
            assert "未查询到匹配的申请" in page.inner_text("#progress-message")
        look_up(digits)  # right now, but asked to wait a little first
        message = page.inner_text("#progress-message")
        seconds = int(re.search(r"请 (\d+) 秒后再试", message).group(1))  # type: ignore[union-attr]
        assert 1 <= seconds <= 30 and page.locator("#progress").count() == 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "progress-wait.png"), full_page=True)
        page.wait_for_timeout(seconds * 1000 + 200)
        look_up(digits)
        assert page.locator("#progress").is_visible()
        assert app_no in page.inner_text("#progress") and "受理签约" in page.inner_text("#progress")  # its first milestone
        page.screenshot(path=str(ARTIFACTS / "progress-after-wait.png"), full_page=True)
    finally:
        context.close()
