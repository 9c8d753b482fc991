"""Impact preview: replay the recorded applications of the current version against a draft diagram.

Each application's recorded inputs (acceptance data, every completed task's data, handler results)
are fed into a fresh workflow of the draft, as :mod:`engine.replay` does, but the draft is allowed to
differ: the input of a user task the draft no longer has — or does not reach — is skipped (that work
would not happen, and its recorded time is saved); a handler result is taken from the record of the
same node, or today's handler decides if the record has none; and when the draft asks for a user
task that the history cannot supply, that application's replay stops there. Nothing is written.

Every recorded application of the process is previewed, whatever version it ran on, streamed from the
database in batches. Histories that feed the draft the same inputs where the draft can see them — the same
steps in the same order, the same values of every variable the draft's expressions read, the same
recorded handler results, the same open tasks — go the same way: one of them is replayed and the others
take its outcome (each with its own saved hours). A replay in which today's handler had to decide (the
record had no result) is never shared: each such application is replayed itself. The result is the same as
replaying every application, only faster.
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from lxml import etree

from sqlalchemy import select

import handlers

from ..casework.documents import manager_workloads
from ..definitions.versions import Definitions
from ..errors import InvalidInput
from ..kernel.canonical import canonical
from ..kernel.interpreter import Interpreter, NextRecordedResult, NoDocuments, RecordedEvent, group_events
from ..kernel.loading import PERSON_TASKS, ParsedDiagram
from ..kernel.runtime import RunContext
from ..results import ApplicationImpact, ImpactReport, NodeImpact
from ..store import Store
from ..store.tables import APPS, EVENTS, ITEMS
from ..vocabulary import ENDING_KINDS, INPUT_KINDS, EventKind, TaskStatus


@dataclass(frozen=True)
class History:
    """One application as recorded: its audit events, each user task's hours and what is open now."""

    app_no: str
    status: str
    events: Sequence[RecordedEvent]
    hours: Mapping[str, float]  # task id → ready→completed hours of a completed user task
    open_nodes: tuple[str, ...]  # user tasks waiting now (running applications)
    version: int = 0  # the process version it runs (or ran) on


def preview(
    *,
    process_key: str,
    base_version: int,
    base: ParsedDiagram | Mapping[int, ParsedDiagram],
    draft: ParsedDiagram,
    histories: Iterable[History],
    registry: Mapping[str, handlers.Operator],
    settings: handlers.PolicySettings,
    workloads: Callable[[], Mapping[str, int]],
    max_iterations: int,
    total: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    share: bool = True,
) -> ImpactReport:
    """Replay every history on the draft (once per group of histories with the same inputs that matter) and
    sum up which paths change and the time saved. ``base`` is the diagram of every version the histories
    ran on (by version number), or one diagram for all; ``progress(done, total)`` follows the histories."""
    bases = base if isinstance(base, Mapping) else None
    single = base if not isinstance(base, Mapping) else None

    def base_of(h: History) -> ParsedDiagram:
        if bases is None:
            assert single is not None
            return single
        return bases.get(h.version) or bases[max(bases)]

    reads = draft_reads(draft)
    shared: dict[str, tuple[ApplicationImpact, tuple[int, ...]]] = {}
    kept: list[History] = []
    impacts: list[ApplicationImpact] = []
    replayed = 0
    for done, history in enumerate(histories, 1):
        key = replay_key(history, reads)
        known = shared.get(key) if share else None
        if known is not None:
            impacts.append(_taking(known[0], known[1], history))
        else:
            impact, skipped_at, live = _replay_one(history, base_of(history), draft, registry, settings, workloads,
                                                   max_iterations)
            replayed += 1
            if not live:
                shared[key] = (impact, skipped_at)
            impacts.append(impact)
        kept.append(history)
        if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
            progress(done, total or done)
    changed = [i for i in impacts if i.changed]
    diagrams = list(bases.values()) if bases is not None else [single] if single is not None else []
    nodes = _node_summary(diagrams, draft, kept, impacts)
    return ImpactReport(process_key, base_version, tuple(impacts), len(changed), len(impacts) - len(changed),
                        nodes, _sentences(impacts, changed, nodes, diagrams, draft), replayed)


PROGRESS_EVERY = 500


@dataclass(frozen=True)
class DraftReads:
    """What of a history the draft can see: the variables its expressions read, and the service tasks whose
    result lands in one of them (the result of any other handler cannot change the path)."""

    names: frozenset[str]
    results_read: frozenset[str]  # node ids


def draft_reads(diagram: ParsedDiagram) -> DraftReads:
    """The variables the draft's expressions read and the service tasks whose results they read."""
    names = expression_names(diagram)
    root = etree.fromstring(diagram.xml, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    nodes: set[str] = set()
    for el in root.iter():
        if isinstance(el.tag, str) and el.get("resultVariable") in names:
            owner = el
            while owner is not None and owner.get("id") is None:
                owner = owner.getparent()
            while owner is not None and owner.get("id") not in diagram.nodes:
                owner = owner.getparent()
            if owner is not None:
                nodes.add(owner.get("id", ""))
    return DraftReads(names, frozenset(nodes))


def expression_names(diagram: ParsedDiagram) -> frozenset[str]:
    """Every variable name an expression the interpreter evaluates reads (conditions, timers, loops, handler
    parameters): the data that can change how a history goes on the draft. Properties (assignee, time
    limit) are evaluated by the live steps only."""
    root = etree.fromstring(diagram.xml, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    sources: list[str] = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.text and etree.QName(el).localname in ("conditionExpression", "timeDate", "timeDuration",
                                                     "timeCycle", "completionCondition", "loopCardinality",
                                                     "loopCondition", "formalExpression"):
            sources.append(el.text)
        if etree.QName(el).localname == "parameter" and el.get("value"):
            sources.append(el.get("value", ""))  # a handler's parameter: evaluated before the handler runs
    found: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError:
            continue  # a plain property value (a form's file name, a role)
        found.update(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))
    return frozenset(found)


def replay_key(history: History, reads: DraftReads) -> str:
    """What decides how a history goes on the draft: its inputs in order with only the data the draft's
    expressions read, the recorded results of the handlers whose results they read (the others only that
    there was one), how each recorded step ended, and what waits now."""
    names = sorted(reads.names)
    inputs: list[tuple[str, str | None, Any]] = []
    for ev in history.events:
        if ev.kind in INPUT_KINDS:
            data = ev.payload.get("data") or {}
            inputs.append((ev.kind, ev.node_id, {k: data[k] for k in names if k in data}))
        elif ev.kind == EventKind.SERVICE_CALLED:
            read = ev.node_id in reads.results_read
            inputs.append((ev.kind, ev.node_id, ev.payload.get("result") if read else None))
        elif ev.kind in (EventKind.APPLICATION_ERROR, EventKind.APPLICATION_COMPLETED):
            inputs.append((ev.kind, None, None))
    return canonical([history.version, history.status, list(history.open_nodes), inputs])


def _taking(shared: ApplicationImpact, skipped_at: tuple[int, ...], history: History) -> ApplicationImpact:
    """Another history's outcome for this one (the same inputs that matter), with its own saved hours."""
    inputs = [ev for ev in history.events if ev.kind in INPUT_KINDS]
    saved = sum(history.hours.get(inputs[i].task_id or "", 0.0) for i in skipped_at if i < len(inputs))
    return replace(shared, app_no=history.app_no, saved_hours=round(saved, 2))


def _is_person_task(diagram: ParsedDiagram, node_id: str) -> bool:
    node = diagram.nodes.get(node_id)
    return node is not None and node.kind in PERSON_TASKS


def _replay_one(history: History, base: ParsedDiagram, draft: ParsedDiagram,
                registry: Mapping[str, handlers.Operator], settings: handlers.PolicySettings,
                workloads: Callable[[], Mapping[str, int]], max_iterations: int
                ) -> tuple[ApplicationImpact, tuple[int, ...], bool]:
    """One application: its recorded path, the draft's path for the same inputs, and what differs; also the
    positions of the inputs skipped (for the saved hours) and whether today's handlers had to decide."""
    groups = group_events(history.events)
    inputs = [g.input for g in groups]
    path_before = tuple(ev.node_id or "" for ev in inputs if ev.kind == EventKind.TASK_COMPLETED)
    clock_now: list[datetime] = [inputs[0].at if inputs else datetime(2000, 1, 1)]
    run = RunContext(history.app_no, draft.process_id, settings, NoDocuments(workloads), lambda: clock_now[0],
                     labels=draft.labels)
    handlers_ = NextRecordedResult(registry, run, history.events)
    machine = Interpreter(draft, handlers_, max_iterations)
    path_after: list[str] = []
    skipped: list[str] = []
    skipped_at: list[int] = []
    saved = 0.0
    stop: str | None = None
    demanded: list[str] = []
    for index, ev in enumerate(inputs):
        clock_now[0] = ev.at
        if ev.kind == EventKind.APPLICATION_STARTED:
            machine.start(ev.payload.get("data", {}))
        elif not machine.started:
            stop = "记录中缺少受理事件，无法重放"
            break
        elif ev.kind == EventKind.APPLICATION_RETRIED:
            machine.retry()
        elif ev.kind == EventKind.APPLICATION_CORRECTED:
            machine.correct(str(ev.payload.get("field", "")), ev.payload.get("after"))
            continue  # a correction runs no engine step
        elif ev.kind in ENDING_KINDS:
            break  # the case was withdrawn or terminated here: its path ends as it did live
        elif ev.kind == EventKind.TASK_COMPLETED:
            node = ev.node_id or ""
            if node in machine.ready_nodes():
                problem = machine.complete(node, ev.payload.get("data", {}))
                if problem is not None:  # a finding about the draft, not a crash
                    stop = f"按新流程图办理「{_name(draft, node)}」失败：{problem.split('：', 1)[-1]}"
                    break
                path_after.append(node)
            else:
                later = {e.node_id for e in inputs[index:] if e.kind == EventKind.TASK_COMPLETED}
                demanded = [n for n in machine.ready_nodes() if n not in later]
                if demanded and _is_person_task(draft, node):
                    break  # the draft waits for work the history never did: nothing further applies
                demanded = []
                skipped.append(node)
                skipped_at.append(index)
                saved += history.hours.get(ev.task_id or "", 0.0)
                continue
        error = machine.advance()
        if error and groups[index].outcome != "error":  # failing where the live run failed is no change
            stop = f"按新流程图重放时出错：{error}"
            break
    open_after: tuple[str, ...] = ()
    if stop is None and not demanded and machine.started:
        open_after = tuple(dict.fromkeys(machine.ready_nodes()))
        demanded = [n for n in open_after if n not in history.open_nodes and n not in path_before]
        skipped.extend(n for n in history.open_nodes if n not in open_after)
    new_nodes = tuple(dict.fromkeys(n for n in demanded if n not in path_before))
    if stop is None and demanded:
        stop = "路径在此处改变，需要新的输入：" + "、".join(_name(draft, n) for n in dict.fromkeys(demanded))
    elif stop is None and set(open_after) != set(history.open_nodes) and history.status == "running":
        stop = (f"当前待办将由「{'、'.join(_name(base, n) for n in history.open_nodes) or '无'}」变为"
                f"「{'、'.join(_name(draft, n) for n in open_after) or '无'}」")
    changed = stop is not None or tuple(path_after) != path_before
    note = stop or ("跳过" + "、".join(f"「{_name(base, n)}」" for n in dict.fromkeys(skipped)) if skipped
                   else "路径不变")
    return (ApplicationImpact(history.app_no, history.status, path_before, tuple(path_after), changed,
                              tuple(dict.fromkeys(skipped)), new_nodes, round(saved, 2), note),
            tuple(skipped_at), handlers_.decided_live)


def _name(diagram: ParsedDiagram, node_id: str) -> str:
    node = diagram.nodes.get(node_id)
    return node.name if node else node_id


def _node_summary(bases: Sequence[ParsedDiagram], draft: ParsedDiagram, histories: Sequence[History],
                  impacts: Sequence[ApplicationImpact]) -> tuple[NodeImpact, ...]:
    """Per user task the draft removes (or that some application skips): who passed it and for how long."""
    removed = list(dict.fromkeys(n for base in bases for n in base.nodes
                                 if _is_person_task(base, n) and not _is_person_task(draft, n)))
    bypassed = [n for i in impacts for n in i.skipped_nodes if n not in removed]
    wanted = set(removed) | set(bypassed)
    passing: dict[str, int] = defaultdict(int)
    totals: dict[str, float] = defaultdict(float)
    for history in histories:
        spent: dict[str, float] = defaultdict(float)
        for ev in history.events:
            if ev.kind == EventKind.TASK_COMPLETED and ev.node_id in wanted:
                spent[ev.node_id] += history.hours.get(ev.task_id or "", 0.0)
        for node_id, hours in spent.items():
            passing[node_id] += 1
            totals[node_id] += hours
    out = []
    for node_id in dict.fromkeys(removed + bypassed):
        mean = totals[node_id] / passing[node_id] if passing[node_id] else 0.0
        out.append(NodeImpact(node_id, _name_in(bases, node_id), passing[node_id], round(mean, 2),
                              round(totals[node_id], 2)))
    return tuple(out)


def _name_in(diagrams: Sequence[ParsedDiagram], node_id: str) -> str:
    for diagram in reversed(diagrams):
        if node_id in diagram.nodes:
            return diagram.nodes[node_id].name
    return node_id


def _sentences(impacts: Sequence[ApplicationImpact], changed: Sequence[ApplicationImpact],
               nodes: Sequence[NodeImpact], bases: Sequence[ParsedDiagram], draft: ParsedDiagram) -> tuple[str, ...]:
    """The report in a few Chinese sentences for the analyst."""
    if not impacts:
        return ("该流程还没有可重放的申请",)
    if not changed:
        out = [f"{len(impacts)} 个申请的路径都不会改变"]
    else:
        mean = sum(i.saved_hours for i in changed) / len(changed)
        out = [(f"{len(impacts)} 个申请中有 {len(changed)} 个的路径将改变；"
                f"预计每个受影响的申请平均缩短 {mean:.1f} 小时")]
    for node in nodes:
        verb = "取消" if node.node_id not in draft.nodes else "绕过"
        out.append(f"{verb}「{node.name}」：{node.applications} 个申请经过此环节，"
                   f"平均耗时 {node.mean_hours:.1f} 小时，合计 {node.total_hours:.1f} 小时")
    waiting = [i for i in changed if i.new_nodes]
    if waiting:
        names = dict.fromkeys(_name(draft, n) for i in waiting for n in i.new_nodes)
        out.append(f"{len(waiting)} 个申请将需要新的输入：{'、'.join(names)}")
    failed = [i for i in changed if i.note.startswith("按新流程图")]
    if failed:
        out.append(f"{len(failed)} 个申请无法按新流程图重放，见各申请的说明")
    return tuple(out)


class ImpactPreview:
    """Loads the recorded applications of a process (every version, every status), in batches, and previews
    a draft on them."""

    BATCH = 500

    def __init__(self, store: Store, definitions: Definitions, registry: Mapping[str, handlers.Operator],
                 settings: handlers.PolicySettings, max_iterations: int) -> None:
        self.store, self.definitions, self.registry = store, definitions, registry
        self.settings, self.max_iterations = settings, max_iterations

    def preview(self, process_key: str, draft_xml: bytes, *, limit: int | None = None,
                progress: Callable[[int, int], None] | None = None, share: bool = True) -> ImpactReport:
        """Replay the recorded applications of every version (the ``limit`` newest, or all) on a draft: which
        paths change, the time saved; ``progress(done, total)`` as they are replayed."""
        if limit is not None and limit < 1:
            raise InvalidInput(f"重放的申请数至少为 1（收到 {limit}）")
        draft = self.definitions.parse(draft_xml, f"{process_key}.draft.bpmn")
        if draft.process_id != process_key:
            raise InvalidInput(f"草稿的流程标识为 {draft.process_id}，与要预览的流程 {process_key} 不符")
        with self.store.read() as conn:
            row = self.definitions.newest_row(conn, process_key)
            numbers = self.definitions.version_numbers(conn, process_key)
            bases = {numbers[vid]: self.definitions.diagram(conn, vid) for vid in numbers}
            q = (select(APPS.c.id, APPS.c.app_no, APPS.c.status, APPS.c.version_id)
                 .where(APPS.c.process_key == process_key).order_by(APPS.c.created_at.desc(), APPS.c.id.desc()))
            apps = conn.execute(q.limit(limit) if limit is not None else q).all()

        def workloads() -> Mapping[str, int]:
            with self.store.read() as c:
                return manager_workloads(c)

        return preview(process_key=process_key, base_version=row.version, base=bases, draft=draft,
                       histories=self._histories(apps, numbers), registry=self.registry, settings=self.settings,
                       workloads=workloads, max_iterations=self.max_iterations, total=len(apps), progress=progress,
                       share=share)

    def _histories(self, apps: Sequence[Any], numbers: Mapping[int, int]) -> Iterator[History]:
        """The histories of the given applications, read a batch at a time (only the events a preview reads)."""
        for start in range(0, len(apps), self.BATCH):
            batch = apps[start:start + self.BATCH]
            ids = [a.id for a in batch]
            events: dict[int, list[RecordedEvent]] = {i: [] for i in ids}
            hours: dict[int, dict[str, float]] = {i: {} for i in ids}
            open_nodes: dict[int, list[str]] = {i: [] for i in ids}
            with self.store.read() as conn:
                for e in conn.execute(select(EVENTS.c.application_id, EVENTS.c.seq, EVENTS.c.at, EVENTS.c.actor,
                                             EVENTS.c.kind, EVENTS.c.node_id, EVENTS.c.task_id, EVENTS.c.payload)
                                      .where(EVENTS.c.application_id.in_(ids), EVENTS.c.kind.in_(PREVIEW_KINDS))
                                      .order_by(EVENTS.c.application_id, EVENTS.c.seq)):
                    events[e.application_id].append(RecordedEvent(e.seq, e.at, e.actor, e.kind, e.node_id,
                                                                  e.task_id, json.loads(e.payload)))
                for item in conn.execute(select(ITEMS.c.application_id, ITEMS.c.id, ITEMS.c.node_id,
                                                ITEMS.c.status, ITEMS.c.created_at, ITEMS.c.completed_at)
                                         .where(ITEMS.c.application_id.in_(ids))
                                         .order_by(ITEMS.c.created_at, ITEMS.c.id)):
                    if item.status == TaskStatus.COMPLETED and item.completed_at is not None:
                        hours[item.application_id][item.id] = (
                            (item.completed_at - item.created_at).total_seconds() / 3600)
                    elif item.status == TaskStatus.READY:
                        open_nodes[item.application_id].append(item.node_id)
            for a in batch:
                yield History(a.app_no, a.status, events[a.id], hours[a.id], tuple(open_nodes[a.id]),
                              numbers.get(a.version_id, 0))


PREVIEW_KINDS = (*INPUT_KINDS, EventKind.SERVICE_CALLED, EventKind.APPLICATION_ERROR, EventKind.APPLICATION_COMPLETED)
"""The audit events a preview reads (not the transitions, claims and notices, which are most of a trail)."""
