"""SpiffWorkflow at run time: our script engine, the incremental state codec and the guards.

* :class:`ScriptEngine` routes every expression through :mod:`engine.expressions` and every
  service task to the handler registry; ``execute`` (scripts) always refuses.
* :class:`StateCodec` turns a workflow into one JSON row per task and back, and tells which
  tasks a step changed, so a step writes only those rows.
* :func:`advance` runs engine steps until the workflow waits, with a loop guard, because
  SpiffWorkflow's task iteration silently stops at depth 1000.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

import handlers
from handlers.context import HandlerContext, HandlerServices
from handlers.errors import HandlerError
from handlers.settings import PolicySettings

from . import expressions
from ..errors import ExpressionError, WorkflowFailure
from .loading import ParsedDiagram

STATE_NAMES = {1: "MAYBE", 2: "LIKELY", 4: "FUTURE", 8: "WAITING", 16: "READY", 32: "STARTED",
               64: "COMPLETED", 128: "ERROR", 256: "CANCELLED"}
READY = TaskState.READY
COMPLETED = TaskState.COMPLETED
ERROR = TaskState.ERROR


@dataclass
class ServiceCall:
    """One handler call made during a step, kept for the audit trail."""

    task_id: str
    node_id: str
    operator: str
    params: dict[str, Any]
    result: Any


@dataclass
class RunContext:
    """What a handler may know about the application it runs for."""

    application_no: str
    variant: str
    settings: PolicySettings
    services: HandlerServices
    now: Callable[[], datetime]
    calls: list[ServiceCall] = field(default_factory=list)
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # the diagram's ParsedDiagram.labels


class ScriptEngine(PythonScriptEngine):
    """Evaluates only the safe expression language; calls handlers; never runs scripts."""

    def __init__(self, registry: Mapping[str, handlers.Operator], run: RunContext) -> None:
        super().__init__()
        self.registry = registry
        self.run = run

    def validate(self, expression: str) -> None:
        """Reject anything outside the safe language."""
        expressions.compile_expression(expression)

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        """Evaluate an expression against the task's data, safely."""
        data = task.data if not external_context else {**external_context, **task.data}
        try:
            return expressions.evaluate(expression.strip(), data)
        except ExpressionError as exc:
            raise WorkflowTaskException(exc.message, task=task, exception=exc) from exc

    def execute(self, task: Any, script: str, external_context: Mapping[str, Any] | None = None) -> bool:
        """Scripts never run, whatever a diagram says."""
        raise WorkflowTaskException("流程图中的脚本不被执行（不允许脚本）", task=task)

    def call_service(self, task: Any, operation_name: str = "", operation_params: Any = None, **_: Any) -> str:
        """Route a service task to its handler and return the JSON the task stores."""
        params = {name: spec["value"] for name, spec in (operation_params or {}).items()}
        ctx = HandlerContext(
            application_no=self.run.application_no,
            variant=self.run.variant,
            data=dict(task.data),
            settings=self.run.settings,
            services=self.run.services,
            now=self.run.now(),
            labels=self.run.labels,
        )
        try:
            result = handlers.call_operator(self.registry, operation_name, ctx, params)
        except HandlerError as exc:
            raise WorkflowTaskException(exc.message, task=task, exception=exc) from exc
        self.run.calls.append(ServiceCall(str(task.id), task.task_spec.name, operation_name, params, result))
        return json.dumps(result, ensure_ascii=False)


Fingerprint = tuple[float, int, tuple[UUID, ...], bool, str]


@dataclass
class Snapshot:
    """What is stored of a workflow, to tell which tasks a step changed."""

    fingerprints: dict[UUID, Fingerprint]
    states: dict[UUID, int]
    seq: dict[UUID, int]
    next_seq: int


@dataclass
class Changes:
    """The difference between a workflow and its stored snapshot."""

    upserts: list[tuple[UUID, int, str, bool]]  # id, seq, payload, is_new
    deletions: list[UUID]
    transitions: list[tuple[UUID, str, int | None, int]]  # id, spec name, old state, new state


class StateCodec:
    """Serializes workflows task by task (SpiffWorkflow's own converters, spec kept out)."""

    def __init__(self) -> None:
        self.registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
        self._encoder = create_encoder(self.registry, None)
        self._serializer = BpmnWorkflowSerializer(self.registry)

    def new_workflow(self, diagram: ParsedDiagram, engine: ScriptEngine) -> BpmnWorkflow:
        """A fresh workflow of a deployed diagram."""
        return BpmnWorkflow(diagram.spec, dict(diagram.subprocess_specs), script_engine=engine)

    @staticmethod
    def fingerprint(task: Any) -> Fingerprint:
        """Cheap identity of a task's stored form: anything that changes its row changes this."""
        internal = repr(task.internal_data) if task.internal_data else ""
        return (task.last_state_change, task.state, tuple(task._children), bool(task.triggered), internal)

    def dump_task(self, task: Any) -> str:
        """One task as JSON (its data stored as a delta against its parent)."""
        return json.dumps(self.registry.convert(task), cls=self._encoder, ensure_ascii=False, separators=(",", ":"))

    def dump_meta(self, wf: BpmnWorkflow, extra: Mapping[str, Any]) -> str:
        """The workflow-level fields, plus our own bookkeeping."""
        if wf.subprocesses:
            raise WorkflowFailure("子流程暂不支持持久化")
        meta = {
            "data": self.registry.convert(self.registry.clean(wf.data)),
            "correlations": wf.correlations,
            "last_task": str(wf.last_task.id) if wf.last_task is not None else None,
            "success": wf.success,
            "completed": wf.completed,
            "root": str(wf.task_tree.id),
            "bpmn_events": self.registry.convert(wf.bpmn_events),
            **extra,
        }
        return json.dumps(meta, cls=self._encoder, ensure_ascii=False, separators=(",", ":"))

    def snapshot(self, wf: BpmnWorkflow, seq: Mapping[UUID, int] | None = None) -> Snapshot:
        """Remember the stored form of every task."""
        order = dict(seq) if seq is not None else {tid: i for i, tid in enumerate(wf.tasks)}
        return Snapshot(
            fingerprints={tid: self.fingerprint(t) for tid, t in wf.tasks.items()},
            states={tid: t.state for tid, t in wf.tasks.items()},
            seq=order,
            next_seq=(max(order.values()) + 1) if order else 0,
        )

    def changes(self, wf: BpmnWorkflow, snap: Snapshot) -> Changes:
        """Which rows to write and delete, and which tasks changed state."""
        upserts = []
        transitions = []
        changed: set[UUID] = set()
        for tid, task in wf.tasks.items():  # creation order: a parent always precedes its children
            fp = self.fingerprint(task)
            old = snap.fingerprints.get(tid)
            if old == fp and task._parent not in changed:
                continue
            if old != fp:
                # A child's stored data is a delta against this task's data: rewrite direct children too.
                changed.add(tid)
            is_new = old is None
            seq = snap.seq.get(tid)
            if seq is None:
                seq = snap.next_seq
                snap.next_seq += 1
            upserts.append((tid, seq, self.dump_task(task), is_new))
            old_state = snap.states.get(tid)
            if old_state != task.state:
                transitions.append((tid, task.task_spec.name, old_state, task.state))
        deletions = [tid for tid in snap.fingerprints if tid not in wf.tasks]
        return Changes(upserts, deletions, transitions)

    def commit(self, wf: BpmnWorkflow, snap: Snapshot, changes: Changes) -> None:
        """After a successful write, the snapshot is the new stored form."""
        for tid, seq, _, _ in changes.upserts:
            task = wf.tasks[tid]
            snap.fingerprints[tid] = self.fingerprint(task)
            snap.states[tid] = task.state
            snap.seq[tid] = seq
        for tid in changes.deletions:
            snap.fingerprints.pop(tid, None)
            snap.states.pop(tid, None)
            snap.seq.pop(tid, None)

    def full_dict(self, wf: BpmnWorkflow) -> dict[str, Any]:
        """The whole workflow in SpiffWorkflow's dict form, spec excluded, as plain JSON data."""
        dct = self._serializer.to_dict(wf)
        dct.pop("spec", None)
        dct.pop("subprocess_specs", None)
        return json.loads(json.dumps(dct, cls=self._encoder))

    def restore(
        self, diagram: ParsedDiagram, meta: Mapping[str, Any], rows: list[tuple[str, int, str]], engine: ScriptEngine
    ) -> tuple[BpmnWorkflow, Snapshot]:
        """Rebuild a workflow from its header and task rows (rows sorted by seq)."""
        wf = BpmnWorkflow(diagram.spec, dict(diagram.subprocess_specs), script_engine=engine, deserializing=True)
        seq: dict[UUID, int] = {}
        for task_id, task_seq, payload in rows:
            task = self.registry.restore(json.loads(payload), workflow=wf)
            seq[task.id] = task_seq
        wf.task_tree = wf.tasks[UUID(meta["root"])]
        wf.success = meta["success"]
        wf.completed = meta.get("completed", False)
        wf.correlations = dict(meta.get("correlations", {}))
        wf.last_task = wf.tasks.get(UUID(meta["last_task"])) if meta.get("last_task") else None
        wf.data = self.registry.restore(meta.get("data", {}))
        wf.bpmn_events = self.registry.restore(meta.get("bpmn_events", []))
        wf.script_engine = engine  # deserialized workflows come back with the default engine
        return wf, self.snapshot(wf, seq)


class LoopGuardTripped(WorkflowFailure):
    """A node ran more often than allowed, or the task tree grew too deep."""


@dataclass
class Guard:
    """Counts completions per node across the life of an instance."""

    counts: dict[str, int]
    max_iterations: int
    max_depth: int = 900

    def __call__(self, task: Any) -> None:
        name = task.task_spec.name
        self.counts[name] = self.counts.get(name, 0) + 1
        if self.counts[name] > self.max_iterations:
            raise LoopGuardTripped(
                f"节点 {name} 已执行 {self.counts[name]} 次，超过循环上限 {self.max_iterations}：流程被挂起，请检查退回循环"
            )
        if sum(self.counts.values()) > self.max_depth // 2 and _depth(task) > self.max_depth:
            raise LoopGuardTripped(f"任务树深度超过 {self.max_depth}：流程被挂起，请检查循环")


def _depth(task: Any) -> int:
    depth = 0
    while task is not None and depth <= 10_000:
        task = task.parent
        depth += 1
    return depth


def advance(wf: BpmnWorkflow, guard: Guard) -> str | None:
    """Run engine steps until the workflow waits; return an error message if a task failed."""
    try:
        wf.do_engine_steps(did_complete_task=guard)
    except LoopGuardTripped as exc:
        return exc.message
    except SpiffWorkflowException as exc:
        return _describe(exc)
    return None


def _describe(exc: SpiffWorkflowException) -> str:
    inner = getattr(exc, "exception", None)
    message = getattr(inner, "message", None) or str(exc)
    task = getattr(exc, "task", None)
    where = f"节点 {task.task_spec.bpmn_name or task.task_spec.name}（{task.task_spec.name}）：" if task is not None else ""
    return f"{where}{message}"


def complete_user_task(wf: BpmnWorkflow, task_id: UUID, data: Mapping[str, Any]) -> Any:
    """Put submitted data on a READY user task and complete it."""
    task = wf.get_task_from_id(task_id)
    task.data.update(data)
    task.run()
    return task


def error_tasks(wf: BpmnWorkflow) -> list[Any]:
    """Tasks that are in ERROR state (a failed handler or expression)."""
    return [t for t in wf.tasks.values() if t.state == ERROR]


def reset_for_retry(task: Any) -> None:
    """Make an errored task READY so the next engine step runs it again."""
    task._set_state(READY)


def ready_user_tasks(wf: BpmnWorkflow) -> list[Any]:
    """READY tasks that wait for a person."""
    return [t for t in wf.tasks.values() if t.state == READY and t.task_spec.manual]


REACHED = {COMPLETED, READY, ERROR, TaskState.WAITING, TaskState.STARTED}


def trace(wf: BpmnWorkflow, diagram: ParsedDiagram) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Completed nodes, active (waiting or failed) nodes and the sequence flows taken, in diagram ids."""
    completed: list[str] = []
    active: list[str] = []
    flows: list[str] = []
    for task in wf.tasks.values():
        name = task.task_spec.name
        if name not in diagram.nodes or task.state not in REACHED:
            continue
        (completed if task.state == COMPLETED else active).append(name)
        parent = task.parent
        while parent is not None and parent.task_spec.name not in diagram.nodes:
            parent = parent.parent  # skip SpiffWorkflow's internal tasks (e.g. boundary splits)
        if parent is not None:
            flows.extend(diagram.flows.get((parent.task_spec.name, name), ()))
    return tuple(dict.fromkeys(completed)), tuple(dict.fromkeys(active)), tuple(dict.fromkeys(flows))


def flows_entered(wf: BpmnWorkflow, diagram: ParsedDiagram,
                  transitions: Sequence[tuple[Any, str, int | None, int]]) -> tuple[str, ...]:
    """The sequence flows a step took: for every node a task of which was reached in the step (from nothing, or
    from a predicted state), the flow from the node it came from (found as :func:`trace` finds it). A flow
    taken twice (a loop) is listed twice."""
    taken: list[str] = []
    for tid, name, old, new in transitions:
        if new not in REACHED or old in REACHED or name not in diagram.nodes:
            continue
        task = wf.tasks.get(tid)
        parent = task.parent if task is not None else None
        while parent is not None and parent.task_spec.name not in diagram.nodes:
            parent = parent.parent
        if parent is not None:
            taken.extend(diagram.flows.get((parent.task_spec.name, name), ()))
    return tuple(taken)


REACHED_NAMES = frozenset(STATE_NAMES[state] for state in REACHED)
"""The recorded names (audit trail) of the states in which a task's node counts as reached."""


def flows_recorded(diagram: ParsedDiagram, tasks: Mapping[str, tuple[str, str | None]],
                   changes: Iterable[Sequence[str]]) -> list[str]:
    """The sequence flows taken, as :func:`flows_entered` finds them, from a stored trail: its recorded state
    changes (``[node, old state, new state, task id]`` as ``engine.transitions`` events keep them, in order)
    and its stored tasks (task id → its node and its parent's task id)."""
    taken: list[str] = []
    for name, old, new, tid in changes:
        if new not in REACHED_NAMES or old in REACHED_NAMES or name not in diagram.nodes:
            continue
        parent = tasks.get(tid, ("", None))[1]
        while parent is not None and tasks.get(parent, ("", None))[0] not in diagram.nodes:
            parent = tasks.get(parent, ("", None))[1]
        if parent is not None:
            taken.extend(diagram.flows.get((tasks[parent][0], name), ()))
    return taken


def state_name(state: int | None) -> str:
    """A task state as recorded in the audit trail ("NEW" for a task that did not exist before)."""
    return STATE_NAMES.get(state or 0, "NEW") if state else "NEW"
