"""SpiffWorkflow at run time: our script engine, the incremental state codec and the guards.

* :class:`ScriptEngine` routes every expression through :mod:`engine.expressions` and every
  service task to the handler registry; ``execute`` (scripts) always refuses.
* :class:`~engine.kernel.codec.StateCodec` (re-exported here) turns a workflow into one compact row per
  task and back, and tells which tasks a step changed, so a step writes only those rows.
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
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

import handlers
from handlers.context import HandlerContext, HandlerServices
from handlers.errors import HandlerError
from handlers.settings import PolicySettings

from . import expressions
from ..errors import ExpressionError, WorkflowFailure
from .codec import Changes, Snapshot, StateCodec
from .loading import ParsedDiagram
from .transitions import STATE_NAMES, state_name

__all__ = ["Changes", "Guard", "RunContext", "ScriptEngine", "ServiceCall", "Snapshot", "StateCodec", "advance",
           "complete_user_task", "error_tasks", "ready_user_tasks", "reset_for_retry", "state_name", "trace"]

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


def correct_data(wf: BpmnWorkflow, field: str, value: Any) -> list[UUID]:
    """Put a corrected value where the process goes on from: every waiting (ready) or failed task, and the
    last completed task (whose data is the application's data as shown). Returns the tasks changed.

    Tasks already done keep what they saw, except the last one; the next steps inherit the corrected value
    from the tasks they follow, and a parallel join merges the branch completing last on top, which is a
    corrected one."""
    touched: list[UUID] = []
    for task in wf.tasks.values():
        if task.state in (READY, ERROR) and task.data.get(field, _MISSING) != value:
            task.data = {**task.data, field: value}
            touched.append(task.id)
    last = wf.last_task
    if last is not None and last.id not in touched and last.data.get(field, _MISSING) != value:
        # a new dictionary: a workflow loaded from its rows lets closed tasks share their parent's (the codec
        # stores a closed task's data as its parent's when nothing differs), and only this task changes; its
        # closed children are rewritten too, their data now differing from the corrected task's
        last.data = {**last.data, field: value}
        touched.append(last.id)
        touched.extend(child.id for child in last.children if child.state in (COMPLETED, TaskState.CANCELLED))
    return touched


_MISSING = object()


def cancel_workflow(wf: BpmnWorkflow) -> None:
    """End a workflow before its end (撤销, 终止): every unfinished task is cancelled."""
    wf.cancel()


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

