"""The supervisor's view in a real browser: the dashboard's charts drawn from demo data, an overdue task
highlighted in the task list, and a customer following an application on a phone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from engine import Engine
from cli.demo import DemoClock, run_demo

from tests.browser.conftest import LiveServer, Person
from tests.browser.flow import assert_clean

CHARTS = ("chart-open", "chart-durations", "chart-on-time", "chart-end-to-end", "chart-satisfaction")

# For each chart: is there a Chart.js instance on the canvas, and has it painted pixels?
DRAWN = """ids => ids.map(id => {
  const canvas = document.getElementById(id);
  const chart = window.Chart && Chart.getChart(canvas);
  if (!chart) return [id, false, 0];
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return [id, chart.data.datasets.length > 0, painted];
})"""


@pytest.fixture(scope="module")
def demo_engine(live_server: LiveServer) -> Iterator[Engine]:
    """An engine on the live server's database with demo applications (a third finished, the rest waiting)."""
    # Site work (booking, arrival, finish) reads the clock too: cap it at now, as `baozhuang demo` does.
    clock = DemoClock(datetime.now() - timedelta(days=40), until=datetime.now())
    engine = Engine({"database_url": live_server.db, "documents_dir": str(live_server.root / "documents")},
                    clock=clock)
    run_demo(engine, 24)
    assert clock.now <= datetime.now()
    yield engine
    engine.dispose()


def test_the_dashboard_draws_its_charts_from_demo_data(person: Person, demo_engine: Engine) -> None:
    page = person.page
    person.login("marketing")
    page.click("nav.mainnav >> text=监管看板")
    page.wait_for_selector("#dashboard.charts-ready")
    assert page.url.endswith("/supervision/")
    drawn = page.evaluate(DRAWN, list(CHARTS))
    for chart_id, has_data, painted in drawn:
        assert has_data, f"{chart_id}: no Chart.js instance or no datasets"
        assert painted > 500, f"{chart_id}: nothing painted"
    titles = page.evaluate("ids => ids.map(id => Chart.getChart(document.getElementById(id)).options.plugins.title.text)",
                           list(CHARTS))
    assert titles[0] == "在办任务时限状态" and titles[1] == "环节办理时长"
    axis = page.evaluate("() => Chart.getChart(document.getElementById('chart-open')).options.scales.x.title.text")
    assert axis == "任务数（件）"
    assert int(page.locator("#kpi-open").inner_text()) > 0
    assert page.locator("#open-tasks table tbody tr").count() > 0
    assert page.locator("#late-entries table.late-list tbody tr").count() > 0  # demo first contacts are old
    assert_clean(person, "监管看板")
    person.shot("supervision-01-dashboard")

    page.select_option("select[name=variant]", "hv")
    page.click(".supervision-filters button[type=submit]")
    page.wait_for_selector("#dashboard.charts-ready")
    assert "variant=hv" in page.url
    labels = page.evaluate("() => Chart.getChart(document.getElementById('chart-open')).data.labels")
    assert labels and all(label.startswith("高压·") for label in labels)
    assert_clean(person, "监管看板（高压）")
    person.shot("supervision-02-dashboard-hv")


def test_a_supervisor_sees_an_overdue_task_highlighted(person: Person, demo_engine: Engine) -> None:
    # the demo's applications were accepted weeks ago: some LV clocks (5 working days end to end) have run out
    ready = [t for t in demo_engine.tasks(status="ready", limit=500) if t.process_key == "lv"]
    clocks = demo_engine.clock_summaries(t.app_no for t in ready)
    task = next(t for t in ready if any(c.overdue for c in clocks.get(t.app_no, ())))
    page = person.page
    person.login("marketing")
    person.go(f"/?scope=all&q={task.app_no}")
    row = page.locator(f"tr[data-task-id='{task.id}']")
    row.wait_for()
    assert "overdue" in (row.get_attribute("class") or "")
    assert row.locator(".badge.clock-overdue").inner_text().startswith("已超时")
    colour = row.locator("td").first.evaluate("td => getComputedStyle(td).backgroundColor")
    assert colour == "rgb(253, 236, 234)"  # --red-bg
    assert_clean(person, "任务列表")
    person.shot("supervision-03-overdue-task")


def test_a_customer_follows_an_application_on_a_phone(person: Person, demo_engine: Engine) -> None:
    app = next(a for a in demo_engine.applications(status="running") if a.process_key == "hv")
    page = person.page
    page.set_viewport_size({"width": 390, "height": 844})
    page.context.clear_cookies()
    person.go("/progress")
    page.fill("input[name=app_no]", app.app_no.lower())
    page.fill("input[name=phone_tail]", "5678")
    page.click("button[type=submit]")
    page.wait_for_selector("#progress")
    assert page.locator("#milestones li.milestone-done").count() >= 1  # 申请受理 at least
    assert page.locator("#milestones li.milestone-current").count() <= 1
    assert page.locator("#manager").is_visible() and page.locator("#firms ul.firm-list").count() == 3
    text = page.locator("#progress").inner_text()
    assert app.customer_name not in text and "13812345678" not in text
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, "the page scrolls sideways on a phone"
    assert_clean(person, "办电进度查询")
    person.shot("progress-01-phone")
