"""Conformance: every recorded history of a period checked against the diagram version it ran on.

Each application's recorded steps (the tasks completed, in order, with the data and handler results
recorded with them) are fed to its version's diagram (:class:`engine.kernel.interpreter.Interpreter`).
A history *fits* when every completed task was waiting at that moment. Otherwise the first step that was
not waiting says how the history left the diagram:

* ``skipped`` — the step lies ahead of what was waiting, and what was waiting never happens later
  (those nodes were skipped);
* ``out_of_order`` — what was waiting does happen, but later in the record (the two were swapped);
* ``repeated`` — the step was done before and the diagram does not lead back to it;
* ``unknown`` — the step is not a node of the diagram at all.

Independently, ``entered_late`` marks an application accepted more than the limit after the customer's
first contact (体外循环). A migrated application is checked on each version in turn, as replay does.
The report gives the share that fits per variant and per office (the acceptor's station).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from sqlalchemy import select

import handlers

from ..casework.documents import manager_workloads
from ..definitions.versions import Definitions
from ..kernel.interpreter import Interpreter, NextRecordedResult, NoDocuments, RecordedEvent, group_events
from ..kernel.loading import ParsedDiagram
from ..kernel.runtime import RunContext
from ..store import Store
from ..store.tables import APPS, EVENTS, USERS
from ..vocabulary import INPUT_KINDS, EventKind

DEVIATIONS = {"skipped": "跳过环节", "out_of_order": "顺序颠倒", "repeated": "重复办理", "unknown": "流程图中没有的环节",
              "entered_late": "补录（受理晚于首次接洽）"}
"""Deviation kinds and their Chinese names."""

NO_OFFICE = "未设班所"


@dataclass(frozen=True)
class CaseConformance:
    """One application checked against its diagram."""

    app_no: str
    process_key: str
    office: str
    fits: bool  # on the diagram at every step, and not entered late
    deviation: str | None  # a key of DEVIATIONS for the first step off the diagram, or None
    step: int | None  # the number of the recorded step (1 = the first completed task) where it left the diagram
    nodes: tuple[str, ...]  # the nodes concerned: skipped, swapped, repeated or unknown
    entered_late: bool
    lag_hours: float | None
    description: str


@dataclass(frozen=True)
class Share:
    """How many histories of a group fit."""

    group: str
    checked: int
    fitting: int

    @property
    def rate(self) -> float | None:
        """The share that fits."""
        return self.fitting / self.checked if self.checked else None


@dataclass(frozen=True)
class ConformanceReport:
    """Every history of a period checked, with the shares per variant and per office."""

    first: date
    last: date
    process_key: str | None
    cases: tuple[CaseConformance, ...]
    by_variant: tuple[Share, ...]
    by_office: tuple[Share, ...]
    late_limit: timedelta

    @property
    def fitting(self) -> int:
        """How many fit."""
        return sum(c.fits for c in self.cases)

    @property
    def rate(self) -> float | None:
        """The share of all histories that fit."""
        return self.fitting / len(self.cases) if self.cases else None


def _reachable(diagram: ParsedDiagram, seeds: Iterable[str]) -> set[str]:
    spec = diagram.spec
    seen: set[str] = set()
    stack = [spec.task_specs[n] for n in seeds if n in spec.task_specs]
    while stack:
        for out in stack.pop().outputs:
            if out.name not in seen:
                seen.add(out.name)
                stack.append(out)
    return seen


def check_history(app_no: str, process_key: str, office: str, events: Sequence[RecordedEvent],
                  diagram_for_version: Callable[[int], ParsedDiagram], registry: Mapping[str, handlers.Operator],
                  settings: handlers.PolicySettings, workloads: Callable[[], Mapping[str, int]],
                  max_iterations: int, lag_hours: float | None, late_limit: timedelta) -> CaseConformance:
    """Feed one recorded history to the diagram of its version; where it first leaves the diagram, and how."""
    groups = group_events(events)
    inputs = [g.input for g in groups]
    started = next((ev for ev in inputs if ev.kind == EventKind.APPLICATION_STARTED), None)
    late = lag_hours is not None and lag_hours > late_limit.total_seconds() / 3600
    version = int(started.payload.get("version", 1)) if started is not None else 1
    diagram = diagram_for_version(version)
    clock: list[datetime] = [inputs[0].at if inputs else datetime(2000, 1, 1)]
    run = RunContext(app_no, process_key, settings, NoDocuments(workloads), lambda: clock[0], labels=diagram.labels)
    machine = Interpreter(diagram, NextRecordedResult(registry, run, events), max_iterations)
    completed_so_far: list[str] = []
    later = [ev.node_id or "" for ev in inputs if ev.kind == EventKind.TASK_COMPLETED]
    deviation: tuple[str, int, tuple[str, ...], str] | None = None
    step = 0
    for ev in inputs:
        clock[0] = ev.at
        if ev.kind == EventKind.APPLICATION_STARTED:
            machine.start(ev.payload.get("data", {}))
        elif not machine.started:
            break
        elif ev.kind == EventKind.APPLICATION_RETRIED:
            machine.retry()
        elif ev.kind == EventKind.APPLICATION_MIGRATED:
            to_version = int(ev.payload.get("to_version", version))
            if machine.migrate(diagram_for_version(to_version), to_version, ev.payload.get("mapping")) is None:
                diagram, version = machine.diagram, to_version
            continue
        elif ev.kind == EventKind.TASK_COMPLETED:
            step += 1
            node = ev.node_id or ""
            ready = machine.ready_nodes()
            if node in ready and machine.complete(node, ev.payload.get("data", {})) is None:
                completed_so_far.append(node)
            else:
                deviation = _classify(diagram, node, ready, completed_so_far, later[step:], step)
                break
        machine.advance()
    description = _describe(diagram, deviation, late, lag_hours, late_limit)
    return CaseConformance(app_no, process_key, office, deviation is None and not late,
                           deviation[0] if deviation else None,
                           deviation[1] if deviation else None, deviation[2] if deviation else (), late,
                           lag_hours, description)


def _classify(diagram: ParsedDiagram, node: str, ready: Sequence[str], done: Sequence[str], rest: Sequence[str],
              step: int) -> tuple[str, int, tuple[str, ...], str]:
    if node not in diagram.nodes:
        return "unknown", step, (node,), node
    ahead = _reachable(diagram, ready)
    if node in ahead:
        waiting_later = tuple(n for n in ready if n in rest)
        if waiting_later:
            return "out_of_order", step, (node, *waiting_later), node
        return "skipped", step, tuple(ready), node
    if node in done:
        return "repeated", step, (node,), node
    return "out_of_order", step, (node, *ready), node


def _name(diagram: ParsedDiagram, node_id: str) -> str:
    node = diagram.nodes.get(node_id)
    return f"「{node.name}」" if node is not None and node.name else f"「{node_id}」"


def _describe(diagram: ParsedDiagram, deviation: tuple[str, int, tuple[str, ...], str] | None, late: bool,
              lag_hours: float | None, late_limit: timedelta) -> str:
    parts = []
    if deviation is not None:
        kind, step, nodes, node = deviation
        names = "、".join(_name(diagram, n) for n in nodes)
        if kind == "skipped":
            parts.append(f"第 {step} 步办理了{_name(diagram, node)}，跳过了当时待办的{names}")
        elif kind == "out_of_order":
            parts.append(f"第 {step} 步办理了{_name(diagram, node)}，早于应先办理的"
                         f"{'、'.join(_name(diagram, n) for n in nodes[1:]) or '环节'}")
        elif kind == "repeated":
            parts.append(f"第 {step} 步再次办理了{_name(diagram, node)}，流程图中没有回到该环节的路径")
        else:
            parts.append(f"第 {step} 步办理的环节「{node}」不在该版本的流程图中")
    if late and lag_hours is not None:
        parts.append(f"受理比首次接洽晚 {lag_hours:.1f} 小时（超过 {late_limit.total_seconds() / 3600:g} 小时）")
    return "；".join(parts) or "与流程图一致"


class Conformance:
    """Conformance reports over the store (the caller checked who may)."""

    BATCH = 500

    def __init__(self, store: Store, definitions: Definitions, registry: Mapping[str, handlers.Operator],
                 settings: handlers.PolicySettings, max_iterations: int) -> None:
        self.store, self.definitions, self.registry = store, definitions, registry
        self.settings, self.max_iterations = settings, max_iterations

    def report(self, first: date, last: date, process_key: str | None = None,
               late_limit: timedelta = timedelta(days=1),
               progress: Callable[[int, int], None] | None = None) -> ConformanceReport:
        """Check every application accepted from ``first`` to ``last`` (optionally of one variant)."""
        start = datetime.combine(first, datetime.min.time())
        end = datetime.combine(last + timedelta(days=1), datetime.min.time())
        q = (select(APPS.c.id, APPS.c.app_no, APPS.c.process_key, APPS.c.created_at, APPS.c.first_contact_at,
                    USERS.c.station)
             .select_from(APPS.outerjoin(USERS, USERS.c.username == APPS.c.created_by))
             .where(APPS.c.created_at >= start, APPS.c.created_at < end).order_by(APPS.c.id))
        if process_key:
            q = q.where(APPS.c.process_key == process_key)
        with self.store.read() as conn:
            apps = conn.execute(q).all()
        diagrams: dict[tuple[str, int], ParsedDiagram] = {}

        def diagram_of(key: str) -> Callable[[int], ParsedDiagram]:
            def get(version: int) -> ParsedDiagram:
                if (key, version) not in diagrams:
                    diagrams[(key, version)] = self.definitions.version_diagram(key, version)
                return diagrams[(key, version)]
            return get

        def workloads() -> Mapping[str, int]:
            with self.store.read() as c:
                return manager_workloads(c)

        cases = []
        for batch_start in range(0, len(apps), self.BATCH):
            batch = apps[batch_start:batch_start + self.BATCH]
            events: dict[int, list[RecordedEvent]] = defaultdict(list)
            with self.store.read() as conn:
                for e in conn.execute(select(EVENTS.c.application_id, EVENTS.c.seq, EVENTS.c.at, EVENTS.c.actor,
                                             EVENTS.c.kind, EVENTS.c.node_id, EVENTS.c.task_id, EVENTS.c.payload)
                                      .where(EVENTS.c.application_id.in_([a.id for a in batch]),
                                             EVENTS.c.kind.in_(READ_KINDS))
                                      .order_by(EVENTS.c.application_id, EVENTS.c.seq)):
                    events[e.application_id].append(RecordedEvent(e.seq, e.at, e.actor, e.kind, e.node_id,
                                                                  e.task_id, json.loads(e.payload)))
            for a in batch:
                lag = ((a.created_at - a.first_contact_at).total_seconds() / 3600
                       if a.first_contact_at is not None else None)
                cases.append(check_history(a.app_no, a.process_key, a.station or NO_OFFICE, events[a.id],
                                           diagram_of(a.process_key), self.registry, self.settings, workloads,
                                           self.max_iterations, lag, late_limit))
            if progress is not None:
                progress(min(batch_start + self.BATCH, len(apps)), len(apps))
        return ConformanceReport(first, last, process_key, tuple(cases), _shares(cases, lambda c: c.process_key),
                                 _shares(cases, lambda c: c.office), late_limit)


READ_KINDS = (*INPUT_KINDS, EventKind.SERVICE_CALLED, EventKind.APPLICATION_ERROR, EventKind.APPLICATION_COMPLETED)


def _shares(cases: Iterable[CaseConformance], key: Callable[[CaseConformance], str]) -> tuple[Share, ...]:
    tally: dict[str, list[int]] = {}
    for c in cases:
        t = tally.setdefault(key(c), [0, 0])
        t[0] += 1
        t[1] += c.fits
    return tuple(Share(k, n, fit) for k, (n, fit) in sorted(tally.items()))


CONFORMANCE_COLUMNS = ("申请编号", "业务类型", "班所", "是否符合", "偏离类型", "偏离步骤", "涉及环节", "补录", "受理滞后（小时）", "说明")


def conformance_csv(report: ConformanceReport, variant_names: Mapping[str, str],
                    node_names: Callable[[str, str], str]) -> Iterator[str]:
    """The report as CSV for Excel on Chinese Windows (byte order mark, Chinese header), one row per case."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CONFORMANCE_COLUMNS)
    yield "\ufeff" + buffer.getvalue()
    for c in report.cases:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow((c.app_no, variant_names.get(c.process_key, c.process_key), c.office,
                         "是" if c.fits else "否",
                         DEVIATIONS.get(c.deviation or "", ""), c.step or "",
                         "、".join(node_names(c.process_key, n) for n in c.nodes), "是" if c.entered_late else "否",
                         f"{c.lag_hours:.1f}" if c.lag_hours is not None else "", c.description))
        yield buffer.getvalue()


__all__ = ["CONFORMANCE_COLUMNS", "DEVIATIONS", "CaseConformance", "Conformance", "ConformanceReport", "Share",
           "check_history", "conformance_csv"]

