"""The case lifecycle: 暂停/恢复, 撤销, 终止, 更正 and the repair of a case in error — each permission-checked in the
engine, audited, shown to the customer, and replayed to what was recorded."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from cli.demo import DEMO_DISPATCHER, Scenario, actor_for, do_field_work, drive
from engine import Appointment, Conflict, Engine, Forbidden, FormValidationError, InvalidInput, StepResult
from engine.casework.hooks import ClosedTask, StepContext, StepHook
from engine.store.tables import APPS, EVENTS, ITEMS, JOBS, STATION_DAYS

from tests.conftest import Clock


def advance_to(engine: Engine, scenario: Scenario, steps: int) -> StepResult:
    last = None
    for last in drive(engine, scenario, steps):
        pass
    assert last is not None
    return last


def replays(engine: Engine, app_no: str) -> None:
    """The audit chain is intact and the history re-executes to the stored state, step by step."""
    assert engine.verify_audit(app_no).intact
    report = engine.replay(app_no, by="auditor")
    assert report.verified, report.message


class Recorder(StepHook):
    """A feature that only notes which lifecycle points it was called at."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def tasks_closed(self, step: StepContext, closed: Sequence[ClosedTask]) -> None:
        self.calls.append(("closed", tuple((c.node_id, c.status) for c in closed)))

    def application_paused(self, conn: Connection, application_id: int, now: datetime, reason: str) -> None:
        self.calls.append(("paused", reason))

    def application_resumed(self, conn: Connection, application_id: int, now: datetime) -> None:
        self.calls.append(("resumed", now))

    def application_ended(self, conn: Connection, application_id: int, now: datetime, status: str) -> None:
        self.calls.append(("ended", status))


@pytest.fixture
def recorder(engine: Engine) -> Recorder:
    hook = Recorder()
    engine.lifecycle.hooks = (*engine.lifecycle.hooks, hook)
    engine.steps.hooks = (*engine.steps.hooks, hook)
    return hook


# ----------------------------------------------------------------------------- suspend and resume


def test_a_suspended_case_takes_no_step_until_resumed(engine: Engine, scenarios: dict[str, Scenario],
                                                      recorder: Recorder, clock: Clock) -> None:
    waiting = advance_to(engine, scenarios["hv_solo"], 1)  # the plan is being drafted
    task = waiting.ready_tasks[0]
    done = engine.suspend(waiting.app_no, "客户要求暂缓：厂房规划调整", by="manager1")
    assert done.status == "suspended" and ("paused", "客户要求暂缓：厂房规划调整") in recorder.calls
    app = engine.application(waiting.app_no)
    assert app.status == "suspended" and app.status_reason == "客户要求暂缓：厂房规划调整"
    assert app.status_changed_by == "manager1"
    with pytest.raises(Conflict, match="已暂停"):
        engine.complete(task.id, "manager1", dict(scenarios["hv_solo"].steps[1].data))
    with pytest.raises(Conflict, match="不能暂停"):
        engine.suspend(waiting.app_no, "再次暂停", by="manager1")
    progress = engine.public_progress(waiting.app_no)
    assert progress is not None and progress.status_name == "暂停办理"
    assert progress.status_reason == "客户要求暂缓：厂房规划调整"

    clock.advance(days=3)
    resumed = engine.resume(waiting.app_no, "客户确认继续", by="marketing")
    assert resumed.status == "running" and recorder.calls[-1] == ("resumed", clock.now)
    result = engine.complete(task.id, "manager1", dict(scenarios["hv_solo"].steps[1].data))
    assert [t.node_id for t in result.ready_tasks] == ["hv_plan_approval"]
    kinds = [e.kind for e in engine.application(waiting.app_no).history]
    assert kinds.index("application.suspended") < kinds.index("application.resumed") < kinds.index("task.completed",
                                                                                                     kinds.index("application.resumed"))
    resumed_event = next(e for e in engine.application(waiting.app_no).history if e.kind == "application.resumed")
    assert resumed_event.payload["to"] == "running" and resumed_event.payload["reason"] == "客户确认继续"
    replays(engine, waiting.app_no)


def test_a_case_suspended_in_error_resumes_in_error(engine: Engine, scenarios: dict[str, Scenario]) -> None:
    broken = engine.start("hv", {**scenarios["hv_solo"].start, "preferred_manager": "nobody"}, "frontdesk")
    assert broken.status == "error"
    engine.suspend(broken.app_no, "等待客户重新指定客户经理", by="marketing")
    assert engine.resume(broken.app_no, by="marketing").status == "error"
    assert engine.application(broken.app_no).error_message == broken.error_message


def test_suspending_needs_a_reason_next_to_the_field(engine: Engine, scenarios: dict[str, Scenario]) -> None:
    started = engine.start("hv", scenarios["hv_solo"].start, "frontdesk")
    for reason, message in (("  ", "请填写原因"), ("原" * 501, "不能超过 500 个字"), ("a\x00b", "无效字符"),
                            ("\ud800", "无效字符")):
        with pytest.raises(FormValidationError) as caught:
            engine.suspend(started.app_no, reason, by="marketing")
        assert message in caught.value.field_errors["reason"]
    assert engine.application(started.app_no).status == "running"


# ----------------------------------------------------------------------------- withdraw and terminate


def test_withdrawal_cancels_the_open_tasks_and_frees_the_booked_site_job(
        engine: Engine, scenarios: dict[str, Scenario], recorder: Recorder, clock: Clock) -> None:
    started = engine.start("hv", scenarios["hv_solo"].start, "frontdesk")
    survey = started.ready_tasks[0]
    day = clock.now.date() + timedelta(days=1)
    engine.field_work.schedule(survey.id, DEMO_DISPATCHER, Appointment("CQ", day, "fixed", "王建国", "13812345678",
                                                                       start=time(9, 30), worker="manager1"))

    def booked() -> int:
        with engine.store.read() as conn:
            return int(conn.execute(select(func.coalesce(func.sum(STATION_DAYS.c.booked), 0))).scalar_one())

    assert booked() == 1
    done = engine.withdraw(started.app_no, "客户因项目取消撤回申请", by="frontdesk")
    assert done.status == "withdrawn"
    assert engine.task(survey.id).status == "cancelled"
    assert engine.field_work.find(survey.id).status == "cancelled" and booked() == 0
    assert ("closed", (("hv_site_survey_solo", "cancelled"),)) in recorder.calls
    assert recorder.calls[-1] == ("ended", "withdrawn")
    app = engine.application(started.app_no)
    assert app.status == "withdrawn" and app.open_tasks == () and app.status_reason == "客户因项目取消撤回申请"
    with pytest.raises(Conflict, match="已取消"):
        engine.complete(survey.id, "manager1", dict(scenarios["hv_solo"].steps[0].data))
    with pytest.raises(Conflict, match="已撤销"):
        engine.terminate(started.app_no, "重复操作", by="marketing")
    with pytest.raises(Conflict, match="已撤销"):
        engine.correct(started.app_no, "contact_phone", "13900000000", "客户换号", by="marketing")
    progress = engine.public_progress(started.app_no)
    assert progress is not None and progress.status_name == "已撤销" and progress.current == ()
    assert engine.application_trace(started.app_no).active == ()  # the diagram shows nothing waiting
    replays(engine, started.app_no)


def test_termination_is_for_marketing_and_ends_a_suspended_case_too(
        engine: Engine, scenarios: dict[str, Scenario]) -> None:
    waiting = advance_to(engine, scenarios["pv_380v"], 3)
    with pytest.raises(Forbidden, match="终止申请"):
        engine.terminate(waiting.app_no, "业主失联", by="manager1")
    engine.suspend(waiting.app_no, "业主失联，暂停", by="manager1")
    done = engine.terminate(waiting.app_no, "业主失联超过 60 日，按规定终止", by="marketing")
    assert done.status == "terminated"
    with engine.store.read() as conn:
        open_items = conn.execute(select(func.count()).select_from(ITEMS).where(
            ITEMS.c.app_no == waiting.app_no, ITEMS.c.status == "ready")).scalar_one()
    assert open_items == 0
    replays(engine, waiting.app_no)


@pytest.mark.parametrize("user,allowed", [
    ("frontdesk", {"withdraw"}), ("manager1", {"withdraw", "suspend", "retry"}),
    ("marketing", {"withdraw", "suspend", "terminate", "correct", "retry"}), ("auditor", set()),
    ("planning", set()),
])
def test_who_may_take_which_action_is_decided_in_the_engine(engine: Engine, scenarios: dict[str, Scenario],
                                                            user: str, allowed: set[str]) -> None:
    actions = {
        "suspend": lambda app_no: engine.suspend(app_no, "理由", by=user),
        "withdraw": lambda app_no: engine.withdraw(app_no, "理由", by=user),
        "terminate": lambda app_no: engine.terminate(app_no, "理由", by=user),
        "correct": lambda app_no: engine.correct(app_no, "contact_name", "赵六", "理由", by=user),
        "retry": lambda app_no: engine.retry(app_no, user),
    }
    for name, act in actions.items():
        app_no = engine.start("hv", scenarios["hv_solo"].start, "frontdesk").app_no
        if name in allowed:
            try:
                act(app_no)
            except Conflict:
                assert name == "retry"  # permitted, but there is nothing that failed
        else:
            with pytest.raises(Forbidden):
                act(app_no)
            assert engine.application(app_no).status == "running"


# ----------------------------------------------------------------------------- correct


def test_a_correction_is_used_from_then_on_audited_with_before_and_after_and_replays(
        engine: Engine, scenarios: dict[str, Scenario]) -> None:
    scenario = scenarios["hv_solo"]
    waiting = advance_to(engine, scenario, 2)  # 供电方案审批 waits
    done = engine.correct(waiting.app_no, "customer_name", "江南精密机械股份有限公司", "营业执照已变更名称",
                          by="marketing")
    assert (done.before, done.after, done.field_title) == ("江南精密机械有限公司", "江南精密机械股份有限公司", "客户名称")
    app = engine.application(waiting.app_no)
    assert app.data["customer_name"] == "江南精密机械股份有限公司" and app.customer_name == "江南精密机械股份有限公司"
    assert engine.tasks(app_no=waiting.app_no)[0].customer_name == "江南精密机械股份有限公司"  # the task lists too
    event = app.history[-1]
    assert event.kind == "application.corrected" and event.actor == "marketing"
    assert event.payload == {"field": "customer_name", "title": "客户名称", "before": "江南精密机械有限公司",
                             "after": "江南精密机械股份有限公司", "reason": "营业执照已变更名称"}
    # the rest of the path runs on the corrected data, and the contract carries it
    result = waiting
    for step in scenario.steps[2:]:
        task = next(t for t in result.ready_tasks if t.node_id == step.node)
        actor = actor_for(engine, task.role, task.assignee)
        do_field_work(engine, task.id, actor)
        engine.forget_cached_workflows()  # also from the database
        result = engine.complete(task.id, actor, dict(step.data))
    assert result.status == "completed"
    assert engine.application(waiting.app_no).data["customer_name"] == "江南精密机械股份有限公司"
    contract = next(d for d in engine.application(waiting.app_no).documents if d.filename.endswith(".html"))
    assert "江南精密机械股份有限公司" in engine.document(contract.id)[1].decode("utf-8")
    replays(engine, waiting.app_no)


def test_a_correction_is_checked_by_the_rules_of_its_form(engine: Engine, scenarios: dict[str, Scenario]) -> None:
    waiting = advance_to(engine, scenarios["hv_solo"], 1)
    before = engine.application(waiting.app_no)
    cases = [
        ("capacity_kva", 1_000_000_000, "合理上限"),  # the acceptance form's check
        ("capacity_kva", 10**400, "数值过大"),
        ("capacity_kva", "八百", "应为数字"),
        ("first_contact_at", "yesterday", "格式应为日期时间"),
        ("first_contact_at", "2027-06-01T09:00:00+08:00", "不能晚于当前时间"),
        ("dedicated_line", True, "4000 kVA"),  # 800 kVA asks for a dedicated line
        ("customer_name", "a\x00b", "空字符"),
        ("customer_name", "江南精密机械有限公司", "相同"),
    ]
    for field, value, message in cases:
        with pytest.raises(FormValidationError) as caught:
            engine.correct(waiting.app_no, field, value, "核实后更正", by="marketing")
        assert message in caught.value.message, (field, caught.value.message)
    for field, message in (("no_such_field", "没有这个字段"), ("survey_team_members", "尚未填写")):
        with pytest.raises(FormValidationError) as caught:
            engine.correct(waiting.app_no, field, "x", "核实后更正", by="marketing")
        assert message in caught.value.field_errors["field"]
    after = engine.application(waiting.app_no)
    assert after.data == before.data and len(after.history) == len(before.history)


def test_the_correctable_fields_are_the_recorded_ones_with_their_step(engine: Engine,
                                                                     scenarios: dict[str, Scenario]) -> None:
    waiting = advance_to(engine, scenarios["hv_solo"], 2)
    fields = {f.name: f for f in engine.correctable_fields(waiting.app_no)}
    assert fields["contact_phone"].step == "受理信息" and fields["contact_phone"].title == "联系电话"
    assert fields["source_line"].step == "拟定供电方案" and fields["source_line"].form == "hv_draft_supply_plan.json"
    assert "plan_approval_result" not in fields  # not recorded yet
    assert "survey_mode" not in fields  # worked out by the system, not entered in a form


def test_repairing_a_case_in_error_is_a_correction_then_a_retry(engine: Engine, scenarios: dict[str, Scenario]) -> None:
    broken = engine.start("hv", {**scenarios["hv_solo"].start, "preferred_manager": "nobody"}, "frontdesk")
    assert broken.status == "error" and "nobody" in (broken.error_message or "")
    with pytest.raises(Forbidden):
        engine.retry(broken.app_no, "frontdesk")
    engine.correct(broken.app_no, "preferred_manager", "manager2", "客户指定的客户经理为王芳", by="marketing")
    assert engine.application(broken.app_no).status == "error"  # corrected, not yet run again
    engine.forget_cached_workflows()
    repaired = engine.retry(broken.app_no, "marketing")
    assert repaired.status == "running"
    assert [(t.node_id, t.assignee) for t in repaired.ready_tasks] == [("hv_site_survey_solo", "manager2")]
    replays(engine, broken.app_no)


def test_a_supervisor_corrects_a_plan_value_and_the_gateways_follow_it(engine: Engine,
                                                                         scenarios: dict[str, Scenario]) -> None:
    # the reply waits; the plan said 10 kV, the approved drawing says 35 kV: after the correction and the
    # customer's confirmation the case goes through design review
    scenario = scenarios["hv_solo"]
    waiting = advance_to(engine, scenario, 3)
    assert [t.node_id for t in waiting.ready_tasks] == ["hv_reply_supply_plan"]
    engine.correct(waiting.app_no, "supply_voltage_kv", 35, "方案审批后电压等级更正为 35kV", by="marketing")
    result = waiting
    for step in scenario.steps[3:5]:
        task = next(t for t in result.ready_tasks if t.node_id == step.node)
        result = engine.complete(task.id, actor_for(engine, task.role, task.assignee), dict(step.data))
    assert [t.node_id for t in result.ready_tasks] == ["hv_design_submit"]  # the customer sends the design in
    replays(engine, waiting.app_no)


def test_a_correction_to_a_workflow_loaded_from_its_rows_leaves_the_tasks_done_before_as_they_were(
        engine: Engine, scenarios: dict[str, Scenario]) -> None:
    """Suspending and resuming let the cached workflow go: the correction works on one rebuilt from its rows,
    where tasks done share their parent's data — it changes only where the process goes on from."""
    from engine.casework.rows import app_by_number

    app_no = advance_to(engine, scenarios["hv_solo"], 1).app_no  # the survey done, the plan waits
    engine.suspend(app_no, "客户暂缓", by="manager1")
    engine.resume(app_no, by="manager1")
    engine.correct(app_no, "capacity_kva", 900, "现场核定 900 kVA", by="marketing")
    with engine.store.read() as conn:
        app = app_by_number(conn, app_no)
        wf = engine.steps.load(conn, app, engine.definitions.diagram(conn, app.version_id)).wf
    seen = {t.task_spec.name: t.data.get("capacity_kva") for t in wf.tasks.values() if "capacity_kva" in t.data}
    assert seen["hv_site_survey_solo"] == 800 and seen["hv_draft_supply_plan"] == 900
    replays(engine, app_no)


def test_an_ended_case_keeps_its_rows_and_audit_consistent(engine: Engine, scenarios: dict[str, Scenario]) -> None:
    waiting = advance_to(engine, scenarios["hv_joint_review"], 3)  # 会审: planning done, design and dispatch wait
    assert {t.node_id for t in waiting.ready_tasks} == {"hv_joint_review_design", "hv_joint_review_dispatch"}
    engine.terminate(waiting.app_no, "客户项目未获批准", by="marketing")
    with engine.store.read() as conn:
        status = conn.execute(select(APPS.c.status, APPS.c.status_reason).where(APPS.c.app_no == waiting.app_no)).one()
        trail = conn.execute(select(EVENTS.c.kind, EVENTS.c.payload).join(APPS, APPS.c.id == EVENTS.c.application_id)
                             .where(APPS.c.app_no == waiting.app_no).order_by(EVENTS.c.seq)).all()
        kinds = [r.kind for r in trail]
        jobs = conn.execute(select(func.count()).select_from(JOBS).where(JOBS.c.app_no == waiting.app_no,
                                                                        JOBS.c.status != "cancelled",
                                                                        JOBS.c.status != "finished")).scalar_one()
    assert tuple(status) == ("terminated", "客户项目未获批准")
    assert kinds[-1] == "application.terminated"  # the tasks it cancelled are recorded with it
    assert set(json.loads(trail[-1].payload)["moves"]["READY>CANCELLED"]) == {"hv_joint_review_design",
                                                                            "hv_joint_review_dispatch"}
    assert jobs == 0
    replays(engine, waiting.app_no)


def test_an_ended_case_is_never_planned_for_migration(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="不迁移"):
        engine.migration_plan("hv", 2, status="withdrawn", by="analyst")
