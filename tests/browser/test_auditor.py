"""An auditor steps through a finished high-voltage application: the diagram fills up step by step, the data
table follows, the URL keeps the step, and today's rules can be replayed against the record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import Engine
from cli.demo import drive, load_scenarios

from tests.browser.conftest import ARTIFACTS, REPO, LiveServer, Person
from tests.browser.flow import assert_clean

CUSTOMER = "稽查重放精密制造有限公司"
COMPLETED = "#replay-diagram .djs-element.completed"


@pytest.fixture
def finished_hv(live_server: LiveServer) -> Iterator[str]:
    """A high-voltage application driven to the end along hv_solo, on the live server's database (the engine
    the command line uses, without a process per step)."""
    engine = Engine({"database_url": live_server.db, "documents_dir": str(live_server.root / "documents")})
    scenario = next(s for s in load_scenarios(REPO / "processes" / "paths.json") if s.name == "hv_solo")
    scenario = type(scenario)(scenario.name, scenario.title, scenario.process,
                              {**scenario.start, "customer_name": CUSTOMER}, scenario.steps)
    last = None
    for last in drive(engine, scenario):
        pass
    engine.dispose()
    assert last is not None and last.status == "completed"
    yield last.app_no


def _state(person: Person) -> tuple[str, int, str]:
    """The heading, the number of completed nodes marked on the diagram, and the data table's text."""
    page = person.page
    return (page.locator("#step-heading").inner_text(), page.locator(COMPLETED).count(),
            page.locator("#step-data").inner_text())


def _diagram_shot(person: Person, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    person.page.locator(".replay-main").screenshot(path=str(path))
    return path


def test_auditor_steps_through_a_finished_application(person: Person, finished_hv: str) -> None:
    page = person.page
    person.login("auditor")
    page.click("nav.mainnav >> text=稽查")
    page.fill("input[name=customer]", CUSTOMER)
    page.click("button[type=submit].primary")
    page.locator(f"table.audit-results a.app-no:text('{finished_hv}')").click()
    page.wait_for_selector("#replay.replay-ready")
    page.wait_for_selector(COMPLETED)
    assert "/audit/" + finished_hv in page.url
    assert "审计链完整" in page.locator(".chain-verdict").inner_text()
    assert page.locator(".replay-verdict.audit-ok").inner_text() == "✔ 重放核验通过：每一步的结果都与记录一致"
    total = page.locator("#replay-steps li").count()
    assert total == 14  # the acceptance and hv_solo's 13 tasks

    heading, completed, data = _state(person)
    assert heading.startswith("第 1 步 / 共 14 步：受理申请")
    assert completed > 0 and CUSTOMER in data and "勘查意见" not in data
    assert page.locator("#replay-diagram .djs-element.active").count() == 1  # the survey waits
    person.shot("audit-01-step-1-accepted")

    # the next button: one task more is done, the data grows, the change is highlighted
    seen = [completed]
    page.click("#step-next")
    heading, completed, data = _state(person)
    assert heading.startswith("第 2 步") and "现场勘查" in heading
    assert completed > seen[-1] and "勘查意见" in data
    assert page.locator("#step-data tr.change-added").count() >= 3
    assert "step=2" in page.url
    seen.append(completed)
    person.shot("audit-02-step-2-survey")

    # the arrow keys: forward to the parallel contract / meter stage, each step marking more
    texts = {data}
    for number in range(3, 9):
        page.keyboard.press("ArrowRight")
        heading, completed, data = _state(person)
        assert heading.startswith(f"第 {number} 步"), heading
        assert completed > seen[-1], f"step {number}: {completed} completed after {seen[-1]}"
        seen.append(completed)
        texts.add(data)
    assert len(texts) == 7  # every step changed the data
    assert page.locator("#replay-steps li.current .step-no").inner_text() == "8"
    assert page.locator("#replay-diagram .djs-element.active").count() == 2  # the contract and the meter
    _diagram_shot(person, "audit-03-step-8-parallel")

    page.keyboard.press("ArrowLeft")
    heading, completed, _ = _state(person)
    assert heading.startswith("第 7 步") and completed == seen[6] and "step=7" in page.url

    # a link keeps the step: opened afresh, it shows the same state
    person.go(f"/audit/{finished_hv}?step=8")
    page.wait_for_selector("#replay.replay-ready")
    page.wait_for_selector(COMPLETED)
    heading, completed, _ = _state(person)
    assert heading.startswith("第 8 步") and completed == seen[7]

    # to the end: nothing waits any more
    for _ in range(total):
        page.keyboard.press("ArrowRight")
    heading, completed, data = _state(person)
    assert heading.startswith("第 14 步") and completed > seen[-1]
    assert page.locator("#replay-diagram .djs-element.active").count() == 0
    assert page.locator("#step-next").get_attribute("aria-disabled") == "true"
    person.shot("audit-04-step-14-done")

    # today's rules: the same path, so nothing is marked as different
    page.check("#rerun-toggle")
    page.wait_for_selector("#rerun-verdict:not([hidden])")
    assert "按今日规则重放" in page.locator("#rerun-verdict").inner_text()
    assert "mode=rerun" in page.url
    assert page.locator("#replay-steps li").count() == total
    assert page.locator("#replay-steps li.diverges").count() == 0
    person.shot("audit-05-rerun")
    assert_clean(person, "audit replay")


def test_other_staff_do_not_see_the_audit_pages(person: Person, finished_hv: str) -> None:
    person.login("manager1")
    assert person.page.locator("nav.mainnav >> text=稽查").count() == 0
    response = person.go(f"/audit/{finished_hv}")
    assert response is not None and response.status == 403
