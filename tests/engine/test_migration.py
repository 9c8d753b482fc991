"""New versions of a process: running applications stay on theirs, and move only when that loses no work."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from engine import Engine, InvalidInput, MigrationPlan, NotFound, StepResult
from cli.demo import Scenario, Step, actor_for, do_field_work, drive, load_scenarios

from tests.conftest import PROCESSES, Clock
from tests.engine import diagrams

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}
SENDBACK = SCENARIOS["hv_design_review_sendback"]  # important load: goes through both reviews
REFORM_REMOVED = ("hv_design_submit", "hv_design_review", "hv_design_rectify", "hv_mid_inspection_request",
                  "hv_mid_inspection", "hv_concealed_rectify")
MERGE_REMOVED = ("hv_mid_inspection_request", "hv_mid_inspection", "hv_concealed_rectify")


def deploy_fixture(engine: Engine, name: str) -> int:
    return engine.deploy((FIXTURES / name).read_bytes(), "hv.bpmn", "analyst", comment=name).version


def start_and_stop(engine: Engine, scenario: Scenario, steps: int) -> StepResult:
    """Start an application and complete its first ``steps`` user tasks."""
    last = None
    for last in drive(engine, scenario, steps):
        pass
    assert last is not None
    return last


def carry_on(engine: Engine, result: StepResult, steps: tuple[Step, ...]) -> tuple[StepResult, list[str]]:
    """Complete the given user tasks of a running application in order."""
    seen = []
    for step in steps:
        task = next((t for t in result.ready_tasks if t.node_id == step.node), None)
        assert task is not None, f"期望待办 {step.node}，实际 {[t.node_id for t in result.ready_tasks]}"
        do_field_work(engine, task.id, actor_for(engine, task.role, task.assignee))
        result = engine.complete(task.id, actor_for(engine, task.role, task.assignee), step.data)
        assert result.status != "error", result.error_message
        seen.append(step.node)
    return result, seen


def without(nodes: tuple[str, ...], scenario: Scenario = SENDBACK) -> Scenario:
    return replace(scenario, steps=tuple(s for s in scenario.steps if s.node not in nodes))


def completed_nodes(engine: Engine, app_no: str) -> list[str]:
    return [e.node_id for e in engine.application(app_no).history if e.kind == "task.completed"]


def assert_sound(engine: Engine, app_no: str) -> None:
    """Audit chain intact, replay verified, and the stored state restores to what the engine holds."""
    assert engine.verify_audit(app_no).intact
    report = engine.replay(app_no, by="auditor")
    assert report.verified, report.message
    cached = engine.cached_state(app_no)
    engine.forget_cached_workflows()
    stored = engine.stored_state(app_no)
    assert cached is None or cached == stored


# ----------------------------------------------------------------------------- new versions, no migration


@pytest.mark.parametrize("fixture,gone", [("hv_reform.bpmn", REFORM_REMOVED), ("hv_merged.bpmn", MERGE_REMOVED)])
def test_new_applications_take_the_new_version_and_old_ones_finish_on_theirs(
        engine: Engine, clock: Clock, fixture: str, gone: tuple[str, ...]) -> None:
    old = start_and_stop(engine, SENDBACK, 3)
    assert deploy_fixture(engine, fixture) == 2

    new_path = without(gone)
    fresh = start_and_stop(engine, new_path, len(new_path.steps))
    assert fresh.status == "completed"
    assert engine.application(fresh.app_no).version == 2
    assert completed_nodes(engine, fresh.app_no) == [s.node for s in new_path.steps]
    assert not set(gone) & set(completed_nodes(engine, fresh.app_no))

    clock.advance(days=1)
    done, _ = carry_on(engine, old, SENDBACK.steps[3:])
    assert done.status == "completed"
    assert engine.application(old.app_no).version == 1
    assert completed_nodes(engine, old.app_no) == [s.node for s in SENDBACK.steps]
    for app_no in (fresh.app_no, old.app_no):
        assert_sound(engine, app_no)


def test_the_merged_review_is_one_task_under_its_new_name(engine: Engine) -> None:
    deploy_fixture(engine, "hv_merged.bpmn")
    result = start_and_stop(engine, SENDBACK, 6)  # the customer's design submitted
    assert [(t.node_id, t.node_name) for t in result.ready_tasks] == [("hv_design_review", "设计审查及中间检查")]


# ----------------------------------------------------------------------------- version diff


def test_version_diff_names_the_removed_reviews_and_the_rerouted_flow(engine: Engine) -> None:
    deploy_fixture(engine, "hv_reform.bpmn")
    diff = engine.version_diff("hv", 1, 2, by="analyst")
    assert {n.node_id for n in diff.removed} >= set(REFORM_REMOVED) | {"hv_gw_need_design_review"}
    assert diff.added == ()
    assert "删除环节「设计文件审查」（hv_design_review）" in diff.summary
    assert "删除环节「中间检查」（hv_mid_inspection）" in diff.summary
    rerouted = {f.flow_id: f for f in diff.rerouted}
    assert (rerouted["hv_f_plan_accepted"].source, rerouted["hv_f_plan_accepted"].target) == \
        ("hv_gw_plan_confirmed", "hv_completion_request")
    assert any(s.startswith("顺序流 hv_f_plan_accepted 改为从「客户是否同意」直接到「竣工验收申请」") for s in diff.summary)
    assert any(s.startswith("删除顺序流 hv_f_design_review") for s in diff.summary)
    # the clocks of the removed reviews went with them, and the validity period guards only the completion request
    assert any(s.startswith("删除流程属性 policyClock.design_review") for s in diff.summary)
    assert any(s.startswith("流程属性 policyClock.plan_validity 由") and "guard: hv_completion_request;" in s
               for s in diff.summary)
    assert engine.version_diff("hv", 1, 2, by="analyst") == diff  # deterministic


def test_version_diff_shows_a_renamed_node_and_that_nothing_changed_between_equal_versions(engine: Engine) -> None:
    deploy_fixture(engine, "hv_merged.bpmn")
    diff = engine.version_diff("hv", 1, 2, by="analyst")
    changed = {n.node_id: n.detail for n in diff.changed}
    assert "名称「设计文件审查」改为「设计审查及中间检查」" in changed["hv_design_review"]
    assert {n.node_id for n in diff.removed} == {"hv_mid_inspection_request", "hv_gw_mid_inspection_loop",
                                                 "hv_mid_inspection", "hv_gw_mid_inspection_result",
                                                 "hv_concealed_rectify"}
    assert "hv_f_design_pass" in {f.flow_id for f in diff.rerouted}
    same = engine.version_diff("hv", 2, 2, by="analyst")
    assert same.removed == same.added == same.changed == same.rerouted == ()
    assert same.summary == ("第 2 版与第 2 版的流程没有差别",)
    with pytest.raises(NotFound):
        engine.version_diff("hv", 1, 9, by="analyst")


# ----------------------------------------------------------------------------- migration


@pytest.fixture
def on_v1(engine: Engine) -> dict[str, StepResult]:
    """Four v1 applications: two waiting before the reviews, one at each review; then the reform is deployed."""
    apps = {stop: start_and_stop(engine, SENDBACK, n) for stop, n in
            (("survey", 0), ("reply", 3), ("design", 6), ("mid", 10))}
    deploy_fixture(engine, "hv_reform.bpmn")
    return apps


def test_the_plan_calls_waiting_before_the_change_safe_and_inside_it_unsafe(
        engine: Engine, on_v1: dict[str, StepResult]) -> None:
    plan = engine.migration_plan("hv", 2, by="analyst")
    verdicts = {v.app_no: v for v in plan.verdicts}
    assert set(verdicts) == {r.app_no for r in on_v1.values()}
    assert verdicts[on_v1["survey"].app_no].safe and verdicts[on_v1["reply"].app_no].safe
    assert verdicts[on_v1["survey"].app_no].waiting_at == ("hv_site_survey_solo",)
    design, mid = verdicts[on_v1["design"].app_no], verdicts[on_v1["mid"].app_no]
    assert not design.safe and "「设计文件审查」（hv_design_review）" in design.reason
    assert not mid.safe and "「中间检查」（hv_mid_inspection）" in mid.reason
    assert all(v.from_version == 1 for v in plan.verdicts)
    assert {v.app_no for v in plan.safe} == {on_v1["survey"].app_no, on_v1["reply"].app_no}
    assert all(engine.application(r.app_no).version == 1 for r in on_v1.values())  # planning changes nothing


def test_migrate_moves_the_safe_ones_which_then_skip_the_reviews(
        engine: Engine, clock: Clock, on_v1: dict[str, StepResult]) -> None:
    calls: list[tuple[int, int]] = []
    result = engine.migrate(engine.migration_plan("hv", 2, by="analyst"), "analyst", lambda done, total: calls.append((done, total)))
    assert set(result.migrated) == {on_v1["survey"].app_no, on_v1["reply"].app_no}
    assert {v.app_no for v in result.skipped} == {on_v1["design"].app_no, on_v1["mid"].app_no}
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]

    for key in ("survey", "reply"):
        app_no = on_v1[key].app_no
        app = engine.application(app_no)
        assert app.version == 2
        migrated = [e for e in app.history if e.kind == "application.migrated"]
        assert [e.payload for e in migrated] == [{"from_version": 1, "to_version": 2, "by": "analyst"}]
        assert [t.id for t in app.open_tasks] == [t.id for t in on_v1[key].ready_tasks]  # the same work items
        assert_sound(engine, app_no)
        step = engine.replay(app_no, by="auditor").steps[-1]
        assert (step.kind, step.matches) == ("application.migrated", True)

    clock.advance(days=1)
    rest = without(REFORM_REMOVED)
    for key, done_before in (("survey", 0), ("reply", 3)):
        app_no = on_v1[key].app_no
        current = StepResult(app_no, "running", engine.application(app_no).open_tasks)
        final, _ = carry_on(engine, current, rest.steps[done_before:])
        assert final.status == "completed"
        assert not set(REFORM_REMOVED) & set(completed_nodes(engine, app_no))
        assert_sound(engine, app_no)

    for key, done_before in (("design", 6), ("mid", 10)):  # unsafe ones stay and finish through the reviews
        app_no = on_v1[key].app_no
        assert engine.application(app_no).version == 1
        final, _ = carry_on(engine, on_v1[key], SENDBACK.steps[done_before:])
        assert final.status == "completed"
        assert completed_nodes(engine, app_no) == [s.node for s in SENDBACK.steps]
        assert_sound(engine, app_no)


def test_migrate_checks_again_and_never_moves_an_unsafe_application(
        engine: Engine, on_v1: dict[str, StepResult]) -> None:
    plan = engine.migration_plan("hv", 2, [on_v1["reply"].app_no, on_v1["design"].app_no], by="analyst")
    assert [v.safe for v in plan.verdicts] == [True, False]
    # Meanwhile the application moves on into the design review; and someone tampers with the plan.
    carry_on(engine, on_v1["reply"], SENDBACK.steps[3:6])
    forced = MigrationPlan(plan.process_key, plan.to_version, tuple(replace(v, safe=True) for v in plan.verdicts))
    result = engine.migrate(forced, "analyst")
    assert result.migrated == ()
    assert [("hv_design_review" in v.reason, v.safe) for v in result.skipped] == [(True, False), (True, False)]
    for r in (on_v1["reply"], on_v1["design"]):
        assert engine.application(r.app_no).version == 1
        assert not [e for e in engine.application(r.app_no).history if e.kind == "application.migrated"]
        assert_sound(engine, r.app_no)


def test_a_passed_gateway_or_review_does_not_keep_an_application_on_its_version(engine: Engine, clock: Clock) -> None:
    """Past both reviews (waiting at 竣工检验, unchanged in v2) or only through the removed gateway: both move,
    and what they went through stays readable: the data on the application page, the replay, the history."""
    past = start_and_stop(engine, SENDBACK, 12)
    ordinary = start_and_stop(engine, SCENARIOS["hv_solo"], 5)
    data_before = {a.app_no: engine.application(a.app_no).data for a in (past, ordinary)}
    assert all(len(d) > 20 for d in data_before.values())
    deploy_fixture(engine, "hv_reform.bpmn")
    verdicts = {v.app_no: v for v in engine.migration_plan("hv", 2, by="analyst").verdicts}
    assert verdicts[past.app_no].safe and verdicts[ordinary.app_no].safe
    assert "「设计文件审查」（hv_design_review）" in verdicts[past.app_no].reason
    assert "其办理记录保留在审计记录中" in verdicts[past.app_no].reason
    assert "不涉及办理工作" in verdicts[ordinary.app_no].reason
    result = engine.migrate(engine.migration_plan("hv", 2, by="analyst"), "analyst")
    assert set(result.migrated) == {past.app_no, ordinary.app_no}

    for app_no, steps in ((past.app_no, SENDBACK.steps[12:]), (ordinary.app_no, SCENARIOS["hv_solo"].steps[5:])):
        engine.forget_cached_workflows()
        app = engine.application(app_no)
        assert app.version == 2
        assert app.data == data_before[app_no]  # the page and the task form read the data as it stands
        task = app.open_tasks[0]
        assert engine.task_form(task.id) is not None and engine.application(app_no).data["customer_name"]
        report = engine.replay(app_no, by="auditor")
        assert report.verified, report.message
        migration = next(s for s in report.steps if s.kind == "application.migrated")
        before = report.steps[report.steps.index(migration) - 1]
        assert migration.data == before.data  # the migration step changes no field
        assert {s.version for s in report.steps[:report.steps.index(migration)]} == {1}
        assert migration.version == 2
        clock.advance(days=1)
        final, _ = carry_on(engine, StepResult(app_no, "running", app.open_tasks), steps)
        assert final.status == "completed"
        assert_sound(engine, app_no)
    done = completed_nodes(engine, past.app_no)
    assert done.count("hv_design_review") == 2 and "hv_mid_inspection" in done  # the record of the reviews stays


def test_a_mapping_moves_work_waiting_at_a_node_whose_id_changed(engine: Engine, clock: Clock) -> None:
    """v2 gives 中间检查 a new id: an application waiting there moves only with a mapping instruction (old node →
    new node), checked before anything moves, and its open work item becomes the new node's."""
    at_mid = start_and_stop(engine, SENDBACK, 10)
    renamed = re.sub(rb"hv_mid_inspection\b(?!\.json)", b"hv_intermediate_inspection", (PROCESSES / "hv.bpmn").read_bytes())
    engine.deploy(renamed, "hv.bpmn", "analyst", comment="中间检查换了标识")
    [plain] = engine.migration_plan("hv", 2, by="analyst").verdicts
    assert not plain.safe and "请添加映射" in plain.reason
    with pytest.raises(InvalidInput, match="不在第 2 版的流程图中"):
        engine.migration_plan("hv", 2, mapping={"hv_mid_inspection": "hv_nowhere"}, by="analyst")
    with pytest.raises(InvalidInput, match="仍然存在，不需要映射"):
        engine.migration_plan("hv", 2, mapping={"hv_design_review": "hv_archive"}, by="analyst")
    with pytest.raises(InvalidInput, match="由不同角色办理"):
        engine.migration_plan("hv", 2, mapping={"hv_mid_inspection": "hv_design_review"}, by="analyst")
    assert engine.application(at_mid.app_no).version == 1  # refused before anything moved

    mapping = {"hv_mid_inspection": "hv_intermediate_inspection"}
    plan = engine.migration_plan("hv", 2, [at_mid.app_no], mapping=mapping, by="analyst")
    [verdict] = plan.verdicts
    assert verdict.safe, verdict.reason
    assert "「中间检查」（hv_mid_inspection） → 「中间检查」（hv_intermediate_inspection）" in verdict.reason
    assert engine.migrate(plan, "analyst").migrated == (at_mid.app_no,)
    app = engine.application(at_mid.app_no)
    [task] = app.open_tasks
    assert (task.id, task.node_id) == (at_mid.ready_tasks[0].id, "hv_intermediate_inspection")
    kept = engine.supervision.kept_open_tasks("hv")  # the dashboard's kept counts follow the task to its new node
    assert kept == engine.supervision.open_tasks_by_due_state("hv")
    assert [n.node_id for n in kept] == ["hv_intermediate_inspection"]
    [event] = [e for e in app.history if e.kind == "application.migrated"]
    assert event.payload["mapping"] == mapping
    assert_sound(engine, at_mid.app_no)
    clock.advance(days=1)
    inspection = replace(SENDBACK.steps[10], node="hv_intermediate_inspection")
    final, _ = carry_on(engine, StepResult(at_mid.app_no, "running", app.open_tasks),
                        (inspection, *SENDBACK.steps[11:]))
    assert final.status == "completed"
    assert_sound(engine, at_mid.app_no)


def test_the_plan_for_named_applications_explains_those_that_cannot_move(engine: Engine) -> None:
    deploy_fixture(engine, "hv_reform.bpmn")
    on_v2 = start_and_stop(engine, SENDBACK, 1)
    finished = start_and_stop(engine, without(REFORM_REMOVED), len(without(REFORM_REMOVED).steps))
    plan = engine.migration_plan("hv", 2, [on_v2.app_no, finished.app_no], by="analyst")
    assert [(v.safe, v.from_version) for v in plan.verdicts] == [(False, 2), (False, 2)]
    assert "已在第 2 版" in plan.verdicts[0].reason
    with pytest.raises(NotFound):
        engine.migration_plan("hv", 2, ["HV000000000000"], by="analyst")
    with pytest.raises(NotFound):
        engine.migration_plan("hv", 7, by="analyst")


def test_a_version_that_would_repeat_done_work_is_unsafe(bare_engine: Engine, tmp_path: Path) -> None:
    """v1 runs a → b, v2 runs b → a: an application waiting at b has done a, which v2 would ask for again."""
    forms = tmp_path / "forms"
    forms.mkdir()
    (forms / "t.json").write_text(json.dumps(diagrams.FORM), encoding="utf-8")

    def two_steps(first: str, second: str) -> bytes:
        return diagrams.process(f"""
        <bpmn:startEvent id="start"/>{diagrams.user_task("a", "甲")}{diagrams.user_task("b", "乙")}
        <bpmn:endEvent id="end"/>
        <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="{first}"/>
        <bpmn:sequenceFlow id="f2" sourceRef="{first}" targetRef="{second}"/>
        <bpmn:sequenceFlow id="f3" sourceRef="{second}" targetRef="end"/>""", ["start", "a", "b", "end"]).encode()

    bare_engine.create_user("m", "经理", ["customer_manager"], "pw")
    bare_engine.deploy(two_steps("a", "b"), "lv.bpmn", "analyst", forms_dir=forms)
    started = bare_engine.start("lv", {}, "m")
    at_b = bare_engine.complete(started.ready_tasks[0].id, "m", {"ok": "pass"})
    assert [t.node_id for t in at_b.ready_tasks] == ["b"]
    bare_engine.deploy(two_steps("b", "a"), "lv.bpmn", "analyst", forms_dir=forms)
    [verdict] = bare_engine.migration_plan("lv", 2, by="analyst").verdicts
    assert not verdict.safe and "「甲」（a）" in verdict.reason and "重复" in verdict.reason
    assert bare_engine.migrate(bare_engine.migration_plan("lv", 2, by="analyst"), "analyst").migrated == ()
