"""Impact preview: replay the recorded applications of the current version against a draft diagram.

Each application's recorded inputs (acceptance data, every completed task's data, handler results)
are fed into a fresh workflow of the draft, as :mod:`engine.replay` does, but the draft is allowed to
differ: the input of a user task the draft no longer has — or does not reach — is skipped (that work
would not happen, and its recorded time is saved); a handler result is taken from the record of the
same node, or today's handler decides if the record has none; and when the draft asks for a user
task that the history cannot supply, that application's replay stops there. Nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

import handlers

from ..casework.documents import manager_workloads
from ..definitions.versions import Definitions
from ..errors import InvalidInput
from ..kernel.interpreter import Interpreter, NextRecordedResult, NoDocuments, RecordedEvent, group_events
from ..kernel.loading import PERSON_TASKS, ParsedDiagram
from ..kernel.runtime import RunContext
from ..results import ApplicationImpact, ImpactReport, NodeImpact
from ..store import Store
from ..store.tables import APPS, EVENTS, ITEMS
from ..vocabulary import ENDING_KINDS, EventKind, TaskStatus


@dataclass(frozen=True)
class History:
    """One application as recorded: its audit events, each user task's hours and what is open now."""

    app_no: str
    status: str
    events: Sequence[RecordedEvent]
    hours: Mapping[str, float]  # task id → ready→completed hours of a completed user task
    open_nodes: tuple[str, ...]  # user tasks waiting now (running applications)


def preview(
    *,
    process_key: str,
    base_version: int,
    base: ParsedDiagram,
    draft: ParsedDiagram,
    histories: Sequence[History],
    registry: Mapping[str, handlers.Operator],
    settings: handlers.PolicySettings,
    workloads: Callable[[], Mapping[str, int]],
    max_iterations: int,
) -> ImpactReport:
    """Replay every history on the draft and sum up which paths change and the time saved."""
    impacts = [_replay_one(h, base, draft, registry, settings, workloads, max_iterations) for h in histories]
    changed = [i for i in impacts if i.changed]
    nodes = _node_summary(base, draft, histories, impacts)
    return ImpactReport(process_key, base_version, tuple(impacts), len(changed), len(impacts) - len(changed),
                        nodes, _sentences(impacts, changed, nodes, base, draft))


def _is_person_task(diagram: ParsedDiagram, node_id: str) -> bool:
    node = diagram.nodes.get(node_id)
    return node is not None and node.kind in PERSON_TASKS


def _replay_one(history: History, base: ParsedDiagram, draft: ParsedDiagram,
                registry: Mapping[str, handlers.Operator], settings: handlers.PolicySettings,
                workloads: Callable[[], Mapping[str, int]], max_iterations: int) -> ApplicationImpact:
    """One application: its recorded path, the draft's path for the same inputs, and what differs."""
    groups = group_events(history.events)
    inputs = [g.input for g in groups]
    path_before = tuple(ev.node_id or "" for ev in inputs if ev.kind == EventKind.TASK_COMPLETED)
    clock_now: list[datetime] = [inputs[0].at if inputs else datetime(2000, 1, 1)]
    run = RunContext(history.app_no, draft.process_id, settings, NoDocuments(workloads), lambda: clock_now[0],
                     labels=draft.labels)
    machine = Interpreter(draft, NextRecordedResult(registry, run, history.events), max_iterations)
    path_after: list[str] = []
    skipped: list[str] = []
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
    return ApplicationImpact(history.app_no, history.status, path_before, tuple(path_after), changed,
                             tuple(dict.fromkeys(skipped)), new_nodes, round(saved, 2), note)


def _name(diagram: ParsedDiagram, node_id: str) -> str:
    node = diagram.nodes.get(node_id)
    return node.name if node else node_id


def _node_summary(base: ParsedDiagram, draft: ParsedDiagram, histories: Sequence[History],
                  impacts: Sequence[ApplicationImpact]) -> tuple[NodeImpact, ...]:
    """Per user task the draft removes (or that some application skips): who passed it and for how long."""
    removed = [n for n in base.nodes if _is_person_task(base, n) and not _is_person_task(draft, n)]
    bypassed = [n for i in impacts for n in i.skipped_nodes if n not in removed]
    out = []
    for node_id in dict.fromkeys(removed + bypassed):
        passing = 0
        total = 0.0
        for history in histories:
            hours = [history.hours.get(ev.task_id or "", 0.0) for ev in history.events
                     if ev.kind == EventKind.TASK_COMPLETED and ev.node_id == node_id]
            if hours:
                passing += 1
                total += sum(hours)
        mean = total / passing if passing else 0.0
        out.append(NodeImpact(node_id, _name(base, node_id), passing, round(mean, 2), round(total, 2)))
    return tuple(out)


def _sentences(impacts: Sequence[ApplicationImpact], changed: Sequence[ApplicationImpact],
               nodes: Sequence[NodeImpact], base: ParsedDiagram, draft: ParsedDiagram) -> tuple[str, ...]:
    """The report in a few Chinese sentences for the analyst."""
    if not impacts:
        return ("当前版本还没有可重放的申请",)
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
    """Loads the recorded applications of a process's newest version and previews a draft on them."""

    def __init__(self, store: Store, definitions: Definitions, registry: Mapping[str, handlers.Operator],
                 settings: handlers.PolicySettings, max_iterations: int) -> None:
        self.store, self.definitions, self.registry = store, definitions, registry
        self.settings, self.max_iterations = settings, max_iterations

    def preview(self, process_key: str, draft_xml: bytes, *, limit: int = 500) -> ImpactReport:
        """Replay the newest version's recorded applications on a draft: which paths change, the time saved."""
        if limit < 1:
            raise InvalidInput(f"重放的申请数至少为 1（收到 {limit}）")
        draft = self.definitions.parse(draft_xml, f"{process_key}.draft.bpmn")
        if draft.process_id != process_key:
            raise InvalidInput(f"草稿的流程标识为 {draft.process_id}，与要预览的流程 {process_key} 不符")
        with self.store.read() as conn:
            row = self.definitions.newest_row(conn, process_key)
            base, base_version = self.definitions.diagram(conn, row.id), row.version
            apps = conn.execute(select(APPS.c.id, APPS.c.app_no, APPS.c.status)
                                .where(APPS.c.version_id == row.id)
                                .order_by(APPS.c.created_at.desc(), APPS.c.id.desc()).limit(limit)).all()
            ids = [a.id for a in apps]
            events: dict[int, list[RecordedEvent]] = {i: [] for i in ids}
            for e in conn.execute(select(EVENTS).where(EVENTS.c.application_id.in_(ids))
                                  .order_by(EVENTS.c.application_id, EVENTS.c.seq)):
                events[e.application_id].append(RecordedEvent(e.seq, e.at, e.actor, e.kind, e.node_id, e.task_id,
                                                              json.loads(e.payload)))
            hours: dict[int, dict[str, float]] = {i: {} for i in ids}
            open_nodes: dict[int, list[str]] = {i: [] for i in ids}
            for item in conn.execute(select(ITEMS.c.application_id, ITEMS.c.id, ITEMS.c.node_id, ITEMS.c.status,
                                            ITEMS.c.created_at, ITEMS.c.completed_at)
                                     .where(ITEMS.c.application_id.in_(ids)).order_by(ITEMS.c.created_at, ITEMS.c.id)):
                if item.status == TaskStatus.COMPLETED and item.completed_at is not None:
                    hours[item.application_id][item.id] = (item.completed_at - item.created_at).total_seconds() / 3600
                elif item.status == TaskStatus.READY:
                    open_nodes[item.application_id].append(item.node_id)
        histories = [History(a.app_no, a.status, events[a.id], hours[a.id], tuple(open_nodes[a.id])) for a in apps]

        def workloads() -> Mapping[str, int]:
            with self.store.read() as conn:
                return manager_workloads(conn)

        return preview(process_key=process_key, base_version=base_version, base=base, draft=draft,
                       histories=histories, registry=self.registry, settings=self.settings,
                       workloads=workloads, max_iterations=self.max_iterations)
