"""The state codec: a step looks only at the open part of the task tree and finds exactly what comparing every
task finds; the rows it writes restore to the very workflow in memory, on every shipped path."""

from __future__ import annotations

import copy
import gc
import json
import weakref
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import pytest

import handlers
from engine import Engine
from engine.analysis.scenarios import MemoryServices
from engine.kernel.codec import Changes, Snapshot, StateCodec
from engine.kernel.loading import ParsedDiagram
from engine.kernel.runtime import Guard, RunContext, ScriptEngine, advance, complete_user_task, reset_for_retry
from cli.demo import Scenario, Step, actor_for, do_field_work, drive, load_scenarios
from handlers.errors import HandlerError

from tests.conftest import PROCESSES

SCENARIOS = {s.name: s for s in load_scenarios(PROCESSES / "paths.json")}


class Store:
    """Rows as a table keeps them: seq → (task id, payload), with a step's writes applied."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[str, str]] = {}

    def write(self, changes: Changes, snapshot: Snapshot) -> None:
        for tid in changes.deletions:
            del self.rows[snapshot.seq[tid]]
        for tid, seq, payload, is_new in changes.upserts:
            assert is_new == (seq not in self.rows)
            self.rows[seq] = (str(tid), payload)

    def sorted(self) -> list[tuple[str, int, str]]:
        return [(tid, seq, payload) for seq, (tid, payload) in sorted(self.rows.items())]


class Run:
    """One workflow in memory, persisted step by step into a Store with the incremental comparison, which is
    checked against a comparison of every task at each step."""

    def __init__(self, diagram: ParsedDiagram, registry: Mapping[str, handlers.Operator], variant: str) -> None:
        self.diagram, self.codec = diagram, StateCodec()
        self.context = RunContext("SIM20261123000001", variant, handlers.PolicySettings(), MemoryServices(),
                                  lambda: datetime(2026, 11, 23, 9), labels=diagram.labels)
        self.wf = self.codec.new_workflow(diagram, ScriptEngine(registry, self.context))
        self.snapshot = Snapshot({}, {}, {}, 0)
        self.store = Store()
        self.counts: dict[str, int] = {}
        self.steps = 0

    def persist(self) -> Changes:
        shadow = copy.deepcopy(self.snapshot)
        everything = self.codec.changes(self.wf, shadow, full=True)
        changes = self.codec.changes(self.wf, self.snapshot)
        assert {t for t, *_ in changes.upserts} >= {t for t, _, _, new in everything.upserts if new}
        assert {t for t, *_ in changes.upserts} == {t for t, *_ in everything.upserts}
        assert sorted(map(str, changes.deletions)) == sorted(map(str, everything.deletions))
        assert sorted(changes.transitions, key=str) == sorted(everything.transitions, key=str)
        assert set(changes.open) == set(everything.open)
        assert self.codec.is_completed(self.wf, changes) == self.wf.is_completed()
        self.store.write(changes, self.snapshot)
        self.codec.commit(self.wf, self.snapshot, changes)
        assert ({t.id for t in self.codec.ready_user_tasks(self.wf, self.snapshot)}
                == {t.id for t in self.wf.get_tasks(state=16, manual=True)})
        self.steps += 1
        return changes

    def restored(self) -> Any:
        meta = json.loads(self.codec.dump_meta(self.wf, {}))
        wf, snapshot = self.codec.restore(self.diagram, meta, self.store.sorted(), self.wf.script_engine)
        assert snapshot.open.keys() == self.snapshot.open.keys()
        return wf

    def advance(self) -> str | None:
        return advance(self.wf, Guard(self.counts, 500))

    def complete(self, node: str, data: Mapping[str, Any]) -> None:
        task = next(t for t in self.codec.ready_user_tasks(self.wf, self.snapshot) if t.task_spec.name == node)
        complete_user_task(self.wf, task.id, data)


def walk(engine: Engine, scenario: Scenario, registry: Mapping[str, handlers.Operator] | None = None
         ) -> Iterator[Run]:
    """The scenario step by step in memory; yields after each persisted step."""
    diagram = engine.scenario_runner(scenario.process).diagram
    start_form = diagram.forms[diagram.start_form]
    run = Run(diagram, registry if registry is not None else engine.registry, scenario.process)
    for task in run.wf.get_tasks(state=16):
        task.data.update(start_form.validate(scenario.start))
    assert run.advance() is None
    run.persist()
    yield run
    for step in scenario.steps:
        form = diagram.form_for(step.node)
        run.complete(step.node, form.validate(step.data) if form else dict(step.data))
        assert run.advance() is None
        run.persist()
        yield run


def with_loops(base: Scenario, loops: int) -> Scenario:
    steps = list(base.steps)
    first = next(i for i, s in enumerate(steps) if s.node == "hv_design_review")
    fail, rectify = steps[first], steps[first + 1]
    looped = steps[:first] + [fail, rectify] * loops + steps[first + 2:]
    return Scenario(f"{base.name}x{loops}", base.title, base.process, base.start,
                    tuple(Step(s.node, s.data) for s in looped))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_step_finds_what_comparing_every_task_finds_and_restores_exactly(engine: Engine, name: str) -> None:
    codec = StateCodec()
    for run in walk(engine, SCENARIOS[name]):
        assert codec.full_dict(run.restored()) == codec.full_dict(run.wf)
    assert run.wf.is_completed()


def test_a_long_send_back_loop_rewrites_only_the_open_part(engine: Engine) -> None:
    codec = StateCodec()
    written: list[int] = []
    for run in walk(engine, with_loops(SCENARIOS["hv_design_review_sendback"], 12)):
        written.append(len(run.store.rows))
        if run.steps % 6 == 0:
            assert codec.full_dict(run.restored()) == codec.full_dict(run.wf)
    loop_growth = [b - a for a, b in zip(written[8:20], written[9:21])]
    assert max(loop_growth) <= 4 and len(written) > 30
    assert len(run.wf.tasks) == len(run.store.rows)


def test_a_failed_handler_reopens_its_task_and_the_retry_is_seen(engine: Engine) -> None:
    failures = {"left": 1}
    registry = dict(engine.registry)
    real = registry["select_survey_mode"]

    def flaky(ctx: handlers.HandlerContext, **params: Any) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise HandlerError("勘查方式服务暂不可用")
        return real.func(ctx, **params)

    registry["select_survey_mode"] = handlers.Operator(real.name, flaky, real.required, real.optional, real.title)
    scenario = SCENARIOS["hv_solo"]
    diagram = engine.scenario_runner("hv").diagram
    run = Run(diagram, registry, "hv")
    for task in run.wf.get_tasks(state=16):
        task.data.update(diagram.forms[diagram.start_form].validate(scenario.start))
    assert "勘查方式服务暂不可用" in (run.advance() or "")
    run.persist()
    failed = run.codec.error_tasks(run.wf, run.snapshot)
    assert [t.task_spec.name for t in failed] == ["hv_select_survey_mode"]
    reset_for_retry(failed[0])
    assert run.advance() is None
    changes = run.persist()
    assert ("hv_select_survey_mode", 128, 64) in {(name, old, new) for _, name, old, new in changes.transitions}
    assert StateCodec().full_dict(run.restored()) == StateCodec().full_dict(run.wf)


def test_rows_stored_before_the_compact_form_still_restore_and_mix_with_new_ones(engine: Engine) -> None:
    codec = StateCodec()
    steps = walk(engine, SCENARIOS["hv_solo"])
    run = next(steps)
    next(steps)
    # Rewrite every stored row the way the earlier codec did: SpiffWorkflow's own task dictionary.
    encoder = codec._encoder
    for seq, (tid, _) in list(run.store.rows.items()):
        task = next(t for t in run.wf.tasks.values() if str(t.id) == tid)
        old = codec.registry.convert(task)
        run.store.rows[seq] = (tid, json.dumps(old, cls=encoder, ensure_ascii=False, separators=(",", ":")))
    assert all(p.startswith("{") for _, p in run.store.rows.values())
    assert codec.full_dict(run.restored()) == codec.full_dict(run.wf)
    for run in steps:  # later steps write compact rows among the old ones
        assert codec.full_dict(run.restored()) == codec.full_dict(run.wf)
    assert any(p.startswith("{") for _, p in run.store.rows.values())
    assert any(p.startswith("[") for _, p in run.store.rows.values())


def test_a_compact_row_names_other_tasks_by_position_not_by_uuid(engine: Engine) -> None:
    run = next(walk(engine, SCENARIOS["hv_solo"]))
    for tid, payload in run.store.rows.values():
        row = json.loads(payload)
        assert isinstance(row, list) and len(row) == 8
        assert tid not in payload and not any(str(t) in payload for t in run.wf.tasks)
        task = next(t for t in run.wf.tasks.values() if str(t.id) == tid)
        assert row[4] == task.task_spec.name and row[3] == task.state


def test_a_workflow_let_go_is_freed_at_once_not_by_the_garbage_collectors_full_passes(engine: Engine) -> None:
    app_no = ""
    for result in drive(engine, SCENARIOS["hv_solo"], stop_after=2):
        app_no = result.app_no
    cached = engine.cached_state(app_no)
    assert cached is not None and cached["tasks"]
    live = next(iter(engine.steps._live.values()))  # the one workflow this engine holds
    tasks = [weakref.ref(t) for t in live.wf.tasks.values()]
    held = weakref.ref(live.wf)
    gc.disable()
    try:
        engine.forget_cached_workflows()
        assert live.wf is None and all(t() is None for t in tasks)  # freed by reference counting alone
    finally:
        gc.enable()
    assert held() is None or not held().tasks
    assert engine.cached_state(app_no) is None
    engine.complete(*next_task(engine, app_no))  # and the application goes on from its rows
    assert engine.verify_audit(app_no).intact


def next_task(engine: Engine, app_no: str) -> tuple[str, str, Mapping[str, Any]]:
    """The task the hv_solo path completes next: its id, who does it, what is submitted."""
    info = engine.application(app_no)
    done = sum(1 for e in info.history if e.kind == "task.completed")
    step = SCENARIOS["hv_solo"].steps[done]
    task = next(t for t in info.open_tasks if t.node_id == step.node)
    actor = actor_for(engine, task.role, task.assignee)
    do_field_work(engine, task.id, actor)
    return task.id, actor, step.data
