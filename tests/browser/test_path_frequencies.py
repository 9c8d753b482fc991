"""How often each path is taken, on the supervision diagram in a real browser: two HV applications surveyed by
the account manager and one by the survey team, the labels on the survey gateway's flows, the line widths,
and the toggle between the durations heatmap and the path frequencies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from engine import Engine
from cli.demo import load_scenarios

from tests.browser.conftest import LiveServer, Person, initialised_server
from tests.browser.flow import assert_clean
from tests.conftest import PROCESSES, Clock
from tests.web.test_supervision import run

LABEL = "id => { const l = document.querySelector(`.djs-overlays[data-container-id='${id}'] .flow-label`);" \
        " return l && { text: l.textContent, shown: l.offsetParent !== null }; }"
ON_LINE = """id => {
  const path = document.querySelector(`[data-element-id='${id}'] .djs-visual > path`);
  const r = document.querySelector(`.djs-overlays[data-container-id='${id}'] .flow-label`).getBoundingClientRect();
  const c = new DOMPoint(r.x + r.width / 2, r.y + r.height / 2).matrixTransform(path.getScreenCTM().inverse());
  let best = Infinity;
  for (let at = 0; at <= path.getTotalLength(); at += 2) {
    const p = path.getPointAtLength(at);
    best = Math.min(best, Math.hypot(p.x - c.x, p.y - c.y));
  }
  return best;
}"""
"""How far (in diagram units) the centre of a flow's label is from the flow's line."""
WIDTH = "id => getComputedStyle(document.querySelector(`[data-element-id='${id}'] .djs-visual > path`)).strokeWidth"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own (the shared one carries other tests' demo data), with hv_solo taken twice and
    hv_team once, a few days ago."""
    server = initialised_server(tmp_path_factory.mktemp("paths"))
    clock = Clock(datetime.now() - timedelta(days=3))
    engine = Engine({"database_url": server.db, "documents_dir": str(server.root / "documents")}, clock=clock)
    scenarios = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}
    for name in ("hv_solo", "hv_solo", "hv_team"):
        run(engine, clock, scenarios[name], step_time=lambda node: timedelta(minutes=20))
    assert clock.now <= datetime.now()
    engine.dispose()
    yield server
    server.stop()


@pytest.fixture
def supervisor(browser: Any, server: LiveServer) -> Iterator[Person]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield Person(page, server).login("marketing")
    context.close()


def test_the_labels_sit_on_the_flows_and_the_toggle_switches_views(supervisor: Person) -> None:
    page = supervisor.page
    supervisor.go("/supervision/diagram?variant=hv")
    page.wait_for_selector("#heatmap.heatmap-ready")
    # the heatmap first: node badges shown, flow labels hidden, the heat legend shown
    assert page.locator("#heatmap").get_attribute("data-view") == "heat"
    assert page.locator(".heat-badge").first.is_visible()
    assert page.evaluate(LABEL, "hv_f_survey_solo") == {"text": "2 · 67%", "shown": False}
    assert page.locator(".heat-legend").is_visible() and not page.locator(".flow-legend").is_visible()

    page.check("input[name=view-choice][value=flows]")
    assert page.locator("#heatmap").get_attribute("data-view") == "flows"
    assert page.evaluate(LABEL, "hv_f_survey_solo") == {"text": "2 · 67%", "shown": True}
    assert page.evaluate(LABEL, "hv_f_survey_team") == {"text": "1 · 33%", "shown": True}
    assert page.evaluate(LABEL, "hv_f_start") == {"text": "3", "shown": True}
    assert page.evaluate(LABEL, "hv_f_approval_reject")["text"] == "0 · 0%"  # nobody sent back: drawn grey
    assert page.locator(".djs-overlays[data-container-id='hv_f_approval_reject'] .flow-label.untaken").count() == 1
    assert int(page.locator("#heatmap").get_attribute("data-flows-shown") or 0) > 40
    assert not page.locator(".heat-badge").first.is_visible()
    legend = page.locator(".flow-legend")
    assert legend.is_visible() and "分支处" in legend.inner_text()
    # the busier a flow, the wider its line
    widths = [float(page.evaluate(WIDTH, f).rstrip("px")) for f in ("hv_f_start", "hv_f_survey_solo",
                                                                    "hv_f_survey_team", "hv_f_approval_reject")]
    assert widths[0] > widths[1] > widths[2] > widths[3], widths
    # a label sits on its flow, bent ones too (the approval's pass turns a corner)
    for flow in ("hv_f_survey_solo", "hv_f_approval_pass", "hv_f_start", "hv_f_approval_reject"):
        assert page.evaluate(ON_LINE, flow) < 10, flow  # a few screen pixels at the fitted zoom
    assert "view=flows" in page.url  # a link to this view opens it again
    supervisor.shot("path-frequencies")

    # the statistics form keeps the chosen view; back to the heatmap
    page.click("form.supervision-filters button[type=submit]")
    page.wait_for_selector("#heatmap.heatmap-ready")
    assert page.locator("#heatmap").get_attribute("data-view") == "flows"
    assert page.evaluate(LABEL, "hv_f_survey_team") == {"text": "1 · 33%", "shown": True}
    page.check("input[name=view-choice][value=heat]")
    assert page.evaluate(LABEL, "hv_f_survey_solo")["shown"] is False
    assert page.locator(".heat-badge").first.is_visible()
    assert "hv_f_" not in page.locator("main").inner_text()  # flow ids never shown
    supervisor.shot("path-frequencies-heat")
    assert_clean(supervisor, "path frequencies")
