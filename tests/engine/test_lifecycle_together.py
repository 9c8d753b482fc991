"""The case lifecycle with the features that came beside it: the customer's notices and 回访, the kept dashboard
figures and the policy clocks that follow the approved plan — each checked through the Engine, as staff use it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from cli.demo import Scenario, actor_for
from engine import Engine, Period, WorkingCalendar
from engine.customers.milestones import HV, milestone_states
from tests.conftest import Clock
from tests.engine.test_figures import assert_same
from tests.engine.test_lifecycle import advance_to, replays


def notices_of(engine: Engine, app_no: str) -> list[tuple[str, str]]:
    return [(n.event, n.status) for n in engine.customer_notices(app_no, reader="auditor")]


@pytest.mark.parametrize("action", ["withdraw", "terminate"])
def test_an_ended_case_sends_none_of_its_queued_notices(engine: Engine, scenarios: dict[str, Scenario],
                                                        action: str) -> None:
    app_no = engine.start("hv", scenarios["hv_solo"].start, "frontdesk").app_no
    assert ("application_accepted", "queued") in notices_of(engine, app_no)
    by = "frontdesk" if action == "withdraw" else "marketing"
    getattr(engine, action)(app_no, "客户项目取消", by=by)
    assert {status for _, status in notices_of(engine, app_no)} == {"cancelled"}
    assert all(n.app_no != app_no for n in engine.deliver_notices())
    assert engine.customer_notices(app_no, reader="auditor")[0].status_name == "未发送（申请已撤销或终止）"
    replays(engine, app_no)


def test_notices_already_sent_stay_sent_when_the_case_ends(engine: Engine, scenarios: dict[str, Scenario]) -> None:
    app_no = engine.start("hv", scenarios["hv_solo"].start, "frontdesk").app_no
    engine.deliver_notices()
    sent = notices_of(engine, app_no)
    assert sent and {status for _, status in sent} == {"sent"}
    engine.withdraw(app_no, "客户来电撤回申请", by="frontdesk")
    assert notices_of(engine, app_no) == sent


def test_terminating_after_power_on_cancels_the_open_follow_up(engine: Engine, scenarios: dict[str, Scenario]) -> None:
    scenario = scenarios["hv_solo"]
    powered = advance_to(engine, scenario, [s.node for s in scenario.steps].index("hv_power_on") + 1)
    follow_up = engine.follow_up_of(powered.app_no)
    assert follow_up is not None and follow_up.status == "open"
    engine.terminate(powered.app_no, "客户破产清算，合同解除", by="marketing")
    ended = engine.follow_up_of(powered.app_no)
    assert ended is not None and ended.status == "cancelled"
    assert engine.follow_up_counts().get("open", 0) == 0
    replays(engine, powered.app_no)


def test_the_kept_figures_say_what_the_scan_says_after_each_lifecycle_action(
        engine: Engine, clock: Clock, scenarios: dict[str, Scenario]) -> None:
    supervision = engine.supervision
    cases = [advance_to(engine, scenarios[name], steps).app_no
             for name, steps in (("hv_solo", 1), ("hv_joint_review", 3), ("lv_non_residential", 1), ("hv_solo", 2))]
    assert supervision.kept_open_tasks() == supervision.open_tasks_by_due_state()
    before = sum(sum(n.counts.values()) for n in supervision.kept_open_tasks())
    clock.advance(hours=3)
    engine.suspend(cases[0], "客户申请暂缓", by="manager1")
    engine.withdraw(cases[1], "客户撤回申请", by="frontdesk")  # closes the two open countersign tasks
    engine.terminate(cases[2], "客户项目未获批准", by="marketing")
    assert supervision.kept_open_tasks() == supervision.open_tasks_by_due_state()
    after = sum(sum(n.counts.values()) for n in supervision.kept_open_tasks())
    assert after == before - 3  # the suspended case's task stays open; the ended cases' three close
    clock.advance(days=20)  # past every due time: the late ones are counted alike
    assert supervision.kept_open_tasks() == supervision.open_tasks_by_due_state()
    engine.resume(cases[0], by="manager1")
    solo = scenarios["hv_solo"]
    finished = advance_to(engine, solo, len(solo.steps))  # measured end to end by its clocks
    assert finished.status == "completed"
    powered = advance_to(engine, solo, [s.node for s in solo.steps].index("hv_power_on") + 1)
    engine.terminate(powered.app_no, "客户破产清算", by="marketing")  # its clocks end unmeasured
    engine.correct(cases[3], "contact_phone", "13900001111", "客户更换了联系电话", by="marketing")
    assert supervision.kept_open_tasks() == supervision.open_tasks_by_due_state()
    today = clock.now.date()
    for variant in (None, "hv", "lv"):
        assert_same(supervision.kept_dashboard(Period.last_days(today, 30), variant),
                    supervision.dashboard(Period.last_days(today, 30), variant))


def test_a_plan_choosing_dual_supply_gives_the_dual_supply_reply_limit(engine: Engine,
                                                                       scenarios: dict[str, Scenario]) -> None:
    # the customer asked for single supply; the plan drafted says dual: 30 working days, not 15
    scenario = scenarios["hv_plan_dual_unasked"]
    assert scenario.start["dual_supply"] is False
    surveyed = advance_to(engine, scenario, 1)
    assert next(c for c in engine.clocks(surveyed.app_no).clocks if c.key == "plan_reply").limit == 15
    step = scenario.steps[1]
    task = next(t for t in surveyed.ready_tasks if t.node_id == step.node == "hv_draft_supply_plan")
    engine.complete(task.id, actor_for(engine, task.role, task.assignee), dict(step.data))
    drafted = surveyed.app_no
    reply = next(c for c in engine.clocks(drafted).clocks if c.key == "plan_reply")
    assert reply.limit == 30 and reply.limit_source == "diagram"
    progress = engine.customer_progress(drafted)
    assert progress is not None
    assert next(m for m in progress.milestones if m.key == "plan_reply").limit_days == 30


def test_the_reply_milestone_reads_the_plan_once_there_is_one() -> None:
    accepted = datetime(2026, 11, 23, 9, 0)
    calendar = WorkingCalendar()

    def limit(data: dict[str, object]) -> object:
        states = milestone_states(HV, accepted, [], data, lambda: calendar, accepted + timedelta(days=1))
        return next(m for m in states if m.key == "plan_reply").limit_days

    assert limit({"dual_supply": False}) == 15  # no plan yet: what was applied for
    assert limit({"dual_supply": True}) == 30
    assert limit({"dual_supply": False, "supply_mode": "dual"}) == 30  # the plan decides
    assert limit({"dual_supply": True, "supply_mode": "single"}) == 15


def test_every_marker_the_gate_knows_has_a_chinese_title(engine: Engine) -> None:
    chinese = re.compile(r"[\u4e00-\u9fff]")
    markers = engine.markers()
    assert {"policyClock.", "customerNotice", "fieldJob", "timeLimit"} <= {m.name for m in markers}
    for m in markers:
        assert m.title != m.name and chinese.search(m.title), m.name
        for value, label in m.values or ():
            assert chinese.search(label), (m.name, value)


def test_an_office_limit_for_dual_supply_reads_the_application_until_the_plan_decides(
        engine: Engine, scenarios: dict[str, Scenario]) -> None:
    engine.set_clock_override("hv", "plan_reply", "", "dual", "25", "本单位承诺：双电源 25 个工作日", by="marketing")

    def reply_limit(app_no: str) -> tuple[int | None, str]:
        clock = next(c for c in engine.clocks(app_no).clocks if c.key == "plan_reply")
        return clock.limit, clock.limit_source

    asked = engine.start("hv", scenarios["hv_joint_review"].start, "frontdesk")  # applied for dual supply
    assert reply_limit(asked.app_no) == (25, "override")
    unasked = scenarios["hv_plan_dual_unasked"]  # applied for single supply; the plan says dual
    surveyed = advance_to(engine, unasked, 1)
    assert reply_limit(surveyed.app_no) == (15, "diagram")
    task = next(t for t in surveyed.ready_tasks if t.node_id == unasked.steps[1].node == "hv_draft_supply_plan")
    engine.complete(task.id, actor_for(engine, task.role, task.assignee), dict(unasked.steps[1].data))
    assert reply_limit(surveyed.app_no) == (25, "override")


def test_a_countersign_refused_before_the_last_party_passed_still_opens_the_redraft_as_sent_back(
        engine: Engine, scenarios: dict[str, Scenario]) -> None:
    scenario = scenarios["hv_joint_review_sendback"]  # 发展策划 passes, 设计 refuses
    result = advance_to(engine, scenario, 2)
    planning, design = scenario.steps[2], scenario.steps[3]
    for step in (design, planning):  # 设计 refuses first; 发展策划's pass is the last vote
        task = next(t for t in result.ready_tasks if t.node_id == step.node)
        result = engine.complete(task.id, actor_for(engine, task.role, task.assignee), dict(step.data))
    redraft = next(t for t in result.ready_tasks if t.node_id == "hv_draft_supply_plan")
    sent_back = engine.task_prefill(redraft.id).sent_back
    assert sent_back is not None
    assert (sent_back.node_name, sent_back.decision) == ("供电方案会审（设计）", "退回修改")
    assert sent_back.reason == design.data["joint_design_opinion"]


def test_a_review_opened_again_after_its_rectification_is_not_shown_as_sent_back(
        engine: Engine, scenarios: dict[str, Scenario]) -> None:
    scenario = scenarios["hv_design_review_sendback"]  # 审查不通过 → 设计整改 → 再审
    nodes = [s.node for s in scenario.steps]
    rectified = advance_to(engine, scenario, nodes.index("hv_design_rectify") + 1)
    again = next(t for t in rectified.ready_tasks if t.node_id == "hv_design_review")
    assert engine.task_prefill(again.id).sent_back is None
