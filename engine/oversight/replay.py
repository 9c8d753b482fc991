"""Deterministic replay: re-execute an application from its recorded inputs and compare every step.

The inputs are what the audit trail recorded: the acceptance data, each completed task's form data,
each retry, each correction of recorded data (its new value), each withdrawal or termination (the workflow
cancelled), and (in ``recorded`` mode) each handler's result. After every input the engine runs until
it waits, exactly as it did live; the task state changes it makes are compared with the
moves recorded with that input (``engine.kernel.transitions``), and at the end the whole re-executed
workflow is compared with the stored one. In ``rerun`` mode the handlers run again with today's rules,
showing where they would decide differently.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

import handlers

from ..casework.documents import manager_workloads
from ..casework.rows import app_by_number
from ..casework.steps import Steps
from ..definitions.versions import Definitions
from ..errors import InvalidInput
from ..kernel.canonical import canonical
from ..kernel.interpreter import (
    Interpreter,
    NoDocuments,
    RecordedCalls,
    RecordedEvent,
    Transaction,
    Transition,
    group_events,
)
from ..kernel.loading import ParsedDiagram
from ..kernel.runtime import RunContext
from ..kernel.transitions import is_fact, state_name
from ..results import ReplayReport, ReplayStep
from ..store import Store
from ..store.tables import DOCUMENTS, EVENTS
from ..vocabulary import ENDING_KINDS, EventKind

NO_ENGINE_STEP = (EventKind.APPLICATION_MIGRATED, EventKind.APPLICATION_CORRECTED, *ENDING_KINDS)
"""Inputs applied live without running the engine on: replay does not run it either."""

__all__ = ["RecordedEvent", "Replays", "compare_states", "replay"]


def replay(
    *,
    app_no: str,
    process_key: str,
    diagram: ParsedDiagram,
    events: Sequence[RecordedEvent],
    registry: Mapping[str, handlers.Operator],
    settings: handlers.PolicySettings,
    workloads: Callable[[], Mapping[str, int]],
    max_iterations: int,
    stored_state: Mapping[str, Any] | None,
    documents: Mapping[str, str] | None = None,
    mode: str = "recorded",
    diagram_for_version: Callable[[int], ParsedDiagram] | None = None,
) -> ReplayReport:
    """Re-execute one application from its recorded inputs; report every step and the first divergence.

    ``diagram`` is the version the application runs on now; an application that was migrated starts on
    the version its acceptance recorded and moves at each ``application.migrated`` event, so replaying it
    needs ``diagram_for_version`` (version number → diagram).
    """
    if mode not in ("recorded", "rerun"):
        raise ValueError(f"unknown replay mode {mode!r}")
    groups = group_events(events)
    started = next((g.input for g in groups if g.input.kind == EventKind.APPLICATION_STARTED), None)
    version: int | None = int(started.payload["version"]) if started and "version" in started.payload else None
    if diagram_for_version is not None and version is not None and any(
            g.input.kind == EventKind.APPLICATION_MIGRATED for g in groups):
        diagram = diagram_for_version(version)
    clock_now: list[datetime] = [groups[0].input.at if groups else datetime.now()]
    run = RunContext(app_no, process_key, settings, NoDocuments(workloads), lambda: clock_now[0],
                     labels=diagram.labels)
    handlers_ = RecordedCalls(registry, run, mode, documents or {})
    machine = Interpreter(diagram, handlers_, max_iterations)
    steps: list[ReplayStep] = []
    for index, group in enumerate(groups):
        ev = group.input
        clock_now[0] = ev.at
        handlers_.expect(group.calls, group.error if group.outcome == "error" else None)
        run.calls = []
        problem: str | None = None
        if ev.kind == EventKind.APPLICATION_STARTED:
            machine.start(ev.payload.get("data", {}))
        elif not machine.started:
            problem = "记录中缺少受理事件，无法重放"
        elif ev.kind == EventKind.TASK_COMPLETED:
            problem = machine.complete(ev.node_id or "", ev.payload.get("data", {}))
            if problem is not None and "不在待办" in problem:
                open_nodes = "、".join(machine.ready_nodes()) or "无"
                problem = f"记录中办理了 {ev.node_id}，重放时该环节不在待办（待办：{open_nodes}）"
            elif problem is not None:
                problem = f"重放{problem}"
        elif ev.kind == EventKind.APPLICATION_RETRIED:
            machine.retry()
        elif ev.kind == EventKind.APPLICATION_MIGRATED:
            to_version = int(ev.payload.get("to_version", 0))
            if diagram_for_version is None:
                problem = f"记录中迁移到了第 {to_version} 版，但重放时取不到该版本的流程图"
            else:
                problem = machine.migrate(diagram_for_version(to_version), to_version, ev.payload.get("mapping"))
                if problem is None:
                    version = to_version
        elif ev.kind == EventKind.APPLICATION_CORRECTED:
            machine.correct(str(ev.payload.get("field", "")), ev.payload.get("after"))
        elif ev.kind in ENDING_KINDS:
            machine.cancel()
        error = None
        if problem is None and machine.started and ev.kind not in NO_ENGINE_STEP:
            error = machine.advance()  # a migration, a correction, an ending run no engine step live either
        if problem is None and machine.started:
            problem = _compare(group, machine.transitions(), error, machine.is_completed(), handlers_.differences)
        completed, active, flows = machine.trace()
        node = machine.diagram.nodes.get(ev.node_id or "")
        steps.append(ReplayStep(
            index=index, event_seq=ev.seq, kind=ev.kind, node_id=ev.node_id, node_name=node.name if node else None,
            actor=ev.actor, at=ev.at, completed=completed, active=active, flows=flows,
            data=machine.data(), matches=problem is None, difference=problem, version=version))
        if problem is not None and (not machine.started or "不在待办" in problem or "失败" in problem
                                    or ev.kind == EventKind.APPLICATION_MIGRATED):
            break  # the recorded inputs no longer apply: nothing further can be replayed
    verified = bool(steps) and all(s.matches for s in steps) and len(steps) == len(groups)
    message = ("重放核验通过：每一步的结果都与记录一致" if mode == "recorded"
               else "按今日规则重放：每一步的决定都与当时相同")
    if not groups:
        verified, message = False, "没有可重放的记录"
    first = next((s for s in steps if not s.matches), None)
    if first is not None:
        where = f"第 {first.index + 1} 步（{first.node_name or first.kind}，审计事件 #{first.event_seq}）"
        message = f"{where}与记录不一致：{first.difference}"
    elif verified and mode == "recorded" and stored_state is not None and machine.started:
        difference = compare_states(machine.state(), stored_state)
        if difference:
            verified, message = False, f"存储的流程状态与重放结果不一致：{difference}"
    return ReplayReport(app_no, mode, verified, message, tuple(steps))


def _compare(group: Transaction, transitions: list[Transition], error: str | None, completed: bool,
             differences: list[str]) -> str | None:
    """What differs between a replayed step and its recorded transaction, in Chinese (None if nothing)."""
    if differences:
        return differences[0]
    replayed = Counter((name, state_name(old), state_name(new)) for _, name, old, new in transitions
                       if is_fact(state_name(old), state_name(new)))
    recorded = Counter((c[0], c[1], c[2]) for c in group.transitions)
    if replayed != recorded:
        extra = sorted((replayed - recorded).elements())
        missing = sorted((recorded - replayed).elements())
        parts = []
        if missing:
            parts.append("记录有而重放没有：" + "；".join(f"{n} {a}→{b}" for n, a, b in missing[:5]))
        if extra:
            parts.append("重放有而记录没有：" + "；".join(f"{n} {a}→{b}" for n, a, b in extra[:5]))
        return "，".join(parts)
    if group.input.kind in ENDING_KINDS:
        outcome = "ended"
    else:
        outcome = "error" if error else ("completed" if completed else "running")
    if outcome != group.outcome:
        return f"记录的结果为 {group.outcome}，重放结果为 {outcome}{('（' + error + '）') if error else ''}"
    return None


def _comparable(state: Mapping[str, Any]) -> tuple[Counter[str], str]:
    """A workflow's stored form without ids and clocks: the multiset of (node, state, data) and its data."""
    tasks = state.get("tasks", {})
    data_of: dict[str, dict[str, Any]] = {}

    def materialise(tid: str) -> dict[str, Any]:
        if tid in data_of:
            return data_of[tid]
        entry = tasks[tid]
        parent = entry.get("parent")
        if entry.get("data") or not parent or parent not in tasks:
            data = dict(entry.get("data") or {})
        else:
            data = dict(materialise(parent))
        delta = entry.get("delta") or {}
        data.update(delta.get("updates", {}))
        for key in delta.get("deletions", []):
            data.pop(key, None)
        data_of[tid] = data
        return data

    items: Counter[str] = Counter()
    for tid, entry in tasks.items():
        items[canonical([entry.get("task_spec"), entry.get("state"), materialise(tid)])] += 1
    return items, canonical(state.get("data", {}))


def compare_states(replayed: Mapping[str, Any], stored: Mapping[str, Any]) -> str | None:
    """Where a re-executed workflow differs from the stored one (ids and timestamps aside), or None."""
    r_tasks, r_data = _comparable(replayed)
    s_tasks, s_data = _comparable(stored)
    if r_data != s_data:
        return "流程级数据不同"
    if r_tasks != s_tasks:
        missing = list((r_tasks - s_tasks).elements())
        extra = list((s_tasks - r_tasks).elements())
        sample = (extra or missing)[0]
        node, state, _ = json.loads(sample)
        return (f"存储中有 {len(extra)} 个任务与重放不符、缺少 {len(missing)} 个（例如节点 {node}，状态 "
                f"{state_name(state)}）")
    return None



class Replays:
    """Replaying stored applications (the caller checked who may)."""

    def __init__(self, store: Store, definitions: Definitions, steps: Steps, registry: Mapping[str, handlers.Operator],
                 settings: handlers.PolicySettings, max_iterations: int) -> None:
        self.store, self.definitions, self.steps, self.registry = store, definitions, steps, registry
        self.settings, self.max_iterations = settings, max_iterations

    def replay(self, app_no: str, mode: str = "recorded") -> ReplayReport:
        """Re-execute an application from its recorded inputs and compare every step with the record
        ('recorded': handler results as recorded; 'rerun': today's rules decide again)."""
        if mode not in ("recorded", "rerun"):
            raise InvalidInput(f"未知的重放方式：{mode}（recorded 或 rerun）")
        with self.store.read() as conn:
            app = app_by_number(conn, app_no)
            diagram = self.definitions.diagram(conn, app.version_id)
            events = [RecordedEvent(e.seq, e.at, e.actor, e.kind, e.node_id, e.task_id, json.loads(e.payload))
                      for e in conn.execute(select(EVENTS).where(EVENTS.c.application_id == app.id)
                                            .order_by(EVENTS.c.seq))]
            stored = self.steps.codec.full_dict(self.steps.load(conn, app, diagram).wf)
            documents = {doc_id: digest for doc_id, digest in
                         conn.execute(select(DOCUMENTS.c.id, DOCUMENTS.c.sha256)
                                      .where(DOCUMENTS.c.application_id == app.id))}

        def workloads() -> Mapping[str, int]:
            with self.store.read() as c:
                return manager_workloads(c)

        return replay(app_no=app.app_no, process_key=app.process_key, diagram=diagram, events=events,
                      registry=self.registry, settings=self.settings, workloads=workloads,
                      max_iterations=self.max_iterations, stored_state=stored, documents=documents, mode=mode,
                      diagram_for_version=lambda v: self.definitions.version_diagram(app.process_key, v))
