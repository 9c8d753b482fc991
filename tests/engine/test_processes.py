"""Every path of the three shipped processes, end to end through the facade, with reloads."""

from __future__ import annotations

from typing import Any

import pytest

from engine import Engine
from cli.demo import Scenario, actor_for, do_field_work, load_scenarios

from tests.conftest import PROCESSES

SCENARIOS = load_scenarios(PROCESSES / "paths.json")


def run_with_reload(engine: Engine, scenario: Scenario) -> tuple[Any, list[str], list[int]]:
    """Drive a scenario; drop the in-memory workflow halfway so the rest runs from the database."""
    result = engine.start(scenario.process, scenario.start, "frontdesk")
    seen: list[str] = []
    parallel_widths = [len(result.ready_tasks)]
    middle = len(scenario.steps) // 2
    for index, step in enumerate(scenario.steps):
        if index == middle:
            assert engine.stored_state(result.app_no) == engine.cached_state(result.app_no)
            engine.forget_cached_workflows()
        task = next((t for t in result.ready_tasks if t.node_id == step.node), None)
        assert task is not None, f"{scenario.name} 第 {index + 1} 步：期望 {step.node}，待办 {[t.node_id for t in result.ready_tasks]}"
        do_field_work(engine, task.id, actor_for(engine, task.role, task.assignee))
        result = engine.complete(task.id, actor_for(engine, task.role, task.assignee), step.data)
        assert result.status != "error", result.error_message
        # the step's answer lists exactly the tasks the database holds open, in the task lists' order
        assert list(result.ready_tasks) == engine.tasks(app_no=result.app_no)
        seen.append(step.node)
        parallel_widths.append(len(result.ready_tasks))
    return result, seen, parallel_widths


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_every_path_runs_to_the_end(engine: Engine, scenario: Scenario) -> None:
    result, seen, _ = run_with_reload(engine, scenario)
    assert result.status == "completed"
    assert result.ready_tasks == ()
    app = engine.application(result.app_no)
    assert app.completed_at is not None
    assert engine.verify_audit(result.app_no).intact
    completed_nodes = [e.node_id for e in app.history if e.kind == "task.completed"]
    assert completed_nodes == seen


def _app_after(engine: Engine, name: str) -> Any:
    scenario = next(s for s in SCENARIOS if s.name == name)
    result, seen, widths = run_with_reload(engine, scenario)
    return engine.application(result.app_no), seen, widths


def test_hv_solo_and_team_survey_follow_the_capacity_rule(engine: Engine) -> None:
    solo, seen_solo, _ = _app_after(engine, "hv_solo")
    assert solo.data["survey_mode"] == "solo" and "hv_site_survey_solo" in seen_solo
    team, seen_team, _ = _app_after(engine, "hv_team")
    assert team.data["survey_mode"] == "team" and "hv_site_survey_team" in seen_team
    assert team.data["capacity_kva"] > 3000 >= solo.data["capacity_kva"]


def test_hv_joint_review_only_where_the_rules_require_it(engine: Engine) -> None:
    joint, seen_joint, _ = _app_after(engine, "hv_joint_review")
    assert joint.data["plan_rules"]["joint_review"] is True
    assert "hv_joint_review" in seen_joint and "hv_plan_approval" not in seen_joint
    ordinary, seen_ordinary, _ = _app_after(engine, "hv_solo")
    assert ordinary.data["plan_rules"]["joint_review"] is False
    assert "hv_plan_approval" in seen_ordinary and "hv_joint_review" not in seen_ordinary


def test_hv_review_nodes_only_for_important_load_or_35kv(engine: Engine) -> None:
    _, seen_plain, _ = _app_after(engine, "hv_solo")
    assert "hv_design_review" not in seen_plain and "hv_mid_inspection" not in seen_plain
    _, seen_team, _ = _app_after(engine, "hv_team")
    assert "hv_design_review" in seen_team and "hv_mid_inspection" in seen_team


@pytest.mark.parametrize("name,review,rectify", [
    ("hv_design_review_sendback", "hv_design_review", "hv_design_rectify"),
    ("hv_mid_inspection_sendback", "hv_mid_inspection", "hv_concealed_rectify"),
    ("hv_completion_rectify", "hv_completion_inspection", "hv_completion_rectify"),
])
def test_hv_send_back_loops_return_to_the_review(engine: Engine, name: str, review: str, rectify: str) -> None:
    _, seen, _ = _app_after(engine, name)
    assert seen.count(review) == 2
    assert seen.index(review) < seen.index(rectify) < len(seen) - 1 - seen[::-1].index(review)


def test_hv_contract_and_meter_run_in_parallel_and_the_contract_is_generated(engine: Engine) -> None:
    app, seen, widths = _app_after(engine, "hv_solo")
    assert max(widths) >= 2  # contract signing and meter installation open at the same time
    kinds = {d.kind for d in app.documents}
    assert any("hv_supply" in k for k in kinds), kinds
    assert any(d.filename.endswith(".docx") for d in app.documents)


def test_lv_residential_is_two_steps_with_the_contract_at_acceptance(engine: Engine) -> None:
    scenario = next(s for s in SCENARIOS if s.name == "lv_residential")
    started = engine.start("lv", scenario.start, "frontdesk")
    assert engine.application(started.app_no).documents, "居民供用电协议应在受理时生成"
    app, seen, _ = _app_after(engine, "lv_residential")
    assert app.data["lv_rules"]["path"] == "simple"
    assert "lv_site_survey" not in seen


def test_lv_non_residential_takes_the_long_path(engine: Engine) -> None:
    app, seen, _ = _app_after(engine, "lv_non_residential")
    assert app.data["lv_rules"]["path"] == "standard"
    assert "lv_site_survey" in seen


def test_pv_opinion_letter_only_at_10kv(engine: Engine) -> None:
    low, seen_low, _ = _app_after(engine, "pv_380v")
    high, seen_high, _ = _app_after(engine, "pv_10kv")
    letter = [n for n in seen_high if n not in seen_low]
    assert letter, "10kV 路径应多出意见函节点"
    assert low.data["pv_rules"]["opinion_letter_required"] is False
    assert high.data["pv_rules"]["opinion_letter_required"] is True
    assert len({d.kind for d in high.documents}) >= 2  # 购售电合同 + 并网调度协议


def test_contract_pdf_is_rendered_once_and_kept(engine: Engine) -> None:
    app, _, _ = _app_after(engine, "lv_residential")
    html = next(d for d in app.documents if d.media_type == "text/html")
    info, pdf = engine.document_pdf(html.id, "manager1")
    assert pdf.startswith(b"%PDF") and info.filename.endswith(".pdf")
    again, pdf_again = engine.document_pdf(html.id, "manager1")
    assert again.id == info.id and pdf_again == pdf
    kinds = [e.kind for e in engine.application(app.app_no).history]
    assert kinds.count("document.rendered") == 1
    assert engine.verify_audit(app.app_no).intact
