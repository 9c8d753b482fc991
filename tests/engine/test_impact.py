"""Impact preview: recorded applications replayed on a draft show which paths change and the time saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import func, select

from engine import DiagramRejected, Engine, ImpactReport
from cli.demo import Scenario, drive
from engine.store.models import Application, AuditEvent, ProcessVersion, WorkItem
from tests.conftest import PROCESSES, Clock

REFORM = Path(__file__).parent / "fixtures" / "hv_reform.bpmn"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
# The reform drops the whole review branch: the customer's design submission and inspection request with it.
REMOVED = ("hv_design_submit", "hv_design_review", "hv_design_rectify", "hv_mid_inspection_request",
           "hv_mid_inspection", "hv_concealed_rectify")
# Hours each node's task is left open before it is completed; every other node takes 2 hours.
HOURS = {"hv_design_review": 30, "hv_design_rectify": 50, "hv_mid_inspection": 8, "hv_concealed_rectify": 20}
REQUESTS = 2 + 2  # the submission and the request, 2 hours each
SAVED = {
    "hv_team": 30 + 8 + REQUESTS,
    "hv_design_review_sendback": 30 + 50 + 30 + 8 + REQUESTS,
    "hv_mid_inspection_sendback": 30 + 8 + 20 + 8 + REQUESTS,
}
UNCHANGED = ("hv_solo", "hv_joint_review", "hv_plan_approval_sendback", "hv_completion_rectify")


def run(engine: Engine, clock: Clock, scenario: Scenario, stop_after: int | None = None) -> str:
    """Drive a scenario, leaving each task open for its HOURS before completing it."""
    steps = iter(scenario.steps)
    app_no = ""
    for result in drive(engine, scenario, stop_after):
        app_no = result.app_no
        step = next(steps, None)
        if step is not None:
            clock.advance(hours=HOURS.get(step.node, 2))
    return app_no


@pytest.fixture
def histories(engine: Engine, clock: Clock, scenarios: dict[str, Scenario]) -> dict[str, str]:
    """One finished hv application per scenario: scenario name → application number."""
    return {name: run(engine, clock, scenarios[name]) for name in (*SAVED, *UNCHANGED)}


def counts(engine: Engine) -> tuple[int, ...]:
    with engine.store.reading() as s:
        return tuple(s.scalar(select(func.count()).select_from(table)) or 0
                     for table in (Application, AuditEvent, WorkItem, ProcessVersion))


def by_app(report: ImpactReport) -> dict[str, Any]:
    return {a.app_no: a for a in report.applications}


def with_new_task(xml: bytes) -> bytes:
    """hv.bpmn with a new user task 复核勘查结果 between drafting and evaluating the supply plan."""
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
    tree = etree.fromstring(xml)
    process = tree.find("bpmn:process", ns)
    flow = process.find("bpmn:sequenceFlow[@id='hv_f_plan_drafted']", ns)
    flow.set("targetRef", "hv_recheck")
    evaluate = process.find("*[@id='hv_evaluate_supply_plan']", ns)
    evaluate.find("bpmn:incoming", ns).text = "hv_f_rechecked"
    task = etree.SubElement(process, f"{{{ns['bpmn']}}}userTask", id="hv_recheck", name="复核勘查结果")
    properties = etree.SubElement(etree.SubElement(task, f"{{{ns['bpmn']}}}extensionElements"), f"{{{SPIFF}}}properties")
    etree.SubElement(properties, f"{{{SPIFF}}}property", name="formJsonSchemaFilename", value="hv_mid_inspection.json")
    etree.SubElement(task, f"{{{ns['bpmn']}}}incoming").text = "hv_f_plan_drafted"
    etree.SubElement(task, f"{{{ns['bpmn']}}}outgoing").text = "hv_f_rechecked"
    etree.SubElement(process, f"{{{ns['bpmn']}}}sequenceFlow", id="hv_f_rechecked", sourceRef="hv_recheck",
                     targetRef="hv_evaluate_supply_plan")
    lane = process.find(".//bpmn:lane[@id='hv_lane_customer_manager']", ns)
    etree.SubElement(lane, f"{{{ns['bpmn']}}}flowNodeRef").text = "hv_recheck"
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def test_reform_draft_changes_exactly_the_applications_that_passed_the_removed_reviews(
        engine: Engine, histories: dict[str, str]) -> None:
    before = counts(engine)
    report = engine.impact_preview("hv", REFORM.read_bytes(), by="analyst")
    assert counts(engine) == before
    apps = by_app(report)
    assert set(apps) == set(histories.values())
    assert report.base_version == 1 and report.process_key == "hv"
    for name, hours in SAVED.items():
        impact = apps[histories[name]]
        assert impact.changed, name
        assert impact.saved_hours == pytest.approx(hours), name
        assert set(impact.skipped_nodes) <= set(REMOVED) and "hv_mid_inspection" in impact.skipped_nodes
        assert impact.path_after == tuple(n for n in impact.path_before if n not in REMOVED)
        assert impact.path_after[-1] == "hv_follow_up" and impact.new_nodes == ()
    assert apps[histories["hv_design_review_sendback"]].skipped_nodes == (
        "hv_design_submit", "hv_design_review", "hv_design_rectify", "hv_mid_inspection_request", "hv_mid_inspection")
    for name in UNCHANGED:
        impact = apps[histories[name]]
        assert not impact.changed and impact.saved_hours == 0, name
        assert impact.path_after == impact.path_before and impact.skipped_nodes == ()
    assert (report.changed_count, report.unchanged_count) == (len(SAVED), len(UNCHANGED))
    nodes = {n.node_id: n for n in report.node_summary}
    assert set(nodes) == set(REMOVED)
    assert nodes["hv_design_review"].applications == 3
    assert nodes["hv_design_review"].total_hours == pytest.approx(30 * 4)
    assert nodes["hv_design_review"].mean_hours == pytest.approx(40)
    assert nodes["hv_concealed_rectify"].name == "隐蔽工程整改"
    mean = sum(SAVED.values()) / len(SAVED)
    assert report.summary[0] == f"{len(histories)} 个申请中有 3 个的路径将改变；预计每个受影响的申请平均缩短 {mean:.1f} 小时"


def test_running_application_waiting_at_a_removed_review_moves_on(
        engine: Engine, clock: Clock, scenarios: dict[str, Scenario]) -> None:
    app_no = run(engine, clock, scenarios["hv_team"], stop_after=7)  # waiting at 设计文件审查
    impact = by_app(engine.impact_preview("hv", REFORM.read_bytes(), by="analyst"))[app_no]
    assert impact.status == "running" and impact.changed
    assert impact.path_after == tuple(n for n in impact.path_before if n != "hv_design_submit")
    assert impact.skipped_nodes == ("hv_design_submit", "hv_design_review") and impact.saved_hours == 2
    assert "竣工验收申请" in impact.note


def test_identical_draft_changes_nothing(engine: Engine, clock: Clock, histories: dict[str, str],
                                         scenarios: dict[str, Scenario]) -> None:
    run(engine, clock, scenarios["hv_team"], stop_after=8)
    report = engine.impact_preview("hv", (PROCESSES / "hv.bpmn").read_bytes(), by="analyst")
    assert report.changed_count == 0 and report.unchanged_count == len(histories) + 1
    assert report.node_summary == ()
    assert all(a.note == "路径不变" and a.saved_hours == 0 for a in report.applications)
    assert report.summary == (f"{len(histories) + 1} 个申请的路径都不会改变",)


def test_new_user_task_on_the_common_path_asks_for_new_input(engine: Engine, histories: dict[str, str]) -> None:
    report = engine.impact_preview("hv", with_new_task((PROCESSES / "hv.bpmn").read_bytes()), by="analyst")
    assert report.changed_count == len(histories)
    for impact in report.applications:
        assert impact.new_nodes == ("hv_recheck",)
        assert impact.note == "路径在此处改变，需要新的输入：复核勘查结果"
        assert impact.path_after == impact.path_before[:2]  # survey, draft plan; then the draft waits
        assert impact.skipped_nodes == () and impact.saved_hours == 0
    assert any("需要新的输入：复核勘查结果" in line for line in report.summary)


def test_rejected_draft_raises_and_writes_nothing(engine: Engine, histories: dict[str, str]) -> None:
    before = counts(engine)
    broken = REFORM.read_bytes().replace(b'targetRef="hv_completion_request"', b'targetRef="hv_nowhere"')
    with pytest.raises(DiagramRejected):
        engine.impact_preview("hv", broken, by="analyst")
    assert counts(engine) == before


def test_limit_takes_the_most_recent_applications(engine: Engine, histories: dict[str, str]) -> None:
    report = engine.impact_preview("hv", REFORM.read_bytes(), limit=2, by="analyst")
    assert [a.app_no for a in report.applications] == list(histories.values())[::-1][:2]
