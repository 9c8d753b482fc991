"""Task work at the engine: 催办, 转办, 委托 (substitutes during leave), 抄送, comments, saved filters, bulk actions,
the pool of unclaimed tasks, and what a sent-back task's form opens with."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

import pytest

from cli.demo import do_field_work, drive, load_scenarios
from engine import Appointment, Conflict, Engine, EventKind, Forbidden, FormValidationError, InvalidInput

from tests.conftest import PROCESSES, Clock

SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}


def run(engine: Engine, name: str, steps: int = 0) -> Any:
    last = None
    for last in drive(engine, SCENARIOS[name], stop_after=steps):
        pass
    return last


def open_task(engine: Engine, app_no: str, node_id: str) -> Any:
    return next(t for t in engine.application(app_no).open_tasks if t.node_id == node_id)


def events(engine: Engine, app_no: str, kind: str) -> list[Any]:
    return [e for e in engine.application(app_no).history if e.kind == kind]


# ----------------------------------------------------------------------------- the pool


def test_the_pool_lists_only_tasks_nobody_holds(engine: Engine) -> None:
    # manager1 gets the solo survey by assignment: it is in "mine", and not offered again in "待认领"
    app = run(engine, "hv_solo")
    survey = app.ready_tasks[0]
    holder = survey.assignee
    assert holder and survey.role == "customer_manager"
    assert survey.id in {t.id for t in engine.task_page(holder, scope="mine").items}
    assert survey.id not in {t.id for t in engine.task_page(holder, scope="pool").items}
    lv = run(engine, "lv_residential")
    assert [t.id for t in engine.task_page("frontdesk", scope="pool").items] == [lv.ready_tasks[0].id]


# ----------------------------------------------------------------------------- 委托


def test_a_task_arriving_during_leave_goes_to_the_substitute_and_comes_back_after(engine: Engine,
                                                                                  clock: Clock) -> None:
    today = clock.now.date()
    leave = engine.set_substitute("manager1", "manager2", today + timedelta(days=1), today + timedelta(days=3),
                                  "年休假", by="manager1")
    assert leave.state(clock.now) == "未开始"
    clock.advance(days=1)  # on leave from today
    app = run(engine, "hv_solo")
    survey = app.ready_tasks[0]
    assert survey.assignee == "manager1"  # nothing is moved: the task stays manager1's
    assert engine.standing_in_for("manager2") == ["manager1"]
    assert survey.id in {t.id for t in engine.task_page("manager2", scope="mine").items}
    assert survey.id in {t.id for t in engine.tasks(user="manager2")}

    do_field_work(engine, survey.id, "manager1")
    result = engine.complete(survey.id, "manager2", SCENARIOS["hv_solo"].steps[0].data)  # in manager2's own name
    done = events(engine, app.app_no, EventKind.TASK_COMPLETED)[-1]
    assert (done.actor, done.payload["on_behalf_of"]) == ("manager2", "manager1")

    plan = next(t for t in result.ready_tasks if t.node_id == "hv_draft_supply_plan")
    clock.advance(days=3)  # back from leave: the next task is manager1's alone again
    assert engine.standing_in_for("manager2") == []
    assert plan.id not in {t.id for t in engine.task_page("manager2", scope="mine").items}
    with pytest.raises(Forbidden, match="已指派给客户经理 李强"):
        engine.complete(plan.id, "manager2", SCENARIOS["hv_solo"].steps[1].data)
    assert engine.verify_audit(app.app_no).intact


def test_a_cancelled_leave_ends_the_substitution_at_once(engine: Engine, clock: Clock) -> None:
    today = clock.now.date()
    leave = engine.set_substitute("manager1", "manager2", today, today + timedelta(days=5), by="manager1")
    app = run(engine, "hv_solo")
    survey = app.ready_tasks[0]
    assert survey.id in {t.id for t in engine.task_page("manager2", scope="mine").items}
    engine.cancel_substitute(leave.id, by="manager1")
    assert survey.id not in {t.id for t in engine.task_page("manager2", scope="mine").items}
    assert engine.substitutions("manager1") == []
    assert engine.substitutions("manager1", current_only=False)[0].state(clock.now) == "已取消"


def test_a_substitute_must_share_a_role_and_periods_must_make_sense(engine: Engine, clock: Clock) -> None:
    today = clock.now.date()
    with pytest.raises(FormValidationError) as bad:
        engine.set_substitute("manager1", "metering", today, today - timedelta(days=1), by="manager1")
    assert set(bad.value.field_errors) == {"substitute", "last_day"}
    with pytest.raises(Forbidden):
        engine.set_substitute("manager1", "manager2", today, today, by="manager2")
    engine.set_substitute("manager1", "manager2", today, today + timedelta(days=2), by="marketing")
    with pytest.raises(Conflict, match="已有委托"):
        engine.set_substitute("manager1", "manager2", today + timedelta(days=1), today + timedelta(days=4),
                              by="manager1")


# ----------------------------------------------------------------------------- 催办


def test_urging_notifies_the_holder_and_their_substitute_once_an_hour(engine: Engine, clock: Clock) -> None:
    app = run(engine, "hv_solo")
    survey = app.ready_tasks[0]
    engine.set_substitute("manager1", "manager2", clock.now.date(), clock.now.date(), by="manager1")
    clock.advance(hours=30)  # the leave is over: only manager1 hears
    clock.now = clock.now.replace(hour=9)
    engine.urge(survey.id, by="marketing", note="客户来电催问")
    mine = engine.notifications("manager1")
    assert [n.kind for n in mine] == ["urge"] and "营销部 陈静（主管）催办" in mine[0].message
    assert "客户来电催问" in mine[0].message and "manager1" not in mine[0].message
    assert engine.notifications("manager2") == []
    with pytest.raises(Conflict, match="一小时内不再重复催办"):
        engine.urge(survey.id, by="marketing")
    clock.advance(minutes=61)
    engine.urge(survey.id, by="marketing")
    urged = events(engine, app.app_no, EventKind.TASK_URGED)
    assert [(e.actor, e.payload["to"]) for e in urged] == [("marketing", ["manager1"])] * 2
    assert engine.urged([survey.id]) == {survey.id: clock.now}
    assert engine.verify_audit(app.app_no).intact


def test_only_supervisors_and_the_cases_manager_may_urge(engine: Engine) -> None:
    app = run(engine, "hv_solo", steps=1)  # manager1 did the survey; the plan is theirs to draft
    plan = open_task(engine, app.app_no, "hv_draft_supply_plan")
    with pytest.raises(Forbidden):
        engine.urge(plan.id, by="manager2")
    with pytest.raises(Forbidden):
        engine.urge(plan.id, by="planning")
    with pytest.raises(InvalidInput, match="无需催办"):
        engine.urge(plan.id, by="manager1")
    assert engine.may_urge(app.app_no, "manager1") and not engine.may_urge(app.app_no, "manager2")
    # an unclaimed task of a role: everyone of the role hears
    lv = run(engine, "lv_residential")
    engine.urge(lv.ready_tasks[0].id, by="marketing")
    assert [n.kind for n in engine.notifications("frontdesk")] == ["urge"]


# ----------------------------------------------------------------------------- 转办


def test_the_holder_transfers_a_task_to_a_colleague_of_its_role(engine: Engine) -> None:
    app = run(engine, "hv_solo")
    survey = app.ready_tasks[0]
    with pytest.raises(Forbidden):
        engine.transfer(survey.id, "manager2", by="manager2", reason="我来")
    with pytest.raises(FormValidationError) as bad:
        engine.transfer(survey.id, "metering", by="manager1", reason="外出")
    assert "客户经理" in bad.value.field_errors["to"]
    with pytest.raises(FormValidationError):
        engine.transfer(survey.id, "manager2", by="manager1", reason=" ")
    moved = engine.transfer(survey.id, "manager2", by="manager1", reason="本周驻点外出")
    assert moved.assignee == "manager2" and engine.field_work.job(survey.id).worker == "manager2"
    note = engine.notifications("manager2")[0]
    assert note.kind == "transfer" and "客户经理 李强将申请" in note.message and "本周驻点外出" in note.message
    (event,) = events(engine, app.app_no, EventKind.TASK_TRANSFERRED)
    assert (event.actor, event.payload["from"], event.payload["to"]) == ("manager1", "manager1", "manager2")
    do_field_work(engine, survey.id, "manager2")
    engine.complete(survey.id, "manager2", SCENARIOS["hv_solo"].steps[0].data)
    assert engine.verify_audit(app.app_no).intact


# ----------------------------------------------------------------------------- 抄送


def test_a_decision_is_copied_with_its_labels(engine: Engine) -> None:
    app = run(engine, "hv_joint_review_sendback", steps=3)  # 会审 sent the plan back
    review = next(t for t in engine.tasks(app_no=app.app_no, status="completed") if t.node_id == "hv_joint_review")
    with pytest.raises(Forbidden):
        engine.copy_decision(review.id, ["manager2"], by="metering")
    engine.copy_decision(review.id, ["manager2", "dispatch"], by=review.completed_by or "", note="请知悉")
    (note,) = engine.notifications("dispatch")
    assert note.kind == "copy" and "会审结论：退回修改" in note.message and "请知悉" in note.message
    assert "reject" not in note.message
    with pytest.raises(Conflict, match="尚未办结"):
        engine.copy_decision(open_task(engine, app.app_no, "hv_draft_supply_plan").id, ["dispatch"], by="marketing")
    (event,) = events(engine, app.app_no, EventKind.TASK_COPIED)
    assert event.payload["to"] == ["dispatch", "manager2"]


# ----------------------------------------------------------------------------- bulk


def test_bulk_claim_claims_what_it_can_and_says_why_not_for_the_rest(engine: Engine) -> None:
    ids = [run(engine, "lv_residential").ready_tasks[0].id for _ in range(3)]
    engine.create_user("frontdesk2", "柜台受理员 李娜", ["front_desk"], "pw")
    engine.claim(ids[1], "frontdesk2")
    result = engine.claim_many([*ids, ids[0]], "frontdesk")
    assert [t.id for t in result.done] == [ids[0], ids[2]]
    assert result.refused == ((ids[1], "该任务已被柜台受理员 李娜认领"),)
    released = engine.release_many(ids, "frontdesk")
    assert len(released.done) == 2 and len(released.refused) == 1
    moved = engine.reassign_many(ids, "frontdesk2", "marketing")
    assert {t.assignee for t in moved.done} == {"frontdesk2"} and len(moved.done) == 3
    with pytest.raises(InvalidInput):
        engine.claim_many([], "frontdesk")


# ----------------------------------------------------------------------------- comments and filters


def test_comments_are_audited_and_only_public_ones_reach_the_customer(engine: Engine) -> None:
    app = run(engine, "lv_residential")
    engine.add_comment(app.app_no, "客户要求下午联系", by="frontdesk")
    engine.add_comment(app.app_no, "您的资料已收齐，下一步施工接电", by="frontdesk", public=True)
    with pytest.raises(Forbidden):
        engine.add_comment(app.app_no, "稽查不应留言", by="auditor")
    with pytest.raises(FormValidationError):
        engine.add_comment(app.app_no, "   ", by="frontdesk")
    assert [c.body for c in engine.comments(app.app_no)] == ["客户要求下午联系", "您的资料已收齐，下一步施工接电"]
    assert [c.body for c in engine.comments(app.app_no, public_only=True)] == ["您的资料已收齐，下一步施工接电"]
    assert [e.payload["public"] for e in events(engine, app.app_no, EventKind.APPLICATION_COMMENTED)] == [False, True]
    assert engine.verify_audit(app.app_no).intact


def test_saved_filters_are_kept_per_person(engine: Engine) -> None:
    saved = engine.save_filter("我的高压勘查", {"scope": "mine", "process": "hv", "node": "hv_site_survey_solo",
                                              "page": "3", "evil": "x"}, by="manager1")
    assert saved.query == {"scope": "mine", "process": "hv", "node": "hv_site_survey_solo"}
    engine.save_filter("我的高压勘查", {"scope": "pool"}, by="manager1")  # the same name replaces it
    assert [(f.name, dict(f.query)) for f in engine.filters("manager1")] == [("我的高压勘查", {"scope": "pool"})]
    assert engine.filters("manager2") == []
    with pytest.raises(Forbidden):
        engine.delete_filter(saved.id, by="manager2")
    with pytest.raises(FormValidationError):
        engine.save_filter("", {"scope": "mine"}, by="manager1")
    engine.delete_filter(saved.id, by="manager1")
    assert engine.filters("manager1") == []


# ----------------------------------------------------------------------------- sent back, defaults


def test_a_plan_sent_back_by_the_joint_review_opens_with_the_previous_submission(engine: Engine) -> None:
    scenario = SCENARIOS["hv_joint_review_sendback"]
    app = run(engine, "hv_joint_review_sendback", steps=3)
    again = open_task(engine, app.app_no, "hv_draft_supply_plan")
    prefill = engine.task_prefill(again.id)
    assert prefill.sent_back is not None
    assert (prefill.sent_back.node_name, prefill.sent_back.decision) == ("供电方案会审", "退回修改")
    assert prefill.sent_back.by_name == "发展策划 刘洋"
    assert prefill.sent_back.reason == scenario.steps[2].data["joint_review_opinion"]
    first_plan = scenario.steps[1].data
    assert {k: prefill.values[k] for k in first_plan if first_plan[k] is not None} == \
        {k: v for k, v in first_plan.items() if v is not None}


def test_a_first_plan_opens_with_the_boundary_for_its_voltage_and_no_banner(engine: Engine) -> None:
    app = run(engine, "hv_solo", steps=1)  # 10 kV
    prefill = engine.task_prefill(open_task(engine, app.app_no, "hv_draft_supply_plan").id)
    assert prefill.sent_back is None
    assert prefill.values["property_boundary"] == "用户站外第一断路器或第一支持物"
    assert "用户站外第一断路器或第一支持物" in prefill.values["maintenance_duty"]
    by_voltage = prefill.defaults_by["supply_voltage_kv"]
    assert by_voltage["35"]["property_boundary"] == "用户站外第一基电杆"
    lv = run(engine, "lv_non_residential", steps=1)
    values = engine.task_prefill(open_task(engine, lv.app_no, "lv_reply_supply_plan").id).values
    assert values["property_boundary"] == "低压接户线最后支持物" and values["supply_mode"] == "single"


def test_design_review_failed_opens_the_rectification_with_the_reviewers_reason(engine: Engine) -> None:
    scenario = SCENARIOS["hv_design_review_sendback"]
    app = run(engine, "hv_design_review_sendback", steps=7)
    prefill = engine.task_prefill(open_task(engine, app.app_no, "hv_design_rectify").id)
    assert prefill.sent_back is not None and prefill.sent_back.decision == "不通过"
    assert prefill.sent_back.reason == scenario.steps[6].data["design_review_opinion"]
    # the second review is a resubmission, not a send-back
    run_on = list(drive(engine, scenario, stop_after=8))[-1]
    assert engine.task_prefill(open_task(engine, run_on.app_no, "hv_design_review").id).sent_back is None


def test_a_substitute_may_claim_the_absent_persons_task(engine: Engine, clock: Clock) -> None:
    app = run(engine, "hv_solo")
    survey = app.ready_tasks[0]
    engine.set_substitute("manager1", "manager2", clock.now.date(), date(2026, 12, 31), by="manager1")
    assert engine.claim(survey.id, "manager2").claimed_by == "manager2"
    engine.create_user("manager3", "客户经理 赵磊", ["customer_manager"], "pw")
    with pytest.raises(Forbidden, match="已指派给客户经理 李强"):
        engine.claim(survey.id, "manager3")  # of the role, but not the substitute


def test_time_limit_warnings_reach_the_substitute_of_a_holder_on_leave(engine: Engine, clock: Clock) -> None:
    app = run(engine, "hv_solo")  # manager1 holds the survey
    engine.set_substitute("manager1", "manager2", clock.now.date(), clock.now.date() + timedelta(days=30),
                          by="manager1")
    reply = next(c for c in engine.clocks(app.app_no).clocks if c.key == "plan_reply")
    assert reply.deadline is not None
    clock.now = reply.deadline + timedelta(hours=1)  # the application's reply clock has run out: escalated
    sent = engine.sweep_time_limits()
    assert {n.recipient for n in sent.sent} >= {"manager1", "manager2"}
    assert "客户经理 李强" in engine.notifications("manager2")[0].message  # named, and sent to the deputy too


def test_a_substitute_reports_the_site_work_of_a_colleague_on_leave(engine: Engine, clock: Clock) -> None:
    survey = run(engine, "hv_solo").ready_tasks[0]
    tomorrow = clock.now.date() + timedelta(days=1)
    engine.field_work.schedule(survey.id, "fielddispatch", Appointment("CQ", tomorrow, "fixed", "王建国", "13812345678",
                                                                       start=time(9, 30), worker="manager1"))
    with pytest.raises(Forbidden, match="该作业派给了客户经理 李强"):
        engine.field_work.check_in(survey.id, "manager2", "到了")
    engine.set_substitute("manager1", "manager2", clock.now.date(), tomorrow, by="manager1")
    assert engine.field_work.check_in(survey.id, "manager2", "已到达，客户在场").status == "on_site"
