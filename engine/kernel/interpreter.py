"""Feeding recorded inputs to a workflow, outside any database: the one loop replay and impact share.

An application's audit trail records its inputs (acceptance data, each completed task's form data, each
retry, each migration) and, with each input, what the engine did in that transaction (handler calls, task
state changes, the outcome). :func:`group_events` splits a trail into those transactions; an
:class:`Interpreter` takes the inputs one at a time, runs the engine until it waits, and tells what
changed. Handlers answer from the record (:class:`RecordedCalls`, :class:`NextRecordedResult`) or run
again with today's rules.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.exceptions import SpiffWorkflowException

import handlers
from handlers.errors import HandlerError

from ..errors import BaozhuangError
from ..vocabulary import ENDING_KINDS, INPUT_KINDS, EventKind
from .canonical import canonical
from .loading import ParsedDiagram
from .runtime import (
    READY,
    Guard,
    RunContext,
    ScriptEngine,
    ServiceCall,
    Snapshot,
    StateCodec,
    advance,
    cancel_workflow,
    complete_user_task,
    correct_data,
    error_tasks,
    ready_user_tasks,
    reset_for_retry,
    trace,
)
from .statemigration import migrate_for_replay
from .transitions import Move, recorded_moves


@dataclass(frozen=True)
class RecordedEvent:
    """An audit event as the interpreter needs it."""

    seq: int
    at: datetime
    actor: str
    kind: str
    node_id: str | None
    task_id: str | None
    payload: Mapping[str, Any]


@dataclass
class Transaction:
    """One transaction of the live run: its input event and what the engine recorded with it."""

    input: RecordedEvent
    calls: list[RecordedEvent] = field(default_factory=list)
    transitions: list[Move] = field(default_factory=list)  # the moves that are facts (see kernel.transitions)
    outcome: str = "running"
    error: str | None = None


def group_events(events: Sequence[RecordedEvent]) -> list[Transaction]:
    """Split the trail into transactions: each starts with an input and carries what followed it."""
    groups: list[Transaction] = []
    for ev in events:
        if ev.kind in INPUT_KINDS:
            # a case ended by staff (撤销, 终止) neither completes nor stays running: it ended
            groups.append(Transaction(ev, outcome="ended" if ev.kind in ENDING_KINDS else "running",
                                      transitions=recorded_moves(ev.kind, ev.payload)))
            continue
        if not groups:
            continue
        current = groups[-1]
        # moves recorded apart from the input (trails written before moves went with it)
        current.transitions.extend(recorded_moves(ev.kind, ev.payload))
        if ev.kind == EventKind.SERVICE_CALLED:
            current.calls.append(ev)
        elif ev.kind == EventKind.APPLICATION_ERROR:
            current.outcome, current.error = "error", str(ev.payload.get("message", ""))
        elif ev.kind == EventKind.APPLICATION_COMPLETED:
            current.outcome = "completed"
    return groups


class NoDocuments:
    """Services for a re-run: nothing is written; workloads are asked of the live system."""

    def __init__(self, workloads: Callable[[], Mapping[str, int]]) -> None:
        self._workloads = workloads

    def manager_workloads(self) -> Mapping[str, int]:
        return self._workloads()

    def save_document(self, kind: str, filename: str, media_type: str, content: bytes) -> str:
        # Named by content, so that a re-run's documents compare with the stored ones by their bytes.
        return "sha256:" + hashlib.sha256(content).hexdigest()

    def send_notice(self, event: str, recipient: str, message: str) -> str:
        # A re-run sends nothing; it reports what the live step reported (the message was queued).
        return "queued"


class RecordedCalls(ScriptEngine):
    """Replay's handlers: each service task gets its recorded result (``recorded``) or today's handler
    decides again (``rerun``); every difference from the record is noted."""

    def __init__(self, registry: Mapping[str, handlers.Operator], run: RunContext, mode: str,
                 documents: Mapping[str, str]) -> None:
        super().__init__(registry, run)
        self.mode = mode
        self.recorded: dict[str, deque[RecordedEvent]] = {}
        self.differences: list[str] = []
        self.failure: str | None = None
        self.documents = documents

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
        self.differences = []
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


class NextRecordedResult(ScriptEngine):
    """Impact preview's handlers: each service task gets the next result recorded for its node; today's
    handler decides when the record has none left (the draft calls it more often, or it is new)."""

    def __init__(self, registry: Mapping[str, handlers.Operator], run: RunContext,
                 events: Sequence[RecordedEvent]) -> None:
        super().__init__(registry, run)
        self.recorded: dict[str, deque[Any]] = {}
        self.decided_live = False  # whether today's handler had to decide somewhere (the record had no result)
        for ev in events:
            if ev.kind == EventKind.SERVICE_CALLED and ev.node_id:
                self.recorded.setdefault(ev.node_id, deque()).append(ev.payload.get("result"))

    def call_service(self, task: Any, operation_name: str = "", operation_params: Any = None, **_: Any) -> str:
        queue = self.recorded.get(task.task_spec.name)
        if not queue:
            self.decided_live = True
            return super().call_service(task, operation_name, operation_params)
        result = queue.popleft()
        params = {name: spec["value"] for name, spec in (operation_params or {}).items()}
        self.run.calls.append(ServiceCall(str(task.id), task.task_spec.name, operation_name, params, result))
        return json.dumps(result, ensure_ascii=False)


Transition = tuple[Any, str, "int | None", int]
"""A task's state change: (task id, node id, old state, new state)."""


class Interpreter:
    """One workflow, fed recorded inputs in order; nothing is written anywhere."""

    def __init__(self, diagram: ParsedDiagram, script_engine: ScriptEngine, max_iterations: int) -> None:
        self.diagram = diagram
        self.script_engine = script_engine
        self.codec = StateCodec()
        self.wf: Any = None
        self.snapshot = Snapshot({}, {}, {}, 0)
        self.rebuilt = False  # a migration rebuilt the tree: compare every task once
        self.counts: dict[str, int] = {}
        self.guard = Guard(self.counts, max_iterations)

    @property
    def started(self) -> bool:
        """Whether the acceptance input was fed."""
        return self.wf is not None

    def start(self, data: Mapping[str, Any]) -> None:
        """A fresh workflow with the acceptance data on its start task."""
        self.wf = self.codec.new_workflow(self.diagram, self.script_engine)
        self.snapshot = Snapshot({}, {}, {}, 0)
        for task in self.wf.get_tasks(state=READY):
            task.data.update(data)

    def ready_nodes(self) -> list[str]:
        """The user tasks waiting now, by node id."""
        return [t.task_spec.name for t in ready_user_tasks(self.wf)] if self.wf is not None else []

    def complete(self, node_id: str, data: Mapping[str, Any]) -> str | None:
        """Complete the waiting task of a node with the recorded data; why it could not be, or None."""
        ready = [t for t in ready_user_tasks(self.wf) if t.task_spec.name == node_id]
        if not ready:
            return f"环节 {node_id} 不在待办"
        try:
            complete_user_task(self.wf, ready[0].id, data)
        except (SpiffWorkflowException, BaozhuangError, HandlerError, KeyError, TypeError, ValueError) as exc:
            return f"办理 {node_id} 失败：{exc}"
        return None

    def retry(self) -> None:
        """Make the failed tasks ready again, as a live retry does."""
        for task in error_tasks(self.wf):
            reset_for_retry(task)

    def correct(self, field: str, value: Any) -> None:
        """Apply a correction recorded live (see runtime.correct_data)."""
        correct_data(self.wf, field, value)

    def cancel(self) -> None:
        """End the workflow as a live withdrawal or termination did."""
        cancel_workflow(self.wf)

    def migrate(self, target: ParsedDiagram, to_version: int, mapping: Mapping[str, str] | None = None) -> str | None:
        """Apply a migration recorded live (with its node mapping); why it cannot be applied, or None."""
        problem = migrate_for_replay(self.codec, self.wf, self.diagram, target, to_version, self.counts, mapping)
        if problem is None:
            self.diagram = target
            self.rebuilt = True
        return problem

    def advance(self) -> str | None:
        """Run the engine until it waits; the error it stopped on, if any."""
        try:
            return advance(self.wf, self.guard)
        except HandlerError as exc:
            return exc.message

    def transitions(self) -> list[Transition]:
        """The task state changes since the last call."""
        changes = self.codec.changes(self.wf, self.snapshot, full=self.rebuilt)
        self.codec.commit(self.wf, self.snapshot, changes)
        self.rebuilt = False
        return changes.transitions

    def is_completed(self) -> bool:
        """Whether the workflow reached its end."""
        return bool(self.wf is not None and self.wf.is_completed())

    def trace(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """Completed nodes, active nodes and flows taken (see runtime.trace)."""
        return trace(self.wf, self.diagram) if self.wf is not None else ((), (), ())

    def data_at(self, node_id: str) -> dict[str, Any]:
        """The data the waiting task of a node sees (what earlier steps entered), or {} if none waits there."""
        ready = [t for t in ready_user_tasks(self.wf) if t.task_spec.name == node_id] if self.wf is not None else []
        return dict(ready[0].data) if ready else {}

    def data(self) -> dict[str, Any]:
        """The application's data as it stands: the data of the most recently completed task."""
        task = self.wf.last_task if self.wf is not None else None
        if task is None:
            return {}
        return json.loads(json.dumps(task.data, default=str))

    def state(self) -> dict[str, Any]:
        """The whole workflow in SpiffWorkflow's dict form (spec excluded)."""
        return self.codec.full_dict(self.wf)
