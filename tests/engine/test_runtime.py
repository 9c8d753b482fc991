"""The runtime on small diagrams: persistence round-trips, loops, guards, conflicts, rollback, retry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import handlers
from engine import Conflict, Engine, Forbidden, FormValidationError
from cli.demo import create_demo_users
from engine.store.models import AuditEvent, WorkflowTaskRow
from handlers.errors import HandlerError

from tests.databases import database_url
from tests.engine.diagrams import FORM, loop, process, user_task


@pytest.fixture
def forms_dir(tmp_path: Path) -> Path:
    d = tmp_path / "forms"
    d.mkdir()
    (d / "t.json").write_text(json.dumps(FORM, ensure_ascii=False), encoding="utf-8")
    return d


def setup_engine(tmp_path: Path, clock: Any, xml: str, forms_dir: Path, **config: Any) -> Engine:
    registry = config.pop("registry", None)
    eng = Engine({"database_url": database_url(tmp_path, "rt.db"), "documents_dir": tmp_path / "docs", **config},
                 clock=clock, registry=registry)
    eng.init_schema()
    create_demo_users(eng)
    eng.deploy(xml.encode(), "t.bpmn", "analyst", forms_dir=forms_dir)
    return eng


def only_task(result: Any) -> Any:
    assert len(result.ready_tasks) == 1, result
    return result.ready_tasks[0]


def assert_stored_equals_memory(eng: Engine, app_no: str) -> None:
    cached = eng.cached_state(app_no)
    assert cached is not None
    assert eng.stored_state(app_no) == cached


def test_send_back_loop_persists_and_reloads_exactly(tmp_path: Path, clock: Any, forms_dir: Path) -> None:
    eng = setup_engine(tmp_path, clock, loop(), forms_dir)
    result = eng.start("lv", {}, "manager1")
    first = only_task(result)
    assert (first.node_id, first.role) == ("review", "customer_manager")
    for _ in range(3):
        result = eng.complete(only_task(result).id, "manager1", {"ok": "fail"})
        assert_stored_equals_memory(eng, result.app_no)
        eng.forget_cached_workflows()  # the next step must work from the database alone
    again = only_task(result)
    assert again.node_id == "review" and again.id != first.id
    result = eng.complete(again.id, "manager1", {"ok": "pass", "n": 2})
    assert result.status == "completed" and result.ready_tasks == ()
    app = eng.application(result.app_no)
    assert app.data["ok"] == "pass" and app.data["n"] == 2
    assert eng.verify_audit(result.app_no).intact


def test_bytes_written_per_step_stay_flat_as_history_grows(tmp_path: Path, clock: Any, forms_dir: Path) -> None:
    eng = setup_engine(tmp_path, clock, loop(), forms_dir)
    result = eng.start("lv", {}, "manager1")
    sizes: list[int] = []
    with eng.store.reading() as s:
        before = s.scalar(select(func.count()).select_from(WorkflowTaskRow))
    for i in range(30):
        with eng.store.reading() as s:
            rows_before = s.scalar(select(func.count()).select_from(WorkflowTaskRow))
        result = eng.complete(only_task(result).id, "manager1", {"ok": "fail"})
        with eng.store.reading() as s:
            rows_after = s.scalar(select(func.count()).select_from(WorkflowTaskRow))
        sizes.append(rows_after - rows_before)
    assert before > 0
    # each loop adds the same handful of task rows, however long the history already is
    assert max(sizes[5:]) == min(sizes[5:]) <= 6


def test_loop_guard_puts_the_application_in_error(tmp_path: Path, clock: Any, forms_dir: Path) -> None:
    eng = setup_engine(tmp_path, clock, loop(), forms_dir, max_loop_iterations=3)
    result = eng.start("lv", {}, "manager1")
    for _ in range(2):
        result = eng.complete(only_task(result).id, "manager1", {"ok": "fail"})
    result = eng.complete(only_task(result).id, "manager1", {"ok": "fail"})
    assert result.status == "running"
    result = eng.complete(only_task(result).id, "manager1", {"ok": "fail"})
    assert result.status == "error"
    assert "循环上限 3" in (result.error_message or "")
    assert eng.application(result.app_no).status == "error"


def test_second_completion_of_one_task_is_a_conflict_naming_who(tmp_path: Path, clock: Any, forms_dir: Path) -> None:
    eng = setup_engine(tmp_path, clock, loop(), forms_dir)
    task = only_task(eng.start("lv", {}, "manager1"))
    eng.complete(task.id, "manager1", {"ok": "pass"})
    with pytest.raises(Conflict) as info:
        eng.complete(task.id, "manager2", {"ok": "pass"})
    assert "已由客户经理 李强于" in info.value.message and "manager1" not in info.value.message  # by name


def test_bad_form_data_changes_nothing(tmp_path: Path, clock: Any, forms_dir: Path) -> None:
    eng = setup_engine(tmp_path, clock, loop(), forms_dir)
    result = eng.start("lv", {}, "manager1")
    task = only_task(result)
    with eng.store.reading() as s:
        events = s.scalar(select(func.count()).select_from(AuditEvent))
    for bad in ({}, {"ok": "maybe"}, {"ok": "pass", "n": -1}, {"ok": "pass", "n": "three"}, {"ok": "pass", "zzz": 1}):
        with pytest.raises(FormValidationError) as info:
            eng.complete(task.id, "manager1", bad)
        assert info.value.field_errors and all(info.value.field_errors.values())
    with eng.store.reading() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == events
    assert eng.task(task.id).status == "ready"


def test_wrong_role_is_forbidden(tmp_path: Path, clock: Any, forms_dir: Path) -> None:
    eng = setup_engine(tmp_path, clock, loop(), forms_dir)
    task = only_task(eng.start("lv", {}, "manager1"))
    with pytest.raises(Forbidden):
        eng.complete(task.id, "metering", {"ok": "pass"})
    with pytest.raises(Forbidden):
        eng.start("lv", {}, "metering")


def test_claimed_task_is_only_completed_by_the_claimant(tmp_path: Path, clock: Any, forms_dir: Path) -> None:
    eng = setup_engine(tmp_path, clock, loop(), forms_dir)
    task = only_task(eng.start("lv", {}, "manager1"))
    eng.claim(task.id, "manager2")
    with pytest.raises(Conflict):
        eng.claim(task.id, "manager1")
    with pytest.raises(Forbidden):
        eng.complete(task.id, "manager1", {"ok": "pass"})
    eng.release(task.id, "manager2")
    assert eng.complete(task.id, "manager1", {"ok": "pass"}).status == "completed"


def _service_diagram(operator: str) -> str:
    return process(f"""
    <bpmn:startEvent id="start"/>
    {user_task("review")}
    <bpmn:serviceTask id="rule" name="规则">
      <bpmn:extensionElements><spiffworkflow:serviceTaskOperator id="{operator}" resultVariable="outcome">
      <spiffworkflow:parameters/></spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements></bpmn:serviceTask>
    {user_task("after", "复核")}
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="rule"/>
    <bpmn:sequenceFlow id="f3" sourceRef="rule" targetRef="after"/>
    <bpmn:sequenceFlow id="f4" sourceRef="after" targetRef="end"/>""", ["start", "review", "rule", "after", "end"])


def _registry_with(name: str, func: Any) -> dict[str, handlers.Operator]:
    reg = dict(handlers.build_registry())
    reg[name] = handlers.Operator(name, func, (), (), "测试")
    return reg


def test_handler_error_parks_the_application_and_retry_resumes(tmp_path: Path, clock: Any, forms_dir: Path) -> None:
    calls = []

    def flaky(ctx: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise HandlerError("外部系统暂不可用")
        return "ok"

    eng = setup_engine(tmp_path, clock, _service_diagram("flaky"), forms_dir, registry=_registry_with("flaky", flaky))
    result = eng.complete(only_task(eng.start("lv", {}, "manager1")).id, "manager1", {"ok": "pass"})
    assert result.status == "error" and "外部系统暂不可用" in (result.error_message or "")
    assert result.ready_tasks == ()
    eng.forget_cached_workflows()
    result = eng.retry(result.app_no, "manager1")
    assert result.status == "running"
    assert only_task(result).node_id == "after"
    assert eng.application(result.app_no).data["outcome"] == "ok"
    with pytest.raises(Conflict):
        eng.retry(result.app_no, "manager1")


def test_a_crash_mid_step_leaves_the_last_committed_state(tmp_path: Path, clock: Any, forms_dir: Path) -> None:
    def broken(ctx: Any) -> str:
        raise RuntimeError("bug in handler")

    eng = setup_engine(tmp_path, clock, _service_diagram("broken"), forms_dir, registry=_registry_with("broken", broken))
    task = only_task(eng.start("lv", {}, "manager1"))
    before = eng.stored_state(task.app_no)
    with pytest.raises(RuntimeError):
        eng.complete(task.id, "manager1", {"ok": "pass"})
    assert eng.stored_state(task.app_no) == before
    assert eng.task(task.id).status == "ready"
    assert eng.verify_audit(task.app_no).intact


def test_two_people_racing_on_one_task_one_wins_the_other_gets_a_conflict(
        tmp_path: Path, clock: Any, forms_dir: Path) -> None:
    import threading

    eng = setup_engine(tmp_path, clock, loop(), forms_dir)
    for _ in range(5):
        task = only_task(eng.start("lv", {}, "manager1"))
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def attempt(user: str) -> None:
            barrier.wait()
            try:
                eng.complete(task.id, user, {"ok": "pass"})
                outcomes.append("ok")
            except Conflict as exc:
                outcomes.append("conflict:" + exc.message)

        threads = [threading.Thread(target=attempt, args=(u,)) for u in ("manager1", "manager2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "ok"], outcomes
        assert "已由" in next(o for o in outcomes if o.startswith("conflict"))
        assert eng.application(task.app_no).status == "completed"
        assert eng.verify_audit(task.app_no).intact


def test_running_applications_stay_on_their_version(tmp_path: Path, clock: Any, forms_dir: Path) -> None:
    eng = setup_engine(tmp_path, clock, loop(), forms_dir)
    old = only_task(eng.start("lv", {}, "manager1"))
    renamed = loop().replace('name="审核"', 'name="复核（新版）"')
    v2 = eng.deploy(renamed.encode(), "t.bpmn", "analyst", "改名", forms_dir=forms_dir)
    assert v2.version == 2
    new = only_task(eng.start("lv", {}, "manager1"))
    assert (old.node_name, new.node_name) == ("审核", "复核（新版）")
    assert eng.application(old.app_no).version == 1 and eng.application(new.app_no).version == 2
    eng.forget_cached_workflows()
    again = only_task(eng.complete(old.id, "manager1", {"ok": "fail"}))
    assert again.node_name == "审核"  # the old instance keeps running its own version


def test_the_script_engine_itself_refuses_code(tmp_path: Path, clock: Any, forms_dir: Path) -> None:
    from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException

    from engine.kernel.runtime import RunContext, ScriptEngine, StateCodec

    eng = setup_engine(tmp_path, clock, loop(), forms_dir)
    from engine.kernel.loading import forms_from_directory

    diagram = eng.definitions.parse(loop().encode(), "t.bpmn", forms_from_directory(forms_dir))
    run = RunContext("LV1", "lv", handlers.PolicySettings(), None, clock)  # type: ignore[arg-type]
    script_engine = ScriptEngine(handlers.build_registry(), run)
    task = StateCodec().new_workflow(diagram, script_engine).task_tree
    task.data["x"] = 1
    marker = tmp_path / "pwned"
    with pytest.raises(WorkflowTaskException):
        script_engine.execute(task, f"open({str(marker)!r}, 'w')")
    with pytest.raises(WorkflowTaskException):
        script_engine.evaluate(task, f"__import__('os').system('touch {marker}')")
    assert script_engine.evaluate(task, "x + 1") == 2
    assert not marker.exists()
