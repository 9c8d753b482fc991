"""Two web hosts sharing nothing but the database — each ``baozhuang serve`` in its own working directory, no
shared disk, documents kept in the database — behave as one: a document uploaded through one downloads through
the other, a session begun on one is good on the other, and the customer page's limits hold across both.

On the PostgreSQL run (``make test-pg``) the database is one PostgreSQL server, as on several real hosts; on
SQLite the two processes share the database file and nothing else."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from engine import Engine
from cli.demo import Scenario, actor_for, do_field_work, drive

from tests.live import LiveServer

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PDF = b"%PDF-1.4\n% a completion report, uploaded on host A\n"


class Host(LiveServer):
    """``baozhuang serve`` in a working directory of its own: its instance folder (and so its documents folder
    and any key file) is there; only the database is shared, and documents are kept in it."""

    def __init__(self, folder: Path, database_url: str) -> None:
        super().__init__(folder, database_url, threads=4)
        self.folder = folder
        self.env["BAOZHUANG_DOCUMENTS_BACKEND"] = "database"

    def browser(self) -> requests.Session:
        return requests.Session()

    def token(self, browser: requests.Session, path: str) -> str:
        match = CSRF.search(browser.get(self.url + path, timeout=30).text)
        assert match, path
        return match.group(1)

    def login(self, browser: requests.Session, username: str) -> None:
        response = browser.post(self.url + "/login", data={"username": username, "password": "baozhuang",
                                                           "csrf_token": self.token(browser, "/login")},
                                allow_redirects=False, timeout=30)
        assert response.status_code == 302, response.text[:300]

    def look_up(self, app_no: str, digits: str) -> requests.Response:
        browser = self.browser()
        return browser.post(self.url + "/progress", data={"app_no": app_no, "phone_tail": digits,
                                                          "csrf_token": self.token(browser, "/progress")}, timeout=30)


@pytest.fixture
def hosts(engine: Engine, tmp_path: Path) -> Iterator[tuple[Host, Host]]:
    a, b = Host(tmp_path / "host-a", engine.config.database_url), Host(tmp_path / "host-b", engine.config.database_url)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


def at_completion_request(engine: Engine, scenario: Scenario) -> Any:
    result = None
    for result in drive(engine, scenario, stop_after=5):
        pass
    assert result is not None
    (task,) = [t for t in result.ready_tasks if t.node_id == "hv_completion_request"]
    do_field_work(engine, task.id, actor_for(engine, task.role, task.assignee))
    return task


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.suffix not in (".log",)]


def test_a_document_uploaded_through_one_host_downloads_through_the_other(
        engine: Engine, scenarios: dict[str, Scenario], hosts: tuple[Host, Host]) -> None:
    a, b = hosts
    task = at_completion_request(engine, scenarios["hv_solo"])
    on_a = a.browser()
    a.login(on_a, "manager1")
    form = {"completion_requested_at": "2025-06-02T10:00", "completion_documents": ["test_reports",
                                                                                    "constructor_qualification"],
            "csrf_token": a.token(on_a, f"/tasks/{task.id}")}
    response = on_a.post(f"{a.url}/tasks/{task.id}", data=form, allow_redirects=False, timeout=60,
                         files={"doc:completion_report": ("竣工报告.pdf", PDF, "application/pdf")})
    assert response.status_code == 302, response.text[:500]
    (doc,) = [d for d in engine.application(task.app_no).documents if d.kind == "upload:completion_report"]

    on_b = b.browser()
    b.login(on_b, "auditor")
    download = on_b.get(f"{b.url}/documents/{doc.id}", timeout=30)
    assert download.status_code == 200 and download.content == PDF
    # The bytes live in the database: neither host's working directory holds them.
    assert not any(p.read_bytes() == PDF for p in files_under(a.folder) + files_under(b.folder))
    # The session manager1 began on host A is good on host B (one key for both, kept in the database).
    continued = requests.Session()
    continued.cookies.update(on_a.cookies)
    page = continued.get(f"{b.url}/applications/{task.app_no}", allow_redirects=False, timeout=30)
    assert page.status_code == 200 and "竣工报告.pdf" in page.text


def test_the_customer_page_limits_hold_across_both_hosts(engine: Engine, scenarios: dict[str, Scenario],
                                                         hosts: tuple[Host, Host]) -> None:
    a, b = hosts
    app_no = next(drive(engine, scenarios["lv_residential"], stop_after=0)).app_no
    waits: list[int] = []
    for n in range(40):  # guess on host A until it makes the guesser wait several seconds
        response = a.look_up(app_no, f"{n:04d}")
        if response.status_code == 429:
            waits.append(int(response.headers["Retry-After"]))
            if waits[-1] >= 8:
                break
            time.sleep(waits[-1])
        else:
            assert response.status_code == 200 and "未查询到匹配的申请" in response.text
    assert waits[:3] == [2, 4, 8], waits
    refused = b.look_up(app_no, "5678")  # the right digits, on the other host, within the wait
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 8
    assert "秒后再试" in refused.text and app_no not in refused.text
    time.sleep(int(refused.headers["Retry-After"]))
    answered = b.look_up(app_no, "5678")  # no lock-out: once the wait is over the customer is answered
    assert answered.status_code == 200 and app_no in answered.text
