"""Example paths run in memory: a scenario (acceptance data, then each user task and what is submitted
there — an entry of processes/paths.json) fed to a diagram with no database behind it.

Analysts play a draft with the shipped paths and see which nodes they cover and where a path stops;
the benchmark times the same run as the raw engine's cost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import handlers

from ..errors import FormValidationError, WorkflowFailure
from ..kernel.interpreter import Interpreter
from ..kernel.loading import ParsedDiagram
from ..kernel.runtime import RunContext, ScriptEngine


@dataclass(frozen=True)
class ScenarioOutcome:
    """Where a scenario went on a diagram: the nodes and flows it covered, and where it stopped, if it did."""

    completed: bool
    covered: tuple[str, ...]
    flows: tuple[str, ...]
    steps_done: int
    stopped_at: str | None = None
    problem: str | None = None
    step_seconds: tuple[float, ...] = ()  # how long each completed step took (its form checked, run to a wait)


class MemoryServices:
    """Handler services with nothing behind them but memory: documents are kept here, workloads are level."""

    def __init__(self, managers: Sequence[str] = ("manager1", "manager2")) -> None:
        self.documents: dict[str, bytes] = {}
        self.notices: list[tuple[str, str, str]] = []
        self.managers = tuple(managers)

    def manager_workloads(self) -> Mapping[str, int]:
        return {m: i for i, m in enumerate(self.managers)}

    def save_document(self, kind: str, filename: str, media_type: str, content: bytes) -> str:
        doc_id = f"memory:{len(self.documents)}"
        self.documents[doc_id] = content
        return doc_id

    def send_notice(self, event: str, recipient: str, message: str) -> str:
        self.notices.append((event, recipient, message))  # kept, never sent
        return "queued"


class ScenarioRunner:
    """Runs scenarios on one parsed diagram, in memory."""

    def __init__(self, diagram: ParsedDiagram, registry: Mapping[str, handlers.Operator],
                 settings: handlers.PolicySettings, max_iterations: int,
                 clock: Callable[[], datetime] = datetime.now) -> None:
        self.diagram, self.registry, self.settings = diagram, registry, settings
        self.max_iterations, self.clock = max_iterations, clock

    def run(self, start: Mapping[str, Any], steps: Sequence[tuple[str, Mapping[str, Any]]],
            application_no: str = "SIM00000000000001") -> ScenarioOutcome:
        """Accept with ``start``, then complete each (node, data) in order; stop at the first that cannot be."""
        run = RunContext(application_no, self.diagram.process_id, self.settings, MemoryServices(), self.clock,
                         labels=self.diagram.labels)
        machine = Interpreter(self.diagram, ScriptEngine(self.registry, run), self.max_iterations)
        start_form = self.diagram.forms.get(self.diagram.start_form) if self.diagram.start_form else None
        try:
            context = self.diagram.form_context({}, self.clock(), self.settings)
            machine.start(start_form.validate(start, context) if start_form else dict(start))
        except FormValidationError as exc:
            return self._outcome(machine, 0, "start", f"受理数据不符合表单：{exc.message}")
        error = machine.advance()
        if error:
            return self._outcome(machine, 0, "start", error)
        took: list[float] = []
        for done, (node, data) in enumerate(steps):
            began = time.perf_counter()
            if node not in machine.ready_nodes():
                waiting = "、".join(machine.ready_nodes()) or "无"
                return self._outcome(machine, done, node, f"环节 {node} 不在待办（待办：{waiting}）")
            form = self.diagram.form_for(node)
            context = self.diagram.form_context(machine.data_at(node), self.clock(), self.settings)
            try:
                clean = form.validate(data, context) if form else dict(data)
            except FormValidationError as exc:
                return self._outcome(machine, done, node, f"提交的数据不符合表单：{exc.message}")
            problem = machine.complete(node, clean) or machine.advance()
            took.append(time.perf_counter() - began)
            if problem:
                return self._outcome(machine, done, node, problem, took)
        if not machine.is_completed():
            still = machine.ready_nodes()
            return self._outcome(machine, len(steps), still[0] if still else None,
                                 "示例路径已走完，流程仍在等待：" + ("、".join(still) or "无"), took)
        return self._outcome(machine, len(steps), None, None, took)

    def accept(self, start: Mapping[str, Any], application_no: str = "SIM00000000000001") -> tuple[str, ...]:
        """Only the acceptance: validate ``start`` and run to the first wait (the raw cost of starting an
        application); the user tasks then waiting, by node id."""
        run = RunContext(application_no, self.diagram.process_id, self.settings, MemoryServices(), self.clock,
                         labels=self.diagram.labels)
        machine = Interpreter(self.diagram, ScriptEngine(self.registry, run), self.max_iterations)
        start_form = self.diagram.forms.get(self.diagram.start_form) if self.diagram.start_form else None
        machine.start(start_form.validate(start) if start_form else dict(start))
        error = machine.advance()
        if error:
            raise WorkflowFailure(error)
        return tuple(machine.ready_nodes())

    @staticmethod
    def _outcome(machine: Interpreter, done: int, stopped_at: str | None, problem: str | None,
                 took: list[float] | None = None) -> ScenarioOutcome:
        completed, active, flows = machine.trace()
        return ScenarioOutcome(problem is None and machine.is_completed(), tuple(dict.fromkeys((*completed, *active))),
                               flows, done, stopped_at, problem, tuple(took or ()))


@dataclass(frozen=True)
class ExamplePath:
    """An entry of processes/paths.json: one path through a process and the data that drives it."""

    key: str
    title: str
    process_key: str
    start: Mapping[str, Any]
    steps: tuple[tuple[str, Mapping[str, Any]], ...]


@dataclass(frozen=True)
class ExampleRun:
    """An example path played on a diagram: which path, and where it went."""

    key: str
    title: str
    outcome: ScenarioOutcome


def example_paths(path: Path, process_key: str | None = None) -> list[ExamplePath]:
    """The example paths of a paths file (of one process, when given), in file order."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    out = [ExamplePath(entry["key"], entry.get("title", entry["key"]), entry["variant"], entry["start"],
                       tuple((node, data) for node, data in entry["steps"])) for entry in raw]
    return [p for p in out if process_key is None or p.process_key == process_key]


def play(runner: ScenarioRunner, paths: Sequence[ExamplePath]) -> list[ExampleRun]:
    """Every example path run on the runner's diagram."""
    return [ExampleRun(p.key, p.title, runner.run(p.start, p.steps)) for p in paths]
