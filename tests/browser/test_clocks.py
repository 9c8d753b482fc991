"""Policy clocks (时限) in a real browser: an application's clocks on its page, the task list sorted by the risk of
missing a limit, and the customer's page promising when the answer comes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta


import pytest

from cli.demo import actor_for, do_field_work, load_scenarios
from engine import Engine

from tests.browser.conftest import REPO, LiveServer, Person
from tests.browser.flow import assert_clean

SCENARIOS = {s.name: s for s in load_scenarios(REPO / "processes" / "paths.json")}
MARK = "时限演示"  # in the customer names of this module's applications, to find them in the shared lists
PHONE = "13700002468"


@dataclass
class Clocked:
    """The applications this module made: a history, and three open ones."""

    quick: str  # LV residential, signed at once: at the works, little risk
    slow: str  # LV residential, accepted later, waiting at the signing: the history says it will be late
    reply: str  # LV non-residential at the survey: the customer waits for the supply-plan reply
    hv: str  # HV at the survey, its reply due in the next year (a provisional calendar)


def _drive(engine: Engine, clock: list[datetime], name: str, customer: str, days: list[int]) -> str:
    """Accept now and complete the first len(days) tasks, each after that many working days."""
    scenario = SCENARIOS[name]
    start = {**scenario.start, "customer_name": customer, "contact_phone": PHONE}
    result = engine.start(scenario.process, start, "frontdesk")
    for step, wait in zip(scenario.steps, days):
        task = next(t for t in result.ready_tasks if t.node_id == step.node)
        clock[0] = engine.calendar().add_working_days(clock[0], wait) - timedelta(hours=10) if wait else clock[0]
        actor = actor_for(engine, task.role, task.assignee)
        do_field_work(engine, task.id, actor)
        result = engine.complete(task.id, actor, step.data)
    return result.app_no


@pytest.fixture(scope="module")
def clocked(live_server: LiveServer) -> Iterator[Clocked]:
    now = datetime.now()
    clock = [now - timedelta(days=90)]
    engine = Engine({"database_url": live_server.db, "documents_dir": str(live_server.root / "documents")},
                    clock=lambda: clock[0])
    try:
        for n in range(6):  # history: residential signings that took 6 working days, connections 1
            clock[0] = now - timedelta(days=90 - 8 * n)
            _drive(engine, clock, "lv_residential", f"{MARK}历史{n}", [6, 1, 0])
            clock[0] = now - timedelta(days=88 - 8 * n)
            _drive(engine, clock, "lv_non_residential", f"{MARK}方案历史{n}", [2, 5, 1, 1, 0])
        clock[0] = now - timedelta(hours=3)
        quick = _drive(engine, clock, "lv_residential", f"{MARK}甲", [0])
        clock[0] = now - timedelta(hours=2)
        slow = _drive(engine, clock, "lv_residential", f"{MARK}乙", [])
        reply = _drive(engine, clock, "lv_non_residential", f"{MARK}丙", [])
        hv = _drive(engine, clock, "hv_solo", f"{MARK}丁", [])
        clock[0] = now
        engine.refresh_forecasts(force=True)  # what the worker does every minute
        yield Clocked(quick, slow, reply, hv)
    finally:
        engine.dispose()


def test_the_application_page_shows_its_clocks(person: Person, clocked: Clocked) -> None:
    page = person.page
    person.login("manager1")
    person.go(f"/applications/{clocked.hv}")
    table = page.locator("#clocks table.clocks")
    table.wait_for()
    row = table.locator("tr[data-clock='plan_reply']")
    text = row.inner_text()
    assert "供电方案答复" in text and "/ 15 个工作日" in text and "计时中" in text
    deadline = row.locator("td").nth(5).inner_text()
    assert re.match(r"\d{4}-\d{2}-\d{2}", deadline)
    if int(deadline[:4]) > 2026:
        assert "（暂定日历）" in deadline  # 2027's make-up working days are not known yet
    evidence = page.locator("#first-contact").inner_text()
    assert "客户首次申请" in evidence and "受理员录入" in evidence
    assert "plan_reply" not in page.locator("#clocks").inner_text()
    assert_clean(person, "申请页（时限）")
    person.shot("clocks-01-application")


def test_the_task_list_sorts_by_the_risk_of_missing_a_limit(person: Person, clocked: Clocked) -> None:
    page = person.page
    person.login("marketing")
    person.go(f"/?scope=all&q={MARK}")

    def order() -> list[str]:
        numbers = [re.sub(r"\s+", "", n) for n in page.locator("table.tasks tbody tr td a.mono").all_inner_texts()]
        return [n for n in numbers if n in (clocked.quick, clocked.slow)]

    assert order() == [clocked.quick, clocked.slow]  # first come, first served
    page.select_option("#task-sort", "risk")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    assert "sort=risk" in page.url
    assert order() == [clocked.slow, clocked.quick]
    slow_row = page.locator("tr", has=page.locator(f"a:text('{clocked.slow}')"))
    assert "超期风险高" in slow_row.inner_text() and "低压办电全程（国家目标）" in slow_row.inner_text()
    assert_clean(person, "任务列表（按风险）")
    person.shot("clocks-02-task-list-by-risk")


def test_the_customer_page_shows_the_forecast(person: Person, clocked: Clocked) -> None:
    page = person.page
    page.context.clear_cookies()
    page.set_viewport_size({"width": 390, "height": 844})
    person.go("/progress")
    page.fill("input[name=app_no]", clocked.reply)
    page.fill("input[name=phone_tail]", PHONE[-4:])
    page.click("form[action='/progress'] button[type=submit]")
    # the reply is the milestone under way: its forecast sits with it, counted by the policy clock
    current = page.locator("#milestones .milestone-current")
    current.wait_for()
    reply = current.locator(".milestone-forecast[data-clock='plan_reply']").inner_text()
    assert re.search(r"预计 \d+ 个工作日内答复", reply), reply
    assert "办理时限 7 个工作日" in current.inner_text()
    assert page.locator("#progress-clocks li[data-clock='plan_reply']").count() == 0  # told once
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert_clean(person, "办电进度（预计答复）")
    person.shot("clocks-03-customer-forecast")

    page.fill("#first-contact-form input[name=first_contact_on]", (datetime.now() + timedelta(days=3)).date().isoformat())
    page.fill("#first-contact-form input[name=phone_tail]", PHONE[-4:])
    page.click("#first-contact-form button[type=submit]")
    error = page.locator("#first-contact-error")
    error.wait_for()
    assert "将来的日期" in error.inner_text()
    person.shot("clocks-04-customer-date-refused")
