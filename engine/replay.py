"""Deterministic replay: re-execute an application from its recorded inputs and compare every step.

The inputs are what the audit trail recorded: the acceptance data, each completed task's form data,
each retry, and (in ``recorded`` mode) each handler's result. After every input the engine runs until
it waits, exactly as it did live; the task state changes it makes are compared with the
``engine.transitions`` event recorded in the same transaction, and at the end the whole re-executed
workflow is compared with the stored one. In ``rerun`` mode the handlers run again with today's rules,
showing where they would decide differently.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException

import handlers
from handlers.errors import HandlerError

from .audit import canonical
from .loading import ParsedDiagram
from .migration import migrate_for_replay
from .runtime import (
    Guard,
    RunContext,
    ScriptEngine,
    ServiceCall,
    Snapshot,
    StateCodec,
    advance,
    complete_user_task,
    error_tasks,
    ready_user_tasks,
    reset_for_retry,
    state_name,
    trace,
)
from .views import ReplayReport, ReplayStep

INPUT_KINDS = ("application.started", "task.completed", "application.retried", "application.migrated")


@dataclass(frozen=True)
class RecordedEvent:
    """An audit event as the replay needs it."""

    seq: int
    at: datetime
    actor: str
    kind: str
    node_id: str | None
    task_id: str | None
    payload: Mapping[str, Any]


@dataclass
class _Group:
    """One transaction of the live run: its input event and what the engine recorded with it."""

    input: RecordedEvent
    calls: list[RecordedEvent] = field(default_factory=list)
    transitions: list[list[str]] = field(default_factory=list)
    outcome: str = "running"
    error: str | None = None


def group_events(events: Sequence[RecordedEvent]) -> list[_Group]:
    """Split the trail into transactions: each starts with an input and carries what followed it."""
    groups: list[_Group] = []
    for ev in events:
        if ev.kind in INPUT_KINDS:
            groups.append(_Group(ev))
            continue
        if not groups:
            continue
        current = groups[-1]
        if ev.kind == "service.called":
            current.calls.append(ev)
        elif ev.kind == "engine.transitions":
            current.transitions.extend(ev.payload.get("changes", []))
        elif ev.kind == "application.error":
            current.outcome, current.error = "error", str(ev.payload.get("message", ""))
        elif ev.kind == "application.completed":
            current.outcome = "completed"
    return groups


class _ReplayScriptEngine(ScriptEngine):
    """Hands each service task its recorded result (``recorded``) or calls today's handler (``rerun``)."""

    def __init__(self, registry: Mapping[str, handlers.Operator], run: RunContext, mode: str) -> None:
        super().__init__(registry, run)
        self.mode = mode
        self.recorded: dict[str, deque[RecordedEvent]] = {}
        self.differences: list[str] = []
        self.failure: str | None = None
        self.documents: Mapping[str, str] = {}

    def _by_content(self, value: Any) -> Any:
        """A recorded result with stored document ids replaced by their content hashes."""
        if isinstance(value, dict):
            return {k: self._by_content(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._by_content(v) for v in value]
        if isinstance(value, str) and value in self.documents:
            return "sha256:" + self.documents[value]
        return value

    def expect(self, calls: list[RecordedEvent], failure: str | None) -> None:
        """The handler calls recorded for the next step, and the error it ended with, if any."""
        self.failure = failure
        self.recorded = {}
        for call in calls:
            self.recorded.setdefault(call.node_id or "", deque()).append(call)

    def call_service(self, task: Any, operation_name: str = "", operation_params: Any = None, **_: Any) -> str:
        node = task.task_spec.name
        queue = self.recorded.get(node)
        recorded = queue.popleft() if queue else None
        params = {name: spec["value"] for name, spec in (operation_params or {}).items()}
        if recorded is None:
            self.differences.append(f"节点 {node} 调用了处理器 {operation_name}，但记录中没有这次调用")
        elif canonical(recorded.payload.get("params")) != canonical(params):
            self.differences.append(f"节点 {node} 的处理器参数与记录不同：记录 {canonical(recorded.payload.get('params'))}，"
                                    f"重放 {canonical(params)}")
        if self.mode == "recorded" and recorded is not None:
            result = recorded.payload.get("result")
            self.run.calls.append(ServiceCall(str(task.id), node, operation_name, params, result))
            return json.dumps(result, ensure_ascii=False)
        if recorded is None and self.mode == "recorded" and self.failure is not None:
            self.differences.pop()  # the live run failed right here, before anything was recorded: do so again
            raise WorkflowTaskException(self.failure, task=task)
        result_json = super().call_service(task, operation_name, operation_params)
        result = json.loads(result_json)
        if recorded is not None and canonical(self._by_content(recorded.payload.get("result"))) != canonical(result):
            self.differences.append(f"节点 {node}：按今日规则 {operation_name} 的结果为 {canonical(result)}，"
                                    f"当时记录为 {canonical(recorded.payload.get('result'))}")
        return result_json


class _NoDocuments:
    """Services for a rerun: nothing is written; workloads are asked of the live system."""

    def __init__(self, workloads: Callable[[], Mapping[str, int]]) -> None:
        self._workloads = workloads

    def manager_workloads(self) -> Mapping[str, int]:
        return self._workloads()

    def save_document(self, kind: str, filename: str, media_type: str, content: bytes) -> str:
        # Named by content, so that a rerun's documents compare with the stored ones by their bytes.
        return "sha256:" + hashlib.sha256(content).hexdigest()


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
    codec = StateCodec()
    groups = group_events(events)
    if diagram_for_version is not None and any(g.input.kind == "application.migrated" for g in groups):
        started = next((g.input for g in groups if g.input.kind == "application.started"), None)
        if started is not None and "version" in started.payload:
            diagram = diagram_for_version(int(started.payload["version"]))
    clock_now: list[datetime] = [groups[0].input.at if groups else datetime.now()]
    run = RunContext(app_no, process_key, settings, _NoDocuments(workloads), lambda: clock_now[0],
                     labels=diagram.labels)
    script_engine = _ReplayScriptEngine(registry, run, mode)
    script_engine.documents = documents or {}
    wf: Any = None
    snapshot = Snapshot({}, {}, {}, 0)
    counts: dict[str, int] = {}
    steps: list[ReplayStep] = []
    for index, group in enumerate(groups):
        ev = group.input
        clock_now[0] = ev.at
        script_engine.expect(group.calls, group.error if group.outcome == "error" else None)
        script_engine.differences = []
        run.calls = []
        problem: str | None = None
        if ev.kind == "application.started":
            wf = codec.new_workflow(diagram, script_engine)
            for task in wf.get_tasks(state=16):
                task.data.update(ev.payload.get("data", {}))
        elif wf is None:
            problem = "记录中缺少受理事件，无法重放"
        elif ev.kind == "task.completed":
            ready = [t for t in ready_user_tasks(wf) if t.task_spec.name == ev.node_id]
            if not ready:
                open_nodes = "、".join(t.task_spec.name for t in ready_user_tasks(wf)) or "无"
                problem = f"记录中办理了 {ev.node_id}，重放时该环节不在待办（待办：{open_nodes}）"
            else:
                try:
                    complete_user_task(wf, ready[0].id, ev.payload.get("data", {}))
                except Exception as exc:  # the replayed engine refusing an input is a finding, not a crash
                    problem = f"重放办理 {ev.node_id} 失败：{exc}"
        elif ev.kind == "application.retried":
            for task in error_tasks(wf):
                reset_for_retry(task)
        elif ev.kind == "application.migrated":
            to_version = int(ev.payload.get("to_version", 0))
            if diagram_for_version is None:
                problem = f"记录中迁移到了第 {to_version} 版，但重放时取不到该版本的流程图"
            else:
                target = diagram_for_version(to_version)
                problem = migrate_for_replay(codec, wf, diagram, target, to_version, counts)
                if problem is None:
                    diagram = target
        error = None
        if problem is None and wf is not None and ev.kind != "application.migrated":
            # A migration runs no engine step: the live one did not either.
            try:
                error = advance(wf, Guard(counts, max_iterations))
            except HandlerError as exc:
                error = exc.message
        if problem is None and wf is not None:
            changes = codec.changes(wf, snapshot)
            codec.commit(wf, snapshot, changes)
            problem = _compare(group, changes.transitions, error, wf, script_engine.differences)
        completed, active, flows = trace(wf, diagram) if wf is not None else ((), (), ())
        node = diagram.nodes.get(ev.node_id or "")
        steps.append(ReplayStep(
            index=index, event_seq=ev.seq, kind=ev.kind, node_id=ev.node_id, node_name=node.name if node else None,
            actor=ev.actor, at=ev.at, completed=completed, active=active, flows=flows,
            data=_data_of(wf), matches=problem is None, difference=problem))
        if problem is not None and (wf is None or "不在待办" in problem or "失败" in problem
                                    or ev.kind == "application.migrated"):
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
    elif verified and mode == "recorded" and stored_state is not None and wf is not None:
        difference = compare_states(codec.full_dict(wf), stored_state)
        if difference:
            verified, message = False, f"存储的流程状态与重放结果不一致：{difference}"
    return ReplayReport(app_no, mode, verified, message, tuple(steps))


def _compare(group: _Group, transitions: list[tuple[Any, str, int | None, int]], error: str | None, wf: Any,
             differences: list[str]) -> str | None:
    """What differs between a replayed step and its recorded transaction, in Chinese (None if nothing)."""
    if differences:
        return differences[0]
    replayed = Counter((name, state_name(old), state_name(new)) for _, name, old, new in transitions)
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
    outcome = "error" if error else ("completed" if wf.is_completed() else "running")
    if outcome != group.outcome:
        return f"记录的结果为 {group.outcome}，重放结果为 {outcome}{('（' + error + '）') if error else ''}"
    return None


def _data_of(wf: Any) -> dict[str, Any]:
    """The application's data as it stands: the data of the most recently completed task."""
    if wf is None:
        return {}
    task = wf.last_task
    if task is None:
        return {}
    return json.loads(json.dumps(task.data, default=str))


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

