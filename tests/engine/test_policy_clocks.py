"""Policy clocks (时限) counted the way the regulations count them: from acceptance, the customer's submission or
request, to the reply or power on; the customer's time and a suspension left out; an office's own limits per
variant × customer type × supply mode; validity of the supply plan; the official calendar moving open deadlines.

Time travel: every test starts on Mon 7 Sep 2026 09:00 and completes each task exactly at its own due moment
(the node's internal target), so that what a clock reaches is what main's per-node limits would let through."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cli.demo import Scenario, actor_for, do_field_work
from engine import Conflict, DiagramRejected, Engine, Forbidden, FormValidationError, StepResult, tables

from tests.conftest import Clock

ACCEPTED = datetime(2026, 9, 7, 9, 0)  # a Monday


@dataclass
class Sweeper:
    """Runs the time-limit sweep at 09:00 and 18:00 of every day the clock passes, as a worker would."""

    engine: Engine
    swept_until: datetime = ACCEPTED
    warned: list[tuple[str, str]] = field(default_factory=list)  # (app_no, recipient)
    escalated: list[tuple[str, str]] = field(default_factory=list)

    def until(self, moment: datetime) -> None:
        day = self.swept_until.date()
        while day <= moment.date():
            for hour in (9, 18):
                at = datetime.combine(day, datetime.min.time()).replace(hour=hour)
                if self.swept_until < at <= moment:
                    for notice in self.engine.sweep_time_limits(at).sent:
                        (self.warned if notice.kind == "warning" else self.escalated).append(
                            (notice.app_no, notice.recipient))
                    self.swept_until = at
            day += timedelta(days=1)


def travel(engine: Engine, clock: Clock, scenario: Scenario, *, customer_days: int = 0,
           sweeper: Sweeper | None = None, stop_before: str | None = None) -> StepResult:
    """Accept now and complete each task exactly at its own due moment; a task where the customer acts (no due
    date) after ``customer_days`` working days. Stops before ``stop_before`` if given."""
    result = engine.start(scenario.process, scenario.start, "frontdesk")
    for step in scenario.steps:
        if step.node == stop_before:
            break
        task = next(t for t in result.ready_tasks if t.node_id == step.node)
        target = task.due_at or engine.calendar().add_working_days(clock.now, customer_days)
        target = max(target, clock.now)
        if sweeper is not None:
            sweeper.until(target)
        clock.now = target
        actor = actor_for(engine, task.role, task.assignee)
        do_field_work(engine, task.id, actor)
        result = engine.complete(task.id, actor, step.data)
        assert result.status != "error", result.error_message
    return result


def clock_of(engine: Engine, app_no: str, key: str, round: int = 1) -> Any:
    return next(c for c in engine.clocks(app_no).clocks if c.key == key and c.round == round)


def kinds(engine: Engine, app_no: str, prefix: str = "clock.") -> list[str]:
    return [e.kind for e in engine.application(app_no).history if e.kind.startswith(prefix)]


@pytest.fixture
def at_acceptance(clock: Clock) -> Clock:
    clock.now = ACCEPTED
    return clock


# ----------------------------------------------------------------------------- the table, by time travel


@pytest.mark.parametrize("path,key,limit,reached", [
    ("hv_solo", "plan_reply", 15, 27),  # HV 供电方案答复, single supply: survey 2 + draft 5 + approval 5 + reply 15
    ("hv_joint_review", "plan_reply", 30, 42),  # dual supply: 会审 instead of approval
    ("lv_non_residential", "plan_reply", 7, 9),  # LV non-residential: survey 2 + reply 7
    ("lv_residential", "end_to_end", 5, 8),  # residential, connected: sign 5 + works and connection 3; target ≤ 5
    ("lv_non_residential", "end_to_end", 5, 19),  # no external works, connected: 2 + 7 + 5 + 5; target ≤ 5
    ("pv_380v", "access_scheme", 20, 27),  # PV access scheme reply, single point: 2 + 5 + 20
])
def test_each_row_of_the_table_overruns_its_clock_and_warns_and_escalates_once(
        engine: Engine, at_acceptance: Clock, scenarios: dict[str, Scenario], path: str, key: str, limit: int,
        reached: int) -> None:
    sweeper = Sweeper(engine)
    done = travel(engine, at_acceptance, scenarios[path], sweeper=sweeper)
    assert done.status == "completed"
    sweeper.until(at_acceptance.now + timedelta(days=30))
    c = clock_of(engine, done.app_no, key)
    assert (c.status, c.limit, c.used_days) == ("missed", limit, reached)
    assert c.started_at == ACCEPTED and c.deadline == engine.calendar().add_working_days(ACCEPTED, limit)
    assert c.stopped_at > c.deadline
    history = [e for e in engine.application(done.app_no).history if e.payload.get("clock") == key]
    assert [e.kind for e in history] == ["clock.started", "clock.warned", "clock.escalated", "clock.stopped"]
    warned = next(e for e in history if e.kind == "clock.warned")
    assert "role:marketing" in warned.payload["to"] and len(set(warned.payload["to"])) == len(warned.payload["to"])
    # each person was told once: the task holder(s) and 营销部
    recipients = [r for a, r in sweeper.warned if a == done.app_no]
    assert recipients.count("role:marketing") == sum(1 for e in engine.application(done.app_no).history
                                                     if e.kind == "clock.warned")
    assert engine.verify_audit(done.app_no).intact


def test_hv_connection_counts_from_the_later_of_passing_inspection_and_signing(
        engine: Engine, at_acceptance: Clock, scenarios: dict[str, Scenario]) -> None:
    done = travel(engine, at_acceptance, scenarios["hv_completion_rectify"], customer_days=3)
    app = engine.application(done.app_no)
    completed = {e.node_id: e.at for e in app.history if e.kind == "task.completed"}
    connect = clock_of(engine, done.app_no, "connect")
    assert connect.started_at == completed["hv_sign_contract"]  # signed after the inspection passed
    assert connect.stopped_at == completed["hv_power_on"]
    # drafting 5, signing 5 after the inspection: 15 counted from the inspection, 5 from the signing
    inspected = [e.at for e in app.history if e.kind == "task.completed" and e.node_id == "hv_completion_inspection"]
    assert engine.calendar().working_days_after(inspected[-1].date(), completed["hv_power_on"].date()) == 15
    assert (connect.status, connect.used_days, connect.limit) == ("met", 5, 5)
    # the failed inspection did not start it: one round only
    assert [c.round for c in engine.clocks(done.app_no).clocks if c.key == "connect"] == [1]


def test_the_customers_time_is_not_the_utilitys(engine: Engine, at_acceptance: Clock,
                                                scenarios: dict[str, Scenario]) -> None:
    # LV with external works: the customer builds for 20 working days and rectifies for 20 more
    done = travel(engine, at_acceptance, scenarios["lv_non_residential_works"], customer_days=20)
    e2e = clock_of(engine, done.app_no, "end_to_end")
    assert e2e.limit == 15  # the reply said there are external works
    customer = [p for p in e2e.pauses if p.reason == "customer"]
    assert len(customer) == 2 and all(p.end is not None for p in customer)
    calendar = engine.calendar()
    excluded = sum(calendar.working_days_after(p.start.date(), p.end.date()) for p in customer)
    assert excluded == 40
    total = calendar.working_days_after(ACCEPTED.date(), e2e.stopped_at.date())
    assert e2e.used_days == total - excluded
    assert e2e.deadline == calendar.add_working_days(ACCEPTED, 15 + excluded)
    # two inspection requests: two rounds of 竣工检验, each from its request
    rounds = [c for c in engine.clocks(done.app_no).clocks if c.key == "completion_inspection"]
    assert [(c.round, c.used_days, c.status) for c in rounds] == [(1, 5, "met"), (2, 5, "met")]


def test_design_review_counts_from_the_customers_submission(engine: Engine, at_acceptance: Clock,
                                                            scenarios: dict[str, Scenario]) -> None:
    done = travel(engine, at_acceptance, scenarios["hv_design_review_sendback"], customer_days=30)
    app = engine.application(done.app_no)
    submitted = next(e.at for e in app.history if e.kind == "task.completed" and e.node_id == "hv_design_submit")
    first, second = (clock_of(engine, done.app_no, "design_review", n) for n in (1, 2))
    assert first.started_at == submitted  # not when the customer started designing 30 working days earlier
    assert (first.used_days, second.used_days) == (10, 10)
    mid = clock_of(engine, done.app_no, "mid_inspection")
    requested = next(e.at for e in app.history if e.kind == "task.completed"
                     and e.node_id == "hv_mid_inspection_request")
    assert mid.started_at == requested and (mid.status, mid.used_days) == ("met", 5)
    # the validity of the plan ran from the reply to the completion request (30 working days × 4 customer steps)
    validity = clock_of(engine, done.app_no, "plan_validity")
    assert validity.kind == "validity" and validity.status == "met" and validity.limit == 12


def test_a_suspension_pauses_the_clock_and_moves_its_deadline(engine: Engine, at_acceptance: Clock,
                                                              scenarios: dict[str, Scenario]) -> None:
    result = engine.start("hv", scenarios["hv_solo"].start, "frontdesk")
    app_no = result.app_no
    before = clock_of(engine, app_no, "plan_reply")
    assert before.deadline == engine.calendar().add_working_days(ACCEPTED, 15)

    at_acceptance.now = datetime(2026, 9, 9, 10, 0)  # Wednesday
    engine.suspend(app_no, "客户申请暂缓办理", by="manager1")
    paused = clock_of(engine, app_no, "plan_reply")
    assert paused.status == "paused" and paused.deadline is None
    assert [(p.reason, p.detail, p.end) for p in paused.pauses] == [("suspended", "客户申请暂缓办理", None)]
    # nothing is warned or escalated while it is paused, however long it lasts
    assert engine.sweep_time_limits(datetime(2026, 10, 30, 9, 0)).warnings == 0
    assert engine.sweep_time_limits(datetime(2026, 10, 30, 9, 0)).escalations == 0

    at_acceptance.now = datetime(2026, 9, 16, 15, 0)  # the next Wednesday: Thu–Wed, 5 working days suspended
    engine.resume(app_no, by="manager1")
    resumed = clock_of(engine, app_no, "plan_reply")
    assert resumed.status == "running"
    assert resumed.deadline == engine.calendar().add_working_days(ACCEPTED, 15 + 5)
    assert resumed.used_days == 2  # Tue and Wed before the suspension; the resumption day is not counted
    assert [p.end for p in resumed.pauses] == [datetime(2026, 9, 16, 15, 0)]
    # once resumed the clock is watched again: past its moved deadline it escalates
    assert engine.sweep_time_limits(resumed.deadline + timedelta(days=1)).escalations == 1
    assert engine.verify_audit(app_no).intact and engine.replay(app_no, by="auditor").verified


def test_an_application_withdrawn_ends_its_clocks_unmeasured(engine: Engine, at_acceptance: Clock,
                                                            scenarios: dict[str, Scenario]) -> None:
    app_no = engine.start("lv", scenarios["lv_non_residential"].start, "frontdesk").app_no
    at_acceptance.now += timedelta(days=1)
    engine.withdraw(app_no, "客户来电撤回申请", by="frontdesk")
    assert {(c.key, c.status) for c in engine.clocks(app_no).clocks} == {("plan_reply", "ended"),
                                                                         ("end_to_end", "ended")}
    assert engine.sweep_time_limits(datetime(2026, 12, 1, 9, 0)).escalations == 0


def test_a_terminated_suspended_application_ends_its_paused_clocks(engine: Engine, at_acceptance: Clock,
                                                                    scenarios: dict[str, Scenario]) -> None:
    app_no = engine.start("hv", scenarios["hv_solo"].start, "frontdesk").app_no
    at_acceptance.now += timedelta(days=1)
    engine.suspend(app_no, "客户厂房规划调整", by="manager1")
    at_acceptance.now += timedelta(days=7)
    engine.terminate(app_no, "客户项目取消", by="marketing")
    plan = clock_of(engine, app_no, "plan_reply")
    assert plan.status == "ended" and all(p.end is not None for p in plan.pauses)
    assert engine.sweep_time_limits(datetime(2026, 12, 1, 9, 0)).escalations == 0


# ----------------------------------------------------------------------------- the calendar


CONFIRMED_2027 = {"year": 2027, "days": [
    {"date": "2027-01-01", "workday": False, "name": "元旦"},
    {"date": "2027-01-04", "workday": False, "name": "元旦（调休）"},
    {"date": "2027-02-20", "workday": True, "name": "春节（调休上班）"},
]}


def test_importing_the_official_schedule_moves_open_deadlines_and_clears_the_provisional_mark(
        engine: Engine, clock: Clock, scenarios: dict[str, Scenario]) -> None:
    clock.now = datetime(2026, 12, 28, 9, 0)  # Monday; 15 working days reach into 2027
    app_no = engine.start("hv", scenarios["hv_solo"].start, "frontdesk").app_no
    survey = engine.tasks(app_no=app_no)[0]
    before = clock_of(engine, app_no, "plan_reply")
    assert before.provisional and before.deadline.year == 2027
    finished = travel(engine, clock, scenarios["lv_residential"])  # a clock already stopped is not moved
    stopped = clock_of(engine, finished.app_no, "end_to_end")

    imported = engine.import_calendar(CONFIRMED_2027, "marketing")
    assert imported.status.year == 2027 and not imported.status.provisional
    after = clock_of(engine, app_no, "plan_reply")
    assert not after.provisional
    assert after.deadline == engine.calendar().add_working_days(datetime(2026, 12, 28, 9, 0), 15)
    assert after.deadline == before.deadline + timedelta(days=1)  # 4 Jan became a holiday
    assert imported.moved.clocks >= 1 and imported.moved.applications >= 1
    assert clock_of(engine, finished.app_no, "end_to_end") == stopped
    event = [e for e in engine.application(app_no).history if e.kind == "clock.recomputed"][-1]
    assert event.actor == "marketing" and event.payload["why"] == "calendar"
    moved = {c["clock"]: c for c in event.payload["clocks"]}
    assert moved["plan_reply"]["deadline_before"] == before.deadline.isoformat()
    assert moved["plan_reply"]["provisional_before"] is True and moved["plan_reply"]["provisional"] is False
    assert engine.verify_audit(app_no).intact
    assert engine.task(survey.id).due_at == engine.calendar().add_working_days(survey.created_at, 2)


# ----------------------------------------------------------------------------- office limits


def test_an_office_limit_tells_single_and_dual_supply_apart(engine: Engine, at_acceptance: Clock,
                                                             scenarios: dict[str, Scenario]) -> None:
    dual = travel(engine, at_acceptance, scenarios["hv_joint_review"], stop_before="hv_reply_supply_plan")
    single = travel(engine, at_acceptance, scenarios["hv_solo"], stop_before="hv_reply_supply_plan")
    assert clock_of(engine, dual.app_no, "plan_reply").limit == 30
    change = engine.set_clock_override("hv", "plan_reply", "", "dual", "25", "本单位承诺：双电源 25 个工作日",
                                       by="marketing")
    assert (change.old_value, change.new_value, change.clocks_moved) == (None, 25, 1)
    moved = clock_of(engine, dual.app_no, "plan_reply")
    assert (moved.limit, moved.limit_source) == (25, "override")
    assert moved.deadline == engine.calendar().add_working_days(moved.started_at, 25)
    assert (clock_of(engine, single.app_no, "plan_reply").limit,
            clock_of(engine, single.app_no, "plan_reply").limit_source) == (15, "diagram")
    assert "clock.recomputed" in kinds(engine, dual.app_no) and "clock.recomputed" not in kinds(engine, single.app_no)
    assert engine.verify_audit(dual.app_no).intact
    # shown and logged
    assert [(o.clock_key, o.supply_mode, o.limit_value, o.set_by) for o in engine.clock_overrides()] == \
        [("plan_reply", "dual", 25, "marketing")]
    # a more specific limit (customer type too) wins; removing it restores the diagram's for new ones
    engine.set_clock_override("hv", "plan_reply", "enterprise", "dual", "20", "大客户专项", by="marketing")
    assert clock_of(engine, dual.app_no, "plan_reply").limit == 20
    engine.remove_clock_override("hv", "plan_reply", "enterprise", "dual", "专项结束", by="marketing")
    engine.remove_clock_override("hv", "plan_reply", "", "dual", "恢复国家标准", by="marketing")
    assert clock_of(engine, dual.app_no, "plan_reply").limit == 30
    log = engine.clock_override_changes()
    assert [(c.old_value, c.new_value) for c in log] == [(25, None), (20, None), (None, 20), (None, 25)]


@pytest.mark.parametrize("args,field_name", [
    (("hv", "plan_reply", "", "dual", "-3", "x"), "limit_value"),
    (("hv", "plan_reply", "", "dual", "七", "x"), "limit_value"),
    (("hv", "plan_reply", "", "dual", "400", "x"), "limit_value"),
    (("hv", "nonexistent", "", "", "5", "x"), "clock_key"),
    (("hv", "plan_reply", "residential", "", "5", "x"), "customer_type"),
    (("hv", "plan_reply", "", "triple", "5", "x"), "supply_mode"),
    (("pv", "survey", "", "dual", "5", "x"), "supply_mode"),
    (("hv", "plan_reply", "", "", "5", "  "), "reason"),
    (("hv", "plan_validity", "", "", "0", "x"), "limit_value"),
])
def test_a_bad_office_limit_is_refused_field_by_field_and_changes_nothing(
        engine: Engine, args: tuple[str, ...], field_name: str) -> None:
    with pytest.raises(FormValidationError) as caught:
        engine.set_clock_override(*args, by="marketing")
    assert field_name in caught.value.field_errors
    assert all("\u4e00" <= ch <= "\u9fff" for ch in caught.value.field_errors[field_name][:1])  # in Chinese
    assert engine.clock_overrides() == [] and engine.clock_override_changes() == []


def test_only_the_supervisor_sets_office_limits(engine: Engine) -> None:
    with pytest.raises(Forbidden):
        engine.set_clock_override("hv", "plan_reply", "", "", "10", "x", by="manager1")


# ----------------------------------------------------------------------------- validity of the supply plan


def test_an_expired_plan_must_be_reissued_before_works_continue(engine: Engine, at_acceptance: Clock,
                                                               scenarios: dict[str, Scenario]) -> None:
    scenario = scenarios["lv_non_residential_works"]
    waiting = travel(engine, at_acceptance, scenario, stop_before="lv_completion_request")
    task = next(t for t in waiting.ready_tasks if t.node_id == "lv_completion_request")
    validity = clock_of(engine, waiting.app_no, "plan_validity")
    assert (validity.limit, validity.unit) == (3, "个月")
    at_acceptance.now = validity.deadline + timedelta(days=2)  # the customer took more than three months
    assert clock_of(engine, waiting.app_no, "plan_validity").status_name == "已过期"
    data = dict(scenario.steps[2].data)
    with pytest.raises(Conflict, match="须重新答复供电方案"):
        engine.complete(task.id, "manager1" if task.assignee == "manager1" else task.assignee or "manager1", data)
    assert engine.task(task.id).status == "ready"
    with pytest.raises(Forbidden):
        engine.renew_validity(waiting.app_no, "plan_validity", by="metering")
    renewed = engine.renew_validity(waiting.app_no, "plan_validity", by=task.assignee or "manager1")
    assert (renewed.round, renewed.status_name) == (2, "有效")
    assert renewed.deadline.date() > at_acceptance.now.date() + timedelta(days=80)
    result = engine.complete(task.id, task.assignee or "manager1", data)
    assert result.status == "running"
    assert "clock.renewed" in kinds(engine, waiting.app_no)
    with pytest.raises(Conflict, match="尚在有效期内"):
        engine.renew_validity(waiting.app_no, "plan_validity", by="marketing")
    assert engine.verify_audit(waiting.app_no).intact


# ----------------------------------------------------------------------------- 体外循环 evidence


def test_a_typed_first_contact_after_acceptance_is_refused_in_chinese(engine: Engine, clock: Clock,
                                                                      scenarios: dict[str, Scenario]) -> None:
    before = len(engine.applications())
    later = (clock.now + timedelta(hours=2)).isoformat(timespec="seconds") + "+08:00"
    with pytest.raises(FormValidationError) as caught:
        engine.start("lv", {**scenarios["lv_residential"].start, "first_contact_at": later}, "frontdesk")
    assert "不能晚于当前时间" in caught.value.field_errors["first_contact_at"]  # the form's own rule
    # within the form's tolerance for a clerk's watch, still after the acceptance: refused all the same
    slightly = (clock.now + timedelta(minutes=5)).isoformat(timespec="seconds") + "+08:00"
    with pytest.raises(FormValidationError) as caught:
        engine.start("lv", {**scenarios["lv_residential"].start, "first_contact_at": slightly}, "frontdesk")
    assert "晚于受理时间" in caught.value.field_errors["first_contact_at"]
    assert len(engine.applications()) == before  # nothing was accepted


def test_the_customer_confirms_the_date_and_the_lag_is_counted_in_working_days(
        engine: Engine, clock: Clock, scenarios: dict[str, Scenario]) -> None:
    app_no = engine.start("lv", scenarios["lv_residential"].start, "frontdesk").app_no  # Mon 23 Nov 2026
    typed = engine.clocks(app_no).first_contact
    assert typed.source == "clerk" and typed.source_name.startswith("受理员录入")
    with pytest.raises(FormValidationError) as future:
        engine.confirm_first_contact(app_no, "2026-11-24", "customer_page", "customer")
    assert "将来" in future.value.field_errors["first_contact_on"]
    clock.advance(days=3)
    with pytest.raises(FormValidationError) as after:
        engine.confirm_first_contact(app_no, "2026-11-25", "customer_page", "customer")
    assert "晚于受理日期 2026-11-23" in after.value.field_errors["first_contact_on"]
    engine.confirm_first_contact(app_no, date(2026, 11, 17), "customer_page", "customer")  # the Tuesday before
    confirmed = engine.clocks(app_no).first_contact
    assert (confirmed.source, confirmed.at, confirmed.lag_days) == ("customer_page", datetime(2026, 11, 17), 4)
    event = [e for e in engine.application(app_no).history if e.kind == "first_contact.confirmed"][-1]
    assert event.actor == "customer" and event.payload["before_source"] == "clerk"
    with pytest.raises(Conflict):
        engine.confirm_first_contact(app_no, "2026-11-16", "customer_reply", "sms")
    assert engine.verify_audit(app_no).intact


def test_an_online_application_carries_the_channels_own_time(engine: Engine, clock: Clock,
                                                              scenarios: dict[str, Scenario]) -> None:
    data = {**scenarios["lv_residential"].start, "first_contact_at": "2026-11-01T09:00:00+08:00"}
    app_no = engine.start("lv", data, "frontdesk", submitted_at=clock.now).app_no
    evidence = engine.clocks(app_no).first_contact
    assert (evidence.source, evidence.at, evidence.lag_days) == ("api", clock.now, 0)  # what was typed is ignored
    with pytest.raises(Conflict):
        engine.confirm_first_contact(app_no, "2026-11-20", "customer_page", "customer")


# ----------------------------------------------------------------------------- the deploy gate


def _with_clock(xml: str, value: str) -> bytes:
    prop = f'<spiffworkflow:property name="policyClock.bad" value="{value}"/>'
    return xml.replace('<spiffworkflow:property name="policyClock.plan_reply"', prop +
                       '<spiffworkflow:property name="policyClock.plan_reply"', 1).encode("utf-8")


@pytest.mark.parametrize("value,message", [
    ("name: 测试; start: hv_nowhere; stop: hv_reply_supply_plan; limit: 5", "不存在的节点 hv_nowhere"),
    ("name: 测试; start: hv_start; stop: hv_reply_supply_plan; limit: __import__('os')", "limit 表达式"),
    ("name: 测试; start: hv_start; stop: hv_assign_manager; limit: 5", "必须是人工任务"),
    ("name: 测试; start: hv_start; limit: 5", "缺少 stop"),
    ("name: 测试; start: hv_start + hv_reply_supply_plan; stop: hv_power_on; limit: 5", "只能单独作为 start"),
    ("name: 测试; start: hv_start; stop: hv_power_on; limit: 5; guard: hv_power_on", "只有有效期"),
    ("name: 测试; start: hv_start; stop: hv_power_on; deadline: 5", "无法识别"),
])
def test_the_gate_refuses_a_bad_clock_with_a_chinese_reason_at_the_process(
        engine: Engine, value: str, message: str) -> None:
    xml = (Path(engine.config.processes_dir) / "hv.bpmn").read_text(encoding="utf-8")
    with pytest.raises(DiagramRejected) as caught:
        engine.validate(_with_clock(xml, value), "hv.bpmn")
    reasons = [r for r in caught.value.reasons if r.element_id == "hv"]
    assert reasons and any(message in r.message for r in reasons), [r.message for r in caught.value.reasons]


def test_an_analyst_changes_a_limit_with_the_diagram(engine: Engine, at_acceptance: Clock,
                                                     scenarios: dict[str, Scenario]) -> None:
    xml = (Path(engine.config.processes_dir) / "pv.bpmn").read_text(encoding="utf-8")
    edited = xml.replace("name: 现场勘查; start: pv_start; stop: pv_site_survey; limit: 2",
                         "name: 现场勘查; start: pv_start; stop: pv_site_survey; limit: 3")
    assert edited != xml
    engine.deploy(edited.encode("utf-8"), "pv.bpmn", "analyst", comment="勘查时限放宽至 3 个工作日")
    app_no = engine.start("pv", scenarios["pv_380v"].start, "frontdesk").app_no
    survey = clock_of(engine, app_no, "survey")
    assert survey.limit == 3 and survey.deadline == engine.calendar().add_working_days(ACCEPTED, 3)
